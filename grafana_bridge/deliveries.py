"""The latest webhook deliveries of this process, for ``GET /deliveries`` (pure, apart from one lock).

Why it exists: "why did this alert make no card?" used to mean reading JSON
log lines. The bridge keeps its last ``capacity`` deliveries in memory (a
bounded ring: an alert storm cannot grow the process) and shows them newest
first, as a page a person reads in a browser and as JSON.

What a record holds is chosen so the page may be shown to anyone who holds the
bridge's credentials: the answer, what was done and why, the card link, Trello
requests and time taken. Never a header, a query string or a body: those may
carry secrets (a token, a basic-auth pair, an HMAC signature) or data the
sender did not mean for a dashboard. Group names and reasons come from the
sender, so every value is escaped in the HTML (a group named ``<script>`` is
text), and a card link is only a link when it is an http(s) URL.
"""

from __future__ import annotations

import collections
import html
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jenkins_trello.config import ConfigError

__all__ = ["DEFAULT_CAPACITY", "ENV", "Delivery", "DeliveryLog", "capacity_from_env", "from_answer", "render_html",
           "select", "to_json"]

ENV = "GRAFANA_BRIDGE_DELIVERIES"
DEFAULT_CAPACITY = 200
MAX_CAPACITY = 10_000
REFRESH_SECONDS = 10
#: longest reason / subject kept per record: a 422 reason may quote a field of the body, never all of it
MAX_TEXT = 300


@dataclass(frozen=True)
class Delivery:
    """One webhook as the bridge answered it."""

    time: float  # unix seconds, when the answer was known
    source: str  # alertmanager | grafana | grafana-legacy (or "" when the body was refused before parsing)
    subject: str  # the alert group's (or job's) name, "" when unknown
    route: str | None  # the policy route taken, None when none was (no route, refused, ignored)
    code: int  # the HTTP answer
    action: str  # created, commented, updated, archived, unchanged, ignored, rejected, failed, error, ...
    reason: str = ""  # why: a 4xx/5xx reason, "no route", "route X skips", a note
    card_url: str | None = None
    trello_requests: int = 0
    ms: float = 0.0
    sender: str | None = None  # ``?source=NAME``: a validated name, shown on the card too

    @property
    def failed(self) -> bool:
        return self.code >= 400


def _short(value: object) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _action_for(code: int) -> str:
    """What a non-2xx answer did: a 4xx refused the webhook, a 503 failed on Trello (sent again), else a bug."""
    if 400 <= code < 500:
        return "rejected"
    return "failed" if code == 503 else "error"


def from_answer(now: float, code: int, answer: Any, ctx: Mapping[str, Any], trello_requests: int, ms: float
                ) -> Delivery:
    """The record of one webhook from what the app answered (the JSON summary or ``{"error": ...}``) (pure).

    ``ctx`` is what the app learned before answering (``source``, ``group`` and
    ``sender`` once the body parsed). Only named fields of the answer are kept.
    """
    answer = answer if isinstance(answer, Mapping) else {}
    job = f"{answer['job']} #{answer['build']}" if answer.get("job") and answer.get("build") else answer.get("job")
    subject = answer.get("group") or job or ctx.get("group") or ctx.get("job") or ""
    source = answer.get("source") or ctx.get("source") or ""
    if code < 400:
        action = str(answer.get("action") or "done")
        reason = answer.get("reason") or answer.get("note") or ""
        if action == "ignored" and not reason:
            reason = f"{answer.get('groupStatus') or 'this state'} changes nothing"
    else:
        action = _action_for(code)
        reason = answer.get("error") or ""
    url = answer.get("cardUrl") if code < 400 else None
    route = answer.get("route") if code < 400 else None
    sender = ctx.get("sender")
    return Delivery(time=now, source=_short(source), subject=_short(subject), route=_short(route) if route else None,
                    code=int(code), action=_short(action), reason=_short(reason),
                    card_url=url if isinstance(url, str) and url else None, trello_requests=int(trello_requests),
                    ms=round(float(ms), 1), sender=_short(sender) if sender else None)


class DeliveryLog:
    """A thread-safe ring of the latest ``capacity`` deliveries (0: keep none)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._ring: collections.deque[Delivery] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.recorded = 0  # since the start: tells how many the ring has let go

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self._ring.append(delivery)
            self.recorded += 1

    def latest(self) -> list[Delivery]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._ring))


def capacity_from_env(env: Mapping[str, str]) -> int:
    """``GRAFANA_BRIDGE_DELIVERIES``: how many deliveries ``/deliveries`` keeps (0 turns the record off)."""
    raw = (env.get(ENV) or "").strip()
    if not raw:
        return DEFAULT_CAPACITY
    if not raw.isdigit() or int(raw) > MAX_CAPACITY:
        raise ConfigError(f"{ENV} must be a whole number from 0 to {MAX_CAPACITY} (got {raw[:20]!r}): "
                          f"how many deliveries /deliveries keeps, default {DEFAULT_CAPACITY}")
    return int(raw)


def select(deliveries: Iterable[Delivery], errors_only: bool = False, text: str = "") -> list[Delivery]:
    """The deliveries the filters keep: answers >= 400 only, and ``text`` (any case) in subject/route/reason/action."""
    needle = text.strip().casefold()
    out = []
    for d in deliveries:
        if errors_only and not d.failed:
            continue
        if needle and not any(needle in (v or "").casefold()
                              for v in (d.subject, d.route, d.reason, d.action, d.source, d.sender)):
            continue
        out.append(d)
    return out


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def to_json(shown: Sequence[Delivery], *, capacity: int, recorded: int, errors_only: bool = False,
            text: str = "") -> dict[str, Any]:
    """The JSON answer of ``/deliveries?format=json`` (pure)."""
    return {
        "capacity": capacity,
        "recorded": recorded,
        "filters": {"errors": errors_only, "q": text},
        "deliveries": [{
            "time": _iso(d.time), "source": d.source, "sender": d.sender, "subject": d.subject, "route": d.route,
            "code": d.code, "action": d.action, "reason": d.reason, "cardUrl": d.card_url,
            "trelloRequests": d.trello_requests, "ms": d.ms,
        } for d in shown],
    }


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2125;background:#fff}
h1{font-size:1.3em;margin:0 0 .3em}
p.meta{color:#626f86;margin:.2em 0 1em}
form{margin:0 0 1em}
input[type=text]{width:22em;padding:.25em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #dcdfe4;vertical-align:top}
th{background:#f1f2f4}
tr.err td{background:#ffeceb}
td.when{white-space:nowrap}
td.code{font-weight:600}
tr.err td.code{color:#ae2e24}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#626f86;padding:1em 0}
"""


def _link(url: str | None) -> str:
    if not url or not url.startswith(("https://", "http://")):
        return ""
    safe = html.escape(url, quote=True)
    return f'<a href="{safe}" rel="noreferrer noopener">card</a>'


def render_html(shown: Sequence[Delivery], *, capacity: int, recorded: int, errors_only: bool = False,
                text: str = "", now: float | None = None) -> str:
    """The page of ``/deliveries``: plain HTML with inline CSS, no script, reloading itself (pure)."""
    e = html.escape
    rows = []
    for d in shown:
        source = d.source + (f" ({d.sender})" if d.sender else "")
        rows.append(
            f'<tr class="{"err" if d.failed else "ok"}">'
            f'<td class="when">{e(_iso(d.time))}</td>'
            f"<td>{e(source)}</td><td>{e(d.subject)}</td><td>{e(d.route or '')}</td>"
            f'<td class="code">{d.code}</td><td>{e(d.action)}</td><td>{e(d.reason)}</td><td>{_link(d.card_url)}</td>'
            f'<td class="num">{d.trello_requests}</td><td class="num">{d.ms:.1f}</td></tr>')
    body = "\n".join(rows) if rows else (
        '<tr><td colspan="10" class="empty">no deliveries '
        + ("match these filters" if errors_only or text else "yet since the bridge started") + "</td></tr>")
    stamp = f" at {_iso(now)}" if now is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>grafana-bridge deliveries</title>
<style>{_CSS}</style></head>
<body>
<h1>Deliveries</h1>
<p class="meta">The latest {capacity} webhooks this process answered, newest first ({recorded} since it started);
shown{e(stamp)}, reloads every {REFRESH_SECONDS} s. Add <code>?format=json</code> for JSON.</p>
<form method="get" action="/deliveries">
<label><input type="checkbox" name="errors" value="1"{" checked" if errors_only else ""}> errors only</label>
<label> text <input type="text" name="q" value="{e(text, quote=True)}"></label>
<button type="submit">filter</button>
</form>
<table>
<thead><tr><th>when (UTC)</th><th>source</th><th>group or job</th><th>route</th><th>answer</th><th>done</th>
<th>why</th><th>card</th><th>Trello requests</th><th>ms</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
