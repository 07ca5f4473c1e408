"""The notifier and the reconciler: read Jenkins, read the board, plan, write (the imperative shell).

Order matters for the request budget: Jenkins first (one request), and the
board only when the verdict needs it (success after success never touches
Trello); the test report only when a card is about to be created.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import messages
from .cards import Board, Card, job_key, job_of_key, resolve_list, snapshot_board
from .config import ConfigError, TrelloConfig
from .jenkins import JenkinsError, JenkinsReader, JenkinsSettingError, JobNotFound, TestSummary
from .lifecycle import Archive, Comment, Create, Op, Update, Want, apply, job_verdict, plan, reconcile_verdict
from .settings import checked_board_read, list_missing
from .trello import TrelloClient, TrelloError

log = logging.getLogger("jenkins_trello")


@dataclass
class Report:
    """Result lines for stdout, errors for stderr; ``failed`` decides exit code 1."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def read_board(client: TrelloClient, cfg: TrelloConfig) -> Board:
    return snapshot_board(client.board_snapshot(cfg.board))


def first_board_read(client: TrelloClient, cfg: TrelloConfig) -> Board:
    """The command's first board read, which also checks the Trello settings and ``TRELLO_LIST``.

    A refused key or token, a board the token cannot see, an API base that is no
    Trello and an intake list that is not on the board all become exit 2 here,
    before anything is written, with the same message in every command.
    """
    board = checked_board_read(client, cfg.board, cfg.api_url, lambda: read_board(client, cfg))
    try:
        resolve_list(board.lists, cfg.list)
    except LookupError as exc:
        raise ConfigError(list_missing("TRELLO_LIST", str(exc))) from None
    return board


def job_missing(job: str, url: str) -> str:
    """The one message for a job that Jenkins (which does answer as Jenkins) does not show."""
    return (f"JOB_NAME: no job {job!r} is visible on Jenkins at JENKINS_URL {url}: pass --job (or JOB_NAME) "
            "with the job's full name, folders included, and check that JENKINS_USER may read it")


def describe_ops(ops: Sequence[Op], board: Board) -> list[str]:
    """Human-readable lines for a plan, used by --dry-run."""
    out = []
    for op in ops:
        if isinstance(op, Create):
            out.append(f"create card {op.name!r} in list {board.list_name(op.list_id)!r}")
        elif isinstance(op, Comment):
            out.append(f"comment on card {op.card_id}: {op.text.splitlines()[0][:120]}")
        elif isinstance(op, Update):
            out.append(f"update card {op.card_id}: {op.name!r}")
        elif isinstance(op, Archive):
            out.append(f"archive {'duplicate ' if op.twin else ''}card {op.card_id}")
    return out


def notify(cfg: TrelloConfig, client: TrelloClient, reader: JenkinsReader, *, job: str, build: int,
           build_url: str, result: str, dry_run: bool = False) -> Report:
    """Apply one build's result to the board (the README's transition table)."""
    report = Report()
    try:
        builds = reader.builds(job, around=build)
    except JobNotFound:
        reader.version()  # a wrong JENKINS_URL is the likelier mistake: say so if it is
        raise JenkinsSettingError(job_missing(job, reader.url)) from None
    verdict = job_verdict(result, builds, build)
    label = f"{job} #{build}"
    if verdict.kind == "noop":
        report.lines.append(f"{label}: nothing to do ({verdict.reason})")
        return report
    result = result.strip().upper()
    me = next((b for b in builds if b.number == build), None)
    changes = me.changes if me is not None else ()
    culprits = me.culprits if me is not None else ()
    url = build_url or (me.url if me is not None else "")
    key = job_key(job)
    board = first_board_read(client, cfg)
    existing = board.cards_for(key)

    list_id = ""
    tests: TestSummary | None = None
    report_error: str | None = None
    if verdict.kind == "failing" and not existing:
        list_id = resolve_list(board.lists, cfg.list)  # first_board_read made sure it is there
        try:
            tests = reader.test_summary(job, build)
        except JenkinsError as exc:  # the card matters more than its test list
            report_error = str(exc)
            log.warning("%s", exc)

    if verdict.kind == "failing":
        want = Want(open=True, name=messages.card_name(job, build, result),
                    desc=messages.card_desc(job, build, url, result, changes, culprits, tests, report_error),
                    state=str(build), comment=messages.still_failing(job, build, url, result, changes))
    else:
        want = Want(open=False, comment=messages.fixed(job, build, url))
    ops, keep = plan(key, lambda _card: want, board, list_id)

    if dry_run:
        steps = describe_ops(ops, board) or ["nothing (the board already says so)"]
        report.lines += [f"{label}: {verdict.reason}: would {line}" for line in steps]
        return report
    outcome = apply(client, key, ops, keep, lambda: read_board(client, cfg))
    where = f" {outcome.card_url or outcome.card_id}" if (outcome.card_url or outcome.card_id) else ""
    extra = f", archived {outcome.twins_archived} duplicate(s)" if outcome.twins_archived else ""
    if outcome.action == "unchanged":
        report.lines.append(f"{label}: {verdict.reason}: card{where} already up to date{extra}")
    else:
        report.lines.append(f"{label}: {verdict.reason}: {outcome.action} card{where}{extra}")
    return report


def reconcile(cfg: TrelloConfig, client: TrelloClient, reader: JenkinsReader, *, dry_run: bool = False) -> Report:
    """Archive open job cards whose job now passes or is gone: the net under lost notifications."""
    report = Report()
    reader.version()  # JENKINS_URL answers as a Jenkins, or nothing counts as "gone"
    board = first_board_read(client, cfg)
    keys = sorted({c.key for c in board.cards if c.key.startswith("job:")})
    for key in keys:
        job = job_of_key(key) or key
        try:
            builds: list | None = reader.builds(job)
        except JobNotFound:
            builds = None
            try:
                gone = reader.job_gone(job)
            except JenkinsSettingError:
                raise
            except JenkinsError as exc:
                report.errors.append(f"{exc} (so {job!r} is not taken as deleted)")
                continue
            if not gone:
                report.errors.append(f"Jenkins answers 404 for {job!r} but its folder lists it: card kept")
                continue
        except JenkinsSettingError:
            raise
        except JenkinsError as exc:
            report.errors.append(str(exc))
            continue
        verdict = reconcile_verdict(builds)
        if verdict.kind == "running":
            report.lines.append(f"{job}: {verdict.reason}")
            continue
        if verdict.kind == "gone":
            want: Want | None = Want(open=False, comment=messages.reconciled_gone(job))
        elif verdict.kind == "passing" and verdict.build is not None:
            want = Want(open=False, comment=messages.reconciled_fixed(verdict.build.number, verdict.build.url))
        else:
            want = None  # still failing: keep the card, only fold duplicates

        def want_for(card: Card | None, want: Want | None = want) -> Want:
            return want or Want(open=True, state=card.state if card else "")

        ops, keep = plan(key, want_for, board, "")
        if ops:
            _run(report, client, cfg, key, job, ops, keep, board, verdict.reason, dry_run)
    if not report.lines and not report.errors:
        report.lines.append("reconcile: nothing to do")
    return report


def _run(report: Report, client: TrelloClient, cfg: TrelloConfig, key: str, job: str, ops: Sequence[Op],
         keep: Card | None, board: Board, reason: str, dry_run: bool) -> None:
    if dry_run:
        report.lines += [f"{job}: {reason}: would {line}" for line in describe_ops(ops, board)]
        return
    try:
        outcome = apply(client, key, ops, keep, lambda: read_board(client, cfg))
    except TrelloError as exc:
        report.errors.append(str(exc))
        return
    report.lines.append(f"{job}: {reason}: {outcome.action} card {outcome.card_url or outcome.card_id}")
