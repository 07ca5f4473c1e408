"""Card lifecycle: what should happen on the board, decided as pure functions, then applied.

Both sources share this module. The Jenkins side and the alert bridge each turn
their event into a ``Want`` (should the subject have an open card, and with
what text); ``plan`` compares it with the board snapshot and returns the
writes; ``apply`` performs them through the Trello client and, after a create,
re-reads once to catch a twin made by a concurrent writer (two bridge replicas,
two builds finishing together): the project's oldest untouched card wins, the
rest are archived, each with a comment that links the kept card.

People's edits win: a card whose description a person edited keeps their text
(the news goes into a comment; only the marker line is renewed so the card's
state still advances), and a card a person renamed keeps their name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union

from .cards import Board, Card, restamp, with_marker
from .text import COMMENT_LIMIT, DESC_LIMIT, NAME_LIMIT, clean_text, clip, md_link
from .trello import TrelloClient

FAILING = frozenset({"FAILURE", "UNSTABLE"})
PASSING = frozenset({"SUCCESS"})
INERT = frozenset({"ABORTED", "NOT_BUILT"})
RESULTS = FAILING | PASSING | INERT


# --------------------------------------------------------------------------- wants and ops


@dataclass(frozen=True)
class Want:
    """The desired state of one subject's card.

    ``state`` is written into the marker; an open card whose state differs gets
    ``comment`` (and, with ``rewrite``, the new name and description, as far as
    people's edits allow: see ``plan``). A closed want comments then archives
    the open card, if there is one.
    """

    open: bool
    name: str = ""
    desc: str = ""
    state: str = ""
    comment: str = ""
    rewrite: bool = False


@dataclass(frozen=True)
class Create:
    list_id: str
    name: str
    desc: str


@dataclass(frozen=True)
class Comment:
    card_id: str
    text: str
    twin: bool = False  # the note on a duplicate about to be archived


@dataclass(frozen=True)
class Update:
    """New text for a card; an empty ``name`` leaves the card's name as it is (a person renamed it)."""

    card_id: str
    name: str
    desc: str


@dataclass(frozen=True)
class Archive:
    card_id: str
    twin: bool = False


Op = Union[Create, Comment, Update, Archive]


def duplicate_comment(kept: Card) -> str:
    """The comment on a card archived as a duplicate: why, and which card was kept (linked)."""
    where = md_link("the kept card", kept.url) if kept.url else f"card {kept.id}"
    return f"Archived as a duplicate of {where} (jenkins-trello keeps one card per job/alert group)."


def _fold(mine: Sequence[Card]) -> list[Op]:
    """Comment on, then archive, every card but the first (the one kept)."""
    ops: list[Op] = []
    for card in mine[1:]:
        ops += [Comment(card.id, duplicate_comment(mine[0]), twin=True), Archive(card.id, twin=True)]
    return ops


def rewrite_ops(key: str, card: Card, want: Want) -> list[Op]:
    """How a changed ``want`` with ``rewrite`` reaches an open card, respecting people's edits.

    - Untouched description (``pristine``): new name and description.
    - Edited (False) or unknown (None, an older marker without digest): the
      person's text stays word for word and only the marker line is renewed,
      so the state still advances (repeats make no write) while the body digest
      keeps saying "edited"; the news is in the comment. When the renewed
      text would not fit Trello's limit, nothing is rewritten (the comment
      alone carries the news).
    - A card a person renamed, or one whose name history is unknown, keeps
      its name (``Update.name`` empty).
    """
    # the marker's name digest is always that of the name the project wants: a
    # person's name keeps differing from it (so it is kept), until they rename
    # the card back to exactly that name
    name = "" if card.renamed or card.pristine is None else want.name
    if card.pristine:
        return [Update(card.id, name, with_marker(want.desc, key, want.state, name=want.name))]
    desc = restamp(card.body, key, want.state, card.digest, name=want.name)
    return [Update(card.id, name, desc)] if desc is not None else []


def plan(key: str, want_for: Callable[[Card | None], Want], board: Board, list_id: str) -> tuple[list[Op], Card | None]:
    """The writes that bring ``key``'s card to what is wanted, and the card acted on.

    ``want_for`` sees the current open card (the one kept) because some wants
    depend on it: a truncated alert list is merged with the card's firing set.
    Extra twins are always archived, each after a comment linking the kept
    card, so duplicates converge to one card; the kept one is the project's
    oldest untouched card (see ``cards.precedence``).
    """
    mine = board.cards_for(key)
    keep = mine[0] if mine else None
    ops: list[Op] = _fold(mine)
    want = want_for(keep)
    if want.open:
        if keep is None:
            ops.append(Create(list_id, want.name, with_marker(want.desc, key, want.state, name=want.name)))
        elif keep.state != want.state:
            # the update first: a delivery that fails after it leaves the card up to date, so its redelivery
            # finds nothing to do; a comment first would be written again on every redelivery
            if want.rewrite:
                ops += rewrite_ops(key, keep, want)
            if want.comment:
                ops.append(Comment(keep.id, want.comment))
    elif keep is not None:
        if want.comment:
            ops.append(Comment(keep.id, want.comment))
        ops.append(Archive(keep.id))
    return ops, keep


# --------------------------------------------------------------------------- text guard


def _fit_text(text: str, limit: int) -> str:
    return clip(clean_text(text), limit)


def fit(want: Want) -> Want:
    """The want with every text valid Unicode and within Trello's limits (pure).

    Rendering already bounds and cleans its text; this makes the guarantee once
    more, before any write, so that Trello never refuses the second write of a
    delivery after accepting the first.
    """
    return dataclasses.replace(want, name=_fit_text(want.name, NAME_LIMIT), desc=_fit_text(want.desc, DESC_LIMIT),
                               comment=_fit_text(want.comment, COMMENT_LIMIT))


class InvalidPlan(Exception):
    """A rendered text Trello would refuse: a bug, reported before any write is made."""


def _text_problem(text: object, what: str, limit: int, empty_ok: bool) -> str | None:
    if not isinstance(text, str):
        return f"{what} is not text"
    if not empty_ok and not text:
        return f"{what} is empty"
    if len(text) > limit:
        return f"{what} has {len(text)} characters, over Trello's {limit}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} is not valid Unicode"
    return None


def ops_problem(ops: Sequence[Op]) -> str | None:
    """Why Trello would refuse one of these writes, or None (pure).

    Checked for the whole plan before its first write: a plan refused half-way
    would leave its first writes behind, and every redelivery would repeat them.
    An ``Update`` with an empty name keeps the card's name (a person renamed it).
    """
    for op in ops:
        checks: list[tuple[str, str, int, bool]] = []
        if isinstance(op, Create):
            checks = [(op.name, "card name", NAME_LIMIT, False), (op.desc, "card description", DESC_LIMIT, True)]
        elif isinstance(op, Update):
            checks = [(op.name, "card name", NAME_LIMIT, True), (op.desc, "card description", DESC_LIMIT, True)]
        elif isinstance(op, Comment):
            checks = [(op.text, "comment", COMMENT_LIMIT, False)]
        for text, what, limit, empty_ok in checks:
            reason = _text_problem(text, what, limit, empty_ok)
            if reason:
                return reason
    return None


def twins(board: Board, key: str) -> list[str]:
    """Ids to archive when a key has more than one open card: all but the one kept."""
    return [c.id for c in board.cards_for(key)[1:]]


def describe(ops: Sequence[Op]) -> str:
    """One word for what a plan does, for summaries and metrics."""
    main = [op for op in ops if not (isinstance(op, (Archive, Comment)) and op.twin)]
    if not main:
        return "unchanged"
    if any(isinstance(op, Create) for op in main):
        return "created"
    if any(isinstance(op, Archive) for op in main):
        return "archived"
    if any(isinstance(op, Update) for op in main):
        return "updated"
    return "commented"


# --------------------------------------------------------------------------- apply


@dataclass
class Outcome:
    action: str
    card_id: str | None = None
    card_url: str | None = None
    writes: int = 0
    twins_archived: int = 0
    ops: list[Op] = field(default_factory=list)


def apply(
    client: TrelloClient,
    key: str,
    ops: Sequence[Op],
    keep: Card | None,
    reread: Callable[[], Board],
) -> Outcome:
    """Perform a plan in order; after a create, look once for a concurrent twin.

    Writes are not idempotent on Trello, so a create whose answer was lost may
    have happened twice; the twin check after creating is also what repairs that.
    Each twin gets its comment (linking the kept card) before it is archived.
    The whole plan is checked before the first write (``ops_problem``), so a
    text Trello would refuse never leaves half a change behind.
    """
    problem = ops_problem(ops)
    if problem:
        raise InvalidPlan(problem)
    out = Outcome(action=describe(ops), card_id=keep.id if keep else None, card_url=keep.url if keep else None,
                  ops=list(ops))
    created = False
    for op in ops:
        if isinstance(op, Create):
            card = client.create_card(op.list_id, op.name, op.desc)
            out.card_id = str(card.get("id")) if isinstance(card, dict) else None
            out.card_url = str(card.get("shortUrl") or card.get("url") or "") if isinstance(card, dict) else None
            created = True
        elif isinstance(op, Comment):
            client.comment(op.card_id, op.text)
        elif isinstance(op, Update):
            fields = {"name": op.name, "desc": op.desc} if op.name else {"desc": op.desc}
            client.update_card(op.card_id, **fields)
        elif isinstance(op, Archive):
            client.archive_card(op.card_id)
            if op.twin:
                out.twins_archived += 1
        out.writes += 1
    if created:
        mine = reread().cards_for(key)
        for op in _fold(mine):
            if isinstance(op, Comment):
                client.comment(op.card_id, op.text)
            else:
                client.archive_card(op.card_id)
                out.twins_archived += 1
            out.writes += 1
        if mine and mine[0].id != out.card_id:
            out.card_id, out.card_url = mine[0].id, mine[0].url
    return out


# --------------------------------------------------------------------------- Jenkins transitions


@dataclass(frozen=True)
class Build:
    number: int
    result: str | None
    building: bool
    url: str = ""


@dataclass(frozen=True)
class Verdict:
    """What a build's result means for the board, before looking at the board.

    ``kind``: ``noop`` (no Trello request at all), ``failing`` (the job should
    have an open card) or ``passing`` (its open card, if any, should go).
    """

    kind: str
    reason: str
    previous: str | None = None
    build: Build | None = None  # the build the verdict rests on (reconcile's last completed build)


def normalize_result(result: str) -> str:
    """``currentBuild.currentResult`` in any case; unknown values are a usage error."""
    value = (result or "").strip().upper()
    if value not in RESULTS:
        raise ValueError(f"unknown build result {result!r} (expected one of {', '.join(sorted(RESULTS))})")
    return value


def previous_result(builds: Sequence[Build], current: int) -> Build | None:
    """Latest completed build before ``current`` whose result counts (ABORTED/NOT_BUILT skipped)."""
    best: Build | None = None
    for b in builds:
        if b.number < current and not b.building and b.result and b.result not in INERT:
            if best is None or b.number > best.number:
                best = b
    return best


def newer_completed(builds: Sequence[Build], current: int) -> Build | None:
    """A build newer than ``current`` that already finished with a result that counts."""
    newer = [b for b in builds if b.number > current and not b.building and b.result and b.result not in INERT]
    return max(newer, key=lambda b: b.number) if newer else None


def failing_newer(builds: Sequence[Build], current: int) -> Build | None:
    """A newer build still running that already carries a failing result.

    Jenkins only lets a result get worse, so such a build will end FAILURE,
    UNSTABLE or ABORTED, never SUCCESS: an older build's success must not
    archive the card that build's post step keeps (or is about to keep).
    """
    doomed = [b for b in builds if b.number > current and b.building and b.result in FAILING]
    return max(doomed, key=lambda b: b.number) if doomed else None


def job_verdict(result: str, builds: Sequence[Build], current: int) -> Verdict:
    """The transition table of the README, on plain data.

    No previous build counts as SUCCESS; UNSTABLE counts as failing; a current
    ABORTED or NOT_BUILT changes nothing; a build finishing after a newer one
    already completed changes nothing (the newer result stands).
    """
    result = normalize_result(result)
    if result in INERT:
        return Verdict("noop", f"result {result} changes nothing")
    newer = newer_completed(builds, current)
    if newer is not None:
        return Verdict("noop", f"newer build #{newer.number} already completed ({newer.result}); it stands")
    prev = previous_result(builds, current)
    prev_result = prev.result if prev else None
    prev_failing = prev_result in FAILING
    if result in PASSING:
        if not prev_failing:
            return Verdict("noop", "success after success", prev_result)
        doomed = failing_newer(builds, current)
        if doomed is not None:
            return Verdict("noop", f"newer build #{doomed.number} is already {doomed.result} (still running); "
                                   "its result will stand", prev_result)
        return Verdict("passing", f"fixed after #{prev.number} {prev_result}" if prev else "fixed", prev_result)
    return Verdict("failing", "still failing" if prev_failing else "first failure", prev_result)


def last_counted(builds: Sequence[Build]) -> Build | None:
    """The job's latest completed build with a result that counts (for reconcile)."""
    done = [b for b in builds if not b.building and b.result and b.result not in INERT]
    return max(done, key=lambda b: b.number) if done else None


def reconcile_verdict(builds: Sequence[Build] | None) -> Verdict:
    """What reconcile does with a job's open card; ``builds`` None means the job no longer exists.

    ``gone`` and ``passing`` archive the card; ``running`` and ``failing`` keep
    it. A build newer than the last completed one that is still running has
    written (or will write) its own result to the board, so an older success
    must not archive the card: that would leave a failing job without one.
    """
    if builds is None:
        return Verdict("gone", "job no longer exists")
    last = last_counted(builds)
    if last is None or last.result != "SUCCESS":
        return Verdict("failing", "duplicate cards", build=last)
    running = [b.number for b in builds if b.building and b.number > last.number]
    if running:
        return Verdict("running", f"build #{max(running)} still running: card kept for its post step", build=last)
    return Verdict("passing", f"last completed build #{last.number} passed", build=last)
