"""Sustained webhook load on a real ``grafana-bridge serve`` process (waitress) against the Trello emulator.

    python benchmarks/load.py                  # 100 webhooks/s for 60 s
    python benchmarks/load.py --quick          # 10 s
    python benchmarks/load.py --rate 150 --seconds 30

The bridge runs as a subprocess (``grafana_bridge.cli serve``, waitress, 32 threads) so that its memory is
its own (VmRSS from /proc). Rate limits are off on both sides: the emulator does not enforce Trello's
limits, and the bridge's client-side pacer (which holds a token to Trello's 100 requests / 10 s) is
raised through a one-line bootstrap before ``grafana_bridge.cli.main`` runs — against real Trello this
rate of writes could not be sustained by any client. The Trello emulator and the sender share this
process; the box has 2 cores.

The sender is open loop: request i is due at start + i/rate whatever happened to earlier ones, sent by a
thread pool; latency is measured from the due time, so queueing in the sender counts against the bridge
(no coordinated omission). The mix, over a fixed population of alert groups: a new group starts firing,
a firing group repeats unchanged, changes what fires, or resolves.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jenkins_trello.emulator.trello import TrelloEmulator  # noqa: E402

KEY, TOKEN, BEARER = "k" * 32, "t" * 64, "load-test-bearer"
BOOTSTRAP = (
    "import sys, jenkins_trello.trello as t; t.Pacer.__init__.__defaults__ = (10**9, 10.0); "
    "t.Pacer.shared = classmethod(lambda cls, *a, **k: cls()); "
    "from grafana_bridge.cli import main; sys.argv[0] = 'grafana-bridge'; main()"
)
GROUPS = 300
HOSTS = [f"node-{i:02d}" for i in range(6)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Senders:
    """The sender's view of each group (what fires), and the mix of events."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.firing: dict[int, set[str]] = {}
        self.lock = threading.Lock()
        self.kinds: dict[str, int] = {}

    def next_payload(self) -> bytes:
        with self.lock:
            roll = self.rng.random()
            quiet = [g for g in range(GROUPS) if g not in self.firing]
            if (roll < 0.2 or not self.firing) and quiet:
                kind, g = "new", self.rng.choice(quiet)
                self.firing[g] = {self.rng.choice(HOSTS)}
            else:
                g = self.rng.choice(list(self.firing))
                if roll < 0.6:
                    kind = "repeat"
                elif roll < 0.85:
                    kind = "change"
                    hosts = set(self.rng.sample(HOSTS, self.rng.randint(1, 3)))
                    self.firing[g] = hosts if hosts != self.firing[g] else {self.rng.choice(HOSTS)} | hosts
                else:
                    kind = "resolve"
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            now = self.firing.pop(g) if kind == "resolve" else self.firing[g]
            status = "resolved" if kind == "resolve" else "firing"
        alerts = [{"status": status, "labels": {"alertname": f"Load{g}", "instance": h, "severity": "warning"},
                   "annotations": {"summary": f"load test group {g} on {h}"}, "startsAt": "2026-03-01T10:00:00Z",
                   "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-01T11:00:00Z",
                   "generatorURL": "http://prometheus.test/graph"} for h in sorted(now)]
        doc = {"version": "4", "receiver": "trello", "status": status, "groupLabels": {"alertname": f"Load{g}"},
               "commonLabels": {"alertname": f"Load{g}"}, "commonAnnotations": {}, "externalURL": "http://am:9093",
               "groupKey": f'{{}}:{{alertname="Load{g}"}}', "truncatedAlerts": 0, "alerts": alerts}
        return json.dumps(doc).encode()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="webhook load on grafana-bridge serve")
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second (default 100)")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration (default 60)")
    parser.add_argument("--quick", action="store_true", help="10 seconds")
    parser.add_argument("--workers", type=int, default=96, help="sender threads (default 96)")
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else args.seconds
    total = int(args.rate * seconds)

    with TrelloEmulator(key=KEY, token=TOKEN, rate_limit=False) as trello:
        board = trello.add_board("Load")["id"]
        for name in ("To Do", "Doing", "Done"):
            trello.add_list(board, name)
        port = free_port()
        env = {**os.environ, "TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board,
               "TRELLO_API_URL": trello.url, "GRAFANA_BRIDGE_TOKEN": BEARER}
        proc = subprocess.Popen([sys.executable, "-c", BOOTSTRAP, "serve", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stderr_lines: list[str] = []
        threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=args.workers))
        try:
            for _ in range(100):
                try:
                    if session.get(url + "/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            else:
                raise SystemExit(f"bridge did not start: {''.join(stderr_lines)[-2000:]}")
            rss = {"start": rss_kib(proc.pid)}
            trello.reset_log()
            senders = Senders()
            latencies: list[float] = []
            errors: dict[str, int] = {}
            lock = threading.Lock()
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {BEARER}"}

            def send(due: float, body: bytes) -> None:
                try:
                    r = session.post(url + "/alerts", data=body, headers=headers, timeout=30)
                    outcome = None if r.status_code == 200 else f"HTTP {r.status_code}"
                except requests.RequestException as exc:
                    outcome = type(exc).__name__
                took = time.monotonic() - due
                with lock:
                    latencies.append(took)
                    if outcome:
                        errors[outcome] = errors.get(outcome, 0) + 1

            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                for i in range(total):
                    due = start + i / args.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    if i == total // 2:
                        rss["middle"] = rss_kib(proc.pid)
                    pool.submit(send, due, senders.next_payload())
                sent_for = time.monotonic() - start
            done_in = time.monotonic() - start
            rss["end"] = rss_kib(proc.pid)
            metrics = session.get(url + "/metrics", timeout=5).text
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log = trello.request_log
        reads = sum(1 for r in log if r.method == "GET")
        writes = len(log) - reads
        open_cards = len(trello.cards(board))

    ms = [x * 1000 for x in latencies]
    rows = [
        ("bridge", f"grafana-bridge serve subprocess (waitress, 32 threads), pid {proc.pid}"),
        ("offered", f"{total} webhooks at {args.rate:g}/s over {seconds:g} s "
                    f"({', '.join(f'{k} {v}' for k, v in sorted(senders.kinds.items()))})"),
        ("achieved", f"{len(latencies) / done_in:.1f}/s completed ({total} in {done_in:.1f} s; "
                     f"sending took {sent_for:.1f} s)"),
        ("errors", f"{sum(errors.values())} {errors or ''}".strip()),
        ("latency ms", f"p50 {pct(ms, 50):.1f}  p95 {pct(ms, 95):.1f}  p99 {pct(ms, 99):.1f}  max {max(ms):.1f}"),
        ("latency mean", f"{statistics.mean(ms):.1f} ms"),
        ("RSS MiB", f"start {rss['start'] / 1024:.1f}  middle {rss.get('middle', 0) / 1024:.1f}  "
                    f"end {rss['end'] / 1024:.1f}"),
        ("Trello requests", f"{len(log)} ({reads} reads, {writes} writes; {len(log) / total:.2f} per webhook)"),
        ("board reads", next((ln.split()[-1] for ln in metrics.splitlines()
                              if ln.startswith("grafana_bridge_board_reads_total")), "?") + " (shared between "
                                                                                              "concurrent webhooks)"),
        ("open cards at end", str(open_cards)),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 1 if errors or len(latencies) != total else 0


if __name__ == "__main__":
    raise SystemExit(main())
