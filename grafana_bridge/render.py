"""Card text for alert groups (pure): name, description, comments.

Everything that comes from a payload is untrusted: label values, annotations,
URLs and rule names are written by whoever configures the alert rules, or by
anyone who can reach the webhook. Every such value goes through
``jenkins_trello.text`` before it reaches Trello Markdown, so it can neither
forge a link, image, mention or heading, nor imitate the project's marker line,
and every text is bounded so a 1 MB annotation cannot break Trello's limits.

Card names are plain text in Trello (no Markdown is rendered there), so names
are made one line and bounded with ``one_line`` rather than backslash-escaped,
which would show as literal backslashes on the board.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from jenkins_trello.text import COMMENT_LIMIT, clip, md_block, md_escape, md_link, one_line, safe_url

from .payloads import MAX_ALERTS, Alert, AlertGroup, legacy_fingerprint

__all__ = [
    "COMMENT_BUDGET",
    "DESC_BUDGET",
    "NAME_LIMIT",
    "alert_variables",
    "card_desc",
    "card_name",
    "change_comment",
    "resolved_comment",
]

NAME_LIMIT = 200
# The lead appends a marker line (up to ~3.5 kB with 200 fingerprints) to the
# description; 12000 + marker stays under Trello's 16384.
DESC_BUDGET = 12000
COMMENT_BUDGET = 8000
_LIST_MAX = 25  # alerts listed by name in a comment
_RESERVE = 600  # room kept for the closing lines of a description

_SOURCE = {
    "alertmanager": "Alertmanager",
    "grafana": "Grafana",
    "grafana-legacy": "Grafana legacy alerting",
}
_TEXT_ANNOTATIONS = ("summary", "description", "message")
# ASCII digits only: ``\d`` would also match other scripts' digits, which datetime may refuse.
_TIME_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


# --------------------------------------------------------------------------- small pieces


def _parse_time(value: str | None) -> datetime | None:
    """RFC 3339 as Go writes it (nanoseconds, Z or offset) -> datetime in UTC; None if unreadable.

    Converted to UTC here, once, because the conversion itself can fail:
    9999-12-31T23:59:59-23:59 is past year 9999 in UTC and 0001-01-01T00:00:00+01:00
    before year 1, which datetime cannot hold. Such times count as unreadable
    (shown as sent), never as an error.
    """
    if not value or not isinstance(value, str):
        return None
    m = _TIME_RE.fullmatch(value.strip())
    if not m:
        return None
    offset = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{offset}").astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _utc_text(dt: datetime) -> str:
    # strftime pads years below 1000 inconsistently across platforms; isoformat parts do not
    return f"{dt.date().isoformat()} {dt.strftime('%H:%M:%S')} UTC"


def _time_text(value: str | None) -> str | None:
    """A timestamp for people: UTC, to the second; unknown or out-of-range times escaped as sent."""
    if not value:
        return None
    dt = _parse_time(value)
    if dt is None:
        return md_escape(value, 60)
    return _utc_text(dt)


def _pairs_text(pairs: tuple[tuple[str, str], ...], skip: frozenset[str] = frozenset(), limit: int = 40) -> str:
    """Labels as "k=v, k=v", every name and value escaped, at most ``limit`` of them."""
    parts = []
    more = False
    for k, v in pairs:
        if k in skip:
            continue
        if len(parts) == limit:
            more = True
            break
        parts.append(f"{md_escape(k, 100)}={md_escape(v, 200)}")
    if more:
        parts.append("…")
    return ", ".join(parts)


def _link(label: str, url: str | None) -> str | None:
    """A Markdown link only when the URL is a plain http(s) URL; otherwise nothing.

    ``label`` is always the bridge's own word; the link text also shows the
    URL's host (see ``md_link``), so a sender cannot dress one site up as another.
    """
    return md_link(label, url) if safe_url(url) else None


def _annotation_link(key: str, url: str | None) -> str | None:
    """A ``*_url`` annotation: the sender's key as escaped text, the link itself showing only its host."""
    link = _link("", url)
    return f"{md_escape(key, 60)}: {link}" if link else None


def _links(pairs: list[tuple[str, str | None]]) -> str:
    return " · ".join(x for x in (_link(lab, url) for lab, url in pairs) if x)


def _label_values(group: AlertGroup, limit: int = 3) -> list[str]:
    """What distinguishes the group in its name: its group label values.

    A group that is grouped by nothing (empty groupLabels) falls back to the
    labels all its alerts share, as Grafana's own title does.
    """
    pairs = group.group_labels or group.common_labels
    vals = [v for k, v in pairs if k != "alertname" and not k.startswith("__") and v]
    return vals[:limit]


def _state_word(group: AlertGroup, firing: frozenset[str]) -> str:
    """The tag at the start of the card name: FIRING:n, RESOLVED, NO DATA, …"""
    if group.status == "ignored":
        return (group.state or "ignored").upper()
    if group.source == "grafana-legacy":
        if group.no_data:
            return "NO DATA"
        return "FIRING" if firing else "RESOLVED"
    return f"FIRING:{len(firing)}" if firing else "RESOLVED"


def _state_line(group: AlertGroup, firing: frozenset[str]) -> str:
    """The first line of the description: state and count in words, where it comes from."""
    source = _SOURCE.get(group.source, group.source)
    if group.status == "ignored":
        state = f"**{(group.state or 'ignored').capitalize()}**"
    elif group.source == "grafana-legacy":
        state = "**No data**" if group.no_data else ("**Alerting**" if firing else "**Resolved**")
    elif firing:
        state = f"**Firing:** {len(firing)} alert{'s' if len(firing) != 1 else ''}"
    else:
        state = "**Resolved**"
    line = f"{state} · {source}"
    if group.sender:
        line += f" · sender: {md_escape(group.sender, 64)}"
    if group.receiver:
        line += f" · receiver: {md_escape(group.receiver, 100)}"
    return line


def _legacy_previous(group: AlertGroup, before: frozenset[str] | None) -> str | None:
    """The legacy rule's previous state, read back from the firing set stored on the card."""
    if before is None:
        return None
    for state in ("alerting", "no_data"):
        if legacy_fingerprint(group.identity, state) in before:
            return state
    return "ok"


def _common_skip(group: AlertGroup) -> frozenset[str]:
    """Labels shown once for the group need not be repeated per alert."""
    if len(group.alerts) <= 1:
        return frozenset()
    return frozenset(k for k, _ in group.common_labels)


def _alert_line(alert: Alert, skip: frozenset[str], group: AlertGroup, detail: bool) -> str:
    """One alert as a Markdown list item (with indented detail lines when ``detail``)."""
    labels = _pairs_text(alert.labels, skip)
    head = f"- **{md_escape(alert.name, 200)}**"
    if labels:
        head += f" — {labels}"
    if not detail:
        return head
    lines = [head]
    facts = []
    if alert.value:
        facts.append(f"value: {md_escape(alert.value, 500)}")
    since = _time_text(alert.starts_at)
    if since and alert.status == "firing":
        facts.append(f"since {since}")
    if alert.status == "resolved":
        ended = _time_text(alert.ends_at)
        if ended:
            facts.append(f"ended {ended}")
    if facts:
        lines.append("  " + " · ".join(facts))
    common = dict(group.common_annotations)
    for key, val in alert.annotations:
        if key in _TEXT_ANNOTATIONS and common.get(key) != val and val:
            lines.append(f"  {md_escape(key, 40)}: {md_escape(val, 500)}")
    annotation_links = [
        (k, v) for k, v in alert.annotations if common.get(k) != v and k.lower().endswith("url")
    ]
    links = " · ".join(x for x in [_links(
        [("Source", alert.generator_url), ("Dashboard", alert.dashboard_url), ("Panel", alert.panel_url),
         ("Silence", alert.silence_url), ("Image", alert.image_url)]
    )] + [_annotation_link(k, v) for k, v in annotation_links[:5]] if x)
    if links:
        lines.append("  " + links)
    return "\n".join(lines)


def _annotation_lines(pairs: tuple[tuple[str, str], ...]) -> list[str]:
    """Group annotations: summary/description as text blocks, *_url ones as links, others one line."""
    lines = []
    rest = []
    by_key = dict(pairs)
    for key in _TEXT_ANNOTATIONS:
        val = by_key.get(key)
        if val:
            lines.append(f"**{key.capitalize()}:** {md_block(val, 2000)}")
    for key, val in pairs[:30]:
        if key in _TEXT_ANNOTATIONS or not val:
            continue
        if key.lower().endswith("url"):
            link = _annotation_link(key, val)
            rest.append(link if link else f"{md_escape(key, 60)}: {md_escape(val, 300)}")
        else:
            rest.append(f"{md_escape(key, 60)}: {md_escape(val, 300)}")
    if rest:
        lines.append(" · ".join(rest))
    return lines


def _no_data_note(group: AlertGroup) -> str:
    if group.source == "grafana-legacy":
        return (
            "**No data:** the query returned no data; the rule counts that as alerting. "
            "Check the data source and the query."
        )
    return (
        "**No data:** the query returned no data (Grafana's DatasourceNoData alert); "
        "check the data source and the query of the rule named below."
    )


def _index(group: AlertGroup) -> dict[str, Alert]:
    """Fingerprint -> the alert of this payload that carries it (a firing one wins)."""
    out: dict[str, Alert] = {}
    for alert in group.alerts:
        cur = out.get(alert.fingerprint)
        if cur is None or (alert.status == "firing" and cur.status != "firing"):
            out[alert.fingerprint] = alert
    return out


def _left_out_lines(group: AlertGroup) -> list[str]:
    """Alerts missing from the notification: left out by the sender, or beyond what the bridge reads."""
    lines = []
    by_sender = group.truncated - group.left_out
    if by_sender > 0:
        lines.append(f"The sender left {by_sender} alerts out of this notification.")
    if group.left_out:
        lines.append(f"The bridge read the first {MAX_ALERTS} alerts of this notification and left "
                     f"{group.left_out} more out (a firing alert left out stays on the card).")
    return lines


def _bounded(parts: list[str], limit: int) -> str:
    return clip("\n".join(parts).strip("\n"), limit)


# --------------------------------------------------------------------------- public


def card_name(group: AlertGroup, firing: frozenset[str]) -> str:
    """The card's title: "[FIRING:3] HighLatency (api, prod)", one line, at most 200 characters.

    The state and count come first so a board scan shows what is burning;
    the group label values tell apart groups that share an alert name.
    """
    prefix = f"[{_state_word(group, firing)}] "
    name = one_line(group.name, 120)
    others = {a.label("alertname") for a in group.alerts if a.fingerprint in firing} - {group.name, None, ""}
    if others and group.source != "grafana-legacy":
        name += f" +{len(others)}"
    vals = [one_line(v, 40) for v in _label_values(group) if v != group.name]
    text = prefix + name + (f" ({', '.join(vals)})" if vals else "")
    return one_line(text, NAME_LIMIT)


def card_desc(group: AlertGroup, firing: frozenset[str], limit: int = DESC_BUDGET) -> str:
    """The card's Markdown body (without the marker line), at most ``limit`` characters.

    Leads with what a person on call needs: what fires, where, why (summary and
    description), the value, and the links to act on (rule, dashboard, panel,
    silence). Alerts that fire but are missing from a truncated list are counted,
    not invented.
    """
    limit = max(1000, min(limit, DESC_BUDGET))
    source = _SOURCE.get(group.source, group.source)
    parts = [_state_line(group, firing)]
    if group.group_labels:
        parts.append(f"Group: {_pairs_text(group.group_labels)}")
    if group.common_labels and group.source != "grafana-legacy" and len(group.alerts) > 1:
        parts.append(f"Common labels: {_pairs_text(group.common_labels)}")
    parts.append("")
    if group.no_data and firing:
        parts += [_no_data_note(group), ""]

    ann = _annotation_lines(group.common_annotations)
    if group.source == "grafana-legacy" and group.message:
        ann.insert(0, f"**Message:** {md_block(group.message, 2000)}")
    if ann:
        parts += ann + [""]

    skip = _common_skip(group)
    shown = []
    seen: set[str] = set()
    for alert in group.alerts:
        if alert.status == "firing" and alert.fingerprint in firing and alert.fingerprint not in seen:
            seen.add(alert.fingerprint)
            shown.append(alert)
    if shown:
        parts.append(f"### Firing ({len(firing)})")
        used = sum(len(p) + 1 for p in parts)
        for i, alert in enumerate(shown):
            item = _alert_line(alert, skip, group, detail=True)
            if used + len(item) > limit - _RESERVE:
                parts.append(f"- … and {len(shown) - i} more firing alerts in this notification")
                break
            parts.append(item)
            used += len(item) + 1
    unlisted = len(firing - seen)
    if unlisted:
        parts.append(
            f"- {unlisted} more firing alerts not listed in the latest notification "
            "(the sender truncated its list)"
        )
    parts += _left_out_lines(group)
    links = _links([("Alert rule", group.rule_url), (source, group.external_url)])
    if links:
        parts += ["", links]
    return _bounded(parts, limit)


def _names(alerts: list[Alert], skip: frozenset[str], group: AlertGroup) -> list[str]:
    lines = [_alert_line(a, skip, group, detail=False) for a in alerts[:_LIST_MAX]]
    if len(alerts) > _LIST_MAX:
        lines.append(f"- … and {len(alerts) - _LIST_MAX} more")
    return lines


def change_comment(group: AlertGroup, before: frozenset[str] | None, after: frozenset[str]) -> str:
    """What started and stopped firing with this notification, with counts.

    ``before`` None means the previous set is unknown (a digest in the marker,
    or a card from elsewhere): then the comment states what fires now.
    """
    name = md_escape(group.name, 200)
    idx = _index(group)
    skip = _common_skip(group)
    parts = []
    if group.source == "grafana-legacy":
        words = {"no_data": "no data", "alerting": "alerting", "ok": "ok", "paused": "paused", "pending": "pending"}
        state = words.get(group.state or "", "unknown")
        prev = _legacy_previous(group, before)
        was = f" (was {words[prev]})" if prev and prev != group.state else ""
        parts.append(f"**{name}**: state {state}{was}.")
        if group.no_data:
            parts.append(_no_data_note(group))
        elif prev == "no_data" and group.state == "alerting":
            parts.append("The rule has data again and is still alerting.")
        if group.alerts and group.alerts[0].value:
            parts.append(f"Values: {md_escape(group.alerts[0].value, 1000)}")
        return _bounded(parts, COMMENT_BUDGET)

    if before is None:
        parts.append(f"**{name}**: {len(after)} firing now (earlier state unknown).")
        now = [idx[f] for f in sorted(after) if f in idx and idx[f].status == "firing"]
        parts += _names(now, skip, group)
        missing = len(after) - len(now)
        if missing:
            parts.append(f"- {missing} more not listed in this notification")
        return _bounded(parts, COMMENT_BUDGET)

    started = after - before
    stopped = before - after
    summary = f"**{name}**: {len(after)} firing now (was {len(before)})"
    changes = []
    if started:
        changes.append(f"{len(started)} started")
    if stopped:
        changes.append(f"{len(stopped)} stopped")
    parts.append(summary + (f": {', '.join(changes)}." if changes else "; no change."))
    if started:
        alerts = [idx[f] for f in sorted(started) if f in idx]
        parts += ["", f"Started firing ({len(started)}):"] + _names(alerts, skip, group)
        if len(started) - len(alerts):
            parts.append(f"- {len(started) - len(alerts)} more not listed in this notification")
    if stopped:
        alerts = [idx[f] for f in sorted(stopped) if f in idx]
        parts += ["", f"Stopped firing ({len(stopped)}):"] + _names(alerts, skip, group)
        gone = len(stopped) - len(alerts)
        if gone:
            parts.append(f"- {gone} no longer in the notification")
    if group.no_data and after:
        parts += ["", _no_data_note(group)]
    return _bounded(parts, COMMENT_BUDGET)


def resolved_comment(group: AlertGroup) -> str:
    """"Resolved: …" for the comment written just before the card is archived.

    Names what resolved and when (the latest endsAt), so the archived card
    still tells the whole story.
    """
    name = md_escape(group.name, 200)
    if group.source == "grafana-legacy":
        parts = [f"Resolved: **{name}** is ok again."]
        link = _link("Alert rule", group.rule_url)
        if link:
            parts.append(link)
        return _bounded(parts, COMMENT_BUDGET)
    resolved = list(group.resolved_alerts())
    times = [t for t in (_parse_time(a.ends_at) for a in resolved) if t is not None]
    head = f"Resolved: **{name}**, {len(resolved)} alert{'s' if len(resolved) != 1 else ''} resolved"
    if times:
        head += f", last at {_utc_text(max(times))}"
    parts = [head + "."]
    skip = _common_skip(group)
    for alert in resolved[:_LIST_MAX]:
        line = _alert_line(alert, skip, group, detail=False)
        ended = _time_text(alert.ends_at)
        parts.append(line + (f" · ended {ended}" if ended else ""))
    if len(resolved) > _LIST_MAX:
        parts.append(f"- … and {len(resolved) - _LIST_MAX} more")
    parts += _left_out_lines(group)
    link = _link(_SOURCE.get(group.source, group.source), group.external_url)
    if link:
        parts += ["", link]
    return _bounded(parts, min(COMMENT_BUDGET, COMMENT_LIMIT))


# --------------------------------------------------------------------------- template variables


def _alert_vars(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status,
        "name": alert.name,
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "value": alert.value or "",
        "starts_at": alert.starts_at or "",
        "ends_at": alert.ends_at or "",
        "generator_url": alert.generator_url or "",
        "silence_url": alert.silence_url or "",
        "dashboard_url": alert.dashboard_url or "",
        "panel_url": alert.panel_url or "",
    }


def alert_variables(group: AlertGroup, firing: frozenset[str], previous: frozenset[str] | None) -> dict[str, Any]:
    """The variables an alert route's templates see, as plain values (pure; see docs/templates.md).

    Raw values: ``jenkins_trello.templates`` escapes each one when printed.
    ``status`` is the group's status as the card sees it: ``resolved`` also for
    a "firing" group with nothing firing in a complete list (the bridge treats
    that as resolved). ``firing`` and ``resolved`` are counts (firing: the
    card's firing set, merged for a truncated list; resolved: this payload's
    resolved alerts); ``previous_firing`` is the earlier count, or None when
    unknown. ``values`` are the firing alerts' values in payload order.
    """
    resolved = group.status == "resolved" or (group.status == "firing" and not firing and not group.truncated)
    alerts = [_alert_vars(a) for a in group.alerts]
    started = len(firing - previous) if previous is not None else None
    stopped = len(previous - firing) if previous is not None else None
    return {
        "alertname": group.name,
        "status": "resolved" if resolved else group.status,
        "receiver": group.receiver,
        "source": group.sender or "",
        "format": group.source,
        "group_labels": dict(group.group_labels),
        "common_labels": dict(group.common_labels),
        "common_annotations": dict(group.common_annotations),
        "alerts": alerts,
        "firing": len(firing),
        "resolved": len(group.resolved_alerts()),
        "previous_firing": len(previous) if previous is not None else None,
        "started": started,
        "stopped": stopped,
        "values": [a.value for a in group.alerts if a.status == "firing" and a.value],
        "external_url": group.external_url or "",
        "rule_url": group.rule_url or "",
        "title": group.title or "",
        "message": group.message or "",
        "state": group.state or "",
        "no_data": group.no_data,
        "truncated": group.truncated,
    }
