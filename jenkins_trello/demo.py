"""``jenkins-trello demo``: the whole story against the bundled emulators, no credentials needed.

It runs the real command code (``cli.run``), the real bridge application and
the real archival run against local Trello and Jenkins emulators over real
sockets, and tells what happened as a short transcript: the failing card's
text, the comments, the fix and its archive; an alert group firing, changing
and resolving; one card archived after its time in Done. ``--verbose`` adds
each HTTP request (method, path, status; credentials travel in headers and are
never shown).
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from .emulator.board_view import board_text, card_text
from .emulator.jenkins import JenkinsEmulator
from .emulator.trello import TrelloEmulator

JOB = "team/app"


class _Story:
    """The transcript writer: one place that decides what a step shows."""

    def __init__(self, out: TextIO, trello: TrelloEmulator, jenkins: JenkinsEmulator, board: str,
                 verbose: bool) -> None:
        self.out, self.trello, self.jenkins, self.board, self.verbose = out, trello, jenkins, board, verbose

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def begin(self) -> None:
        self.trello.reset_log()
        self.jenkins.reset_log()

    def cost(self) -> None:
        """The requests the step made: a count, and with --verbose each one (never a credential: they are headers)."""
        self.say(f"    requests: Jenkins {self.jenkins.count()}, Trello {self.trello.count()}")
        if self.verbose:
            for name, emu in (("jenkins", self.jenkins), ("trello", self.trello)):
                for rec in emu.request_log:
                    self.say(f"      {name} {rec.method} {rec.path} -> {rec.status if rec.status else 'dropped'}")

    def card(self, name_part: str = "", comments_only: bool = False) -> dict[str, Any] | None:
        view = self.trello.board_view(self.board)
        cards = [c for lst in view["lists"] for c in lst["cards"]] + view["archived"]
        found = next((c for c in reversed(cards) if name_part in c["name"]), None)
        if found is not None:
            if comments_only:
                self.say(f"    card {found['name']!r}" + (" (archived)" if found["closed"] else "") + ", comments:")
                for c in found["comments"]:
                    self.say(f"      > {c['text'].splitlines()[0]}")
            else:
                self.say("\n".join(card_text(found, "    ")))
        return found

    def board_summary(self) -> None:
        text = board_text(self.trello.board_view(self.board), full=False)
        self.say("  board:")
        self.say("\n".join("    " + line for line in text.splitlines()))


def _notify(story: _Story, env: dict[str, str], result: str, changes: list[dict] | None = None,
            tests: dict | None = None) -> None:
    from . import cli

    number = story.jenkins.start_build(JOB, changes=changes)
    if tests is not None:
        story.jenkins.record_tests(JOB, number, tests)  # the junit step runs before the post block
    story.begin()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.run(["notify", "--result", result, "--job", JOB, "--build", str(number),
                        "--build-url", f"{story.jenkins.url}job/team/job/app/{number}/"], env)
    story.jenkins.finish_build(JOB, number, result)
    story.say(f"$ jenkins-trello notify --result {result}   # {JOB} #{number}")
    for line in buf.getvalue().splitlines():
        story.say(f"    {line}")
    if code:
        story.say(f"    exit {code}")
    story.cost()


def _alerts(story: _Story, env: dict[str, str]) -> None:
    from grafana_bridge.app import BridgeApp, Options
    from grafana_bridge.auth import AuthConfig
    from grafana_bridge.lambda_handler import call

    from .config import TrelloConfig

    app = BridgeApp(TrelloConfig.from_env(env), AuthConfig(token="demo-token"), Options())

    def alert(host: str, status: str = "firing") -> dict[str, Any]:
        return {"status": status, "labels": {"alertname": "HighErrorRate", "service": "checkout", "instance": host},
                "annotations": {"summary": f"5xx rate above 5% on {host}"}, "startsAt": "2026-11-29T06:00:00Z",
                "endsAt": "2026-11-29T06:20:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"}

    steps = [("one alert fires", [alert("web-1")]),
             ("a second alert joins the group", [alert("web-1"), alert("web-2")]),
             ("both resolve", [alert("web-1", "resolved"), alert("web-2", "resolved")])]
    for what, alerts in steps:
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
        payload = {"version": "4", "receiver": "trello", "status": status, "groupKey": '{}:{alertname="x"}',
                   "groupLabels": {"alertname": "HighErrorRate"},
                   "commonLabels": {"alertname": "HighErrorRate", "service": "checkout"},
                   "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
                   "alerts": alerts}
        story.begin()
        answer = call(app, {"version": "2.0", "rawPath": "/alerts", "body": json.dumps(payload),
                            "requestContext": {"http": {"method": "POST", "path": "/alerts"}},
                            "headers": {"authorization": "Bearer demo-token", "content-type": "application/json"}})
        summary = json.loads(answer["body"])
        story.say(f"$ POST /alerts   # {what} ({status})")
        story.say(f"    {answer['statusCode']} {summary.get('action')}")
        story.cost()
        if summary.get("action") == "created":
            story.card("HighErrorRate")
        else:
            story.card("HighErrorRate", comments_only=True)
    story.say()


def _archival(story: _Story, env: dict[str, str], done_list: str) -> None:
    from grafana_bridge import cli as bridge_cli

    trello = story.trello
    real = trello.clock
    trello.clock = lambda: real() - timedelta(days=20)  # a card a person finished 20 days ago
    card = trello.add_card(done_list, "Rotate the TLS certificate")
    trello.clock = real
    trello.add_card(done_list, "Upgrade the runners")  # finished today: stays
    story.begin()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        code = bridge_cli.run(["archive", "--days", "14"], {**env, "TRELLO_DONE_LIST": "Done"})
    story.say("$ grafana-bridge archive --days 14   # the nightly cron job")
    for line in buf.getvalue().splitlines():
        story.say(f"    {line}")
    if code:
        story.say(f"    exit {code}")
    story.cost()
    closed = trello.get_card(card["id"])["closed"]
    story.say(f"    'Rotate the TLS certificate' (20 days in Done) {'archived' if closed else 'still open'}; "
              "'Upgrade the runners' (today) stays")


def run_demo(out: TextIO, verbose: bool = False) -> int:
    """Tell the whole story on ``out``; 0 when every step went as the README says."""
    key, token = secrets.token_hex(16), secrets.token_hex(32)
    juser, jtoken = "demo", secrets.token_hex(16)
    with TrelloEmulator(key=key, token=token) as trello, JenkinsEmulator(user=juser, token=jtoken) as jenkins:
        board = trello.add_board("Team board", datetime.now(timezone.utc) - timedelta(days=30),
                                 lists=["To Do", "Doing", "Done"])
        done = board["lists"][2]["id"]
        env = {
            "TRELLO_API_KEY": key, "TRELLO_TOKEN": token, "TRELLO_BOARD": board["shortLink"],
            "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url,
            "JENKINS_USER": juser, "JENKINS_API_TOKEN": jtoken,
        }
        story = _Story(out, trello, jenkins, board["id"], verbose)
        story.say(f"Trello emulator at {trello.url} (board page: {board['shortUrl']}), "
                  f"Jenkins emulator at {jenkins.url}")
        story.say("Board 'Team board' with lists To Do, Doing, Done.\n")
        jenkins.add_job(JOB)

        story.say("1. A Jenkins job breaks, stays broken, and is fixed")
        _notify(story, env, "SUCCESS")
        _notify(story, env, "FAILURE",
                [{"msg": "Refactor the parser", "author": "Ann Lee", "commitId": "3f9a2c1d0b"}],
                {"passed": 120, "skipped": 2, "failed": [("app.tests.ParserTest", "test_empty_input"),
                                                          ("app.tests.ParserTest", "test_unicode")]})
        story.say("  the card:")
        story.card("team/app")
        _notify(story, env, "FAILURE", [{"msg": "Try to fix the parser", "author": "Ann Lee",
                                          "commitId": "7be01c2a9d"}],
                {"passed": 121, "skipped": 2, "failed": [("app.tests.ParserTest", "test_unicode")]})
        _notify(story, env, "SUCCESS", [{"msg": "Fix unicode handling", "author": "Bo Chen",
                                          "commitId": "c0ffee1234"}], {"passed": 123, "skipped": 2, "failed": []})
        story.card("team/app", comments_only=True)
        _notify(story, env, "SUCCESS")
        story.board_summary()
        story.say()

        story.say("2. An alert group fires, changes and resolves (Alertmanager webhook through the bridge)")
        _alerts(story, env)

        story.say("3. Done-list archival")
        _archival(story, env, done)
        story.board_summary()
        story.say("\nEvery card the project opened is archived again; what stays open is what is broken right now.")
    return 0
