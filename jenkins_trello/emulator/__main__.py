"""Run one emulator standalone until interrupted.

    python -m jenkins_trello.emulator trello --port 8901 --key K --token T
    python -m jenkins_trello.emulator jenkins --port 8902 [--user U --token T] [--job team/app]

The base URL goes to stdout (first line, so scripts can read it); the rest
(the board that was created, lists, jobs) goes to stderr.  Credentials are
never printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

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

    jenkins = sub.add_parser("jenkins", help="serve the Jenkins JSON API")
    jenkins.add_argument("--host", default="127.0.0.1")
    jenkins.add_argument("--port", type=int, default=0)
    jenkins.add_argument("--user", default=None, help="require HTTP Basic with this user")
    jenkins.add_argument("--token", default=None, help="API token of --user")
    jenkins.add_argument("--no-crumbs", action="store_true", help="answer 404 on crumbIssuer")
    jenkins.add_argument("--job", action="append", default=[], help="create this job (full name); repeatable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the chosen emulator, print its URL, serve until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    emulator: TrelloEmulator | JenkinsEmulator
    if args.service == "trello":
        emulator = TrelloEmulator(
            key=args.key, token=args.token, rate_limit=args.rate_limit, host=args.host, port=args.port
        )
        emulator.start()
        board = emulator.add_board(args.board, lists=[name.strip() for name in args.lists.split(",") if name.strip()])
        lists = board.get("lists", [])
        print(emulator.url, flush=True)
        print(f"board {board['name']!r}: id {board['id']} shortLink {board['shortLink']}", file=sys.stderr)
        for lst in lists:
            print(f"  list {lst['name']!r}: {lst['id']}", file=sys.stderr)
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
