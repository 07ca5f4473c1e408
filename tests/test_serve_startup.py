"""``grafana-bridge serve`` start-up: every problem is one line and exit 2; Trello merely down does not stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from jenkins_trello.emulator.trello import TrelloEmulator

from .bridgeutil import wait_healthy

KEY, TOKEN = "serve-key-0123456789", "serve-token-0123456789"
SCRIPT = str(Path(sys.executable).parent / "grafana-bridge")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def trello():
    with TrelloEmulator(key=KEY, token=TOKEN) as emu:
        board = emu.add_board("Alerts")
        emu.add_list(board["id"], "To Do")
        emu.env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board["id"],  # type: ignore[attr-defined]
                   "TRELLO_API_URL": emu.url, "GRAFANA_BRIDGE_TOKEN": "bearer-0123456789"}
        yield emu


def start(env: dict, *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRELLO_", "GRAFANA_BRIDGE_"))}
    return subprocess.run([SCRIPT, "serve", *args], env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("drop,over,args,needle", [
    ("TRELLO_TOKEN", {}, (), "TRELLO_TOKEN is not set"),
    (None, {"GRAFANA_BRIDGE_USER": "grafana"}, (), "GRAFANA_BRIDGE_PASSWORD is empty"),
    (None, {"GRAFANA_BRIDGE_PASSWORD": "pw-0123456789"}, (), "GRAFANA_BRIDGE_USER is empty"),
    ("GRAFANA_BRIDGE_TOKEN", {}, (), "no bridge credentials"),
    (None, {}, ("--port", "70000"), "--port: 70000 is out of range"),
    (None, {}, ("--port", "0"), "--port: 0 is out of range"),
    (None, {}, ("--host", "no-such-host.invalid"), "does not resolve"),
    (None, {"TRELLO_TOKEN": "revoked-0123456789"}, (), "TRELLO_TOKEN is refused"),
    (None, {"TRELLO_API_KEY": "other-0123456789"}, (), "TRELLO_API_KEY is refused"),
    (None, {"TRELLO_BOARD": "0" * 24}, (), "TRELLO_BOARD"),
    (None, {"TRELLO_BOARD": "My board"}, (), "TRELLO_BOARD 'My board' is neither"),
    (None, {"TRELLO_LIST": "Nope"}, (), "TRELLO_LIST: list 'Nope'"),
])
def test_start_up_problems_are_one_line_and_exit_2(trello, drop, over, args, needle):
    env = {**trello.env, **over}
    env.pop(drop, None)
    proc = start(env, "--port", str(_free_port()), *args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for secret in (KEY, TOKEN, "pw-0123456789", "bearer-0123456789"):
        assert secret not in proc.stderr


def test_port_in_use_is_one_line(trello):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        proc = start(trello.env, "--port", str(s.getsockname()[1]))
    assert proc.returncode == 2 and "already in use" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_trello_down_at_start_still_starts_and_answers_503_until_it_is_back(trello):
    port = _free_port()
    trello.inject("503", times=None)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRELLO_", "GRAFANA_BRIDGE_"))}
    proc = subprocess.Popen([SCRIPT, "serve", "--port", str(port)], env={**base, **trello.env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": "Bearer bearer-0123456789", "Content-Type": "application/json"}
    body = (Path(__file__).parent / "fixtures" / "alertmanager-1.json").read_bytes()
    try:
        wait_healthy(url, proc)
        assert requests.post(url + "/alerts", data=body, headers=headers, timeout=40).status_code == 503
        trello.clear_faults()
        assert requests.post(url + "/alerts", data=body, headers=headers, timeout=40).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert "trello unreachable at start" in err


@pytest.mark.parametrize("route,needle", [
    ("{board: '%(other)s', list: Pages}", "list 'Pages' (route alerts[0] intake) on board 'On call'"),
    ("{board: '%(other)s', list: To Do, on_resolve: {move: Resolved}}",
     "list 'Resolved' (route alerts[0] on_resolve move)"),
    ("{board: '%(gone)s'}", "board %(gone)s"),
])
def test_a_policy_routes_board_or_list_missing_stops_the_start(trello, tmp_path, route, needle):
    other = trello.add_board("On call")
    trello.add_list(other["id"], "To Do")
    names = {"other": other["id"], "gone": "f" * 24}
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nalerts:\n  routes:\n    - " + route % names + "\n")
    proc = start({**trello.env, "JENKINS_TRELLO_CONFIG": str(policy)}, "--port", str(_free_port()))
    assert proc.returncode == 2, proc.stderr
    assert needle % names in proc.stderr and str(policy) in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert KEY not in proc.stderr and TOKEN not in proc.stderr
