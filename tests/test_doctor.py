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


# --------------------------------------------------------------------------- the policy file's boards


def write_policy(tmp_path, text: str) -> str:
    path = tmp_path / "trello.yml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def payments(env):
    trello = env["_trello"]
    board = trello.add_board("Payments")
    for name in ("Broken builds", "Fixed", "Done"):
        trello.add_list(board["id"], name)
    trello.add_label(board["id"], "needs-triage", "purple")
    trello.add_member(board["id"], "carol", "Carol Ops")
    return board


def policy_text(pay: str, *, move: str = "Fixed", member: str = "carol", person: str = "carol") -> str:
    return f"""version: 1
people:
  Carol Ops: {person}
jenkins:
  routes:
    - id: payments
      match: {{job: "payments/**"}}
      board: {pay}
      list: Broken builds
      labels: [needs-triage, ci, red]
      members: [{member}]
      on_fix: {{move: {move}}}
    - id: culprits
      match: {{job: "pay2/**"}}
      board: {pay}
      list: Broken builds
      members: culprits
    - id: team
      match: {{job: "team/**"}}
archive:
  - {{board: {pay}, list: Done, days: 14}}
"""


def test_doctor_checks_the_policy_files_boards_lists_labels_and_members(env, payments, tmp_path):
    config = write_policy(tmp_path, policy_text(payments["id"]))
    code, lines = run(cli.run, ["doctor", "--config", config], env)
    assert code == 0, lines
    text = "\n".join(lines)
    assert f"board {payments['id']} 'Payments' is visible" in text and "'Team board' is visible" in text
    for wanted in ("list 'Broken builds' (route payments intake)", "list 'Fixed' (route payments on_fix move)",
                   "list 'Done' (archive sweep)", "list 'To Do' (route team intake)",
                   "label 'needs-triage' (route payments) is on board", "member 'carol' (route payments members)",
                   "member 'carol' (people: (culprits of route culprits))"):
        assert wanted in text, wanted
    assert "label 'ci' (route payments) is not on board 'Payments'" in text and "will be created on first use" in text
    assert "label 'red'" not in text  # a colour is on every board
    assert all(line.startswith("ok ") for line in lines)


@pytest.mark.parametrize(("over", "needle"), [
    ({"move": "Shipped"}, "list 'Shipped' (route payments on_fix move)"),
    ({"member": "dave", "person": "dave"}, "member 'dave' (route payments members) is not a member"),
    ({"person": "erin"}, "member 'erin' (people: (culprits of route culprits)) is not a member"),
])
def test_doctor_names_what_the_file_uses_and_the_board_lacks(env, payments, tmp_path, over, needle):
    text = policy_text(payments["id"], **over)
    if over.get("person") == "erin":
        text = text.replace("  Carol Ops: erin", "  Carol Ops: carol\n  Erin New: erin")
    config = write_policy(tmp_path, text)
    code, lines = run(cli.run, ["doctor", "--config", config], env)
    assert code == 2, lines
    fails = [line for line in lines if line.startswith("FAIL")]
    assert fails and any(needle in f for f in fails) and all(f.startswith(f"FAIL {config} ") for f in fails), lines


def test_doctor_a_board_the_token_cannot_see(env, tmp_path):
    hidden = env["_trello"].add_board("Private", visible=False)
    config = write_policy(tmp_path, f"version: 1\njenkins:\n  routes:\n    - board: {hidden['id']}\n")
    code, lines = run(cli.run, ["doctor", "--config", config], env)
    assert code == 2
    [fail] = [line for line in lines if line.startswith("FAIL")]
    assert f"board {hidden['id']}" in fail and "is not a board this token can see" in fail


def test_doctor_a_bad_policy_file_is_exit_2_with_its_line(env, tmp_path):
    config = write_policy(tmp_path, "version: 2\n")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(["doctor", "--config", config], {k: v for k, v in env.items() if not k.startswith("_")})
    assert code == 2 and err.getvalue().startswith(f"jenkins-trello: error: {config}:1:")
