"""``grafana-bridge``: ``serve`` (the webhook bridge) and ``archive`` (the Done-list cron job).

Exit codes as for ``jenkins-trello``: 0 done, 1 a service failed after
retries, 2 bad usage or configuration (one line naming what is wrong).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import NoReturn

from jenkins_trello.config import ConfigError

PROG = "grafana-bridge"
# waitress refuses a body whose length is >= its limit (and counts chunk framing), so its limit sits a little
# above the app's: the app answers 413 for exactly "over 1 MiB", waitress only stops absurd bodies early.
SERVER_BODY_SLACK = 64 * 1024


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
    from . import archive

    parser = _Parser(prog=PROG, description="Grafana / Alertmanager alerts on Trello, and Done-list archival.")
    sub = parser.add_subparsers(dest="command", metavar="{serve,archive}", parser_class=_Parser)
    sub.required = True
    s = sub.add_parser("serve", help="run the webhook bridge (POST /alerts, GET /healthz, GET /metrics)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    s.add_argument("--no-auth", action="store_true", help="accept webhooks without credentials (trusted networks)")
    s.add_argument("--ignore-no-data", action="store_true",
                   help="treat Grafana legacy no_data as no change instead of alerting")
    s.add_argument("--threads", type=int, default=32, help="worker threads (default 32)")
    s.add_argument("--verbose", action="store_true", help="debug logging")
    a = sub.add_parser("archive", help="archive cards that have sat in the Done list for more than N days")
    archive.add_arguments(a)
    return parser


def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from . import server
    from .app import MAX_BODY
    from .wsgi import from_env

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler], force=True)
    try:
        app = from_env(env, no_auth=args.no_auth, ignore_no_data=args.ignore_no_data)
    except ValueError as exc:  # ConfigError included
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    methods = [m for m, on in (("bearer", app.auth.token), ("basic", app.auth.basic_enabled),
                               ("hmac", app.auth.hmac_secret)) if on] or ["none (--no-auth)"]
    logging.getLogger("grafana_bridge").info(json.dumps(
        {"event": "start", "listen": f"http://{args.host}:{args.port}", "auth": methods, "board": app.trello.board}))
    # grafana_bridge.server: waitress with slow clients cut off and /healthz never queued behind Trello work
    server.create_server(app, host=args.host, port=args.port, threads=max(1, args.threads), no_auth=args.no_auth,
                         max_request_body_size=MAX_BODY + SERVER_BODY_SLACK, ident=PROG).run()
    return 0


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args, env)
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
