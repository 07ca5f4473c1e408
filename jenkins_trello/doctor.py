"""``doctor``: every setting checked live, one line each, so a mistake shows while every build is green.

Without it a wrong ``TRELLO_LIST`` stays silent until the first failure needs a
card, and a wrong ``JENKINS_URL`` until ``reconcile`` runs. Each check says what
it found (the token's member, the board's name, the lists, the Jenkins version)
and, when it fails, what to change. The verdict (``exit_code``) is pure: 2 when a
setting is wrong, else 1 when a service is down, else 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cards import resolve_list
from .config import ConfigError, JenkinsConfig, Limits, TrelloConfig
from .jenkins import JenkinsError, JenkinsReader, JenkinsSettingError
from .notify import job_missing
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


def trello_checks(env: Mapping[str, str], list_settings: Sequence[str] = ("TRELLO_LIST",),
                  client: TrelloClient | None = None) -> list[Check]:
    """API base, key, token (its member), board (its name), and each named list setting."""
    try:
        cfg = TrelloConfig.from_env(env)
        limits = Limits.from_env(env)
    except ConfigError as exc:
        return [from_message(str(exc))]
    client = client or cfg.client(timeout=limits.timeout, retry_seconds=min(limits.retry_seconds,
                                                                            DOCTOR_RETRY_SECONDS))
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
