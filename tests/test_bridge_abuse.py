"""The bridge under hostile or unlucky input, end to end over real sockets.

No payload gives a 500 or a half-applied change; senders that share receiver
names keep separate cards; slow clients, alert storms and many large bodies at
once leave /healthz and real webhooks answered in time.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

import grafana_bridge.render as render_module
import grafana_bridge.server as server_module
from grafana_bridge.app import LARGE_BODY_SLOTS, BridgeApp
from grafana_bridge.auth import AuthConfig
from grafana_bridge.payloads import MAX_ALERTS, _canon
from jenkins_trello.cards import alert_key, read_marker

from .bridgeutil import (
    AUTH,
    BEARER,
    BEARER_HEADERS,
    HMAC_SECRET,
    am_alert,
    am_payload,
    bridge,
    bridge_app,
    fixture,
    fixture_names,
    hmac_headers,
    metric,
    serve,
    trello,
)


def _poison(doc: Any, bad: str = "\ud800") -> Any:
    """Every string (keys too) with a lone surrogate appended."""
    if isinstance(doc, str):
        return doc + bad
    if isinstance(doc, list):
        return [_poison(v, bad) for v in doc]
    if isinstance(doc, dict):
        return {k + bad if k not in ("status", "version", "state", "alerts", "ruleId") else k:
                _poison(v, bad) if k not in ("status", "version", "state") else v for k, v in doc.items()}
    return doc


def _code(b, code: str) -> int:
    return int(metric(b.get("/metrics").text, "grafana_bridge_http_requests_total", code=code, path="/alerts"))


# --------------------------------------------------------------------------- item 2: no 500, no half change


@pytest.mark.parametrize("name", fixture_names())
def test_lone_surrogates_in_every_string_of_every_fixture_are_answered_and_redelivery_writes_nothing(t, b, name):
    doc = fixture(name)
    poisoned = _poison(doc)
    # values only (keys intact) too: the fields the bridge reads all carry a surrogate
    values_only = json.loads(json.dumps(doc), object_hook=lambda d: {k: (v + "\udfff" if isinstance(v, str)
                                                                          and k not in ("status", "version", "state")
                                                                          else v) for k, v in d.items()})
    for body in (poisoned, values_only):
        raw = json.dumps(body).encode("ascii")  # JSON escapes: "\ud800"
        assert b"\\ud800" in raw or b"\\udfff" in raw
        first = b.post(None, raw=raw)
        assert first.status_code in (200, 400, 422), first.text
        assert "\ud800" not in first.text and "\udfff" not in first.text
        if first.status_code != 200:
            continue
        for card in t.all_cards():
            for text in (card["name"], card["desc"], *t.emu.comments(card["id"])):
                text.encode("utf-8")
        t.emu.reset_log()
        again = b.post(None, raw=raw)
        assert again.status_code == 200 and again.json()["writes"] == 0 and t.writes() == 0
    assert _code(b, "500") == 0


def test_a_surrogate_only_in_the_description_updates_the_card_once(t, b):
    # Before: the comment was written, then the update failed to encode: a 500, and every redelivery commented again.
    b.post(am_payload("Half", [am_alert("Half", instance="a")]))
    card = t.bridge_cards()[0]
    p = am_payload("Half", [am_alert("Half", instance="a"), am_alert("Half", instance="b")])
    p["commonAnnotations"] = {"summary": "broken \ud800 text"}
    p["externalURL"] = "http://am.test/\udc00"
    raw = json.dumps(p).encode()
    for n in range(3):
        r = b.post(None, raw=raw)
        assert r.status_code == 200, r.text
        assert r.json()["action"] == ("updated" if n == 0 else "unchanged")
    assert len(t.emu.comments(card["id"])) == 1
    now = t.emu.get_card(card["id"])
    assert now["name"].startswith("[FIRING:2]") and "broken \ufffd text" in now["desc"]


def test_a_refused_update_leaves_no_comment_and_the_redelivery_applies_it_once(t):
    with bridge(t, retry_seconds=0.5) as b:
        b.post(am_payload("Refused", [am_alert("Refused", instance="a")]))
        card = t.bridge_cards()[0]
        two = am_payload("Refused", [am_alert("Refused", instance="a"), am_alert("Refused", instance="b")])
        t.emu.inject("500", method="PUT", times=None)
        try:
            r = b.post(two)
            assert r.status_code == 503
            assert t.emu.comments(card["id"]) == [], "nothing written before the refused update"
        finally:
            t.emu.clear_faults()
        r = b.post(two)
        assert r.status_code == 200 and r.json()["action"] == "updated"
        assert len(t.emu.comments(card["id"])) == 1
        t.emu.reset_log()
        assert b.post(two).json()["writes"] == 0 and t.writes() == 0


def test_an_unexpected_error_is_a_500_logged_scrubbed_with_its_group_and_counted(t, b, monkeypatch, caplog):
    def boom(group, firing, limit=0):
        raise RuntimeError(f"render failed near {BEARER} and {t.config.token}")

    monkeypatch.setattr(render_module, "card_desc", boom)
    t.emu.reset_log()
    with caplog.at_level(logging.ERROR, logger="grafana_bridge"):
        r = b.post(am_payload("Kaboom", [am_alert("Kaboom", instance="secret-instance")]))
    assert r.status_code == 500
    assert r.json() == {"error": "unexpected error in the bridge (logged); deliver again"}
    assert t.writes() == 0
    logged = [json.loads(rec.getMessage()) for rec in caplog.records if "unexpected_error" in rec.getMessage()]
    assert len(logged) == 1 and logged[0]["group"] == "Kaboom" and logged[0]["source"] == "alertmanager"
    assert "RuntimeError" in logged[0]["traceback"] and "boom" in logged[0]["traceback"]
    assert BEARER not in logged[0]["traceback"] and t.config.token not in logged[0]["traceback"]
    assert _code(b, "500") == 1
    monkeypatch.undo()
    assert b.post(am_payload("Kaboom")).status_code == 200  # and the bridge is still up


def test_alerts_beyond_the_bound_are_left_out_with_a_reason_not_a_crash(t, b):
    alerts = [am_alert("Many", instance=f"h{i}") for i in range(MAX_ALERTS + 500)]
    started = time.monotonic()
    r = b.post(am_payload("Many", alerts))
    assert r.status_code == 200 and time.monotonic() - started < 25
    assert r.json()["alertsLeftOut"] == 500 and "first 1000" in r.json()["note"]
    desc = t.bridge_cards()[0]["desc"]
    assert "left 500 more out" in desc


# --------------------------------------------------------------------------- item 5: senders kept apart


def test_source_parameter_and_grafana_org_keep_senders_apart_and_old_cards_keep_their_identity(t, b):
    doc = fixture("grafana-unified-1.json")
    doc["orgId"] = 1
    plain = b.post(doc)
    assert plain.status_code == 200 and plain.json()["action"] == "created"
    # the identity single-instance set-ups already had: format, receiver, group labels -- nothing else
    old = _canon({"source": "grafana", "receiver": doc["receiver"], "groupLabels": doc["groupLabels"]})
    assert read_marker(t.emu.get_card(plain.json()["card"])["desc"])[0] == alert_key(old)
    assert b.post({k: v for k, v in doc.items() if k != "orgId"}).json()["action"] == "unchanged"
    cards = {plain.json()["card"]}
    for url_extra, body in (("?source=staging", doc), ("?source=prod", doc), ("", {**doc, "orgId": 2})):
        r = b.session.post(b.url + "/alerts" + url_extra, json=body, headers=BEARER_HEADERS, timeout=30)
        assert r.status_code == 200 and r.json()["action"] == "created", r.text
        cards.add(r.json()["card"])
    assert len(cards) == 4 and len(t.bridge_cards()) == 4
    assert "sender: staging" in "".join(c["desc"] for c in t.bridge_cards())
    am = fixture("alertmanager-2.json")
    a, c = (b.session.post(b.url + "/alerts" + q, json=am, headers=BEARER_HEADERS, timeout=30) for q in
            ("?source=cluster-a", "?source=cluster-b"))
    assert a.json()["card"] != c.json()["card"]


@pytest.mark.parametrize("query", ["source=", "source=a%20b", "source=" + "x" * 65, "source=a&source=b",
                                   "source=%F0%9F%94%A5", "source=../etc"])
def test_a_bad_source_is_a_400_with_a_reason_and_no_trello_request(t, b, query):
    t.emu.reset_log()
    r = b.session.post(b.url + "/alerts?" + query, json=am_payload("Src"), headers=BEARER_HEADERS, timeout=30)
    assert r.status_code == 400 and "source" in r.json()["error"]
    assert t.emu.request_log == []


def test_required_hmac_timestamp_over_the_wire(t):
    auth = AuthConfig(hmac_secret=HMAC_SECRET, hmac_require_timestamp=True)
    with bridge(t, auth=auth) as b:
        body = json.dumps(am_payload("Signed")).encode()
        r = b.post(None, hmac_headers(body), raw=body)
        assert r.status_code == 401 and "timestamp" in r.json()["error"]
        r = b.post(None, hmac_headers(body, stamp=int(time.time())), raw=body)
        assert r.status_code == 200
        r = b.post(None, hmac_headers(body, stamp=int(time.time()) - 3600), raw=body)
        assert r.status_code == 401


# --------------------------------------------------------------------------- item 6: abuse


class Slowloris:
    """Connections that send a request header one line every ``every`` seconds, never finishing it."""

    def __init__(self, url_port: int, count: int, every: float = 1.0) -> None:
        self.socks: list[socket.socket] = []
        self.closed_by_server = 0
        self._stop = threading.Event()
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", url_port), timeout=5)
            s.sendall(b"POST /alerts HTTP/1.1\r\nHost: x\r\n")
            self.socks.append(s)
        self._thread = threading.Thread(target=self._drip, args=(every,), daemon=True)
        self._thread.start()

    def _drip(self, every: float) -> None:
        n = 0
        while not self._stop.wait(every):
            n += 1
            for s in list(self.socks):
                try:
                    s.sendall(f"X-Slow-{n}: {n}\r\n".encode())
                except OSError:
                    self.socks.remove(s)
                    self.closed_by_server += 1
                    s.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()


def _timed_get(url: str) -> float:
    t0 = time.monotonic()
    r = requests.get(url, timeout=5)
    assert r.status_code == 200
    return time.monotonic() - t0


def test_slow_clients_cannot_starve_healthz_or_webhooks_and_are_cut_off(t, monkeypatch):
    monkeypatch.setattr(server_module, "REQUEST_SECONDS", 2.0)
    with bridge(t, threads=4) as b:
        slow = Slowloris(b.server.port, 300, every=0.5)
        try:
            waits = []
            for _ in range(10):
                waits.append(_timed_get(b.url + "/healthz"))
                time.sleep(0.1)
            t0 = time.monotonic()
            assert b.post(am_payload("Real")).status_code == 200
            assert time.monotonic() - t0 < 5
            assert max(waits) < 1.0, waits
            deadline = time.monotonic() + 10
            while slow.closed_by_server < 300 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert slow.closed_by_server == 300, "every slow connection is closed after the request deadline"
        finally:
            slow.stop()


def test_healthz_and_401s_answer_within_a_second_during_a_storm_against_a_rate_limited_trello():
    groups, senders = 60, 24
    with trello(rate_limit=True) as t:
        b = serve(BridgeApp(t.config, AUTH), threads=8)  # the production client: paced, full retry budget
        slow = Slowloris(b.server.port, 50, every=1.0)
        stop = threading.Event()
        health: list[float] = []
        unauth: list[float] = []

        def poll() -> None:
            while not stop.is_set():
                health.append(_timed_get(b.url + "/healthz"))
                t0 = time.monotonic()
                r = requests.post(b.url + "/alerts", json=am_payload("NoCreds"), timeout=5)
                assert r.status_code == 401
                unauth.append(time.monotonic() - t0)
                time.sleep(0.2)

        poller = threading.Thread(target=poll, daemon=True)
        try:
            poller.start()
            payloads = [am_payload(f"Storm{i:03d}", [am_alert(f"Storm{i:03d}", instance="x")]) for i in range(groups)]
            latencies: list[float] = []

            def send(p):
                t0 = time.monotonic()
                r = b.post(p, timeout=30)
                latencies.append(time.monotonic() - t0)
                return r.status_code

            with ThreadPoolExecutor(senders) as pool:
                codes = list(pool.map(send, payloads))
            stop.set()
            poller.join(10)
            print(f"storm: {groups} webhooks, max latency {max(latencies):.1f} s; healthz max {max(health):.3f} s "
                  f"over {len(health)}; 401 max {max(unauth):.3f} s")
            assert set(codes) <= {200, 503} and codes.count(200) >= groups * 0.9, codes
            assert max(latencies) < 25
            assert len(health) >= 5, "the storm lasted long enough to poll during it"
            assert max(health) < 1.0 and max(unauth) < 1.0
        finally:
            stop.set()
            slow.stop()
            b.stop()


def test_many_large_payloads_at_once_are_decoded_a_few_at_a_time_and_answered_in_time(t):
    app = bridge_app(t)
    inside, peak, lock = [0], [0], threading.Lock()
    real = app._decode

    def counting(environ, sender, deadline):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        try:
            time.sleep(0.05)  # hold the slot a moment so that overlaps show
            return real(environ, sender, deadline)
        finally:
            with lock:
                inside[0] -= 1

    app._decode = counting
    b = serve(app, threads=16)
    try:
        def big(i: int) -> bytes:
            alerts = [am_alert(f"Big{i}", instance=f"h{j}") for j in range(400)]
            for a in alerts:
                a["annotations"]["description"] = "x" * 1800
            raw = json.dumps(am_payload(f"Big{i}", alerts)).encode()
            assert 700_000 < len(raw) < 1024 * 1024
            return raw

        bodies = [big(i) for i in range(16)]

        def send(raw: bytes) -> tuple[int, float]:
            t0 = time.monotonic()
            r = b.post(None, raw=raw, timeout=30)
            return r.status_code, time.monotonic() - t0

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(send, bodies))
        assert all(code == 200 for code, _ in answers), answers
        assert max(s for _, s in answers) < 25
        assert 1 < peak[0] <= LARGE_BODY_SLOTS
    finally:
        b.stop()


def test_lambda_event_with_a_lone_surrogate_in_its_body_string_is_answered_not_crashed(t):
    from grafana_bridge.lambda_handler import call

    app = bridge_app(t)
    body = json.dumps(am_payload("Lambda\ud800"), ensure_ascii=False)
    event = {"version": "2.0", "rawPath": "/alerts", "requestContext": {"http": {"method": "POST"}},
             "headers": {"authorization": f"Bearer {BEARER}", "content-type": "application/json"}, "body": body}
    out = call(app, event)
    assert out["statusCode"] == 200, out
    assert "Lambda\ufffd" in t.bridge_cards()[0]["name"]
