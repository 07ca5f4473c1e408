"""Trello REST client: the one place that talks HTTP to Trello.

Why it looks like this:

* Credentials go in the ``Authorization: OAuth`` header, never the URL, because
  requests puts the full URL into exception text and proxies log URLs.
* Every request has a timeout and is retried with tenacity on 429, 5xx and
  connection errors, within a bounded time, so a caller (a post step, a webhook
  that must answer within 25 s) never hangs and never gives up too early.
* A pacer keeps us under Trello's 100 requests / 10 s per token together with
  every other process on the host that uses the token (``jenkins_trello.pace``:
  a shared file, and a rate that halves on a 429 and grows back), so a burst (an
  alert storm, a 500-card archival) waits instead of collecting 429s; a request
  whose turn would come too late fails at once, within its retry time.
* Errors carry the operation and status only, with any secret scrubbed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import tenacity

from . import pace
from .pace import DEFAULT_RATE, INTERVAL, FileStore, MemoryStore, shared_store

log = logging.getLogger("jenkins_trello.trello")

DEFAULT_API_URL = "https://api.trello.com/1"
CARD_FIELDS = "id,name,desc,idList,closed,dateLastActivity,shortUrl,idLabels,idMembers"

#: The board read: what ``board_snapshot`` asks Trello for, nested in one ``GET /boards/{id}``.
#: ``labels_limit`` is raised from Trello's default of 50 to its maximum so a board with
#: many labels is never resolved against a truncated set (a missing label would be created twice).
BOARD_FIELDS = "id,name"
LIST_FIELDS = "id,name,closed,pos"
LABEL_FIELDS = "id,name,color"
MEMBER_FIELDS = "id,username,fullName"
LABELS_LIMIT = 1000
#: Closed cards read at most per reopen look-up (Trello's maximum page for a board's cards).
CLOSED_LIMIT = 1000


#: Secrets shorter than this are not masked: replacing a one-letter token would
#: mangle every message (``***rello``) while hiding nothing. Messages are built
#: so that no secret goes into them; masking is the second line of defence.
MIN_SECRET_LENGTH = 6


def scrub(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """``text`` with every secret of at least ``MIN_SECRET_LENGTH`` characters replaced by ``***``."""
    for s in sorted((s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


class TrelloError(Exception):
    """A Trello call that did not succeed (after retries where retrying makes sense)."""

    def __init__(self, op: str, status: int | None, detail: str = "") -> None:
        self.op = op
        self.status = status
        self.detail = detail
        where = f"HTTP {status}" if status is not None else "no answer"
        msg = f"Trello {op} failed: {where}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class PacingRefused(TrelloError):
    """This process's share of the token has no turn for the request before its deadline (nothing was sent).

    ``ready_in`` is how many seconds until the turns it needed would have come,
    so that the bridge can tell its sender when to deliver again.
    """

    def __init__(self, detail: str, ready_in: float) -> None:
        super().__init__("pacing", None, detail)
        self.ready_in = ready_in


class TrelloAuthError(TrelloError):
    """401/403: retrying cannot help; the credentials or their permissions are wrong."""


class TrelloNotFound(TrelloError):
    """404: the board, list or card does not exist (or is not visible to this token)."""


class _Retryable(Exception):
    def __init__(self, error: TrelloError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class Pacer:
    """The request budget of one token, shared by every thread that uses it (and, ``shared``, every process).

    ``acquire(deadline)`` waits for this request's turn, or raises TrelloError
    at once when the turn would come after ``deadline``; ``pause(seconds)``
    holds everyone back after a 429, so one rate-limit answer does not turn
    into a storm of them; ``backoff()`` halves the rate after a 429 and it grows
    back by itself (``jenkins_trello.pace`` holds the rules).
    """

    def __init__(self, max_requests: int = DEFAULT_RATE, interval: float = INTERVAL, *,
                 store: MemoryStore | FileStore | None = None) -> None:
        self.max_requests = max_requests
        self.interval = interval
        self._store = store or MemoryStore()
        self._prepaid = threading.local()

    @classmethod
    def shared(cls, rate: int, api_url: str, token: str) -> Pacer:
        """The pacer for ``token`` that this host's processes share (through a file), at ``rate`` per 10 s."""
        return cls(rate, INTERVAL, store=shared_store(api_url, token))

    @contextlib.contextmanager
    def turns(self, n: int, deadline: float) -> Iterator[None]:
        """Reserve this thread's next ``n`` turns at once, or raise TrelloError when the last would be too late.

        A plan's writes (a comment, then the archive) either all get a turn
        before the deadline or none is sent: a webhook refused half-way would be
        delivered again and write its comment twice. Turns left unused go back.
        """
        now = time.monotonic()
        slots = self._store.update(lambda s: pace.reserve_many(s, now, deadline, self.max_requests, n,
                                                               self.interval), now) if n > 0 else ()
        if slots is None:
            raise PacingRefused("rate limit would delay the writes past the deadline", self._ready_in(now, n))
        queue = self._prepaid.slots = list(slots)
        try:
            yield
        finally:
            self._prepaid.slots = []
            if queue:
                self._store.update(lambda s: (pace.refund(s, tuple(queue)), None), time.monotonic())

    def acquire(self, deadline: float | None = None) -> None:
        prepaid = getattr(self._prepaid, "slots", None)
        if prepaid:
            wait = prepaid.pop(0) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            return
        now = time.monotonic()
        latest = now + pace.MAX_AHEAD if deadline is None else min(deadline, now + pace.MAX_AHEAD)
        slot = self._store.update(lambda s: pace.reserve(s, now, latest, self.max_requests, self.interval), now)
        if slot is None:
            raise PacingRefused("rate limit would delay the request past its deadline", self._ready_in(now, 1))
        wait = slot - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _ready_in(self, now: float, n: int) -> float:
        return self._store.update(lambda s: (s, pace.ready_in(s, now, self.max_requests, n, self.interval)), now)

    def pause(self, seconds: float) -> None:
        now = time.monotonic()
        self._store.update(lambda s: (pace.paused(s, now, seconds), None), now)

    def backoff(self) -> int | None:
        """After a 429: halve the rate (once per half window); the new rate, or None when already halved."""
        now = time.monotonic()

        def change(state: pace.PaceState) -> tuple[pace.PaceState, int | None]:
            new, halved = pace.backoff(state, now, self.interval)
            return new, pace.allowed(new, self.max_requests) if halved else None

        return self._store.update(change, now)

    @property
    def rate(self) -> int:
        """Requests per interval allowed now (the stated rate, or less after 429s)."""
        now = time.monotonic()
        return self._store.update(lambda s: (s, pace.allowed(pace.recover(s, now, self.interval),
                                                             self.max_requests)), now)


#: Trello's 429 bodies name the limit that refused: ``{"error": "API_TOKEN_LIMIT_EXCEEDED", ...}``.
LIMIT_NAMES = {"API_TOKEN_LIMIT_EXCEEDED": "token", "API_KEY_LIMIT_EXCEEDED": "key",
               "MEMBER_LIMIT_EXCEEDED": "member", "API_TOKEN_DB_LIMIT_EXCEEDED": "token database time"}


def which_limit(resp: requests.Response) -> str:
    """The limit a 429 names (``token``, ``key``, ...), or ``unknown`` when its body does not say."""
    try:
        error = resp.json().get("error") if resp.content else None
    except (ValueError, AttributeError):
        error = None
    return LIMIT_NAMES.get(str(error), "unknown")


@dataclass
class Stats:
    """Counters for /metrics and benchmarks: requests sent, by outcome, and time spent."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: int = 0
    seconds: float = 0.0
    by_op: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, op: str, seconds: float) -> None:
        with self.lock:
            self.requests += 1
            self.seconds += seconds
            self.by_op[op] = self.by_op.get(op, 0) + 1

    def bump(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


#: What one request on the wire came to, for ``TrelloClient.on_request`` (a fixed set: safe as a metric label).
REQUEST_OUTCOMES = ("ok", "rate_limited", "server_error", "client_error", "timeout", "connection_error")

#: ``on_request(method, outcome, seconds)``: called once per request sent (each retry included).
RequestHook = Callable[[str, str, float], None]


def request_outcome(status: int) -> str:
    """The outcome of an answered request from its HTTP status (pure): one of ``REQUEST_OUTCOMES``."""
    if status < 300:
        return "ok"
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "client_error"
@dataclass
class RequestCount:
    """Requests one thread sent inside ``TrelloClient.counting`` (never shared between threads)."""

    requests: int = 0


class TrelloClient:
    """Thin, safe access to the handful of Trello endpoints the project needs.

    ``on_request`` (default None) is told about every request sent; the bridge
    sets it to count them on ``/metrics``. It is a plain callback so that this
    module, which ``jenkins-trello notify`` imports on every build, never
    imports a metrics library.
    """

    def __init__(
        self,
        key: str,
        token: str,
        base_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 10.0,
        retry_seconds: float = 30.0,
        max_attempts: int = 8,
        pacer: Pacer | None = None,
        pool_size: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.max_attempts = max_attempts
        self.pacer = pacer or Pacer()
        self.stats = Stats()
        self.on_request: RequestHook | None = None
        self._secrets = tuple(s for s in (key, token) if s)
        self._local = threading.local()
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"',
                "Accept": "application/json",
                "User-Agent": "jenkins-trello",
            }
        )

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Bound every request (and its retries) made by this thread inside the block."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.deadline = previous

    @contextlib.contextmanager
    def counting(self) -> Iterator[RequestCount]:
        """Count the requests this thread sends inside the block (retries included), for one delivery's record.

        ``stats`` is shared by every thread of the process, so a delta of it
        would mix concurrent webhooks; this counter sees only the caller's own
        requests (a shared board read counts for the webhook whose thread made it).
        """
        previous = getattr(self._local, "count", None)
        count = self._local.count = RequestCount()
        try:
            yield count
        finally:
            self._local.count = previous

    def scrub(self, text: str) -> str:
        """Remove the key and token from any text that might reach a log or an exception."""
        return scrub(text, self._secrets)

    def request(self, method: str, path: str, op: str, *, params: Mapping[str, Any] | None = None,
                json: Mapping[str, Any] | None = None) -> Any:
        """One logical call: paced, timed out, retried while it can still succeed in time."""
        deadline = getattr(self._local, "deadline", None)
        budget = self.retry_seconds
        if deadline is not None:
            budget = min(budget, max(0.0, deadline - time.monotonic()))
        # the pacer may hold this call until the caller's deadline, else no longer than its retry time
        pace_by = deadline if deadline is not None else time.monotonic() + budget

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.wait is not None:
                return exc.wait
            return min(8.0, 0.25 * 2 ** (state.attempt_number - 1)) * (0.5 + random.random() / 2)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            wait=wait,
            stop=tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_before_delay(budget),
            before_sleep=lambda _s: self.stats.bump("retries"),
            reraise=True,
        )
        try:
            return retrying(self._once, method, path, op, params, json, deadline, pace_by)
        except _Retryable as exc:
            self.stats.bump("failures")
            raise exc.error from None
        except TrelloError:
            self.stats.bump("failures")
            raise

    def _once(self, method: str, path: str, op: str, params: Mapping[str, Any] | None,
              body: Mapping[str, Any] | None, deadline: float | None, pace_by: float) -> Any:
        self.pacer.acquire(pace_by)
        timeout = self.timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                raise TrelloError(op, None, "out of time")
            timeout = min(timeout, remaining)
        started = time.monotonic()
        outcome = "connection_error"
        try:
            resp = self.session.request(method, self.base_url + path, params=params, json=body, timeout=timeout)
            outcome = request_outcome(resp.status_code)
        except requests.Timeout:
            outcome = "timeout"
            raise _Retryable(TrelloError(op, None, f"timed out after {timeout:.1f} s")) from None
        except requests.RequestException as exc:
            raise _Retryable(TrelloError(op, None, f"connection failed ({type(exc).__name__})")) from None
        finally:
            seconds = time.monotonic() - started
            self.stats.record(op, seconds)
            if self.on_request is not None:
                self.on_request(method, outcome, seconds)
            count = getattr(self._local, "count", None)
            if count is not None:
                count.requests += 1
        status = resp.status_code
        if status < 300:
            self._mind_headers(resp.headers)
            try:
                return resp.json() if resp.content else None
            except ValueError:
                kind = resp.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
                error = TrelloError(op, status, f"answer was not JSON ({kind[:60]})")
                if "html" in kind:  # a web page, not a cut-off answer: another server answers there
                    raise error from None
                raise _Retryable(error) from None
        detail = self.scrub(" ".join(resp.text.split())[:200])
        if status == 429:
            self.stats.bump("rate_limited")
            pause = self._retry_after(resp.headers)
            self.pacer.pause(pause)
            self._slow_down(which_limit(resp))
            raise _Retryable(TrelloError(op, status, detail or "rate limited"), wait=pause)
        if status >= 500:
            raise _Retryable(TrelloError(op, status, detail))
        if status in (401, 403):
            raise TrelloAuthError(op, status, detail or "check TRELLO_API_KEY and TRELLO_TOKEN")
        if status == 404:
            raise TrelloNotFound(op, status, detail)
        raise TrelloError(op, status, detail)

    def _slow_down(self, limit: str) -> None:
        """A 429: halve the shared rate (once per half window) and say which of Trello's limits refused."""
        rate = self.pacer.backoff()
        if rate is not None:
            log.info(json.dumps({"event": "trello rate limited", "limit": limit, "rate": rate,
                                 "note": f"slowed down to {rate} requests per {self.pacer.interval:g} s; "
                                         "back up by a tenth per quiet window"}))

    def _mind_headers(self, headers: Mapping[str, str]) -> None:
        """Slow down before Trello says no: when the token's window is nearly spent, wait it out."""
        remaining = headers.get("x-rate-limit-api-token-remaining")
        if remaining is not None and remaining.isdigit() and int(remaining) <= 1:
            interval = headers.get("x-rate-limit-api-token-interval-ms", "10000")
            ms = int(interval) if interval.isdigit() else 10000
            self.pacer.pause(min(ms / 1000.0, 10.0) / 4)

    @staticmethod
    def _retry_after(headers: Mapping[str, str]) -> float:
        value = headers.get("Retry-After")
        if value:
            try:
                return min(max(float(value), 0.1), 15.0)
            except ValueError:
                pass
        interval = headers.get("x-rate-limit-api-token-interval-ms", "")
        if interval.isdigit():
            return min(int(interval) / 1000.0 / 5, 5.0) * (0.75 + random.random() / 2)
        return 1.0 + random.random()

    # ------------------------------------------------------------------ endpoints

    def board_snapshot(self, board: str, *, card_fields: str = CARD_FIELDS) -> dict:
        """The board, its open lists, open cards in them, labels and members: one request.

        Every command finds its card and resolves its list, labels and members
        from this one read, so labels and members cost no request of their own.
        Nested resources on ``GET /boards/{id}``: ``lists=open``, ``cards=visible``
        (open cards in open lists, what a person sees), ``labels=all`` and
        ``members=all``. The answer always carries ``lists`` and ``cards``: a
        server that ignores the nested parameters is read the older way (lists,
        then ``/cards/visible``); ``labels`` and ``members`` may be missing then,
        and callers treat that as none.
        """
        params = {
            "fields": BOARD_FIELDS,
            "lists": "open", "list_fields": LIST_FIELDS,
            "cards": "visible", "card_fields": card_fields,
            "labels": "all", "label_fields": LABEL_FIELDS, "labels_limit": str(LABELS_LIMIT),
            "members": "all", "member_fields": MEMBER_FIELDS,
        }
        raw = self.request("GET", f"/boards/{board}", "read board", params=params)
        if not isinstance(raw, dict) or not isinstance(raw.get("lists", []), list) \
                or not isinstance(raw.get("cards", []), list):
            raise TrelloError("read board", 200, "unexpected answer shape")
        if "lists" not in raw:
            raw["lists"] = self.board_lists(board, with_cards=False)
        if "cards" not in raw:
            raw["cards"] = self.board_cards(board, card_fields=card_fields)
        return raw

    def board_lists(self, board: str, *, with_cards: bool = True, card_fields: str = CARD_FIELDS) -> list[dict]:
        """Open lists, each with its open cards (the read before ``board_snapshot``; still one request).

        Nested ``cards`` on ``GET /boards/{id}/lists`` gives open cards in open
        lists together with list names. Kept for callers that need no labels or
        members (doctor, archive) and as the fallback of ``board_snapshot``. A
        server that ignores the nested parameter is handled by reading
        ``/cards/visible`` too.
        """
        params: dict[str, str] = {"filter": "open", "fields": "id,name,closed,pos"}
        if with_cards:
            params.update(cards="open", card_fields=card_fields)
        lists = self.request("GET", f"/boards/{board}/lists", "read board", params=params)
        if not isinstance(lists, list):
            raise TrelloError("read board", 200, "unexpected answer shape")
        if with_cards and any("cards" not in lst for lst in lists):
            by_list: dict[str, list[dict]] = {lst["id"]: [] for lst in lists}
            for card in self.board_cards(board, card_fields=card_fields):
                if card.get("idList") in by_list:
                    by_list[card["idList"]].append(card)
            for lst in lists:
                lst["cards"] = by_list[lst["id"]]
        return lists

    def board_cards(self, board: str, *, card_fields: str = CARD_FIELDS) -> list[dict]:
        """Open cards in open lists (``visible``); never Trello search, whose index lags writes."""
        try:
            cards = self.request("GET", f"/boards/{board}/cards/visible", "read cards", params={"fields": card_fields})
        except TrelloNotFound:  # a server without the filter path: open cards, callers keep those in open lists
            cards = self.request("GET", f"/boards/{board}/cards", "read cards", params={"fields": card_fields})
        return cards if isinstance(cards, list) else []

    def closed_cards(self, board: str, *, card_fields: str = CARD_FIELDS) -> list[dict]:
        """The board's archived cards (newest first by creation, at most ``CLOSED_LIMIT``): the reopen read.

        Read only when a failure finds no open card and its route reopens
        recent ones, so it is one request on that transition alone. Bounded:
        a board that archived thousands of cards answers with the newest
        ``CLOSED_LIMIT`` rather than a reply the deadline cannot afford.
        """
        cards = self.request("GET", f"/boards/{board}/cards/closed", "read closed cards",
                             params={"fields": card_fields, "limit": str(CLOSED_LIMIT)})
        return cards if isinstance(cards, list) else []

    def list_cards(self, list_id: str, *, card_fields: str = CARD_FIELDS) -> list[dict]:
        cards = self.request("GET", f"/lists/{list_id}/cards", "read list", params={"fields": card_fields})
        return cards if isinstance(cards, list) else []

    # Writes carry their parameters in a JSON body (Trello accepts it, and long text
    # such as a 16384-character description does not fit in a URL). Short scalar
    # parameters are mirrored in the query string too, where Trello's reference
    # documents them, so a server that reads only the query still gets them.

    @staticmethod
    def _mirror(fields: Mapping[str, Any], limit: int = 1000) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in fields.items():
            if v is None:  # a JSON null has no query form; the body carries it
                continue
            text = ("true" if v else "false") if isinstance(v, bool) else str(v)
            if k != "desc" and len(text) <= limit:
                out[k] = text
        return out

    @staticmethod
    def _ids(ids: str | Iterable[str]) -> str:
        """Trello's form for a list of ids: one comma-separated string (not repeated parameters)."""
        return ids if isinstance(ids, str) else ",".join(ids)

    def create_card(self, list_id: str, name: str, desc: str, pos: str = "top", label_ids: Iterable[str] = (),
                    member_ids: Iterable[str] = ()) -> dict:
        """Create a card with its labels and members in the same request (no follow-up writes).

        ``idLabels``/``idMembers`` are left out when empty, so a card without
        them is the very request it always was.
        """
        body: dict[str, Any] = {"idList": list_id, "name": name, "desc": desc, "pos": pos}
        labels, members = self._ids(label_ids), self._ids(member_ids)
        if labels:
            body["idLabels"] = labels
        if members:
            body["idMembers"] = members
        return self.request("POST", "/cards", "create card", params=self._mirror(body), json=body)

    def create_label(self, board: str, name: str, color: str | None) -> dict:
        """Create a board label; ``color`` None (or "") makes a label without colour.

        ``POST /boards/{board}/labels`` takes the board's id or short link in
        the path, like every board read, whereas ``POST /labels`` needs the
        24-hex ``idBoard``; so a board configured by short link works too.
        Trello wants ``color`` present: an uncoloured label is sent as null.
        """
        body: dict[str, Any] = {"name": name, "color": color or None}
        params = {"name": name, "color": color or "null"}
        label = self.request("POST", f"/boards/{board}/labels", "create label", params=params, json=body)
        if not isinstance(label, dict) or not label.get("id"):
            raise TrelloError("create label", 200, "unexpected answer shape")
        return label

    def comment(self, card_id: str, text: str) -> dict:
        body = {"text": text}
        return self.request("POST", f"/cards/{card_id}/actions/comments", "comment", params=self._mirror(body),
                            json=body)

    def update_card(self, card_id: str, **fields: Any) -> dict:
        """``PUT /cards/{id}`` with any of its fields (``idList``, ``idLabels``, ``closed``, ``desc``, ...).

        ``idLabels``/``idMembers`` given as a sequence of ids go as one
        comma-separated string (an empty one clears them), as Trello reads them.
        """
        body = {k: (self._ids(v) if k in ("idLabels", "idMembers") and v is not None else v)
                for k, v in fields.items()}
        return self.request("PUT", f"/cards/{card_id}", "update card", params=self._mirror(body), json=body)

    def archive_card(self, card_id: str, name: str = "", desc: str = "") -> dict:
        """``PUT /cards/{id}`` with ``closed``; a ``name`` (and ``desc``) given go in the same request."""
        body: dict[str, Any] = {"closed": True}
        if name:
            body["name"] = name
        if desc:
            body["desc"] = desc
        return self.request("PUT", f"/cards/{card_id}", "archive card", params=self._mirror(body), json=body)

    def board_actions(self, board: str, filter: str, *, since: str | None = None, before: str | None = None,
                      limit: int = 1000) -> list[dict]:
        params: dict[str, Any] = {"filter": filter, "limit": limit}
        if since:
            params["since"] = since
        if before:
            params["before"] = before
        actions = self.request("GET", f"/boards/{board}/actions", "read actions", params=params)
        return actions if isinstance(actions, list) else []

    def card_actions(self, card_id: str, filter: str, *, limit: int = 1000) -> list[dict]:
        actions = self.request("GET", f"/cards/{card_id}/actions", "read card actions",
                               params={"filter": filter, "limit": limit})
        return actions if isinstance(actions, list) else []
