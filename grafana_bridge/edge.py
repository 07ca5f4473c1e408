"""The bridge's edges and the policy file: load it once, fill the environment's gaps, check its boards live.

The policy is parsed here, at the edge (``serve``, the WSGI module, the Lambda
handler, ``archive``, ``doctor``), and handed down as a value. A file may omit
``trello.board`` (then ``TRELLO_BOARD`` fills it) and ``TRELLO_BOARD`` may be
unset when the file names the board, so the Trello settings are the
environment with the policy's defaults filled in (``trello_env``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from jenkins_trello.cards import resolve_list
from jenkins_trello.config import ConfigError
from jenkins_trello.policy import Policy, load_policy, parse_policy
from jenkins_trello.settings import explain_trello
from jenkins_trello.trello import TrelloClient, TrelloError

if TYPE_CHECKING:  # doctor's module is imported by doctor alone: serve and archive need none of it
    from jenkins_trello.doctor import Check

#: the Lambda handler's variable holding the policy file's text itself (no file in the function's package)
CONFIG_YAML = "JENKINS_TRELLO_CONFIG_YAML"


def lambda_policy(env: Mapping[str, str]) -> Policy:
    """The Lambda function's policy: ``$JENKINS_TRELLO_CONFIG_YAML`` (the text), else the file or the environment.

    Both set is a configuration error: which one is meant cannot be guessed.
    """
    text = env.get(CONFIG_YAML) or ""
    if text.strip():
        if (env.get("JENKINS_TRELLO_CONFIG") or "").strip():
            raise ConfigError(f"JENKINS_TRELLO_CONFIG and {CONFIG_YAML} are both set: set only one")
        return parse_policy(text, CONFIG_YAML, env)
    return load_policy(None, env)


def trello_env(env: Mapping[str, str], policy: Policy) -> dict[str, str]:
    """``env`` with the policy's Trello defaults where the environment has none (``TrelloConfig.from_env`` input)."""
    out = dict(env)
    for name, value in (("TRELLO_BOARD", policy.board), ("TRELLO_LIST", policy.list),
                        ("TRELLO_DONE_LIST", policy.done_list)):
        if value and (policy.source != "<environment>" or not (out.get(name) or "").strip()):
            out[name] = value
    return out


def policy_targets(policy: Policy) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each board the bridge and the sweeps use, with the lists they need there: ``(board, [(list, why)])``."""
    out: dict[str, list[tuple[str, str]]] = {}

    def need(board: str, lst: str, why: str) -> None:
        if board:
            wants = out.setdefault(board, [])
            if lst and all(lst != have for have, _why in wants):
                wants.append((lst, why))

    for route in policy.alerts:
        if route.skip:
            continue
        need(route.board, route.list, f"alert route {route.name} list")
        if route.on_fix.action == "move":
            need(route.board, route.on_fix.list, f"alert route {route.name} on_resolve move")
    for sweep in policy.archive:
        need(sweep.board, sweep.list, "archive sweep list")
    return list(out.items())


def policy_checks(policy: Policy, client: TrelloClient, api_url: str) -> list[Check]:
    """One line per alert or sweep board (reachable, its name) and per list it needs (on the board)."""
    from jenkins_trello.doctor import Check

    out: list[Check] = []
    for board, lists in policy_targets(policy):
        setting = f"{policy.source} board {board}"
        try:
            raw = client.request("GET", f"/boards/{board}", "read board", params={"fields": "name,closed"})
            found = client.board_lists(board, with_cards=False)
        except TrelloError as exc:
            message = explain_trello(exc, board, api_url, member_ok=True)
            out.append(Check(False, setting, message or f"unreachable: {exc}", down=not message))
            continue
        name = raw.get("name") if isinstance(raw, dict) else None
        closed = isinstance(raw, dict) and bool(raw.get("closed"))
        out.append(Check(not closed, setting, f"{name!r}" + (" (closed: reopen it or pick another board)"
                                                            if closed else "")))
        pairs = [(str(x.get("id", "")), str(x.get("name", ""))) for x in found]
        for lst, why in lists:
            try:
                resolve_list(pairs, lst)
            except LookupError as exc:
                out.append(Check(False, f"{setting} {why}", f"{exc}: create it or correct the name"))
            else:
                out.append(Check(True, f"{setting} {why}", f"{lst!r} is on the board"))
    return out


def load_checks(path: str | None, env: Mapping[str, str]) -> tuple[Policy | None, Sequence[Check]]:
    """The policy for ``doctor``, or None with the failing check that says why."""
    from jenkins_trello.doctor import from_message

    try:
        return load_policy(path, env), ()
    except ConfigError as exc:
        return None, (from_message(f"JENKINS_TRELLO_CONFIG {exc}"),)
