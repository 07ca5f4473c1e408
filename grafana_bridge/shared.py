"""Concurrency helpers for the bridge: shared board reads and one-at-a-time per alert group.

In an alert storm (a network partition fires 100 groups within a second) each
webhook would otherwise read the whole board twice (to find its card, then
after creating it to catch a replica's twin), spending Trello's 100 requests
per 10 s on reads. ``SharedReader`` lets concurrent webhooks share reads, and
stays correct: a caller only joins a read that *starts after it asked*, so it
always sees every write that finished before it arrived. Two rules keep a
storm's reads near the floor:

* while other webhooks work on the board, its reads start at most every
  ``READ_SPACING`` seconds, so webhooks arriving over a second or two share a
  handful of finds (a webhook alone on its board never waits for this);
* the twin check (``get(after_writes=True)``) waits until no webhook working
  on the board (``working()``) is still writing, so the creates of a storm
  share one read after the last of them; a read that starts after my create
  sees my card and any twin's, which is all a twin check needs. It waits at
  most until ``TWIN_RESERVE`` before the earliest deadline among its callers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

#: Under load, a board's reads start at most this often (a quiet board's read starts at once).
READ_SPACING = 0.5
#: A twin check starts at the latest this long before its callers' deadline, whoever is still writing:
#: time for the read and for a twin's comment and archive.
TWIN_RESERVE = 5.0
#: A twin check of a caller without a deadline waits for other writers at most this long.
TWIN_PATIENCE = 15.0


class Timeout(Exception):
    """Waiting for a shared read or a group's turn ran past the request's deadline."""


class _Round(Generic[T]):
    __slots__ = ("done", "result", "error", "eager", "latest")

    def __init__(self) -> None:
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None
        self.eager = False  # a caller wants it as soon as possible (a find)
        self.latest = math.inf  # twin checks only: start by then whoever is still writing


class SharedReader(Generic[T]):
    """Coalesce concurrent reads: callers arriving while a read is in flight share the next one."""

    def __init__(self, fetch: Callable[[], T], spacing: float = READ_SPACING) -> None:
        self._fetch = fetch
        self._spacing = spacing
        self._cond = threading.Condition()
        self._pending: _Round[T] | None = None
        self._running = False
        self._last_end = -math.inf
        self._active = 0  # webhooks inside working()
        self._waiting = 0  # of them, how many are inside get()
        self._mine = threading.local()
        self.reads = 0

    @contextmanager
    def working(self) -> Iterator[None]:
        """Mark this thread as working on the board (reading, deciding, writing) until the block ends."""
        with self._cond:
            self._active += 1
        self._mine.depth = getattr(self._mine, "depth", 0) + 1
        try:
            yield
        finally:
            self._mine.depth -= 1
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def _start_in(self, rnd: _Round[T], now: float, mine: bool) -> float:
        """Seconds until ``rnd`` may start (0: now); called with the condition held, no read running."""
        if rnd.eager:
            if self._active - mine <= 0:
                return 0.0  # no other webhook on the board: no load to share a read with
            return max(0.0, self._last_end + self._spacing - now)
        if self._active - self._waiting <= 0:
            return 0.0  # nobody on this board is still writing: every create the check should see is done
        return max(0.0, rnd.latest - now)

    def get(self, deadline: float | None = None, *, after_writes: bool = False) -> T:
        """A read that starts after this call; ``after_writes``: the twin check, shared with other writers."""
        mine = getattr(self._mine, "depth", 0) > 0
        with self._cond:
            if self._pending is None:
                self._pending = _Round()
            rnd = self._pending
            if after_writes:
                limit = (deadline - TWIN_RESERVE) if deadline is not None else time.monotonic() + TWIN_PATIENCE
                rnd.latest = min(rnd.latest, limit)
            else:
                rnd.eager = True
            lead = False
            if mine:
                self._waiting += 1
            try:
                while not rnd.done:
                    now = time.monotonic()
                    wait = None
                    if not self._running and self._pending is rnd:
                        wait = self._start_in(rnd, now, mine)
                        if wait <= 0:
                            self._running, self._pending, lead = True, None, True
                            break
                    if deadline is not None:
                        left = deadline - now
                        if left <= 0:
                            raise Timeout("timed out waiting for a shared board read")
                        wait = left if wait is None else min(wait, left)
                    self._cond.wait(wait)
            finally:
                if mine:
                    self._waiting -= 1
        if lead:
            try:
                rnd.result = self._fetch()
            except BaseException as exc:  # handed to every caller of this round
                rnd.error = exc
            with self._cond:
                self.reads += 1
                self._last_end = time.monotonic()
                rnd.done, self._running = True, False
                self._cond.notify_all()
        if rnd.error is not None:
            raise rnd.error
        return rnd.result  # type: ignore[return-value]


class KeyLocks:
    """One lock per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, list] = {}  # key -> [lock, users]

    @contextmanager
    def hold(self, key: str, deadline: float | None = None) -> Iterator[None]:
        with self._lock:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            timeout = -1 if deadline is None else max(0.0, deadline - time.monotonic())
            if not entry[0].acquire(timeout=timeout):
                raise Timeout("timed out waiting for another delivery of the same alert group")
            try:
                yield
            finally:
                entry[0].release()
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    self._locks.pop(key, None)
