"""``grafana-bridge``: ``serve`` (the webhook bridge) and ``archive`` (the Done-list cron job).

Exit codes as for ``jenkins-trello``: 0 done, 1 a service failed after
retries, 2 bad usage or configuration (one line naming what is wrong).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import NoReturn

from jenkins_trello.cli import ENV_HELP, add_config_option, env_epilog, resolve_config
from jenkins_trello.config import ConfigError

PROG = "grafana-bridge"


BRIDGE_ENV_HELP = {
    **ENV_HELP,
    "GRAFANA_BRIDGE_TOKEN": "accept Authorization: Bearer <token>",
    "GRAFANA_BRIDGE_USER": "accept HTTP basic auth, with GRAFANA_BRIDGE_PASSWORD",
    "GRAFANA_BRIDGE_PASSWORD": "the basic-auth password",
    "GRAFANA_BRIDGE_HMAC_SECRET": "accept Grafana's HMAC-signed webhooks",
    "GRAFANA_BRIDGE_HMAC_REQUIRE_TIMESTAMP": "1: refuse HMAC-signed webhooks without the signed timestamp",
    "GRAFANA_BRIDGE_JENKINS_TOKEN": "accept POST /jenkins?token=<token> (the Notification plugin; /jenkins only)",
    "GRAFANA_BRIDGE_NO_AUTH": "1: the same as --no-auth",
    "GRAFANA_BRIDGE_IGNORE_NO_DATA": "1: the same as --ignore-no-data",
    "PROMETHEUS_MULTIPROC_DIR": "an empty directory: /metrics sums every process writing there (gunicorn workers)",
    "GRAFANA_BRIDGE_DELIVERIES": "how many deliveries GET /deliveries keeps, 0-10000 (default: 200; 0: none)",
}
_TRELLO = ["TRELLO_API_KEY", "TRELLO_TOKEN", "TRELLO_BOARD", "TRELLO_LIST", "TRELLO_DONE_LIST", "TRELLO_API_URL"]
_AUTH = ["GRAFANA_BRIDGE_TOKEN", "GRAFANA_BRIDGE_USER", "GRAFANA_BRIDGE_PASSWORD", "GRAFANA_BRIDGE_HMAC_SECRET",
         "GRAFANA_BRIDGE_HMAC_REQUIRE_TIMESTAMP", "GRAFANA_BRIDGE_JENKINS_TOKEN"]
_JENKINS = ["JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN"]
_LIMITS = ["JENKINS_TRELLO_TIMEOUT", "JENKINS_TRELLO_RETRY_SECONDS", "JENKINS_TRELLO_RATE"]
_CONFIG = ["JENKINS_TRELLO_CONFIG"]
COMMAND_ENV = {
    "serve": _TRELLO + _AUTH + ["GRAFANA_BRIDGE_NO_AUTH", "GRAFANA_BRIDGE_IGNORE_NO_DATA",
                                "GRAFANA_BRIDGE_DELIVERIES"] + _JENKINS + _LIMITS + _CONFIG
    + ["PROMETHEUS_MULTIPROC_DIR"],
    "archive": _TRELLO + _LIMITS + _CONFIG,
    "doctor": _TRELLO + _AUTH + ["GRAFANA_BRIDGE_NO_AUTH"] + _JENKINS + _LIMITS + _CONFIG,
    "replay": _TRELLO + ["GRAFANA_BRIDGE_IGNORE_NO_DATA"] + _JENKINS + _LIMITS + _CONFIG,
}
#: webhook threads: mostly waiting (for a shared read, a pacing turn), so enough for a storm to run at once
SERVE_THREADS = 128
#: how long serve waits for Trello at start before it starts anyway (and answers 503 until Trello is back)
START_CHECK_SECONDS = 5.0


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1-65535)")
    return value


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a number") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1-1024)")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, so log pipelines need no parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        try:
            data = json.loads(msg)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"msg": msg}
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
               "level": record.levelname.lower(), "logger": record.name, **data}
        return json.dumps(out, ensure_ascii=False)


def build_parser() -> argparse.ArgumentParser:
    from . import archive, replay

    parser = _Parser(prog=PROG, description="Grafana / Alertmanager alerts on Trello, and Done-list archival.")
    sub = parser.add_subparsers(dest="command", metavar="{serve,archive,doctor,replay}", parser_class=_Parser)
    sub.required = True

    def add(name: str, help: str) -> argparse.ArgumentParser:  # noqa: A002 - argparse's own word
        return sub.add_parser(name, help=help, description=help,
                              epilog=env_epilog(COMMAND_ENV[name], BRIDGE_ENV_HELP),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    s = add("serve", "run the webhook bridge (POST /alerts, POST /jenkins, GET /healthz, GET /metrics, "
                     "GET /deliveries)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=_port, default=8080, help="port, 1-65535 (default 8080)")
    s.add_argument("--no-auth", action="store_true", help="accept webhooks without credentials (trusted networks)")
    s.add_argument("--ignore-no-data", action="store_true",
                   help="treat Grafana legacy no_data as no change instead of alerting")
    s.add_argument("--threads", type=_threads, default=SERVE_THREADS,
                   help=f"worker threads (default {SERVE_THREADS}: a storm's webhooks share reads only when "
                        "they run at once)")
    s.add_argument("--verbose", action="store_true", help="debug logging")
    a = add("archive", "archive cards that have sat in the Done list for more than N days")
    archive.add_arguments(a)
    d = add("doctor", "check the bridge's settings live, one line each (exit 0 all good, 2 a setting is wrong, "
                      "1 a service is down)")
    d.add_argument("--no-auth", action="store_true", help="the bridge will run with --no-auth")
    r = add("replay", "run a saved webhook body through the bridge's own code path, as if posted (no credentials "
                      "checked); --dry-run prints the writes it would make")
    replay.add_arguments(r)
    for p in sub.choices.values():
        add_config_option(p)
    return parser


def auth_checks(env: Mapping[str, str], no_auth: bool = False) -> list:
    """Which bridge auth is on, and any half-set pair (names only: no value is ever shown)."""
    from jenkins_trello.doctor import Check

    from .auth import AuthConfig

    auth = AuthConfig.from_env(env)
    out = [Check(False, w.split()[0], w.split(" ", 1)[1] + ": set both, or neither") for w in auth.warnings()]
    methods = [m for m, on in (("bearer", auth.token), ("basic", auth.basic_enabled), ("hmac", auth.hmac_secret),
                               ("jenkins query token", auth.jenkins_token)) if on]
    no_auth = no_auth or env.get("GRAFANA_BRIDGE_NO_AUTH", "") in ("1", "true", "yes")
    if methods:
        out.append(Check(True, "GRAFANA_BRIDGE_AUTH", "on: " + ", ".join(methods)))
    elif no_auth:
        out.append(Check(True, "GRAFANA_BRIDGE_NO_AUTH", "webhooks are accepted without credentials"))
    else:
        out.append(Check(False, "GRAFANA_BRIDGE_TOKEN", "no bridge credentials are set, so serve refuses to start: "
                                                        "set GRAFANA_BRIDGE_TOKEN (or GRAFANA_BRIDGE_USER and "
                                                        "GRAFANA_BRIDGE_PASSWORD, or GRAFANA_BRIDGE_HMAC_SECRET), "
                                                        "or pass --no-auth"))
    return out


def jenkins_hook_checks(env: Mapping[str, str]) -> list:
    """POST /jenkins's settings: JENKINS_URL live when set (version, user), else one line saying /jenkins is off."""
    from jenkins_trello.doctor import Check, jenkins_checks

    if not (env.get("JENKINS_URL") or "").strip():
        if (env.get("GRAFANA_BRIDGE_JENKINS_TOKEN") or "").strip():
            return [Check(False, "JENKINS_URL", "not set, but GRAFANA_BRIDGE_JENKINS_TOKEN is: POST /jenkins "
                                                "answers 503 until JENKINS_URL names the Jenkins it reads")]
        return [Check(True, "JENKINS_URL", "not set: POST /jenkins is off (answers 503); set it to take the "
                                           "Jenkins Notification plugin's events")]
    names = ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN", "JENKINS_TRELLO_TIMEOUT",
             "JENKINS_TRELLO_RETRY_SECONDS")
    jenv = {n: env[n] for n in names if env.get(n)}  # no JOB_NAME: the hook serves every job
    return [c for c in jenkins_checks(jenv) if c.setting != "JOB_NAME"]


def doctor(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from jenkins_trello.config import Limits, TrelloConfig
    from jenkins_trello.doctor import DOCTOR_RETRY_SECONDS, exit_code, trello_checks

    from .edge import load_checks, policy_checks, trello_env

    policy, problems = load_checks(getattr(args, "config", None), env)
    if policy is None:
        checks = list(problems) + auth_checks(env, args.no_auth)
    else:
        tenv = trello_env(env, policy)
        checks = trello_checks(tenv, ("TRELLO_LIST", "TRELLO_DONE_LIST"))
        if policy.source != "<environment>" and all(c.ok for c in checks):
            # the file's alert boards and sweeps, one line each (the default board was checked above)
            cfg = TrelloConfig.from_env(tenv)
            limits = Limits.from_env(tenv)
            client = cfg.client(timeout=limits.timeout,
                                retry_seconds=min(limits.retry_seconds, DOCTOR_RETRY_SECONDS))
            checks += policy_checks(policy, client, cfg.api_url)
        checks += jenkins_hook_checks(env) + auth_checks(env, args.no_auth)
    for check in checks:
        sys.stdout.write(check.line() + "\n")
    sys.stdout.flush()
    return exit_code(checks)


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 2


def check_trello_at_start(app: object, log: logging.Logger) -> None:
    """One read per board before serving: a setting Trello refuses stops the start (ConfigError); Trello down does not.

    A bridge that starts with a revoked token, or with a policy file whose route
    names a board or list that is not there, would answer 503 to every webhook
    of that route forever while looking healthy; a bridge that refused to start
    because Trello had a bad minute would lose alerts for no reason. With a
    policy file, every board a route uses is read (labels and members are not
    start-up matters: a missing label is created, ``doctor`` reports members).
    """
    from jenkins_trello.cards import resolve_list, snapshot_board
    from jenkins_trello.doctor import board_needs
    from jenkins_trello.settings import checked_board_read, explain_trello, list_missing
    from jenkins_trello.trello import TrelloError

    cfg = app.trello  # type: ignore[attr-defined]
    policy = app.policy  # type: ignore[attr-defined]
    client = cfg.client(timeout=START_CHECK_SECONDS, retry_seconds=START_CHECK_SECONDS)

    def unreachable(exc: TrelloError) -> None:
        log.warning(json.dumps({"event": "trello unreachable at start", "error": str(exc)[:300],
                                "note": "serving anyway; webhooks answer 503 until Trello is back"}))

    try:
        lists = checked_board_read(client, cfg.board, cfg.api_url, lambda: client.board_lists(cfg.board,
                                                                                               with_cards=False))
    except TrelloError as exc:
        unreachable(exc)
        return
    try:
        resolve_list([(str(x.get("id", "")), str(x.get("name", ""))) for x in lists], cfg.list)
    except LookupError as exc:
        raise ConfigError(list_missing("TRELLO_LIST", str(exc))) from None
    if policy.source == "<environment>":
        return
    for needs in board_needs(policy):
        wanted = [(name, what) for name, what in needs.lists if what != "archive sweep"]
        if not wanted and needs.board != cfg.board:
            continue  # a board only a sweep names: archive's business
        try:
            board = snapshot_board(client.board_snapshot(needs.board))
        except TrelloError as exc:
            message = explain_trello(exc, needs.board, cfg.api_url, member_ok=True)
            if message is None:
                unreachable(exc)
                return
            raise ConfigError(f"{policy.source}: board {needs.board}: {message}") from None
        for name, what in wanted:
            try:
                resolve_list(board.lists, name)
            except LookupError as exc:
                raise ConfigError(f"{policy.source}: list {name!r} ({what}) on board {board.name or needs.board!r} "
                                  f"({needs.board}): {exc}: add the list or correct the name in the file") from None


def reload_policy(app: object, path: str | None, env: Mapping[str, str], log: logging.Logger) -> bool:
    """Read and validate the policy again; a good one replaces the app's, a bad one keeps it (logged why).

    One JSON line either way, so the log says which policy the next webhooks use.
    """
    from jenkins_trello.policy import load_policy

    with _RELOAD:  # two quick SIGHUPs: the later read is the one that stays
        try:
            policy = load_policy(path, env)
        except ConfigError as exc:
            problems = getattr(exc, "problems", None) or [exc]
            log.error(json.dumps({"event": "policy reload", "status": "kept the previous policy",
                                  "error": str(exc)[:500], "problems": len(problems)}))
            return False
        app.set_policy(policy)  # type: ignore[attr-defined]
    log.info(json.dumps({"event": "policy reload", "status": "loaded", "policy": policy.source,
                         "alertRoutes": [r.name for r in policy.alerts], "boards": list(policy.boards())}))
    return True


_RELOAD = threading.Lock()


def install_reload(app: object, path: str | None, env: Mapping[str, str], log: logging.Logger) -> None:
    """SIGHUP re-reads the policy file. The reload runs in its own thread, never inside the signal handler."""
    import signal

    if not hasattr(signal, "SIGHUP"):
        return

    def on_hup(_signum: int, _frame: object) -> None:
        threading.Thread(target=reload_policy, args=(app, path, env, log), name="policy-reload",
                         daemon=True).start()

    signal.signal(signal.SIGHUP, on_hup)


def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from . import server
    from .wsgi import from_env

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler], force=True)
    log = logging.getLogger("grafana_bridge")
    from jenkins_trello.policy import load_policy

    try:
        policy = load_policy(getattr(args, "config", None), env)
        app = from_env(env, policy=policy, no_auth=args.no_auth, ignore_no_data=args.ignore_no_data)
    except (ValueError, ConfigError) as exc:  # a bad policy file, missing Trello settings, no bridge credentials
        return _fail(str(exc))
    half = app.auth.warnings()
    if half:
        return _fail(half[0] + ": set both, or neither")
    try:
        socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return _fail(f"--host {args.host[:60]!r} does not resolve to an address to listen on")
    try:
        check_trello_at_start(app, log)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        # waitress with slow clients cut off and /healthz never queued behind Trello work
        httpd = server.create_server(app, host=args.host, port=args.port, threads=max(1, args.threads),
                                     no_auth=args.no_auth, ident=PROG)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(f"--port {args.port} is already in use on {args.host}: pick another port or stop the "
                         "other server")
        if exc.errno == errno.EACCES:
            return _fail(f"--port {args.port} needs privileges on {args.host}: use a port above 1023")
        if exc.errno == errno.EADDRNOTAVAIL:
            return _fail(f"--host {args.host[:60]!r} is not an address of this machine")
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or type(exc).__name__}")
    methods = [m for m, on in (("bearer", app.auth.token), ("basic", app.auth.basic_enabled),
                               ("hmac", app.auth.hmac_secret), ("jenkins query token", app.auth.jenkins_token))
               if on] or ["none (--no-auth)"]
    install_reload(app, getattr(args, "config", None), env, log)
    log.info(json.dumps(
        {"event": "start", "listen": f"http://{args.host}:{args.port}", "auth": methods, "board": app.trello.board,
         "policy": app.policy.source, "alertRoutes": [r.name for r in app.policy.alerts],
         "jenkins": app.jenkins.url if app.jenkins else "off (JENKINS_URL not set: POST /jenkins answers 503)"}))
    try:
        httpd.run()
    except KeyboardInterrupt:
        pass
    return 0


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    resolve_config(args, env)
    if args.command == "serve":
        return serve(args, env)
    if args.command == "doctor":
        return doctor(args, env)
    if args.command == "replay":
        from . import replay

        return replay.command(args, env)
    from . import archive

    try:
        return archive.command(args, env)
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
