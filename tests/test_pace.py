"""Pacing one Trello token: the pure window and AIMD rules, the host file, and two processes sharing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jenkins_trello import pace
from jenkins_trello.config import ConfigError, TrelloConfig
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.pace import (
    FLOOR,
    FileStore,
    PaceState,
    backoff,
    decode,
    encode,
    paused,
    recover,
    refund,
    reserve,
    reserve_many,
)
from jenkins_trello.trello import Pacer, TrelloError

TOKEN = "tok-" + "7" * 60


def _max_in_window(stamps: list[float], interval: float) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, s in enumerate(stamps):
        while stamps[lo] <= s - interval:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@given(st.lists(st.floats(0, 60, allow_nan=False), min_size=1, max_size=120), st.integers(1, 20),
       st.lists(st.floats(0, 30, allow_nan=False), max_size=5))
def test_no_window_ever_holds_more_than_the_rate_and_turns_keep_their_order(arrivals, rate, refusals):
    state, sent = PaceState(), []
    events = sorted([(t, "ask") for t in arrivals] + [(t, "429") for t in refusals])
    for now, kind in events:
        if kind == "429":
            state, _ = backoff(state, now)
            continue
        state, slot = reserve(state, now, now + 1000, rate)
        assert slot is not None and slot >= now
        sent.append(slot)
    assert sent == sorted(sent), "first come, first served"
    assert _max_in_window(sent, 10.0) <= rate


def test_a_turn_after_the_deadline_is_refused_at_once_and_costs_nobody_a_slot():
    state = PaceState()
    for _ in range(3):
        state, slot = reserve(state, 0.0, 5.0, 3)
        assert slot == 0.0
    before = state
    state, slot = reserve(state, 1.0, 5.0, 3)  # the next turn is at 10.2
    assert slot is None and state.stamps == before.stamps
    state, slot = reserve(state, 1.0, 20.0, 3)
    assert slot == pytest.approx(10.2)  # the interval and its margin


def test_a_plans_writes_get_their_turns_all_at_once_or_not_at_all_and_unused_ones_go_back():
    state, _ = reserve(PaceState(), 0.0, 1.0, 3)
    same, slots = reserve_many(state, 0.0, 5.0, 3, 3)  # the third would be at 10.2
    assert slots is None and same == state
    state, slots = reserve_many(state, 0.0, 5.0, 3, 2)
    assert slots == (0.0, 0.0) and len(state.stamps) == 3
    state = refund(state, slots[1:])
    assert len(state.stamps) == 2
    _, slot = reserve(state, 0.0, 5.0, 3)
    assert slot == 0.0, "a turn given back is free for the next caller"


def test_pacer_turns_refuses_before_any_write_and_the_writes_use_the_turns():
    p = Pacer(3, 10.0)
    p.acquire()
    soon = time.monotonic() + 1
    with pytest.raises(TrelloError, match="writes past the deadline"):
        with p.turns(3, soon):
            pass
    with p.turns(2, soon):
        p.acquire(soon)  # the first prepaid turn; the second is not used
    p.acquire(soon)  # the turn given back
    with pytest.raises(TrelloError):
        p.acquire(soon)  # the window holds 3


def test_a_pause_holds_every_turn_back():
    state = paused(PaceState(), 0.0, 2.5)
    state, slot = reserve(state, 1.0, 100.0, 50)
    assert slot == 2.5


def test_a_429_halves_once_per_half_window_then_each_quiet_window_gives_a_tenth_back():
    state, halved = backoff(PaceState(), 100.0)
    assert halved and state.factor == 0.5 and pace.allowed(state, 90) == 45
    state, halved = backoff(state, 101.0)  # refused together with the first: no second halving
    assert not halved and state.factor == 0.5
    state, halved = backoff(state, 106.0)
    assert halved and state.factor == 0.25
    assert recover(state, 115.0).factor == 0.25  # not a whole quiet window since the last 429
    grown = recover(state, 126.5)
    assert grown.factor == pytest.approx(0.45) and grown.quiet_since == 126.0
    assert recover(state, 10_000.0).factor == 1.0
    for i in range(20):
        state, _ = backoff(state, 200.0 + 10 * i)
    assert state.factor == FLOOR and pace.allowed(state, 90) >= 1


def test_the_state_file_round_trips_and_a_damaged_or_foreign_one_starts_afresh():
    state = PaceState(stamps=(1.5, 2.25), factor=0.5, paused_until=3.0, decreased=2.0, quiet_since=2.0)
    assert decode(encode(state), 5.0) == state
    for raw in (b"", b"{", b"[]", json.dumps({"v": 2}).encode(),
                encode(PaceState(stamps=(1e9,))), encode(PaceState(factor=7.0))):
        assert decode(raw, 5.0) == PaceState(quiet_since=5.0), raw


def test_the_file_is_named_by_a_hash_and_holds_times_only(tmp_path):
    name = pace.file_name("https://api.trello.com/1", TOKEN)
    assert TOKEN not in name and "7777" not in name
    assert name != pace.file_name("http://127.0.0.1:9/1", TOKEN) != pace.file_name("https://api.trello.com/1", "x")
    store = FileStore(str(tmp_path / name))
    p = Pacer(5, 10.0, store=store)
    p.acquire(time.monotonic() + 1)
    p.backoff()
    text = (tmp_path / name).read_text()
    assert TOKEN not in text and set(json.loads(text)) == {"v", "stamps", "factor", "paused", "decreased", "quiet"}
    assert oct(os.stat(tmp_path / name).st_mode & 0o777) == "0o600"


def test_two_stores_on_one_file_share_the_window_and_the_learnt_rate(tmp_path):
    path = str(tmp_path / "pace.json")
    a, b = Pacer(4, 10.0, store=FileStore(path)), Pacer(4, 10.0, store=FileStore(path))
    soon = time.monotonic() + 0.5
    for p in (a, b, a, b):
        p.acquire(soon)
    with pytest.raises(TrelloError, match="past its deadline"):
        b.acquire(soon)
    assert a.backoff() == 2 and b.rate == 2 and b.backoff() is None


def test_the_default_client_of_a_config_paces_through_the_host_file():
    cfg = TrelloConfig.from_env({"TRELLO_API_KEY": "k" * 32, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": "AbCdEf12",
                                 "JENKINS_TRELLO_RATE": "30"})
    client = cfg.client()
    assert cfg.rate == 30 and client.pacer.max_requests == 30
    assert isinstance(client.pacer._store, FileStore)
    assert client.pacer._store is cfg.client().pacer._store
    assert TOKEN not in repr(cfg)


@pytest.mark.parametrize("raw", ["0", "101", "ninety", "9.5", "-3"])
def test_a_wrong_rate_is_one_line_naming_the_variable(raw):
    with pytest.raises(ConfigError) as err:
        TrelloConfig.from_env({"TRELLO_API_KEY": "k", "TRELLO_TOKEN": "t", "TRELLO_BOARD": "AbCdEf12",
                               "JENKINS_TRELLO_RATE": raw})
    msg = str(err.value)
    assert msg.startswith("JENKINS_TRELLO_RATE") and "\n" not in msg and "1 to 100" in msg


_CLIENT_PROCESS = textwrap.dedent("""
    import sys, time
    from jenkins_trello.pace import FileStore
    from jenkins_trello.trello import Pacer, TrelloClient
    url, path, board, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = TrelloClient("k" * 32, "t" * 64, url, retry_seconds=30, pacer=Pacer(9, 1.0, store=FileStore(path)))
    for _ in range(n):
        client.board_cards(board)
    print(client.stats.rate_limited)
""")


def test_two_processes_sharing_a_token_through_the_file_stay_under_the_rate_together(tmp_path):
    # Trello's 100 / 10 s as 10 per 1 s, and the default share of it (90 / 10 s as 9 per 1 s, the headroom
    # absorbing the network's jitter); two processes of 25 requests each
    with TrelloEmulator(key="k" * 32, token="t" * 64, rate_limit=True, token_limit=10, interval=1.0) as emu:
        board = emu.add_board("Ops")["id"]
        path = str(tmp_path / "pace.json")
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", _CLIENT_PROCESS, emu.url, path, board, "25"],
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=60)[0] for p in procs]
        took = time.monotonic() - started
        assert [p.returncode for p in procs] == [0, 0]
        assert emu.counts() == {"GET /1/boards/{id}/cards": 50}
        assert emu.peak_token_window <= 10, "together they went over the token's window"
        assert emu.rate_limited == 0 and [o.strip() for o in outs] == ["0", "0"]
        assert took >= 4.5  # 50 requests at 9 per second: they waited for each other


def test_the_emulator_answers_as_trello_over_the_limits_and_locks_the_key_out_after_200_refusals():
    import requests

    with TrelloEmulator(key="k" * 32, token="t" * 64, rate_limit=True, token_limit=1, interval=60.0) as emu:
        board = emu.add_board("Ops")["id"]
        auth = {"Authorization": f'OAuth oauth_consumer_key="{"k" * 32}", oauth_token="{"t" * 64}"'}
        with requests.Session() as s:
            answers = [s.get(f"{emu.url}/boards/{board}/cards/visible", headers=auth, timeout=5) for _ in range(202)]
        assert answers[0].status_code == 200
        assert [a.status_code for a in answers[1:]] == [429] * 201
        assert answers[1].json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
        assert answers[200].json()["error"] == "API_TOKEN_LIMIT_EXCEEDED"
        assert answers[201].json() == {"error": "API_KEY_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}


def test_a_429_halves_the_clients_rate_and_says_which_limit(requests_mock, caplog):
    from jenkins_trello.trello import TrelloClient

    api = "https://trello.test/1"
    requests_mock.get(f"{api}/boards/b1/cards/visible", [
        {"status_code": 429, "json": {"error": "API_KEY_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
         "headers": {"Retry-After": "0.1"}},
        {"status_code": 200, "json": []},
    ])
    client = TrelloClient("k" * 32, TOKEN, api, retry_seconds=5, pacer=Pacer(80, 10.0))
    caplog.set_level("INFO", logger="jenkins_trello.trello")
    assert client.board_cards("b1") == []
    assert client.pacer.rate == 40 and client.stats.rate_limited == 1
    line = json.loads(caplog.records[-1].getMessage())
    assert line["limit"] == "key" and line["rate"] == 40 and TOKEN not in caplog.text


def test_notify_style_call_waits_its_turn_within_its_retry_time_then_fails_with_one_line():
    from jenkins_trello.trello import TrelloClient

    pacer = Pacer(1, 10.0)
    pacer.acquire()  # the window is spent for the next 10 s
    client = TrelloClient("k" * 32, TOKEN, "http://127.0.0.1:9/1", retry_seconds=0.5, pacer=pacer)
    t0 = time.monotonic()
    with pytest.raises(TrelloError) as err:
        client.board_cards("b1")
    assert time.monotonic() - t0 < 0.4, "refused at once: its turn would come after its retry time"
    assert "past its deadline" in str(err.value) and "\n" not in str(err.value)


def test_a_refusal_says_when_the_turns_would_come_and_the_bridge_tells_the_sender():
    from grafana_bridge.app import ANSWER_SECONDS, retry_after
    from jenkins_trello.trello import PacingRefused, TrelloError

    pacer = Pacer(10, 10.0)
    now = time.monotonic()
    for _ in range(10):
        pacer.acquire(now + 60)  # the window is full now: the next turns come about 10 s on
    with pytest.raises(PacingRefused) as refused:
        with pacer.turns(3, time.monotonic() + 1.0):
            pass
    assert 9.0 < refused.value.ready_in < 11.0
    assert retry_after(refused.value) == "1"  # coming back at once, it waits for the turns within its budget
    assert retry_after(PacingRefused("x", 60.0)) == str(int(60 - ANSWER_SECONDS / 2))
    assert retry_after(PacingRefused("x", 10_000.0)) == "120"
    assert retry_after(TrelloError("get", 503)) == "10"
