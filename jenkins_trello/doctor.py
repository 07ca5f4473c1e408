"""``doctor``: every setting checked live, one line each, so a mistake shows while every build is green.

Without it a wrong ``TRELLO_LIST`` stays silent until the first failure needs a
card, and a wrong ``JENKINS_URL`` until ``reconcile`` runs. Each check says what
it found (the token's member, the board's name, the lists, the Jenkins version)
and, when it fails, what to change. With a policy file it also checks every
board the file names: visible, the lists its routes and sweeps use, the named
labels (a missing one is created on first use, so it is no failure) and the
member usernames its routes and ``people:`` put on cards there. The verdict (``exit_code``) is pure: 2 when a
setting is wrong, else 1 when a service is down, else 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cards import Board, resolve_list, snapshot_board
from .config import ConfigError, JenkinsConfig, Limits, TrelloConfig
from .jenkins import JenkinsError, JenkinsReader, JenkinsSettingError
from .lifecycle import TRELLO_COLOURS
from .notify import job_missing
from .policy import Policy
from .settings import KEY_REFUSED, TOKEN_REFUSED, api_url_wrong, explain_trello, list_missing
from .trello import TrelloClient, TrelloError

#: doctor answers quickly: a service that does not answer within this is reported as down.
DOCTOR_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    """One line of the report: the setting, what was found, and whether it is a wrong setting or a down service."""

    ok: bool
    setting: str
    text: str
    down: bool = False

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.setting} {self.text}"


def exit_code(checks: Sequence[Check]) -> int:
    """2 when any setting is wrong, else 1 when a service is down, else 0."""
    if any(not c.ok and not c.down for c in checks):
        return 2
    if any(not c.ok for c in checks):
        return 1
    return 0


def from_message(message: str, *, down: bool = False) -> Check:
    """A failing check from a canonical one-line message, which starts with the setting's name."""
    first, _, rest = message.partition(" ")
    setting = first.rstrip(":,")
    text = message if first.endswith(",") or not setting.isupper() else rest.lstrip(": ")
    return Check(False, setting, text, down)


def _down(setting: str, exc: Exception) -> Check:
    return Check(False, setting, f"unreachable: {exc} (a service is down, not a setting wrong)", down=True)


def _trello(env: Mapping[str, str], client: TrelloClient | None) -> tuple[TrelloConfig, TrelloClient]:
    """The Trello settings and a client that gives up quickly: doctor reports a slow service as down."""
    cfg = TrelloConfig.from_env(env)
    limits = Limits.from_env(env)
    return cfg, client or cfg.client(timeout=limits.timeout,
                                     retry_seconds=min(limits.retry_seconds, DOCTOR_RETRY_SECONDS))


def trello_checks(env: Mapping[str, str], list_settings: Sequence[str] = ("TRELLO_LIST",),
                  client: TrelloClient | None = None) -> list[Check]:
    """API base, key, token (its member), board (its name), and each named list setting."""
    try:
        cfg, client = _trello(env, client)
    except ConfigError as exc:
        return [from_message(str(exc))]
    out: list[Check] = []
    try:
        me = client.request("GET", "/members/me", "read member", params={"fields": "username,fullName"})
    except TrelloError as exc:
        detail = exc.detail.lower()
        if exc.status is None or exc.status >= 500 or exc.status == 429:
            return [_down("TRELLO_API_URL", exc)]
        if exc.status == 401 and "invalid key" in detail:
            return [Check(True, "TRELLO_API_URL", f"{cfg.api_url} answers as Trello"), from_message(KEY_REFUSED)]
        if exc.status == 401 and "invalid token" in detail:
            return [Check(True, "TRELLO_API_URL", f"{cfg.api_url} answers as Trello"),
                    Check(True, "TRELLO_API_KEY", "accepted"), from_message(TOKEN_REFUSED)]
        return [from_message(api_url_wrong(cfg.api_url, f"HTTP {exc.status} for /members/me"))]
    if not isinstance(me, dict) or not (me.get("username") or me.get("id")):
        return [from_message(api_url_wrong(cfg.api_url, "/members/me is not a Trello member"))]
    full = f" ({me['fullName']})" if me.get("fullName") else ""
    out += [Check(True, "TRELLO_API_URL", f"{cfg.api_url} answers as Trello"),
            Check(True, "TRELLO_API_KEY", "accepted"),
            Check(True, "TRELLO_TOKEN", f"member {me.get('username') or me.get('id')}{full}")]
    try:
        board = client.request("GET", f"/boards/{cfg.board}", "read board", params={"fields": "name,closed"})
        lists = client.board_lists(cfg.board, with_cards=False)
    except TrelloError as exc:
        message = explain_trello(exc, cfg.board, cfg.api_url, member_ok=True)
        return out + [from_message(message) if message else _down("TRELLO_BOARD", exc)]
    name = board.get("name") if isinstance(board, dict) else None
    closed = " (closed: reopen it or pick another board)" if isinstance(board, dict) and board.get("closed") else ""
    out.append(Check(not closed, "TRELLO_BOARD", f"{name!r} ({cfg.board}){closed}"))
    pairs = [(str(lst.get("id", "")), str(lst.get("name", ""))) for lst in lists]
    wanted = {"TRELLO_LIST": cfg.list, "TRELLO_DONE_LIST": cfg.done_list}
    for setting in list_settings:
        try:
            resolve_list(pairs, wanted[setting])
        except LookupError as exc:
            out.append(from_message(list_missing(setting, str(exc))))
        else:
            out.append(Check(True, setting, f"{wanted[setting]!r} is on the board"))
    return out


def jenkins_checks(env: Mapping[str, str], job: str | None = None,
                   reader: JenkinsReader | None = None) -> list[Check]:
    """JENKINS_URL answers as a Jenkins (its version), who the credentials are, and whether the job is visible."""
    try:
        cfg = JenkinsConfig.from_env(env)
        limits = Limits.from_env(env)
    except ConfigError as exc:
        return [from_message(str(exc))]
    out = [Check(True, "JENKINS_TRELLO_TIMEOUT", f"{limits.timeout:g} s per request, retried for "
                                                 f"{limits.retry_seconds:g} s (JENKINS_TRELLO_RETRY_SECONDS)")]
    reader = reader or JenkinsReader(cfg.url, cfg.user, cfg.token, timeout=limits.timeout,
                                     retry_seconds=min(limits.retry_seconds, DOCTOR_RETRY_SECONDS))
    try:
        version = reader.version()
        out.append(Check(True, "JENKINS_URL", f"{cfg.url} is Jenkins {version}"))
        who = reader.whoami()
        out.append(Check(True, "JENKINS_USER", f"authenticated as {who}" if cfg.user
                         else f"not set: reading as {who}"))
        job = job or (env.get("JOB_NAME") or "").strip() or None
        if job is None:
            out.append(Check(True, "JOB_NAME", "not set here (Jenkins sets it in builds; pass --job to check one)"))
        elif reader.job_visible(job):
            out.append(Check(True, "JOB_NAME", f"{job} visible"))
        else:
            out.append(from_message(job_missing(job, cfg.url)))
    except JenkinsSettingError as exc:
        out.append(from_message(str(exc)))
    except JenkinsError as exc:
        out.append(_down("JENKINS_URL", exc))
    return out


# --------------------------------------------------------------------------- the policy file's boards


@dataclass(frozen=True)
class BoardNeeds:
    """What a policy file expects of one board, gathered from its routes and sweeps (pure)."""

    board: str
    lists: tuple[tuple[str, str], ...] = ()  # (list, what uses it)
    labels: tuple[tuple[str, str], ...] = ()  # (label name, route)
    members: tuple[tuple[str, str], ...] = ()  # (username, what uses it)


def board_needs(policy: Policy) -> list[BoardNeeds]:
    """For every board the policy names: the lists, named labels and member usernames it uses there (pure).

    Intake lists and ``on_fix``/``on_resolve`` move lists of the routes that
    act (not ``skip``), the Done lists of the sweeps; label names (a Trello
    colour is not a name: any board has every colour); route ``members`` and,
    where a Jenkins route says ``members: culprits``, every ``people:`` username.
    """
    needs: dict[str, dict[str, dict[tuple[str, str], None]]] = {}

    def add(board: str, kind: str, item: tuple[str, str]) -> None:
        needs.setdefault(board, {"lists": {}, "labels": {}, "members": {}})[kind].setdefault(item, None)

    for board in policy.boards():
        needs.setdefault(board, {"lists": {}, "labels": {}, "members": {}})
    for route in (*policy.jenkins, *policy.alerts):
        if route.skip:
            continue
        where = f"route {route.name}"
        add(route.board, "lists", (route.list, f"{where} intake"))
        if route.on_fix.action == "move":
            key = "on_fix" if route.kind == "jenkins" else "on_resolve"
            add(route.board, "lists", (route.on_fix.list, f"{where} {key} move"))
        for spec in route.labels:
            if spec.strip() and spec.strip().lower() not in TRELLO_COLOURS:
                add(route.board, "labels", (spec.strip(), where))
        for _key, table in route.labels_from:
            for _value, spec in table:
                if spec.strip() and spec.strip().lower() not in TRELLO_COLOURS:
                    add(route.board, "labels", (spec.strip(), where))
        for username in route.members:
            add(route.board, "members", (username, f"{where} members"))
        if route.culprits:
            for _author, username in policy.people:
                add(route.board, "members", (username, f"people: (culprits of {where})"))
    for sweep in policy.archive:
        add(sweep.board, "lists", (sweep.list, "archive sweep"))
    return [BoardNeeds(b, tuple(n["lists"]), tuple(n["labels"]), tuple(n["members"])) for b, n in needs.items()]


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def board_checks(needs: BoardNeeds, board: Board, setting: str) -> list[Check]:
    """One line per list, label and member the policy uses on this board, against its snapshot (pure)."""
    out: list[Check] = []
    where = f"on board {board.name or needs.board!r} ({needs.board})"
    for wanted, what in needs.lists:
        try:
            resolve_list(board.lists, wanted)
        except LookupError as exc:
            out.append(Check(False, setting, f"list {wanted!r} ({what}) {where}: {exc}: add the list or "
                                             "correct the name in the file"))
        else:
            out.append(Check(True, setting, f"list {wanted!r} ({what}) is {where}"))
    for name, what in needs.labels:
        if any(_fold(lab.name) == _fold(name) for lab in board.labels):
            out.append(Check(True, setting, f"label {name!r} ({what}) is {where}"))
        else:
            out.append(Check(True, setting, f"label {name!r} ({what}) is not {where}: will be created on first use"))
    for username, what in needs.members:
        if board.member_named(username) is not None:
            out.append(Check(True, setting, f"member {username!r} ({what}) is {where}"))
        else:
            out.append(Check(False, setting, f"member {username!r} ({what}) is not a member {where}: add them to "
                                             "the board or correct the username in the file"))
    return out


def policy_checks(env: Mapping[str, str], policy: Policy, client: TrelloClient | None = None) -> list[Check]:
    """The policy file's boards, live: each visible, then its lists, labels and members, one line each.

    One read per board (the same snapshot the commands use). A board the token
    cannot see is a wrong setting (exit 2), a Trello that does not answer a
    service down (exit 1); either way the checks of the other boards still run.
    """
    try:
        cfg, client = _trello(env, client)
    except ConfigError as exc:
        return [from_message(str(exc))]
    setting = policy.source
    out: list[Check] = []
    for needs in board_needs(policy):
        try:
            board = snapshot_board(client.board_snapshot(needs.board))
        except TrelloError as exc:
            message = explain_trello(exc, needs.board, cfg.api_url, member_ok=True)
            if message:
                out.append(Check(False, setting, f"board {needs.board}: {message}"))
            else:
                out.append(_down(setting, exc))
            continue
        out.append(Check(True, setting, f"board {needs.board} {board.name!r} is visible"))
        out += board_checks(needs, board, setting)
    return out
