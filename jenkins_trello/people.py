"""Who goes on a card: a route's members and a build's authors, as Trello member ids (pure).

A policy's ``people:`` section is the team's directory: a Jenkins author (user
id, full name or e-mail, compared case-insensitively) -> Trello username. The
board's members decide who can be put on a card; anyone the directory does not
know, or who is not a member of the board, is named in the card text instead
("Authors not on the board: ..."), never a failure: a commit by someone new
must not cost the team its card.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Union

#: an author as Jenkins knows them: one name, or every alias of one person (full name, e-mail, user id)
Author = Union[str, Sequence[str]]


def username_key(username: str) -> str:
    """A Trello username as compared: a leading ``@`` stripped, lower-cased, surrounding space ignored."""
    return username.strip().lstrip("@").strip().lower()


def author_key(alias: str) -> str:
    """A Jenkins author alias as compared: whitespace collapsed, case-folded."""
    return " ".join(str(alias).split()).casefold()


def _people(people_map: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    pairs = people_map.items() if isinstance(people_map, Mapping) else people_map
    out: dict[str, str] = {}
    for alias, username in pairs:
        out.setdefault(author_key(alias), username_key(username))
    return out


def _aliases(author: Author) -> list[str]:
    names = [author] if isinstance(author, str) else list(author)
    return [str(n) for n in names if str(n).strip()]


def resolve_members(
    usernames: Sequence[str],
    culprits_people: Sequence[Author],
    people_map: Mapping[str, str] | Iterable[tuple[str, str]],
    board_members: Sequence[tuple[str, str, str]],
) -> tuple[tuple[str, ...], list[str]]:
    """Member ids for a new card, and the authors who could not be put on it.

    - ``usernames``: the route's ``members`` list (Trello usernames, ``@``
      optional). One that is not a member of the board is skipped silently
      here: it is a set-up question that ``doctor`` reports, not news about
      this build, so it is not listed with the authors.
    - ``culprits_people``: the build's change authors and culprits (pass ``()``
      unless the route says ``members: culprits``); each entry is a name, or a
      tuple of one person's aliases (full name, e-mail, Jenkins user id), any
      of which may be in ``people_map``.
    - ``people_map``: the policy's ``people`` (alias -> username), a mapping or
      ``(alias, username)`` pairs; aliases compare case-insensitively.
    - ``board_members``: ``(id, username, full_name)`` as the board lists them.

    Ids keep the order given (route members first) and appear once. The
    returned names are the authors not mapped by ``people`` or mapped to
    someone not on the board, each once (case-insensitively), spelled as
    Jenkins gave them (the first alias), for the card text.
    """
    by_username = {username_key(u): mid for mid, u, _full in board_members if u}
    directory = _people(people_map)
    ids: list[str] = []
    for name in usernames:
        mid = by_username.get(username_key(name))
        if mid and mid not in ids:
            ids.append(mid)
    absent: list[str] = []
    seen: set[str] = set()
    for author in culprits_people:
        aliases = _aliases(author)
        if not aliases:
            continue
        username = next((directory[author_key(a)] for a in aliases if author_key(a) in directory), None)
        mid = by_username.get(username) if username else None
        if mid:
            if mid not in ids:
                ids.append(mid)
            continue
        shown = aliases[0]
        if author_key(shown) not in seen:
            seen.add(author_key(shown))
            absent.append(shown)
    return tuple(ids), absent
