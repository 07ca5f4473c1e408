"""Configuration from the environment (see the README's configuration reference); errors name the variable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .pace import DEFAULT_RATE, MAX_RATE
from .trello import DEFAULT_API_URL, Pacer, TrelloClient

_HEX24 = re.compile(r"^[0-9a-fA-F]{24}$")
_SHORT = re.compile(r"^[A-Za-z0-9]{8}$")


def board_format_problem(board: str) -> str | None:
    """Why ``board`` cannot be a Trello board id or short link, or None (format only, no request)."""
    if _HEX24.match(board) or _SHORT.match(board):
        return None
    return (f"TRELLO_BOARD {board[:40]!r} is neither a 24-character board id nor an 8-character short link: "
            "use the part after /b/ in the board's URL")


def rate_problem(raw: str) -> str | None:
    """Why ``raw`` cannot be ``JENKINS_TRELLO_RATE`` (requests per 10 s for this host's processes), or None."""
    if raw.isdigit() and 1 <= int(raw) <= MAX_RATE:
        return None
    return (f"JENKINS_TRELLO_RATE {raw[:20]!r} is not a whole number from 1 to {MAX_RATE}: set the requests per "
            f"10 s this host may send with the token (Trello allows {MAX_RATE} per token; default {DEFAULT_RATE})")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds") from None
    if not 0 < value <= 3600:
        raise ConfigError(f"{name} must be between 0 and 3600 seconds")
    return value


@dataclass(frozen=True)
class Limits:
    """How long one request may take and how long a failing call is retried, for both services."""

    timeout: float = 10.0
    retry_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        return cls(timeout=_seconds(env, "JENKINS_TRELLO_TIMEOUT", 10.0),
                   retry_seconds=_seconds(env, "JENKINS_TRELLO_RETRY_SECONDS", 30.0))


class ConfigError(Exception):
    """Bad usage or configuration: exit code 2 with this one-line message."""


def _get(env: Mapping[str, str], name: str, default: str = "") -> str:
    return (env.get(name) or default).strip()


def _require(env: Mapping[str, str], names: list[str], why: str) -> None:
    missing = [n for n in names if not _get(env, n)]
    if missing:
        raise ConfigError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set ({why})")


@dataclass(frozen=True)
class TrelloConfig:
    key: str
    token: str
    board: str
    list: str
    done_list: str
    api_url: str
    #: requests per 10 s that this host's processes may send with the token together (JENKINS_TRELLO_RATE)
    rate: int = DEFAULT_RATE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrelloConfig:
        _require(env, ["TRELLO_API_KEY", "TRELLO_TOKEN", "TRELLO_BOARD"], "Trello credentials and board")
        api_url = _get(env, "TRELLO_API_URL", DEFAULT_API_URL)
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError("TRELLO_API_URL must be an http(s) URL")
        problem = board_format_problem(_get(env, "TRELLO_BOARD"))
        if problem:
            raise ConfigError(problem)
        rate = _get(env, "JENKINS_TRELLO_RATE", str(DEFAULT_RATE))
        problem = rate_problem(rate)
        if problem:
            raise ConfigError(problem)
        return cls(
            key=_get(env, "TRELLO_API_KEY"),
            token=_get(env, "TRELLO_TOKEN"),
            board=_get(env, "TRELLO_BOARD"),
            list=_get(env, "TRELLO_LIST", "To Do"),
            done_list=_get(env, "TRELLO_DONE_LIST", "Done"),
            api_url=api_url,
            rate=int(rate),
        )

    def client(self, **kwargs: object) -> TrelloClient:
        """A client paced with every other client of this token on this host, unless ``pacer`` is given."""
        kwargs.setdefault("pacer", Pacer.shared(self.rate, self.api_url, self.token))
        return TrelloClient(self.key, self.token, self.api_url, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:  # never show the credentials, even in a debugger or traceback
        return (f"TrelloConfig(board={self.board!r}, list={self.list!r}, "
                f"done_list={self.done_list!r}, api_url={self.api_url!r}, rate={self.rate})")


@dataclass(frozen=True)
class JenkinsConfig:
    url: str
    user: str | None
    token: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JenkinsConfig:
        _require(env, ["JENKINS_URL"], "Jenkins sets it in builds; set it for reconcile")
        url = _get(env, "JENKINS_URL")
        if not url.startswith(("http://", "https://")):
            raise ConfigError("JENKINS_URL must be an http(s) URL")
        user, token = _get(env, "JENKINS_USER") or None, _get(env, "JENKINS_API_TOKEN") or None
        if bool(user) != bool(token):
            raise ConfigError("JENKINS_USER and JENKINS_API_TOKEN go together: set both, or neither for anonymous")
        return cls(url=url, user=user, token=token)

    def __repr__(self) -> str:
        return f"JenkinsConfig(url={self.url!r}, user={self.user!r})"
