"""Benchmark ``grafana-bridge archive`` against the Trello emulator (a script, not a test).

Two questions:

1. Request budget and overhead, rate limits OFF: for 100 and 1000 Done cards
   (most old, some old but active today, some recently moved in), how many
   reads and writes, and how long? the request budget in the README: "a few reads, never one
   per card, + N writes". The client's pacer is lifted here so the figure is
   the code's own cost, not Trello's ceiling.
2. Throughput against the ceiling, the emulator's real limits ON (100 requests
   per 10 s per token) and the client's default pacer (95 / 10 s): cards/s and
   requests/s against the 10 req/s ceiling, and how many 429s it took.

Run: ``python benchmarks/archive.py`` (about 45 s) or ``--quick`` (about 15 s).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from grafana_bridge.archive import run  # noqa: E402
from jenkins_trello.emulator.trello import TrelloEmulator  # noqa: E402
from jenkins_trello.trello import Pacer, TrelloClient  # noqa: E402

KEY, TOKEN = "k" * 32, "t" * 64


def populate(emu: TrelloEmulator, n: int, now: datetime, *, active: float = 0.1, young: float = 0.1) -> tuple[str, int]:
    """A board with ``n`` Done cards; returns (board id, how many should be archived)."""
    board = emu.add_board("Bench", at=now - timedelta(days=400))["id"]
    todo = emu.add_list(board, "To Do")["id"]
    done = emu.add_list(board, "Done")["id"]
    n_active, n_young = int(n * active), int(n * young)
    for i in range(n):
        if i < n_young:  # moved in recently: kept
            card = emu.add_card(todo, f"young {i}", at=now - timedelta(days=40))["id"]
            emu.human_move(card, done, at=now - timedelta(days=1 + i % 10))
        elif i < n_young + n_active:  # old, but a comment today: archived (history says so)
            card = emu.add_card(done, f"active {i}", at=now - timedelta(days=30 + i % 20))["id"]
            emu.human_comment(card, "anything left?", at=now - timedelta(hours=2))
        else:  # old and quiet: archived without reading history
            emu.add_card(done, f"old {i}", at=now - timedelta(days=15 + i % 60))
    return board, n - n_young


def budget(n: int) -> dict[str, object]:
    now = datetime.now(timezone.utc)
    with TrelloEmulator(KEY, TOKEN) as emu:
        board, expected = populate(emu, n, now)
        emu.reset_log()
        client = TrelloClient(KEY, TOKEN, emu.url, pacer=Pacer(max_requests=10**9, interval=1.0))
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        rc = run(client, board, "Done", 14, dry_run=False, now=now, out=out, err=err)
        seconds = time.perf_counter() - started
        reads, writes = emu.count("GET"), emu.count("PUT")
        summary = out.getvalue().splitlines()[-1]
    assert rc == 0 and writes == expected, (rc, writes, expected, err.getvalue())
    return {"cards": n, "archived": expected, "reads": reads, "writes": writes, "seconds": seconds,
            "summary": summary}


def ceiling(n: int) -> dict[str, object]:
    now = datetime.now(timezone.utc)
    with TrelloEmulator(KEY, TOKEN, rate_limit=True) as emu:  # Trello's real limits: 100 / 10 s per token
        board, expected = populate(emu, n, now, active=0.0, young=0.0)
        emu.reset_log()
        client = TrelloClient(KEY, TOKEN, emu.url)  # the default pacer, as in production
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        rc = run(client, board, "Done", 14, dry_run=False, now=now, out=out, err=err)
        seconds = time.perf_counter() - started
        requests = len(emu.request_log)
        result = {"cards": n, "archived": expected, "requests": requests, "seconds": seconds,
                  "cards_per_s": expected / seconds, "requests_per_s": requests / seconds,
                  "rate_limited": emu.rate_limited, "peak_window": emu.peak_token_window,
                  "failed": out.getvalue().splitlines()[-1]}
    assert rc == 0, err.getvalue()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cards at the rate-limit ceiling (~15 s)")
    args = parser.parse_args(argv)

    print("archive: request budget, rate limits off (client pacer lifted)")
    print(f"{'done cards':>10} {'archived':>9} {'reads':>6} {'writes':>7} {'wall s':>7} {'ms/card':>8}")
    for n in (100, 1000):
        r = budget(n)
        print(f"{r['cards']:>10} {r['archived']:>9} {r['reads']:>6} {r['writes']:>7} {r['seconds']:>7.2f} "
              f"{1000 * r['seconds'] / r['cards']:>8.2f}")

    n = 100 if args.quick else 300
    print()
    print("archive: throughput at Trello's ceiling (emulator limits on: 100 req / 10 s per token; default pacer)")
    print(f"{'cards':>6} {'requests':>9} {'wall s':>7} {'cards/s':>8} {'req/s':>6} {'ceiling':>8} {'429s':>5} "
          f"{'peak/10s':>9}")
    r = ceiling(n)
    print(f"{r['cards']:>6} {r['requests']:>9} {r['seconds']:>7.1f} {r['cards_per_s']:>8.2f} "
          f"{r['requests_per_s']:>6.2f} {'10.00':>8} {r['rate_limited']:>5} {r['peak_window']:>9}")
    print(f"  ({r['failed']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
