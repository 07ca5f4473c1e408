"""SharedReader without I/O: which read a caller may join, and when a shared twin check starts."""

from __future__ import annotations

import threading
import time

import pytest

from grafana_bridge.shared import TWIN_RESERVE, SharedReader, Timeout


class Board:
    """A fake board: ``writes`` is what a read started now would see."""

    def __init__(self) -> None:
        self.writes = 0
        self.reads = 0
        self.lock = threading.Lock()

    def fetch(self) -> int:
        with self.lock:
            self.reads += 1
            return self.writes

    def write(self) -> None:
        with self.lock:
            self.writes += 1


def test_a_lone_caller_reads_at_once_and_sees_every_earlier_write():
    board = Board()
    reader = SharedReader(board.fetch)
    for n in range(3):
        board.write()
        with reader.working():
            t0 = time.monotonic()
            assert reader.get(time.monotonic() + 5) == n + 1
            assert reader.get(time.monotonic() + 5, after_writes=True) == n + 1
            assert time.monotonic() - t0 < 0.3, "a webhook alone on its board never waits"
    assert board.reads == 6


def test_the_twin_check_waits_for_every_writer_on_the_board_then_one_read_serves_them_all():
    board, n = Board(), 20
    reader = SharedReader(board.fetch, spacing=0.0)
    seen: list[int] = []
    go = threading.Barrier(n)

    def webhook(i: int) -> None:
        with reader.working():
            go.wait()
            time.sleep(0.01 * i)  # creates finish one after another over 0.2 s
            board.write()
            seen.append(reader.get(time.monotonic() + 10, after_writes=True))

    threads = [threading.Thread(target=webhook, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert seen == [n] * n, "every twin check saw every create"
    assert board.reads == 1


def test_a_writer_that_takes_too_long_does_not_hold_the_twin_check_past_its_callers_deadline():
    board = Board()
    reader = SharedReader(board.fetch)
    release = threading.Event()

    def slow_writer() -> None:
        with reader.working():
            release.wait(10)

    th = threading.Thread(target=slow_writer)
    th.start()
    try:
        with reader.working():
            board.write()
            t0 = time.monotonic()
            assert reader.get(t0 + TWIN_RESERVE + 0.3, after_writes=True) == 1
            assert 0.2 <= time.monotonic() - t0 < 1.5
    finally:
        release.set()
        th.join(5)


def test_a_caller_joins_only_a_read_that_starts_after_it_asked():
    board = Board()
    started, finish = threading.Event(), threading.Event()

    def fetch() -> int:
        value = board.fetch()
        started.set()
        finish.wait(5)
        return value

    reader = SharedReader(fetch, spacing=0.0)
    first: list[int] = []
    th = threading.Thread(target=lambda: first.append(reader.get(time.monotonic() + 5)))
    th.start()
    started.wait(5)
    board.write()  # lands while the first read is in flight
    later: list[int] = []
    th2 = threading.Thread(target=lambda: later.append(reader.get(time.monotonic() + 5)))
    th2.start()
    time.sleep(0.05)
    finish.set()
    th.join(5)
    th2.join(5)
    assert first == [0] and later == [1] and board.reads == 2


def test_waiting_for_a_read_in_flight_past_the_deadline_is_a_timeout():
    started, finish = threading.Event(), threading.Event()

    def fetch() -> int:
        started.set()
        finish.wait(5)
        return 0

    reader = SharedReader(fetch)
    th = threading.Thread(target=reader.get)
    th.start()
    started.wait(5)
    with pytest.raises(Timeout):
        reader.get(time.monotonic() + 0.2)
    finish.set()
    th.join(5)
    assert reader.get(time.monotonic() + 1) == 0, "a timed-out caller leaves the reader usable"
