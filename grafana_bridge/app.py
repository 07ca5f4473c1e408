"""The bridge's WSGI application: limits, auth, payload -> card lifecycle -> answer.

The answers are shaped by the senders' retry rules: Alertmanager retries 5xx
and connection errors but drops every 4xx (429 included); Grafana re-sends a
failed notification only at the next group interval and gives up on an answer
after 30 s. So a webhook is acknowledged (200) only once the board holds it,
any Trello problem is a 503 (never a 4xx), and every request is answered within
``ANSWER_SECONDS``. Deciding stays in ``jenkins_trello.lifecycle`` and
``grafana_bridge.payloads``; this module only wires them to HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

from jenkins_trello.cards import Board, Card, alert_key, closed_project_cards, job_key, resolve_list, snapshot_board
from jenkins_trello.config import ConfigError, TrelloConfig
from jenkins_trello.jenkins import JenkinsError
from jenkins_trello.lifecycle import (
    Archive,
    Comment,
    Op,
    Outcome,
    Want,
    apply,
    describe,
    describe_ops,
    fit,
    is_fixed,
    labels_from,
    labels_from_all,
    needs_intake_list,
    needs_reopen_read,
    plan,
    reopen_candidate,
    route_labels,
)
from jenkins_trello.people import resolve_members
from jenkins_trello.policy import Policy, Route, policy_from_env
from jenkins_trello.routes import alert_route
from jenkins_trello.templates import render_or_default
from jenkins_trello.text import clean_text, md_link
from jenkins_trello.trello import PacingRefused, TrelloClient, TrelloError

from . import deliveries, render
from .auth import AuthConfig, check, check_query_token
from .jenkins_events import BuildEvent, EventError, parse_event
from .jenkins_hook import NO_JENKINS, Applied, JenkinsAccess, NoJenkins, deliver
from .metrics import CONTENT_TYPE, Metrics, NoMetrics
from .payloads import (
    MAX_ALERTS,
    NO_DATA_ALERTNAME,
    AlertGroup,
    PayloadError,
    decode_state,
    encode_state,
    next_firing,
    parse,
    sender_problem,
)
from .shared import KeyLocks, SharedReader, Timeout

MAX_BODY = 1024 * 1024
ANSWER_SECONDS = 22.0  # Grafana gives up after 30 s; the bridge promises an answer within 25 s
MAX_JSON_DEPTH = 64
# Bodies above this size are read, checked and decoded a few at a time: a decoded 1 MiB JSON document takes
# tens of MB, so many large webhooks at once would otherwise grow the process without bound.
LARGE_BODY = 64 * 1024
LARGE_BODY_SLOTS = 4
# Set by grafana_bridge.server: when the request was complete and queued for a worker thread (time.monotonic()),
# so that time spent waiting for a thread counts against the answer budget.
QUEUED_KEY = "grafana_bridge.queued"

log = logging.getLogger("grafana_bridge")
T = TypeVar("T")

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Options:
    no_auth: bool = False
    ignore_no_data: bool = False
    #: False on AWS Lambda: no ``/metrics`` (each instance would count alone) and nothing counted
    metrics: bool = True


class Reject(Exception):
    """A request answered without touching Trello (4xx)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def effective(group: AlertGroup, ignore_no_data: bool = False) -> AlertGroup | None:
    """The group as it counts for the board, or None when it changes nothing (pure).

    Legacy paused/pending change nothing. With ``--ignore-no-data`` a legacy
    no_data state changes nothing, and a unified group loses its
    DatasourceNoData alerts so that its real firing alerts still count.
    """
    if group.status == "ignored":
        return None
    if not (ignore_no_data and group.no_data):
        return group
    if group.source == "grafana-legacy":
        return None
    alerts = tuple(a for a in group.alerts if a.name != NO_DATA_ALERTNAME)
    return dataclasses.replace(group, alerts=alerts, no_data=False) if alerts else None


def group_labels(group: AlertGroup) -> dict[str, str]:
    """The labels a route's matchers see: groupLabels over commonLabels (legacy: its tags are commonLabels)."""
    return {**dict(group.common_labels), **dict(group.group_labels)}


def group_want(group: AlertGroup, card: Card | None, ignore_no_data: bool = False) -> Want:
    """The desired card for an alert group, given its current card, with the built-in texts (pure).

    The card's marker holds the firing set, so a truncated list can be merged
    with it, and a repeat with the same firing set makes no write at all.
    """
    return route_want(group, card, ignore_no_data)[0]


def _text(route: Route | None, kind: str, variables: Callable[[], Mapping[str, Any]], default: str,
          problems: list[str]) -> str:
    """A route's template for ``kind`` rendered, else the built-in ``default`` (the reason goes to ``problems``)."""
    src = route.template(kind) if route is not None else None
    if not src:
        return default
    text, reason = render_or_default(src, variables(), kind, default)
    if reason:
        problems.append(reason)
    return text


def route_want(group: AlertGroup, card: Card | None, ignore_no_data: bool = False, route: Route | None = None,
               ) -> tuple[Want, tuple[str, ...]]:
    """The desired card (texts from the route's templates, else built in) and why a template fell back (pure).

    A card marked resolved (``on_resolve`` comment/move) is history: the group
    fires again from nothing, so its comment says what fires now, and that
    comment is also the one written when the card comes back.
    """
    fixed = card is not None and is_fixed(card.state)
    previous = frozenset() if fixed else decode_state(card.state) if card is not None else None
    counted = effective(group, ignore_no_data)
    if counted is None:
        # no change: keep whatever is there (an open card stays as it is; none is created)
        return Want(open=card is not None, state=card.state if card else ""), ()
    group = counted
    firing = next_firing(group, previous)
    problems: list[str] = []
    cache: dict[str, Mapping[str, Any]] = {}

    def variables() -> Mapping[str, Any]:
        if "v" not in cache:
            cache["v"] = render.alert_variables(group, firing, previous)
        return cache["v"]

    on_fix = route.on_fix.action if route is not None else "archive"
    if group.status == "resolved" or (not firing and not group.truncated):
        # "firing" with nothing firing in a complete list (every alert resolved, none left out) is resolved too;
        # a truncated list may have left the firing alerts out, so its "firing" status stands
        comment = _text(route, "comment", variables, render.resolved_comment(group), problems)
        # the title follows the card: "[RESOLVED] ..." in the same request that archives or marks it
        name = _text(route, "name", variables, render.card_name(group, frozenset()), problems)
        return fit(Want(open=False, name=name, comment=comment, on_fix=on_fix)), tuple(problems)
    comment = _text(route, "comment", variables, render.change_comment(group, previous, firing), problems)
    return fit(Want(
        open=True,
        name=_text(route, "name", variables, render.card_name(group, firing), problems),
        desc=_text(route, "desc", variables, render.card_desc(group, firing), problems),
        state=encode_state(firing),
        comment=comment,
        rewrite=True,
        on_fix=on_fix,
        again=f"Firing again.\n\n{comment}" if fixed else "",
    )), tuple(problems)


def board_settings(want: Want, route: Route, board: Board, values: Mapping[str, str],
                   people: Sequence[tuple[str, str]], has_card: bool = True) -> Want:
    """The want with the route's labels, members and ``on_resolve`` list resolved against the board (pure).

    Labels by name or colour (a missing one becomes a ``CreateLabel`` that the
    plan makes once, only when a write uses it); ``labels_from`` maps the
    group's label value (e.g. severity) to a label, and the board's labels that
    ``labels_from`` may give are the managed ones, so a value change swaps only
    those. Members only ever reach a create. Raises LookupError when the
    ``on_resolve`` move list is not on the board and a card would move there
    (``has_card``: a resolve with no card moves nothing, so it needs no list).
    """
    ids, new, managed, value_ids = route_labels(
        board.id or route.board, route.labels, labels_from(route.labels_from, values),
        labels_from_all(route.labels_from), [(lab.id, lab.name, lab.color) for lab in board.labels])
    members, _absent = resolve_members(route.members, (), people,
                                       [(m.id, m.username, m.full_name) for m in board.members])
    fix_list = ""
    if not want.open and want.on_fix == "move" and has_card:
        fix_list = resolve_list(board.lists, route.on_fix.list)
    return dataclasses.replace(want, label_ids=ids, member_ids=members, new_labels=new, managed_label_ids=managed,
                               value_label_ids=value_ids, fix_list_id=fix_list)


def moved_ops(cards: Sequence[Card], resolved: bool, new_url: str | None, board_name: str) -> list[Op]:
    """Close a group's cards left on a board its route no longer uses: comment (linking the new card), archive."""
    if resolved:
        text = "Resolved. This alert group's cards now go to another board, so this card is archived here."
    else:
        where = md_link("its card on " + (board_name or "the route's board"), new_url) if new_url else \
            "another board"
        text = f"This alert group's cards now go to another board: see {where}. Archived here."
    ops: list[Op] = []
    for card in cards:
        ops += [Comment(card.id, text), Archive(card.id)]
    return ops


def _depth_ok(doc: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


class BridgeApp:
    """WSGI callable. One instance per process; safe for many threads.

    ``policy`` is the parsed policy file (default: the environment alone, one
    catch-all route on ``trello.board``). ``set_policy`` swaps it in one
    assignment, so each webhook reads one policy from start to end and a
    reload never mixes two. Each board gets its own ``SharedReader`` (created
    on first use), so concurrent webhooks for one board share one read.
    """

    def __init__(self, trello: TrelloConfig, auth: AuthConfig, options: Options = Options(),
                 client: TrelloClient | None = None, clock: Callable[[], float] = time.time,
                 policy: Policy | None = None, jenkins: JenkinsAccess | None = None,
                 deliveries_kept: int = deliveries.DEFAULT_CAPACITY) -> None:
        if not auth.configured and not options.no_auth:
            raise ValueError("no bridge credentials configured (set GRAFANA_BRIDGE_TOKEN, GRAFANA_BRIDGE_USER "
                             "and GRAFANA_BRIDGE_PASSWORD, or GRAFANA_BRIDGE_HMAC_SECRET; or pass --no-auth)")
        self.trello = trello
        self.auth = auth
        self.jenkins = jenkins  # None: JENKINS_URL not set, POST /jenkins answers 503 (and says so)
        self.applied = Applied()  # builds POST /jenkins applied: FINALIZED after COMPLETED costs nothing
        self.options = options
        self.client = client or trello.client(retry_seconds=ANSWER_SECONDS)
        self.clock = clock
        self.metrics = Metrics() if options.metrics else NoMetrics()
        self.client.on_request = self.metrics.trello_request
        self.policy = policy or policy_from_env({"TRELLO_BOARD": trello.board, "TRELLO_LIST": trello.list,
                                                 "TRELLO_DONE_LIST": trello.done_list})
        self.board = SharedReader(lambda: self._read_board(self.trello.board))
        self._readers: dict[str, SharedReader[Board]] = {trello.board: self.board}
        self._readers_lock = threading.Lock()
        self.locks = KeyLocks()
        self._large = threading.BoundedSemaphore(LARGE_BODY_SLOTS)
        self.deliveries = deliveries.DeliveryLog(deliveries_kept)

    def set_policy(self, policy: Policy) -> None:
        """Use ``policy`` for the next webhooks (one assignment: a webhook in flight keeps the one it read)."""
        self.policy = policy

    # ---------------------------------------------------------------- Trello side

    def _read_board(self, board: str) -> Board:
        self.metrics.board_read()
        return snapshot_board(self.client.board_snapshot(board))

    def reader(self, board: str) -> SharedReader[Board]:
        """The shared reader of one board, made on first use."""
        with self._readers_lock:
            found = self._readers.get(board)
            if found is None:
                found = self._readers[board] = SharedReader(lambda: self._read_board(board))
            return found

    @property
    def board_reads(self) -> int:
        with self._readers_lock:
            return sum(r.reads for r in self._readers.values())

    def handle(self, group: AlertGroup, deadline: float, dry_run: bool = False,
               report: list[str] | None = None) -> dict[str, Any]:
        """Bring the group's card up to date; returns the JSON summary. Raises TrelloError/Timeout.

        ``dry_run`` reads the board and plans exactly as a real delivery does,
        but writes nothing (the summary's action is what the plan would do).
        ``report`` receives one line per write made (or planned, with
        ``dry_run``): what ``grafana-bridge replay`` prints.
        """
        policy = self.policy  # one policy for the whole webhook, whatever a reload does meanwhile
        counted = effective(group, self.options.ignore_no_data)
        base = {"status": "ok", "source": group.source, "group": group.name, "groupStatus": group.status,
                "action": "ignored", "card": None, "cardUrl": None, "writes": 0, "firing": None,
                "duplicatesArchived": 0}
        if counted is None:
            # legacy paused/pending (or no data with --ignore-no-data): no Trello request at all
            return base
        values = group_labels(group)
        route = alert_route(policy, values, group.source, group.sender or "")
        if route is None or route.skip:
            # no Trello request at all: the policy leaves this group alone
            reason = "no route" if route is None else f"route {route.name} skips"
            return {**base, "route": route.name if route else None, "reason": reason}
        key = alert_key(group.identity)
        moved = 0
        with self.locks.hold(key, deadline), self.client.deadline(max(0.1, deadline - time.monotonic())):
            reader = self.reader(route.board)
            with reader.working():  # until its writes are done, a twin check waits for this webhook's create
                board = reader.get(deadline)
                existing = board.cards_for(key)
                want, problems = route_want(counted, existing[0] if existing else None, self.options.ignore_no_data,
                                            route)
                for problem in problems:
                    log.warning(json.dumps({"event": "template", "route": route.name, "group": group.name[:200],
                                            "warning": problem[:300]}))
                try:
                    want = board_settings(want, route, board, values, policy.people, has_card=bool(existing))
                    list_id = resolve_list(board.lists, route.list) if needs_intake_list(want, existing) else ""
                except LookupError as exc:
                    raise TrelloError(f"resolve the list of route {route.name}", None, str(exc)) from None
                reopen = None
                if needs_reopen_read(want, existing, route.reopen_within):
                    reopen = reopen_candidate(closed_project_cards(self.client.closed_cards(route.board)), key,
                                              self.clock(), route.reopen_within)
                if reopen is not None:
                    want = dataclasses.replace(want, again=f"Firing again: card reopened.\n\n{want.comment}")
                ops, keep = plan(key, lambda _card: want, board, list_id, reopen=reopen)
                if report is not None:
                    report += describe_ops(ops, board)
                if dry_run:
                    outcome = Outcome(action=describe(ops), card_id=keep.id if keep else None,
                                      card_url=keep.url if keep else None, ops=list(ops))
                else:
                    # every write gets its turn before the first is sent; the twin check: one read after this
                    # create, shared with the creates around it
                    with self.client.pacer.turns(len(ops), deadline):
                        outcome = apply(self.client, key, ops, keep,
                                        lambda: reader.get(deadline, after_writes=True))
            if outcome.action in ("created", "reopened") or not want.open:
                moved = self._close_elsewhere(policy, route, key, not want.open, outcome.card_url, board.name,
                                              deadline, dry_run, report)
        firing = decode_state(want.state) if want.open else frozenset()
        return {
            "status": "ok",
            "source": group.source,
            "group": group.name,
            "groupStatus": group.status,
            "route": route.name,
            "action": outcome.action,
            "card": outcome.card_id,
            "cardUrl": outcome.card_url,
            "writes": outcome.writes + 2 * moved,
            "firing": len(firing) if firing is not None else None,
            "duplicatesArchived": outcome.twins_archived,
            **({"movedArchived": moved} if moved else {}),
            **({"alertsLeftOut": group.left_out,
                "note": f"only the first {MAX_ALERTS} alerts of this notification were read"}
               if group.left_out else {}),
        }

    def _close_elsewhere(self, policy: Policy, route: Route, key: str, resolved: bool, new_url: str | None,
                         board_name: str, deadline: float, dry_run: bool = False,
                         report: list[str] | None = None) -> int:
        """A group whose route moved: close its open cards on the policy's other alert boards; returns how many.

        Only on a create, reopen or resolve, and only when the policy names
        other alert boards (its alert routes' boards and its default board,
        where the environment-only set-up put every card): one shared read per
        other board.
        """
        named = [*(r.board for r in policy.alerts if not r.skip), policy.board]
        others = [b for b in dict.fromkeys(named) if b and b != route.board]
        closed = 0
        for other in others:
            board = self.reader(other).get(deadline)
            cards = board.cards_for(key)
            if cards:
                ops = moved_ops(cards, resolved, new_url, board_name)
                if report is not None:
                    report += [f"on board {board.name or other}: {line}" for line in describe_ops(ops, board)]
                if not dry_run:
                    apply(self.client, key, ops, None, lambda b=board: b)
                closed += len(cards)
        return closed

    # ---------------------------------------------------------------- HTTP side

    def scrub(self, text: str) -> str:
        """``text`` without the Trello key and token nor any bridge credential."""
        text = self.client.scrub(text)
        for secret in (self.auth.token, self.auth.password, self.auth.hmac_secret, self.auth.jenkins_token,
                       self.jenkins.token if self.jenkins else None):
            if secret:
                text = text.replace(secret, "***")
        return text

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "/")) or "/"
        ctx: dict[str, Any] = {}  # what is known about the request, for the log line of an unexpected error
        with self.client.counting() as trello_requests:
            try:
                status, body, headers = self._route(method, path, environ, started, ctx)
            except Exception as exc:  # noqa: BLE001 - the last line of defence: log it, answer 500, stay up
                status, body, headers = self._unexpected(exc, path, ctx)
        if method == "POST" and method in _ROUTES.get(path, ()):  # every webhook, whatever its answer
            self.deliveries.record(deliveries.from_answer(self.clock(), status, body, ctx, trello_requests.requests,
                                                          (time.monotonic() - started) * 1000))
        self.metrics.http_request(path, method, status, time.monotonic() - started)
        data = body if isinstance(body, bytes) else (json.dumps(body, ensure_ascii=False) + "\n").encode(
            "utf-8", "replace")
        ctype = "application/json" if not isinstance(body, bytes) else headers.pop("Content-Type", "text/plain")
        start_response(f"{status} {_REASONS.get(status, 'Unknown')}",
                       [("Content-Type", ctype), ("Content-Length", str(len(data))), *headers.items()])
        return [data]

    def _unexpected(self, exc: Exception, path: str, ctx: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """A bug or an error nobody foresaw: a scrubbed traceback with the group in the log, 500 in the answer.

        The answer names no detail (no body echo, no exception text): the log has it.
        """
        self.metrics.webhook(ctx.get("source") or "unknown", "error")
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error(json.dumps({"event": "unexpected_error", "status": 500, "path": path[:100],
                              "source": ctx.get("source"), "group": ctx.get("group"),
                              "error": type(exc).__name__, "traceback": self.scrub(clean_text(tb))[-8000:]}))
        return 500, {"error": "unexpected error in the bridge (logged); deliver again"}, {"Retry-After": "10"}

    def _route(self, method: str, path: str, environ: Mapping[str, Any], started: float, ctx: dict[str, Any]
               ) -> tuple[int, Any, dict[str, str]]:
        allowed = _ROUTES.get(path)
        if allowed is None:
            return 404, {"error": f"no such endpoint {clean_text(path[:100])!r}; webhooks go to POST /alerts "
                                  "(Jenkins Notification plugin: POST /jenkins)"}, {}
        if method not in allowed:
            return 405, {"error": f"{clean_text(method[:10])} not allowed on {path}"}, {"Allow": ", ".join(allowed)}
        if path == "/healthz":
            return 200, {"status": "ok"}, {}
        if path == "/metrics":
            if not isinstance(self.metrics, Metrics):
                return 404, {"error": "no /metrics here (AWS Lambda: each instance would count alone); use "
                                      "CloudWatch metrics and the bridge's JSON log lines"}, {}
            return 200, self.metrics.render(), {"Content-Type": CONTENT_TYPE}
        if path == "/deliveries":
            return self._deliveries(environ)
        queued = environ.get(QUEUED_KEY)
        if isinstance(queued, float) and queued <= started:
            started = queued  # the wait for a worker thread counts against the answer budget
        if path == "/jenkins":
            return self._jenkins(environ, started, ctx)
        return self._alerts(environ, started, ctx)

    def _authenticate(self, environ: Mapping[str, Any], body: bytes, query_token: bool) -> None:
        """Reject(401) unless a configured method accepts the request; ``query_token``: ``?token=`` counts too."""
        if self.options.no_auth:
            return
        reason = check(self.auth, _headers(environ), body, self.clock())
        if reason is None:
            return
        if query_token:
            query_reason = check_query_token(self.auth, str(environ.get("QUERY_STRING") or ""))
            if query_reason is None:
                return
            if reason in ("missing credentials", "authentication is not configured"):
                reason = query_reason
        raise Reject(401, reason)

    def _document(self, environ: Mapping[str, Any], query_token: bool = False) -> Any:
        """Body -> authenticated, decoded JSON document; raises Reject (4xx)."""
        body = _read_body(environ)
        self._authenticate(environ, body, query_token)
        return load_json(body, "build event" if query_token else "alert payload")

    def _decode(self, environ: Mapping[str, Any], sender: str | None, deadline: float) -> AlertGroup:
        """Body -> authenticated, decoded, parsed group; raises Reject (4xx) or Timeout (busy)."""
        return decode_alert(self._document(environ), sender)

    def _deliveries(self, environ: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """``GET /deliveries``: the latest deliveries as HTML (a browser) or JSON (``Accept``, ``?format=json``).

        Behind bearer or basic auth, as the webhooks are. HMAC cannot apply: it
        signs a body and a GET has none, so a bridge with only an HMAC secret
        answers 401 saying which credential to add. The Jenkins query token
        opens ``/jenkins`` only.
        """
        if not self.options.no_auth:
            page_auth = dataclasses.replace(self.auth, hmac_secret=None, jenkins_token=None)
            if not page_auth.configured:
                return 401, {"error": "the deliveries page needs GRAFANA_BRIDGE_TOKEN (bearer) or "
                                      "GRAFANA_BRIDGE_USER and GRAFANA_BRIDGE_PASSWORD (basic auth): an HMAC "
                                      "signature signs a webhook's body, and a GET has none"}, {}
            hdrs = {k: v for k, v in _headers(environ).items() if k == "authorization"}
            reason = check(page_auth, hdrs, b"", self.clock())
            if reason is not None:
                scheme = "Basic" if page_auth.basic_enabled else "Bearer"
                return 401, {"error": reason}, {"WWW-Authenticate": f'{scheme} realm="grafana-bridge"'}
        try:
            query = parse_qs(str(environ.get("QUERY_STRING") or ""), max_num_fields=20)
        except ValueError:
            return 400, {"error": "query string has too many fields"}, {}
        errors_only = (query.get("errors") or [""])[-1] in ("1", "true", "yes", "on")
        text = (query.get("q") or [""])[-1][:200]
        fmt = (query.get("format") or [""])[-1]
        accept = str(environ.get("HTTP_ACCEPT") or "")
        as_json = fmt == "json" or (fmt != "html" and "application/json" in accept and "text/html" not in accept)
        log_ = self.deliveries
        shown = deliveries.select(log_.latest(), errors_only, text)
        if as_json:
            return 200, deliveries.to_json(shown, capacity=log_.capacity, recorded=log_.recorded,
                                           errors_only=errors_only, text=text), {"Cache-Control": "no-store"}
        page = deliveries.render_html(shown, capacity=log_.capacity, recorded=log_.recorded, errors_only=errors_only,
                                      text=text, now=self.clock())
        return 200, page.encode("utf-8"), {
            "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

    def _take_in(self, environ: Mapping[str, Any], deadline: float, source: str, event: str,
                 decode: Callable[[], T]) -> tuple[T | None, tuple[int, Any, dict[str, str]] | None]:
        """Read and decode one webhook within its deadline: (the decoded value, None) or (None, the 4xx/503 answer).

        The same limits for every endpoint: a request that waited its whole
        answer budget for a thread, or a large body with no large-body slot
        free, is a 503 (deliver again); a bad body a 4xx with its reason.
        """
        try:
            if time.monotonic() >= deadline:
                raise Timeout("the request waited its whole answer budget for a worker thread")
            large = _content_length(environ) > LARGE_BODY
            if large and not self._large.acquire(timeout=max(0.0, deadline - 1.0 - time.monotonic())):
                raise Timeout("too many large webhooks at once")
            try:
                return decode(), None
            finally:
                if large:
                    self._large.release()
        except Reject as rej:
            self.metrics.webhook(source, f"rejected_{rej.status}")
            log.info(json.dumps({"event": event, "status": rej.status, "reason": rej.reason[:200]}))
            headers = {"WWW-Authenticate": 'Bearer realm="grafana-bridge"'} if rej.status == 401 else {}
            return None, (rej.status, {"error": rej.reason}, headers)
        except Timeout as exc:
            self.metrics.webhook(source, "busy")
            log.warning(json.dumps({"event": event, "status": 503, "error": str(exc)}))
            return None, (503, {"error": f"bridge busy, deliver again: {exc}"}, {"Retry-After": "10"})

    def _alerts(self, environ: Mapping[str, Any], started: float, ctx: dict[str, Any]
                ) -> tuple[int, Any, dict[str, str]]:
        deadline = started + ANSWER_SECONDS
        group, refused = self._take_in(environ, deadline, "unknown", "webhook",
                                       lambda: self._decode(environ, _sender(environ), deadline))
        if refused is not None:
            return refused
        assert group is not None
        ctx.update(source=group.source, group=group.name[:200], sender=group.sender)
        try:
            summary = self.handle(group, deadline)
        except (TrelloError, Timeout) as exc:
            self.metrics.webhook(group.source, "trello_unavailable")
            log.warning(json.dumps({"event": "webhook", "status": 503, "source": group.source,
                                    "group": group.name[:200], "error": self.scrub(str(exc))[:300]}))
            return 503, {"error": f"Trello unavailable, deliver again: {self.scrub(str(exc))[:300]}"}, {
                "Retry-After": retry_after(exc)}
        self.metrics.webhook(group.source, summary["action"])
        log.info(json.dumps({"event": "webhook", "status": 200, "source": group.source, "group": group.name[:200],
                             **({"sender": group.sender} if group.sender else {}),
                             **({"route": summary["route"]} if "route" in summary else {}),
                             **({"reason": summary["reason"]} if "reason" in summary else {}),
                             "action": summary["action"], "writes": summary["writes"],
                             "ms": round((time.monotonic() - started) * 1000, 1)}))
        return 200, summary, {}

    def _jenkins(self, environ: Mapping[str, Any], started: float, ctx: dict[str, Any]
                 ) -> tuple[int, Any, dict[str, str]]:
        """POST /jenkins: a Notification plugin event through ``notify``'s code path (``jenkins_hook.deliver``).

        Same limits, deadline and answers as /alerts; a Jenkins or Trello failure
        (or no JENKINS_URL) is a 503. Nothing here logs the query string, which
        may hold the token.
        """
        deadline = started + ANSWER_SECONDS

        def decode() -> BuildEvent:
            try:
                return parse_event(self._document(environ, query_token=True))
            except EventError as exc:
                raise Reject(422, str(exc)) from None

        event, refused = self._take_in(environ, deadline, "jenkins", "jenkins", decode)
        if refused is not None:
            return refused
        assert event is not None
        label = f"{event.job} #{event.number}"
        ctx.update(source="jenkins", group=label[:200])
        policy = self.policy  # one policy for the whole event, whatever a reload does meanwhile
        try:
            with self.locks.hold(job_key(event.job), deadline), \
                    self.client.deadline(max(0.1, deadline - time.monotonic())):
                summary = deliver(event, self.trello, self.client, self.jenkins.reader() if self.jenkins else None,
                                  policy, self.applied)
        except (TrelloError, JenkinsError, ConfigError, NoJenkins, Timeout) as exc:
            what = ("Trello unavailable" if isinstance(exc, (TrelloError, Timeout)) else
                    "Jenkins unavailable" if isinstance(exc, JenkinsError) else "bridge not set up for /jenkins")
            reason = NO_JENKINS if isinstance(exc, NoJenkins) else self.scrub(str(exc))[:300]
            self.metrics.webhook("jenkins",
                                 "trello_unavailable" if what.startswith("Trello") else "jenkins_unavailable")
            log.warning(json.dumps({"event": "jenkins", "status": 503, "job": label[:200], "phase": event.phase,
                                    "error": f"{what}: {reason}"}))
            return 503, {"error": f"{what}, deliver again: {reason}"}, {"Retry-After": retry_after(exc)}
        self.metrics.webhook("jenkins", summary["action"])
        log.info(json.dumps({"event": "jenkins", "status": 200, "job": label[:200], "phase": event.phase,
                             "result": event.status, "action": summary["action"], "reason": summary["reason"],
                             "writes": summary["writes"], "ms": round((time.monotonic() - started) * 1000, 1)}))
        return 200, summary, {}


_ROUTES = {"/alerts": ("POST",), "/jenkins": ("POST",), "/healthz": ("GET", "HEAD"), "/metrics": ("GET", "HEAD"),
           "/deliveries": ("GET", "HEAD")}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 422: "Unprocessable Entity", 500: "Internal Server Error",
            503: "Service Unavailable"}


def retry_after(exc: BaseException) -> str:
    """``Retry-After`` for a 503 (pure): when pacing refused the writes, about when their turns come, else 10 s.

    A webhook that comes back then waits up to half its answer budget for the
    turns, so the token's share stays busy to the end of a storm instead of
    idling while every refused sender sits out a fixed pause.
    """
    if isinstance(exc, PacingRefused):
        return str(min(120, max(1, math.ceil(exc.ready_in - ANSWER_SECONDS / 2))))
    return "10"


def load_json(body: bytes, what: str = "alert payload") -> Any:
    """A webhook body decoded as the server decodes it; Reject(400/422) when it is not JSON or nested absurdly."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise Reject(400, "JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError):
        raise Reject(400, "body is not JSON") from None
    if not _depth_ok(doc):
        raise Reject(422, f"JSON nested deeper than {MAX_JSON_DEPTH} levels is no {what}")
    return doc


def decode_alert(doc: Any, sender: str | None) -> AlertGroup:
    """A decoded body as an alert group (``payloads.parse``); Reject(422) when it is no known alert payload."""
    try:
        return parse(doc, sender)
    except PayloadError as exc:
        raise Reject(422, str(exc)) from None


def _sender(environ: Mapping[str, Any]) -> str | None:
    """The ``source`` query parameter of ``/alerts`` (who sends), validated; Reject(400) when bad."""
    query = str(environ.get("QUERY_STRING") or "")
    if "source" not in query:
        return None
    try:
        values = parse_qs(query, keep_blank_values=True, max_num_fields=20).get("source")
    except ValueError:
        raise Reject(400, "query string has too many fields") from None
    if not values:
        return None
    if len(values) > 1:
        raise Reject(400, "'source' given more than once")
    reason = sender_problem(values[0])
    if reason:
        raise Reject(400, reason)
    return values[0]


def _content_length(environ: Mapping[str, Any]) -> int:
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else 0


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            out[k[5:].replace("_", "-").lower()] = str(v)
    return out


def _read_body(environ: Mapping[str, Any]) -> bytes:
    raw_len = str(environ.get("CONTENT_LENGTH") or "").strip()
    stream = environ.get("wsgi.input")
    if raw_len:
        if not raw_len.isdigit():
            raise Reject(400, "bad Content-Length")
        length = int(raw_len)
        if length > MAX_BODY:
            raise Reject(413, f"body over {MAX_BODY} bytes")
        return stream.read(length) if stream is not None and length else b""
    if stream is None:
        return b""
    data = stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise Reject(413, f"body over {MAX_BODY} bytes")
    return data
