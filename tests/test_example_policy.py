"""The README's complete example policy, end to end against the emulators.

``docs/example-policy.yml`` is the file a new team copies; this test runs it as
it stands: the real ``notify`` command with python-jenkins against the Jenkins
emulator, and the bridge on waitress, both against one Trello emulator holding
the three boards the file names. If the example drifts from what the product
does, this fails.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from grafana_bridge.app import BridgeApp, Options
from jenkins_trello import cli
from jenkins_trello.cards import job_key, read_marker
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.policy import load_policy

from .bridgeutil import AUTH, BEARER, KEY, TOKEN, am_alert, serve, trello_config

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "example-policy.yml"


@pytest.fixture
def boards():
    with TrelloEmulator(key=KEY, token=TOKEN) as trello, JenkinsEmulator() as jenkins:
        ids = {name: trello.add_board(name)["id"] for name in ("Platform", "Payments", "On-call")}
        lists = {
            "Platform": ("To Do", "Done"),
            "Payments": ("Broken builds", "Fixed", "Done"),
            "On-call": ("Alerts", "Done"),
        }
        for board, names in lists.items():
            for name in names:
                trello.add_list(ids[board], name)
        for board in ids.values():
            for user in ("alice", "bobd", "carol", "dave_ops"):
                trello.add_member(board, user, user.capitalize())
        env = {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_API_URL": trello.url,
               "JENKINS_URL": jenkins.url, "JENKINS_TRELLO_RETRY_SECONDS": "3",
               "PLATFORM_BOARD": ids["Platform"], "PAYMENTS_BOARD": ids["Payments"], "ONCALL_BOARD": ids["On-call"],
               "JENKINS_TRELLO_CONFIG": str(EXAMPLE)}
        yield trello, jenkins, ids, env


def _cards(trello: TrelloEmulator, board: str) -> list[dict]:
    return [c for c in trello.cards(board) if read_marker(c["desc"])]


def _notify(trello, jenkins, env, job: str, result: str) -> tuple[int, str, int]:
    number = jenkins.start_build(job)
    trello.reset_log()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(["notify", "--result", result, "--job", job, "--build", str(number)], env)
    jenkins.finish_build(job, number, result)
    assert code == 0, err.getvalue()
    return code, out.getvalue(), trello.count()


def test_the_example_routes_jenkins_jobs_to_their_boards(boards):
    trello, jenkins, ids, env = boards
    # payments: no card until two builds in a row fail, then on the payments board, labelled by result
    _, out, requests = _notify(trello, jenkins, env, "payments/api/main", "FAILURE")
    assert "failure 1 of 2" in out and requests == 0 and _cards(trello, ids["Payments"]) == []
    _notify(trello, jenkins, env, "payments/api/main", "FAILURE")
    [card] = _cards(trello, ids["Payments"])
    assert read_marker(card["desc"])[0] == job_key("payments/api/main")
    assert {lab["color"] for lab in trello.board_labels(ids["Payments"])
            if lab["id"] in card["idLabels"]} >= {"red"}
    # pull requests and the sandbox are left alone, with no Trello request
    for job in ("payments/api/PR-7", "sandbox/try-things"):
        _, out, requests = _notify(trello, jenkins, env, job, "FAILURE")
        assert "left alone" in out and requests == 0
    # everything else lands on the platform board; the fix on payments moves its card to Fixed
    _notify(trello, jenkins, env, "team/app", "FAILURE")
    assert [read_marker(c["desc"])[0] for c in _cards(trello, ids["Platform"])] == [job_key("team/app")]
    _notify(trello, jenkins, env, "payments/api/main", "SUCCESS")
    [card] = _cards(trello, ids["Payments"])
    fixed = next(lst["id"] for lst in trello.lists(ids["Payments"]) if lst["name"] == "Fixed")
    assert card["idList"] == fixed and read_marker(card["desc"])[1] == "fixed"


def test_the_example_routes_alerts_by_severity_team_and_environment(boards):
    trello, _jenkins, ids, env = boards
    policy = load_policy(str(EXAMPLE), env)
    config = trello_config(trello, ids["Platform"])
    app = BridgeApp(config, AUTH, Options(), policy=policy)
    b = serve(app)
    try:
        def post(name: str, **labels: str) -> dict:
            payload = {"receiver": "trello", "status": "firing", "alerts": [am_alert(name, **labels)],
                       "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name, **labels},
                       "commonAnnotations": {}, "externalURL": "http://am.test:9093", "version": "4"}
            r = b.session.post(b.url + "/alerts", data=json.dumps(payload),
                               headers={"Authorization": f"Bearer {BEARER}"}, timeout=30)
            assert r.status_code == 200, r.text
            return r.json()

        assert post("DiskFull", severity="critical", team="db")["route"] == "oncall"
        [card] = _cards(trello, ids["On-call"])
        colours = {lab["color"] for lab in trello.board_labels(ids["On-call"]) if lab["id"] in card["idLabels"]}
        assert "red" in colours
        skipped = post("Canary", env="staging", severity="critical", team="db")
        assert skipped["action"] == "ignored" and skipped["route"] == "staging"
        assert post("SlowQueries", severity="warning")["route"] == "warnings"
        assert len(_cards(trello, ids["Platform"])) == 1 and len(_cards(trello, ids["On-call"])) == 1
    finally:
        b.stop()
