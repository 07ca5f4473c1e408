"""Which setting a failed read points at (pure), masking that keeps messages readable, and --help env lists."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from grafana_bridge import cli as bridge_cli
from jenkins_trello import cli
from jenkins_trello.config import ConfigError, TrelloConfig, board_format_problem
from jenkins_trello.emulator.jenkins import JenkinsEmulator
from jenkins_trello.emulator.trello import TrelloEmulator
from jenkins_trello.settings import KEY_REFUSED, TOKEN_REFUSED, explain_trello
from jenkins_trello.trello import TrelloClient, TrelloError, scrub

BOARD, API = "5f0c0ffee0ddba11c0ffee99", "https://api.trello.com/1"


@pytest.mark.parametrize("board,ok", [("5f0c0ffee0ddba11c0ffee99", True), ("AbCdEf12", True), ("AbCdEf1", False),
                                      ("AbCdEf123", False), ("Team board", False), ("abc-def1", False), ("", False),
                                      ("5f0c0ffee0ddba11c0ffee9g", False)])
def test_board_format(board, ok):
    assert (board_format_problem(board) is None) is ok


def test_board_format_is_checked_without_any_request():
    with pytest.raises(ConfigError, match=r"^TRELLO_BOARD 'Team board' is neither"):
        TrelloConfig.from_env({"TRELLO_API_KEY": "k", "TRELLO_TOKEN": "t", "TRELLO_BOARD": "Team board"})


@pytest.mark.parametrize("status,detail,member_ok,starts", [
    (401, "invalid key", None, "TRELLO_API_KEY"),
    (401, "invalid token", None, "TRELLO_TOKEN"),
    (401, "unauthorized permission requested", True, "TRELLO_BOARD"),
    (400, "invalid id", True, "TRELLO_BOARD"),
    (404, "The requested resource was not found.", True, "TRELLO_BOARD"),
    (404, "Cannot GET /2/boards/x/lists", False, "TRELLO_API_URL"),
    (401, "Unauthorized", False, "TRELLO_API_URL"),
    (200, "answer was not JSON (text/html)", None, "TRELLO_API_URL"),
    (200, "unexpected answer shape", None, "TRELLO_API_URL"),
    (503, "upstream", None, None),
    (500, "", None, None),
    (429, "rate limited", None, None),
    (None, "connection failed (ConnectionError)", None, None),
    (None, "timed out after 2.0 s", None, None),
])
def test_explain_trello(status, detail, member_ok, starts):
    message = explain_trello(TrelloError("read board", status, detail), BOARD, API, member_ok)
    if starts is None:
        assert message is None  # the service's problem: exit 1, retried, never "fix your setting"
    else:
        assert message is not None and message.startswith(starts) and "\n" not in message


def test_the_same_setting_always_gets_the_same_text():
    a = explain_trello(TrelloError("read board", 400, "invalid id"), BOARD, API, True)
    b = explain_trello(TrelloError("read cards", 404, "not found"), BOARD, API, True)
    c = explain_trello(TrelloError("read board", 401, "unauthorized permission requested"), BOARD, API, True)
    assert a == b == c
    assert explain_trello(TrelloError("x", 401, "invalid key"), BOARD, API, None) == KEY_REFUSED
    assert explain_trello(TrelloError("x", 401, "invalid token"), BOARD, API, None) == TOKEN_REFUSED


def test_scrub_ignores_secrets_too_short_to_be_unambiguous():
    text = "Trello read board failed: HTTP 401: invalid token"
    assert scrub(text, ("k", "t")) == text
    assert scrub("a tokenABCDEF12 b", ("tokenABCDEF12",)) == "a *** b"
    assert scrub("xx longsecret-long yy", ("longsecret", "longsecret-long")) == "xx *** yy"  # longest first


def test_html_answer_is_not_retried(requests_mock):
    m = requests_mock.get("http://trello.test/1/boards/b/lists", text="<html>hi</html>",
                          headers={"Content-Type": "text/html; charset=utf-8"})
    client = TrelloClient("key-000000", "token-000000", "http://trello.test/1", retry_seconds=5)
    with pytest.raises(TrelloError, match="not JSON"):
        client.board_lists("b")
    assert m.call_count == 1


# ---------------------------------------------------------------- one-letter and long random secrets

MANGLED = re.compile(r"\*\*\*[A-Za-z]|[A-Za-z]\*\*\*")


@pytest.mark.parametrize("key,token,jtoken", [("K", "T", "J"), ("k", "t", "j"),
                                              ("e" * 32, "r" * 64, "o" * 34),
                                              ("9f8e7d6c5b4a39281706f5e4d3c2b1a0", "ATTA" + "c0ffee" * 10, "11" * 17)])
def test_every_error_stays_readable_and_holds_no_secret(key, token, jtoken):
    with TrelloEmulator(key=key, token=token) as trello, JenkinsEmulator(user="bot", token=jtoken) as jenkins:
        board = trello.add_board("Team")
        trello.add_list(board["id"], "To Do")
        jenkins.add_job("a")
        n = jenkins.start_build("a")
        env = {"TRELLO_API_KEY": key, "TRELLO_TOKEN": token, "TRELLO_BOARD": board["id"],
               "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url, "JENKINS_USER": "bot",
               "JENKINS_API_TOKEN": jtoken, "JENKINS_TRELLO_RETRY_SECONDS": "0.5", "JENKINS_TRELLO_TIMEOUT": "1"}
        notify = ["notify", "--result", "FAILURE", "--job", "a", "--build", str(n)]
        runs = [(cli.run, notify, {"TRELLO_TOKEN": token + "x"}), (cli.run, notify, {"TRELLO_API_KEY": key + "x"}),
                (cli.run, notify, {"JENKINS_API_TOKEN": jtoken + "x"}), (cli.run, notify, {"TRELLO_LIST": "Nope"}),
                (cli.run, ["reconcile"], {"JENKINS_URL": jenkins.url + "x/"}),
                (cli.run, ["doctor"], {"TRELLO_TOKEN": token + "x"}),
                (bridge_cli.run, ["archive"], {"TRELLO_API_KEY": key + "x"}),
                (bridge_cli.run, ["doctor"], {"TRELLO_BOARD": "f" * 24}),
                (cli.run, notify, {"__fault__": "500"})]
        for fn, argv, over in runs:
            if over.pop("__fault__", None):
                trello.inject("500", times=None)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = fn(argv, {**env, **over})
            trello.clear_faults()
            text = out.getvalue() + err.getvalue()
            assert code in (1, 2), (argv, over, text)
            assert "***" not in text or not MANGLED.search(text), text  # nothing like ***rello
            assert "Trello" in text or "JENKINS" in text or "TRELLO" in text, text
            for secret in (key, token, jtoken, key + "x", token + "x", jtoken + "x"):
                if len(secret) >= 6:
                    assert secret not in text, (secret, text)


# ---------------------------------------------------------------- --help lists what each command reads


class Recording(dict):
    """An environment that remembers every variable asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.asked.add(key)
        return super().__contains__(key)


def _help(fn, command: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        fn([command, "--help"], {})
    return out.getvalue()


@pytest.mark.parametrize("fn,argv", [
    (cli.run, ["notify", "--result", "FAILURE"]), (cli.run, ["reconcile"]), (cli.run, ["doctor"]),
    (bridge_cli.run, ["archive"]), (bridge_cli.run, ["doctor"]), (bridge_cli.run, ["serve", "--port", "1"]),
    (bridge_cli.run, ["replay", str(Path(__file__).parent / "fixtures" / "alertmanager-1.json")]),
])
def test_help_lists_every_variable_the_command_reads(fn, argv):
    with TrelloEmulator(key="key-help", token="token-help") as trello, JenkinsEmulator() as jenkins:
        board = trello.add_board("Team")
        trello.add_list(board["id"], "To Do")
        env = Recording({"TRELLO_API_KEY": "key-help", "TRELLO_TOKEN": "token-help", "TRELLO_BOARD": board["id"],
                         "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url, "JOB_NAME": "a",
                         "BUILD_NUMBER": "1", "GRAFANA_BRIDGE_USER": "u", "JENKINS_TRELLO_RETRY_SECONDS": "0.3"})
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            fn(argv, env)
    asked = {k for k in env.asked if k.isupper()}
    assert asked, "the recording saw nothing"
    text = _help(fn, argv[0])
    missing = [k for k in sorted(asked) if not re.search(rf"^\s+{k}\s", text, re.M)]
    assert not missing, (argv[0], missing)
