"""Which setting is wrong, said the same way by every command.

A wrong setting must fail loudly (exit 2, one line naming the variable and what
to change) instead of looking like a service failure (exit 1, retried) or, worse,
like a fact about the world ("the board has no cards", "every job was deleted").
Trello and Jenkins answer a wrong setting with a handful of tell-tale statuses
and bodies; the functions here turn those answers into one canonical message per
setting, so ``notify``, ``reconcile``, ``archive``, ``serve`` and ``doctor`` all
say the same thing about the same mistake.

The pure part (``board_format_problem``, ``explain_trello``) decides from plain
data; ``checked_board_read`` is the thin edge that may spend one extra request,
only on the error path, to tell "this board" from "this API base" apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .config import ConfigError, board_format_problem, rate_problem
from .trello import DEFAULT_API_URL, TrelloClient, TrelloError

T = TypeVar("T")
__all__ = ["board_format_problem", "checked_board_read", "explain_trello", "rate_problem"]

def board_not_visible(board: str) -> str:
    """The one message for a board Trello does not know or does not show to this token."""
    return (f"TRELLO_BOARD {board!r} is not a board this token can see: check the id or short link "
            "(the part after /b/ in the board's URL) and that the token's member is on the board")


KEY_REFUSED = "TRELLO_API_KEY is refused by Trello (invalid key): copy the key from https://trello.com/app-key"
TOKEN_REFUSED = ("TRELLO_TOKEN is refused by Trello (invalid or revoked token): create a new token for this "
                 "TRELLO_API_KEY")


def api_url_wrong(api_url: str, why: str) -> str:
    """The one message for an API base that does not answer as Trello's API."""
    return f"TRELLO_API_URL {api_url} does not answer as the Trello API ({why}): unset it to use {DEFAULT_API_URL}"


def list_missing(setting: str, problem: str) -> str:
    """The one message for a configured list that is not on the board (``problem`` from ``resolve_list``)."""
    return f"{setting}: {problem}: set {setting} to one of them"


def explain_trello(exc: TrelloError, board: str, api_url: str, member_ok: bool | None) -> str | None:
    """The setting that a failed board read points at, as its canonical message; None: not a setting.

    ``member_ok`` is what ``GET /members/me`` answered when it was asked (True: a
    Trello member answered, False: no Trello answer there either, None: not
    asked). 5xx, timeouts and refused connections are the service's problem
    (None), never a setting's.
    """
    detail = exc.detail.lower()
    status = exc.status
    if status is None or status >= 500 or status == 429:
        return None
    if status == 401 and "invalid key" in detail:
        return KEY_REFUSED
    if status == 401 and ("invalid token" in detail or "expired token" in detail):
        return TOKEN_REFUSED
    if "not json" in detail or "unexpected answer" in detail:
        return api_url_wrong(api_url, detail.split(" (")[0] if detail else f"HTTP {status}")
    if status in (400, 401, 403, 404):
        if member_ok is False:
            return api_url_wrong(api_url, f"HTTP {status} for the board and for /members/me")
        if status == 400 and "invalid id" not in detail and member_ok is None:
            return None
        return board_not_visible(board)
    return None


def member_answers(client: TrelloClient) -> bool:
    """Does the API base answer ``/members/me`` the way Trello does (a JSON object with an id)?"""
    try:
        me = client.request("GET", "/members/me", "read member", params={"fields": "username"})
    except TrelloError:
        return False
    return isinstance(me, dict) and bool(me.get("id") or me.get("username"))


def checked_board_read(client: TrelloClient, board: str, api_url: str, read: Callable[[], T]) -> T:
    """Run the command's first board read; a failure that is a setting's fault becomes ``ConfigError``.

    The format of ``board`` is checked before any request. On a 4xx or a non-JSON
    answer one more request (``/members/me``) tells a wrong board from a wrong API
    base; the happy path costs nothing extra.
    """
    problem = board_format_problem(board)
    if problem:
        raise ConfigError(problem)
    try:
        return read()
    except TrelloError as exc:
        member_ok: bool | None = None
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429 and not (
                exc.status == 401 and ("invalid key" in exc.detail or "invalid token" in exc.detail)):
            member_ok = member_answers(client)
        message = explain_trello(exc, board, api_url, member_ok)
        if message:
            raise ConfigError(message) from None
        raise
