"""Helpers for the bridge's end-to-end tests: a Trello emulator with a board, the bridge on a real socket.

Everything here runs over real sockets: ``requests`` -> waitress -> ``BridgeApp``
-> ``TrelloClient`` -> ``TrelloEmulator``. The bridge runs in-process (so tests
can read its metrics and swap its client), served by waitress exactly as
``grafana-bridge serve`` configures it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from waitress import wasyncore

from grafana_bridge.app import BridgeApp, Options
from grafana_bridge.auth import AuthConfig
from grafana_bridge.server import create_server
from jenkins_trello.cards import read_marker
from jenkins_trello.config import TrelloConfig
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.trello import Pacer, TrelloClient

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "k" * 32
TOKEN = "t" * 64
LISTS = ("To Do", "Doing", "Done")

BEARER = "bridge-token-0123456789"
USER, PASSWORD = "grafana", "s3cret-pass"
HMAC_SECRET = "test-hmac-secret"
AUTH = AuthConfig(token=BEARER, user=USER, password=PASSWORD, hmac_secret=HMAC_SECRET)
BEARER_HEADERS = {"Authorization": f"Bearer {BEARER}"}


# --------------------------------------------------------------------------- fixtures


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.json"))


def fixture(name: str) -> dict[str, Any]:
    """A fresh (deep) copy of a fixture payload, safe to mutate."""
    return copy.deepcopy(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def am_payload(group: str, alerts: list[dict[str, Any]] | None = None, *, status: str | None = None,
               receiver: str = "trello", truncated: int = 0, group_key: str | None = None) -> dict[str, Any]:
    """An Alertmanager v4 webhook body for group ``alertname=<group>``; alerts default to one firing."""
    if alerts is None:
        alerts = [am_alert(group, instance="host-1")]
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": receiver,
        "status": status or ("firing" if firing else "resolved"),
        "alerts": alerts,
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test:9093",
        "version": "4",
        "groupKey": group_key or f'{{}}:{{alertname="{group}"}}',
        "truncatedAlerts": truncated,
    }


def am_alert(group: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": group, **labels},
        "annotations": {"summary": f"{group} on {labels.get('instance', '?')}"},
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": "2024-05-01T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.test/graph",
        "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16],
    }


# --------------------------------------------------------------------------- Trello side


@dataclass
class Trello:
    """A running emulator with one board and the lists To Do, Doing, Done."""

    emu: TrelloEmulator
    board: str
    lists: dict[str, str]
    config: TrelloConfig

    def open_cards(self) -> list[dict[str, Any]]:
        return self.emu.cards(self.board)

    def all_cards(self) -> list[dict[str, Any]]:
        return self.emu.cards(self.board, include_closed=True)

    def bridge_cards(self, include_closed: bool = False) -> list[dict[str, Any]]:
        """Cards carrying an alert marker."""
        cards = self.all_cards() if include_closed else self.open_cards()
        return [c for c in cards if (read_marker(c.get("desc")) or ("", ""))[0].startswith("alert:")]

    def cards_by_key(self) -> dict[str, list[dict[str, Any]]]:
        """Open bridge cards grouped by marker key."""
        out: dict[str, list[dict[str, Any]]] = {}
        for c in self.bridge_cards():
            out.setdefault(read_marker(c["desc"])[0], []).append(c)
        return out

    def reads(self) -> int:
        return self.emu.count("GET")

    def writes(self) -> int:
        return sum(1 for r in self.emu.request_log if r.method in ("POST", "PUT", "DELETE"))

    def client(self, retry_seconds: float = 3.0, **kw: Any) -> TrelloClient:
        """A client with a short retry budget, so failure tests stay fast."""
        kw.setdefault("timeout", 5.0)
        kw.setdefault("pacer", Pacer())
        return self.config.client(retry_seconds=retry_seconds, **kw)


def trello_config(emu: TrelloEmulator, board: str, list_name: str = "To Do") -> TrelloConfig:
    return TrelloConfig.from_env({"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board,
                                  "TRELLO_LIST": list_name, "TRELLO_API_URL": emu.url})


def start_trello(**kw: Any) -> Trello:
    emu = TrelloEmulator(key=KEY, token=TOKEN, **kw).start()
    board = emu.add_board("Ops")["id"]
    lists = {name: emu.add_list(board, name)["id"] for name in LISTS}
    return Trello(emu, board, lists, trello_config(emu, board))


@contextmanager
def trello(**kw: Any) -> Iterator[Trello]:
    t = start_trello(**kw)
    try:
        yield t
    finally:
        t.emu.stop()


# --------------------------------------------------------------------------- bridge side


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A WSGI app on the bridge's waitress set-up (``grafana_bridge.server``, as `grafana-bridge serve` runs it),
    on 127.0.0.1:<free port>, served from a daemon thread; ``stop()`` is clean."""

    def __init__(self, app: Callable[..., Any], threads: int = 8, **adj: Any) -> None:
        self.app = app
        no_auth = getattr(getattr(app, "options", None), "no_auth", True)
        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads, no_auth=no_auth, **adj)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"bridge:{self.port}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        smap = self.server._map
        while not self._stop.is_set():
            wasyncore.loop(timeout=0.05, use_poll=True, map=smap, count=1)
        wasyncore.close_all(smap)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.task_dispatcher.shutdown(timeout=5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bridge_app(t: Trello, *, retry_seconds: float = 3.0, options: Options | None = None,
               auth: AuthConfig = AUTH, client: TrelloClient | None = None, **kw: Any) -> BridgeApp:
    return BridgeApp(t.config, auth, options or Options(), client=client or t.client(retry_seconds), **kw)


def _session(pool: int = 64) -> requests.Session:
    s = requests.Session()
    s.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool))
    return s


@dataclass
class Bridge:
    """A bridge app served on a real socket, with a session for sending webhooks."""

    app: BridgeApp
    server: Server
    session: requests.Session = field(default_factory=lambda: _session())

    @property
    def url(self) -> str:
        return self.server.url

    def post(self, payload: Any, headers: dict[str, str] | None = None, *, raw: bytes | None = None,
             timeout: float = 30.0) -> requests.Response:
        body = raw if raw is not None else json.dumps(payload).encode()
        hdrs = {"Content-Type": "application/json", **BEARER_HEADERS}
        if headers is not None:
            hdrs.update(headers)
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        return self.session.post(self.url + "/alerts", data=body, headers=hdrs, timeout=timeout)

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=10)

    def stop(self) -> None:
        self.session.close()
        self.server.stop()


def serve(app: BridgeApp, threads: int = 8, **adj: Any) -> Bridge:
    return Bridge(app, Server(app, threads=threads, **adj))


@contextmanager
def bridge(t: Trello, threads: int = 8, **kw: Any) -> Iterator[Bridge]:
    b = serve(bridge_app(t, **kw), threads=threads)
    try:
        yield b
    finally:
        b.stop()


# --------------------------------------------------------------------------- metrics


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``, parsed by prometheus_client.

    0 when there is none (a counter never incremented has no sample yet).
    """
    from prometheus_client.parser import text_string_to_metric_families

    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


# --------------------------------------------------------------------------- auth headers


def basic_header(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def hmac_headers(body: bytes, secret: str = HMAC_SECRET, stamp: int | None = None) -> dict[str, str | None]:
    """Grafana 12's signature headers (no Authorization header)."""
    if stamp is None:
        sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"Authorization": None, "X-Grafana-Alerting-Signature": sig}
    sig = hmac.new(secret.encode(), f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Authorization": None, "X-Grafana-Alerting-Signature": sig, "X-Grafana-Alerting-Timestamp": str(stamp)}


def wait_healthy(url: str, proc: Any = None, timeout: float = 20.0) -> None:
    """Wait until a bridge at ``url`` answers ``/healthz``; fail early when its process ``proc`` exited."""
    def up() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the bridge exited with {proc.returncode} before answering /healthz")
        try:
            return requests.get(url + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(up, timeout, what=f"{url}/healthz")


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``pred`` until it returns something truthy; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
