"""``grafana-bridge archive``: archive cards that have sat in the Done list for more than N days.

The age rule
----------------------------------------------

A card's age is the time since it last *entered* the Done list, never its
last activity: a comment on an old Done card must not keep it alive, and a
card that left Done and came back yesterday is one day old. A card enters
Done through one of these actions (Trello action ``type`` and ``data``):

* ``updateCard`` with ``data.listAfter.id == done`` (moved into Done);
* ``createCard``, ``copyCard``, ``convertToCardFromCheckItem``, ``emailCard``
  with ``data.list.id == done`` (created or copied there);
* ``moveCardToBoard`` with ``data.list.id == done`` (moved from another board);
* ``updateCard`` with ``data.old.closed == true`` (restored from the archive)
  while the card was in Done at that moment: ``data.list`` when Trello sends it,
  else the list the next move took it out of, else (no later move) its
  current list. A creation, board move or restore whose list cannot be told
  counts as an entry, because counting one can only make a card younger.

``entered_done_at`` is the newest such action's date.

Reading every card's history would cost a request per card, so the run
leans on one fact: entering Done is activity, so ``dateLastActivity`` is
never older than the last entry. Hence:

1. ``dateLastActivity`` before the cutoff (now - N days): certainly old
   enough; archived without reading any history (basis "last activity", the
   age shown is a lower bound).
2. Otherwise the board's entry actions since the cutoff (one request per 1000
   actions, paged with ``before``) decide: an entry found gives the exact age
   (basis "actions"; such a card is young, so it is kept); no entry since the
   cutoff means it entered before the cutoff, so it is old enough (basis
   "actions", age shown as "more than N days"). A card created after the
   cutoff whose entry is not in the history contradicts that history, so it
   is treated as in 3.
3. Where the history could not be read completely (an error after retries,
   more pages than the cap), a card without an entry in what was read falls
   back to ``dateLastActivity`` (basis "history unavailable"), which keeps
   it: the rule never archives a card too early, it may archive one a run
   late.

"More than N days" is strict (13.9 days kept, 14.1 archived); every datetime
is aware UTC. Requests: 1 read for the lists and their cards, 0 more when no
Done card was active since the cutoff, else 1 per 1000 entry actions since
the cutoff (capped), then one write per archived card, paced by the shared
client so Trello's 100 requests / 10 s per token is respected.

Exit codes: 0 done (also "nothing to do", and a history cut short by the page
cap, which is warned about); 1 some card could not be archived after retries,
or Trello failed after retries (a failed history read still lets the cards
proven old by their last activity be archived); 2 configuration (a missing
variable, a list or board that does not exist, a ``--metrics-file`` that cannot
be written). A card archived or deleted by
someone else meanwhile (404) counts as archived, so a re-run after a partial
run simply finishes the job.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, TextIO

from jenkins_trello.cards import ListNotFound, resolve_list
from jenkins_trello.config import ConfigError, Limits, TrelloConfig
from jenkins_trello.policy import DEFAULT_ARCHIVE_DAYS, Policy, Sweep, load_policy
from jenkins_trello.settings import checked_board_read, list_missing
from jenkins_trello.text import one_line
from jenkins_trello.trello import TrelloAuthError, TrelloClient, TrelloError, TrelloNotFound

from .edge import trello_env
from .metrics import SweepCounts, write_archive_textfile

PROG = "grafana-bridge"

#: Action types that can put a card into a list (what ``entered_done_at`` reads).
ENTRY_FILTER = ",".join([
    "updateCard:idList",
    "updateCard:closed",
    "createCard",
    "copyCard",
    "moveCardToBoard",
    "convertToCardFromCheckItem",
    "emailCard",
])
_CREATION_TYPES = frozenset({"createCard", "copyCard", "convertToCardFromCheckItem", "emailCard", "moveCardToBoard"})

#: Only what the decision and the output need: small answers on big boards.
CARD_FIELDS = "id,name,idList,closed,dateLastActivity,shortUrl"

PAGE_SIZE = 1000  # Trello's maximum for actions
MAX_PAGES = 20  # 20 000 entry actions since the cutoff is far beyond a sane board
#: History is read from a little before the cutoff, so that an entry right at the
#: cutoff (or a clock a little ahead of Trello's) is seen and measured exactly.
SINCE_MARGIN = timedelta(hours=1)
PROGRESS_EVERY = 50

BASIS_ACTIONS = "actions"
BASIS_ACTIVITY = "last activity"
BASIS_UNAVAILABLE = "history unavailable"


# --------------------------------------------------------------------------- pure


@dataclass(frozen=True)
class Decision:
    """What to do with one Done card, and why (the age and how it was known).

    ``at_least`` marks ``age_days`` as a lower bound (from last activity, or
    "no entry since the cutoff") rather than the exact time in Done.
    """

    card_id: str
    name: str
    age_days: float
    basis: str  # "actions" | "last activity" | "history unavailable"
    archive: bool
    at_least: bool = False


def parse_time(value: object) -> datetime | None:
    """Trello's ``2026-11-29T06:01:52.123Z`` (or any ISO 8601) as an aware UTC datetime; None if unusable.

    A naive value is taken as UTC, which is what Trello always means.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def created_at(object_id: object) -> datetime | None:
    """Creation time embedded in a Trello id (first 8 hex digits = Unix seconds), or None."""
    if not isinstance(object_id, str) or len(object_id) < 8:
        return None
    try:
        return datetime.fromtimestamp(int(object_id[:8], 16), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def _id_of(obj: object) -> str | None:
    if isinstance(obj, Mapping):
        value = obj.get("id")
        return str(value) if value else None
    return None


def _data(action: Mapping) -> Mapping:
    data = action.get("data")
    return data if isinstance(data, Mapping) else {}


def _card_id(action: Mapping) -> str | None:
    return _id_of(_data(action).get("card"))


def _move(action: Mapping) -> tuple[str | None, str | None] | None:
    """``(list before, list after)`` for an ``updateCard`` that changed the list, else None."""
    if action.get("type") != "updateCard":
        return None
    data = _data(action)
    old = data.get("old") if isinstance(data.get("old"), Mapping) else {}
    if "listAfter" not in data and "idList" not in old:
        return None
    card = data.get("card") if isinstance(data.get("card"), Mapping) else {}
    after = _id_of(data.get("listAfter")) or (str(card["idList"]) if card.get("idList") else None)
    before = _id_of(data.get("listBefore")) or (str(old["idList"]) if old.get("idList") else None)
    return before, after


def _restored(action: Mapping) -> bool:
    if action.get("type") != "updateCard":
        return False
    old = _data(action).get("old")
    return isinstance(old, Mapping) and old.get("closed") is True


def _list_at_restore(action: Mapping, later: Sequence[Mapping], current_list: str | None) -> str | None:
    """The list a restored card was in: Trello's ``data.list``, else what the next move left, else now."""
    move = _move(action)
    if move is not None and move[1]:
        return move[1]
    listed = _id_of(_data(action).get("list"))
    if listed:
        return listed
    for nxt in later:
        nxt_move = _move(nxt)
        if nxt_move is not None:
            return nxt_move[0]
        if nxt.get("type") in _CREATION_TYPES:  # left the board and came back: cannot tell
            return None
    return current_list


def _enters(action: Mapping, later: Sequence[Mapping], done_list_id: str, current_list: str | None) -> bool:
    kind = action.get("type")
    if kind in _CREATION_TYPES:
        data = _data(action)
        card = data.get("card") if isinstance(data.get("card"), Mapping) else {}
        where = _id_of(data.get("list")) or (str(card["idList"]) if card.get("idList") else None)
        return where is None or where == done_list_id
    move = _move(action)
    if move is not None and move[1] == done_list_id and move[0] != done_list_id:
        return True
    if _restored(action):
        where = _list_at_restore(action, later, current_list)
        return where is None or where == done_list_id
    return False


def _chronological(actions: Iterable[Mapping]) -> list[tuple[datetime, Mapping]]:
    dated = []
    for action in actions:
        when = parse_time(action.get("date"))
        if when is not None:
            dated.append((when, action))
    dated.sort(key=lambda pair: (pair[0], str(pair[1].get("id", ""))))
    return dated


def entered_done_at(card: Mapping, actions: Sequence[Mapping], done_list_id: str) -> datetime | None:
    """When the card last entered the Done list, from its actions (any order, other cards' ignored).

    None when no entry is among ``actions``: the caller decides what that means
    (see the module docstring). Comments and other activity never count.
    """
    card_id = str(card.get("id", ""))
    current_list = str(card["idList"]) if card.get("idList") else None
    mine = _chronological(a for a in actions if _card_id(a) == card_id)
    entered: datetime | None = None
    for i, (when, action) in enumerate(mine):
        later = [a for _w, a in mine[i + 1:]]
        if _enters(action, later, done_list_id, current_list):
            entered = when if entered is None else max(entered, when)
    return entered


def _days(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 86400.0)


def decide(cards: Iterable[Mapping], actions: Sequence[Mapping], done_list_id: str, now: datetime, days: float,
           history_complete: bool) -> list[Decision]:
    """Archive or keep each Done card (the rule is in the module docstring).

    ``actions`` are the board's entry actions, newest back to some point in time
    (any order); ``history_complete`` says they reach back at least to the
    cutoff ``now - days``. Cards with ``dateLastActivity`` before the cutoff
    need no actions at all.
    """
    now = parse_time(now) or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=days)
    by_card: dict[str, list[Mapping]] = {}
    for action in actions:
        cid = _card_id(action)
        if cid:
            by_card.setdefault(cid, []).append(action)
    out: list[Decision] = []
    for card in cards:
        cid = str(card.get("id", ""))
        name = str(card.get("name", ""))
        activity = parse_time(card.get("dateLastActivity"))
        entered = entered_done_at(card, by_card.get(cid, ()), done_list_id)
        born = created_at(cid)
        if entered is not None:
            age = now - entered
            out.append(Decision(cid, name, _days(age), BASIS_ACTIONS, age > timedelta(days=days)))
        elif activity is not None and activity < cutoff:
            out.append(Decision(cid, name, _days(now - activity), BASIS_ACTIVITY, True, at_least=True))
        elif history_complete and not (born is not None and born >= cutoff):
            out.append(Decision(cid, name, _days(now - cutoff), BASIS_ACTIONS, True, at_least=True))
        else:
            age_days = _days(now - activity) if activity is not None else 0.0
            out.append(Decision(cid, name, age_days, BASIS_UNAVAILABLE, False, at_least=True))
    return out


def describe(decision: Decision, verb: str) -> str:
    """One result line: what, which card, its age in days and how the age was known."""
    if decision.basis == BASIS_ACTIONS:
        how = "from the board's history"
    elif decision.basis == BASIS_ACTIVITY:
        how = "from last activity"
    else:
        how = "age from last activity: history unavailable"
    if decision.at_least:
        age = f"{'more than' if decision.basis == BASIS_ACTIONS else 'at least'} {decision.age_days:.1f} days"
    else:
        age = f"{decision.age_days:.1f} days"
    return f"{verb} {decision.card_id} ({age} in Done, {how}): {one_line(decision.name, 120)}"


# --------------------------------------------------------------------------- Trello side


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class History(NamedTuple):
    """The board's entry actions as read: ``complete`` if they reach back to ``since``.

    ``note`` says why not; ``failed`` marks a Trello failure (exit code 1) as
    opposed to the page cap (a warning).
    """

    actions: list[dict]
    complete: bool
    note: str = ""
    failed: bool = False


def read_history(client: TrelloClient, board: str, since: datetime, *, page_size: int = PAGE_SIZE,
                 max_pages: int = MAX_PAGES) -> History:
    """The board's entry actions since ``since``, newest first, paged with ``before=<oldest id seen>``.

    A page shorter than ``page_size`` ends it. A TrelloError after retries or
    the page cap leaves the history incomplete; what was read is still exact
    from its oldest action up to now (so an entry found there is the last one).
    """
    seen: dict[str, dict] = {}
    before: str | None = None
    for _page in range(max_pages):
        try:
            batch = client.board_actions(board, ENTRY_FILTER, since=_iso(since), before=before, limit=page_size)
        except TrelloAuthError:
            raise
        except TrelloError as exc:
            return History(list(seen.values()), False, f"reading the board's history failed ({exc})", failed=True)
        ids = [str(a["id"]).lower() for a in batch if isinstance(a, Mapping) and a.get("id")]
        for a in batch:
            if isinstance(a, Mapping) and a.get("id"):
                seen.setdefault(str(a["id"]), dict(a))
        if len(batch) < page_size:
            return History(list(seen.values()), True)
        # Trello compares ObjectIds, so the smallest id seen is the edge that skips nothing.
        oldest = min(ids) if ids else None
        if oldest is None or oldest == before:
            return History(list(seen.values()), False, "the board's history did not page back")
        before = oldest
    return History(list(seen.values()), False, f"more than {max_pages * page_size} list changes since the cutoff")


class _Progress:
    """One updating line on a terminal, a log line every ``PROGRESS_EVERY`` cards otherwise."""

    def __init__(self, err: TextIO, total: int) -> None:
        self.err = err
        self.total = total
        self.done = 0
        self.tty = bool(getattr(err, "isatty", lambda: False)())
        self._shown = 0.0
        self._lock = threading.Lock()

    def clear(self) -> None:
        if self.tty:
            self.err.write("\r\x1b[K")
            self.err.flush()

    def step(self) -> None:
        self.done += 1
        if self.tty:
            now = time.monotonic()
            if now - self._shown >= 0.1 or self.done == self.total:
                self._shown = now
                self.err.write(f"\rarchiving: {self.done}/{self.total} cards")
                self.err.flush()
        elif self.done % PROGRESS_EVERY == 0 and self.done < self.total:
            self.err.write(f"{PROG}: archived {self.done}/{self.total} cards\n")
            self.err.flush()


def _archive_all(client: TrelloClient, todo: Sequence[Decision], *, out: TextIO, err: TextIO,
                 workers: int) -> tuple[int, int]:
    """Archive in a small pool (the client paces); returns (archived, failed).

    A few workers hide the round trip while the shared pacer keeps the rate;
    one failing card never stops the others, but an auth error does (every
    later write would fail the same way), and so does Ctrl-C.
    """
    progress = _Progress(err, len(todo))
    lock = threading.Lock()
    stop = threading.Event()
    counts = {"archived": 0, "failed": 0, "skipped": 0}

    def emit(stream: TextIO, line: str) -> None:
        progress.clear()
        stream.write(line + "\n")
        stream.flush()

    def one(decision: Decision) -> None:
        line: str | None = None
        failure: str | None = None
        if stop.is_set():
            with lock:
                counts["skipped"] += 1
            return
        try:
            client.archive_card(decision.card_id)
            line = describe(decision, "archived")
        except TrelloNotFound:  # archived or deleted meanwhile: the job is done
            line = describe(decision, "archived") + " [already archived or deleted]"
        except TrelloError as exc:
            if isinstance(exc, TrelloAuthError):
                stop.set()
            failure = f"could not archive {decision.card_id}: {one_line(decision.name, 80)}: {one_line(exc, 300)}"
        with lock:
            if line is not None:
                counts["archived"] += 1
                emit(out, line)
            else:
                counts["failed"] += 1
                emit(err, f"{PROG}: error: {failure}")
            progress.step()

    if todo:
        pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="archive")
        try:
            for future in [pool.submit(one, d) for d in todo]:
                future.result()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            progress.clear()
            raise
        pool.shutdown(wait=True)
    progress.clear()
    if counts["skipped"]:
        err.write(f"{PROG}: error: {counts['skipped']} card(s) not attempted after an authorization error\n")
    return counts["archived"], counts["failed"] + counts["skipped"]


class SweepResult(NamedTuple):
    """What one sweep came to: its exit code and, once the board was read, the counts of its summary line."""

    code: int
    archived: int = 0
    kept: int = 0
    failed: int = 0


def run(client: TrelloClient, board: str, list_name: str, days: float, *, dry_run: bool, now: datetime,
        out: TextIO, err: TextIO, workers: int = 4, verbose: bool = False, page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES, label: str = "") -> int:
    """The archival run; returns the exit code (0, 1 or 2, see the module docstring). See ``sweep``."""
    return sweep(client, board, list_name, days, dry_run=dry_run, now=now, out=out, err=err, workers=workers,
                 verbose=verbose, page_size=page_size, max_pages=max_pages, label=label).code


def sweep(client: TrelloClient, board: str, list_name: str, days: float, *, dry_run: bool, now: datetime,
          out: TextIO, err: TextIO, workers: int = 4, verbose: bool = False, page_size: int = PAGE_SIZE,
          max_pages: int = MAX_PAGES, label: str = "") -> SweepResult:
    """The archival run of one list, with its counts (for ``--metrics-file``).

    ``label`` (a policy sweep's board and list) starts the summary line and the
    error lines, so several sweeps in one run stay apart; "" keeps the lines
    as they always were.

    Reads the board once (lists with their open cards), reads the history only
    if some Done card was active since the cutoff, then archives with one write
    per card. Results go to ``out``, errors, warnings and progress to ``err``.
    """
    if not (isinstance(days, (int, float)) and math.isfinite(days) and days > 0):
        err.write(f"{PROG}: error: --days must be a number greater than 0\n")
        return SweepResult(2)
    now = parse_time(now) or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=days)
    prefix = f"{label}: " if label else ""
    try:
        lists = checked_board_read(client, board, client.base_url,
                                   lambda: client.board_lists(board, card_fields=CARD_FIELDS))
        done_id = resolve_list([(str(lst.get("id", "")), str(lst.get("name", ""))) for lst in lists], list_name)
        done = next(lst for lst in lists if str(lst.get("id", "")) == done_id)
        cards = [c for c in done.get("cards") or () if not c.get("closed") and c.get("idList", done_id) == done_id]
        recent = [c for c in cards if not _activity_before(c, cutoff)]
        history = History([], True)
        if recent:
            history = read_history(client, board, cutoff - SINCE_MARGIN, page_size=page_size, max_pages=max_pages)
    except ListNotFound as exc:
        if label:
            err.write(f"{PROG}: error: {label}: {exc}: create the list or correct the sweep in the policy file\n")
        else:
            err.write(f"{PROG}: error: {list_missing('TRELLO_DONE_LIST', str(exc))} (or pass --list)\n")
        return SweepResult(2)
    except ConfigError as exc:  # key, token, board or API base: the message every command gives
        err.write(f"{PROG}: error: {prefix}{exc}\n")
        return SweepResult(2)
    except TrelloNotFound as exc:
        if verbose:
            traceback.print_exc(file=err)
        err.write(f"{PROG}: error: {prefix}board {one_line(board, 60)!r} was not found or this token cannot see it "
                  f"(check {'the policy file' if label else 'TRELLO_BOARD'}): {one_line(exc, 200)}\n")
        return SweepResult(2)
    except TrelloError as exc:
        if verbose:
            traceback.print_exc(file=err)
        err.write(f"{PROG}: error: {prefix}{one_line(exc, 300)}\n")
        return SweepResult(1)

    decisions = decide(cards, history.actions, done_id, now, days, history.complete)
    todo = [d for d in decisions if d.archive]
    kept = len(decisions) - len(todo)
    unavailable = sum(1 for d in decisions if d.basis == BASIS_UNAVAILABLE)
    history_failed = history.failed
    if history.note:
        err.write(f"{PROG}: warning: {one_line(history.note, 300)}; {unavailable} recently active card(s) kept "
                  f"(age from last activity: history unavailable)\n")

    if dry_run:
        for d in todo:
            out.write(describe(d, "would archive") + "\n")
        out.write(f"{prefix}would archive {len(todo)}, kept {kept}\n")
        out.flush()
        return SweepResult(1 if history_failed else 0, len(todo), kept)

    if todo:
        err.write(f"{PROG}: archiving {len(todo)} of {len(cards)} card(s) in list {one_line(done.get('name'), 60)!r}"
                  f" that have been there for more than {days:g} days\n")
        err.flush()
    archived, failed = _archive_all(client, todo, out=out, err=err, workers=workers)
    out.write(f"{prefix}archived {archived}, kept {kept}, failed {failed}\n")
    out.flush()
    return SweepResult(1 if failed or history_failed else 0, archived, kept, failed)


def _activity_before(card: Mapping, cutoff: datetime) -> bool:
    activity = parse_time(card.get("dateLastActivity"))
    return activity is not None and activity < cutoff


# --------------------------------------------------------------------------- command line


def _positive_days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text[:20]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text[:20]!r}")
    return value


def _prom_path(text: str) -> str:
    if not text.endswith(".prom"):
        raise argparse.ArgumentTypeError(f"{text[:80]!r} must end in .prom (node_exporter's textfile collector "
                                         "reads only *.prom files)")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``[--list Done] [--days 14] [--dry-run] [--metrics-file PATH] [--verbose]`` (the documented flags).

    Without ``--list`` and ``--days`` the run covers every ``archive:`` sweep of
    the policy; with either, one sweep of the default board, as before policies.
    """
    parser.add_argument("--list", dest="list", default=None, metavar="NAME_OR_ID",
                        help="the Done list, by name or id (default: $TRELLO_DONE_LIST, else 'Done')")
    parser.add_argument("--days", type=_positive_days, default=None,
                        help="archive cards that entered the list more than this many days ago (default: 14)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be archived, write nothing")
    parser.add_argument("--metrics-file", type=_prom_path, default=None, metavar="PATH.prom",
                        help="after the run, replace this file (atomically) with its time, success and counts, "
                             "for node_exporter's textfile collector (not written with --dry-run)")
    if "--verbose" not in parser._option_string_actions:  # the top-level parser may define it already
        parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                            help="tracebacks on errors")


def sweeps_for(args: argparse.Namespace, policy: Policy) -> tuple[Sweep, ...]:
    """What one run archives (pure): every sweep of the policy, or one on the default board with the flags.

    ``--list`` or ``--days`` keep their meaning from before policy files (one
    sweep of the default board), so existing cron lines do exactly what they did.
    """
    flag_list = (getattr(args, "list", None) or "").strip()
    flag_days = getattr(args, "days", None)
    if flag_list or flag_days is not None:
        return (Sweep(policy.board, flag_list or policy.done_list,
                      DEFAULT_ARCHIVE_DAYS if flag_days is None else flag_days),)
    return policy.archive


def command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Policy and configuration from ``env``, the shared Trello client, then a sweep each; the worst exit code.

    A policy from the environment alone is one sweep with today's output; a
    policy file's sweeps each end with a summary line naming the board and list.
    With ``--metrics-file`` (and no ``--dry-run``) the run ends by writing its
    textfile, failed runs included: those say so and keep the last success's time.
    """
    started = time.monotonic()
    counts: list[SweepCounts] = []
    code = _command(args, env, counts)
    path = getattr(args, "metrics_file", None)
    if path and not getattr(args, "dry_run", False):
        try:
            write_archive_textfile(path, counts, ok=code == 0, finished=time.time(),
                                   seconds=time.monotonic() - started)
        except OSError as exc:
            sys.stderr.write(f"{PROG}: error: could not write --metrics-file {one_line(path, 200)!r}: "
                             f"{exc.strerror or type(exc).__name__}\n")
            return max(code, 2)
    return code


def _command(args: argparse.Namespace, env: Mapping[str, str], counts: list[SweepCounts]) -> int:
    """The sweeps of one run; each one's counts go to ``counts``."""
    verbose = bool(getattr(args, "verbose", False))
    try:
        policy = load_policy(getattr(args, "config", None), env)
        cfg = TrelloConfig.from_env(trello_env(env, policy))
        limits = Limits.from_env(env)  # JENKINS_TRELLO_TIMEOUT / JENKINS_TRELLO_RETRY_SECONDS, as for notify
        client = cfg.client(timeout=limits.timeout, retry_seconds=limits.retry_seconds)
        sweeps = sweeps_for(args, policy)
        labelled = policy.source != "<environment>" and sweeps == policy.archive
        if not sweeps:  # ``archive: []``: the file turned the sweeps off
            sys.stdout.write(f"no archive sweeps in {policy.source}: nothing to do\n")
            return 0
        worst = 0
        for one in sweeps:
            result = sweep(client, one.board, one.list, one.days, dry_run=bool(getattr(args, "dry_run", False)),
                           now=datetime.now(timezone.utc), out=sys.stdout, err=sys.stderr, verbose=verbose,
                           label=f"board {one.board} list {one.list!r}" if labelled else "")
            counts.append(SweepCounts(one.board, one.list, result.code == 0, result.archived, result.kept,
                                      result.failed))
            worst = max(worst, result.code)
        return worst
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except TrelloError as exc:
        if verbose:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {one_line(exc, 300)}\n")
        return 1


__all__ = [
    "Decision", "History", "add_arguments", "command", "decide", "describe", "entered_done_at", "parse_time",
    "read_history", "run", "sweep", "sweeps_for", "SweepResult",
]
