"""``grafana-bridge replay FILE [--dry-run]``: a saved webhook body through the bridge's own code path.

Why: when an alert made no card, the question is what the bridge decided and
why. Replay answers it without a sender: the body is decoded exactly as
``POST /alerts`` decodes it (``app.load_json``, ``app.decode_alert``, that is
``payloads.parse``), routed by the same policy and brought to the board by the
same ``BridgeApp.handle``; ``--dry-run`` plans the same writes and makes none
(reads still happen: the plan depends on the board).

Auth is not checked: the file is the operator's own, on the operator's disk.
A body the bridge would refuse (4xx) is exit 2, with the answer the bridge
would give; Trello failing is exit 1. Kinds of body are told apart by shape
(``body_kind``): a Jenkins Notification plugin event goes through
``jenkins_events.parse_event`` and ``notify`` exactly as ``POST /jenkins`` does
(its ``--dry-run`` is notify's), reading the previous build from ``JENKINS_URL``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jenkins_trello.cards import alert_key, job_key
from jenkins_trello.config import ConfigError, Limits, TrelloConfig
from jenkins_trello.jenkins import JenkinsError, JenkinsSettingError
from jenkins_trello.notify import Report, notify
from jenkins_trello.policy import load_policy
from jenkins_trello.trello import TrelloAuthError, TrelloError, TrelloNotFound

from .app import ANSWER_SECONDS, MAX_BODY, BridgeApp, Options, Reject, decode_alert, load_json
from .auth import AuthConfig
from .edge import trello_env
from .jenkins_events import BuildEvent, EventError, parse_event
from .jenkins_hook import NO_JENKINS, jenkins_access, skip_reason
from .payloads import AlertGroup, sender_problem
from .shared import Timeout

__all__ = ["KINDS", "add_arguments", "body_kind", "command", "jenkins_lines", "report_lines"]

PROG = "grafana-bridge replay"


def body_kind(doc: Any) -> str:
    """Which webhook a decoded body is, by shape (pure): ``jenkins`` (a dict with ``build.phase``) or ``alert``."""
    if isinstance(doc, dict) and isinstance(doc.get("build"), dict) and "phase" in doc["build"]:
        return "jenkins"
    return "alert"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a saved webhook body (JSON), as the sender posted it")
    p.add_argument("--dry-run", action="store_true", help="read the board and print the writes it would make; "
                                                          "write nothing")
    p.add_argument("--source", metavar="NAME", default=None,
                   help="the ?source=NAME the body was posted with (it joins the card's identity)")
    p.add_argument("--ignore-no-data", action="store_true", help="as serve --ignore-no-data")


def report_lines(group: AlertGroup, summary: Mapping[str, Any], writes: Sequence[str], dry_run: bool) -> list[str]:
    """What replay prints for an alert body: format, group, route, decision, each write (pure)."""
    out = [f"format: {group.source}",
           f"group: {group.name} (status {group.status}, {len(group.alerts)} alerts in the body; "
           f"card key {alert_key(group.identity)})"]
    if group.sender:
        out.append(f"sender: {group.sender}")
    if summary.get("action") == "ignored" and "route" not in summary:
        out.append("route: not looked up (this state changes nothing)")
    elif summary.get("reason"):
        out.append(f"route: {summary.get('route') or 'none'} (left alone: {summary['reason']})")
    else:
        out.append(f"route: {summary.get('route')}")
    out.append(f"decision: {summary.get('action')}" + (" (dry run)" if dry_run else ""))
    if summary.get("firing") is not None:
        out.append(f"firing on the card: {summary['firing']}")
    if writes:
        out.append("would write:" if dry_run else "wrote:")
        out += [f"  {line}" for line in writes]
    else:
        out.append("no write" + ("s needed" if summary.get("route") else "s: no Trello request"))
    if not dry_run:
        out.append(f"writes: {summary.get('writes', 0)}"
                   + (f" (duplicates archived: {summary['duplicatesArchived']})"
                      if summary.get("duplicatesArchived") else ""))
    if summary.get("cardUrl"):
        out.append(f"card: {summary['cardUrl']}")
    if summary.get("note"):
        out.append(f"note: {summary['note']}")
    return out


def _alert(doc: Any, args: argparse.Namespace, env: Mapping[str, str]) -> list[str]:
    group = decode_alert(doc, args.source)
    policy = load_policy(getattr(args, "config", None), env)
    ignore = bool(args.ignore_no_data) or env.get("GRAFANA_BRIDGE_IGNORE_NO_DATA", "") in ("1", "true", "yes")
    cfg = TrelloConfig.from_env(trello_env(env, policy))
    limits = Limits.from_env(env)  # a command's limits, like archive's (the server's are its answer budget)
    client = cfg.client(timeout=limits.timeout, retry_seconds=min(limits.retry_seconds, ANSWER_SECONDS))
    # no bridge credentials: replay checks none (the file is the operator's own)
    app = BridgeApp(cfg, AuthConfig(), Options(no_auth=True, ignore_no_data=ignore), client=client, policy=policy,
                    deliveries_kept=0)
    writes: list[str] = []
    summary = app.handle(group, time.monotonic() + ANSWER_SECONDS, dry_run=args.dry_run, report=writes)
    return report_lines(group, summary, writes, args.dry_run)


def jenkins_lines(event: BuildEvent, report: Report | None, skipped: str | None, dry_run: bool) -> list[str]:
    """What replay prints for a Notification plugin event: job, build, phase, decision, writes (pure)."""
    out = ["format: jenkins (Notification plugin)",
           f"job: {event.job} #{event.number} (phase {event.phase}, result {event.status or 'none'}"
           + (f", branch {event.branch}" if event.branch else "") + f"; card key {job_key(event.job)})"]
    if skipped is not None or report is None:
        return [*out, f"decision: nothing ({skipped})", "no writes: no Jenkins or Trello request"]
    out.append(f"decision: {report.action or 'nothing'}" + (f" ({report.reason})" if report.reason else "")
               + (" (dry run)" if dry_run else ""))
    out += [f"  {line}" for line in report.lines]
    if not dry_run:
        out.append(f"writes: {report.writes}")
    if report.card_url:
        out.append(f"card: {report.card_url}")
    return out


def _jenkins(doc: Any, args: argparse.Namespace, env: Mapping[str, str]) -> list[str]:
    try:
        event = parse_event(doc)
    except EventError as exc:
        raise Reject(422, str(exc)) from None
    skipped = skip_reason(event)
    if skipped is not None:
        return jenkins_lines(event, None, skipped, args.dry_run)
    access = jenkins_access(env)
    if access is None:
        raise ConfigError(NO_JENKINS)
    policy = load_policy(getattr(args, "config", None), env)
    cfg = TrelloConfig.from_env(trello_env(env, policy))
    limits = Limits.from_env(env)
    client = cfg.client(timeout=limits.timeout, retry_seconds=min(limits.retry_seconds, ANSWER_SECONDS))
    report = notify(cfg, client, access.reader(), job=event.job, build=event.number, build_url=event.url,
                    result=event.status or "", branch=event.branch, dry_run=args.dry_run, policy=policy)
    return jenkins_lines(event, report, None, args.dry_run)


#: body kind -> runner (decoded body, arguments, environment) -> lines to print
KINDS: dict[str, Callable[[Any, argparse.Namespace, Mapping[str, str]], list[str]]] = {
    "alert": _alert, "jenkins": _jenkins}


def _refuse(file: str, status: int, reason: str) -> int:
    sys.stderr.write(f"{PROG}: {file}: the bridge would answer {status}: {reason}\n")
    return 2


def command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run one saved body; exit 0 done, 2 a body the bridge would refuse or a bad setting, 1 Trello failing."""
    file = args.file
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_BODY + 1)
    except OSError as exc:
        sys.stderr.write(f"{PROG}: error: cannot read {file}: {exc.strerror or type(exc).__name__}\n")
        return 2
    if len(raw) > MAX_BODY:
        return _refuse(file, 413, f"body over {MAX_BODY} bytes")
    reason = sender_problem(args.source)
    if reason:
        sys.stderr.write(f"{PROG}: error: --source: {reason}\n")
        return 2
    try:
        doc = load_json(raw)
        lines = KINDS[body_kind(doc)](doc, args, env)
    except Reject as rej:
        return _refuse(file, rej.status, rej.reason)
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except (TrelloAuthError, TrelloNotFound) as exc:  # credentials, board or list: a setting to change
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except JenkinsSettingError as exc:  # JENKINS_URL names no Jenkins, or refuses these credentials
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except (TrelloError, Timeout, JenkinsError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
