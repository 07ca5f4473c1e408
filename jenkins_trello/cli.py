"""``jenkins-trello``: arguments, environment and exit codes; the deciding happens elsewhere.

Exit codes (README, configuration reference): 0 done, including "nothing to do"; 2 bad usage or
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
from .jenkins import JenkinsError, JenkinsReader, JenkinsSettingError
from .lifecycle import normalize_result
from .policy import Policy
from .trello import TrelloError

PROG = "jenkins-trello"

#: Every environment variable a command reads, with what it is for (shown in each command's --help).
ENV_HELP = {
    "TRELLO_API_KEY": "Trello API key (required)",
    "TRELLO_TOKEN": "Trello token (required)",
    "TRELLO_BOARD": "board id or 8-character short link (required)",
    "TRELLO_LIST": "list that new cards go to, name or id (default: To Do)",
    "TRELLO_DONE_LIST": "the Done list, name or id (default: Done)",
    "TRELLO_API_URL": "Trello API base (default: https://api.trello.com/1)",
    "JENKINS_URL": "Jenkins root URL (Jenkins sets it in builds; required)",
    "JENKINS_USER": "Jenkins user (with JENKINS_API_TOKEN; default: anonymous)",
    "JENKINS_API_TOKEN": "that user's API token",
    "JOB_NAME": "job full name, if --job is not given (Jenkins sets it)",
    "BRANCH_NAME": "the branch a policy file's routes match (Jenkins sets it in multibranch builds; "
                   "default: the job name's last segment)",
    "BUILD_NUMBER": "build number, if --build is not given (Jenkins sets it)",
    "BUILD_URL": "build URL, if --build-url is not given (Jenkins sets it)",
    "JENKINS_TRELLO_TIMEOUT": "seconds one HTTP request may take (default: 10)",
    "JENKINS_TRELLO_RETRY_SECONDS": "seconds a failing call is retried (default: 30)",
    "JENKINS_TRELLO_RATE": "Trello requests per 10 s for this host's processes together, 1-100 (default: 90)",
    "JENKINS_TRELLO_CONFIG": "the policy file, if --config is not given (default: none, the environment alone)",
}
_TRELLO = ["TRELLO_API_KEY", "TRELLO_TOKEN", "TRELLO_BOARD", "TRELLO_LIST", "TRELLO_DONE_LIST", "TRELLO_API_URL"]
_JENKINS = ["JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"]
_LIMITS = ["JENKINS_TRELLO_TIMEOUT", "JENKINS_TRELLO_RETRY_SECONDS", "JENKINS_TRELLO_RATE"]
_CONFIG = ["JENKINS_TRELLO_CONFIG"]
COMMAND_ENV = {
    "notify": _TRELLO + _JENKINS + ["JOB_NAME", "BUILD_NUMBER", "BUILD_URL", "BRANCH_NAME"] + _LIMITS + _CONFIG,
    "reconcile": _TRELLO + _JENKINS + _LIMITS + _CONFIG,
    "doctor": _TRELLO + _JENKINS + ["JOB_NAME"] + _LIMITS + _CONFIG,
    "check-config": _CONFIG + ["TRELLO_BOARD", "TRELLO_LIST", "TRELLO_DONE_LIST"],
    "demo": _CONFIG,
}
#: check-config also reads every variable the file names as ${VAR}
EXTRA_EPILOG = {"check-config": "  " + "${VAR}".ljust(len("JENKINS_TRELLO_CONFIG"))
                                + "  every variable the file names (a value is never printed)"}


def env_epilog(names: Sequence[str], table: Mapping[str, str] | None = None) -> str:
    """The --help epilog that lists the environment variables a command reads."""
    table = ENV_HELP if table is None else table
    if not names:
        return "environment: none (the emulators need no credentials)"
    width = max(len(n) for n in names)
    return "environment:\n" + "\n".join(f"  {n.ljust(width)}  {table[n]}" for n in names)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr with exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Keep one Trello card per failing Jenkins job.")
    parser.add_argument("--verbose", action="store_true", help="debug logging and tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="{notify,reconcile,doctor,check-config,demo}",
                                parser_class=_Parser)
    sub.required = True

    def add(name: str, help: str) -> argparse.ArgumentParser:  # noqa: A002 - argparse's own word
        epilog = env_epilog(COMMAND_ENV[name]) + ("\n" + EXTRA_EPILOG[name] if name in EXTRA_EPILOG else "")
        return sub.add_parser(name, help=help, description=help, epilog=epilog,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    n = add("notify", "apply this build's result to the board (from a post block)")
    n.add_argument("--result", required=True,
                   help="currentBuild.currentResult: SUCCESS, UNSTABLE, FAILURE, ABORTED or NOT_BUILT (any case)")
    n.add_argument("--job", help="job full name (default: $JOB_NAME)")
    n.add_argument("--build", help="build number (default: $BUILD_NUMBER)")
    n.add_argument("--build-url", help="build URL (default: $BUILD_URL)")
    n.add_argument("--dry-run", action="store_true", help="read and decide, print what would be done, write nothing")

    r = add("reconcile", "archive open cards whose job passes again or no longer exists")
    r.add_argument("--dry-run", action="store_true", help="print what would be done, write nothing")

    d = add("doctor", "check every setting live, one line each (exit 0 all good, 2 a setting is wrong, "
                      "1 a service is down)")
    d.add_argument("--job", help="also check that this job is visible (default: $JOB_NAME)")

    c = add("check-config", "validate a policy file without any network: every problem as FILE:LINE (exit 0 or 2)")
    c.add_argument("file", nargs="?", metavar="FILE",
                   help="the policy file (default: --config, else $JENKINS_TRELLO_CONFIG)")

    add("demo", "run the whole lifecycle against local emulators (no credentials needed)")
    for p in sub.choices.values():
        add_config_option(p)
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    return parser


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` on one sub-command; ``resolve_config`` fills in ``$JENKINS_TRELLO_CONFIG``."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="the policy file (default: $JENKINS_TRELLO_CONFIG; none: the environment alone)")


def resolve_config(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    """``args.config``: the option, else ``$JENKINS_TRELLO_CONFIG``, else None (the environment alone)."""
    from .policy import config_path

    args.config = config_path(getattr(args, "config", None), env)


def policy_env(env: Mapping[str, str], policy: Policy) -> Mapping[str, str]:
    """The environment with a policy file's Trello defaults filled in (key, token and API URL stay the env's).

    The environment-only set-up is returned as it is, so its settings are read
    and checked exactly as before; with a file, the file's ``trello:`` board and
    lists (already defaulted from ``TRELLO_*`` where the file leaves them out)
    are what the commands use.
    """
    if policy.source == "<environment>":
        return env
    return {**env, "TRELLO_BOARD": policy.board, "TRELLO_LIST": policy.list, "TRELLO_DONE_LIST": policy.done_list}


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
    resolve_config(args, env)
    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format=f"{PROG}: %(levelname)s: %(message)s", force=True)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(out=sys.stdout, verbose=verbose)
        if args.command == "doctor":
            return _doctor(args, env)
        if args.command == "check-config":
            return check_config(args.file or args.config, env)
        from .notify import notify, reconcile
        from .policy import load_policy

        policy = load_policy(args.config, env)
        trello_cfg = TrelloConfig.from_env(policy_env(env, policy))
        jenkins_cfg = JenkinsConfig.from_env(env)
        if args.command == "notify":
            job, build, url, result = _notify_args(args, env)
        limits = Limits.from_env(env)
        client = trello_cfg.client(timeout=limits.timeout, retry_seconds=limits.retry_seconds)
        reader = JenkinsReader(jenkins_cfg.url, jenkins_cfg.user, jenkins_cfg.token, timeout=limits.timeout,
                               retry_seconds=limits.retry_seconds)
        if args.command == "notify":
            branch = (env.get("BRANCH_NAME") or "").strip() or None
            report = notify(trello_cfg, client, reader, job=job, build=build, build_url=url, result=result,
                            branch=branch, dry_run=args.dry_run, policy=policy)
        else:
            report = reconcile(trello_cfg, client, reader, dry_run=args.dry_run, policy=policy)
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except JenkinsSettingError as exc:
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


def check_config(path: str | None, env: Mapping[str, str]) -> int:
    """Validate the policy file with no network: a one-line summary (exit 0) or every problem (exit 2).

    Problems go to stderr, one per line as ``FILE:LINE: what is wrong: what to
    change``, so that editors and CI logs can jump to them; the summary goes to
    stdout. A file that cannot be read is one ``FILE: ...`` line.
    """
    from .policy import PolicyError, check, parse_policy, read_policy_file

    if not path:
        raise ConfigError("no policy file: pass FILE or --config FILE, or set JENKINS_TRELLO_CONFIG")
    try:
        text = read_policy_file(path)
    except PolicyError as exc:
        sys.stderr.write(str(exc) + "\n")
        return 2
    problems = check(text, path, env)
    if problems:
        for problem in problems:
            sys.stderr.write(str(problem) + "\n")
        return 2
    policy = parse_policy(text, path, env)
    sys.stdout.write(f"{path}: ok ({_count(len(policy.jenkins), 'jenkins route')}, "
                     f"{_count(len(policy.alerts), 'alert route')}, {_count(len(policy.boards()), 'board')})\n")
    return 0


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _doctor(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .doctor import exit_code, jenkins_checks, policy_checks, trello_checks
    from .policy import load_policy

    policy = load_policy(args.config, env)
    if policy.source == "<environment>":
        checks = trello_checks(env)
    else:
        checks = trello_checks(policy_env(env, policy), list_settings=())
        if all(c.ok for c in checks):
            checks += policy_checks(policy_env(env, policy), policy)
    checks += jenkins_checks(env, job=args.job)
    for check in checks:
        sys.stdout.write(check.line() + "\n")
    sys.stdout.flush()
    return exit_code(checks)


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
