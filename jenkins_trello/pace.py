"""Pacing decisions for one Trello token, and where the pacing state lives.

Trello allows each token 100 requests per 10 s (and each key 300) and answers
429 beyond that; after 200 refusals per key in a window it refuses everything
for the rest of the window. Every process this product runs (a notifier per
Jenkins build, each bridge replica and gunicorn worker, the nightly archival)
shares the team's one token, so pacing each process alone is not enough: two
processes at 90 / 10 s already overrun the token.

So the budget is shared, without a database:

* processes on one host share one sliding window in a small file (``fcntl.flock``
  guards it), named by a hash of the API base and the token (never the token),
  so gunicorn workers, bridge replicas and notifiers on one machine pace as one;
* processes on different hosts each keep to their stated share
  (``JENKINS_TRELLO_RATE``) and learn from Trello's answers: a 429 halves the
  share (once per half window, however many requests were refused together),
  and each quiet window gives back a tenth of it, up to the stated rate (AIMD).

The window is a list of send times, reserved in order: a request takes the
first time at which the last ``rate`` requests span at least the interval, so
no window of ``interval`` seconds ever holds more than ``rate`` requests, and a
caller whose turn would come after its deadline learns it at once (the bridge
answers 503 straight away instead of holding a thread). Everything deciding is
a pure function of plain data (``reserve``, ``backoff``, ``paused``); the stores
are the thin edge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

try:  # POSIX only; elsewhere each process paces alone
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")

INTERVAL = 10.0
#: This process' share (with the processes it shares a host file with) of the token's requests per interval.
DEFAULT_RATE = 90
#: Trello's per-token ceiling: a stated rate above it could only collect 429s.
MAX_RATE = 100
#: Additive increase: the share of the stated rate given back per interval without a 429.
STEP = 0.1
#: Multiplicative decrease never goes below this share of the stated rate.
FLOOR = 1 / 16
#: A turn is reserved when a request is ready, but it leaves (and reaches Trello) a little later, the later
#: the busier the process: the ``rate``-th turn after a request waits this share of the interval longer than
#: the interval, so a burst sent over a loaded fifth of a second still never meets the next one in Trello's window.
MARGIN = 0.02
#: No reservation further ahead than this; a state that says otherwise is from another boot (reset).
MAX_AHEAD = 600.0


@dataclass(frozen=True)
class PaceState:
    """What processes sharing a token know together: reserved send times and the learnt share (monotonic s)."""

    stamps: tuple[float, ...] = ()  # sorted; past ones within the interval, future ones reserved
    factor: float = 1.0  # the share of the stated rate in use now (AIMD), FLOOR..1
    paused_until: float = 0.0
    decreased: float | None = None  # when the share was last halved
    quiet_since: float = 0.0  # since when no 429 was seen (or the share last grew)


def allowed(state: PaceState, rate: int) -> int:
    """Requests per interval allowed now: the stated rate times the learnt share, at least one."""
    return max(1, int(rate * state.factor + 1e-9))


def recover(state: PaceState, now: float, interval: float = INTERVAL) -> PaceState:
    """Additive increase: one ``STEP`` per whole interval without a 429, up to the stated rate."""
    if state.factor >= 1.0:
        return state
    steps = int((now - state.quiet_since) // interval)
    if steps <= 0:
        return state
    return dataclasses.replace(state, factor=min(1.0, state.factor + STEP * steps),
                               quiet_since=state.quiet_since + steps * interval)


def reserve(state: PaceState, now: float, deadline: float, rate: int, interval: float = INTERVAL,
            ) -> tuple[PaceState, float | None]:
    """The send time for one more request, and the state holding it; None when it would be after ``deadline``.

    FIFO: never before a time already reserved, so callers are served in the
    order they asked and every window of ``interval`` holds at most ``allowed``.
    A refused caller reserves nothing (it costs the others no slot).
    """
    state = recover(state, now, interval)
    stamps = tuple(s for s in state.stamps if s > now - interval)
    limit = allowed(state, rate)
    slot = max(now, state.paused_until, stamps[-1] if stamps else now)
    if len(stamps) >= limit:
        slot = max(slot, stamps[-limit] + interval * (1 + MARGIN))
    if slot > deadline:
        return dataclasses.replace(state, stamps=stamps), None
    return dataclasses.replace(state, stamps=(*stamps, slot)), slot


def reserve_many(state: PaceState, now: float, deadline: float, rate: int, n: int, interval: float = INTERVAL,
                 ) -> tuple[PaceState, tuple[float, ...] | None]:
    """``n`` turns at once (all or none): the writes of one plan, so that none is refused half-way through."""
    slots: list[float] = []
    new = state
    for _ in range(n):
        new, slot = reserve(new, now, deadline, rate, interval)
        if slot is None:
            return state, None
        slots.append(slot)
    return new, tuple(slots)


def ready_in(state: PaceState, now: float, rate: int, n: int, interval: float = INTERVAL) -> float:
    """Seconds until ``n`` more turns would all have come, as things stand (pure; reserves nothing).

    What a refused caller is told: a sender that honours ``Retry-After`` then
    comes back when its turns can be had, not after a fixed pause that leaves
    the token idle at the end of a storm.
    """
    _state, slots = reserve_many(state, now, now + MAX_AHEAD, rate, max(1, n), interval)
    return (slots[-1] - now) if slots else MAX_AHEAD


def refund(state: PaceState, slots: tuple[float, ...]) -> PaceState:
    """Give back turns reserved and not used (a plan that stopped early): they count for nobody."""
    stamps = list(state.stamps)
    for slot in slots:
        if slot in stamps:
            stamps.remove(slot)
    return dataclasses.replace(state, stamps=tuple(stamps))


def backoff(state: PaceState, now: float, interval: float = INTERVAL) -> tuple[PaceState, bool]:
    """Multiplicative decrease after a 429; True when the share was halved now.

    Requests refused together (sent before anyone saw the first 429) halve
    once: the share halves at most once per half interval.
    """
    if state.decreased is not None and 0 <= now - state.decreased < interval / 2:
        return dataclasses.replace(state, quiet_since=now), False
    return dataclasses.replace(state, factor=max(FLOOR, state.factor / 2), decreased=now, quiet_since=now), True


def paused(state: PaceState, now: float, seconds: float) -> PaceState:
    """Nobody sends before ``now + seconds`` (after a 429, or when Trello says the window is spent)."""
    return dataclasses.replace(state, paused_until=max(state.paused_until, now + max(0.0, seconds)))


def encode(state: PaceState) -> bytes:
    """The state as the file holds it: JSON, times only (nothing about the token or what was sent)."""
    return json.dumps({"v": 1, "stamps": [round(s, 6) for s in state.stamps], "factor": state.factor,
                       "paused": state.paused_until, "decreased": state.decreased,
                       "quiet": state.quiet_since}, separators=(",", ":")).encode()


def decode(raw: bytes, now: float) -> PaceState:
    """The state in ``raw``; a fresh one when it is empty, damaged or from another boot (times out of reach)."""
    fresh = PaceState(quiet_since=now)
    try:
        doc = json.loads(raw.decode("utf-8")) if raw.strip() else None
        if not isinstance(doc, dict) or doc.get("v") != 1:
            return fresh
        stamps = tuple(float(s) for s in doc["stamps"])
        state = PaceState(stamps=stamps, factor=float(doc["factor"]), paused_until=float(doc["paused"]),
                          decreased=None if doc["decreased"] is None else float(doc["decreased"]),
                          quiet_since=float(doc["quiet"]))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return fresh
    times = [*state.stamps, state.paused_until, state.quiet_since, *([state.decreased] if state.decreased else [])]
    if not all(math.isfinite(t) and t <= now + MAX_AHEAD for t in times) or not FLOOR <= state.factor <= 1.0 \
            or list(stamps) != sorted(stamps):
        return fresh
    return state


# --------------------------------------------------------------------------- where the state lives


class MemoryStore:
    """The state for the threads of one process (the fallback, and what tests and benchmarks use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = PaceState()

    def update(self, change: Callable[[PaceState], tuple[PaceState, T]], now: float) -> T:
        with self._lock:
            self._state, out = change(self._state)
            return out


class FileStore:
    """The state for every process on this host that uses the same token: one file, ``flock``-ed per update.

    The file is opened once per process (again after a fork: a descriptor
    inherited from the parent shares its lock, so it cannot exclude it). If
    the file cannot be used, this process paces alone (``MemoryStore``).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._alone = MemoryStore()

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            self._fd, self._pid = os.open(self.path, flags, 0o600), os.getpid()
        return self._fd

    def update(self, change: Callable[[PaceState], tuple[PaceState, T]], now: float) -> T:
        with self._lock:
            try:
                fd = self._descriptor()
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                return self._alone.update(change, now)
            try:
                state = decode(os.pread(fd, 1 << 20, 0), now)
                new, out = change(state)
                if new != state:
                    data = encode(new)
                    os.pwrite(fd, data, 0)
                    os.ftruncate(fd, len(data))
                return out
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it at the fork
        self._fd = None


def state_dir() -> str | None:
    """This user's directory for pacing files (created 0700), or None when it is not safely ours."""
    path = os.path.join(tempfile.gettempdir(), f"jenkins-trello-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # a symlink, or a directory someone else made or can write: do not trust it
    return path


def file_name(api_url: str, token: str) -> str:
    """The pacing file's name: a hash of the API base and the token (one Trello token = one budget)."""
    digest = hashlib.sha256(b"jenkins-trello pace\0" + api_url.rstrip("/").encode() + b"\0" + token.encode())
    return f"pace-{digest.hexdigest()[:24]}.json"


_STORES: dict[str, FileStore] = {}
_STORES_LOCK = threading.Lock()


def shared_store(api_url: str, token: str) -> FileStore | MemoryStore:
    """The store every client of this process and of this host's other processes share for ``token``."""
    where = state_dir() if fcntl is not None and hasattr(os, "getuid") else None
    if where is None:
        return MemoryStore()
    path = os.path.join(where, file_name(api_url, token))
    with _STORES_LOCK:
        store = _STORES.get(path)
        if store is None:
            store = _STORES[path] = FileStore(path)
        return store


def _after_fork() -> None:
    global _STORES_LOCK
    _STORES_LOCK = threading.Lock()
    for store in _STORES.values():
        store.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)

