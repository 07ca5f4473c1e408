"""No secret ever shows: every command and endpoint, with faults and ``--verbose``, everything captured.

Distinctive values for the six credentials (and the base64 forms that HTTP basic auth puts on the wire)
must never appear in stdout, stderr, any log record (DEBUG, urllib3's included), an HTTP answer, an
exception's message or traceback, or a request URL the emulators saw. To make leaks likely rather than
hypothetical, the emulators here are hostile: their error pages echo the request's Authorization header
and URL back, as some proxies and debug pages do, so the product's scrubbing is what stands between the
secret and the log.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from grafana_bridge import cli as bridge_cli
from grafana_bridge import lambda_handler
from grafana_bridge.app import BridgeApp, Options
from grafana_bridge.auth import AuthConfig
from grafana_bridge.wsgi import from_env
from jenkins_trello import cli
from jenkins_trello.config import JenkinsConfig, Limits, TrelloConfig
from jenkins_trello.emulator._http import Request, Response
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.jenkins import JenkinsError, JenkinsReader
from jenkins_trello.trello import TrelloClient, TrelloError

from .bridgeutil import wait_healthy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"

SECRETS = {
    "TRELLO_API_KEY": "trellokeyQ7Wm2Xp9Zr4Ls8Vb",
    "TRELLO_TOKEN": "trellotokenH3Jd6Kf1Ng5Pt0Yc",
    "JENKINS_API_TOKEN": "jenkinstokenR2Te7Uy4Io9Pa",
    "GRAFANA_BRIDGE_TOKEN": "bridgebearerS6Df3Gh8Jk1Lz",
    "GRAFANA_BRIDGE_PASSWORD": "bridgepassX5Cv0Bn7Mq2Wr",
    "GRAFANA_BRIDGE_HMAC_SECRET": "bridgehmacE9Rt4Yu1Io6Pf",
}
JUSER, GUSER = "ci-bot", "grafana"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


FORBIDDEN = {
    **SECRETS,
    "jenkins basic auth (base64)": _b64(f"{JUSER}:{SECRETS['JENKINS_API_TOKEN']}"),
    "bridge basic auth (base64)": _b64(f"{GUSER}:{SECRETS['GRAFANA_BRIDGE_PASSWORD']}"),
}


def assert_clean(text: object, where: str) -> None:
    text = str(text)
    for name, value in FORBIDDEN.items():
        assert value not in text, f"{name} leaked in {where}:\n{text[:3000]}"


# --------------------------------------------------------------------------- hostile emulators


class EchoTrello(TrelloEmulator):
    """Error answers echo the Authorization header and the URL (a debug page / chatty proxy)."""

    def _echo(self, req: Request) -> str:
        auth = req.headers.get("Authorization")
        return f"Authorization: {auth} request {req.method} {req.raw_path}?{req.query_string}"

    def fault_response(self, kind: str, req: Request) -> Response:
        if kind in ("500", "503"):
            return Response.text(int(kind), "upstream error; " + self._echo(req))
        return super().fault_response(kind, req)

    def handle(self, req: Request) -> Response:
        resp = super().handle(req)
        if resp.status == 401:
            return Response.text(401, "invalid token; " + self._echo(req))
        return resp


class EchoJenkins(JenkinsEmulator):
    def fault_response(self, kind: str, req: Request) -> Response:
        if kind in ("500", "502"):
            return Response.html(int(kind), f"<h1>{kind}</h1><pre>Authorization: {req.headers.get('Authorization')}"
                                            f"\nURL: {req.raw_path}</pre>")
        return super().fault_response(kind, req)


# --------------------------------------------------------------------------- log capture


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.records.append(f"{record.name}: {text} {record.args!r}")


# the commands reconfigure the root logger (basicConfig(force=True)), so capture on the named loggers too
LOGGERS = ("", "urllib3", "requests", "jenkins", "jenkins_trello", "grafana_bridge", "waitress", "tenacity")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Collect]:
    caplog.set_level(logging.DEBUG)
    handler = Collect()
    saved = {}
    for name in LOGGERS:
        lg = logging.getLogger(name)
        saved[name] = lg.level
        lg.addHandler(handler)
        if name:
            lg.setLevel(logging.DEBUG)
    yield handler
    for name in LOGGERS:
        logging.getLogger(name).removeHandler(handler)
        if name:
            logging.getLogger(name).setLevel(saved[name])
    assert handler.records, "no log record was captured at all: the capture is broken"
    for rec in handler.records:
        assert_clean(rec, "a log record")
    for rec in caplog.records:
        assert_clean(rec.getMessage(), "a caplog record")


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    with EchoTrello(key=SECRETS["TRELLO_API_KEY"], token=SECRETS["TRELLO_TOKEN"], interval=1.0) as trello, \
            EchoJenkins(user=JUSER, token=SECRETS["JENKINS_API_TOKEN"]) as jenkins:
        trello.timeout_delay = jenkins.timeout_delay = 0.5
        board = trello.add_board("Team")
        lists = {n: trello.add_list(board["id"], n)["id"] for n in ("To Do", "Doing", "Done")}
        env = {
            **SECRETS, "TRELLO_BOARD": board["id"], "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url,
            "JENKINS_USER": JUSER, "GRAFANA_BRIDGE_USER": GUSER,
            "JENKINS_TRELLO_TIMEOUT": "0.3", "JENKINS_TRELLO_RETRY_SECONDS": "1.0",
        }
        yield {"trello": trello, "jenkins": jenkins, "env": env, "board": board["id"], "lists": lists}
        assert trello.secrets_in_url == []
        for emu in (trello, jenkins):
            for rec in emu.request_log:
                assert_clean(rec.raw_path, "a request path")
                assert_clean(json.dumps(rec.query), "a request query")


def run_cli(argv: list[str], env: dict[str, str], fn=cli.run) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = fn(argv, env)
        except SystemExit as exc:
            code = int(exc.code or 0)
    assert_clean(out.getvalue(), f"stdout of {argv}")
    assert_clean(err.getvalue(), f"stderr of {argv}")
    return code, out.getvalue(), err.getvalue()


def grafana_payload(status: str = "firing") -> dict[str, Any]:
    doc = json.loads((FIXTURES / "alertmanager-1.json").read_text())
    doc["status"] = status
    for a in doc["alerts"]:
        a["status"] = status
    return doc


# --------------------------------------------------------------------------- jenkins-trello


def test_jenkins_trello_commands_in_process(world, logs) -> None:
    trello, jenkins, env = world["trello"], world["jenkins"], world["env"]
    job = "team/app"
    jenkins.add_job(job)
    outputs = []

    def notify(result: str, *extra: str, env_over: dict | None = None, finish: bool = True) -> tuple[int, str, str]:
        n = jenkins.start_build(job)
        got = run_cli(["--verbose", "notify", "--result", result, "--job", job, "--build", str(n), *extra],
                      {**env, **(env_over or {})})
        if finish:
            jenkins.finish_build(job, n, result)
        outputs.append(got)
        return got

    assert notify("FAILURE")[0] == 0
    assert notify("FAILURE", "--dry-run")[0] == 0
    trello.inject("500", times=None)  # Trello down, its error pages echoing the credentials
    code, _out, err = notify("FAILURE")
    trello.clear_faults()
    assert code == 1 and "Traceback" in err  # --verbose: the traceback is shown, scrubbed
    for kind in ("503", "timeout", "drop", "drop_after", "429"):
        trello.inject(kind, times=2)
        assert notify("FAILURE")[0] in (0, 1)
    trello.clear_faults()
    code, _out, err = notify("FAILURE", env_over={"TRELLO_TOKEN": "wrong-" + SECRETS["TRELLO_TOKEN"][:5]})
    assert code == 2 and "TRELLO_TOKEN" in err  # a refused token is a wrong setting, named
    jenkins.inject("502", times=None)  # Jenkins down, echoing the basic-auth header
    code, _out, err = notify("SUCCESS")
    jenkins.clear_faults()
    assert code == 1 and "Jenkins" in err
    code, _out, err = notify("SUCCESS", env_over={"JENKINS_API_TOKEN": SECRETS["JENKINS_API_TOKEN"] + "x"})
    assert code == 2 and "JENKINS_API_TOKEN" in err
    jenkins.inject("drop", times=2)
    assert notify("SUCCESS")[0] in (0, 1)
    # reconcile: with faults, then clean
    jenkins.add_job("team/gone")
    jenkins.add_build("team/gone", "FAILURE")
    assert run_cli(["--verbose", "notify", "--result", "FAILURE", "--job", "team/gone", "--build", "1"], env)[0] == 0
    jenkins.delete_job("team/gone")
    trello.inject("500", times=None)
    assert run_cli(["--verbose", "reconcile"], env)[0] == 1
    trello.clear_faults()
    jenkins.inject("502", times=None)
    assert run_cli(["--verbose", "reconcile", "--dry-run"], env)[0] in (0, 1)
    jenkins.clear_faults()
    assert run_cli(["--verbose", "reconcile"], env)[0] == 0
    # configuration errors name variables, never values
    code, _out, err = run_cli(["notify", "--result", "FAILURE", "--job", job, "--build", "1"],
                              {**env, "JENKINS_USER": ""})
    assert code == 2 and "JENKINS_USER" in err
    # the board itself: no card text carries a secret
    for card in trello.cards(world["board"], include_closed=True):
        assert_clean(json.dumps(card), "a card")
        assert_clean(trello.comments(card["id"]), "a comment")


def test_exceptions_and_reprs_hold_no_secret(world) -> None:
    trello, jenkins, env = world["trello"], world["jenkins"], world["env"]
    cfg, jcfg = TrelloConfig.from_env(env), JenkinsConfig.from_env(env)
    auth = AuthConfig.from_env(env)
    for obj in (cfg, jcfg, auth, Limits.from_env(env), trello, jenkins):
        assert_clean(repr(obj), f"repr of {type(obj).__name__}")
        assert_clean(str(obj), f"str of {type(obj).__name__}")
    client = TrelloClient(SECRETS["TRELLO_API_KEY"], SECRETS["TRELLO_TOKEN"], trello.url, timeout=0.3,
                          retry_seconds=0.5)
    app = BridgeApp(cfg, auth, Options(), client=client)
    for obj in (client, app, JenkinsReader(jenkins.url, JUSER, SECRETS["JENKINS_API_TOKEN"])):
        assert_clean(repr(obj), f"repr of {type(obj).__name__}")

    def check_exc(exc: BaseException, where: str) -> None:
        assert_clean(str(exc), where)
        assert_clean(repr(exc), where)
        assert_clean("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), where)
        # the suppressed context (``raise ... from None``) still hangs on the exception: debuggers show it
        ctx = exc.__context__
        while ctx is not None:
            assert_clean(str(ctx), f"{where} (context {type(ctx).__name__})")
            ctx = ctx.__context__

    for kind in ("500", "503", "timeout", "drop"):
        trello.inject(kind, times=None)
        with pytest.raises(TrelloError) as info:
            client.board_lists(world["board"])
        trello.clear_faults()
        check_exc(info.value, f"TrelloError after {kind}")
    bad = TrelloClient(SECRETS["TRELLO_API_KEY"], "not-" + SECRETS["TRELLO_TOKEN"], trello.url, retry_seconds=0.5)
    with pytest.raises(TrelloError) as info:
        bad.create_card(world["lists"]["To Do"], "x", "y")
    check_exc(info.value, "TrelloError 401 (body echoes the header)")
    reader = JenkinsReader(jenkins.url, JUSER, SECRETS["JENKINS_API_TOKEN"], timeout=0.3, retry_seconds=0.5)
    jenkins.add_job("a")
    for kind in ("502", "drop"):
        jenkins.inject(kind, times=None)
        with pytest.raises(JenkinsError) as jinfo:
            reader.builds("a")
        jenkins.clear_faults()
        check_exc(jinfo.value, f"JenkinsError after {kind}")
    wrong = JenkinsReader(jenkins.url, JUSER, SECRETS["JENKINS_API_TOKEN"] + "x", timeout=0.3, retry_seconds=0.5)
    with pytest.raises(JenkinsError) as jinfo:
        wrong.builds("a")
    check_exc(jinfo.value, "JenkinsError 401")


def test_demo_in_process(logs, monkeypatch) -> None:
    # the demo makes its own credentials: make them distinctive so a leak would show
    values = iter([SECRETS["TRELLO_API_KEY"], SECRETS["TRELLO_TOKEN"], SECRETS["JENKINS_API_TOKEN"]] * 3)
    monkeypatch.setattr("secrets.token_hex", lambda n=32: next(values))
    code, out, _err = run_cli(["--verbose", "demo"], {})
    assert code == 0 and "board:" in out


def _console(name: str) -> list[str]:
    """The console script pip installed next to this interpreter: the entry point users run, not ``python -m``."""
    path = Path(sys.executable).parent / name
    assert path.is_file() and os.access(path, os.X_OK), f"{name} is not installed next to {sys.executable}"
    return [str(path)]


def test_console_scripts_as_subprocesses(world) -> None:
    trello, jenkins, env = world["trello"], world["jenkins"], world["env"]
    jenkins.add_job("lib")
    n = jenkins.start_build("lib")
    full_env = {**os.environ, **env}
    trello.inject("500", times=None)
    for argv in (_console("jenkins-trello") + ["--verbose", "notify", "--result", "FAILURE", "--job", "lib",
                                               "--build", str(n)],
                 _console("jenkins-trello") + ["--verbose", "reconcile"]):
        proc = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and "Traceback" in proc.stderr, proc.stderr
        assert_clean(proc.stdout, f"stdout of {argv[:3]}")
        assert_clean(proc.stderr, f"stderr of {argv[:3]}")
    trello.clear_faults()
    proc = subprocess.run(_console("jenkins-trello") + ["--verbose", "notify", "--result",
                          "failure", "--job", "lib", "--build", str(n)], env=full_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc.stdout + proc.stderr, "output of a successful notify")
    proc = subprocess.run(_console("grafana-bridge") + ["archive", "--days", "1", "--verbose"],
                          env=full_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc.stdout + proc.stderr, "output of grafana-bridge archive")


# --------------------------------------------------------------------------- grafana-bridge


def test_bridge_archive_in_process(world, logs) -> None:
    trello, env = world["trello"], world["env"]
    for i in range(3):
        card = trello.add_card(world["lists"]["Done"], f"old {i}")
        trello.human_comment(card["id"], "still here")
    for argv, fault in ((["archive", "--days", "1", "--verbose"], "500"), (["archive", "--dry-run", "--verbose"], None),
                        (["archive", "--days", "0.0000001", "--verbose"], "503")):
        if fault:
            trello.inject(fault, times=None)
        code, _out, _err = run_cli(argv, env, fn=bridge_cli.run)
        trello.clear_faults()
        assert code in (0, 1)
    code, _out, err = run_cli(["archive", "--verbose"], {**env, "TRELLO_TOKEN": "nope"}, fn=bridge_cli.run)
    assert code in (1, 2) and "error" in err


def _signed(body: bytes, secret: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    sig = hmac.new(secret.encode(), f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Grafana-Alerting-Signature": sig, "X-Grafana-Alerting-Timestamp": stamp}


def _attempts(body: bytes) -> list[tuple[str, dict[str, str], set[int]]]:
    """(label, headers, acceptable statuses): wrong credentials of every kind, some carrying other secrets."""
    s = SECRETS
    return [
        ("no credentials", {}, {401}),
        ("wrong bearer", {"Authorization": "Bearer wrong-" + s["GRAFANA_BRIDGE_TOKEN"][:6]}, {401}),
        ("password as bearer", {"Authorization": "Bearer " + s["GRAFANA_BRIDGE_PASSWORD"]}, {401}),
        ("hmac secret as bearer", {"Authorization": "Bearer " + s["GRAFANA_BRIDGE_HMAC_SECRET"]}, {401}),
        ("bearer as basic password", {"Authorization": "Basic " + _b64(f"{GUSER}:{s['GRAFANA_BRIDGE_TOKEN']}")},
         {401}),
        ("wrong basic", {"Authorization": "Basic " + _b64(f"{GUSER}:x{s['GRAFANA_BRIDGE_PASSWORD']}")}, {401}),
        ("bad signature", {"X-Grafana-Alerting-Signature": "00" * 32}, {401}),
        ("right bearer", {"Authorization": "Bearer " + s["GRAFANA_BRIDGE_TOKEN"]}, {200, 503}),
        ("right basic", {"Authorization": "Basic " + _b64(f"{GUSER}:{s['GRAFANA_BRIDGE_PASSWORD']}")}, {200, 503}),
        ("right signature", _signed(body, s["GRAFANA_BRIDGE_HMAC_SECRET"]), {200, 503}),
    ]


def _wsgi(app: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "t",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.multithread": True,
               "wsgi.multiprocess": False, "wsgi.run_once": False}
    for k, v in headers.items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    got = {}

    def start_response(status: str, hdrs: list, exc_info: Any = None) -> None:
        got["status"], got["headers"] = int(status.split()[0]), hdrs

    data = b"".join(app(environ, start_response)).decode()
    assert_clean(repr(got["headers"]), f"headers of {method} {path}")
    return got["status"], data


def test_wsgi_app(world, logs) -> None:
    trello, env = world["trello"], world["env"]
    app = from_env(env)
    app.client.retry_seconds = 1.0  # from_env gives the 22 s budget; faults stay cheap here
    body = json.dumps(grafana_payload()).encode()
    for fault in (None, "500", "drop_after"):
        for label, headers, ok in _attempts(body):
            if fault:
                trello.inject(fault, times=None if fault == "500" else 1)
            status, text = _wsgi(app, "POST", "/alerts", body, headers)
            trello.clear_faults()
            want = ok if fault != "500" or ok == {401} else {503}
            assert status in want, (label, fault, status, text)
            assert_clean(text, f"answer to {label} with fault {fault}")
    bad_app = from_env({**env, "TRELLO_TOKEN": SECRETS["TRELLO_TOKEN"] + "-revoked"})
    bearer = {"Authorization": "Bearer " + SECRETS["GRAFANA_BRIDGE_TOKEN"]}
    status, text = _wsgi(bad_app, "POST", "/alerts", body, bearer)
    assert status == 503
    assert_clean(text, "503 answer after Trello 401 echoing the header")
    for path in ("/metrics", "/healthz", "/nope"):
        assert_clean(_wsgi(app, "GET", path, b"", {})[1], path)
    # every delivery above (refused, failed with Trello echoing the credentials, done) is on /deliveries
    for served, accept in ((app, "text/html"), (app, "application/json"), (bad_app, "application/json")):
        status, text = _wsgi(served, "GET", "/deliveries", b"", {**bearer, "Accept": accept})
        assert status == 200 and ("rejected" in text or "failed" in text), text[:300]
        assert_clean(text, f"/deliveries ({accept})")


def test_lambda_handler(world, logs, monkeypatch) -> None:
    for k, v in world["env"].items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(lambda_handler, "_app", None)
    body = json.dumps(grafana_payload("resolved"))
    world["trello"].inject("503", times=2)
    for label, headers, ok in _attempts(body.encode()):
        event = {"version": "2.0", "rawPath": "/alerts", "body": body, "isBase64Encoded": False,
                 "requestContext": {"http": {"method": "POST", "path": "/alerts"}, "stage": "$default"},
                 "headers": {"content-type": "application/json", **{k.lower(): v for k, v in headers.items()}}}
        answer = lambda_handler.handler(event, None)
        assert answer["statusCode"] in ok, (label, answer)
        assert_clean(json.dumps(answer), f"Lambda answer to {label}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_subprocess(world) -> None:
    trello, env = world["trello"], world["env"]
    port = _free_port()
    proc = subprocess.Popen(_console("grafana-bridge") + ["serve", "--port", str(port), "--verbose"],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    answers: list[str] = []
    try:
        wait_healthy(url, proc)
        body = json.dumps(grafana_payload()).encode()
        for fault in (None, "503x3", "revoked"):
            if fault == "503x3":
                trello.inject("503", times=3)  # retried by the bridge, echoing the credentials each time
            if fault == "revoked":  # Trello now refuses the token, echoing it back: 503, at once
                trello._token = "rotated-token"  # noqa: SLF001
            for label, headers, ok in _attempts(body):
                r = requests.post(url + "/alerts", data=body, headers={"Content-Type": "application/json", **headers},
                                  timeout=30)
                answers.append(r.text + repr(dict(r.headers)))
                want = {503} if fault == "revoked" and ok != {401} else ok
                assert r.status_code in want, (label, fault, r.status_code, r.text)
            trello.clear_faults()
        answers.append(requests.get(url + "/metrics", timeout=5).text)
    finally:
        trello._token = SECRETS["TRELLO_TOKEN"]  # noqa: SLF001
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    for text in answers:
        assert_clean(text, "an HTTP answer of grafana-bridge serve")
    assert '"status": 503' in err or "503" in err, err[-2000:]
    assert_clean(out, "stdout of grafana-bridge serve")
    assert_clean(err, "stderr of grafana-bridge serve --verbose")
