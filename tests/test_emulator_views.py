"""The emulators as a person drives them: the Trello board pages, the Jenkins control surface, the CLI.

Everything over real sockets; the CLI ones in real subprocesses, reading what
they print (stdout's first line is still the URL, which scripts rely on).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from jenkins_trello.emulator import control
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def board():
    with TrelloEmulator() as emu:
        b = emu.add_board("Team <b>", lists=["To Do", "Done"])
        todo = b["lists"][0]["id"]
        label = emu.add_label(b["id"], "ci", "red")
        ann = emu.add_member(b["id"], "ann", "Ann Lee")
        card = emu.add_card(todo, XSS, desc=f"line one\n{XSS}")
        emu.human_label(card["id"], label["id"])
        emu.human_add_member(card["id"], ann["id"])
        emu.human_comment(card["id"], f"comment {XSS}")
        gone = emu.add_card(todo, "old news")
        emu.human_archive(gone["id"])
        yield emu, b, emu.get_card(card["id"])


def test_card_links_point_at_the_emulator_and_open_its_page(board):
    emu, b, card = board
    assert card["shortUrl"] == f"{emu.origin}/c/{card['shortLink']}"
    assert card["url"].startswith(f"{emu.origin}/c/{card['shortLink']}/")
    assert "trello.com" not in card["url"] + card["shortUrl"]
    # the same through the API's field selection (the fast path)
    api = requests.get(f"{emu.url}/cards/{card['id']}", params={"fields": "shortUrl,url"},
                       headers={"Authorization": f'OAuth oauth_consumer_key="{"k" * 32}", oauth_token="{"t" * 64}"'},
                       timeout=5).json()
    assert api["shortUrl"] == card["shortUrl"] and api["url"] == card["url"]
    for url in (card["shortUrl"], card["url"]):
        page = requests.get(url, timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "line one" in page.text and "Team &lt;b&gt;" in page.text


def test_board_page_escapes_card_text_and_loads_nothing_from_elsewhere(board):
    emu, b, _card = board
    page = requests.get(f"{emu.origin}/b/{b['shortLink']}", timeout=5)
    assert page.status_code == 200
    text = page.text
    assert "<script" not in text and "<img" not in text and "onerror=alert(1)>" not in text
    assert "&lt;script&gt;" in text and text.count("&lt;img src=x") >= 3  # name, description, comment
    assert "src=" not in text.replace("&lt;img src=x", "") and "http" not in text.replace(emu.origin, "")
    assert "To Do" in text and "Ann Lee" in text and ">ci<" in text and "Archived cards (1)" in text


def test_board_json_and_text_hold_lists_cards_labels_members_comments(board):
    emu, b, card = board
    data = requests.get(f"{emu.origin}/b/{b['shortLink']}.json", timeout=5).json()
    assert [lst["name"] for lst in data["lists"]] == ["To Do", "Done"]
    [shown] = data["lists"][0]["cards"]
    assert shown["name"] == XSS and shown["url"] == card["url"] and shown["desc"].startswith("line one")
    assert shown["labels"] == [{"name": "ci", "color": "red"}]
    assert shown["members"] == [{"username": "ann", "fullName": "Ann Lee"}]
    assert [c["text"] for c in shown["comments"]] == [f"comment {XSS}"]
    assert [c["name"] for c in data["archived"]] == ["old news"]
    assert requests.get(f"{emu.origin}/b/{b['id']}.json", timeout=5).json() == data  # by id as well
    text = requests.get(f"{emu.origin}/b/{b['shortLink']}.txt", timeout=5).text
    assert "[To Do]" in text and "labels: ci" in text and "members: ann" in text and "- old news" in text
    one = requests.get(f"{emu.origin}/c/{card['shortLink']}.json", timeout=5).json()
    assert one["board"] == "Team <b>" and one["list"] == "To Do"
    assert requests.get(f"{emu.origin}/b/ZZZZZZZZ", timeout=5).status_code == 404
    assert requests.get(f"{emu.origin}/", timeout=5).status_code == 200


# --------------------------------------------------------------------------- Jenkins control surface


def test_control_surface_starts_finishes_and_attaches_and_requires_the_emulators_auth():
    with JenkinsEmulator(user="ci", token="ci-token") as emu:
        url = f"{emu.origin}/_emulator/builds"
        body = {"job": "team/app", "tests": {"passed": 3, "failed": [["app.T", "test_x"]]},
                "changes": [{"msg": "Break it", "author": "ann", "authorEmail": "ann@example.com"}],
                "result": "FAILURE", "running": True}
        assert requests.post(url, json=body, timeout=5).status_code == 403
        assert requests.post(url, json=body, auth=("ci", "wrong"), timeout=5).status_code == 401
        answer = requests.post(url, json=body, auth=("ci", "ci-token"), timeout=5)
        assert answer.status_code == 200
        got = answer.json()
        assert got["number"] == 1 and got["building"] and got["result"] == "FAILURE"
        assert got["url"] == f"{emu.url}job/team/job/app/1/"
        [build] = emu.builds("team/app")
        assert build["building"] and build["changeSets"][0]["items"][0]["msg"] == "Break it"
        fin = requests.post(f"{emu.origin}/_emulator/finish", auth=("ci", "ci-token"), timeout=5,
                            json={"job": "team/app", "number": 1, "result": "FAILURE"}).json()
        assert fin["building"] is False
        listed = requests.get(f"{emu.origin}/_emulator/builds", params={"job": "team/app"},
                              auth=("ci", "ci-token"), timeout=5).json()
        assert [b["result"] for b in listed["builds"]] == ["FAILURE"]
        for bad in ({"job": ""}, {"job": "a", "result": "GREEN"}, {"job": "a", "tests": {"failed": "x"}}, [1]):
            r = requests.post(url, json=bad, auth=("ci", "ci-token"), timeout=5)
            assert r.status_code == 400 and r.json()["error"]
        assert requests.post(f"{emu.origin}/_emulator/finish", auth=("ci", "ci-token"), timeout=5,
                             json={"job": "nope", "number": 9, "result": "FAILURE"}).status_code == 404


def test_short_forms():
    assert control.parse_change("alice@example.com:Fix the parser")["author"] == "alice"
    assert control.parse_change("Bo Chen: Tidy up") == {
        "msg": "Tidy up", "author": "Bo Chen", "commitId": control.parse_change("Bo Chen: Tidy up")["commitId"]}
    assert control.parse_failing_test("a.b.C.test_x") == ["a.b.C", "test_x"]
    for bad in ("nocolon", ":msg", "who:"):
        with pytest.raises(ValueError):
            control.parse_change(bad)
    with pytest.raises(ValueError):
        control.parse_failing_test("nodot")
    assert control.tests_report(["a.T.t"], 5) == {"passed": 5, "skipped": 0, "failed": [["a.T", "t"]]}


# --------------------------------------------------------------------------- the CLI


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRELLO_", "JENKINS_"))}
    return env


def test_trello_cli_prints_url_first_then_the_exports_and_the_board_view():
    proc = subprocess.Popen([sys.executable, "-m", "jenkins_trello.emulator", "trello", "--key", "kk1234",
                             "--token", "tt5678", "--board-link", "DemoCIbd"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/1")
        err = [proc.stderr.readline() for _ in range(8)]
        text = "".join(err)
        assert f"export TRELLO_API_URL={url}" in text and "TRELLO_API_KEY=kk1234 TRELLO_TOKEN=tt5678" in text
        assert "TRELLO_BOARD=DemoCIbd TRELLO_LIST='To Do' TRELLO_DONE_LIST=Done" in text
        assert requests.get(url[:-2] + "/b/DemoCIbd.json", timeout=5).json()["name"] == "CI"
    finally:
        proc.terminate()
        proc.wait(10)


def test_build_cli_against_a_jenkins_emulator_with_auth():
    with JenkinsEmulator(user="ci", token="ci-token") as emu:
        cmd = [sys.executable, "-m", "jenkins_trello.emulator", "build", "team/app", "--result", "failure",
               "--failing-test", "app.T.test_x", "--passed", "4", "--change", "ann@example.com:Break it"]
        env = {**_env(), "JENKINS_URL": emu.url, "JENKINS_USER": "ci", "JENKINS_API_TOKEN": "ci-token"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "1"
        assert "team/app #1 finished FAILURE" in done.stderr and "ci-token" not in done.stderr
        [build] = emu.builds("team/app")
        assert build["result"] == "FAILURE" and not build["building"]
        refused = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                 env={**env, "JENKINS_API_TOKEN": "wrong"})
        assert refused.returncode == 2 and "HTTP 401" in refused.stderr and "wrong" not in refused.stderr
        bad = subprocess.run([*cmd, "--change", "nocolon"], capture_output=True, text=True, env=env, timeout=60)
        assert bad.returncode == 2 and "AUTHOR:MESSAGE" in bad.stderr
