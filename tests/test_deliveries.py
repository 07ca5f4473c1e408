"""``GET /deliveries``: the ring, filters and renderers (pure), then the page over real sockets.

The e2e part runs requests -> waitress -> BridgeApp -> TrelloClient -> Trello
emulator, as ``grafana-bridge serve`` does.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from grafana_bridge import deliveries as dl
from grafana_bridge.app import Options
from grafana_bridge.auth import AuthConfig
from grafana_bridge.wsgi import from_env
from jenkins_trello.config import ConfigError

from .bridgeutil import (
    BEARER,
    BEARER_HEADERS,
    HMAC_SECRET,
    KEY,
    PASSWORD,
    TOKEN,
    USER,
    am_payload,
    basic_header,
    bridge,
    fixture,
    hmac_headers,
    trello,
)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _d(n: int, code: int = 200, subject: str = "", **kw) -> dl.Delivery:
    return dl.Delivery(time=1_700_000_000 + n, source="alertmanager", subject=subject or f"group-{n}",
                       route=kw.pop("route", "default"), code=code, action=kw.pop("action", "created"), **kw)


# --------------------------------------------------------------------------- pure


def test_ring_keeps_the_latest_newest_first_and_counts_what_it_let_go():
    log = dl.DeliveryLog(3)
    for n in range(5):
        log.record(_d(n))
    assert [d.subject for d in log.latest()] == ["group-4", "group-3", "group-2"]
    assert log.recorded == 5 and log.capacity == 3


def test_ring_of_zero_keeps_nothing():
    log = dl.DeliveryLog(0)
    log.record(_d(1))
    assert log.latest() == [] and log.recorded == 1


def test_ring_is_safe_for_many_threads():
    log = dl.DeliveryLog(50)

    def work(base: int) -> None:
        for n in range(200):
            log.record(_d(base + n))

    threads = [threading.Thread(target=work, args=(i * 1000,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.recorded == 1600 and len(log.latest()) == 50


def test_filters_errors_only_and_text_any_case():
    ds = [_d(1), _d(2, 422, action="rejected", reason="no known alert payload"),
          _d(3, 503, subject="DiskFull", action="failed", reason="Trello unavailable"),
          _d(4, subject="CPU", route="oncall"), _d(5, action="ignored", reason="route sandbox skips")]
    assert [d.code for d in dl.select(ds, errors_only=True)] == [422, 503]
    assert [d.subject for d in dl.select(ds, text="diskfull")] == ["DiskFull"]
    assert [d.subject for d in dl.select(ds, text="ONCALL")] == ["CPU"]  # route
    assert [d.subject for d in dl.select(ds, text="sandbox")] == ["group-5"]  # reason
    assert [d.subject for d in dl.select(ds, text="rejected")] == ["group-2"]  # action
    assert dl.select(ds, errors_only=True, text="cpu") == []
    assert dl.select(ds, text="  ") == ds


def test_from_answer_reads_summaries_and_refusals():
    ok = dl.from_answer(5.0, 200, {"source": "grafana", "group": "G", "route": "r1", "action": "created",
                                   "cardUrl": "https://trello.com/c/abc"}, {"sender": "prod"}, 3, 12.34)
    assert (ok.source, ok.subject, ok.route, ok.action, ok.card_url, ok.trello_requests, ok.ms, ok.sender) == (
        "grafana", "G", "r1", "created", "https://trello.com/c/abc", 3, 12.3, "prod")
    skipped = dl.from_answer(5.0, 200, {"group": "G", "route": "sandbox", "action": "ignored",
                                        "reason": "route sandbox skips"}, {}, 0, 1)
    assert skipped.reason == "route sandbox skips"
    paused = dl.from_answer(5.0, 200, {"group": "G", "groupStatus": "ignored", "action": "ignored"}, {}, 0, 1)
    assert "changes nothing" in paused.reason
    rejected = dl.from_answer(5.0, 422, {"error": "not an alert payload"}, {}, 0, 1)
    assert (rejected.action, rejected.reason, rejected.subject, rejected.route) == (
        "rejected", "not an alert payload", "", None)
    failed = dl.from_answer(5.0, 503, {"error": "Trello unavailable"}, {"source": "alertmanager", "group": "G"}, 4, 1)
    assert (failed.action, failed.subject, failed.source, failed.failed) == ("failed", "G", "alertmanager", True)
    assert dl.from_answer(5.0, 500, {"error": "x"}, {}, 0, 1).action == "error"
    long = dl.from_answer(5.0, 422, {"error": "x" * 5000}, {}, 0, 1)
    assert len(long.reason) <= dl.MAX_TEXT


def test_html_escapes_sender_text_and_links_only_http():
    ds = [_d(1, subject=XSS, reason=XSS, route=XSS, card_url="javascript:alert(1)"),
          _d(2, card_url='https://trello.com/c/a"b')]
    page = dl.render_html(ds, capacity=200, recorded=2, text=XSS)
    assert "<script>" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;" in page
    assert "javascript:" not in page
    assert 'href="https://trello.com/c/a&quot;b"' in page
    assert '<meta http-equiv="refresh" content="10">' in page
    assert "<script" not in page.lower() and "http-equiv" in page  # no script of ours either
    assert 'name="errors"' in page and 'name="q"' in page


def test_html_marks_errors_and_says_when_empty():
    page = dl.render_html([_d(1, 401, action="rejected", reason="invalid bearer token")], capacity=5, recorded=1)
    assert '<tr class="err">' in page and "invalid bearer token" in page
    assert "no deliveries yet" in dl.render_html([], capacity=5, recorded=0)
    assert "match these filters" in dl.render_html([], capacity=5, recorded=3, errors_only=True)


def test_json_shape():
    doc = dl.to_json([_d(2, sender="prod")], capacity=5, recorded=9, errors_only=True, text="q")
    assert doc["capacity"] == 5 and doc["recorded"] == 9 and doc["filters"] == {"errors": True, "q": "q"}
    row = doc["deliveries"][0]
    assert row["time"] == "2023-11-14T22:13:22Z" and row["sender"] == "prod" and row["trelloRequests"] == 0
    assert set(row) == {"time", "source", "sender", "subject", "route", "code", "action", "reason", "cardUrl",
                        "trelloRequests", "ms"}


@pytest.mark.parametrize("raw,want", [("", 200), ("0", 0), (" 25 ", 25), ("10000", 10000)])
def test_capacity_from_env(raw, want):
    assert dl.capacity_from_env({dl.ENV: raw}) == want


@pytest.mark.parametrize("raw", ["-1", "10001", "many", "1.5"])
def test_capacity_from_env_refuses_nonsense(raw):
    with pytest.raises(ConfigError, match=dl.ENV):
        dl.capacity_from_env({dl.ENV: raw})


def test_the_app_from_env_keeps_the_configured_number():
    env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": "AbCdEf12", "GRAFANA_BRIDGE_TOKEN": BEARER,
           dl.ENV: "7"}
    assert from_env(env).deliveries.capacity == 7


# --------------------------------------------------------------------------- over real sockets


def _json(b, path: str = "/deliveries", headers=None, **kw):
    r = b.session.get(b.url + path, headers={**BEARER_HEADERS, "Accept": "application/json", **(headers or {})},
                      timeout=10, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_deliveries_json_newest_first_with_what_was_done():
    with trello() as t, bridge(t) as b:
        assert b.post(am_payload("DiskFull")).status_code == 200
        assert b.post(am_payload("DiskFull")).status_code == 200  # a repeat: unchanged
        assert b.post({"hello": "world"}).status_code == 422
        assert b.post(am_payload("DiskFull"), headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert b.post(am_payload("CPU"), raw=b"{not json").status_code == 400
        assert b.get("/healthz").status_code == 200  # not a delivery
        rows = _json(b)["deliveries"]
    assert [(r["code"], r["action"]) for r in rows] == [
        (400, "rejected"), (401, "rejected"), (422, "rejected"), (200, "unchanged"), (200, "created")]
    created, repeat = rows[4], rows[3]
    assert created["subject"] == "DiskFull" and created["source"] == "alertmanager" and created["route"] == "default"
    assert created["cardUrl"].startswith("http") and created["trelloRequests"] == 3  # find, create, twin check
    assert repeat["trelloRequests"] == 1 and repeat["cardUrl"] == created["cardUrl"]
    assert rows[1]["reason"] == "invalid bearer token" and rows[1]["trelloRequests"] == 0
    assert "body is not JSON" in rows[0]["reason"]
    assert all(r["ms"] >= 0 for r in rows)


def test_deliveries_filters_over_http():
    with trello() as t, bridge(t) as b:
        b.post(am_payload("DiskFull"))
        b.post(am_payload("CPUHot"))
        b.post({"nope": 1})
        errors = _json(b, "/deliveries?errors=1")["deliveries"]
        cpu = _json(b, "/deliveries?q=cpuhot")["deliveries"]
        both = _json(b, "/deliveries?errors=1&q=DiskFull")["deliveries"]
    assert [r["code"] for r in errors] == [422]
    assert [r["subject"] for r in cpu] == ["CPUHot"]
    assert both == []


def test_deliveries_bound_is_respected():
    with trello() as t, bridge(t, deliveries_kept=3) as b:
        for n in range(5):
            b.post(am_payload(f"G{n}"))
        doc = _json(b)
    assert [r["subject"] for r in doc["deliveries"]] == ["G4", "G3", "G2"]
    assert doc["capacity"] == 3 and doc["recorded"] == 5


def test_deliveries_html_for_a_browser_json_on_request():
    with trello() as t, bridge(t) as b:
        b.post(am_payload(XSS))
        page = b.session.get(b.url + "/deliveries", headers={**BEARER_HEADERS, "Accept": "text/html,*/*"},
                             timeout=10)
        by_format = b.session.get(b.url + "/deliveries?format=json", headers=BEARER_HEADERS, timeout=10)
        forced_html = b.session.get(b.url + "/deliveries?format=html",
                                    headers={**BEARER_HEADERS, "Accept": "application/json"}, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert "&lt;script&gt;" in page.text and "<script>" not in page.text
    assert by_format.json()["deliveries"][0]["subject"] == XSS  # JSON carries the text as text
    assert forced_html.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("headers,want", [
    ({"Authorization": None}, 401),
    ({"Authorization": "Bearer wrong"}, 401),
    (basic_header(USER, "wrong-password"), 401),
    (basic_header(), 200),
    (BEARER_HEADERS, 200),
])
def test_deliveries_behind_bearer_or_basic(headers, want):
    with trello() as t, bridge(t) as b:
        hdrs = {k: v for k, v in {**BEARER_HEADERS, **headers}.items() if v is not None}
        r = b.session.get(b.url + "/deliveries?format=json", headers=hdrs, timeout=10)
    assert r.status_code == want
    if want == 401:
        assert r.headers["WWW-Authenticate"] == 'Basic realm="grafana-bridge"'  # a browser then asks


def test_deliveries_with_only_an_hmac_secret_say_what_to_set():
    with trello() as t, bridge(t, auth=AuthConfig(hmac_secret=HMAC_SECRET)) as b:
        body = json.dumps(am_payload("Signed")).encode()
        assert b.post(None, raw=body, headers=hmac_headers(body)).status_code == 200
        r = b.session.get(b.url + "/deliveries", headers=hmac_headers(b""), timeout=10)
    assert r.status_code == 401
    assert "GRAFANA_BRIDGE_TOKEN" in r.json()["error"] and "GRAFANA_BRIDGE_USER" in r.json()["error"]


def test_deliveries_open_with_no_auth():
    with trello() as t, bridge(t, options=Options(no_auth=True)) as b:
        b.post(am_payload("Open"), headers={"Authorization": None})
        r = b.session.get(b.url + "/deliveries?format=json", timeout=10)
    assert r.status_code == 200 and r.json()["deliveries"][0]["subject"] == "Open"


def test_deliveries_never_show_a_secret_a_query_or_a_body():
    marker_in_body = "body-only-value-7f3a"
    with trello() as t, bridge(t) as b:
        payload = am_payload("Leaky")
        payload["commonAnnotations"] = {"description": marker_in_body}
        b.post(payload)
        b.post(payload, headers=basic_header())
        b.post(payload, headers={"Authorization": f"Bearer {BEARER}x"})  # wrong, and close to the real one
        b.session.post(b.url + f"/alerts?source=prod&token={TOKEN}", json=payload, headers=BEARER_HEADERS,
                       timeout=10)
        b.post({"secret": PASSWORD, "key": KEY})  # a body that is no payload: 422
        texts = [b.session.get(b.url + "/deliveries" + q, headers=basic_header(), timeout=10).text
                 for q in ("", "?format=json")]
    for text in texts:
        for secret in (BEARER, PASSWORD, KEY, TOKEN, HMAC_SECRET, marker_in_body, "Basic ", "Bearer "):
            assert secret not in text, secret


def test_trello_requests_are_counted_per_delivery_under_concurrency():
    """Concurrent webhooks share a client (and board reads): each delivery counts only its own requests."""
    with trello() as t, bridge(t, threads=16) as b:
        before = len(t.emu.request_log)
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda n: b.post(am_payload(f"Storm{n}")).status_code, range(40)))
        made = len(t.emu.request_log) - before
        rows = _json(b)["deliveries"]
    assert codes == [200] * 40
    counts = [r["trelloRequests"] for r in rows]
    assert sum(counts) == made  # a process-wide delta per delivery would count shared reads many times over
    assert all(c >= 1 for c in counts)  # at least its own create


def test_a_fixture_delivery_records_its_format():
    with trello() as t, bridge(t) as b:
        b.post(fixture("grafana-unified-1.json"))
        row = _json(b)["deliveries"][0]
    assert row["source"] == "grafana" and row["code"] == 200


def test_only_webhooks_are_deliveries():
    with trello() as t, bridge(t) as b:
        assert b.session.post(b.url + "/healthz", headers=BEARER_HEADERS, timeout=10).status_code == 405
        assert b.session.post(b.url + "/nope", headers=BEARER_HEADERS, timeout=10).status_code == 404
        b.get("/metrics")
        _json(b)
        doc = _json(b)
    assert doc["deliveries"] == [] and doc["recorded"] == 0
