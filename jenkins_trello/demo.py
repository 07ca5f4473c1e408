"""``jenkins-trello demo``: the whole lifecycle against the bundled emulators, no credentials needed.

It runs the real command code (``cli.run``) and the real bridge application
against local Trello and Jenkins emulators over real sockets, and prints what
happened on the board after each step, with the requests each step cost.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
from typing import TextIO

from .emulator.jenkins import JenkinsEmulator
from .emulator.trello import TrelloEmulator


def _board_view(trello: TrelloEmulator, board_id: str) -> list[str]:
    names = {lst["id"]: lst["name"] for lst in trello.lists(board_id)}
    rows = []
    for card in trello.cards(board_id):
        n = len(trello.comments(card["id"]))
        rows.append(f"    [{names.get(card['idList'], '?')}] {card['name']}  ({n} comment{'s' if n != 1 else ''})")
    return rows or ["    (no open cards)"]


def run_demo(out: TextIO) -> int:
    from . import cli

    key, token = secrets.token_hex(16), secrets.token_hex(32)
    juser, jtoken = "demo", secrets.token_hex(16)
    with TrelloEmulator(key=key, token=token) as trello, JenkinsEmulator(user=juser, token=jtoken) as jenkins:
        board = trello.add_board("Team board")
        for name in ("To Do", "Doing", "Done"):
            trello.add_list(board["id"], name)
        env = {
            "TRELLO_API_KEY": key, "TRELLO_TOKEN": token, "TRELLO_BOARD": board["shortLink"],
            "TRELLO_API_URL": trello.url, "JENKINS_URL": jenkins.url,
            "JENKINS_USER": juser, "JENKINS_API_TOKEN": jtoken,
        }
        out.write(f"Trello emulator at {trello.url}, Jenkins emulator at {jenkins.url}\n")
        out.write("Board 'Team board' with lists To Do, Doing, Done.\n\n")

        job = "team/app"
        jenkins.add_job(job)
        steps = [
            ("SUCCESS", None, None),
            ("FAILURE", [{"msg": "Refactor the parser", "author": "Ann Lee", "commitId": "3f9a2c1d0b"}],
             {"passed": 120, "skipped": 2, "failed": [("app.tests.ParserTest", "test_empty_input"),
                                                       ("app.tests.ParserTest", "test_unicode")]}),
            ("FAILURE", [{"msg": "Try to fix the parser", "author": "Ann Lee", "commitId": "7be01c2a9d"}],
             {"passed": 121, "skipped": 2, "failed": [("app.tests.ParserTest", "test_unicode")]}),
            ("SUCCESS", [{"msg": "Fix unicode handling", "author": "Bo Chen", "commitId": "c0ffee1234"}],
             {"passed": 123, "skipped": 2, "failed": []}),
            ("SUCCESS", None, None),
        ]
        for result, changes, tests in steps:
            number = jenkins.start_build(job, changes=changes)
            if tests is not None:
                jenkins.record_tests(job, number, tests)  # the junit step runs before the post block
            trello.reset_log()
            jenkins.reset_log()
            argv = ["notify", "--result", result, "--job", job, "--build", str(number),
                    "--build-url", f"{jenkins.url}job/team/job/app/{number}/"]
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                code = cli.run(argv, env)
            jenkins.finish_build(job, number, result)
            out.write(f"$ jenkins-trello notify --result {result}   # {job} #{number}\n")
            for line in buf.getvalue().splitlines():
                out.write(f"    {line}\n")
            out.write(f"    exit {code}; requests: Jenkins {jenkins.count()}, Trello {trello.count()}\n")
            out.write("  board:\n" + "\n".join(_board_view(trello, board["id"])) + "\n\n")

        out.write("Alerts through the webhook bridge (Alertmanager format):\n")
        from grafana_bridge.app import BridgeApp, Options
        from grafana_bridge.auth import AuthConfig
        from grafana_bridge.lambda_handler import call

        from .config import TrelloConfig

        app = BridgeApp(TrelloConfig.from_env(env), AuthConfig(token="demo-token"), Options())
        for status in ("firing", "firing", "resolved"):
            alert = {"status": status, "labels": {"alertname": "HighErrorRate", "service": "checkout"},
                     "annotations": {"summary": "5xx rate above 5% for 10 minutes"},
                     "startsAt": "2026-11-29T06:00:00Z",
                     "endsAt": "2026-11-29T06:20:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"}
            payload = {"version": "4", "receiver": "trello", "status": status, "groupKey": "{}:{alertname=\"x\"}",
                       "groupLabels": {"alertname": "HighErrorRate"}, "commonLabels": alert["labels"],
                       "commonAnnotations": alert["annotations"], "externalURL": "http://alertmanager:9093",
                       "truncatedAlerts": 0, "alerts": [alert]}
            trello.reset_log()
            answer = call(app, {"version": "2.0", "rawPath": "/alerts", "body": json.dumps(payload),
                                "requestContext": {"http": {"method": "POST", "path": "/alerts"}},
                                "headers": {"authorization": "Bearer demo-token",
                                            "content-type": "application/json"}})
            summary = json.loads(answer["body"])
            out.write(f"  POST /alerts ({status}) -> {answer['statusCode']} {summary.get('action')}; "
                      f"Trello requests {trello.count()}\n")
        out.write("  board:\n" + "\n".join(_board_view(trello, board["id"])) + "\n\n")
        archived = trello.cards(board["id"], include_closed=True)
        out.write(f"Done: {len(archived)} cards were created in all; the open ones are what is broken right now.\n")
    return 0
