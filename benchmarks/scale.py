"""Many processes on one Trello token, a big storm: do they pace as one, and what does the storm cost?

    python benchmarks/scale.py                 # 300 new groups, three bridges then one (a few minutes)
    python benchmarks/scale.py --groups 60     # smaller and quicker
    python benchmarks/scale.py --bridges 3     # one set-up only
    python benchmarks/scale.py --json          # the figures as one JSON document

The Trello emulator enforces Trello's limits (100 requests / 10 s per token, 300 per key, 429 with
Trello's bodies, the key locked out after 200 refusals in a window). ``grafana-bridge serve``
processes (real subprocesses, waitress, default threads and pacing: ``JENKINS_TRELLO_RATE`` unset,
so 90 / 10 s for the host) share the one token; on one host they share it through the pacing file.
A storm of new alert groups is sent to them at once, spread round-robin, as Alertmanager would
(each group's webhook redelivered after a 503, honouring Retry-After with jitter), plus a few large
webhooks (1000 alerts, close to 1 MiB) per bridge; when every group has its card, the storm of
their resolves follows. Meanwhile ``jenkins-trello notify`` processes open and close cards for a
few jobs on the same token. Checked: every group ends with exactly one card, then none, and every
notifier exits 0.

Figures per set-up: the storm's 429s and their share of the requests, board reads per storm (the
bridges' own count), the share of the token's ceiling used while the storm lasts (requests Trello
accepted, over the most a client could send in that time without a 429: 100 x (seconds / 10 + 1)),
the time to drain, each bridge's peak resident memory (VmHWM) and the slowest answer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grafana_bridge.payloads import parse  # noqa: E402
from jenkins_trello.cards import alert_key, read_marker  # noqa: E402
from jenkins_trello.emulator.jenkins import JenkinsEmulator  # noqa: E402
from jenkins_trello.emulator.trello import TrelloEmulator  # noqa: E402

KEY, TOKEN = "k" * 32, "t" * 64
CEILING = 100  # Trello's requests per 10 s per token
LARGE_PER_BRIDGE = 2
NOTIFY_JOBS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def payload(name: str, status: str, alerts: int = 1, note: str = "") -> dict[str, Any]:
    items = [{"status": status, "labels": {"alertname": name, "instance": f"host-{i:04d}"},
              "annotations": {"summary": f"{name} on host-{i:04d}", **({"description": note} if note else {})},
              "startsAt": "2026-01-01T00:00:00Z",
              "endsAt": "2026-01-01T01:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
              "fingerprint": f"{abs(hash((name, i))):016x}"[:16]} for i in range(alerts)]
    return {"version": "4", "receiver": "trello", "status": status, "groupKey": f'{{}}:{{alertname="{name}"}}',
            "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.test:9093", "truncatedAlerts": 0, "alerts": items}


class Sender:
    """Alertmanager's side: one webhook per group, delivered again after a 503 until it is a 200."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.unavailable = 0
        self.lock = threading.Lock()
        self.session = requests.Session()
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=512))

    def deliver(self, url: str, body: bytes, give_up: float) -> str:
        while True:
            t0 = time.monotonic()
            try:
                r = self.session.post(url + "/alerts", data=body, timeout=35,
                                      headers={"Content-Type": "application/json"})
                code, wait = r.status_code, float(r.headers.get("Retry-After") or 5)
            except requests.RequestException:
                code, wait = 0, 5.0
            with self.lock:
                self.latencies.append(time.monotonic() - t0)
                if code != 200:
                    self.unavailable += 1
            if code == 200:
                return r.json()["action"]
            if time.monotonic() > give_up:
                return f"gave up ({code})"
            time.sleep(min(wait, 10.0) * random.uniform(0.5, 1.0))


def notifier_loop(jenkins: JenkinsEmulator, env: dict[str, str], job: str, stop: threading.Event,
                  codes: list[int]) -> None:
    """A job failing and getting fixed, over and over: each build's post step runs ``jenkins-trello notify``."""
    jenkins.add_build(job, "SUCCESS")
    while not stop.is_set():
        for result in ("FAILURE", "SUCCESS"):
            number = jenkins.add_build(job, result)
            proc = subprocess.run([sys.executable, "-m", "jenkins_trello", "notify", "--result", result,
                                   "--job", job, "--build", str(number),
                                   "--build-url", f"{jenkins.url}job/{job}/{number}/"],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            codes.append(proc.returncode)
            if proc.returncode:
                sys.stderr.write(f"notify {job} #{number}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}\n")


def storm(sender: Sender, urls: list[str], bodies: list[bytes]) -> tuple[list[str], float]:
    started = time.monotonic()
    give_up = started + 240
    with ThreadPoolExecutor(len(bodies)) as pool:
        actions = list(pool.map(lambda ib: sender.deliver(urls[ib[0] % len(urls)], ib[1], give_up),
                                enumerate(bodies)))
    return actions, time.monotonic() - started


def bridge_reads(urls: list[str]) -> int:
    total = 0
    for url in urls:
        for line in requests.get(url + "/metrics", timeout=5).text.splitlines():
            if line.startswith("grafana_bridge_board_reads_total"):
                total += int(float(line.split()[-1]))
    return total


def run(bridges: int, groups: int) -> dict[str, Any]:
    emu = TrelloEmulator(key=KEY, token=TOKEN, rate_limit=True).start()
    jenkins = JenkinsEmulator().start()
    procs: list[subprocess.Popen] = []
    try:
        board = emu.add_board("Ops")["id"]
        for name in ("To Do", "Done"):
            emu.add_list(board, name)
        env = {**os.environ, "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board,
               "TRELLO_API_URL": emu.url, "JENKINS_URL": jenkins.url, "PYTHONPATH": str(ROOT)}
        env.pop("JENKINS_TRELLO_RATE", None)
        ports = [free_port() for _ in range(bridges)]
        for port in ports:
            procs.append(subprocess.Popen([sys.executable, "-m", "grafana_bridge.cli", "serve", "--port", str(port),
                                           "--no-auth"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url in urls:
            for _ in range(200):
                try:
                    if requests.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
        time.sleep(10.5)  # the start-up reads leave the token's window
        names = [f"Storm{i:04d}" for i in range(groups)]
        large = [f"Large{i:02d}" for i in range(LARGE_PER_BRIDGE * bridges)]
        note = "x" * 700
        keys = {alert_key(parse(payload(n, "firing")).identity) for n in names + large}

        def bodies(status: str) -> list[bytes]:
            out = [json.dumps(payload(n, status)).encode() for n in names]
            out += [json.dumps(payload(n, status, alerts=1000, note=note)).encode() for n in large]
            return out

        firing, resolved = bodies("firing"), bodies("resolved")
        biggest = max(len(b) for b in firing)
        stop, codes = threading.Event(), []
        notifiers = [threading.Thread(target=notifier_loop, args=(jenkins, env, f"app-{j}", stop, codes))
                     for j in range(NOTIFY_JOBS)]
        figures: dict[str, Any] = {"bridges": bridges, "groups": groups, "large_webhooks": len(large),
                                   "largest_body_bytes": biggest}
        sender = Sender()
        for th in notifiers:
            th.start()
        for phase, batch in (("firing", firing), ("resolve", resolved)):
            emu.reset_log()
            reads_before = bridge_reads(urls)
            limited_before = emu.rate_limited
            actions, took = storm(sender, urls, batch)
            requests_sent = len(emu.request_log)
            limited = emu.rate_limited - limited_before
            accepted = requests_sent - limited
            open_keys: dict[str, int] = {}
            for card in emu.cards(board):
                marker = read_marker(card.get("desc"))
                if marker and marker[0] in keys:
                    open_keys[marker[0]] = open_keys.get(marker[0], 0) + 1
            ok = (all(open_keys.get(k) == 1 for k in keys) if phase == "firing" else not open_keys)
            figures[phase] = {
                "drain_seconds": round(took, 1),
                "trello_requests": requests_sent,
                "rate_limited_429": limited,
                "rate_limited_share": round(limited / max(1, requests_sent), 4),
                "bridge_board_reads": bridge_reads(urls) - reads_before,
                "ceiling_used": round(accepted / (CEILING * (took / 10.0 + 1)), 3),
                "peak_token_window": emu.peak_token_window,
                "answers": {a: actions.count(a) for a in sorted(set(actions))},
                "one_card_per_group" if phase == "firing" else "no_card_left": ok,
            }
        stop.set()
        for th in notifiers:
            th.join(180)
        figures["redeliveries_after_503"] = sender.unavailable
        figures["slowest_answer_seconds"] = round(max(sender.latencies), 2)
        figures["bridge_peak_rss_mib"] = [round(peak_rss_kib(p.pid) / 1024, 1) for p in procs]
        figures["notify_runs"] = len(codes)
        figures["notify_failed"] = sum(1 for c in codes if c)
        return figures
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        jenkins.stop()
        emu.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=300, help="new alert groups in the storm (default 300)")
    parser.add_argument("--bridges", type=int, action="append", help="bridge processes (default: 3, then 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = [run(n, args.groups) for n in (args.bridges or [3, 1])]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['bridges']} bridge(s), {r['groups']} groups + {r['large_webhooks']} large webhooks "
                  f"(largest {r['largest_body_bytes'] // 1024} KiB), {r['notify_runs']} notify runs "
                  f"({r['notify_failed']} failed):")
            for phase in ("firing", "resolve"):
                f = r[phase]
                print(f"  {phase:8s} drain {f['drain_seconds']:6.1f} s  requests {f['trello_requests']:4d}  "
                      f"429s {f['rate_limited_429']:3d} ({f['rate_limited_share']:.1%})  "
                      f"board reads {f['bridge_board_reads']:3d}  ceiling used {f['ceiling_used']:.0%}  "
                      f"peak window {f['peak_token_window']}  ok {f.get('one_card_per_group', f.get('no_card_left'))}")
            print(f"  redeliveries after 503: {r['redeliveries_after_503']}, slowest answer "
                  f"{r['slowest_answer_seconds']} s, peak RSS per bridge {r['bridge_peak_rss_mib']} MiB")
    ok = all(r["firing"]["one_card_per_group"] and r["resolve"]["no_card_left"] and not r["notify_failed"]
             for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
