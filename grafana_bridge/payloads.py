"""Three webhook wire formats -> one ``AlertGroup`` value (pure, no I/O).

Grafana legacy alerting (4.x-7.x), Grafana unified alerting (contact point
"webhook", version "1") and Prometheus Alertmanager (``webhook_config``,
version "4") all arrive on ``POST /alerts``. They are told apart by their
shape, never by a header, because a user may point any of them at the bridge
through proxies that rewrite headers.

Everything downstream (card lifecycle, card text) works on the frozen
dataclasses defined here, so the quirks of each sender stay in this module:
optional fields that old versions omit, Go's zero time, legacy states that
must change nothing, truncated alert lists.

Also here: the pure "which alerts fire now" logic (``next_firing``) and the
compact encoding of that set for the card marker (``encode_state`` /
``decode_state``), because both depend on how fingerprints are made.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from jenkins_trello.text import clean_text

__all__ = [
    "Alert",
    "AlertGroup",
    "NO_DATA_ALERTNAME",
    "MAX_ALERTS",
    "PayloadError",
    "SENDER_RE",
    "STATE_MAX_FINGERPRINTS",
    "clean",
    "decode_state",
    "encode_state",
    "legacy_fingerprint",
    "next_firing",
    "parse",
    "sender_problem",
]

Pairs = tuple[tuple[str, str], ...]

# Go's time.Time{} as Alertmanager and Grafana serialise it: "no end yet".
_GO_ZERO_TIME = "0001-01-01T00:00:00"
_LEGACY_STATES = {"alerting", "ok", "no_data", "paused", "pending"}
_STATUSES = {"firing", "resolved"}
NO_DATA_ALERTNAME = "DatasourceNoData"
# Grafana's default organisation. Grafana before 7.x sent no orgId in legacy
# webhooks; defaulting to 1 keeps a rule's card after an upgrade that starts
# sending ``orgId: 1``.
_LEGACY_DEFAULT_ORG = 1

# A state with more fingerprints than this is stored as one digest (decode ->
# None, "unknown"). 200 x 17 characters = 3.4 kB, which together with a card
# description bounded by render.DESC_BUDGET stays under Trello's 16384.
STATE_MAX_FINGERPRINTS = 200
_FP_RE = re.compile(r"[0-9a-f]{16}")
# Lone UTF-16 surrogates: JSON may spell them ("\\ud800"), UTF-8 cannot encode them.
# Alerts read from one notification; the rest count as left out (``truncatedAlerts``), as Alertmanager's own
# ``max_alerts`` does, so a huge group still gets its card and never takes an unbounded share of the bridge.
MAX_ALERTS = 1000
# ``/alerts?source=NAME``: short and plain, so it can sit in an identity, a log line and a card.
SENDER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


class PayloadError(ValueError):
    """The JSON is not an alert payload this bridge understands (HTTP 422).

    The message is one line and names what is wrong, never echoing values.
    """


@dataclass(frozen=True)
class Alert:
    """One alert instance, with a fingerprint that is ours, not the sender's.

    The sender's fingerprint differs between Alertmanager and Grafana versions
    (and is absent from old Alertmanagers), so it cannot identify an alert
    across a payload format change; a hash of the sorted labels can.
    """

    status: str
    labels: Pairs
    annotations: Pairs
    fingerprint: str
    starts_at: str | None = None
    ends_at: str | None = None
    generator_url: str | None = None
    silence_url: str | None = None
    dashboard_url: str | None = None
    panel_url: str | None = None
    image_url: str | None = None
    value: str | None = None
    rule_name: str | None = None  # legacy ruleName; unified: none in the payload

    @property
    def name(self) -> str:
        """What a person calls this alert: alertname label, else rule name, else "alert"."""
        for key, val in self.labels:
            if key == "alertname" and val:
                return val
        return self.rule_name or "alert"

    def label(self, key: str) -> str | None:
        """One label's value, or None."""
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class AlertGroup:
    """One notification group: the unit that owns one Trello card."""

    source: str  # "alertmanager" | "grafana" | "grafana-legacy"
    identity: str
    status: str  # "firing" | "resolved" | "ignored"
    receiver: str
    group_labels: Pairs
    common_labels: Pairs
    common_annotations: Pairs
    external_url: str | None
    alerts: tuple[Alert, ...]
    truncated: int = 0
    title: str | None = None
    message: str | None = None
    no_data: bool = False
    state: str | None = None
    rule_url: str | None = None
    rule_name: str | None = None  # legacy ruleName (also set on its pseudo-alert)
    sender: str | None = None  # ``/alerts?source=NAME``
    left_out: int = 0  # alerts beyond MAX_ALERTS, counted in ``truncated`` too

    @property
    def name(self) -> str:
        """The group's human name: the alertname shared by the group, else the first alert's name."""
        for pairs in (self.group_labels, self.common_labels):
            for key, val in pairs:
                if key == "alertname" and val:
                    return val
        if self.rule_name:
            return self.rule_name
        firing = [a for a in self.alerts if a.status == "firing"]
        for alert in firing or list(self.alerts):
            return alert.name
        return "alert"

    def firing_alerts(self) -> tuple[Alert, ...]:
        """Alerts of this payload whose own status is firing."""
        return tuple(a for a in self.alerts if a.status == "firing")

    def resolved_alerts(self) -> tuple[Alert, ...]:
        """Alerts of this payload whose own status is resolved."""
        return tuple(a for a in self.alerts if a.status == "resolved")


# --------------------------------------------------------------------------- helpers



def clean(doc: object) -> Any:
    """A decoded JSON value with every string (keys included) made valid Unicode (pure)."""
    if isinstance(doc, str):
        return clean_text(doc)
    if isinstance(doc, list):
        return [clean(v) for v in doc]
    if isinstance(doc, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean(v) for k, v in doc.items()}
    return doc


def sender_problem(sender: str | None) -> str | None:
    """Why a ``?source=`` value is refused (one line, no echo), or None when it is fine or absent."""
    if sender is None:
        return None
    if not isinstance(sender, str) or not SENDER_RE.fullmatch(sender):
        return ("'source' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit "
                "(e.g. /alerts?source=staging)")
    return None


def _canon(obj: object) -> str:
    """Canonical JSON: the same value always gives the same string (identity, hashes)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _scalar_text(value: object) -> str:
    """A label/annotation value as text. JSON scalars map to their JSON spelling."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _num(value)
    try:
        return _canon(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError("label or annotation value is not JSON") from exc


def _num(value: int | float) -> str:
    """A number as a person reads it: 1.0 -> "1", 44.2394 -> "44.2394", big floats in e-notation."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _pairs(doc: dict[str, Any], key: str, what: str) -> Pairs:
    """A JSON object of labels/annotations -> sorted (name, text) pairs.

    Missing or null counts as empty (old senders omit ``commonAnnotations``);
    anything but an object is an error. Names must be strings: JSON objects
    only have string keys, so a non-string key means the caller did not hand
    us decoded JSON, and coercing could merge two distinct labels.
    """
    raw = doc.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise PayloadError(f"'{key}' in {what} must be an object")
    out = []
    for name, val in raw.items():
        if not isinstance(name, str):
            raise PayloadError(f"'{key}' in {what} has a non-string name")
        out.append((name, _scalar_text(val)))
    out.sort()
    return tuple(out)


def _opt_str(doc: dict[str, Any], *keys: str) -> str | None:
    """First non-empty string among keys; other types and "" count as absent (be liberal)."""
    for key in keys:
        val = doc.get(key)
        if isinstance(val, str) and val:
            return val
    return None


def _time(doc: dict[str, Any], key: str) -> str | None:
    """A timestamp string, None for absent and for Go's zero time (a firing alert's endsAt)."""
    val = _opt_str(doc, key)
    if val is None or val.startswith(_GO_ZERO_TIME):
        return None
    return val


def _fingerprint(labels: Pairs) -> str:
    """First 16 hex of sha256 over the canonical sorted labels."""
    return hashlib.sha256(_canon([list(p) for p in labels]).encode("utf-8")).hexdigest()[:16]


def _status(value: object, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in _STATUSES:
        raise PayloadError(f"{where} 'status' must be \"firing\" or \"resolved\"")
    return value.lower()


# --------------------------------------------------------------------------- parse


def parse(doc: object, sender: str | None = None) -> AlertGroup:
    """Turn a decoded JSON value into an AlertGroup, or raise PayloadError (HTTP 422).

    ``sender`` (``/alerts?source=NAME``) names the Grafana instance or
    Alertmanager cluster; it joins the identity only when given, so cards of
    single-instance set-ups keep their identity. Every string is made valid
    Unicode first (``clean``).

    The format is decided by shape: an ``alerts`` list means Alertmanager or
    Grafana unified (``version`` "4" vs "1"; without a version, Grafana's
    ``orgId``/``state``/``title`` decide); no ``alerts`` but a ``ruleId``
    means Grafana legacy. Optional fields are accepted liberally; what
    identifies the format and the group is checked strictly.
    """
    if not isinstance(doc, dict):
        raise PayloadError(
            "not an alert payload: expected a JSON object from Grafana or Alertmanager"
        )
    reason = sender_problem(sender)
    if reason:
        raise PayloadError(reason)
    try:
        doc = clean(doc)
        if "alerts" in doc:
            return _parse_grouped(doc, sender)
        if "ruleId" in doc:
            return _parse_legacy(doc, sender)
    except RecursionError as exc:  # absurdly nested values inside labels
        raise PayloadError("payload nested too deeply") from exc
    raise PayloadError(
        "not an alert payload: expected Grafana or Alertmanager webhook JSON "
        "(no 'alerts' list or 'ruleId')"
    )


def _grouped_source(doc: dict[str, Any]) -> str:
    version = doc.get("version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (str, int)):
            raise PayloadError("'version' must be a string")
        v = str(version)
        if v == "4":
            return "alertmanager"
        if v == "1":
            return "grafana"
        raise PayloadError(
            "unsupported webhook version: expected \"4\" (Alertmanager) or \"1\" (Grafana)"
        )
    if any(k in doc for k in ("orgId", "state", "title")):
        return "grafana"
    return "alertmanager"


def _identity(fields: dict[str, Any], sender: str | None) -> str:
    """Canonical identity; ``sender`` joins only when set, so existing identities never change."""
    if sender is not None:
        fields = {**fields, "sender": sender}
    return _canon(fields)


def _parse_grouped(doc: dict[str, Any], sender: str | None = None) -> AlertGroup:
    """Alertmanager (v4) and Grafana unified (v1): the same group structure."""
    raw_alerts = doc.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("'alerts' must be a list")
    left_out = max(0, len(raw_alerts) - MAX_ALERTS)
    raw_alerts = raw_alerts[:MAX_ALERTS]
    source = _grouped_source(doc)

    receiver = doc.get("receiver", "")
    if receiver is None:
        receiver = ""
    if not isinstance(receiver, str):
        raise PayloadError("'receiver' must be a string")

    group_labels = _pairs(doc, "groupLabels", "the payload")
    top_status = doc.get("status")
    status = _status(top_status, "payload") if top_status is not None else None

    alerts = []
    for i, raw in enumerate(raw_alerts):
        if not isinstance(raw, dict):
            raise PayloadError(f"alert {i} is not an object")
        alerts.append(_parse_alert(raw, i, status))
    if status is None:  # hand-written payloads: derive what the sender would have said
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"

    truncated = doc.get("truncatedAlerts")
    if truncated is None:
        truncated = 0
    if isinstance(truncated, bool) or not isinstance(truncated, int):
        if isinstance(truncated, float) and truncated.is_integer():
            truncated = int(truncated)
        else:
            raise PayloadError("'truncatedAlerts' must be an integer")
    truncated = max(0, truncated) + left_out

    alerts_t = tuple(alerts)
    grafana = source == "grafana"
    no_data = grafana and any(
        a.status == "firing" and a.label("alertname") == NO_DATA_ALERTNAME for a in alerts_t
    )
    fields: dict[str, Any] = {"source": source, "receiver": receiver, "groupLabels": dict(group_labels)}
    if grafana and doc.get("orgId") is not None:
        # Two organisations of one Grafana may share receiver and group labels; the default one (1) stays
        # out of the identity so that the cards of single-organisation set-ups keep it.
        org_id = _legacy_int(doc, "orgId", _LEGACY_DEFAULT_ORG)
        if org_id != _LEGACY_DEFAULT_ORG:
            fields["orgId"] = org_id
    identity = _identity(fields, sender)
    return AlertGroup(
        source=source,
        identity=identity,
        status=status,
        receiver=receiver,
        group_labels=group_labels,
        common_labels=_pairs(doc, "commonLabels", "the payload"),
        common_annotations=_pairs(doc, "commonAnnotations", "the payload"),
        external_url=_opt_str(doc, "externalURL"),
        alerts=alerts_t,
        truncated=truncated,
        title=_opt_str(doc, "title") if grafana else None,
        message=_opt_str(doc, "message") if grafana else None,
        no_data=no_data,
        state=None,
        sender=sender,
        left_out=left_out,
    )


def _values_text(values: object) -> str | None:
    """Grafana's ``values`` map (refId -> number) as "A=1.5, B=2", sorted like Grafana's template."""
    if not isinstance(values, dict) or not values:
        return None
    parts = []
    for key in sorted(values, key=str):
        val = values[key]
        if isinstance(val, (int, float)):
            text = _num(val)
        elif val is None:
            text = "null"
        else:
            text = str(val) if isinstance(val, str) else _scalar_text(val)
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _parse_alert(raw: dict[str, Any], index: int, group_status: str | None) -> Alert:
    where = f"alert {index}"
    labels = _pairs(raw, "labels", where)
    st = raw.get("status")
    # An alert without a status (hand-written tests) shares the group's.
    status = _status(st, where) if st is not None else (group_status or "firing")
    value = _values_text(raw.get("values")) or _opt_str(raw, "valueString")
    return Alert(
        status=status,
        labels=labels,
        annotations=_pairs(raw, "annotations", where),
        fingerprint=_fingerprint(labels),
        starts_at=_time(raw, "startsAt"),
        ends_at=_time(raw, "endsAt"),
        generator_url=_opt_str(raw, "generatorURL"),
        silence_url=_opt_str(raw, "silenceURL"),
        dashboard_url=_opt_str(raw, "dashboardURL"),
        panel_url=_opt_str(raw, "panelURL"),
        image_url=_opt_str(raw, "imageURL"),
        value=value,
    )


def _legacy_int(doc: dict[str, Any], key: str, default: int | None) -> int:
    val = doc.get(key)
    if val is None and default is not None:
        return default
    if isinstance(val, bool):
        raise PayloadError(f"'{key}' must be an integer")
    if isinstance(val, int):
        return val
    if isinstance(val, float) and val.is_integer():
        return int(val)
    if isinstance(val, str) and re.fullmatch(r"-?[0-9]{1,18}", val):
        return int(val)
    raise PayloadError(f"'{key}' must be an integer")


def _eval_matches_text(matches: object) -> str | None:
    """Legacy evalMatches as "metric=value, metric=value"; malformed entries are skipped."""
    if not isinstance(matches, list):
        return None
    parts = []
    for m in matches:
        if not isinstance(m, dict):
            continue
        metric = m.get("metric")
        val = m.get("value")
        metric_s = metric if isinstance(metric, str) and metric else "value"
        if isinstance(val, (int, float)):
            val_s = _num(val)
        elif val is None:
            val_s = "null"
        elif isinstance(val, str):
            val_s = val
        else:
            continue
        parts.append(f"{metric_s}={val_s}")
    return ", ".join(parts) or None


def legacy_fingerprint(identity: str, state: str) -> str:
    """The legacy pseudo-alert's fingerprint: rule identity plus state.

    Including the state makes alerting <-> no_data a change of the firing set,
    so the card gets a comment when a rule loses or regains its data.
    """
    return hashlib.sha256(f"{identity}\n{state}".encode()).hexdigest()[:16]


def _parse_legacy(doc: dict[str, Any], sender: str | None = None) -> AlertGroup:
    """Grafana legacy alerting: one rule per payload, so one pseudo-alert per rule."""
    rule_id = _legacy_int(doc, "ruleId", None)
    org_id = _legacy_int(doc, "orgId", _LEGACY_DEFAULT_ORG)
    state = doc.get("state")
    if not isinstance(state, str) or state.lower() not in _LEGACY_STATES:
        raise PayloadError(
            "legacy Grafana 'state' must be one of alerting, ok, no_data, paused, pending"
        )
    state = state.lower()
    rule_name = _opt_str(doc, "ruleName")
    title = _opt_str(doc, "title")
    tags = _pairs(doc, "tags", "the payload")
    rule_url = _opt_str(doc, "ruleUrl", "rule_url")  # Grafana 4.0 sent snake case
    identity = _identity({"source": "grafana-legacy", "orgId": org_id, "ruleId": rule_id}, sender)

    if state in ("paused", "pending"):
        status = "ignored"
        alerts: tuple[Alert, ...] = ()
    else:
        status = "resolved" if state == "ok" else "firing"
        fp = legacy_fingerprint(identity, state)
        alerts = (
            Alert(
                status=status,
                labels=tags,
                annotations=(),
                fingerprint=fp,
                image_url=_opt_str(doc, "imageUrl", "image_url"),
                value=_eval_matches_text(doc.get("evalMatches")),
                rule_name=rule_name or title,
            ),
        )
    return AlertGroup(
        source="grafana-legacy",
        identity=identity,
        status=status,
        receiver="",
        group_labels=(),
        common_labels=tags,
        common_annotations=(),
        external_url=None,
        alerts=alerts,
        truncated=0,
        title=title,
        message=_opt_str(doc, "message"),
        no_data=state == "no_data",
        state=state,
        rule_url=rule_url,
        rule_name=rule_name or title,
        sender=sender,
    )


# --------------------------------------------------------------------------- firing set


def next_firing(group: AlertGroup, previous: frozenset[str] | None) -> frozenset[str]:
    """The fingerprints firing after this notification.

    A complete list (``truncated == 0``) is the whole truth: exactly the alerts
    whose own status is firing. A truncated list only tells about the alerts it
    holds, so earlier firing fingerprints stay unless this payload marks them
    resolved; a fingerprint both firing and resolved in one payload (two alerts
    with equal labels) stays firing, because dropping a firing alert is the
    worse mistake. An ignored group (legacy paused/pending) changes nothing.
    """
    prev = previous or frozenset()
    if group.status == "ignored":
        return prev
    firing = {a.fingerprint for a in group.alerts if a.status == "firing"}
    if group.truncated == 0:
        return frozenset(firing)
    resolved = {a.fingerprint for a in group.alerts if a.status == "resolved"}
    return frozenset((prev - resolved) | firing)


def encode_state(fps: frozenset[str]) -> str:
    """Firing fingerprints as a compact one-line string of [0-9a-f.] for the card marker.

    Sorted 16-hex fingerprints joined by "."; the empty set is "0" so the marker
    never holds an empty code span. Above STATE_MAX_FINGERPRINTS the set is
    replaced by one 64-hex sha256 digest (no dots), which decodes to None:
    "unknown", and the next complete notification restores an exact set.
    """
    items = sorted(fps)
    if not items:
        return "0"
    if len(items) > STATE_MAX_FINGERPRINTS or not all(_FP_RE.fullmatch(f) for f in items):
        return hashlib.sha256(".".join(items).encode("utf-8")).hexdigest()
    return ".".join(items)


def decode_state(s: str) -> frozenset[str] | None:
    """The inverse of encode_state; None for a digest, garbage or anything unexpected. Never raises."""
    if not isinstance(s, str):
        return None
    if s == "0":
        return frozenset()
    if len(s) > STATE_MAX_FINGERPRINTS * 17 or _DIGEST_RE.fullmatch(s):
        return None
    parts = s.split(".")
    if not all(_FP_RE.fullmatch(p) for p in parts):
        return None
    return frozenset(parts)
