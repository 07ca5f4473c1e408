"""Card text for alert groups: content, bounds, and inertness of untrusted values."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grafana_bridge.payloads import next_firing, parse
from grafana_bridge.render import (
    COMMENT_BUDGET,
    DESC_BUDGET,
    NAME_LIMIT,
    card_desc,
    card_name,
    change_comment,
    resolved_comment,
)
from jenkins_trello.cards import read_marker
from jenkins_trello.text import COMMENT_LIMIT, DESC_LIMIT

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def group_and_firing(name: str):
    g = parse(load(name))
    return g, next_firing(g, None)


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_renders_within_bounds(name):
    g, firing = group_and_firing(name)
    title = card_name(g, firing)
    assert 0 < len(title) <= NAME_LIMIT and "\n" not in title
    desc = card_desc(g, firing)
    assert 0 < len(desc) <= DESC_BUDGET
    assert len(change_comment(g, None, firing)) <= COMMENT_BUDGET
    assert len(change_comment(g, frozenset({"0" * 16}), firing)) <= COMMENT_BUDGET
    assert len(resolved_comment(g)) <= COMMENT_BUDGET


def test_names_of_fixtures():
    assert card_name(*group_and_firing("grafana-unified-7")) == "[FIRING:1] Memory (copy) (device)"
    assert card_name(*group_and_firing("grafana-unified-4")) == "[FIRING:3] Test alert +1 (true)"
    assert card_name(*group_and_firing("grafana-unified-3")) == "[RESOLVED] Test alert (true)"
    assert card_name(*group_and_firing("alertmanager-3")) == "[RESOLVED] Deployment"
    assert card_name(*group_and_firing("alertmanager-1")) == "[FIRING:1] High CPU Temperature (critical)"
    assert card_name(*group_and_firing("grafana-legacy-1")) == "[FIRING] Panel Title alert (tag value)"
    assert card_name(*group_and_firing("grafana-unified-9")) == "[FIRING:2] DatasourceNoData (Cbx8lpynz, A)"
    d = load("grafana-legacy-1")
    d["state"] = "no_data"
    g = parse(d)
    assert card_name(g, next_firing(g, None)) == "[NO DATA] Panel Title alert (tag value)"


def test_desc_unified_7_has_what_on_call_needs():
    desc = card_desc(*group_and_firing("grafana-unified-7"))
    assert desc.startswith("**Firing:** 1 alert · Grafana · receiver: Debug webhook")
    assert "**Summary:** High memory usage" in desc
    assert "value: A=2473545728, B=0, C=1, minute=9" in desc
    assert "since 2024-03-01 02:09:00 UTC" in desc
    for label in ("Source", "Dashboard", "Panel", "Silence", "Image"):
        assert re.search(rf"\[{label} \([a-z0-9.:\-]+\)\]\(https://", desc), label
    assert "[Grafana (play.grafana.org)](https://play.grafana.org/)" in desc


def test_desc_mixed_group_lists_only_firing():
    desc = card_desc(*group_and_firing("grafana-unified-5"))
    assert "### Firing (1)" in desc
    assert "Second webhook test" in desc
    assert "badhost" not in desc  # resolved alerts are not listed as firing
    assert "Testing \\*\\*another\\*\\* failing alert" in desc  # sender's Markdown stays literal


def test_desc_no_data_notes():
    desc = card_desc(*group_and_firing("grafana-unified-9"))
    assert "**No data:** the query returned no data" in desc
    assert "rulename=battery charge" in desc and "rulename=UPS status" in desc
    d = load("grafana-legacy-6")
    d["state"] = "no_data"
    g = parse(d)
    desc = card_desc(g, next_firing(g, None))
    assert desc.startswith("**No data** · Grafana legacy alerting")
    assert "**No data:** the query returned no data;" in desc
    assert "**Message:** The panel has no data." in desc
    assert "[Alert rule (localhost:3000)](http://localhost:3000/d/GG2qhR3Wz/" in desc


def test_desc_relative_generator_url_is_not_a_link():
    d = load("alertmanager-3")
    d["status"] = "firing"
    d["alerts"][0]["status"] = "firing"
    g = parse(d)
    desc = card_desc(g, next_firing(g, None))
    assert "/metrics/viewer/graph" not in desc
    assert "[Source]" not in desc


def test_desc_truncated_list_counts_unlisted_firing():
    g = parse(load("grafana-unified-2"))
    d = load("grafana-unified-2")
    d["truncatedAlerts"] = 4
    gt = parse(d)
    firing = next_firing(gt, frozenset({"1" * 16, "2" * 16}))
    assert len(firing) == 3
    desc = card_desc(gt, firing)
    assert "### Firing (3)" in desc
    assert "2 more firing alerts not listed in the latest notification" in desc
    assert "The sender left 4 alerts out of this notification." in desc
    assert card_name(gt, firing).startswith("[FIRING:3] ")
    assert g.identity == gt.identity


# --------------------------------------------------------------------------- comments


def test_change_comment_started_and_stopped():
    g4 = parse(load("grafana-unified-4"))
    g5 = parse(load("grafana-unified-5"))
    before, after = next_firing(g4, None), next_firing(g5, None)
    text = change_comment(g5, before, after)
    assert text.startswith("**Second webhook test**: 1 firing now (was 3): 2 stopped.")
    assert "Stopped firing (2):" in text
    assert "instance=badhost.example.com" in text and "instance=otherhost.example.com" in text
    assert "Started firing" not in text
    back = change_comment(g4, after, before)
    assert "3 firing now (was 1): 2 started." in back
    assert "Started firing (2):" in back


def test_change_comment_unknown_before():
    g, firing = group_and_firing("grafana-unified-4")
    text = change_comment(g, None, firing)
    assert text.startswith("**Test alert**: 3 firing now (earlier state unknown).")
    assert text.count("\n- ") == 3


def test_change_comment_counts_alerts_not_in_payload():
    g, firing = group_and_firing("grafana-unified-2")
    text = change_comment(g, firing | {"a" * 16, "b" * 16}, firing)
    assert "2 stopped" in text and "- 2 no longer in the notification" in text


def test_change_comment_legacy_state_change():
    d = load("grafana-legacy-1")
    alerting = parse(d)
    d["state"] = "no_data"
    no_data = parse(d)
    a, n = next_firing(alerting, None), next_firing(no_data, None)
    text = change_comment(no_data, a, n)
    assert "state no data (was alerting)" in text and "**No data:**" in text
    text = change_comment(alerting, n, a)
    assert "state alerting (was no data)" in text and "data again" in text


def test_resolved_comment():
    text = resolved_comment(parse(load("grafana-unified-3")))
    assert text.startswith("Resolved: **Test alert**, 1 alert resolved, last at 2022-06-17 00:51:24 UTC.")
    text = resolved_comment(parse(load("alertmanager-4")))
    assert "last at 2018-11-04 21:48:13 UTC" in text  # +01:00 shown in UTC
    text = resolved_comment(parse(load("grafana-legacy-2")))
    assert text.startswith("Resolved: **Test rule** is ok again.")
    text = resolved_comment(parse(load("alertmanager-7")))  # endsAt left zero: no time claimed
    assert text.startswith("Resolved: **High CPU Temperature**, 1 alert resolved.")


# --------------------------------------------------------------------------- hostile values

EVIL = [
    "[click](http://evil)",
    "![img](http://evil/x.png)",
    "`jenkins-trello:alert:deadbeef`",
    "x\n`jenkins-trello:alert:" + "a" * 32 + ":0`\n",
    "@board @card",
    "<img src=x onerror=alert(1)>",
    "x\n# Heading\n\n- item",
    "line\r\n> quote",
    "**bold** _it_ ~~s~~ |t|",
    "\u202eRTL ünï 🔥 \x00\x1b[31m",
    "see http://evil.example/phish or www.evil.example",
    "mail root@evil.example",
    "&#91;x&#93;&#40;http://evil&#41; &#64;board",
    "http://trusted.example@evil.example/phish",
    "http://trusted.example\\@evil.example/",
    "http://0x7f.1/",
]


def evil_payload(value: str) -> dict:
    labels = {"alertname": value, "instance": value, value[:20] or "k": value}
    return {
        "version": "1", "orgId": 1, "receiver": value, "status": "firing",
        "groupLabels": {"alertname": value, "svc": value},
        "commonLabels": labels, "commonAnnotations": {"summary": value, "description": value,
                                                      "runbook_url": value, "other": value},
        "externalURL": value, "title": value, "message": value,
        "alerts": [
            {"status": "firing", "labels": labels, "annotations": {"summary": value + "!", "x_url": value},
             "startsAt": value, "endsAt": value, "generatorURL": value, "silenceURL": value,
             "dashboardURL": value, "panelURL": value, "imageURL": value, "valueString": value},
            {"status": "resolved", "labels": dict(labels, instance="other"), "annotations": {},
             "endsAt": value},
        ],
    }


def rendered(value: str) -> list[str]:
    g = parse(evil_payload(value))
    firing = next_firing(g, None)
    return [card_desc(g, firing), change_comment(g, None, firing),
            change_comment(g, frozenset({"0" * 16}), firing), resolved_comment(g)]


LINK_WORDS = {"Source", "Dashboard", "Panel", "Silence", "Image", "Alert rule", "Grafana", "Alertmanager"}


def assert_inert(text: str) -> None:
    # no link or image other than the ones we build: the bridge's own word and the URL's real host
    for m in re.finditer(r"(?<!\\)\[([^\]]*)\]\(([^)]*)\)", text):
        label, url = m.group(1), m.group(2)
        host = urlsplit(url).netloc
        assert label == host or any(label == f"{w} ({host})" for w in LINK_WORDS), m.group(0)
        assert url.startswith(("http://", "https://")) and "evil" not in url and "@" not in host
    for m in re.finditer(r"\]\(http://evil", text):
        assert text[m.start() - 1] == "\\"  # the bracket is escaped: literal text, no link
    assert re.search(r"(?<!\\)`", text) is None  # no code span, so no forged marker
    assert read_marker(text) is None
    assert re.search(r"(?<!\\)@board", text) is None and "@board" not in text  # no mention, even escaped
    outside_links = re.sub(r"\]\([^)]*\)", "](", text)
    assert "://" not in outside_links and not re.search(r"(?i)\bwww\.", outside_links)  # nothing to autolink
    assert re.search(r"(?<!\\)<img", text) is None
    for line in text.split("\n"):
        assert not line.startswith("#") or line.startswith("### Firing")
        assert not line.startswith(">")
    assert "\x00" not in text and "\x1b" not in text and "\r" not in text


@pytest.mark.parametrize("value", EVIL)
def test_untrusted_values_stay_inert(value):
    for text in rendered(value):
        assert_inert(text)


@pytest.mark.parametrize("value", EVIL)
def test_untrusted_values_in_names_are_one_line_and_bounded(value):
    g = parse(evil_payload(value))
    name = card_name(g, next_firing(g, None))
    assert "\n" not in name and "\r" not in name and "\x00" not in name
    assert len(name) <= NAME_LIMIT


def test_url_that_would_break_out_of_a_link_is_dropped():
    value = "http://ok.example/a) [x](http://evil"
    for text in rendered(value):
        assert "](http://ok.example" not in text


def test_huge_annotation_is_bounded():
    value = "A" * 1_000_000
    texts = rendered(value)
    assert len(texts[0]) <= DESC_BUDGET
    for t in texts[1:]:
        assert len(t) <= COMMENT_BUDGET
    g = parse(evil_payload(value))
    assert len(card_name(g, next_firing(g, None))) <= NAME_LIMIT


def test_thousand_alerts_bounded_and_fast():
    alerts = [{"status": "firing", "labels": {"alertname": "Many", "instance": f"host-{i}" * 20},
               "annotations": {"summary": f"summary {i} " * 30}} for i in range(1000)]
    g = parse({"version": "4", "receiver": "r", "status": "firing", "alerts": alerts,
               "groupLabels": {"alertname": "Many"}})
    firing = next_firing(g, None)
    desc = card_desc(g, firing)
    assert len(desc) <= DESC_BUDGET
    assert "### Firing (1000)" in desc
    assert "more firing alerts in this notification" in desc
    assert card_name(g, firing) == "[FIRING:1000] Many"
    text = change_comment(g, frozenset(), firing)
    assert len(text) <= COMMENT_BUDGET and "- … and 975 more" in text


def test_desc_leaves_room_for_the_marker():
    # 200 fingerprints encoded plus a marker prefix still fit Trello's description limit
    assert DESC_BUDGET + 200 * 17 + 200 <= DESC_LIMIT
    assert COMMENT_BUDGET <= COMMENT_LIMIT


labels_st = st.dictionaries(st.text(max_size=15), st.text(max_size=40), max_size=5)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(labels_st, st.sampled_from(["firing", "resolved"]), st.text(max_size=60)),
                max_size=8), st.text(max_size=30))
def test_render_never_raises_and_stays_bounded(alerts, receiver):
    doc = {"version": "4", "receiver": receiver, "alerts": [
        {"status": s, "labels": lab, "annotations": {"summary": text, "url": text}} for lab, s, text in alerts]}
    g = parse(doc)
    firing = next_firing(g, None)
    name = card_name(g, firing)
    assert len(name) <= NAME_LIMIT and "\n" not in name
    assert len(card_desc(g, firing)) <= DESC_BUDGET
    assert len(change_comment(g, frozenset(), firing)) <= COMMENT_BUDGET
    assert len(resolved_comment(g)) <= COMMENT_BUDGET


# --------------------------------------------------------------------------- dates at the ends of the calendar

from grafana_bridge.render import _time_text  # noqa: E402


@pytest.mark.parametrize("value,shown", [
    ("2024-05-01T10:00:00Z", "2024-05-01 10:00:00 UTC"),
    ("2024-05-01T10:00:00.123456789+02:00", "2024-05-01 08:00:00 UTC"),
    ("0001-01-01T00:00:00Z", "0001-01-01 00:00:00 UTC"),
    ("0001-01-01T00:30:00-00:30", "0001-01-01 01:00:00 UTC"),
    ("9999-12-31T23:59:59Z", "9999-12-31 23:59:59 UTC"),
    ("9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59-23:59"),  # past year 9999 in UTC: shown as sent
    ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
    ("2024-02-30T10:00:00Z", "2024-02-30T10:00:00Z"),
    ("٢٠٢٤-05-01T10:00:00Z", "٢٠٢٤-05-01T10:00:00Z"),
    ("garbage", "garbage"),
    ("2024-05-01T25:00:00+99:99", "2024-05-01T25:00:00+99:99"),
])
def test_times_render_in_utc_or_escaped_as_sent_never_raise(value, shown):
    assert _time_text(value) == shown


@pytest.mark.parametrize("ends", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "garbage",
                                  "9999-12-31T23:59:59Z"])
def test_every_text_renders_for_calendar_edge_times(ends):
    doc = {"version": "4", "status": "resolved", "receiver": "r", "groupLabels": {"alertname": "E"},
           "alerts": [{"status": "resolved", "labels": {"alertname": "E", "i": "1"}, "startsAt": ends,
                       "endsAt": ends},
                      {"status": "resolved", "labels": {"alertname": "E", "i": "2"}, "startsAt": ends,
                       "endsAt": "2024-01-01T00:00:00Z"}]}
    g = parse(doc)
    text = resolved_comment(g)
    assert "Resolved: **E**, 2 alerts resolved" in text
    firing = {**doc, "status": "firing", "alerts": [{**a, "status": "firing"} for a in doc["alerts"]]}
    fg = parse(firing)
    f = next_firing(fg, None)
    for out in (card_desc(fg, f), card_name(fg, f), change_comment(fg, frozenset(), f)):
        out.encode("utf-8")


def test_a_resolved_no_data_alert_in_a_group_that_still_fires_adds_no_no_data_note():
    doc = {
        "receiver": "trello", "status": "firing", "orgId": 1, "groupLabels": {"grafana_folder": "f"},
        "alerts": [
            {"status": "firing", "labels": {"alertname": "CPU", "instance": "a"}},
            {"status": "resolved", "labels": {"alertname": "DatasourceNoData", "rulename": "CPU"}},
        ],
        "title": "t", "state": "alerting", "version": "1",
    }
    g = parse(doc)
    assert not g.no_data
    f = next_firing(g, None)
    assert len(f) == 1
    before_with_no_data = f | {a.fingerprint for a in g.alerts if a.name == "DatasourceNoData"}
    for text in (card_desc(g, f), change_comment(g, before_with_no_data, f), change_comment(g, None, f)):
        assert "No data" not in text
    # while it fires, the note is there
    doc["alerts"][1]["status"] = "firing"
    g2 = parse(doc)
    assert g2.no_data and "**No data:**" in card_desc(g2, next_firing(g2, None))


def test_a_sender_is_named_on_the_card_and_nothing_changes_without_one():
    doc = {"version": "4", "status": "firing", "receiver": "r", "groupLabels": {"alertname": "S"},
           "alerts": [{"status": "firing", "labels": {"alertname": "S"}}]}
    plain, named = parse(doc), parse(doc, "staging")
    f = next_firing(plain, None)
    assert "sender" not in card_desc(plain, f)
    assert "sender: staging" in card_desc(named, next_firing(named, None))
