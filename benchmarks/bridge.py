"""Benchmark the webhook bridge against the local Trello emulator (everything over real sockets).

    python benchmarks/bridge.py [--quick]

Sections:
  1. throughput: webhooks/s and p50/p99 latency with 1, 8 and 32 concurrent senders (distinct groups; half
     first firings, half repeats), bridge on waitress in-process, emulator rate limits OFF and the client's
     pacer opened up (the production pacer would cap everything at 95 requests / 10 s);
  2. Trello requests per webhook, counted from the emulator's request log, against the request budget in the README;
  3. an alert storm of 100 groups with Trello's real rate limit ON (100 requests / 10 s per token) and the
     production client: requests used, board reads, 429s, wall time;
  4. the bridge's own overhead per webhook.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grafana_bridge import render  # noqa: E402
from grafana_bridge.app import BridgeApp, group_want  # noqa: E402
from grafana_bridge.payloads import parse  # noqa: E402
from jenkins_trello.trello import Pacer  # noqa: E402
from tests.bridgeutil import (  # noqa: E402
    AUTH,
    BEARER_HEADERS,
    am_alert,
    am_payload,
    bridge_app,
    fixture,
    fixture_names,
    serve,
    trello,
)

UNPACED = dict(max_requests=10**9, interval=1.0)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    print("  " + "  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  " + "  ".join(str(c).rjust(w) for c, w in zip(row, widths)))


# --------------------------------------------------------------------------- 1. throughput


def throughput(concurrency: int, webhooks: int) -> list[str]:
    with trello() as t:
        app = bridge_app(t, client=t.client(5.0, pacer=Pacer(**UNPACED), pool_size=64))
        b = serve(app, threads=max(8, concurrency))
        try:
            groups = webhooks // 2
            payloads = [am_payload(f"T{concurrency}-{i}") for i in range(groups)] * 2  # create, then repeat
            latencies: list[float] = []

            def send(p):
                t0 = time.perf_counter()
                r = b.post(p)
                latencies.append(time.perf_counter() - t0)
                return r.status_code

            t.emu.reset_log()
            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                codes = list(pool.map(send, payloads))
            wall = time.perf_counter() - started
            ok = codes.count(200)
            reqs = len(t.emu.request_log)
            return [str(concurrency), str(len(payloads)), f"{ok}", f"{len(payloads) / wall:.0f}",
                    f"{statistics.median(latencies) * 1000:.1f}", f"{pct(latencies, 99) * 1000:.1f}",
                    f"{reqs / len(payloads):.2f}"]
        finally:
            b.stop()


# --------------------------------------------------------------------------- 2. request budget


def request_budget() -> list[list[str]]:
    rows = []
    with trello() as t:
        app = bridge_app(t, client=t.client(5.0, pacer=Pacer(**UNPACED)))
        b = serve(app)
        try:
            steps = [
                ("first firing", am_payload("Budget", [am_alert("Budget", instance="a")]),
                 "1 find + create + <=1 re-read"),
                ("repeat", am_payload("Budget", [am_alert("Budget", instance="a")]), "1 find, 0 writes"),
                ("change", am_payload("Budget", [am_alert("Budget", instance="a"), am_alert("Budget", instance="b")]),
                 "1 find + comment + update"),
                ("resolve", am_payload("Budget", [am_alert("Budget", "resolved", instance="a"),
                                                  am_alert("Budget", "resolved", instance="b")]),
                 "1 find + comment + archive"),
                ("resolved again", am_payload("Budget", [am_alert("Budget", "resolved", instance="a")]),
                 "1 find, 0 writes"),
                ("legacy paused", dict(fixture("grafana-legacy-1.json"), state="paused"), "0"),
            ]
            for name, payload, budget in steps:
                t.emu.reset_log()
                r = b.post(payload)
                assert r.status_code == 200, r.text
                log = t.emu.request_log
                reads = sum(1 for x in log if x.method == "GET")
                writes = len(log) - reads
                rows.append([name, r.json()["action"], str(reads), str(writes), str(len(log)), budget])
        finally:
            b.stop()
    return rows


# --------------------------------------------------------------------------- 3. storm


def storm(groups: int = 100, senders: int = 32) -> list[list[str]]:
    with trello(rate_limit=True) as t:
        b = serve(BridgeApp(t.config, AUTH), threads=senders)  # production client and pacer
        try:
            payloads = [am_payload(f"Storm{i:03d}") for i in range(groups)]
            latencies: list[float] = []

            def send(p):
                t0 = time.perf_counter()
                r = b.post(p, timeout=30)
                latencies.append(time.perf_counter() - t0)
                return r.status_code

            t.emu.reset_log()
            started = time.perf_counter()
            with ThreadPoolExecutor(senders) as pool:
                codes = list(pool.map(send, payloads))
            wall = time.perf_counter() - started
            log = t.emu.request_log
            reads = sum(1 for x in log if x.method == "GET" and x.status != 429)
            cards = len(t.bridge_cards())
            return [["webhooks / answered 200", f"{groups} / {codes.count(200)}"],
                    ["open cards (one per group)", str(cards)],
                    ["Trello requests (incl. 429s)", str(len(log))],
                    ["  reads (shared finds + twin checks)", str(reads)],
                    ["  writes (creates)", str(t.emu.write_count())],
                    ["  429 answers", str(t.emu.rate_limited)],
                    ["peak requests in any 10 s window", str(t.emu.peak_token_window)],
                    ["wall time", f"{wall:.1f} s"],
                    ["webhook latency p50 / max", f"{statistics.median(latencies):.1f} s / {max(latencies):.1f} s"]]
        finally:
            b.stop()


# --------------------------------------------------------------------------- 4. overhead


def _environ(body: bytes) -> dict:
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/alerts", "CONTENT_LENGTH": str(len(body)),
           "wsgi.input": io.BytesIO(body), "CONTENT_TYPE": "application/json"}
    env.update({"HTTP_" + k.upper(): v for k, v in BEARER_HEADERS.items()})
    return env


def overhead(n: int) -> list[list[str]]:
    rows = []
    # (a) in-process WSGI calls, minus the time the client spent in Trello requests (stats.seconds)
    with trello() as t:
        app = bridge_app(t, client=t.client(5.0, pacer=Pacer(**UNPACED)))
        for label, make in (("first firing (3 Trello calls)", lambda i: am_payload(f"O{i}")),
                            ("repeat (1 Trello call)", lambda i: am_payload(f"O{i}"))):
            bodies = [json.dumps(make(i)).encode() for i in range(n)]
            s0 = app.client.stats.seconds
            started = time.perf_counter()
            for body in bodies:
                out = b"".join(app(_environ(body), lambda *a: None))
                assert b'"status": "ok"' in out, out
            total = time.perf_counter() - started
            trello_s = app.client.stats.seconds - s0
            rows.append([label, f"{total / n * 1000:.2f}", f"{trello_s / n * 1000:.2f}",
                         f"{(total - trello_s) / n * 1000:.2f}"])
    # (b) pure decision work, no I/O: parse + group_want (renders name, desc, comment) over every fixture
    docs = [json.dumps(fixture(name)).encode() for name in fixture_names()]
    rounds = max(1, n // 10)
    started = time.perf_counter()
    for _ in range(rounds):
        for body in docs:
            group = parse(json.loads(body))
            group_want(group, None)
            if group.status != "ignored":
                render.card_desc(group, frozenset(a.fingerprint for a in group.firing_alerts()))
    per = (time.perf_counter() - started) / (rounds * len(docs))
    rows.append(["parse + decide + render, no I/O", f"{per * 1000:.3f}", "0", f"{per * 1000:.3f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer webhooks per run (about 30 s in all)")
    args = ap.parse_args()
    logging.getLogger("waitress").setLevel(logging.ERROR)  # "Task queue depth" warnings are expected here
    n = 100 if args.quick else 400
    t0 = time.perf_counter()
    print("grafana-bridge benchmark: requests -> waitress -> BridgeApp -> TrelloClient -> Trello emulator (127.0.0.1)")

    rows = [throughput(c, n) for c in (1, 8, 32)]
    table("1. throughput (rate limits off, half first firings / half repeats, distinct groups)",
          ["senders", "webhooks", "200s", "webhooks/s", "p50 ms", "p99 ms", "Trello req/webhook"], rows)

    table("2. Trello requests per webhook (emulator request log)",
          ["event", "action", "reads", "writes", "total", "budget"], request_budget())

    table("3. alert storm: 100 groups, 32 senders, Trello's real limit (100 req / 10 s per token) enforced",
          ["", ""], storm())

    table("4. bridge overhead per webhook (ms). Method: the app called in-process (no HTTP to the bridge); "
          "'in Trello' is the\n   client's own timing of its requests (stats.seconds), overhead = total - in Trello, "
          "i.e. parsing, auth,\n   decisions, rendering, locks and the client's Python side",
          ["path", "total", "in Trello", "bridge overhead"], overhead(n // 2))
    print(f"\ntotal benchmark time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
