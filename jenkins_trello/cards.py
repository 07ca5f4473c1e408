"""The marker and the board snapshot: how a job's or alert group's card is found again.

Trello is the only state, so every card the project creates ends its
description with one marker line, a Markdown code span:

    `jenkins-trello:job:team%2Fapp:12:5d41402abc2a1b2c3d`
    `jenkins-trello:alert:9f86d081884c7d659a2feaa0c55ad015:1a2b3c4d5e6f7a8b:0cc175b9c07e6f1e2a`

``<kind>:<key>`` identifies the job or alert group (a job's full name, quoted
so that ``/`` and a literal ``%2F`` stay distinct; an alert group's identity
digest), the next field is the card's state (the build that opened it, or the
set of firing alerts), and the last is a digest of what the project wrote: 10
hex digits over the description above the marker, then 6 over the card name.
The digest is how the project tells its untouched cards from ones a person
edited or renamed (people's edits win, see ``lifecycle.plan``). Markers written
before the digest existed (``…:<state>`` with no digest) still count; their
edit state is unknown.

A marker counts only as the description's last line, in exactly this form
(Trello may strip trailing whitespace, nothing else is forgiven): a marker a
person quotes in notes, a checklist or a runbook card does not make that card
the project's. People may rename or move the card; the marker is what counts.
Untrusted text in descriptions is escaped (see ``text``), so the only line that
can look like a marker is the one written here, always last.

Everything in this module is pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from .text import DESC_LIMIT, clip

PREFIX = "jenkins-trello"
BODY_DIGEST = 10  # hex digits over the description the project wrote
NAME_DIGEST = 6  # hex digits over the name the project wrote
_MARKER = re.compile(
    r"^`jenkins-trello:(job|alert):([A-Za-z0-9%._~\-]+):([A-Za-z0-9%._\-]*)"
    rf"(?::([0-9a-f]{{{BODY_DIGEST}}}(?:[0-9a-f]{{{NAME_DIGEST}}})?))?`$"
)


def job_key(job: str) -> str:
    """Key of a Jenkins job by full name; ``quote`` keeps ``a/b`` and ``a%2Fb`` apart."""
    return "job:" + quote(job, safe="")


def alert_key(identity: str) -> str:
    """Key of an alert group: a digest of its identity (receiver and group labels can be long)."""
    return "alert:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def job_of_key(key: str) -> str | None:
    """The job's full name back from a job key (reconcile needs it), None for other kinds."""
    return unquote(key[4:]) if key.startswith("job:") else None


def normalise(text: str) -> str:
    """Text as Trello may hand it back: LF line ends, no trailing whitespace on any line or at the end.

    The digest is taken over this form, so a description that only went
    through Trello's own normalisation still counts as untouched.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def body_digest(body: str) -> str:
    """Short digest of a description body (the text above the marker line)."""
    return hashlib.sha256(normalise(body).encode("utf-8")).hexdigest()[:BODY_DIGEST]


def name_digest(name: str) -> str:
    """Short digest of a card name, whitespace collapsed (names are one line)."""
    return hashlib.sha256(" ".join(name.split()).encode("utf-8")).hexdigest()[:NAME_DIGEST]


def marker_line(key: str, state: str = "", digest: str = "") -> str:
    """The marker line; without ``digest`` it has the older form whose edit state is unknown."""
    return f"`{PREFIX}:{key}:{state}:{digest}`" if digest else f"`{PREFIX}:{key}:{state}`"


def with_marker(body: str, key: str, state: str = "", name: str | None = None) -> str:
    """Description text with the marker as its last line, within Trello's 16384 characters.

    The marker carries the digest of the body as written (and of ``name``, the
    card name written with it, when given), so a later read can tell whether a
    person changed either.
    """
    width = len(marker_line(key, state, "0" * (BODY_DIGEST + (NAME_DIGEST if name is not None else 0))))
    text = clip(body.rstrip(), DESC_LIMIT - width - 2) if body.strip() else ""
    digest = body_digest(text) + (name_digest(name) if name is not None else "")
    line = marker_line(key, state, digest)
    return f"{text}\n\n{line}" if text else line


def restamp(body: str, key: str, state: str, digest: str, name: str | None = None) -> str | None:
    """A person's description kept word for word, with only the marker line renewed.

    The body part of ``digest`` (what the project last wrote) is kept, so the
    card still reads as edited; the name part is renewed for ``name`` when
    given. An older marker without a digest stays without one. None when the
    result would not fit Trello's limit (a person's text is never cut).
    """
    if digest:
        digest = digest[:BODY_DIGEST] + (name_digest(name) if name is not None else digest[BODY_DIGEST:])
    line = marker_line(key, state, digest)
    text = body.rstrip()
    out = f"{text}\n\n{line}" if text.strip() else line
    return out if len(out) <= DESC_LIMIT else None


@dataclass(frozen=True)
class Marker:
    """A description's marker line, read back, with the text above it."""

    key: str
    state: str
    digest: str  # "" for a marker written before digests
    body: str  # the description above the marker line, trailing whitespace stripped

    @property
    def pristine(self) -> bool | None:
        """True when the body is what the project wrote, False when a person edited it, None if unknown."""
        if not self.digest:
            return None
        return self.digest[:BODY_DIGEST] == body_digest(self.body)

    def renamed(self, name: str) -> bool:
        """Whether a person renamed the card (False when the marker does not say what name was written)."""
        return len(self.digest) == BODY_DIGEST + NAME_DIGEST and self.digest[BODY_DIGEST:] != name_digest(name)


def parse_marker(desc: str | None) -> Marker | None:
    """The marker of a description: only its last line counts, in the exact form ``marker_line`` writes.

    Trailing whitespace (which Trello may strip or keep) is the only slack; a
    marker quoted anywhere else, indented, or followed by any text is not one.
    """
    if not desc or PREFIX not in desc:
        return None
    text = desc.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    head, _sep, last = text.rpartition("\n")
    m = _MARKER.match(last)
    if not m:
        return None
    return Marker(f"{m.group(1)}:{m.group(2)}", m.group(3), m.group(4) or "", head.rstrip())


def read_marker(desc: str | None) -> tuple[str, str] | None:
    """``(key, state)`` from a description's marker line (its last line), or None."""
    m = parse_marker(desc)
    return (m.key, m.state) if m else None


def display_job(job: str) -> str:
    """How people read a job name: multibranch ``feature%2Fx`` shown as ``feature/x``."""
    return unquote(job)


@dataclass(frozen=True)
class Card:
    id: str
    name: str
    list_id: str
    key: str
    state: str
    url: str = ""
    #: True: the description is what the project wrote; False: a person edited it; None: unknown (older marker)
    pristine: bool | None = True
    renamed: bool = False  # a person renamed the card (the project then keeps their name)
    body: str = ""  # the description above the marker line
    digest: str = ""  # the marker's digest field, as read
    #: as on the board now (people may have added or removed some); None: the read did not say, so never relabel
    label_ids: tuple[str, ...] | None = None
    member_ids: tuple[str, ...] = ()
    closed: bool = False  # True only for cards from the archived-cards read (reopen)
    last_activity: str = ""  # Trello's dateLastActivity, ISO 8601 UTC; "" when not read


_RANK = {True: 0, None: 1, False: 2}


def precedence(card: Card) -> tuple[int, str]:
    """Which of a key's cards is kept: untouched project cards first, then unknown, then edited; oldest first.

    Trello ids grow with creation time, so the oldest untouched card wins: a
    "Copy card" copy (newer, same text) or a card a person edited never wins
    over the project's own.
    """
    return _RANK.get(card.pristine, 2), card.id


@dataclass(frozen=True)
class Label:
    """A board label; ``name`` may be empty (a colour-only label) and ``color`` empty (no colour)."""

    id: str
    name: str = ""
    color: str = ""


@dataclass(frozen=True)
class Member:
    """A member of the board: the only people a card can be assigned to."""

    id: str
    username: str = ""
    full_name: str = ""


@dataclass(frozen=True)
class Board:
    """A snapshot of the open lists, the project's open cards in them, the board's labels and members.

    ``labels``/``members`` are empty when the read did not include them (an
    older read path, or a server that ignores nested resources); ``id`` and
    ``name`` are empty then too.
    """

    lists: tuple[tuple[str, str], ...]  # (id, name)
    cards: tuple[Card, ...]
    labels: tuple[Label, ...] = ()
    members: tuple[Member, ...] = ()
    id: str = ""  # the board's 24-hex id (the configured board may be a short link)
    name: str = ""

    @property
    def board_id(self) -> str:
        """Alias of ``id``."""
        return self.id

    def member_named(self, username: str) -> Member | None:
        """The board member with this username (case-insensitive, a leading @ ignored), or None."""
        wanted = username.lstrip("@").casefold()
        return next((m for m in self.members if m.username.casefold() == wanted), None)

    def cards_for(self, key: str) -> list[Card]:
        """The key's open cards, the one to keep first (see ``precedence``)."""
        return sorted((c for c in self.cards if c.key == key), key=precedence)

    def list_name(self, list_id: str) -> str:
        return next((name for lid, name in self.lists if lid == list_id), list_id)


def snapshot(lists: Iterable[dict]) -> Board:
    """Build a Board from ``GET /boards/{id}/lists?cards=open`` (open lists with open cards)."""
    out_lists: list[tuple[str, str]] = []
    cards: list[Card] = []
    for lst in lists:
        if lst.get("closed"):
            continue
        out_lists.append((str(lst.get("id", "")), str(lst.get("name", ""))))
        for raw in lst.get("cards") or ():
            card = to_card(raw)
            if card is not None:
                cards.append(card)
    return Board(tuple(out_lists), tuple(cards))


def snapshot_board(raw: dict) -> Board:
    """Build a Board from the one board read (``TrelloClient.board_snapshot``).

    Cards count only in the open lists of the answer, whatever the server's
    card filter did: a card in an archived list is not on the board for a
    person, so it is not for the project either. Missing ``labels`` or
    ``members`` (a server without nested resources) mean none.
    """
    board = snapshot(raw.get("lists") or ())
    open_lists = {lid for lid, _name in board.lists}
    cards = list(board.cards)  # lists that carried their own cards (older servers)
    seen = {c.id for c in cards}
    for item in raw.get("cards") or ():
        if not isinstance(item, dict) or str(item.get("idList", "")) not in open_lists:
            continue
        card = to_card(item)
        if card is not None and card.id not in seen:
            seen.add(card.id)
            cards.append(card)
    labels = tuple(
        Label(str(lab.get("id", "")), str(lab.get("name") or ""), str(lab.get("color") or ""))
        for lab in raw.get("labels") or () if isinstance(lab, dict) and lab.get("id")
    )
    members = tuple(
        Member(str(m.get("id", "")), str(m.get("username") or ""), str(m.get("fullName") or ""))
        for m in raw.get("members") or () if isinstance(m, dict) and m.get("id")
    )
    return Board(board.lists, tuple(cards), labels, members, str(raw.get("id") or ""), str(raw.get("name") or ""))


def _ids(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v for v in value.split(",") if v)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v)
    return ()


def to_card(raw: dict, *, closed_too: bool = False) -> Card | None:
    """A Card when the Trello card carries our marker (and is open, unless ``closed_too``), else None."""
    if raw.get("closed") and not closed_too:
        return None
    marker = parse_marker(raw.get("desc"))
    if marker is None:
        return None
    name = str(raw.get("name", ""))
    return Card(
        id=str(raw.get("id", "")),
        name=name,
        list_id=str(raw.get("idList", "")),
        key=marker.key,
        state=marker.state,
        url=str(raw.get("shortUrl") or raw.get("url") or ""),
        pristine=marker.pristine,
        renamed=marker.renamed(name),
        body=marker.body,
        digest=marker.digest,
        label_ids=_ids(raw.get("idLabels")) if "idLabels" in raw else None,
        member_ids=_ids(raw.get("idMembers")),
        closed=bool(raw.get("closed")),
        last_activity=str(raw.get("dateLastActivity") or ""),
    )


def newest_closed(raws: Iterable[dict], key: str) -> Card | None:
    """The key's most recently active archived card from ``closed_cards`` (the one to reopen), or None.

    Trello's dates are ISO 8601 UTC with a fixed width, so they sort as text;
    a card without a date sorts oldest, ties go to the newer id.
    """
    found = [c for c in closed_project_cards(raws) if c.key == key]
    return max(found, key=lambda c: (c.last_activity, c.id), default=None)


def closed_project_cards(raws: Iterable[object]) -> list[Card]:
    """The project's archived cards from ``closed_cards`` (what a reopen picks from); other cards dropped."""
    return [c for c in (to_card(r, closed_too=True) for r in raws if isinstance(r, dict))
            if c is not None and c.closed]


_ID = re.compile(r"^[0-9a-fA-F]{24}$")


class ListNotFound(LookupError):
    """The configured list is not on the board; the message names the lists that are."""


def resolve_list(lists: Sequence[tuple[str, str]], wanted: str) -> str:
    """A list id from a configured name or id: exact name first, then id, then case-insensitive name."""
    for lid, name in lists:
        if name == wanted:
            return lid
    if _ID.match(wanted):
        for lid, _name in lists:
            if lid == wanted:
                return lid
    folded = [lid for lid, name in lists if name.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    names = ", ".join(repr(name) for _lid, name in lists) or "none"
    raise ListNotFound(f"list {wanted!r} is not an open list on the board (lists: {names})")
