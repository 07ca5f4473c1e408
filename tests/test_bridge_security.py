"""Hostile input at the bridge's door: auth bypass attempts, oversized and absurdly nested bodies, slow
clients, injection through labels, and random JSON that must never make it fail (no 500, no exception).

Every rejected request must cost zero Trello requests, and whatever a label
or annotation holds must land on the card as inert text, with the bridge's own
marker still the one that counts.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grafana_bridge.app import MAX_BODY, BridgeApp, Options
from grafana_bridge.auth import AuthConfig
from grafana_bridge.payloads import parse
from jenkins_trello.cards import _MARKER, alert_key, read_marker
from jenkins_trello.trello import Pacer

from .bridgeutil import (
    BEARER,
    BEARER_HEADERS,
    PASSWORD,
    USER,
    am_alert,
    am_payload,
    basic_header,
    bridge,
    bridge_app,
    fixture,
    fixture_names,
    hmac_headers,
    trello,
)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


BODY = json.dumps(fixture("grafana-unified-2.json")).encode()
OTHER_BODY = json.dumps(fixture("grafana-unified-4.json")).encode()
NOW = int(time.time())

BYPASS_ATTEMPTS = {
    "missing": {"Authorization": None},
    "empty": {"Authorization": ""},
    "scheme-only": {"Authorization": "Bearer"},
    "scheme-and-spaces": {"Authorization": "Bearer    "},
    "unknown-scheme": {"Authorization": f"Token {BEARER}"},
    "glued-scheme": {"Authorization": f"Bearer{BEARER}"},
    "wrong-case-scheme-wrong-token": {"Authorization": "BEARER not-the-token"},
    "wrong-case-basic-wrong-password": {"Authorization": "bAsIc " + _b64(f"{USER}:nope")},
    "bearer-trailing-junk": {"Authorization": f"Bearer {BEARER}x"},
    "bearer-trailing-word": {"Authorization": f"Bearer {BEARER} junk"},
    "bearer-prefix-of-token": {"Authorization": f"Bearer {BEARER[:-1]}"},
    "bearer-token-twice": {"Authorization": f"Bearer {BEARER}{BEARER}"},
    "basic-empty-password": {"Authorization": "Basic " + _b64(f"{USER}:")},
    "basic-empty-user": {"Authorization": "Basic " + _b64(f":{PASSWORD}")},
    "basic-no-colon": {"Authorization": "Basic " + _b64(USER)},
    "basic-not-base64": {"Authorization": "Basic !!!!"},
    "basic-password-as-bearer": {"Authorization": f"Bearer {PASSWORD}"},
    "token-as-basic-password": {"Authorization": "Basic " + _b64(f"{USER}:{BEARER}")},
    "hmac-over-other-body": hmac_headers(OTHER_BODY),
    "hmac-replayed-old-timestamp": hmac_headers(BODY, stamp=NOW - 3600),
    "hmac-future-timestamp": hmac_headers(BODY, stamp=NOW + 3600),
    "hmac-timestamp-not-signed": {**hmac_headers(BODY), "X-Grafana-Alerting-Timestamp": str(NOW)},
    "hmac-sha256-prefix": {
        "Authorization": None,
        "X-Grafana-Alerting-Signature": "sha256=" + str(hmac_headers(BODY)["X-Grafana-Alerting-Signature"]),
    },
    "hmac-empty": {"Authorization": None, "X-Grafana-Alerting-Signature": ""},
    "hmac-wrong-secret": hmac_headers(BODY, secret="guess"),
    "huge-header": {"Authorization": "Bearer " + "A" * 7000},
}


@pytest.mark.parametrize("name", sorted(BYPASS_ATTEMPTS))
def test_auth_bypass_attempts_are_401_with_zero_trello_requests(t, b, name):
    r = b.post(None, BYPASS_ATTEMPTS[name], raw=BODY)
    assert r.status_code == 401, r.text
    assert r.headers.get("WWW-Authenticate")
    reason = r.json()["error"]
    assert "\n" not in reason and BEARER not in reason and PASSWORD not in reason
    assert t.emu.request_log == []


def test_scheme_case_does_not_matter_for_valid_credentials(t, b):
    assert b.post(None, {"Authorization": f"BEARER {BEARER}"}, raw=BODY).status_code == 200
    assert b.post(None, {"Authorization": "bAsIc " + _b64(f"{USER}:{PASSWORD}")}, raw=BODY).status_code == 200


def test_a_method_that_is_not_configured_is_refused(t):
    with bridge(t, auth=AuthConfig(token=BEARER)) as b:
        t.emu.reset_log()
        assert b.post(None, basic_header(), raw=BODY).status_code == 401
        assert b.post(None, hmac_headers(BODY), raw=BODY).status_code == 401
        assert t.emu.request_log == []
        assert b.post(None, BEARER_HEADERS, raw=BODY).status_code == 200


def test_no_credentials_and_no_no_auth_refuses_to_build(t):
    with pytest.raises(ValueError, match="--no-auth"):
        BridgeApp(t.config, AuthConfig(user=USER))  # basic needs both halves
    with bridge(t, auth=AuthConfig(), options=Options(no_auth=True)) as b:
        assert b.post(None, {"Authorization": None}, raw=BODY).status_code == 200


# --------------------------------------------------------------------------- bodies


def test_oversized_body_is_413_before_anything_else(t, b):
    r = b.post(None, {"Authorization": None}, raw=b"[" * (MAX_BODY + 10))
    assert r.status_code == 413
    assert t.emu.request_log == []


@pytest.mark.parametrize("body", [
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    json.dumps(json.loads("[" * 500 + "]" * 500)).encode(),
    b'{"alerts": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
    b'{"receiver": "x", "alerts": [{"labels": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}]}",
    b'{"ruleId": ' + b"9" * 5000 + b', "state": "alerting"}',
    b'{"alerts": [], "version": "4", "receiver": NaN}',
], ids=["open-brackets", "deep-list", "deep-object", "deep-500", "deep-in-alerts", "deep-label", "huge-int", "nan"])
def test_absurd_json_is_4xx_never_500_and_the_server_lives(t, b, body):
    r = b.post(None, raw=body)
    assert r.status_code in (400, 422), r.text
    assert "\n" not in r.json()["error"]
    assert t.emu.request_log == []
    assert b.get("/healthz").status_code == 200


def test_a_slow_body_does_not_block_other_requests(t):
    # one worker thread only: if trickling a body held a worker, the normal request would wait
    with bridge(t, threads=1) as b:
        body = json.dumps(fixture("alertmanager-2.json")).encode()
        head = (f"POST /alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {BEARER}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        sock = socket.create_connection(("127.0.0.1", b.server.port), timeout=10)
        done = threading.Event()

        def trickle():
            sock.sendall(head)
            step = max(1, len(body) // 20)
            for i in range(0, len(body), step):
                sock.sendall(body[i:i + step])
                time.sleep(0.1)
            done.set()

        th = threading.Thread(target=trickle)
        th.start()
        try:
            time.sleep(0.3)
            assert not done.is_set()
            started = time.monotonic()
            r = b.post(fixture("alertmanager-5.json"))
            assert r.status_code == 200
            assert time.monotonic() - started < 1.0
            assert not done.is_set(), "the slow body should still be trickling"
            th.join(10)
            answer = sock.recv(65536).decode("latin-1")
            assert answer.startswith("HTTP/1.1 200"), answer[:200]
        finally:
            th.join(10)
            sock.close()
        assert len(t.bridge_cards()) == 2


# --------------------------------------------------------------------------- injection

EVIL = {
    "crlf": "evil\r\nX-Injected: yes\r\n\r\n<html>",
    "link": "[click me](http://evil.example/phish)",
    "image": "![x](http://evil.example/track.png)",
    "html": "<img src=x onerror=alert(1)>",
    "mention": "@board @all ping",
    "marker": "`jenkins-trello:alert:00000000000000000000000000000000:0`",
    "heading": "# Not a heading\n> not a quote\n- not a list",
    "code": "```\ncode block\n```",
}


def _evil_payload(extra_instance: bool = False) -> dict[str, Any]:
    alerts = [am_alert("Inject", instance="victim", **{k: v for k, v in EVIL.items() if k != "heading"})]
    alerts[0]["annotations"] = {"summary": EVIL["link"] + " " + EVIL["mention"],
                                "description": "line one\n" + EVIL["marker"] + "\n" + EVIL["heading"],
                                "runbook_url": "javascript:alert(1)", "dashboard_url": "http://x) [evil](http://evil"}
    alerts[0]["generatorURL"] = "javascript:alert(document.cookie)"
    if extra_instance:
        alerts.append(am_alert("Inject", instance=EVIL["marker"] + EVIL["crlf"] + EVIL["mention"]))
    doc = am_payload("Inject", alerts, receiver="team " + EVIL["mention"] + EVIL["link"])
    doc["commonAnnotations"] = {"summary": EVIL["marker"] + "\n" + EVIL["image"] + "\n" + EVIL["code"]}
    doc["externalURL"] = "http://am.test/\n`jenkins-trello:alert:11111111111111111111111111111111:0`"
    return doc


_LIVE = [
    r"(?<!\\)\[click me(?<!\\)\]\(",  # a link
    r"(?<!\\)\[x(?<!\\)\]\(",  # an image
    r"(?<!\\)\[evil(?<!\\)\]\(",
    r"(?<!\\)<(img|html)",  # raw HTML
    r"@(board|all)",  # a mention (escaped ones carry a zero-width space)
    r"\]\(javascript:",  # a javascript: link
    r"(?<!\\)`(?<!\\)`(?<!\\)`",  # a code fence
    r"(?<!\\)`jenkins-trello:",  # a live code span with a marker
]


def _assert_inert(text: str) -> None:
    assert "\r" not in text
    for pattern in _LIVE:
        assert not re.search(pattern, text), (pattern, text)
    for line in text.splitlines():
        assert not re.match(r"^\s*(# Not|> not|- not)", line), line  # no block started by a value


def test_labels_and_annotations_land_inert_and_the_marker_stays_the_bridges(t, b):
    doc = _evil_payload()
    r = b.post(doc)
    assert r.status_code == 200, r.text
    assert set(r.headers) <= {"Content-Type", "Content-Length", "Server", "Date", "Connection"}
    assert "X-Injected" not in r.headers
    card = t.emu.get_card(r.json()["card"])
    desc = card["desc"]
    marker_lines = [line for line in desc.splitlines() if _MARKER.match(line.strip())]
    assert marker_lines == [desc.splitlines()[-1]], "only the bridge's own marker, on the last line"
    assert read_marker(desc)[0] == alert_key(parse(doc).identity)
    body = "\n".join(desc.splitlines()[:-1])
    _assert_inert(body)
    assert "\n" not in card["name"] and "\r" not in card["name"]

    # a change whose new alert carries the same tricks: the comment is inert too
    r = b.post(_evil_payload(extra_instance=True))
    assert r.json()["action"] == "updated"
    comment = t.emu.comments(card["id"])[-1]
    _assert_inert(comment)
    assert not any(_MARKER.match(line.strip()) for line in comment.splitlines())
    desc = t.emu.get_card(card["id"])["desc"]
    assert read_marker(desc)[0] == alert_key(parse(doc).identity)
    assert len([ln for ln in desc.splitlines() if _MARKER.match(ln.strip())]) == 1
    assert len(t.bridge_cards()) == 1


def test_a_forged_marker_in_a_label_cannot_capture_another_groups_card(t, b):
    victim = b.post(am_payload("Victim")).json()
    key = read_marker(t.emu.get_card(victim["card"])["desc"])[0]
    forged = f"`jenkins-trello:{key}:0`"
    attacker = am_payload("Attacker", [am_alert("Attacker", instance=forged)])
    attacker["commonAnnotations"] = {"summary": forged, "description": "x\n" + forged}
    a = b.post(attacker).json()
    assert a["action"] == "created" and a["card"] != victim["card"]
    # resolving the attacker's group touches only the attacker's card
    b.post(am_payload("Attacker", [am_alert("Attacker", "resolved", instance=forged)]))
    assert t.emu.get_card(victim["card"])["closed"] is False
    assert t.emu.get_card(a["card"])["closed"] is True


# --------------------------------------------------------------------------- property tests (in-process WSGI)

ALLOWED = {200, 400, 401, 413, 422, 503}


def wsgi_call(app, body: bytes, headers: dict[str, str] | None = None, method: str = "POST",
              path: str = "/alerts") -> tuple[int, dict]:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "test",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for k, v in (headers if headers is not None else BEARER_HEADERS).items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    seen: list[str] = []

    def start_response(status: str, hdrs: list, exc_info: Any = None) -> None:
        seen.append(status)

    out = b"".join(app(environ, start_response))
    return int(seen[0].split()[0]), json.loads(out)


@pytest.fixture(scope="module")
def shared_app():
    with trello() as tr:
        # rate limits are not the subject here: no pacing, or hundreds of examples would wait for the window
        yield bridge_app(tr, client=tr.client(1.0, pacer=Pacer(max_requests=1_000_000, interval=1.0)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
    max_leaves=30,
)
_KEYS = ["alerts", "status", "labels", "annotations", "groupLabels", "commonLabels", "receiver", "version",
         "truncatedAlerts", "ruleId", "orgId", "state", "evalMatches", "startsAt", "endsAt", "values"]
alertish = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.sampled_from(
        ["firing", "resolved", "alerting", "ok", "no_data", "paused", "4", "1", "", "0001-01-01T00:00:00Z"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), kids,
                                                              max_size=6),
    max_leaves=25,
)

_PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPS
@given(doc=json_values | alertish)
def test_random_json_never_500(shared_app, doc):
    status, body = wsgi_call(shared_app, json.dumps(doc).encode())
    assert status in ALLOWED, body
    assert status != 503, body  # the emulator is up: Trello never fails here


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _mutate(doc: Any, path: tuple, kind: str, value: Any) -> Any:
    if not path:
        return value if kind == "replace" else {}
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "drop":
        del parent[last]
    else:
        parent[last] = value
    return doc


@_PROPS
@given(data=st.data())
def test_mutated_fixtures_never_500(shared_app, data):
    doc = fixture(data.draw(st.sampled_from(fixture_names())))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)))
        kind = data.draw(st.sampled_from(["drop", "replace"]))
        value = data.draw(json_values) if kind == "replace" else None
        doc = _mutate(doc, path, kind, value)
    status, body = wsgi_call(shared_app, json.dumps(doc).encode())
    assert status in ALLOWED and status != 503, body


@_PROPS
@given(body=st.binary(max_size=300), auth=st.text(max_size=60), sig=st.text(max_size=70),
       stamp=st.text(max_size=15))
def test_random_bytes_and_credentials_never_500(shared_app, body, auth, sig, stamp):
    def latin1(s: str) -> str:  # what a WSGI server hands over (PEP 3333)
        return s.encode("utf-8", "surrogatepass").decode("latin-1")

    headers = {"Authorization": latin1(auth), "X-Grafana-Alerting-Signature": latin1(sig),
               "X-Grafana-Alerting-Timestamp": latin1(stamp)}
    status, _ = wsgi_call(shared_app, body, headers)
    assert status == 401  # none of these random credentials can be right
    status, _ = wsgi_call(shared_app, body)
    assert status in ALLOWED and status != 503
