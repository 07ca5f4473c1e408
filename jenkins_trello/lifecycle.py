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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Union

from .cards import Board, Card, precedence, restamp, with_marker
from .text import COMMENT_LIMIT, DESC_LIMIT, NAME_LIMIT, clean_text, clip, md_link, one_line
from .trello import TrelloClient

#: Trello's label colours (a colour spec in a policy is one of these)
TRELLO_COLOURS = ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black")
LABEL_NAME_LIMIT = 16384

FAILING = frozenset({"FAILURE", "UNSTABLE"})
PASSING = frozenset({"SUCCESS"})
INERT = frozenset({"ABORTED", "NOT_BUILT"})
RESULTS = FAILING | PASSING | INERT


# --------------------------------------------------------------------------- wants and ops


FIX_ACTIONS = ("archive", "comment", "move")
FIXED_STATES = frozenset({"fixed", "resolved"})


def fixed_state(key: str) -> str:
    """The marker state of a card that stays visible after its subject recovered (``on_fix``/``on_resolve``).

    Jobs say ``fixed``, alert groups ``resolved``; both read as "not failing".
    Neither can be mistaken for a real state: a job's state is a build number
    and an alert group's is hex fingerprints, ``0`` or a digest.
    """
    return "resolved" if key.startswith("alert:") else "fixed"


def is_fixed(state: str) -> bool:
    """Whether a marker state says the subject recovered and the card only stays for people to see."""
    return state in FIXED_STATES


@dataclass(frozen=True)
class Want:
    """The desired state of one subject's card.

    ``state`` is written into the marker; an open card whose state differs gets
    ``comment`` (and, with ``rewrite``, the new name and description, as far as
    people's edits allow: see ``plan``). A closed want, by ``on_fix``:
    ``archive`` comments then archives the open card (the default, today's
    behaviour); ``comment`` comments and marks the card fixed (it stays open
    where it is); ``move`` also moves it to ``fix_list_id``.

    The route settings reach the plan as plain values here: ``label_ids`` and
    ``member_ids`` go into a create (ids, or ``CreateLabel.ref`` placeholders
    for the labels in ``new_labels`` that the plan creates first);
    ``managed_label_ids`` are the board's labels that ``labels_from`` may put
    on a card and ``value_label_ids`` the one(s) it wants now, so a change of
    value swaps only those (``relabel``). ``again`` is the comment written
    when a fixed or reopened card's subject fails again (``comment`` when
    empty).
    """

    open: bool
    name: str = ""
    desc: str = ""
    state: str = ""
    comment: str = ""
    rewrite: bool = False
    on_fix: str = "archive"
    fix_list_id: str = ""
    label_ids: tuple[str, ...] = ()
    member_ids: tuple[str, ...] = ()
    new_labels: tuple[CreateLabel, ...] = ()
    managed_label_ids: tuple[str, ...] = ()
    value_label_ids: tuple[str, ...] = ()
    again: str = ""


@dataclass(frozen=True)
class Create:
    list_id: str
    name: str
    desc: str
    label_ids: tuple[str, ...] = ()
    member_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateLabel:
    """A board label the plan needs and the board lacks; ``apply`` creates it before the ops that use it.

    Ops refer to it by ``ref`` (never a Trello id: those are 24 hex digits), and
    ``apply`` puts the new label's id in its place. The next snapshot finds the
    label, so a missing label costs one write, once.
    """

    board: str
    name: str
    color: str = ""

    @property
    def ref(self) -> str:
        return f"new-label:{self.color}:{self.name}"


@dataclass(frozen=True)
class Comment:
    card_id: str
    text: str
    twin: bool = False  # the note on a duplicate about to be archived


@dataclass(frozen=True)
class Update:
    """New state for a card.

    An empty ``name`` leaves the card's name as it is (a person renamed it);
    an empty ``desc`` leaves the description (a description the project
    writes always holds the marker, so it is never empty). ``list_id`` moves
    the card, ``label_ids`` replaces its labels, ``closed=False`` unarchives it;
    their defaults leave those alone.
    """

    card_id: str
    name: str
    desc: str
    list_id: str = ""
    label_ids: tuple[str, ...] | None = None
    closed: bool | None = None


@dataclass(frozen=True)
class Archive:
    """Archive a card; a non-empty ``name`` renames it in the same request (``desc`` then renews its marker).

    A card's title follows it into the archive ("[RESOLVED] ...", "... fixed in #14")
    at no extra request: Trello's ``PUT /cards/{id}`` takes ``closed`` and
    ``name`` together. The marker's name digest is renewed with it, so a card
    reopened later is still known as untouched.
    """

    card_id: str
    twin: bool = False
    name: str = ""
    desc: str = ""


Op = Union[Create, CreateLabel, Comment, Update, Archive]


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


def relabel(card_label_ids: Sequence[str], managed_ids: Sequence[str], new_ids: Sequence[str]) -> tuple[str, ...]:
    """A card's labels after its ``labels_from`` value changed (pure).

    The card's current labels minus the project's managed ones, plus the new
    ones, in the card's order: a label a person added stays, a managed label
    the new value does not want goes.
    """
    managed = set(managed_ids)
    out = [lid for lid in card_label_ids if lid not in managed]
    for lid in new_ids:
        if lid not in out:
            out.append(lid)
    return tuple(out)


def _label_ops(want: Want, ops: Sequence[Op]) -> list[Op]:
    """The ``CreateLabel`` ops of ``want`` that one of ``ops`` refers to (the others would be a wasted write)."""
    used = set()
    for op in ops:
        if isinstance(op, Create):
            used.update(op.label_ids)
        elif isinstance(op, Update) and op.label_ids:
            used.update(op.label_ids)
    out: list[Op] = []
    seen = set()
    for new in want.new_labels:
        if new.ref in used and new.ref not in seen:
            seen.add(new.ref)
            out.append(new)
    return out


def _card_labels(card: Card) -> tuple[str, ...] | None:
    """The card's label ids when the snapshot carries them (None: unknown, so labels are left alone)."""
    ids = getattr(card, "label_ids", None)
    return tuple(ids) if ids is not None else None


def _new_labels(card: Card, want: Want) -> tuple[str, ...] | None:
    """The card's labels after a state change, or None when they stay as they are."""
    if not want.managed_label_ids and not want.value_label_ids:
        return None
    current = _card_labels(card)
    if current is None:
        return None
    wanted = relabel(current, want.managed_label_ids, want.value_label_ids)
    return wanted if wanted != current else None


def _marked(key: str, card: Card, state: str, name: str | None = None) -> str:
    """The card's description word for word with only its marker renewed ("" when it would not fit).

    ``name``: the name written with it (its digest goes into the marker).
    """
    return restamp(card.body, key, state, card.digest, name=name) or ""


def may_rename(card: Card) -> bool:
    """Whether the project may set this card's name: not renamed by a person, and its name history known."""
    return not card.renamed and card.pristine is not None


def _fixed_name(card: Card, want: Want) -> str:
    """The name a recovered card gets ("" keeps its name: none wanted, or a person's name)."""
    return want.name if want.name and want.name != card.name and may_rename(card) else ""


def _fix_ops(key: str, keep: Card, want: Want) -> list[Op]:
    """A closed want for an open card under ``on_fix``: archive, or keep it visible marked fixed.

    Update before comment, as everywhere: a redelivery then finds the card
    already fixed and writes nothing. A card already marked fixed is left
    alone (a repeated resolved notification, a reconcile pass), and so is
    where a person put it since.
    """
    name = _fixed_name(keep, want)
    if want.on_fix not in ("comment", "move"):
        desc = _marked(key, keep, keep.state, name=name) if name else ""
        archive = Archive(keep.id, name=name, desc=desc) if desc else Archive(keep.id)
        return ([Comment(keep.id, want.comment)] if want.comment else []) + [archive]
    if is_fixed(keep.state):
        return []
    move = want.fix_list_id if want.on_fix == "move" and want.fix_list_id != keep.list_id else ""
    ops: list[Op] = []
    desc = _marked(key, keep, fixed_state(key), name=name or None)
    if desc or move:
        ops.append(Update(keep.id, name if desc else "", desc, list_id=move))
    if want.comment:
        ops.append(Comment(keep.id, want.comment))
    return ops


def _again_ops(key: str, keep: Card, want: Want, list_id: str) -> list[Op]:
    """An open want meeting its card marked fixed: the same card comes back (never a second card).

    It gets the new state (and, with ``rewrite``, the new text as far as
    people's edits allow), goes back to the intake list ``list_id`` when it is
    elsewhere (an empty ``list_id`` leaves it where it is), and the comment.
    """
    if want.rewrite:
        ups = rewrite_ops(key, keep, want)
        up = ups[0] if ups else Update(keep.id, "", "")
    else:
        # the card said "fixed": its name comes back with the failure (unless a person renamed it)
        name = want.name if want.name and want.name != keep.name and may_rename(keep) else ""
        up = Update(keep.id, name, _marked(key, keep, want.state, name=name or None))
    labels = _new_labels(keep, want)
    up = dataclasses.replace(up, list_id=list_id if list_id and list_id != keep.list_id else "",
                             label_ids=labels)
    ops: list[Op] = [up] if (up.desc or up.list_id or up.label_ids is not None) else []
    text = want.again or want.comment
    if text:
        ops.append(Comment(keep.id, text))
    return ops


def _reopen_ops(key: str, closed: Card, want: Want, list_id: str) -> list[Op]:
    """A failure with no open card but a recently archived one: unarchive it into the intake list, comment.

    The card gets the new state and the new text (as far as people's edits
    allow: the archived text is about the earlier episode), its labels follow
    ``labels_from`` and its members are never touched.
    """
    ups = rewrite_ops(key, closed, want)
    up = ups[0] if ups else Update(closed.id, "", "")
    up = dataclasses.replace(up, list_id=list_id, closed=False, label_ids=_new_labels(closed, want))
    text = want.again or want.comment
    return [up] + ([Comment(closed.id, text)] if text else [])


def plan(key: str, want_for: Callable[[Card | None], Want], board: Board, list_id: str,
         reopen: Card | None = None) -> tuple[list[Op], Card | None]:
    """The writes that bring ``key``'s card to what is wanted, and the card acted on.

    ``want_for`` sees the current open card (the one kept) because some wants
    depend on it: a truncated alert list is merged with the card's firing set.
    Extra twins are always archived, each after a comment linking the kept
    card, so duplicates converge to one card; the kept one is the project's
    oldest untouched card (see ``cards.precedence``).

    ``list_id`` is the intake list: where a new card goes, and where a card
    marked fixed or reopened comes back to (``needs_intake_list`` says when a
    caller must resolve it). ``reopen`` is the archived card that
    ``reopen_candidate`` chose: with no open card, an open want unarchives it
    instead of creating one (``want_for`` then sees None: the old card's state
    is history, not the current firing set). ``CreateLabel`` ops come first,
    only for labels some op uses.
    """
    mine = board.cards_for(key)
    keep = mine[0] if mine else None
    ops: list[Op] = _fold(mine)
    want = want_for(keep)
    main: list[Op] = []
    if want.open:
        if keep is None and reopen is not None and reopen.key == key:
            main = _reopen_ops(key, reopen, want, list_id)
            keep = reopen
        elif keep is None:
            main = [Create(list_id, want.name, with_marker(want.desc, key, want.state, name=want.name),
                           label_ids=want.label_ids, member_ids=want.member_ids)]
        elif is_fixed(keep.state) and keep.state != want.state:
            main = _again_ops(key, keep, want, list_id)
        elif keep.state != want.state:
            # the update first: a delivery that fails after it leaves the card up to date, so its redelivery
            # finds nothing to do; a comment first would be written again on every redelivery
            if want.rewrite:
                main += rewrite_ops(key, keep, want)
            labels = _new_labels(keep, want)
            if labels is not None:
                if main and isinstance(main[0], Update):
                    main[0] = dataclasses.replace(main[0], label_ids=labels)
                else:
                    main.append(Update(keep.id, "", "", label_ids=labels))
            if want.comment:
                main.append(Comment(keep.id, want.comment))
    elif keep is not None:
        main = _fix_ops(key, keep, want)
    return ops + _label_ops(want, main) + main, keep


def needs_intake_list(want: Want, existing: Sequence[Card]) -> bool:
    """Whether ``plan`` needs the intake list id for this want: a create, a reopen or a fixed card coming back."""
    return want.open and (not existing or is_fixed(existing[0].state))


# --------------------------------------------------------------------------- labels and reopening


def _fold_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def resolve_labels(specs: Sequence[str], board_labels: Sequence[tuple[str, str, str]]
                   ) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """Label ids for a route's label specs, and the ``(name, colour)`` labels the board lacks (pure).

    ``board_labels`` are ``(id, name, colour)`` in the board's order. A spec
    that is one of Trello's ten colours is a colour: the first label of that
    colour with an empty name, else a new label of that colour with no name
    (a person's label "Security" that happens to be red is theirs and means
    something else, so it is never borrowed; and a board label *named* "red"
    does not match the spec "red": the policy's colour words always mean
    colours). Any
    other spec is a name, matched case-insensitively (whitespace collapsed),
    else a new label with that name and no colour. Blank specs are skipped;
    ids and new labels are each listed once.
    """
    ids: list[str] = []
    missing: list[tuple[str, str]] = []
    for raw in specs:
        spec = " ".join(str(raw).split())
        if not spec:
            continue
        if spec.lower() in TRELLO_COLOURS:
            colour = spec.lower()
            bare = [lid for lid, n, c in board_labels if c == colour and not n.strip()]
            found = (bare or [None])[0]
            new = ("", colour)
        else:
            found = next((lid for lid, n, _c in board_labels if _fold_name(n) == spec.casefold()), None)
            new = (spec, "")
        if found is not None:
            if found not in ids:
                ids.append(found)
        elif all(_fold_name(n) != _fold_name(new[0]) or c != new[1] for n, c in missing):
            missing.append(new)
    return tuple(ids), missing


def labels_from(rules: Sequence[tuple[str, Sequence[tuple[str, str]]]], values: Mapping[str, str]
                ) -> tuple[str, ...]:
    """The label specs (colours or names) that ``labels_from`` gives a subject's values (pure).

    ``rules`` is the route's ``labels_from``: ``(key, ((value, spec), ...))``;
    ``values`` the subject's values by key (Jenkins: ``{"result": "FAILURE"}``;
    alerts: the group's labels). A value matches exactly, else case-insensitively
    (``failure`` in a file matches FAILURE); a key the subject lacks gives nothing.
    """
    out: list[str] = []
    for key, table in rules:
        value = values.get(key)
        if value is None:
            continue
        spec = next((sp for v, sp in table if v == value), None)
        if spec is None:
            spec = next((sp for v, sp in table if v.casefold() == str(value).casefold()), None)
        if spec is not None and spec not in out:
            out.append(spec)
    return tuple(out)


def labels_from_all(rules: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> tuple[str, ...]:
    """Every spec ``labels_from`` may put on a card: the labels a value change may take away again."""
    out: list[str] = []
    for _key, table in rules:
        for _v, spec in table:
            if spec not in out:
                out.append(spec)
    return tuple(out)


def card_labels(board_id: str, specs: Sequence[str], board_labels: Sequence[tuple[str, str, str]]
                ) -> tuple[tuple[str, ...], tuple[CreateLabel, ...]]:
    """``resolve_labels`` as a ``Want`` takes it: ids (refs for new labels) and the ``CreateLabel`` ops.

    Pass the result as ``Want(label_ids=..., new_labels=...)``; ``plan`` emits
    a ``CreateLabel`` only when an op uses it, and ``apply`` swaps the ref for
    the new id.
    """
    ids, missing = resolve_labels(specs, board_labels)
    new = tuple(CreateLabel(board_id, name, colour) for name, colour in missing)
    return ids + tuple(n.ref for n in new), new


def route_labels(board_id: str, static_specs: Sequence[str], value_specs: Sequence[str],
                 all_value_specs: Sequence[str], board_labels: Sequence[tuple[str, str, str]]
                 ) -> tuple[tuple[str, ...], tuple[CreateLabel, ...], tuple[str, ...], tuple[str, ...]]:
    """A route's labels for one card, the same for both sources (pure).

    ``static_specs`` are the route's ``labels``, ``value_specs`` what
    ``labels_from`` gives for the subject's value now (result, severity) and
    ``all_value_specs`` every label ``labels_from`` may give. Returns the ids for
    a create (refs for labels to make), the ``CreateLabel`` ops, the managed ids
    (the only ones a value change swaps) and the value's ids.
    """
    static_ids, static_new = card_labels(board_id, static_specs, board_labels)
    value_ids, value_new = card_labels(board_id, value_specs, board_labels)
    managed = resolve_labels(all_value_specs, board_labels)[0]
    ids = tuple(dict.fromkeys(static_ids + value_ids))
    new = tuple({n.ref: n for n in static_new + value_new}.values())
    return ids, new, managed, value_ids


def needs_reopen_read(want: Want, existing: Sequence[Card], reopen_within: float) -> bool:
    """Whether the caller should read the board's closed cards (one extra read) before planning.

    Only on the transition that would otherwise create a card: an open want,
    no open card for the key, and a route with ``reopen_within`` on.
    """
    return want.open and reopen_within > 0 and not existing


def _when(value: object) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 text (Trello's ``dateLastActivity``); None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
    return None


def created_at(card_id: str) -> float | None:
    """When Trello created a card: the first 8 hex digits of its id are a Unix time."""
    try:
        return float(int(card_id[:8], 16)) if len(card_id) == 24 else None
    except ValueError:
        return None


def reopen_candidate(closed_cards: Sequence[object], key: str, now: float, within_seconds: float) -> Card | None:
    """The newest archived card with ``key``'s marker last active within the window, or None (pure).

    ``closed_cards`` holds ``(Card, last_activity)`` pairs, or cards carrying a
    ``last_activity`` (or ``date_last_activity``) attribute; ``last_activity``
    is seconds since the epoch or Trello's ISO text. A card with no readable
    activity counts from its creation time (in its id), which is older, so the
    window is never stretched. ``within_seconds`` 0 (off) gives None; a tie goes
    to the card ``cards.precedence`` prefers.
    """
    if within_seconds <= 0:
        return None
    best: tuple[float, Card] | None = None
    for item in closed_cards:
        if isinstance(item, tuple) and len(item) == 2:
            card, raw = item
        else:
            card = item
            raw = getattr(item, "last_activity", None) or getattr(item, "date_last_activity", None)
        if not isinstance(card, Card) or card.key != key:
            continue
        when = _when(raw)
        if when is None:
            when = created_at(card.id)
        if when is None or now - when > within_seconds:
            continue
        if best is None or when > best[0] or (when == best[0] and precedence(card) < precedence(best[1])):
            best = (when, card)
    return best[1] if best else None


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
        if isinstance(op, CreateLabel):
            if op.color not in TRELLO_COLOURS and op.color != "":
                return f"label colour {op.color!r} is not one of Trello's ({', '.join(TRELLO_COLOURS)})"
            if not op.name and not op.color:
                return "label has neither a name nor a colour"
            checks = [(op.name, "label name", LABEL_NAME_LIMIT, True)]
        elif isinstance(op, Create):
            checks = [(op.name, "card name", NAME_LIMIT, False), (op.desc, "card description", DESC_LIMIT, True)]
        elif isinstance(op, (Update, Archive)):
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
    """One word for what a plan does, for summaries and metrics.

    Label creation is a side step of the op it serves and is not named.
    """
    main = [op for op in ops
            if not (isinstance(op, (Archive, Comment)) and op.twin) and not isinstance(op, CreateLabel)]
    if not main:
        return "unchanged"
    if any(isinstance(op, Create) for op in main):
        return "created"
    if any(isinstance(op, Update) and op.closed is False for op in main):
        return "reopened"
    if any(isinstance(op, Archive) for op in main):
        return "archived"
    if any(isinstance(op, Update) and op.list_id for op in main):
        return "moved"
    if any(isinstance(op, Update) for op in main):
        return "updated"
    return "commented"


def describe_ops(ops: Sequence[Op], board: Board, extra_cards: Sequence[Card] = ()) -> list[str]:
    """One human-readable line per op of a plan: what --dry-run and ``grafana-bridge replay`` print.

    Cards are named by their link, as a real run names them (the id only for a
    card the read did not show); a comment is shown by its whole first line.
    """
    urls = {c.id: c.url for c in (*board.cards, *extra_cards) if c.url}

    def ref(card_id: str) -> str:
        return urls.get(card_id) or card_id

    out = []
    for op in ops:
        if isinstance(op, Create):
            out.append(f"create card {op.name!r} in list {board.list_name(op.list_id)!r}")
        elif isinstance(op, Comment):
            out.append(f"comment on card {ref(op.card_id)}: {one_line(op.text.splitlines()[0], 400)}")
        elif isinstance(op, CreateLabel):
            out.append(f"create label {op.name or op.color!r}" + (f" ({op.color})" if op.name and op.color else ""))
        elif isinstance(op, Update):
            extra = ""
            if op.closed is False:
                extra += " (unarchive)"
            if op.list_id:
                extra += f" (move to list {board.list_name(op.list_id)!r})"
            if op.label_ids is not None:
                extra += " (labels)"
            named = f" as {op.name!r}" if op.name else ""
            out.append(f"update card {ref(op.card_id)}{named}{extra}")
        elif isinstance(op, Archive):
            named = f" as {op.name!r}" if op.name else ""
            out.append(f"archive {'duplicate ' if op.twin else ''}card {ref(op.card_id)}{named}")
    return out


# --------------------------------------------------------------------------- apply


@dataclass
class Outcome:
    action: str
    card_id: str | None = None
    card_url: str | None = None
    writes: int = 0
    twins_archived: int = 0
    ops: list[Op] = field(default_factory=list)


def _ids(ids: Sequence[str], made: dict[str, str]) -> tuple[str, ...]:
    """Label ids with every ``CreateLabel.ref`` replaced by the id Trello gave the new label.

    A ref whose label Trello created without answering an id is dropped, never
    sent as an id (the card then lacks that label; the next event adds it).
    """
    out = (made.get(i, i) for i in ids)
    return tuple(i for i in out if not i.startswith("new-label:"))


def _update_fields(op: Update, made: dict[str, str]) -> dict[str, object]:
    """The request fields of an ``Update``: only what it changes."""
    fields: dict[str, object] = {}
    if op.name:
        fields["name"] = op.name
    if op.desc:
        fields["desc"] = op.desc
    if op.list_id:
        fields["idList"] = op.list_id
    if op.label_ids is not None:
        fields["idLabels"] = ",".join(_ids(op.label_ids, made))
    if op.closed is not None:
        fields["closed"] = op.closed
    return fields


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
    A reopen makes no new card, and its budget is one extra read (the closed
    cards) and no more, so it skips the check: a twin a concurrent writer made
    meanwhile is folded by the next plan for the key (``plan`` always folds twins).
    Each twin gets its comment (linking the kept card) before it is archived.
    The whole plan is checked before the first write (``ops_problem``), so a
    text Trello would refuse never leaves half a change behind. A
    ``CreateLabel`` gives its new id to the later ops that name its ``ref``.
    """
    problem = ops_problem(ops)
    if problem:
        raise InvalidPlan(problem)
    out = Outcome(action=describe(ops), card_id=keep.id if keep else None, card_url=keep.url if keep else None,
                  ops=list(ops))
    created = False
    made: dict[str, str] = {}
    for op in ops:
        if isinstance(op, CreateLabel):
            label = client.create_label(op.board, op.name, op.color)
            if isinstance(label, dict) and label.get("id"):
                made[op.ref] = str(label["id"])
        elif isinstance(op, Create):
            extra: dict[str, tuple[str, ...]] = {}
            if op.label_ids:
                extra["label_ids"] = _ids(op.label_ids, made)
            if op.member_ids:
                extra["member_ids"] = tuple(op.member_ids)
            card = client.create_card(op.list_id, op.name, op.desc, **extra)
            out.card_id = str(card.get("id")) if isinstance(card, dict) else None
            out.card_url = str(card.get("shortUrl") or card.get("url") or "") if isinstance(card, dict) else None
            created = True
        elif isinstance(op, Comment):
            client.comment(op.card_id, op.text)
        elif isinstance(op, Update):
            client.update_card(op.card_id, **_update_fields(op, made))
        elif isinstance(op, Archive):
            client.archive_card(op.card_id, name=op.name, desc=op.desc)
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


def failing_newer(builds: Sequence[Build], current: int, failing: frozenset[str] = FAILING) -> Build | None:
    """A newer build still running that already carries a failing result.

    Jenkins only lets a result get worse, so such a build will end FAILURE,
    UNSTABLE or ABORTED, never SUCCESS: an older build's success must not
    archive the card that build's post step keeps (or is about to keep).
    ``failing`` is what the route counts as failing (``unstable: ignore``:
    FAILURE only).
    """
    doomed = [b for b in builds if b.number > current and b.building and b.result in failing]
    return max(doomed, key=lambda b: b.number) if doomed else None


def counted_result(result: str | None, unstable: str = "failing") -> str | None:
    """A result as a route counts it: with ``unstable: ignore`` UNSTABLE is a success."""
    return "SUCCESS" if result == "UNSTABLE" and unstable == "ignore" else result


def _failing_set(unstable: str) -> frozenset[str]:
    return frozenset({"FAILURE"}) if unstable == "ignore" else FAILING


def failure_streak(result: str, builds: Sequence[Build], current: int, unstable: str = "failing") -> int:
    """How many counted builds in a row, ending with the current one, fail (0 when the current one does not).

    ABORTED, NOT_BUILT and builds still running are skipped (they say nothing
    yet); the streak only sees the builds Jenkins listed, so a threshold above
    that list's length is never reached.
    """
    if counted_result(normalize_result(result), unstable) not in _failing_set(unstable):
        return 0
    streak = 1
    older = sorted((b for b in builds if b.number < current and not b.building and b.result
                    and b.result not in INERT), key=lambda b: b.number, reverse=True)
    for b in older:
        if counted_result(b.result, unstable) not in _failing_set(unstable):
            break
        streak += 1
    return streak


def job_verdict(result: str, builds: Sequence[Build], current: int, after_failures: int = 1,
                unstable: str = "failing") -> Verdict:
    """The transition table of the README, on plain data, with a route's lifecycle settings.

    No previous build counts as SUCCESS; UNSTABLE counts as failing; a current
    ABORTED or NOT_BUILT changes nothing; a build finishing after a newer one
    already completed changes nothing (the newer result stands).

    ``after_failures=N``: no card until N counted builds in a row fail (verdict
    ``noop``, "failure 1 of 2 before a card"); a success still reads the board
    whenever the previous build failed (a card may be there), as with N=1.
    ``unstable="ignore"``: UNSTABLE counts as SUCCESS, for the current and the
    previous builds alike; a newer build still running then only blocks an
    older success when it already carries FAILURE (an UNSTABLE one may end as a
    success and archive the card itself). ``Verdict.previous`` stays the
    previous build's result as Jenkins gave it.
    """
    result = normalize_result(result)
    if after_failures < 1:
        raise ValueError(f"after_failures must be at least 1, not {after_failures}")
    if result in INERT:
        return Verdict("noop", f"result {result} changes nothing")
    newer = newer_completed(builds, current)
    if newer is not None:
        return Verdict("noop", f"newer build #{newer.number} already completed ({newer.result}); it stands")
    fails = _failing_set(unstable)
    prev = previous_result(builds, current)
    prev_result = prev.result if prev else None
    prev_failing = counted_result(prev_result, unstable) in fails
    if counted_result(result, unstable) in PASSING:
        if not prev_failing:
            return Verdict("noop", "success after success", prev_result)
        doomed = failing_newer(builds, current, fails)
        # with after_failures > 1 the newer build starts a new streak of one after this success: no card to keep
        if doomed is not None and after_failures == 1:
            return Verdict("noop", f"newer build #{doomed.number} is already {doomed.result} (still running); "
                                   "its result will stand", prev_result)
        return Verdict("passing", f"fixed after #{prev.number} {prev_result}" if prev else "fixed", prev_result)
    if after_failures == 1:
        return Verdict("failing", "still failing" if prev_failing else "first failure", prev_result)
    streak = failure_streak(result, builds, current, unstable)
    if streak < after_failures:
        return Verdict("noop", f"failure {streak} of {after_failures} before a card", prev_result)
    if streak == after_failures:
        return Verdict("failing", f"{streak} failures in a row", prev_result)
    return Verdict("failing", "still failing", prev_result)


def last_counted(builds: Sequence[Build]) -> Build | None:
    """The job's latest completed build with a result that counts (for reconcile)."""
    done = [b for b in builds if not b.building and b.result and b.result not in INERT]
    return max(done, key=lambda b: b.number) if done else None


def reconcile_verdict(builds: Sequence[Build] | None, unstable: str = "failing") -> Verdict:
    """What reconcile does with a job's open card; ``builds`` None means the job no longer exists.

    ``gone`` and ``passing`` archive the card; ``running`` and ``failing`` keep
    it. A build newer than the last completed one that is still running has
    written (or will write) its own result to the board, so an older success
    must not archive the card: that would leave a failing job without one.
    ``unstable="ignore"`` (the job's route): an UNSTABLE last build passes, as
    its post step would have said.
    """
    if builds is None:
        return Verdict("gone", "job no longer exists")
    last = last_counted(builds)
    if last is None or counted_result(last.result, unstable) != "SUCCESS":
        return Verdict("failing", "duplicate cards", build=last)
    running = [b.number for b in builds if b.building and b.number > last.number]
    if running:
        return Verdict("running", f"build #{max(running)} still running: card kept for its post step", build=last)
    note = " (UNSTABLE, which its route ignores)" if last.result == "UNSTABLE" else ""
    return Verdict("passing", f"last completed build #{last.number} passed{note}", build=last)
