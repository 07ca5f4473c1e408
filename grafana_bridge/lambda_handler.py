"""AWS Lambda entry point: API Gateway (REST v1, HTTP API v2) and Function URL events -> the WSGI app.

Handler: ``grafana_bridge.lambda_handler.handler``. Configuration comes from
the function's environment, as for ``serve``; the policy file from
``JENKINS_TRELLO_CONFIG`` (a path inside the function's package or a layer) or
``JENKINS_TRELLO_CONFIG_YAML`` (the file's text itself), read once per cold
start. Keep the function timeout at or
under 29 s (API Gateway's limit); the app answers within 22 s. There is no
``/metrics`` on Lambda (it answers 404): use CloudWatch's own Lambda metrics and
the bridge's JSON log lines (one per webhook, with its action).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from .app import BridgeApp
from .payloads import clean_text

_app: BridgeApp | None = None


def _application() -> BridgeApp:
    global _app
    if _app is None:  # built once per cold start, reused by warm invocations
        import os

        from .edge import lambda_policy
        from .wsgi import from_env

        # no /metrics on Lambda (each instance would count alone, and nothing can scrape it), so nothing is
        # counted and prometheus_client is not even imported: no multiprocess directory is needed or made
        _app = from_env(os.environ, policy=lambda_policy(os.environ), metrics=False)
    return _app


def to_environ(event: Mapping[str, Any]) -> dict[str, Any]:
    """A WSGI environ from a v1 or v2 (Function URL) proxy event (pure)."""
    v2 = str(event.get("version", "")) == "2.0"
    ctx = event.get("requestContext") or {}
    script_name = ""
    if v2:
        method = (ctx.get("http") or {}).get("method", "GET")
        path = event.get("rawPath") or (ctx.get("http") or {}).get("path") or "/"
        query = event.get("rawQueryString") or ""
        # An HTTP API on a named stage puts the stage in rawPath ("/prod/alerts"); $default does not.
        stage = str(ctx.get("stage") or "")
        if stage and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
            script_name, path = f"/{stage}", path[len(stage) + 1:] or "/"
    else:
        method = event.get("httpMethod") or "GET"
        path = event.get("path") or "/"
        query = urlencode(event.get("queryStringParameters") or {})
    headers = {str(k).lower(): str(v[-1]) for k, v in (event.get("multiValueHeaders") or {}).items() if v}
    headers.update({str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()})
    raw = event.get("body") or ""
    # an event's body string may hold lone surrogates (from JSON escapes): made valid text, not an error
    body = (base64.b64decode(raw, validate=True) if event.get("isBase64Encoded")
            else clean_text(str(raw)).encode("utf-8"))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": str(method).upper(),
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": headers.get("content-type", ""),
        "SERVER_NAME": headers.get("host", "lambda"),
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for k, v in headers.items():
        if k not in ("content-type", "content-length"):
            environ["HTTP_" + k.upper().replace("-", "_")] = v
    return environ


def call(app: Any, event: Mapping[str, Any]) -> dict[str, Any]:
    """Run one event through a WSGI app and shape the proxy response."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = dict(headers)

    try:
        environ = to_environ(event)
    except (binascii.Error, ValueError):
        return {"statusCode": 400, "headers": {"Content-Type": "application/json"},
                "body": '{"error": "body is not valid base64"}\n', "isBase64Encoded": False}
    chunks = app(environ, start_response)
    body = b"".join(chunks)
    return {"statusCode": captured["status"], "headers": captured["headers"],
            "body": body.decode("utf-8", "replace"), "isBase64Encoded": False}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    return call(_application(), event)
