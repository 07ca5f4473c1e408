"""The marker and the board snapshot: how a job's or alert group's card is found again.

Trello is the only state, so every card the project creates ends its
description with one marker line, a Markdown code span:

    `jenkins-trello:job:team%2Fapp:12`
    `jenkins-trello:alert:9f86d081884c7d659a2feaa0c55ad015:1a2b3c4d5e6f7a8b`

``<kind>:<key>`` identifies the job or alert group (a job's full name, quoted
so that ``/`` and a literal ``%2F`` stay distinct; an alert group's identity
digest) and the last field is the card's state (the build that opened it, or
the set of firing alerts). People may rename or move the card; the marker is
what counts. Untrusted text in descriptions is escaped (see ``text``), so the
only line that can look like a marker is the one written here, always last.

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
_MARKER = re.compile(r"^`jenkins-trello:(job|alert):([A-Za-z0-9%._~\-]+):([A-Za-z0-9%._\-]*)`\s*$")


def job_key(job: str) -> str:
    """Key of a Jenkins job by full name; ``quote`` keeps ``a/b`` and ``a%2Fb`` apart."""
    return "job:" + quote(job, safe="")


def alert_key(identity: str) -> str:
    """Key of an alert group: a digest of its identity (receiver and group labels can be long)."""
    return "alert:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def job_of_key(key: str) -> str | None:
    """The job's full name back from a job key (reconcile needs it), None for other kinds."""
    return unquote(key[4:]) if key.startswith("job:") else None


def marker_line(key: str, state: str = "") -> str:
    return f"`{PREFIX}:{key}:{state}`"


def with_marker(body: str, key: str, state: str = "") -> str:
    """Description text with the marker as its last line, within Trello's 16384 characters."""
    line = marker_line(key, state)
    room = DESC_LIMIT - len(line) - 2
    return f"{clip(body.rstrip(), room)}\n\n{line}" if body.strip() else line


def read_marker(desc: str | None) -> tuple[str, str] | None:
    """``(key, state)`` from the last marker line of a description, or None."""
    if not desc or PREFIX not in desc:
        return None
    for line in reversed(desc.splitlines()):
        m = _MARKER.match(line.strip())
        if m:
            return f"{m.group(1)}:{m.group(2)}", m.group(3)
    return None


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


@dataclass(frozen=True)
class Board:
    """A snapshot of the open lists and the project's open cards in them."""

    lists: tuple[tuple[str, str], ...]  # (id, name)
    cards: tuple[Card, ...]

    def cards_for(self, key: str) -> list[Card]:
        """The key's open cards, oldest first (Trello ids grow with creation time)."""
        return sorted((c for c in self.cards if c.key == key), key=lambda c: c.id)

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


def to_card(raw: dict) -> Card | None:
    """A Card when the Trello card is open and carries our marker, else None."""
    if raw.get("closed"):
        return None
    marker = read_marker(raw.get("desc"))
    if marker is None:
        return None
    return Card(
        id=str(raw.get("id", "")),
        name=str(raw.get("name", "")),
        list_id=str(raw.get("idList", "")),
        key=marker[0],
        state=marker[1],
        url=str(raw.get("shortUrl") or raw.get("url") or ""),
    )


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
