"""The bridge end to end over real sockets: requests -> waitress -> BridgeApp -> TrelloClient -> Trello emulator.

What the bridge promises on the wire: one card per firing alert group, zero
writes for a repeat, a comment (and an updated card) when what fires changes,
comment + archive when resolved, 4xx only for the sender's mistakes, 503 for
every Trello problem, an answer within 25 s, and metrics to watch it all.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import grafana_bridge.app as app_module
from grafana_bridge.app import MAX_BODY, BridgeApp, Options
from grafana_bridge.payloads import parse
from jenkins_trello.cards import alert_key, read_marker

from .bridgeutil import (
    AUTH,
    BEARER_HEADERS,
    HMAC_SECRET,
    am_alert,
    am_payload,
    basic_header,
    bridge,
    bridge_app,
    fixture,
    fixture_names,
    free_port,
    hmac_headers,
    metric,
    serve,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent


def marker_of(card: dict) -> tuple[str, str]:
    lines = card["desc"].splitlines()
    assert lines[-1].startswith("`jenkins-trello:alert:"), "the marker must be the description's last line"
    marker = read_marker(card["desc"])
    assert marker is not None
    return marker


# --------------------------------------------------------------------------- every fixture

# fixture -> (action on an empty board, Trello reads, Trello writes)
EXPECTED = {
    "alertmanager-1.json": ("created", 2, 1),
    "alertmanager-2.json": ("created", 2, 1),
    "alertmanager-3.json": ("unchanged", 1, 0),  # resolved, no card: nothing to archive
    "alertmanager-4.json": ("unchanged", 1, 0),
    "alertmanager-5.json": ("created", 2, 1),
    "alertmanager-6.json": ("created", 2, 1),
    "alertmanager-7.json": ("unchanged", 1, 0),
    "grafana-legacy-1.json": ("created", 2, 1),
    "grafana-legacy-2.json": ("unchanged", 1, 0),  # ok without a card
    "grafana-legacy-3.json": ("created", 2, 1),
    "grafana-legacy-4.json": ("ignored", 0, 0),  # pending: no Trello request at all
    "grafana-legacy-5.json": ("ignored", 0, 0),  # paused
    "grafana-legacy-6.json": ("created", 2, 1),
    "grafana-legacy-7.json": ("created", 2, 1),
    "grafana-unified-1.json": ("created", 2, 1),
    "grafana-unified-2.json": ("created", 2, 1),
    "grafana-unified-3.json": ("unchanged", 1, 0),
    "grafana-unified-4.json": ("created", 2, 1),
    "grafana-unified-5.json": ("created", 2, 1),  # mixed: the one firing alert
    "grafana-unified-6.json": ("unchanged", 1, 0),
    "grafana-unified-7.json": ("created", 2, 1),
    "grafana-unified-8.json": ("created", 2, 1),
    "grafana-unified-9.json": ("created", 2, 1),
}


def test_expectations_cover_every_fixture():
    assert sorted(EXPECTED) == fixture_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_gets_the_right_answer_and_board(t, b, name):
    doc = fixture(name)
    group = parse(doc)
    action, reads, writes = EXPECTED[name]
    r = b.post(doc)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["status"] == "ok" and s["action"] == action
    assert s["source"] == group.source and s["groupStatus"] == group.status and s["group"] == group.name
    assert s["writes"] == writes
    assert (t.reads(), t.writes()) == (reads, writes), t.emu.request_log
    assert t.emu.count(path_prefix="/1/search") == 0
    cards = t.bridge_cards()
    if action != "created":
        assert cards == [] and s["card"] is None
        return
    assert len(cards) == 1
    card = cards[0]
    assert card["id"] == s["card"] and s["cardUrl"]
    assert card["idList"] == t.lists["To Do"]
    assert group.name[:40] in card["name"] and "\n" not in card["name"] and len(card["name"]) <= 200
    key, state = marker_of(card)
    assert key == alert_key(group.identity)
    firing = {a.fingerprint for a in group.firing_alerts()}
    assert s["firing"] == len(firing) == len(state.split("."))
    assert card["name"].startswith(("[FIRING", "[NO DATA]"))


# --------------------------------------------------------------------------- lifecycle


def test_identical_repeat_makes_zero_writes_and_one_read(t, b):
    first = b.post(fixture("alertmanager-1.json")).json()
    assert first["action"] == "created"
    t.emu.reset_log()
    r = b.post(fixture("alertmanager-1.json"))
    assert r.status_code == 200
    s = r.json()
    assert s["action"] == "unchanged" and s["writes"] == 0 and s["card"] == first["card"]
    assert t.writes() == 0 and t.reads() == 1 and len(t.emu.request_log) == 1
    # the find is one nested read (the board with its lists, visible cards, labels and members),
    # never the /cards/visible fallback or search
    (find,) = t.emu.request_log
    assert find.path == f"/1/boards/{t.board}" and find.query.get("cards") == "visible"
    assert find.query.get("lists") == "open" and find.query.get("labels") == "all"


def test_change_comments_and_updates_then_resolve_comments_and_archives(t, b):
    one = am_payload("DiskFull", [am_alert("DiskFull", instance="host-1")])
    s1 = b.post(one).json()
    assert s1["action"] == "created"
    card_id = s1["card"]

    two = am_payload("DiskFull", [am_alert("DiskFull", instance="host-1"), am_alert("DiskFull", instance="host-2")])
    t.emu.reset_log()
    s2 = b.post(two).json()
    assert s2["action"] == "updated" and s2["writes"] == 2 and s2["card"] == card_id and s2["firing"] == 2
    assert t.reads() == 1
    assert t.emu.count("POST", f"/1/cards/{card_id}/actions/comments") == 1
    assert t.emu.count("PUT", f"/1/cards/{card_id}") == 1
    card = t.emu.get_card(card_id)
    assert "host-2" in card["desc"] and "FIRING:2" in card["name"]
    assert len(marker_of(card)[1].split(".")) == 2
    comments = t.emu.comments(card_id)
    assert len(comments) == 1 and "1 started" in comments[0] and "host-2" in comments[0]

    resolved = am_payload("DiskFull", [am_alert("DiskFull", "resolved", instance="host-1"),
                                       am_alert("DiskFull", "resolved", instance="host-2")])
    t.emu.reset_log()
    s3 = b.post(resolved).json()
    assert s3["action"] == "archived" and s3["writes"] == 2 and s3["groupStatus"] == "resolved"
    assert t.reads() == 1
    assert t.emu.get_card(card_id)["closed"] is True
    assert t.emu.comments(card_id)[-1].startswith("Resolved")
    assert t.bridge_cards() == []

    # a resolved redelivery finds no open card: nothing to do
    t.emu.reset_log()
    s4 = b.post(resolved).json()
    assert s4["action"] == "unchanged" and t.writes() == 0


def test_legacy_lifecycle_alerting_no_data_paused_ok(t, b):
    alerting = fixture("grafana-legacy-1.json")
    s = b.post(alerting).json()
    assert s["action"] == "created"
    card_id = s["card"]
    assert b.post(alerting).json()["action"] == "unchanged"

    no_data = dict(alerting, state="no_data", evalMatches=[])
    s = b.post(no_data).json()
    assert s["action"] == "updated" and s["card"] == card_id
    card = t.emu.get_card(card_id)
    assert card["name"].startswith("[NO DATA]") and "**No data:**" in card["desc"]
    assert "state no data (was alerting)" in t.emu.comments(card_id)[-1]

    for state in ("paused", "pending"):
        t.emu.reset_log()
        s = b.post(dict(alerting, state=state)).json()
        assert s["action"] == "ignored" and s["writes"] == 0
        assert t.emu.request_log == [], f"{state} must make no Trello request"
    assert t.emu.get_card(card_id)["closed"] is False

    s = b.post(dict(alerting, state="ok", evalMatches=[])).json()
    assert s["action"] == "archived"
    assert t.emu.get_card(card_id)["closed"] is True
    assert t.emu.comments(card_id)[-1].startswith("Resolved")


def test_no_data_makes_a_card_with_a_note(t, b):
    doc = dict(fixture("grafana-legacy-1.json"), state="no_data", evalMatches=[])
    s = b.post(doc).json()
    assert s["action"] == "created"
    card = t.emu.get_card(s["card"])
    assert "**No data:**" in card["desc"] and card["name"].startswith("[NO DATA]")
    s = b.post(fixture("grafana-unified-9.json")).json()
    assert s["action"] == "created"
    assert "**No data:**" in t.emu.get_card(s["card"])["desc"]


def test_ignore_no_data_makes_no_card_and_no_request(t):
    with bridge(t, options=Options(ignore_no_data=True)) as b:
        t.emu.reset_log()
        for doc in (dict(fixture("grafana-legacy-1.json"), state="no_data", evalMatches=[]),
                    fixture("grafana-unified-9.json")):
            r = b.post(doc)
            assert r.status_code == 200 and r.json()["action"] == "ignored"
        assert t.emu.request_log == [] and t.bridge_cards() == []
        # real alerting still works
        assert b.post(fixture("grafana-legacy-1.json")).json()["action"] == "created"


def test_truncated_list_does_not_resolve_an_alert_it_left_out(t, b):
    hosts = [am_alert("Latency", instance=f"host-{i}") for i in range(3)]
    s = b.post(am_payload("Latency", hosts)).json()
    assert s["action"] == "created" and s["firing"] == 3
    card_id = s["card"]

    # the sender kept only host-0 (truncatedAlerts=2): host-1 and host-2 still fire
    t.emu.reset_log()
    s = b.post(am_payload("Latency", hosts[:1], truncated=2)).json()
    assert s["action"] == "unchanged" and s["firing"] == 3 and t.writes() == 0
    assert t.emu.get_card(card_id)["closed"] is False

    # an explicit resolved entry in a truncated list does count
    s = b.post(am_payload("Latency", [hosts[0], am_alert("Latency", "resolved", instance="host-1")],
                          truncated=1)).json()
    assert s["action"] == "updated" and s["firing"] == 2
    assert "1 stopped" in t.emu.comments(card_id)[-1]
    assert "not listed" in t.emu.get_card(card_id)["desc"]

    # a complete list is the whole truth again
    s = b.post(am_payload("Latency", [hosts[0]])).json()
    assert s["action"] == "updated" and s["firing"] == 1


def test_group_identity_ignores_group_key(t, b):
    s1 = b.post(am_payload("Api5xx", group_key='{}/{team="a"}:{alertname="Api5xx"}')).json()
    s2 = b.post(am_payload("Api5xx", group_key='{}/{team="b"}/{x="y"}:{alertname="Api5xx"}')).json()
    assert s1["action"] == "created" and s2["action"] == "unchanged" and s1["card"] == s2["card"]
    # Grafana test notifications carry a new groupKey each time
    doc = fixture("grafana-unified-2.json")
    s3 = b.post(doc).json()
    doc["groupKey"] = doc["groupKey"] + "2024-01-01 00:00:00 +0000 UTC m=+1.0"
    s4 = b.post(doc).json()
    assert s3["action"] == "created" and s4["action"] == "unchanged" and s3["card"] == s4["card"]
    assert len(t.bridge_cards()) == 2


def test_card_renamed_and_moved_by_a_person_is_still_found(t, b):
    s = b.post(am_payload("Queue", [am_alert("Queue", instance="a")])).json()
    card_id = s["card"]
    t.emu.human_rename(card_id, "looking into it (Ada)")
    t.emu.human_move(card_id, t.lists["Doing"])

    t.emu.reset_log()
    s = b.post(am_payload("Queue", [am_alert("Queue", instance="a")])).json()
    assert s["action"] == "unchanged" and s["card"] == card_id and t.writes() == 0

    s = b.post(am_payload("Queue", [am_alert("Queue", instance="a"), am_alert("Queue", instance="b")])).json()
    assert s["action"] == "updated" and s["card"] == card_id
    card = t.emu.get_card(card_id)
    assert card["idList"] == t.lists["Doing"], "an update must not move the card back"
    assert len(t.bridge_cards()) == 1

    s = b.post(am_payload("Queue", [am_alert("Queue", "resolved", instance="a")])).json()
    assert s["action"] == "archived" and t.emu.get_card(card_id)["closed"] is True


def test_card_archived_by_a_person_means_the_next_firing_makes_a_new_one(t, b):
    s1 = b.post(fixture("alertmanager-2.json")).json()
    t.emu.human_archive(s1["card"])
    s2 = b.post(fixture("alertmanager-2.json")).json()
    assert s2["action"] == "created" and s2["card"] != s1["card"]
    assert [c["id"] for c in t.bridge_cards()] == [s2["card"]]


# --------------------------------------------------------------------------- HTTP edges


@pytest.mark.parametrize("body", [b"not json{", b"\xff\xfe\x00garbage", b"", b"{'single': 'quotes'}"])
def test_non_json_is_400_with_a_one_line_reason(t, b, body):
    r = b.post(None, raw=body)
    assert r.status_code == 400
    reason = r.json()["error"]
    assert reason and "\n" not in reason
    assert t.emu.request_log == []


@pytest.mark.parametrize("doc", [{"hello": "world"}, [1, 2, 3], "alert", {"alerts": "nope"},
                                 {"ruleId": 1, "state": "melting"}, {"alerts": [], "version": "99"}])
def test_json_that_is_no_alert_payload_is_422(t, b, doc):
    r = b.post(doc)
    assert r.status_code == 422
    reason = r.json()["error"]
    assert reason and "\n" not in reason
    assert t.emu.request_log == []


def _chunks(total: int, size: int = 64 * 1024):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b" " * n
        sent += n


@pytest.mark.parametrize("server_limit", [True, False], ids=["serve-config", "no-server-limit"])
def test_body_over_1_mib_is_413_with_content_length_and_chunked(t, server_limit):
    adj = {} if server_limit else {"max_request_body_size": 1 << 30}  # the app alone enforces the limit
    b = serve(bridge_app(t), **adj)
    try:
        t.emu.reset_log()
        big = b" " * (MAX_BODY + 1)
        r = requests.post(b.url + "/alerts", data=big, headers=BEARER_HEADERS, timeout=30)
        assert r.status_code == 413
        r = requests.post(b.url + "/alerts", data=_chunks(MAX_BODY + 1), headers=BEARER_HEADERS, timeout=30)
        assert r.status_code == 413
        # exactly 1 MiB of valid JSON (padded with spaces) is accepted
        doc = json.dumps(fixture("alertmanager-6.json")).encode()
        ok = doc + b" " * (MAX_BODY - len(doc))
        r = requests.post(b.url + "/alerts", data=ok, headers=BEARER_HEADERS, timeout=30)
        assert r.status_code == 200, r.text
        r = requests.post(b.url + "/alerts", data=_chunks(len(ok)), headers=BEARER_HEADERS, timeout=30)
        assert r.status_code == 400  # all spaces: within the limit, but no JSON
        assert requests.get(b.url + "/healthz", timeout=5).status_code == 200
    finally:
        b.stop()


def test_unknown_path_404_wrong_method_405_with_allow(t, b):
    r = b.session.post(b.url + "/alert", json={}, headers=BEARER_HEADERS, timeout=5)
    assert r.status_code == 404 and "/alerts" in r.json()["error"]
    r = b.get("/alerts")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = b.session.put(b.url + "/alerts", json={}, headers=BEARER_HEADERS, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = b.session.post(b.url + "/healthz", timeout=5)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert t.emu.request_log == []


def test_healthz_is_200_without_credentials_and_without_trello(t, b):
    t.emu.stop()
    r = b.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert b.session.head(b.url + "/healthz", timeout=5).status_code == 200


def test_metrics_are_prometheus_text_with_requests_outcomes_trello_and_latency(t, b):
    b.post(fixture("alertmanager-1.json"))
    b.post(fixture("alertmanager-1.json"))
    b.post(None, raw=b"nope")
    b.post(fixture("alertmanager-1.json"), headers={"Authorization": "Bearer wrong"})
    r = b.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    assert metric(text, "grafana_bridge_http_requests_total", code="200", path="/alerts", method="POST") == 2
    assert metric(text, "grafana_bridge_http_requests_total", code="400", path="/alerts") == 1
    assert metric(text, "grafana_bridge_http_requests_total", code="401", path="/alerts") == 1
    assert metric(text, "grafana_bridge_webhooks_total", source="alertmanager", outcome="created") == 1
    assert metric(text, "grafana_bridge_webhooks_total", source="alertmanager", outcome="unchanged") == 1
    assert metric(text, "grafana_bridge_webhooks_total", source="unknown", outcome="rejected_400") == 1
    assert metric(text, "grafana_bridge_webhooks_total", source="unknown", outcome="rejected_401") == 1
    # find, create, re-read; find: every request on the wire, by method and outcome
    assert metric(text, "grafana_bridge_trello_requests_total") == len(t.emu.request_log) == 4
    assert metric(text, "grafana_bridge_trello_requests_total", method="GET", outcome="ok") == 3
    assert metric(text, "grafana_bridge_trello_requests_total", method="POST", outcome="ok") == 1
    assert metric(text, "grafana_bridge_trello_request_duration_seconds_count") == 4
    assert metric(text, "grafana_bridge_board_reads_total") == b.app.board_reads == 3  # the twin check re-reads
    buckets = [(s.labels["le"], s.value) for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == "grafana_bridge_request_duration_seconds_bucket" and s.labels["path"] == "/alerts"]
    assert len(buckets) >= 5
    values = [v for _, v in buckets]
    assert values == sorted(values), "histogram buckets are cumulative"
    count = metric(text, "grafana_bridge_request_duration_seconds_count", path="/alerts")
    assert dict(buckets)["+Inf"] == count == 4
    assert metric(text, "grafana_bridge_request_duration_seconds_sum", path="/alerts") > 0


# --------------------------------------------------------------------------- Trello faults


def test_trello_down_past_the_retry_budget_is_503_and_redelivery_lands_once(t):
    with bridge(t, retry_seconds=1.5) as b:
        t.emu.inject("503", times=None)
        started = time.monotonic()
        r = b.post(fixture("alertmanager-1.json"))
        took = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert "Retry-After" in r.headers and "Trello" in r.json()["error"]
        assert took < 5
        assert t.emu.count() >= 2, "the client retried"
        assert t.all_cards() == []
        r = b.post(fixture("alertmanager-1.json"))
        assert r.status_code == 503
        t.emu.clear_faults()
        s = b.post(fixture("alertmanager-1.json")).json()
        assert s["action"] == "created"
        s = b.post(fixture("alertmanager-1.json")).json()
        assert s["action"] == "unchanged"
        assert len(t.bridge_cards(include_closed=True)) == 1
        text = b.get("/metrics").text
        assert metric(text, "grafana_bridge_webhooks_total", outcome="trello_unavailable") == 2
        assert metric(text, "grafana_bridge_trello_requests_total", outcome="server_error") >= 4, "2 tries each"


@pytest.mark.parametrize("kind", ["500", "drop", "timeout"])
def test_trello_failures_are_never_4xx(t, kind):
    t.emu.timeout_delay = 1.0
    with bridge(t, retry_seconds=1.0) as b:
        t.emu.inject(kind, times=None)
        r = b.post(fixture("alertmanager-2.json"))
        assert r.status_code == 503
        t.emu.clear_faults()
        assert b.post(fixture("alertmanager-2.json")).status_code == 200
        assert len(t.bridge_cards()) == 1


def test_trello_auth_failure_is_503_not_4xx(t):
    from jenkins_trello.trello import TrelloClient

    client = TrelloClient("k" * 32, "wrong-token", t.emu.url, retry_seconds=1.0)
    with bridge(t, client=client) as b:
        r = b.post(fixture("alertmanager-2.json"))
        assert r.status_code == 503
        assert "wrong-token" not in r.text


def test_trello_429_waits_as_told_and_succeeds(t, b):
    t.emu.inject("429", times=1)
    started = time.monotonic()
    r = b.post(fixture("alertmanager-5.json"))
    assert r.status_code == 200 and r.json()["action"] == "created"
    assert time.monotonic() - started >= 1.0, "a 429 without Retry-After waits a share of the interval"
    assert b.app.client.stats.rate_limited == 1
    assert len(t.bridge_cards()) == 1


def test_create_whose_answer_is_lost_makes_a_twin_that_the_twin_check_archives(t, b):
    t.emu.inject("drop_after", method="POST", path=r"^/1/cards$", times=1)
    r = b.post(fixture("alertmanager-1.json"))
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["action"] == "created" and s["duplicatesArchived"] == 1
    all_cards = t.bridge_cards(include_closed=True)
    assert len(all_cards) == 2, "the lost answer made the retry create a second card"
    open_cards = t.bridge_cards()
    assert len(open_cards) == 1
    assert open_cards[0]["id"] == min(c["id"] for c in all_cards) == s["card"], "the oldest card wins"


def test_answer_seconds_bounds_the_answer_even_with_a_patient_client(t, monkeypatch):
    t.emu.timeout_delay = 30.0  # Trello hangs; the stop in teardown wakes the held request
    client = t.client(retry_seconds=60.0, timeout=10.0)
    monkeypatch.setattr(app_module, "ANSWER_SECONDS", 2.0)
    with bridge(t, client=client) as b:
        t.emu.inject("timeout", times=None)
        started = time.monotonic()
        r = b.post(fixture("alertmanager-1.json"))
        took = time.monotonic() - started
        assert r.status_code == 503
        assert 1.5 < took < 3.5, took
        t.emu.clear_faults()
    # the default client (its retry budget built from ANSWER_SECONDS) is bounded the same way
    b = serve(BridgeApp(t.config, AUTH))
    try:
        t.emu.inject("503", times=None)
        started = time.monotonic()
        r = b.post(fixture("alertmanager-1.json"))
        assert r.status_code == 503 and time.monotonic() - started < 3.5
    finally:
        b.stop()


def test_default_answer_budget_fits_the_senders_timeouts():
    assert app_module.ANSWER_SECONDS <= 25 - 2  # Grafana gives up at 30 s; the bridge promises 25 s


# --------------------------------------------------------------------------- auth over HTTP


def test_bearer_basic_and_hmac_are_accepted(t, b):
    doc = fixture("grafana-unified-2.json")
    body = json.dumps(doc).encode()
    now = int(time.time())
    accepted = [BEARER_HEADERS, basic_header(), hmac_headers(body), hmac_headers(body, stamp=now),
                {"Authorization": f"bearer {AUTH.token}"}]
    actions = []
    for headers in accepted:
        r = b.post(None, headers, raw=body)
        assert r.status_code == 200, (headers, r.text)
        actions.append(r.json()["action"])
    assert actions == ["created"] + ["unchanged"] * 4


@pytest.mark.parametrize("headers", [
    {"Authorization": None},
    {"Authorization": "Bearer nope"},
    {"Authorization": "Basic " + "Z3JhZmFuYTp3cm9uZw=="},
    {"Authorization": None, "X-Grafana-Alerting-Signature": "00" * 32},
], ids=["missing", "bad-bearer", "bad-basic", "bad-hmac"])
def test_wrong_credentials_are_401_with_no_trello_request(t, b, headers):
    r = b.post(fixture("grafana-unified-2.json"), headers)
    assert r.status_code == 401
    assert "WWW-Authenticate" in r.headers
    assert t.emu.request_log == []
    assert HMAC_SECRET not in r.text and AUTH.token not in r.text


def _bridge_env(t, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAFANA_BRIDGE_", "TRELLO_"))}
    env.update(TRELLO_API_KEY="k" * 32, TRELLO_TOKEN="t" * 64, TRELLO_BOARD=t.board, TRELLO_API_URL=t.emu.url,
               PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def test_serve_without_credentials_exits_2_with_one_line(t):
    cmd = [sys.executable, "-m", "grafana_bridge.cli", "serve", "--port", str(free_port())]
    p = subprocess.run(cmd, env=_bridge_env(t), cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "GRAFANA_BRIDGE_TOKEN" in lines[0] and "--no-auth" in lines[0]
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_serve_with_credentials_runs_on_waitress(t):
    port = free_port()
    cmd = [sys.executable, "-m", "grafana_bridge.cli", "serve", "--port", str(port), "--threads", "4"]
    p = subprocess.Popen(cmd, env=_bridge_env(t, GRAFANA_BRIDGE_TOKEN=AUTH.token), cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def up():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return True
            except OSError:
                return p.poll() is not None
        wait_until(up, 15, what="grafana-bridge serve to listen")
        assert p.poll() is None, p.stderr.read() if p.stderr else ""
        url = f"http://127.0.0.1:{port}"
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
        r = requests.post(url + "/alerts", json=fixture("alertmanager-6.json"), headers=BEARER_HEADERS, timeout=10)
        assert r.status_code == 200 and r.json()["action"] == "created"
        assert requests.post(url + "/alerts", json=fixture("alertmanager-6.json"), timeout=10).status_code == 401
    finally:
        p.terminate()
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
    assert "t" * 64 not in err and AUTH.token not in err
    start = json.loads(err.splitlines()[0])
    assert start["event"] == "start" and start["auth"] == ["bearer"]


def test_ignore_no_data_keeps_real_alerts_of_a_mixed_group(t):
    """--ignore-no-data drops DatasourceNoData alerts, not the whole group."""
    doc = fixture("grafana-unified-9.json")
    real = dict(doc["alerts"][0], labels={"alertname": "CPUHigh", "instance": "web-1"}, status="firing")
    mixed = dict(doc, alerts=[*doc["alerts"], real], status="firing")
    with bridge(t, options=Options(ignore_no_data=True)) as b:
        s = b.post(mixed).json()
        assert s["action"] == "created" and s["firing"] == 1


def test_firing_group_with_nothing_firing_opens_no_card_and_closes_an_open_one(t, b):
    host = am_alert("DiskFull", instance="db-1")
    assert b.post(am_payload("DiskFull", [host])).json()["action"] == "created"
    gone = dict(host, status="resolved", endsAt="2026-11-29T07:00:00Z")
    s = b.post(dict(am_payload("DiskFull", [gone]), status="firing")).json()
    assert s["action"] == "archived" and t.bridge_cards() == []
    s = b.post(dict(am_payload("Other", []), status="firing")).json()
    assert s["action"] == "unchanged" and t.bridge_cards() == []
