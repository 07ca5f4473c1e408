"""Run one emulator standalone until interrupted, or tell a running Jenkins emulator about a build.

    python -m jenkins_trello.emulator trello --port 8901 --key K --token T
    python -m jenkins_trello.emulator jenkins --port 8902 [--user U --token T] [--job team/app]
    python -m jenkins_trello.emulator build team/app --result FAILURE --failing-test app.T.test_x \
        --change 'alice@example.com:Fix the parser'

The base URL goes to stdout (first line, so scripts can read it); the rest
goes to stderr: the board and its lists, the jobs, and an ``export`` block
with the settings that point the commands at the emulator. The key and token
in it are the emulator's own throw-away ones (given with --key/--token, or the
defaults), which is why they may be printed; no other secret is. ``build``
prints the build's number on stdout and a line about it on stderr.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from . import control
from .jenkins import JenkinsEmulator
from .trello import TrelloEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jenkins_trello.emulator", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="service", required=True)

    trello = sub.add_parser("trello", help="serve the Trello REST API under /1")
    trello.add_argument("--host", default="127.0.0.1")
    trello.add_argument("--port", type=int, default=0)
    trello.add_argument("--key", default=os.environ.get("TRELLO_API_KEY", "k" * 32), help="API key to accept")
    trello.add_argument("--token", default=os.environ.get("TRELLO_TOKEN", "t" * 64), help="token to accept")
    trello.add_argument("--rate-limit", action="store_true", help="enforce 100/10s per token, 300/10s per key")
    trello.add_argument("--board", default="CI", help="name of the board created at start")
    trello.add_argument("--lists", default="To Do,Doing,Done", help="comma-separated lists of that board")
    trello.add_argument("--board-link", default=None, metavar="SHORTLINK",
                        help="the board's short link (8 letters or digits; default: random)")

    jenkins = sub.add_parser("jenkins", help="serve the Jenkins JSON API")
    jenkins.add_argument("--host", default="127.0.0.1")
    jenkins.add_argument("--port", type=int, default=0)
    jenkins.add_argument("--user", default=None, help="require HTTP Basic with this user")
    jenkins.add_argument("--token", default=None, help="API token of --user")
    jenkins.add_argument("--no-crumbs", action="store_true", help="answer 404 on crumbIssuer")
    jenkins.add_argument("--job", action="append", default=[], help="create this job (full name); repeatable")

    build = sub.add_parser("build", help="start (and finish) a build on a running Jenkins emulator")
    build.add_argument("job", help="the job's full name, e.g. team/app (created when missing)")
    build.add_argument("--jenkins", default=os.environ.get("JENKINS_URL"),
                       help="the emulator's URL (default: $JENKINS_URL)")
    build.add_argument("--user", default=os.environ.get("JENKINS_USER"), help="default: $JENKINS_USER")
    build.add_argument("--token", default=os.environ.get("JENKINS_API_TOKEN"), help="default: $JENKINS_API_TOKEN")
    build.add_argument("--result", type=str.upper, default=None,
                       help="finish the build with this result (SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT)")
    build.add_argument("--running", action="store_true",
                       help="leave the build running (with --result: its result so far, as in a post step)")
    build.add_argument("--finish", type=int, metavar="N", default=None,
                       help="finish the running build N with --result instead of starting one")
    build.add_argument("--failing-test", action="append", default=[], metavar="CLASS.TEST",
                       help="a failing test of its report; repeatable")
    build.add_argument("--passed", type=int, default=None, help="passing tests in its report")
    build.add_argument("--skipped", type=int, default=0, help="skipped tests in its report")
    build.add_argument("--change", action="append", default=[], metavar="AUTHOR:MESSAGE",
                       help="a change in the build, e.g. 'alice@example.com:Fix the parser'; repeatable")
    return parser


def _trello_exports(emulator: TrelloEmulator, key: str, token: str, board: dict, lists: list[str]) -> list[str]:
    """The shell lines that point the commands at this emulator (its own throw-away key and token)."""
    intake = lists[0] if lists else ""
    done = next((n for n in lists if n.casefold() == "done"), lists[-1] if lists else "")
    return [
        f"export TRELLO_API_URL={shlex.quote(emulator.url)}",
        f"export TRELLO_API_KEY={shlex.quote(key)} TRELLO_TOKEN={shlex.quote(token)}",
        f"export TRELLO_BOARD={shlex.quote(board['shortLink'])} TRELLO_LIST={shlex.quote(intake)} "
        f"TRELLO_DONE_LIST={shlex.quote(done)}",
    ]


def _jenkins_exports(emulator: JenkinsEmulator, user: str | None, token: str | None) -> list[str]:
    lines = [f"export JENKINS_URL={shlex.quote(emulator.url)}"]
    if user is not None and token is not None:
        lines.append(f"export JENKINS_USER={shlex.quote(user)} JENKINS_API_TOKEN={shlex.quote(token)}")
    return lines


def run_build(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``build``: one POST to the emulator's ``/_emulator/`` surface; 0, or 2 with one line saying why."""
    import requests

    if not args.jenkins:
        print("error: --jenkins URL (or JENKINS_URL) names the Jenkins emulator", file=err)
        return 2
    try:
        tests = (control.tests_report(args.failing_test, args.passed or 0, args.skipped)
                 if args.failing_test or args.passed is not None else None)
        changes = [control.parse_change(c) for c in args.change]
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return 2
    body: dict = {"job": args.job, "result": args.result, "tests": tests}
    if args.finish is not None:
        path, body["number"] = "finish", args.finish
    else:
        path, body["changes"], body["running"] = "builds", changes, args.running
    auth = (args.user, args.token) if args.user and args.token else None
    deadline = time.monotonic() + 10  # an emulator started just before may still be coming up
    while True:
        try:
            answer = requests.post(f"{args.jenkins.rstrip('/')}/_emulator/{path}", json=body, auth=auth, timeout=10)
            break
        except requests.ConnectionError as exc:
            if time.monotonic() > deadline:
                print(f"error: the Jenkins emulator at {args.jenkins} does not answer ({type(exc).__name__})",
                      file=err)
                return 1
            time.sleep(0.2)
        except requests.RequestException as exc:
            print(f"error: the Jenkins emulator at {args.jenkins} does not answer ({type(exc).__name__})", file=err)
            return 1
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if answer.status_code != 200:
        why = data.get("error") if isinstance(data, dict) else None
        print(f"error: HTTP {answer.status_code}: {why or 'not a Jenkins emulator, or credentials refused'}", file=err)
        return 2
    state = "running" if data["building"] else "finished"
    result = f" {data['result']}" if data.get("result") else ""
    print(data["number"], file=out)
    print(f"{data['job']} #{data['number']} {state}{result}: {data['url']}", file=err)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Start the chosen emulator, print its URL, serve until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    if args.service == "build":
        return run_build(args)
    emulator: TrelloEmulator | JenkinsEmulator
    if args.service == "trello":
        emulator = TrelloEmulator(
            key=args.key, token=args.token, rate_limit=args.rate_limit, host=args.host, port=args.port
        )
        emulator.start()
        try:
            board = emulator.add_board(args.board, lists=[n.strip() for n in args.lists.split(",") if n.strip()],
                                       short_link=args.board_link)
        except ValueError as exc:
            emulator.stop()
            print(f"error: --board-link: {exc}", file=sys.stderr)
            return 2
        lists = board.get("lists", [])
        print(emulator.url, flush=True)
        print(f"board {board['name']!r}: id {board['id']} shortLink {board['shortLink']}", file=sys.stderr)
        for lst in lists:
            print(f"  list {lst['name']!r}: {lst['id']}", file=sys.stderr)
        print(f"board view: {emulator.origin}/b/{board['shortLink']} (.json, .txt appended: as JSON, as text)",
              file=sys.stderr)
        print("\n".join(_trello_exports(emulator, args.key, args.token, board, [lst["name"] for lst in lists])),
              file=sys.stderr, flush=True)
    else:
        if (args.user is None) != (args.token is None):
            print("error: --user and --token go together", file=sys.stderr)
            return 2
        emulator = JenkinsEmulator(
            user=args.user, token=args.token, crumbs=not args.no_crumbs, host=args.host, port=args.port
        )
        emulator.start()
        for job in args.job:
            emulator.add_job(job)
        print(emulator.url, flush=True)
        for job in args.job:
            print(f"  job {job}", file=sys.stderr)
        print("\n".join(_jenkins_exports(emulator, args.user, args.token)), file=sys.stderr, flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
