"""``jenkins-trello``: arguments, environment and exit codes; the deciding happens elsewhere.

Exit codes (DESIGN.md): 0 done, including "nothing to do"; 2 bad usage or
configuration, with a one-line message naming what is wrong; 1 a service
failed after retries, one line, no traceback unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import NoReturn

from .config import ConfigError, JenkinsConfig, Limits, TrelloConfig
from .jenkins import JenkinsError, JenkinsReader
from .lifecycle import normalize_result
from .trello import TrelloError

PROG = "jenkins-trello"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr with exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Keep one Trello card per failing Jenkins job.")
    parser.add_argument("--verbose", action="store_true", help="debug logging and tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="{notify,reconcile,demo}", parser_class=_Parser)
    sub.required = True

    n = sub.add_parser("notify", help="apply this build's result to the board (from a post block)")
    n.add_argument("--result", required=True,
                   help="currentBuild.currentResult: SUCCESS, UNSTABLE, FAILURE, ABORTED or NOT_BUILT (any case)")
    n.add_argument("--job", help="job full name (default: $JOB_NAME)")
    n.add_argument("--build", help="build number (default: $BUILD_NUMBER)")
    n.add_argument("--build-url", help="build URL (default: $BUILD_URL)")
    n.add_argument("--dry-run", action="store_true", help="read and decide, print what would be done, write nothing")

    r = sub.add_parser("reconcile", help="archive open cards whose job passes again or no longer exists")
    r.add_argument("--dry-run", action="store_true", help="print what would be done, write nothing")

    sub.add_parser("demo", help="run the whole lifecycle against local emulators (no credentials needed)")
    for p in sub.choices.values():
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    return parser


def _notify_args(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, int, str, str]:
    try:
        result = normalize_result(args.result)
    except ValueError as exc:
        raise ConfigError(f"--result: {exc}") from None
    job = (args.job or env.get("JOB_NAME") or "").strip()
    if not job:
        raise ConfigError("no job: pass --job or set JOB_NAME")
    raw_build = (args.build or env.get("BUILD_NUMBER") or "").strip()
    if not raw_build:
        raise ConfigError("no build number: pass --build or set BUILD_NUMBER")
    if not raw_build.isdigit() or int(raw_build) < 1:
        raise ConfigError(f"build number must be a positive integer, got {raw_build[:40]!r}")
    url = (args.build_url or env.get("BUILD_URL") or "").strip()
    return job, int(raw_build), url, result


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """The whole command, returning its exit code (tests call this in process)."""
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format=f"{PROG}: %(levelname)s: %(message)s", force=True)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(out=sys.stdout)
        from .notify import notify, reconcile

        trello_cfg = TrelloConfig.from_env(env)
        jenkins_cfg = JenkinsConfig.from_env(env)
        if args.command == "notify":
            job, build, url, result = _notify_args(args, env)
        limits = Limits.from_env(env)
        client = trello_cfg.client(timeout=limits.timeout, retry_seconds=limits.retry_seconds)
        reader = JenkinsReader(jenkins_cfg.url, jenkins_cfg.user, jenkins_cfg.token, timeout=limits.timeout,
                               retry_seconds=limits.retry_seconds)
        if args.command == "notify":
            report = notify(trello_cfg, client, reader, job=job, build=build, build_url=url, result=result,
                            dry_run=args.dry_run)
        else:
            report = reconcile(trello_cfg, client, reader, dry_run=args.dry_run)
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except (TrelloError, JenkinsError) as exc:
        if verbose:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    for line in report.lines:
        sys.stdout.write(line + "\n")
    for line in report.errors:
        sys.stderr.write(f"{PROG}: error: {line}\n")
    sys.stdout.flush()
    return 1 if report.failed else 0


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
