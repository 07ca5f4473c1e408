"""The AWS Lambda entry point: API Gateway REST (v1), HTTP API (v2) and Function URL events give the same
answers as the bridge over HTTP, against the same emulated Trello."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest

import grafana_bridge.lambda_handler as lh
from grafana_bridge.lambda_handler import call, handler, to_environ

from .bridgeutil import BEARER, HMAC_SECRET, KEY, TOKEN, basic_header, bridge, bridge_app, fixture, hmac_headers, trello


def rest_v1(method: str, path: str, body: bytes | None = None, headers: dict | None = None, *, b64: bool = False,
            query: dict | None = None) -> dict:
    hdrs = {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", "Content-Type": "application/json",
            "User-Agent": "Alertmanager/0.25.0", **(headers or {})}
    return {
        "resource": "/alerts", "path": path, "httpMethod": method, "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()}, "queryStringParameters": query,
        "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": "/alerts", "httpMethod": method, "path": f"/prod{path}", "stage": "prod"},
        "body": None if body is None else (base64.b64encode(body).decode() if b64 else body.decode()),
        "isBase64Encoded": b64,
    }


def http_v2(method: str, path: str, body: bytes | None = None, headers: dict | None = None, *, b64: bool = True,
            stage: str = "$default", function_url: bool = False, query: str = "") -> dict:
    domain = "abcdefghij.lambda-url.eu-west-1.on.aws" if function_url else "abc123.execute-api.eu-west-1.amazonaws.com"
    hdrs = {"host": domain, "content-type": "application/json", "user-agent": "Grafana",
            **{k.lower(): v for k, v in (headers or {}).items()}}
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query, "headers": hdrs,
        "requestContext": {"domainName": domain, "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                                                           "sourceIp": "203.0.113.9", "userAgent": hdrs["user-agent"]},
                           "stage": stage, "routeKey": "$default", "timeEpoch": int(time.time() * 1000)},
        "isBase64Encoded": b64,
    }
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if b64 else body.decode()
    return event


AUTHZ = {"Authorization": f"Bearer {BEARER}"}
KINDS = {
    "rest-v1-plain": lambda m, p, body=None, h=None: rest_v1(m, p, body, h),
    "rest-v1-base64": lambda m, p, body=None, h=None: rest_v1(m, p, body, h, b64=True),
    "http-v2-base64": lambda m, p, body=None, h=None: http_v2(m, p, body, h),
    "http-v2-plain-named-stage": lambda m, p, body=None, h=None: http_v2(m, p, body, h, b64=False, stage="prod"),
    "function-url": lambda m, p, body=None, h=None: http_v2(m, p, body, h, function_url=True),
}


# --------------------------------------------------------------------------- to_environ (pure)


def test_to_environ_v1():
    body = b'{"a": "\xc3\xa9"}'
    headers = {"Authorization": "Bearer x", "X-Grafana-Alerting-Signature": "ab"}
    env = to_environ(rest_v1("post", "/alerts", body, headers, query={"q": "1 2", "b": "x"}))
    assert env["REQUEST_METHOD"] == "POST" and env["PATH_INFO"] == "/alerts" and env["SCRIPT_NAME"] == ""
    assert env["QUERY_STRING"] == "q=1+2&b=x"
    assert env["CONTENT_LENGTH"] == str(len(body)) and env["wsgi.input"].read() == body
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["HTTP_AUTHORIZATION"] == "Bearer x" and env["HTTP_X_GRAFANA_ALERTING_SIGNATURE"] == "ab"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["wsgi.url_scheme"] == "https" and env["SERVER_NAME"].endswith("amazonaws.com")
    assert isinstance(env["wsgi.errors"], io.StringIO)


def test_to_environ_v2_base64_and_named_stage():
    body = bytes(range(256))
    env = to_environ(http_v2("POST", "/alerts", body, AUTHZ, query="x=1"))
    assert env["PATH_INFO"] == "/alerts" and env["QUERY_STRING"] == "x=1" and env["wsgi.input"].read() == body
    assert env["HTTP_AUTHORIZATION"] == f"Bearer {BEARER}"
    env = to_environ(http_v2("GET", "/healthz", stage="prod"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/prod", "/healthz")
    env = to_environ(http_v2("GET", "/prodx/healthz"))
    assert env["PATH_INFO"] == "/prodx/healthz"


def test_to_environ_without_body_headers_or_context():
    env = to_environ({"httpMethod": "GET", "path": "/healthz"})
    assert env["REQUEST_METHOD"] == "GET" and env["CONTENT_LENGTH"] == "0" and env["wsgi.input"].read() == b""
    env = to_environ({"version": "2.0", "rawPath": "/healthz", "requestContext": {"http": {"method": "GET"}}})
    assert env["PATH_INFO"] == "/healthz"
    assert to_environ({})["PATH_INFO"] == "/"


# --------------------------------------------------------------------------- same answers as over HTTP


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_events_give_the_same_answers_as_http(kind):
    make = KINDS[kind]
    body = json.dumps(fixture("alertmanager-1.json")).encode()
    with trello() as over_http, trello() as over_lambda:
        with bridge(over_http) as b:
            responses = [b.post(None, raw=body), b.post(None, raw=body),
                         b.post(None, {"Authorization": None}, raw=body), b.post(None, raw=b"nope"), b.get("/healthz")]
            http_answers = [(r.status_code, r.json()) for r in responses]
        app = bridge_app(over_lambda)
        events = [make("POST", "/alerts", body, AUTHZ), make("POST", "/alerts", body, AUTHZ),
                  make("POST", "/alerts", body, {}), make("POST", "/alerts", b"nope", AUTHZ), make("GET", "/healthz")]
        lambda_answers = []
        for ev in events:
            out = call(app, ev)
            assert set(out) == {"statusCode", "headers", "body", "isBase64Encoded"}
            assert isinstance(out["statusCode"], int) and out["isBase64Encoded"] is False
            assert out["headers"]["Content-Type"] == "application/json"
            assert out["headers"]["Content-Length"] == str(len(out["body"].encode()))
            lambda_answers.append((out["statusCode"], json.loads(out["body"])))

        def strip(answers):
            return [(code, {k: v for k, v in doc.items() if k not in ("card", "cardUrl")}) for code, doc in answers]

        assert strip(lambda_answers) == strip(http_answers)
        assert [code for code, _ in lambda_answers] == [200, 200, 401, 400, 200]
        assert lambda_answers[0][1]["action"] == "created" and lambda_answers[1][1]["action"] == "unchanged"
        cards = over_lambda.bridge_cards()
        assert len(cards) == 1 and cards[0]["id"] == lambda_answers[0][1]["card"]


def test_hmac_and_basic_auth_through_events(t):
    app = bridge_app(t)
    body = json.dumps(fixture("grafana-unified-7.json")).encode()
    signed = {k: v for k, v in hmac_headers(body, HMAC_SECRET, stamp=int(time.time())).items() if v is not None}
    for b64 in (True, False):
        out = call(app, http_v2("POST", "/alerts", body, signed, b64=b64))
        assert out["statusCode"] == 200, out["body"]
    out = call(app, rest_v1("POST", "/alerts", body, basic_header()))
    assert out["statusCode"] == 200 and json.loads(out["body"])["action"] == "unchanged"
    tampered = body.replace(b"Memory", b"Mem0ry")
    t.emu.reset_log()
    out = call(app, http_v2("POST", "/alerts", tampered, signed))
    assert out["statusCode"] == 401 and t.emu.request_log == []


def test_unknown_path_and_method_through_events(t):
    app = bridge_app(t)
    assert call(app, http_v2("GET", "/alerts"))["statusCode"] == 405
    assert call(app, http_v2("POST", "/nope", b"{}", AUTHZ))["statusCode"] == 404
    out = call(app, rest_v1("GET", "/metrics"))
    assert out["statusCode"] == 200 and out["headers"]["Content-Type"].startswith("text/plain")
    assert "grafana_bridge_request_duration_seconds_count" in out["body"]


def test_handler_has_no_metrics_endpoint_and_needs_no_multiprocess_dir(t, monkeypatch, tmp_path):
    """Lambda: no /metrics (each instance would count alone); a stray PROMETHEUS_MULTIPROC_DIR changes nothing."""
    missing = tmp_path / "no-such-dir"
    for k, v in {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url,
                 "GRAFANA_BRIDGE_TOKEN": BEARER, "PROMETHEUS_MULTIPROC_DIR": str(missing)}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(lh, "_app", None)
    body = json.dumps(fixture("alertmanager-2.json")).encode()
    out = handler(http_v2("POST", "/alerts", body, AUTHZ), None)
    assert out["statusCode"] == 200 and json.loads(out["body"])["action"] == "created"
    out = handler(rest_v1("GET", "/metrics"), None)
    assert out["statusCode"] == 404 and "CloudWatch" in json.loads(out["body"])["error"]
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_handler_builds_the_app_from_the_environment_once(t, monkeypatch):
    for k, v in {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": t.board, "TRELLO_API_URL": t.emu.url,
                 "GRAFANA_BRIDGE_TOKEN": BEARER}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(lh, "_app", None)
    body = json.dumps(fixture("grafana-legacy-1.json")).encode()
    out = handler(http_v2("POST", "/alerts", body, AUTHZ, function_url=True), None)
    assert out["statusCode"] == 200 and json.loads(out["body"])["action"] == "created"
    first = lh._app
    assert handler(rest_v1("GET", "/healthz"), None)["statusCode"] == 200
    assert lh._app is first, "warm invocations reuse the app (and its Trello connections)"
    out = handler(rest_v1("POST", "/alerts", body), None)
    assert out["statusCode"] == 401
    assert len(t.bridge_cards()) == 1


def test_handler_trello_down_is_503(t, monkeypatch):
    t.emu.inject("503", times=None)
    monkeypatch.setattr(lh, "_app", bridge_app(t, retry_seconds=1.0))
    out = handler(http_v2("POST", "/alerts", json.dumps(fixture("alertmanager-2.json")).encode(), AUTHZ), None)
    assert out["statusCode"] == 503 and out["headers"].get("Retry-After")


def test_v1_event_with_only_multi_value_headers_keeps_authorization():
    event = rest_v1("POST", "/alerts", b"{}", AUTHZ)
    event["headers"] = None
    environ = to_environ(event)
    assert environ["HTTP_AUTHORIZATION"] == f"Bearer {BEARER}"


def test_invalid_base64_body_is_a_400_not_a_crash():
    event = rest_v1("POST", "/alerts", b"{}", AUTHZ)
    event["body"], event["isBase64Encoded"] = "not base64 at all!", True
    answer = call(lambda environ, start: pytest.fail("app must not run"), event)
    assert answer["statusCode"] == 400 and "base64" in answer["body"]
