"""Concurrency helpers for the bridge: shared board reads and one-at-a-time per alert group.

In an alert storm (a network partition fires 100 groups within a second) each
webhook would otherwise read the whole board, spending Trello's 100 requests
per 10 s on reads. ``SharedReader`` lets concurrent webhooks share one read,
and stays correct: a caller only joins a read that *starts after it asked*, so
it always sees every write that finished before it arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Timeout(Exception):
    """Waiting for a shared read or a group's turn ran past the request's deadline."""


class _Round(Generic[T]):
    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class SharedReader(Generic[T]):
    """Coalesce concurrent reads: callers arriving while a read is in flight share the next one."""

    def __init__(self, fetch: Callable[[], T]) -> None:
        self._fetch = fetch
        self._cond = threading.Condition()
        self._pending: _Round[T] | None = None
        self._running = False
        self.reads = 0

    def get(self, deadline: float | None = None) -> T:
        with self._cond:
            if self._pending is None:
                self._pending = _Round()
            rnd = self._pending
            lead = False
            while not rnd.done:
                if not self._running and self._pending is rnd:
                    self._running, self._pending, lead = True, None, True
                    break
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    raise Timeout("timed out waiting for a shared board read")
                self._cond.wait(wait)
        if lead:
            try:
                rnd.result = self._fetch()
            except BaseException as exc:  # handed to every caller of this round
                rnd.error = exc
            with self._cond:
                self.reads += 1
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
