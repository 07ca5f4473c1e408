"""Races and storms over real sockets: replicas racing on one board, redelivery bursts, an alert storm under
Trello's real rate limit.

The rule: the same notification delivered
twice at once, to one bridge or to two replicas, leaves one card; the writer
that finds a twin of the card it just created keeps the oldest and archives the
rest; board reads may be shared between concurrent webhooks, but one card per
group and nothing lost must hold however they are shared.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from grafana_bridge.app import BridgeApp
from grafana_bridge.cli import SERVE_THREADS
from grafana_bridge.payloads import parse
from jenkins_trello.cards import alert_key, read_marker
from jenkins_trello.trello import Pacer

from .bridgeutil import AUTH, am_alert, am_payload, bridge_app, serve, trello


def _keys_of(cards: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in cards:
        out.setdefault(read_marker(c["desc"])[0], []).append(c)
    return out


def test_two_replicas_racing_on_the_same_groups_leave_one_card_each_the_oldest(t):
    replicas = [serve(bridge_app(t), threads=4), serve(bridge_app(t), threads=4)]
    # Each round, both replicas' first board read (the find) completes before either goes on to create:
    # the worst interleaving, forced every round, so the twin check is exercised every round.
    met = {"barrier": None, "first": [False, False]}

    def racing_read(n: int, read):
        def fetch():
            board = read()
            if met["barrier"] is not None and not met["first"][n]:
                met["first"][n] = True
                met["barrier"].wait(timeout=10)
            return board
        return fetch

    for n, r in enumerate(replicas):
        r.app.board._fetch = racing_read(n, r.app.board._fetch)
    try:
        rounds = 20
        answers: list[list[dict]] = []
        for i in range(rounds):
            payload = am_payload(f"Race{i}", [am_alert(f"Race{i}", instance="a"), am_alert(f"Race{i}", instance="b")])
            met["barrier"], met["first"] = threading.Barrier(2), [False, False]
            barrier = threading.Barrier(2)
            results: list = [None, None]

            def send(n: int, payload=payload, barrier=barrier, results=results) -> None:
                barrier.wait()
                results[n] = replicas[n].post(payload)

            threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(30)
            assert all(r is not None and r.status_code == 200 for r in results), results
            answers.append([r.json() for r in results])

        open_by_key = _keys_of(t.bridge_cards())
        all_by_key = _keys_of(t.bridge_cards(include_closed=True))
        assert len(open_by_key) == rounds
        twins = 0
        for i in range(rounds):
            key = alert_key(parse(am_payload(f"Race{i}")).identity)
            assert len(open_by_key[key]) == 1, f"group Race{i} has {len(open_by_key[key])} open cards"
            survivor = open_by_key[key][0]["id"]
            assert survivor == min(c["id"] for c in all_by_key[key]), "the oldest card wins"
            assert {a["card"] for a in answers[i]} == {survivor}, "both replicas report the surviving card"
            twins += len(all_by_key[key]) - 1
        # both replicas created in every round (they really raced), and the twin check cleaned up every time
        assert twins == rounds, f"rounds with a twin archived: {twins}/{rounds}"
        assert all(sorted(a["action"] for a in pair) == ["created", "created"] for pair in answers)
    finally:
        for r in replicas:
            r.stop()


def test_one_replica_30_concurrent_deliveries_of_one_payload_make_one_card(t):
    b = serve(bridge_app(t), threads=32)
    try:
        payload = am_payload("Burst", [am_alert("Burst", instance=f"h{i}") for i in range(3)])
        barrier = threading.Barrier(30)

        def send(_: int):
            barrier.wait()
            return b.post(payload)

        t.emu.reset_log()
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(send, range(30)))
        assert [r.status_code for r in answers] == [200] * 30
        actions = sorted(r.json()["action"] for r in answers)
        assert actions == ["created"] + ["unchanged"] * 29
        assert len({r.json()["card"] for r in answers}) == 1
        assert len(t.bridge_cards(include_closed=True)) == 1
        assert t.writes() == 1
        # deliveries of one group take turns (each must see the previous one's writes): one find each,
        # plus the creator's twin check -- the per-webhook request budget, never more
        assert t.reads() <= 31
    finally:
        b.stop()


def test_alert_storm_under_the_real_rate_limit_costs_its_creates_and_at_most_5_reads():
    groups = 100
    with trello(rate_limit=True) as t:
        # the production client (paced through the host file at 90 / 10 s) and serve's default thread count
        b = serve(BridgeApp(t.config, AUTH), threads=SERVE_THREADS)
        try:
            t.emu.reset_log()
            payloads = [am_payload(f"Storm{i:03d}", [am_alert(f"Storm{i:03d}", instance="x")]) for i in range(groups)]
            started = time.monotonic()
            latencies: list[float] = []

            def send(p):
                t0 = time.monotonic()
                r = b.post(p, timeout=30)
                latencies.append(time.monotonic() - t0)
                return r

            with ThreadPoolExecutor(groups) as pool:  # all 100 at once, as Alertmanager sends a storm
                answers = list(pool.map(send, payloads))
            wall = time.monotonic() - started
            codes = [r.status_code for r in answers]
            assert codes == [200] * groups, {c: codes.count(c) for c in set(codes)}
            assert all(r.json()["action"] == "created" for r in answers)
            by_key = _keys_of(t.bridge_cards(include_closed=True))
            assert len(by_key) == groups and all(len(v) == 1 for v in by_key.values())
            reads, writes = t.reads(), t.emu.write_count()  # write_count: writes Trello accepted (2xx)
            limited = t.emu.rate_limited
            print(f"storm: {groups} webhooks in {wall:.1f} s, {reads} reads + {writes} writes, "
                  f"{limited} x 429, max latency {max(latencies):.1f} s, peak window {t.emu.peak_token_window}")
            assert writes == groups
            # finds shared (reads spaced while the storm arrives), twin checks shared (one after the last create)
            assert reads <= 5, f"{reads} board reads for {groups} new groups"
            assert limited <= 2
            assert max(latencies) < 22.5
            assert t.emu.peak_token_window <= 100
        finally:
            b.stop()


def test_two_replicas_inside_a_storm_still_catch_every_twin(t):
    # both replicas get the same 40 new groups at once (a redelivery to the other replica, for every group),
    # each replica's twin checks are shared by its whole storm: still one open card per group, the oldest
    groups = 40
    replicas = [serve(bridge_app(t, client=t.client(10.0, pacer=Pacer(10**6, 10.0))), threads=SERVE_THREADS)
                for _ in range(2)]
    # the race made certain (a loaded machine may otherwise serialise the replicas): each replica's first board
    # read waits until the other's has started too, so both find no card for the groups of their first rounds
    both_reading = threading.Barrier(2, timeout=10)

    def first_read_waits(read):
        first = [True]

        def wrapped(board: str):
            if first[0]:
                first[0] = False
                both_reading.wait()
            return read(board)
        return wrapped

    for r in replicas:
        r.app._read_board = first_read_waits(r.app._read_board)
    try:
        payloads = [am_payload(f"Twin{i:02d}", [am_alert(f"Twin{i:02d}", instance="x")]) for i in range(groups)]
        jobs = [(r, p) for p in payloads for r in replicas]
        with ThreadPoolExecutor(len(jobs)) as pool:
            answers = list(pool.map(lambda job: job[0].post(job[1], timeout=30), jobs))
        assert [a.status_code for a in answers] == [200] * len(jobs)
        open_by_key = _keys_of(t.bridge_cards())
        all_by_key = _keys_of(t.bridge_cards(include_closed=True))
        assert len(open_by_key) == groups and all(len(v) == 1 for v in open_by_key.values())
        for key, cards in open_by_key.items():
            assert cards[0]["id"] == min(c["id"] for c in all_by_key[key]), "the oldest card wins"
        created = sum(a.json()["action"] == "created" for a in answers)
        assert created > groups, "the replicas never raced: the test proves nothing"
        assert sum(len(v) for v in all_by_key.values()) == created  # every twin made is archived, none lost
        per_replica_reads = [r.app.board_reads for r in replicas]
        assert all(n <= 8 for n in per_replica_reads), per_replica_reads
    finally:
        for r in replicas:
            r.stop()
