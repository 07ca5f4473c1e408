"""Parsing the three webhook formats, the firing-set logic and its marker encoding."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grafana_bridge.payloads import (
    STATE_MAX_FINGERPRINTS,
    Alert,
    AlertGroup,
    PayloadError,
    decode_state,
    encode_state,
    legacy_fingerprint,
    next_firing,
    parse,
)

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


# name: (source, status, alerts, firing fingerprints, truncated, no_data, state)
EXPECTED = {
    "alertmanager-1": ("alertmanager", "firing", 2, 1, 0, False, None),  # two alerts, equal labels
    "alertmanager-2": ("alertmanager", "firing", 1, 1, 0, False, None),
    "alertmanager-3": ("alertmanager", "resolved", 1, 0, 0, False, None),
    "alertmanager-4": ("alertmanager", "resolved", 1, 0, 0, False, None),
    "alertmanager-5": ("alertmanager", "firing", 1, 1, 0, False, None),
    "alertmanager-6": ("alertmanager", "firing", 1, 1, 0, False, None),
    "alertmanager-7": ("alertmanager", "resolved", 1, 0, 0, False, None),
    "grafana-legacy-1": ("grafana-legacy", "firing", 1, 1, 0, False, "alerting"),
    "grafana-legacy-2": ("grafana-legacy", "resolved", 1, 0, 0, False, "ok"),
    "grafana-legacy-3": ("grafana-legacy", "firing", 1, 1, 0, False, "alerting"),
    "grafana-legacy-4": ("grafana-legacy", "ignored", 0, 0, 0, False, "pending"),
    "grafana-legacy-5": ("grafana-legacy", "ignored", 0, 0, 0, False, "paused"),
    "grafana-legacy-6": ("grafana-legacy", "firing", 1, 1, 0, False, "alerting"),
    "grafana-legacy-7": ("grafana-legacy", "firing", 1, 1, 0, False, "alerting"),
    "grafana-unified-1": ("grafana", "firing", 2, 2, 0, False, None),
    "grafana-unified-2": ("grafana", "firing", 1, 1, 0, False, None),
    "grafana-unified-3": ("grafana", "resolved", 1, 0, 0, False, None),
    "grafana-unified-4": ("grafana", "firing", 3, 3, 0, False, None),
    "grafana-unified-5": ("grafana", "firing", 3, 1, 0, False, None),
    "grafana-unified-6": ("grafana", "resolved", 1, 0, 1, False, None),
    "grafana-unified-7": ("grafana", "firing", 1, 1, 0, False, None),
    "grafana-unified-8": ("grafana", "firing", 2, 2, 0, False, None),
    "grafana-unified-9": ("grafana", "firing", 2, 2, 0, True, None),
}


def test_every_fixture_is_covered():
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name):
    source, status, n_alerts, n_firing, truncated, no_data, state = EXPECTED[name]
    group = parse(load(name))
    assert isinstance(group, AlertGroup)
    assert group.source == source
    assert group.status == status
    assert len(group.alerts) == n_alerts
    assert len(next_firing(group, None)) == n_firing
    assert group.truncated == truncated
    assert group.no_data is no_data
    assert group.state == state
    for alert in group.alerts:
        assert alert.status in ("firing", "resolved")
        assert len(alert.fingerprint) == 16 and int(alert.fingerprint, 16) >= 0
        assert list(alert.labels) == sorted(alert.labels)
        assert list(alert.annotations) == sorted(alert.annotations)
    json.loads(group.identity)  # canonical JSON


def test_grafana_unified_1_details():
    g = parse(load("grafana-unified-1"))
    assert g.receiver == "My Super Webhook"
    assert g.group_labels == ()
    assert g.common_labels == (("team", "blue"),)
    assert g.external_url == "https://play.grafana.org/"
    assert g.title == "[FIRING:2]  (blue)"
    assert g.message.startswith("**Firing**")
    a = g.alerts[0]
    assert a.name == "High memory usage"
    assert a.labels == (("alertname", "High memory usage"), ("team", "blue"), ("zone", "us-1"))
    assert a.value == "B=44.23943737541908, C=1"
    assert a.ends_at is None  # Go zero time
    assert a.starts_at == "2021-10-12T09:51:03.157076+02:00"
    assert a.dashboard_url is None and a.panel_url is None  # "" counts as absent
    assert a.silence_url.startswith("https://play.grafana.org/alerting/silence/new")
    assert a.generator_url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    # our own fingerprint, not the sender's
    assert a.fingerprint != "c6eadffa33fcdf37"


def test_grafana_unified_7_values_and_urls():
    a = parse(load("grafana-unified-7")).alerts[0]
    assert a.value == "A=2473545728, B=0, C=1, minute=9"  # `values` preferred over valueString
    assert a.dashboard_url == "https://play.grafana.org/d/ece9fb32-7f71-4be9-bd94-2f23608ae5b9?orgId=1"
    assert a.panel_url.endswith("viewPanel=2")
    assert a.image_url == "https://grafana.com/assets/img/blog/mixed_styles.png"


def test_grafana_8_value_string_when_values_absent():
    a = parse(load("grafana-unified-8")).alerts[0]
    assert a.value == "[ metric='' labels={} value=14151.331895396988 ]"
    assert parse(load("grafana-unified-9")).alerts[0].value is None  # valueString ""


def test_unified_6_status_wins_over_state():
    g = parse(load("grafana-unified-6"))
    assert g.status == "resolved"  # state "alerting" is a test-path oddity
    assert g.truncated == 1
    assert g.receiver == ""
    assert g.alerts[0].ends_at == "2022-08-31T10:30:00.52288431Z"


def test_alertmanager_details():
    g = parse(load("alertmanager-3"))
    assert g.receiver == "web\\.hook"
    assert g.group_labels == (("alertname", "Deployment"),)
    assert g.title is None and g.message is None and g.state is None
    assert g.alerts[0].ends_at == "2022-07-29T11:17:27.3Z"
    old = parse(load("alertmanager-4"))  # no fingerprint, no truncatedAlerts
    assert old.truncated == 0 and old.alerts[0].fingerprint
    assert parse(load("alertmanager-6")).alerts[0].name == "alert"  # no alertname label
    assert parse(load("alertmanager-5")).alerts[0].ends_at == "2018-11-04T22:46:58.283995108+01:00"


def test_legacy_details():
    g = parse(load("grafana-legacy-1"))
    assert g.identity == json.dumps(
        {"orgId": 1, "ruleId": 1, "source": "grafana-legacy"}, separators=(",", ":")
    )
    assert g.rule_url.startswith("http://localhost:3000/d/hZ7BuVbWz/")
    assert g.title == "[Alerting] Panel Title alert"
    assert g.message == "Notification Message"
    assert g.name == "Panel Title alert"
    a = g.alerts[0]
    assert a.name == "Panel Title alert"
    assert a.value == "Count=1"
    assert a.labels == (("tag name", "tag value"),)
    assert a.image_url == "https://grafana.com/assets/img/blog/mixed_styles.png"
    assert a.fingerprint == legacy_fingerprint(g.identity, "alerting")
    assert parse(load("grafana-legacy-3")).alerts[0].value == "High value=100, Higher Value=200"


def test_legacy_missing_org_defaults_to_1():
    g7 = parse(load("grafana-legacy-7"))
    assert json.loads(g7.identity) == {"orgId": 1, "ruleId": 0, "source": "grafana-legacy"}
    doc = load("grafana-legacy-1")
    del doc["orgId"]
    assert parse(doc).identity == parse(load("grafana-legacy-1")).identity


def test_legacy_states():
    base = load("grafana-legacy-1")
    groups = {}
    for state in ("alerting", "ok", "no_data", "paused", "pending"):
        doc = dict(base, state=state)
        groups[state] = parse(doc)
    assert groups["alerting"].status == "firing" and not groups["alerting"].no_data
    assert groups["no_data"].status == "firing" and groups["no_data"].no_data
    assert groups["ok"].status == "resolved"
    assert groups["paused"].status == groups["pending"].status == "ignored"
    ids = {g.identity for g in groups.values()}
    assert len(ids) == 1  # one card per rule, whatever the state
    # alerting <-> no_data is a change of the firing set
    a = next_firing(groups["alerting"], None)
    n = next_firing(groups["no_data"], a)
    assert a and n and a != n
    assert next_firing(groups["ok"], n) == frozenset()
    # paused / pending change nothing
    assert next_firing(groups["paused"], n) == n
    assert next_firing(groups["pending"], None) == frozenset()


def test_legacy_snake_case_4x_fields_and_string_ids():
    doc = {"title": "[Alerting] x", "ruleId": "7", "ruleName": "x", "state": "Alerting",
           "evalMatches": [{"metric": "m", "value": None}, "junk", {"value": {"a": 1}}],
           "rule_url": "http://g/r", "image_url": "http://g/i.png"}
    g = parse(doc)
    assert json.loads(g.identity)["ruleId"] == 7
    assert g.state == "alerting"
    assert g.rule_url == "http://g/r"
    assert g.alerts[0].image_url == "http://g/i.png"
    assert g.alerts[0].value == "m=null"


# --------------------------------------------------------------------------- identity


def test_identity_stable_between_firing_and_resolved():
    fired, resolved = parse(load("grafana-unified-2")), parse(load("grafana-unified-3"))
    assert fired.identity == resolved.identity
    assert fired.alerts[0].fingerprint == resolved.alerts[0].fingerprint
    assert parse(load("alertmanager-1")).identity == parse(load("alertmanager-7")).identity
    assert parse(load("alertmanager-4")).identity == parse(load("alertmanager-5")).identity


def test_identity_ignores_group_key_and_label_order():
    doc = load("grafana-unified-7")
    other = copy.deepcopy(doc)
    other["groupKey"] = "{}/{something=\"else\"}:{whatever}"
    other["groupLabels"] = dict(reversed(list(doc["groupLabels"].items())))
    assert parse(doc).identity == parse(other).identity


def test_identity_differs_by_receiver_labels_and_format():
    doc = load("grafana-unified-7")
    base = parse(doc).identity
    assert parse(dict(doc, receiver="Other")).identity != base
    assert parse(dict(doc, groupLabels={"alertname": "Memory (copy)"})).identity != base
    am = dict(doc, version="4")
    del am["orgId"]
    assert parse(am).source == "alertmanager"
    assert parse(am).identity != base  # same receiver and labels, other format: other card


def test_fingerprint_same_across_formats():
    g = parse(load("grafana-unified-2"))
    am = load("grafana-unified-2")
    am["version"] = "4"
    assert parse(am).alerts[0].fingerprint == g.alerts[0].fingerprint


# --------------------------------------------------------------------------- format detection


def test_format_by_shape_without_version():
    doc = load("grafana-unified-1")
    del doc["version"]
    assert parse(doc).source == "grafana"
    doc = load("alertmanager-1")
    del doc["version"]
    assert parse(doc).source == "alertmanager"


def test_version_decides_when_present():
    doc = load("alertmanager-2")
    doc["orgId"] = 1
    assert parse(doc).source == "alertmanager"
    doc = load("grafana-unified-2")
    del doc["orgId"], doc["state"], doc["title"]
    assert parse(doc).source == "grafana"


@pytest.mark.parametrize(
    "doc, reason",
    [
        ([], "expected a JSON object"),
        ("x", "expected a JSON object"),
        (None, "expected a JSON object"),
        ({}, "no 'alerts' list or 'ruleId'"),
        ({"hello": "world"}, "no 'alerts' list or 'ruleId'"),
        ({"alerts": {}}, "'alerts' must be a list"),
        ({"alerts": None}, "'alerts' must be a list"),
        ({"alerts": [1]}, "alert 0 is not an object"),
        ({"alerts": [], "version": "5"}, "unsupported webhook version"),
        ({"alerts": [], "version": [1]}, "'version' must be a string"),
        ({"alerts": [], "receiver": 3}, "'receiver' must be a string"),
        ({"alerts": [], "status": "weird"}, "payload 'status'"),
        ({"alerts": [{"status": 1}]}, "alert 0 'status'"),
        ({"alerts": [], "groupLabels": []}, "'groupLabels' in the payload must be an object"),
        ({"alerts": [{"labels": "a=b"}]}, "'labels' in alert 0 must be an object"),
        ({"alerts": [{"labels": {1: "x"}}]}, "non-string name"),
        ({"alerts": [], "truncatedAlerts": "3"}, "'truncatedAlerts' must be an integer"),
        ({"ruleId": 1}, "'state' must be one of"),
        ({"ruleId": 1, "state": "firing"}, "'state' must be one of"),
        ({"ruleId": "one", "state": "ok"}, "'ruleId' must be an integer"),
        ({"ruleId": True, "state": "ok"}, "'ruleId' must be an integer"),
        ({"ruleId": 1, "state": "ok", "orgId": "x"}, "'orgId' must be an integer"),
        ({"ruleId": 1, "state": "ok", "tags": [1]}, "'tags' in the payload must be an object"),
    ],
)
def test_wrong_shapes_give_one_line_reasons(doc, reason):
    with pytest.raises(PayloadError) as exc:
        parse(doc)
    msg = str(exc.value)
    assert reason in msg
    assert "\n" not in msg


def test_reason_does_not_echo_values():
    with pytest.raises(PayloadError) as exc:
        parse({"alerts": [], "version": "secret-ish-version"})
    assert "secret-ish" not in str(exc.value)


# --------------------------------------------------------------------------- liberal optional fields


def test_minimal_hand_written_payload():
    g = parse({"alerts": [{"labels": {"alertname": "A"}}]})
    assert g.source == "alertmanager"
    assert g.status == "firing"  # derived
    assert g.alerts[0].status == "firing"
    assert g.receiver == "" and g.external_url is None and g.truncated == 0
    g = parse({"status": "resolved", "alerts": [{"labels": {"alertname": "A"}}]})
    assert g.alerts[0].status == "resolved"  # an alert without status shares the group's


def test_optional_fields_of_wrong_type_are_ignored():
    doc = load("grafana-unified-2")
    a = doc["alerts"][0]
    a.update(generatorURL=5, silenceURL=None, dashboardURL=[], values="x", valueString=7,
             startsAt=None, fingerprint=None)
    doc.update(externalURL={}, title=3, message=None, truncatedAlerts=None, commonAnnotations=None)
    g = parse(doc)
    assert g.alerts[0].generator_url is None and g.alerts[0].value is None
    assert g.external_url is None and g.title is None and g.truncated == 0


def test_label_values_are_coerced_to_text():
    g = parse({"alerts": [{"labels": {"a": 1, "b": 1.5, "c": True, "d": None, "e": [1, "x"], "f": 2.0}}]})
    assert dict(g.alerts[0].labels) == {"a": "1", "b": "1.5", "c": "true", "d": "", "e": '[1,"x"]', "f": "2"}


def test_unicode_labels():
    g = parse({"receiver": "équipe", "groupLabels": {"service": "日本"},
               "alerts": [{"status": "firing", "labels": {"alertname": "Ünïcode 🔥"}}]})
    assert g.alerts[0].name == "Ünïcode 🔥"
    assert "日本" in g.identity and "équipe" in g.identity  # ensure_ascii=False


def test_negative_truncated_clamped_and_float_accepted():
    assert parse({"alerts": [], "truncatedAlerts": -3}).truncated == 0
    assert parse({"alerts": [], "truncatedAlerts": 2.0}).truncated == 2


def test_huge_annotation_and_many_alerts_fast():
    alerts = [
        {"status": "firing" if i % 3 else "resolved",
         "labels": {"alertname": "Many", "instance": f"host-{i}"},
         "annotations": {"summary": "s" * 100}}
        for i in range(1000)
    ]
    alerts[0]["annotations"]["description"] = "x" * 1_000_000
    doc = {"version": "4", "receiver": "r", "status": "firing", "alerts": alerts,
           "groupLabels": {"alertname": "Many"}}
    t = time.perf_counter()
    g = parse(doc)
    assert time.perf_counter() - t < 1.0
    assert len(g.alerts) == 1000
    firing = next_firing(g, None)
    assert len(firing) == 666
    assert len(dict(g.alerts[0].annotations)["description"]) == 1_000_000


def test_deep_nesting_in_label_value_is_a_payload_error_or_text():
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    try:
        g = parse({"alerts": [{"labels": {"a": deep}}]})
    except PayloadError:
        return
    assert isinstance(g, AlertGroup)


# --------------------------------------------------------------------------- next_firing


def _group(alerts, truncated=0, status="firing"):
    return AlertGroup(
        source="alertmanager", identity="x", status=status, receiver="", group_labels=(),
        common_labels=(), common_annotations=(), external_url=None,
        alerts=tuple(Alert(status=s, labels=(), annotations=(), fingerprint=f) for f, s in alerts),
        truncated=truncated,
    )


def test_next_firing_complete_list_is_the_truth():
    g = _group([("a" * 16, "firing"), ("b" * 16, "resolved")])
    assert next_firing(g, frozenset({"c" * 16, "b" * 16})) == {"a" * 16}


def test_next_firing_truncated_keeps_unmentioned():
    g = _group([("a" * 16, "firing"), ("b" * 16, "resolved")], truncated=5)
    prev = frozenset({"b" * 16, "c" * 16})
    assert next_firing(g, prev) == {"a" * 16, "c" * 16}
    assert next_firing(g, None) == {"a" * 16}


def test_next_firing_firing_wins_over_resolved_duplicate():
    g = _group([("a" * 16, "resolved"), ("a" * 16, "firing")], truncated=1)
    assert next_firing(g, frozenset({"a" * 16})) == {"a" * 16}


fps = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
alert_lists = st.lists(st.tuples(fps, st.sampled_from(["firing", "resolved"])), max_size=20)


@settings(max_examples=200, deadline=None)
@given(alert_lists, st.one_of(st.none(), st.frozensets(fps, max_size=20)))
def test_next_firing_complete_property(alerts, prev):
    g = _group(alerts)
    assert next_firing(g, prev) == {f for f, s in alerts if s == "firing"}


@settings(max_examples=200, deadline=None)
@given(alert_lists, st.frozensets(fps, max_size=20), st.integers(1, 10_000))
def test_next_firing_truncated_property(alerts, prev, truncated):
    g = _group(alerts, truncated=truncated)
    out = next_firing(g, prev)
    resolved = {f for f, s in alerts if s == "resolved"}
    firing = {f for f, s in alerts if s == "firing"}
    assert prev - resolved <= out  # never drops a previous fingerprint not marked resolved
    assert firing <= out
    assert out <= prev | firing


# --------------------------------------------------------------------------- state encoding


def test_encode_examples():
    assert encode_state(frozenset()) == "0"
    assert decode_state("0") == frozenset()
    assert decode_state("") is None  # no state at all: unknown
    s = encode_state(frozenset({"b" * 16, "a" * 16}))
    assert s == "a" * 16 + "." + "b" * 16


def test_encode_too_many_is_a_digest():
    many = frozenset(f"{i:016x}" for i in range(STATE_MAX_FINGERPRINTS + 1))
    s = encode_state(many)
    assert len(s) == 64 and set(s) <= set("0123456789abcdef")
    assert decode_state(s) is None
    exact = frozenset(list(many)[:STATE_MAX_FINGERPRINTS])
    assert decode_state(encode_state(exact)) == exact


@pytest.mark.parametrize("garbage", [
    "x", "abc", "a" * 15, "a" * 17, "a" * 16 + ".", "." + "a" * 16, "A" * 16, "a" * 16 + "..",
    "", " 0", "0 ", "\n", "`", "a" * 100_000, None, 5, b"0",
])
def test_decode_garbage_is_none(garbage):
    assert decode_state(garbage) is None


@settings(max_examples=200, deadline=None)
@given(st.frozensets(fps, max_size=STATE_MAX_FINGERPRINTS))
def test_encode_decode_roundtrip(fs):
    s = encode_state(fs)
    assert set(s) <= set("0123456789abcdef.")
    assert "\n" not in s and s
    assert decode_state(s) == fs


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_decode_never_raises(s):
    out = decode_state(s)
    assert out is None or isinstance(out, frozenset)


def test_real_fingerprints_roundtrip():
    for name in EXPECTED:
        g = parse(load(name))
        fs = next_firing(g, None)
        assert decode_state(encode_state(fs)) == fs


# --------------------------------------------------------------------------- parse never crashes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
keys = st.sampled_from([
    "alerts", "ruleId", "state", "status", "receiver", "version", "groupLabels", "commonLabels",
    "labels", "annotations", "truncatedAlerts", "orgId", "values", "evalMatches", "tags", "endsAt",
])
shaped = st.recursive(
    json_values,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=5),
    max_leaves=15,
)
# near-valid payloads, so that the accepting paths are exercised too
alert_like = st.dictionaries(
    st.sampled_from(["status", "labels", "annotations", "values", "valueString", "startsAt", "endsAt",
                     "generatorURL", "fingerprint"]),
    st.sampled_from(["firing", "resolved", None, 1, "", "0001-01-01T00:00:00Z"])
    | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    max_size=6,
)
near_valid = st.one_of(
    st.fixed_dictionaries(
        {"alerts": st.lists(alert_like, max_size=4)},
        optional={"version": st.sampled_from(["1", "4", 4, "2"]), "status": st.sampled_from(["firing", "resolved"]),
                  "receiver": st.text(max_size=5), "groupLabels": st.dictionaries(st.text(max_size=5), json_values,
                                                                                 max_size=3),
                  "truncatedAlerts": st.integers(-2, 5), "orgId": st.integers(0, 3)},
    ),
    st.fixed_dictionaries(
        {"ruleId": st.integers(0, 5) | st.text(max_size=3),
         "state": st.sampled_from(["alerting", "ok", "no_data", "paused", "pending", "bad"])},
        optional={"orgId": st.integers(0, 3), "evalMatches": json_values, "tags": json_values},
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, shaped, near_valid))
def test_parse_only_returns_group_or_payload_error(doc):
    try:
        g = parse(doc)
    except PayloadError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(g, AlertGroup)
    assert g.status in ("firing", "resolved", "ignored")
    assert g.source in ("alertmanager", "grafana", "grafana-legacy")
    next_firing(g, None)


# --------------------------------------------------------------------------- hostile text, senders, organisations

from grafana_bridge.payloads import MAX_ALERTS, clean, sender_problem  # noqa: E402


def fixture(name: str) -> dict:
    return load(name.removesuffix(".json"))


def _am(**over):
    doc = {"version": "4", "status": "firing", "receiver": "trello", "groupLabels": {"alertname": "X"},
           "alerts": [{"status": "firing", "labels": {"alertname": "X", "instance": "a"}}]}
    doc.update(over)
    return doc


def test_clean_replaces_every_lone_surrogate_in_keys_and_values_and_leaves_valid_text_alone():
    doc = json.loads('{"a\\ud800": ["\\udfff x", {"k": "\\ud83d\\ude00 ok \\ud83d"}], "n": 1}')
    out = clean(doc)
    assert out == {"a\ufffd": ["\ufffd x", {"k": "\U0001f600 ok \ufffd"}], "n": 1}
    json.dumps(out, ensure_ascii=False).encode("utf-8")  # encodes now


@pytest.mark.parametrize("field", ["receiver", "group", "label", "annotation", "url", "time"])
def test_lone_surrogates_anywhere_parse_to_valid_text_with_a_stable_identity(field):
    doc = _am()
    bad = "\ud800bad\udc00"
    if field == "receiver":
        doc["receiver"] = bad
    elif field == "group":
        doc["groupLabels"] = {"alertname": bad}
    elif field == "label":
        doc["alerts"][0]["labels"]["instance"] = bad
    elif field == "annotation":
        doc["alerts"][0]["annotations"] = {"summary": bad}
    elif field == "url":
        doc["externalURL"] = "http://x/" + bad
    else:
        doc["alerts"][0]["startsAt"] = bad
    g1, g2 = parse(doc), parse(json.loads(json.dumps(doc)))
    assert g1.identity == g2.identity
    g1.identity.encode("utf-8")
    for text in (g1.receiver, g1.name, *(v for _, v in g1.alerts[0].labels), g1.external_url or "",
                 g1.alerts[0].starts_at or "", *(v for _, v in g1.alerts[0].annotations)):
        text.encode("utf-8")


def test_grafana_org_joins_the_identity_only_when_it_is_not_the_default_one():
    base = fixture("grafana-unified-1.json")
    base.pop("orgId", None)
    plain = parse(base).identity
    assert parse({**base, "orgId": 1}).identity == plain
    assert parse({**base, "orgId": "1"}).identity == plain
    assert parse({**base, "orgId": None}).identity == plain
    org2 = parse({**base, "orgId": 2}).identity
    assert org2 != plain and parse({**base, "orgId": 2.0}).identity == org2
    assert parse({**base, "orgId": 3}).identity not in (plain, org2)
    with pytest.raises(PayloadError, match="orgId"):
        parse({**base, "orgId": "second"})


def test_alertmanager_identity_ignores_an_org_id():
    assert parse(_am(orgId=7)).identity == parse(_am()).identity


def test_sender_joins_the_identity_only_when_given_in_every_format():
    for name in ("alertmanager-1.json", "grafana-unified-1.json", "grafana-legacy-1.json"):
        doc = fixture(name)
        plain = parse(doc)
        staging, prod = parse(doc, "staging"), parse(doc, "prod")
        assert plain.identity == parse(doc, None).identity
        assert len({plain.identity, staging.identity, prod.identity}) == 3
        assert staging.sender == "staging" and plain.sender is None


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "-lead", "staging/1", "é", "a\nb", "a;b", "%41"])
def test_bad_senders_are_refused_with_a_reason_that_does_not_echo_them(bad):
    reason = sender_problem(bad)
    assert reason and "source" in reason and (not bad or bad not in reason)
    with pytest.raises(PayloadError):
        parse(_am(), bad)


@pytest.mark.parametrize("good", ["staging", "prod-eu.1", "A_b", "x" * 64, "0"])
def test_good_senders_pass(good):
    assert sender_problem(good) is None


def test_alerts_beyond_the_bound_count_as_left_out_not_resolved():
    alerts = [{"status": "firing", "labels": {"alertname": "X", "i": str(i)}} for i in range(MAX_ALERTS + 250)]
    g = parse(_am(alerts=alerts, truncatedAlerts=5))
    assert len(g.alerts) == MAX_ALERTS and g.left_out == 250 and g.truncated == 255
    prev = frozenset({"f" * 16})
    assert prev <= next_firing(g, prev), "a firing alert left out stays firing"


@pytest.mark.parametrize("value", [1e308, -1, 2**62, True, None, 3.5, [1, {"a": None}], {"x": [True]}, "NaN"])
def test_numbers_and_junk_where_strings_belong_parse_or_refuse_never_crash(value):
    for doc in (_am(receiver=value), _am(externalURL=value), _am(groupLabels={"alertname": value}),
                _am(alerts=[{"status": "firing", "labels": {"alertname": value}, "startsAt": value,
                             "annotations": {"summary": value}, "generatorURL": value}])):
        try:
            g = parse(doc)
        except PayloadError as exc:
            assert "\n" not in str(exc)
        else:
            g.identity.encode("utf-8")
