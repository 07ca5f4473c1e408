"""Requests per transition on the wire, and the wall time of a no-op notify, against the emulators.

    python benchmarks/requests_per_event.py [--runs 10]

Counts every request the emulators receive (python-jenkins' crumb included, if
it asked for one) while the real ``jenkins-trello notify`` code runs, for each
row of the README's transition table, and compares them with the request budget.
Then times ``jenkins-trello notify`` for success-after-success as a separate
process (what a post step costs a build) against a bare ``python3 -c pass``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import time

from jenkins_trello import cli
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator

KEY, TOKEN = "k" * 32, "t" * 64
BUDGET = {  # (Jenkins, Trello max)
    "SUCCESS after SUCCESS": (1, 0),
    "FAILURE after SUCCESS": (2, 3),
    "FAILURE after FAILURE": (1, 2),
    "SUCCESS after FAILURE": (1, 3),
}


def measure() -> list[tuple[str, int, int, int, int]]:
    rows = []
    with TrelloEmulator(key=KEY, token=TOKEN) as trello, JenkinsEmulator() as jenkins:
        board = trello.add_board("Bench")
        for name in ("To Do", "Done"):
            trello.add_list(board["id"], name)
        for i in range(200):  # a realistic board: other people's cards too
            trello.add_card(trello.lists(board["id"])[0]["id"], f"card {i}", "no marker")
        env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board["id"],
               "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url}
        job = "org/repo/feature%2Fbench"
        jenkins.add_job(job)
        jenkins.add_build(job, "SUCCESS")
        plan = [("SUCCESS after SUCCESS", "SUCCESS"), ("FAILURE after SUCCESS", "FAILURE"),
                ("FAILURE after FAILURE", "FAILURE"), ("SUCCESS after FAILURE", "SUCCESS")]
        for label, result in plan:
            n = jenkins.start_build(job)
            jenkins.record_tests(job, n, {"passed": 10, "skipped": 0,
                                          "failed": [("t.T", "a")] if result == "FAILURE" else []})
            trello.reset_log()
            jenkins.reset_log()
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli.run(["notify", "--result", result, "--job", job, "--build", str(n)], env)
            assert code == 0, label
            jenkins.finish_build(job, n, result)
            jb, tb = BUDGET[label]
            rows.append((label, jenkins.count(), jb, trello.count(), tb))
    return rows


def wall_time(runs: int) -> tuple[float, float]:
    exe = shutil.which("jenkins-trello") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "jenkins_trello"]
    with TrelloEmulator(key=KEY, token=TOKEN) as trello, JenkinsEmulator() as jenkins:
        board = trello.add_board("Bench")
        trello.add_list(board["id"], "To Do")
        jenkins.add_job("app")
        jenkins.add_build("app", "SUCCESS")
        n = jenkins.start_build("app")
        env = {**os.environ, "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board["id"],
               "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url}

        def timed(argv: list[str]) -> float:
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter()
                subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
                samples.append(time.perf_counter() - t0)
            return statistics.median(samples)

        notify = timed(cmd + ["notify", "--result", "SUCCESS", "--job", "app", "--build", str(n)])
        bare = timed([sys.executable, "-c", "pass"])
        assert trello.count() == 0
    return notify, bare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    print("Requests per transition (counted on the emulators' wire):")
    print(f"  {'event':<24}{'Jenkins':>8}{'budget':>8}{'Trello':>8}{'budget':>8}")
    ok = True
    for label, j, jb, t, tb in measure():
        ok &= j <= jb and t <= tb
        print(f"  {label:<24}{j:>8}{jb:>8}{t:>8}{tb:>8}")
    print("  (FAILURE after SUCCESS: Jenkins = history + test report; Trello = find + create + 1 twin check)")
    notify, bare = wall_time(args.runs)
    print(f"\nWall time, median of {args.runs} runs, success after success:")
    print(f"  jenkins-trello notify   {notify * 1000:8.1f} ms")
    print(f"  python3 -c pass         {bare * 1000:8.1f} ms")
    print(f"  notifier overhead       {(notify - bare) * 1000:8.1f} ms")
    print("\nwithin budget" if ok else "\nOVER BUDGET")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
