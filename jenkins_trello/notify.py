"""The notifier and the reconciler: read Jenkins, read the board, plan, write (the imperative shell).

Order matters for the request budget: Jenkins first (one request), and the
board only when the verdict needs it (success after success never touches
Trello); the test report only when a card is about to be created; the closed
cards only on a failure with no open card whose route reopens.

The policy was parsed once at the edge (``cli``); here one pure function picks
the job's route and the route's settings reach the pure decisions
(``job_verdict``, ``plan``) as plain values. A job that no route takes, or a
``skip`` route, is left alone before any request when its result decides the
route, and after the one Jenkins read when it does not (a success is routed by
the failure that opened its card, so the fix finds that card).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from . import messages
from .cards import Board, Card, closed_project_cards, job_key, job_of_key, resolve_list, snapshot_board
from .config import ConfigError, TrelloConfig
from .jenkins import BuildDetail, JenkinsError, JenkinsReader, JenkinsSettingError, JobNotFound, TestSummary
from .lifecycle import (
    FAILING,
    INERT,
    Archive,
    Build,
    Comment,
    CreateLabel,
    Op,
    Want,
    apply,
    describe_ops,
    fit,
    is_fixed,
    job_verdict,
    labels_from,
    labels_from_all,
    needs_intake_list,
    needs_reopen_read,
    plan,
    previous_result,
    reconcile_verdict,
    reopen_candidate,
    route_labels,
)
from .people import resolve_members
from .policy import Policy, Route, policy_from_env
from .routes import branch_of, jenkins_route
from .settings import checked_board_read, list_missing
from .templates import render_or_default
from .trello import TrelloClient, TrelloError

log = logging.getLogger("jenkins_trello")


@dataclass
class Report:
    """Result lines for stdout, errors for stderr; ``failed`` decides exit code 1."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # what notify did, for callers that answer in data rather than text (the bridge's POST /jenkins):
    # "ignored" (no route / a skip route), "nothing" (the verdict changes nothing), "planned" (--dry-run),
    # else the outcome's action ("created", "commented", "archived", "unchanged", ...)
    action: str = ""
    reason: str = ""
    card_id: str | None = None
    card_url: str | None = None
    writes: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def read_board(client: TrelloClient, cfg: TrelloConfig) -> Board:
    return snapshot_board(client.board_snapshot(cfg.board))


def first_board_read(client: TrelloClient, cfg: TrelloConfig, list_setting: str | None = "TRELLO_LIST") -> Board:
    """The command's first read of a board, which also checks the Trello settings and the intake list.

    A refused key or token, a board the token cannot see, an API base that is no
    Trello and an intake list that is not on the board all become exit 2 here,
    before anything is written, with the same message in every command.
    ``list_setting`` names the intake list in that message (``TRELLO_LIST``, or
    the policy file's route); None skips the list check (a board read only to
    clean up).
    """
    board = checked_board_read(client, cfg.board, cfg.api_url, lambda: read_board(client, cfg))
    if list_setting is not None:
        try:
            resolve_list(board.lists, cfg.list)
        except LookupError as exc:
            raise ConfigError(list_missing(list_setting, str(exc))) from None
    return board


def job_missing(job: str, url: str) -> str:
    """The one message for a job that Jenkins (which does answer as Jenkins) does not show."""
    return (f"JOB_NAME: no job {job!r} is visible on Jenkins at JENKINS_URL {url}: pass --job (or JOB_NAME) "
            "with the job's full name, folders included, and check that JENKINS_USER may read it")


# --------------------------------------------------------------------------- routing (pure)

ENVIRONMENT = "<environment>"


def from_file(policy: Policy) -> bool:
    """Whether the policy came from a file (its routes and settings are then named in messages)."""
    return policy.source != ENVIRONMENT


def left_alone(route: Route | None) -> str:
    """Why a job is left alone: no route takes it, or the route that takes it skips."""
    return "no route matches" if route is None else f"route {route.name} skips"


def acts(route: Route | None) -> bool:
    return route is not None and not route.skip


def routing_result(result: str, builds: Sequence[Build], current: int) -> str | None:
    """The failing result a card is about: the build's own when it fails, else the previous counted build's.

    A success is routed by the failure that opened its card, so that a route
    with ``result: [UNSTABLE]`` finds its card when the job passes again.
    """
    if result in FAILING:
        return result
    prev = previous_result(builds, current)
    return prev.result if prev else None


def reconcile_routing_result(builds: Sequence[Build] | None) -> str | None:
    """For reconcile: the newest counted build's result when it fails, else the newest failing one's (or None)."""
    done = sorted((b for b in builds or () if not b.building and b.result and b.result not in INERT),
                  key=lambda b: b.number, reverse=True)
    return next((b.result for b in done if b.result in FAILING), None)


def route_config(cfg: TrelloConfig, route: Route) -> TrelloConfig:
    """The Trello settings with the route's board and lists (key, token and API URL stay the environment's)."""
    return dataclasses.replace(cfg, board=route.board or cfg.board, list=route.list or cfg.list,
                               done_list=route.done_list or cfg.done_list)


def setting_name(policy: Policy, route: Route, what: str) -> str:
    """How a message names a route's setting: the variable in the environment-only set-up, else the file's key."""
    if not from_file(policy):
        return {"list": "TRELLO_LIST", "done_list": "TRELLO_DONE_LIST"}.get(what, "TRELLO_LIST")
    return f"{policy.source}: route {route.name}: {what}"


def _authors(changes: Sequence[object], culprits: Sequence[str]) -> list[str]:
    """The build's change authors then its culprits, each once (case-insensitively), as Jenkins names them."""
    out: list[str] = []
    seen: set[str] = set()
    for name in [getattr(c, "author", "") for c in changes] + list(culprits):
        key = " ".join(str(name).split()).casefold()
        if key and key != "unknown" and key not in seen:
            seen.add(key)
            out.append(str(name))
    return out


def _text(route: Route, kind: str, variables: Mapping[str, object], default: str, label: str) -> str:
    """A card text from the route's template, else the built-in one; a fallback is a warning on stderr."""
    text, reason = render_or_default(route.template(kind), variables, kind, default)
    if reason:
        log.warning("%s: route %s: %s", label, route.name, reason)
    return text


def _labels(route: Route, board: Board, board_ref: str, result: str
            ) -> tuple[tuple[str, ...], tuple[CreateLabel, ...], tuple[str, ...], tuple[str, ...]]:
    """The route's labels for a card about ``result``: (ids for a create, labels to create, managed, value ids)."""
    return route_labels(board.id or board_ref, route.labels, labels_from(route.labels_from, {"result": result}),
                        labels_from_all(route.labels_from),
                        [(lab.id, lab.name, lab.color) for lab in board.labels])


# --------------------------------------------------------------------------- notify


def settings_policy(cfg: TrelloConfig) -> Policy:
    """The environment-only policy for these Trello settings: one catch-all route to ``cfg.board``."""
    return policy_from_env({"TRELLO_BOARD": cfg.board, "TRELLO_LIST": cfg.list, "TRELLO_DONE_LIST": cfg.done_list})


def notify(cfg: TrelloConfig, client: TrelloClient, reader: JenkinsReader, *, job: str, build: int,
           build_url: str, result: str, branch: str | None = None, dry_run: bool = False,
           policy: Policy | None = None) -> Report:
    """Apply one build's result to the board of the job's route (the README's transition table).

    ``policy`` None is the environment-only set-up for ``cfg`` (one catch-all route).
    """
    policy = policy or settings_policy(cfg)
    report = Report()
    label = f"{job} #{build}"
    result = result.strip().upper()
    if result in FAILING:
        route = jenkins_route(policy, job, branch, result)
        if not acts(route):
            report.lines.append(f"{label}: left alone: {left_alone(route)}")
            report.action, report.reason = "ignored", left_alone(route)
            return report
    else:
        # routed by the previous build's failure: when no failing result could find a route, ask nobody
        candidates = [jenkins_route(policy, job, branch, r) for r in ("FAILURE", "UNSTABLE", None)]
        if not any(acts(r) for r in candidates):
            report.reason = left_alone(next((r for r in candidates if r), None))
            report.lines.append(f"{label}: left alone: {report.reason}")
            report.action = "ignored"
            return report
    try:
        builds = reader.builds(job, around=build)
    except JobNotFound:
        reader.version()  # a wrong JENKINS_URL is the likelier mistake: say so if it is
        raise JenkinsSettingError(job_missing(job, reader.url)) from None
    if result not in FAILING:
        route = jenkins_route(policy, job, branch, routing_result(result, builds, build))
        if not acts(route):
            report.lines.append(f"{label}: left alone: {left_alone(route)}")
            report.action, report.reason = "ignored", left_alone(route)
            return report
    assert route is not None
    tag = f"route {route.name}: " if dry_run and from_file(policy) else ""
    verdict = job_verdict(result, builds, build, route.after_failures, route.unstable)
    if verdict.kind == "noop":
        report.lines.append(f"{label}: {tag}nothing to do ({verdict.reason})")
        report.action, report.reason = "nothing", verdict.reason
        return report
    me: BuildDetail | None = next((b for b in builds if b.number == build), None)
    changes = me.changes if me is not None else ()
    culprits = me.culprits if me is not None else ()
    url = build_url or (me.url if me is not None else "")
    key = job_key(job)
    rcfg = route_config(cfg, route)
    board = first_board_read(client, rcfg, setting_name(policy, route, "list"))
    existing = board.cards_for(key)
    reopen: Card | None = None

    if verdict.kind == "failing":
        list_id = resolve_list(board.lists, rcfg.list)  # first_board_read made sure it is there
        if needs_reopen_read(Want(open=True), existing, route.reopen_within):
            reopen = reopen_candidate(closed_project_cards(client.closed_cards(rcfg.board)), key, time.time(),
                                      route.reopen_within)
        want = _failing_want(policy, route, board, rcfg, reader, job=job, build=build, url=url, result=result,
                             branch=branch, changes=changes, culprits=culprits, previous=verdict.previous,
                             new_card=not existing, label=label)
        if not needs_intake_list(want, existing) and reopen is None:
            list_id = ""
    else:
        list_id = ""
        fix_list_id = ""
        action = route.on_fix.action
        if action == "move" and existing and not is_fixed(existing[0].state):
            try:
                fix_list_id = resolve_list(board.lists, route.on_fix.list)
            except LookupError as exc:
                raise ConfigError(list_missing(setting_name(policy, route, "on_fix move"), str(exc))) from None
        want = Want(open=False, comment=messages.fixed(job, build, url, action, route.on_fix.list),
                    on_fix=action, fix_list_id=fix_list_id)
    want = fit(want)

    def want_for(card: Card | None) -> Want:
        if want.open or card is None:
            return want
        return dataclasses.replace(want, name=messages.fixed_name(job, card.state, build))

    ops, keep = plan(key, want_for, board, list_id, reopen=reopen)

    reason = verdict.reason
    if reason == "first failure" and existing and not is_fixed(existing[0].state):
        reason = "failing after a pass whose card stayed open"  # e.g. the fix's notification was lost
    if dry_run:
        steps = [f"would {line}" for line in describe_ops(ops, board, [reopen] if reopen else [])]
        report.lines += [f"{label}: {tag}{reason}: {line}"
                         for line in steps or ["nothing to write, the board already says so"]]
        report.action, report.reason = "planned", reason
        return report
    outcome = apply(client, key, ops, keep, lambda: read_board(client, rcfg))
    report.action, report.reason, report.writes = outcome.action, verdict.reason, outcome.writes
    report.card_id, report.card_url = outcome.card_id, outcome.card_url
    where = f" {outcome.card_url or outcome.card_id}" if (outcome.card_url or outcome.card_id) else ""
    extra = f", archived {outcome.twins_archived} duplicate(s)" if outcome.twins_archived else ""
    if outcome.action == "unchanged":
        report.lines.append(f"{label}: {reason}: card{where} already up to date{extra}")
    else:
        report.lines.append(f"{label}: {reason}: {outcome.action} card{where}{extra}")
    return report


def _failing_want(policy: Policy, route: Route, board: Board, rcfg: TrelloConfig, reader: JenkinsReader, *,
                  job: str, build: int, url: str, result: str, branch: str | None, changes: Sequence[object],
                  culprits: Sequence[str], previous: str | None, new_card: bool, label: str) -> Want:
    """The open want for a failing build: texts from the route's templates, its labels and (new cards) members.

    The test report is read only for a card about to be made (created or
    reopened): a comment on a card that is already there does not list tests.
    Members go only into a create, so a member a person removed stays removed.
    """
    tests: TestSummary | None = None
    report_error: str | None = None
    member_ids: tuple[str, ...] = ()
    absent: list[str] = []
    if new_card:
        try:
            tests = reader.test_summary(job, build)
        except JenkinsError as exc:  # the card matters more than its test list
            report_error = str(exc)
            log.warning("%s", exc)
        authors = _authors(changes, culprits) if route.culprits else []
        member_ids, absent = resolve_members(route.members, authors, policy.people,
                                             [(m.id, m.username, m.full_name) for m in board.members])
    variables = messages.jenkins_variables(job, build, url, result, changes, culprits, tests, report_error,  # type: ignore[arg-type]
                                           previous_result=previous, branch=branch_of(job, branch),
                                           people_not_on_board=absent)
    name = desc = ""
    if new_card:
        name = _text(route, "name", variables, messages.card_name(job, build, result), label)
        desc = _text(route, "desc", variables,
                     messages.card_desc(job, build, url, result, changes, culprits, tests, report_error,  # type: ignore[arg-type]
                                        people_not_on_board=absent), label)
    else:
        name = messages.card_name(job, build, result)
    comment = _text(route, "comment", variables,
                    messages.still_failing(job, build, url, result, changes), label)  # type: ignore[arg-type]
    label_ids, new_labels, managed, value_ids = _labels(route, board, rcfg.board, result)
    return Want(open=True, name=name, desc=desc, state=str(build), comment=comment,
                label_ids=label_ids, member_ids=member_ids, new_labels=new_labels,
                managed_label_ids=managed, value_label_ids=value_ids,
                again=messages.failing_again(job, build, url, result, changes))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- reconcile


def _without_fixed(board: Board) -> Board:
    """The board as reconcile sees it: a card marked fixed (``on_fix`` comment/move) is not a failing card."""
    return dataclasses.replace(board, cards=tuple(c for c in board.cards if not is_fixed(c.state)))


def read_boards(policy: Policy, cfg: TrelloConfig, client: TrelloClient) -> dict[str, Board]:
    """Every board the policy names, read once each (by the name the policy gives it).

    The environment-only set-up checks its intake list as it always did; with a
    file, lists are ``doctor``'s question (a board read only to clean up needs
    none). Two names for the same board (its id and its short link) are read
    once: the second name maps to the first one's snapshot.
    """
    boards: dict[str, Board] = {}
    by_id: dict[str, Board] = {}
    for name in policy.boards() or (cfg.board,):
        bcfg = dataclasses.replace(cfg, board=name)
        board = first_board_read(client, bcfg, None if from_file(policy) else "TRELLO_LIST")
        board = by_id.setdefault(board.id, board) if board.id else board
        boards[name] = board
    return boards


def reconcile(cfg: TrelloConfig, client: TrelloClient, reader: JenkinsReader, *, dry_run: bool = False,
              policy: Policy | None = None) -> Report:
    """Archive open job cards whose job now passes or is gone, on every board: the net under lost notifications.

    A card on a board its job's route no longer uses is archived (with a link)
    once the route's board has the job's card; until then it stays, and the
    output says why. A card marked fixed is left alone.
    """
    policy = policy or settings_policy(cfg)
    report = Report()
    reader.version()  # JENKINS_URL answers as a Jenkins, or nothing counts as "gone"
    boards = read_boards(policy, cfg, client)
    views = {name: _without_fixed(b) for name, b in boards.items()}
    names = list(dict.fromkeys(views))
    seen_ids: set[str] = set()
    unique = []
    for name in names:  # a board named twice (id and short link) is reconciled once
        bid = views[name].id or name
        if bid not in seen_ids:
            seen_ids.add(bid)
            unique.append(name)
    keys = sorted({c.key for n in unique for c in views[n].cards if c.key.startswith("job:")})
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
        route = jenkins_route(policy, job, None, reconcile_routing_result(builds)) if builds is not None else None
        verdict = reconcile_verdict(builds, route.unstable if acts(route) and route is not None else "failing")
        if verdict.kind == "running":
            report.lines.append(f"{job}: {verdict.reason}")
            continue
        home = views.get(route.board) if acts(route) and route is not None else None
        for name in unique:
            board = views[name]
            if not board.cards_for(key):
                continue
            bcfg = dataclasses.replace(cfg, board=name)
            elsewhere = home is not None and (home.id or route.board) != (board.id or name)  # type: ignore[union-attr]
            if verdict.kind == "gone":
                want: Want | None = Want(open=False, comment=messages.reconciled_gone(job))
            elif verdict.kind == "passing" and verdict.build is not None:
                want = Want(open=False, comment=messages.reconciled_fixed(verdict.build.number, verdict.build.url))
            elif elsewhere and home is not None and home.cards_for(key):
                target = home.cards_for(key)[0]
                ops: list[Op] = []
                for card in board.cards_for(key):
                    ops += [Comment(card.id, messages.moved_route(job, target.url)), Archive(card.id)]
                _run(report, client, bcfg, key, job, ops, board.cards_for(key)[0], board,
                     f"its route {route.name} uses board {route.board} now", dry_run)  # type: ignore[union-attr]
                continue
            else:
                want = None  # still failing: keep the card, only fold duplicates
                if elsewhere:
                    report.lines.append(f"{job}: still failing and its route {route.name} uses board "  # type: ignore[union-attr]
                                        f"{route.board} now, which has no card for it yet: card kept on board {name}")

            fixed_in = verdict.build.number if verdict.kind == "passing" and verdict.build is not None else None

            def want_for(card: Card | None, want: Want | None = want, fixed_in: int | None = fixed_in,
                         job: str = job) -> Want:
                if want is not None and card is not None and fixed_in is not None:
                    return dataclasses.replace(want, name=messages.fixed_name(job, card.state, fixed_in))
                return want or Want(open=True, state=card.state if card else "")

            ops, keep = plan(key, want_for, board, "")
            if ops:
                _run(report, client, bcfg, key, job, ops, keep, board, verdict.reason, dry_run)
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
