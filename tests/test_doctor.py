"""``doctor`` against the emulators: one line per check, what it found, and the exit code that says what is wrong."""

from __future__ import annotations

import contextlib
import io

import pytest

from grafana_bridge import cli as bridge_cli
from jenkins_trello import cli
from jenkins_trello.doctor import Check, exit_code
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator

KEY, TOKEN, JTOKEN = "doctor-key-0123456789", "doctor-token-0123456789", "doctor-jenkins-0123456789"


@pytest.fixture
def env():
    with TrelloEmulator(key=KEY, token=TOKEN) as trello, JenkinsEmulator(user="ci-bot", token=JTOKEN) as jenkins:
        board = trello.add_board("Team board")
        for name in ("To Do", "Done"):
            trello.add_list(board["id"], name)
        jenkins.add_job("team/app")
        yield {"TRELLO_API_KEY": KEY, "TRELLO_TOKEN": TOKEN, "TRELLO_BOARD": board["id"], "TRELLO_API_URL": trello.url,
               "JENKINS_URL": jenkins.url, "JENKINS_USER": "ci-bot", "JENKINS_API_TOKEN": JTOKEN,
               "JOB_NAME": "team/app", "GRAFANA_BRIDGE_TOKEN": "bearer-0123456789",
               "JENKINS_TRELLO_RETRY_SECONDS": "1", "_trello": trello, "_jenkins": jenkins}


def run(fn, argv, env, **over):
    out, err = io.StringIO(), io.StringIO()
    clean = {k: v for k, v in {**env, **over}.items() if not k.startswith("_") and v is not None}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fn(argv, clean)
    text = out.getvalue() + err.getvalue()
    for secret in (KEY, TOKEN, JTOKEN, "bearer-0123456789"):
        assert secret not in text
    return code, out.getvalue().splitlines()


def test_exit_code_is_pure():
    assert exit_code([Check(True, "A", "x")]) == 0
    assert exit_code([Check(True, "A", "x"), Check(False, "B", "down", down=True)]) == 1
    assert exit_code([Check(False, "B", "down", down=True), Check(False, "C", "wrong")]) == 2
    assert Check(False, "TRELLO_LIST", "x").line() == "FAIL TRELLO_LIST x"


def test_all_good(env):
    code, lines = run(cli.run, ["doctor"], env)
    assert code == 0, lines
    assert all(line.startswith("ok ") for line in lines)
    text = "\n".join(lines)
    assert "TRELLO_TOKEN member " in text and "'Team board'" in text and "'To Do' is on the board" in text
    assert "Jenkins 2." in text and "team/app visible" in text and "authenticated as ci-bot" in text


def test_a_wrong_list_is_found_while_every_build_is_green(env):
    code, lines = run(cli.run, ["doctor"], env, TRELLO_LIST="Broken builds")
    assert code == 2
    [fail] = [line for line in lines if line.startswith("FAIL")]
    assert fail.startswith("FAIL TRELLO_LIST") and "'Broken builds'" in fail and "'To Do', 'Done'" in fail
    assert "set TRELLO_LIST to one of them" in fail


@pytest.mark.parametrize("over,setting", [
    ({"TRELLO_TOKEN": "revoked-0123456789"}, "TRELLO_TOKEN"),
    ({"TRELLO_API_KEY": "other-key-0123456789"}, "TRELLO_API_KEY"),
    ({"TRELLO_BOARD": "0" * 24}, "TRELLO_BOARD"),
    ({"TRELLO_BOARD": "Team board"}, "TRELLO_BOARD"),
    ({"JENKINS_API_TOKEN": "wrong-0123456789"}, "JENKINS_API_TOKEN"),
    ({"JOB_NAME": "team/nope"}, "JOB_NAME"),
    ({"JENKINS_URL": None}, "JENKINS_URL"),
])
def test_a_wrong_setting_is_named_with_what_to_change(env, over, setting):
    code, lines = run(cli.run, ["doctor"], env, **over)
    assert code == 2, lines
    fails = [line for line in lines if line.startswith("FAIL")]
    assert fails and fails[0].split()[1] == setting, lines


def test_wrong_jenkins_url_and_trello_api_url(env):
    code, lines = run(cli.run, ["doctor"], env, JENKINS_URL=env["JENKINS_URL"] + "jenkins/",
                      TRELLO_API_URL=env["TRELLO_API_URL"][:-2] + "/2")
    assert code == 2
    fails = [line.split()[1] for line in lines if line.startswith("FAIL")]
    assert fails == ["TRELLO_API_URL", "JENKINS_URL"], lines


def test_a_service_down_is_exit_1(env):
    env["_jenkins"].inject("503", times=None)
    code, lines = run(cli.run, ["doctor"], env)
    assert code == 1
    assert any(line.startswith("FAIL JENKINS_URL") and "unreachable" in line for line in lines), lines
    env["_jenkins"].clear_faults()
    code, lines = run(cli.run, ["doctor"], env, TRELLO_API_URL="http://127.0.0.1:9/1")
    assert code == 1 and lines[0].startswith("FAIL TRELLO_API_URL") and "unreachable" in lines[0]


def test_bridge_doctor(env):
    code, lines = run(bridge_cli.run, ["doctor"], env)
    assert code == 0, lines
    text = "\n".join(lines)
    assert "TRELLO_DONE_LIST 'Done' is on the board" in text and "GRAFANA_BRIDGE_AUTH on: bearer" in text
    code, lines = run(bridge_cli.run, ["doctor"], env, GRAFANA_BRIDGE_USER="grafana", TRELLO_DONE_LIST="Closed")
    assert code == 2
    fails = [line for line in lines if line.startswith("FAIL")]
    assert [f.split()[1] for f in fails] == ["TRELLO_DONE_LIST", "GRAFANA_BRIDGE_USER"], lines
    assert "GRAFANA_BRIDGE_PASSWORD is empty" in fails[1]
    code, lines = run(bridge_cli.run, ["doctor"], env, GRAFANA_BRIDGE_TOKEN=None)
    assert code == 2 and lines[-1].startswith("FAIL GRAFANA_BRIDGE_TOKEN")
    code, lines = run(bridge_cli.run, ["doctor", "--no-auth"], env, GRAFANA_BRIDGE_TOKEN=None)
    assert code == 0 and lines[-1].startswith("ok   GRAFANA_BRIDGE_NO_AUTH")
