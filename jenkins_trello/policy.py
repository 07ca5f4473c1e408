"""The policy file: parsed and validated once at the edge into frozen values.

Policy is data, not flags: one YAML file (``version: 1``) names the team's
boards, routes, labels, members, card texts and lifecycle; this module turns it
into ``Policy``/``Route`` values that the pure decisions receive as plain
arguments, so nothing deeper ever reads a global configuration. The
environment-only set-up is the same thing as a file with one catch-all route
(``policy_from_env``).

Validation collects *every* problem (``check``) rather than stopping at the
first, because a reviewer fixing a file wants the whole list at once; each
problem carries the file, the line and what to change. Apart from reading the
file in ``load_policy``/``read_policy_file`` everything here is pure.

Decisions made here (the user-facing side is in docs/policy.md):

- a route's own label is the key ``id`` (the key ``name`` is the card-name
  template, so it cannot also name the route); ``Route.name`` holds it;
- ``on_resolve`` of an alert route is stored in ``Route.on_fix`` (one field for
  "what happens when the subject is fine again");
- a route may set its own ``done_list``; ``members`` may be ``culprits``, a list
  of usernames, or a list holding ``culprits`` and usernames;
- ``${VAR}`` expands in string values only, never in keys; the expanded text is
  never shown in a message (the ``${...}`` text as written is shown instead);
- duplicate keys in a mapping are an error (YAML would silently keep the last).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .config import ConfigError, board_format_problem
from .routes import ROUTABLE_RESULTS, Matcher, MatcherError, glob_problem, parse_matcher

#: Trello's ten label colours
TRELLO_COLOURS = ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black")
#: webhook formats the bridge tells apart
FORMATS = ("alertmanager", "grafana", "grafana-legacy")
DEFAULT_ARCHIVE_DAYS = 14.0
TEMPLATE_KEYS = ("name", "desc", "comment")
_USERNAME = re.compile(r"^[a-z0-9_]{1,100}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class OnFix:
    """What happens when a job passes again (``on_fix``) or an alert resolves (``on_resolve``)."""

    action: str  # "archive" | "comment" | "move"
    list: str = ""  # the list for "move"


@dataclass(frozen=True)
class Route:
    """One route with every setting resolved against the file's ``trello:`` defaults."""

    name: str
    kind: str  # "jenkins" | "alerts"
    skip: bool = False
    board: str = ""
    list: str = "To Do"
    done_list: str = "Done"
    labels: tuple[str, ...] = ()
    labels_from: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    members: tuple[str, ...] = ()
    culprits: bool = False
    after_failures: int = 1
    unstable: str = "failing"
    reopen_within: float = 0.0
    on_fix: OnFix = OnFix("archive")
    templates: tuple[tuple[str, str], ...] = ()
    match_jobs: tuple[str, ...] = ()
    match_branches: tuple[str, ...] = ()
    match_results: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    formats: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def template(self, key: str) -> str | None:
        """The template source for ``name``/``desc``/``comment``, or None (the built-in text)."""
        return dict(self.templates).get(key)


@dataclass(frozen=True)
class Sweep:
    """One Done-list sweep: archive cards that sat in ``list`` on ``board`` for more than ``days``."""

    board: str
    list: str
    days: float


@dataclass(frozen=True)
class Policy:
    """The whole file: trello defaults, the people directory, both route lists and the sweeps."""

    version: int
    board: str
    list: str
    done_list: str
    people: tuple[tuple[str, str], ...]
    jenkins: tuple[Route, ...]
    alerts: tuple[Route, ...]
    archive: tuple[Sweep, ...]
    source: str = "<environment>"

    def boards(self) -> tuple[str, ...]:
        """Every board the policy names (default, routes, sweeps), first-seen order, each once.

        reconcile and archive cover exactly these, so a board that only a route or a
        sweep names is still looked after.
        """
        seen: dict[str, None] = {}
        for board in [self.board, *(r.board for r in self.jenkins), *(r.board for r in self.alerts),
                      *(s.board for s in self.archive)]:
            if board:
                seen.setdefault(board, None)
        return tuple(seen)

    def username_for(self, author: str) -> str | None:
        """The Trello username for a Jenkins author (user id, full name or e-mail, any case), or None."""
        return dict(self.people).get(author.strip().casefold())


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file; ``str`` is ``FILE:LINE: what is wrong: what to change``."""

    file: str
    line: int  # 0: the file as a whole (it cannot be read)
    what: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.what}: {self.fix}"


class PolicyError(ConfigError):
    """A policy file that cannot be used; ``problems`` holds all of them, ``str`` the first as one line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self.problems[0]) if self.problems else "the policy file is not valid")


# --------------------------------------------------------------------------- environment-only set-up


def _env(env: Mapping[str, str], name: str, default: str = "") -> str:
    return (env.get(name) or "").strip() or default


def policy_from_env(env: Mapping[str, str]) -> Policy:
    """The environment-only set-up as a policy: one board, one catch-all route per source, one sweep.

    Nothing is validated here: the existing settings checks (TrelloConfig, doctor)
    already say what is missing, in the words people know.
    """
    board = _env(env, "TRELLO_BOARD")
    intake = _env(env, "TRELLO_LIST", "To Do")
    done = _env(env, "TRELLO_DONE_LIST", "Done")
    return Policy(version=1, board=board, list=intake, done_list=done, people=(),
                  jenkins=(Route(name="default", kind="jenkins", board=board, list=intake, done_list=done),),
                  alerts=(Route(name="default", kind="alerts", board=board, list=intake, done_list=done),),
                  archive=(Sweep(board, done, DEFAULT_ARCHIVE_DAYS),))


# --------------------------------------------------------------------------- ${VAR}

_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_BODY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


def expand(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}`` from ``env``; ``$${`` is a literal ``${``.

    Returns the text and a list of problems (each naming a variable or the bad
    reference, never a value). ``$VAR`` without braces stays as written, so a
    ``$`` in a card text needs no escaping. ``:-`` uses the default when the
    variable is unset or empty, as the shell does.
    """
    problems: list[str] = []

    def one(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "$${":
            return "${"
        body = m.group(1)
        if body is None:
            problems.append("an unclosed ${: close it with } (write $${ for a literal ${)")
            return ""
        var = _VAR_BODY.match(body)
        if not var:
            problems.append(f"${{{body[:40]}}} is not a variable reference: write ${{NAME}} or ${{NAME:-default}} "
                            "(letters, digits, _), or $${ for a literal ${")
            return ""
        name, default = var.group(1), var.group(2)
        value = env.get(name)
        if default is not None:
            return value if value else default
        if value is None:
            problems.append(f"environment variable {name} is not set: set it, or write ${{{name}:-default}}")
            return ""
        return value

    return _VAR.sub(one, text), problems


# --------------------------------------------------------------------------- YAML with line numbers


@dataclass
class _Y:
    """A YAML value with where it was written: what messages need and plain PyYAML objects lose."""

    kind: str  # "map" | "seq" | "scalar"
    line: int
    value: Any  # map: dict[str, _Y]; seq: list[_Y]; scalar: the Python value (after ${VAR})
    text: str = ""  # scalar: as written
    expanded: bool = False
    keys: dict[str, int] = field(default_factory=dict)  # map: key -> its line
    style: str | None = None
    bad: bool = False  # already reported (e.g. an unquoted !tag): no follow-up problem


_STD_TAG = "tag:yaml.org,2002:"


class _Builder:
    """Node graph (PyYAML's safe composer) -> ``_Y`` tree, expanding ``${VAR}`` and noting problems."""

    def __init__(self, filename: str, env: Mapping[str, str], problems: list[Problem]) -> None:
        self.filename, self.env, self.problems = filename, env, problems
        self.constructor = yaml.constructor.SafeConstructor()

    def add(self, line: int, what: str, fix: str) -> None:
        self.problems.append(Problem(self.filename, line, what, fix))

    def build(self, node: yaml.Node, depth: int = 0) -> _Y:
        line = node.start_mark.line + 1
        if depth > 50:
            self.add(line, "the file nests too deeply (or an alias refers to itself)", "flatten it")
            return _Y("scalar", line, None)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # << merge keys, as PyYAML's loader does
            out: dict[str, _Y] = {}
            keys: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    self.add(key_line, "a key is a list or a mapping", "write a plain key such as board:")
                    continue
                key = str(key_node.value)
                if key in out:
                    self.add(key_line, f"duplicate key {key!r} (first on line {keys[key]})",
                             "keep one of them (YAML would silently use the last)")
                    continue
                keys[key] = key_line
                out[key] = self.build(value_node, depth + 1)
            return _Y("map", line, out, keys=keys)
        if isinstance(node, yaml.SequenceNode):
            return _Y("seq", line, [self.build(item, depth + 1) for item in node.value])
        text = str(node.value)
        if not node.tag.startswith(_STD_TAG):
            self.add(line, f"YAML reads {node.tag + (' ' + text if text else '')!r} as a tag",
                     f"quote the value, e.g. \"{node.tag}{(' ' + text) if text else ''}\" (a leading ! starts a "
                     "YAML tag)")
            return _Y("scalar", line, text, text=text, style=node.style, bad=True)
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            self.add(line, f"cannot read the value {text[:40]!r} ({getattr(exc, 'problem', None) or exc})",
                     "quote it to make it text")
            return _Y("scalar", line, text, text=text, style=node.style, bad=True)
        expanded, troubles = False, []
        if isinstance(value, str) and "${" in value:
            value, troubles = expand(value, self.env)
            expanded = True
            for trouble in troubles:
                what, _, fix = trouble.partition(": ")
                self.add(line, what, fix)
        return _Y("scalar", line, value, text=text, expanded=expanded, style=node.style, bad=bool(troubles))


def _yaml_tree(text: str, filename: str, env: Mapping[str, str], problems: list[Problem]) -> _Y | None:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # an error at the end of the stream points past the last line: name the last line instead
        line = min(mark.line + 1, max(len(text.splitlines()), 1)) if mark else 1
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "YAML syntax error"
        problems.append(Problem(filename, line, f"YAML syntax error: {what}",
                                "fix the YAML there (indentation, a missing ':' or quote, tabs)"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(filename, 1, f"YAML syntax error: {exc}", "fix the YAML"))
        return None
    if node is None:
        problems.append(Problem(filename, 1, "the file is empty", "start it with version: 1"))
        return None
    return _Builder(filename, env, problems).build(node)


# --------------------------------------------------------------------------- validation

TOP_KEYS = ("version", "trello", "people", "jenkins", "alerts", "archive")
TRELLO_KEYS = ("board", "list", "done_list")
SECTION_KEYS = ("routes",)
ROUTE_COMMON = ("id", "match", "skip", "board", "list", "done_list", "labels", "labels_from", "members",
                "reopen_within", *TEMPLATE_KEYS)
ROUTE_KEYS = {
    "jenkins": (*ROUTE_COMMON, "after_failures", "unstable", "on_fix"),
    "alerts": (*ROUTE_COMMON, "format", "source", "on_resolve"),
}
JOB_MATCH_KEYS = ("job", "branch", "result")
SWEEP_KEYS = ("board", "list", "days")


def _kind(y: _Y) -> str:
    if y.kind == "map":
        return "a mapping"
    if y.kind == "seq":
        return "a list"
    v = y.value
    if v is None:
        return "empty"
    if isinstance(v, bool):
        return f"true/false ({y.text})"
    if isinstance(v, (int, float)):
        return f"a number ({y.text})"
    if isinstance(v, str):
        return "text"
    return f"a {type(v).__name__} ({y.text[:30]})"


def _show(y: _Y) -> str:
    """How a value appears in a message: as written when it came from ${VAR}, so no value leaks."""
    if y.kind != "scalar":
        return _kind(y)
    if not isinstance(y.value, str):
        return y.text[:60]
    shown = y.text if y.expanded else y.value
    return repr(shown[:60] + ("..." if len(shown) > 60 else ""))


def _detail(y: _Y, what: str) -> str:
    """A parser's detail quotes part of the value: leave it out when the value came from ``${VAR}``."""
    return "not valid once its ${VAR}s are expanded (the value is not shown)" if y.expanded else what


class _Reader:
    """Checks the ``_Y`` tree against the schema, collecting problems and building the values."""

    def __init__(self, filename: str, env: Mapping[str, str], problems: list[Problem]) -> None:
        self.filename, self.env, self.problems = filename, env, problems
        self.usernames: set[str] = set()

    def add(self, line: int, what: str, fix: str) -> None:
        self.problems.append(Problem(self.filename, line, what, fix))

    # -- generic shapes

    def fields(self, y: _Y | None, where: str, known: Sequence[str]) -> dict[str, _Y]:
        if y is None:
            return {}
        if y.kind != "map":
            self.add(y.line, f"{where} must be a mapping, got {_kind(y)}",
                     f"write keys under it ({', '.join(known[:4])}...)")
            return {}
        for key in y.value:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.add(y.keys[key], f"unknown key {key!r} in {where}",
                         f"{hint}known keys: {', '.join(known)}")
        return {k: v for k, v in y.value.items() if k in known}

    def text(self, y: _Y, where: str, *, empty_ok: bool = False) -> str | None:
        if y.bad:
            return None
        if y.kind != "scalar" or not isinstance(y.value, str):
            fix = "quote it" if y.kind == "scalar" and y.value is not None else "write a text value"
            self.add(y.line, f"{where} must be text, got {_kind(y)}", fix)
            return None
        value = y.value.strip()
        if not value and not empty_ok:
            self.add(y.line, f"{where} is empty", "write a value or remove the key")
            return None
        return y.value if empty_ok else value

    def texts(self, y: _Y, where: str, *, empty_ok: bool = False) -> list[tuple[str, _Y]]:
        """A text or a list of texts (each with its node, for its line)."""
        items = y.value if y.kind == "seq" else [y]
        if y.kind == "seq" and not items:
            self.add(y.line, f"{where} is an empty list", "list at least one value or remove the key")
        out = []
        for item in items:
            value = self.text(item, f"{where} entry", empty_ok=empty_ok)
            if value is not None:
                out.append((value, item))
        return out

    def boolean(self, y: _Y, where: str) -> bool:
        if y.kind == "scalar" and isinstance(y.value, bool):
            return y.value
        self.add(y.line, f"{where} must be true or false, got {_show(y)}", f"write {where.split()[-1]}: true")
        return False

    def board(self, y: _Y, where: str) -> str | None:
        value = self.text(y, where)
        if value is None:
            return None
        if board_format_problem(value):
            self.add(y.line, f"{where} {_show(y)} is neither a 24-character board id nor an 8-character short link",
                     "use the part after /b/ in the board's URL")
            return None
        return value

    def username(self, y: _Y, where: str) -> str | None:
        value = self.text(y, where)
        if value is None:
            return None
        name = value[1:] if value.startswith("@") else value
        name = name.lower()
        if not _USERNAME.match(name):
            self.add(y.line, f"{where} {_show(y)} is not a Trello username",
                     "use the username from the member's profile URL (letters, digits, _)")
            return None
        return name

    def duration(self, y: _Y, where: str) -> float:
        if y.kind == "scalar" and isinstance(y.value, (int, float)) and not isinstance(y.value, bool):
            if y.value >= 0:
                return float(y.value)
        elif y.kind == "scalar" and isinstance(y.value, str):
            m = _DURATION.match(y.value)
            if m:
                return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        self.add(y.line, f"{where} {_show(y)} is not a duration",
                 "write a number and a unit: 30s, 15m, 12h, 7d or 2w (a plain number is seconds; 0 is off)")
        return 0.0

    def on_fix(self, y: _Y, where: str) -> OnFix:
        if y.kind == "scalar" and y.value in ("archive", "comment"):
            return OnFix(y.value)
        if y.kind == "map":
            got = self.fields(y, where, ("move",))
            if "move" in got:
                target = self.text(got["move"], f"{where} move")
                if target is not None:
                    return OnFix("move", target)
                return OnFix("archive")
            if y.value:  # only unknown keys, already reported
                return OnFix("archive")
        self.add(y.line, f"{where} {_show(y)} is not one of archive, comment, {{move: <list>}}",
                 f"write {where.split()[-1]}: archive, {where.split()[-1]}: comment or "
                 f"{where.split()[-1]}: {{move: Done}}")
        return OnFix("archive")

    def colour(self, y: _Y, where: str) -> str | None:
        value = self.text(y, where)
        if value is None:
            return None
        if value.lower() not in TRELLO_COLOURS:
            self.add(y.line, f"{where} {_show(y)} is not a Trello label colour",
                     f"use one of {', '.join(TRELLO_COLOURS)}")
            return None
        return value.lower()

    # -- sections

    def read(self, root: _Y) -> Policy | None:
        if root.kind != "map":
            self.add(root.line, f"the file must be a mapping, got {_kind(root)}", "start it with version: 1")
            return None
        top = self.fields(root, "the file", TOP_KEYS)
        self.version(top.get("version"), root)
        trello = self.fields(top.get("trello"), "trello", TRELLO_KEYS)
        board = self.board(trello["board"], "trello.board") if "board" in trello else None
        if "board" not in trello:
            env_board = _env(self.env, "TRELLO_BOARD")
            if not env_board:
                line = top["trello"].line if "trello" in top else 1
                self.add(line, "no default board: trello.board is not in the file and TRELLO_BOARD is not set",
                         "add board: ${TRELLO_BOARD} (or a board's short link) under trello:, or set TRELLO_BOARD")
            elif board_format_problem(env_board):
                self.add(0 if "trello" not in top else top["trello"].line,
                         "TRELLO_BOARD is neither a 24-character board id nor an 8-character short link",
                         "use the part after /b/ in the board's URL")
            else:
                board = env_board
        intake = (self.text(trello["list"], "trello.list") if "list" in trello else None) \
            or _env(self.env, "TRELLO_LIST", "To Do")
        done = (self.text(trello["done_list"], "trello.done_list") if "done_list" in trello else None) \
            or _env(self.env, "TRELLO_DONE_LIST", "Done")
        defaults = Route(name="", kind="", board=board or "", list=intake, done_list=done)
        people = self.people(top.get("people"))
        jenkins = self.section(top, "jenkins", defaults)
        alerts = self.section(top, "alerts", defaults)
        archive = self.sweeps(top.get("archive"), defaults)
        return Policy(version=1, board=board or "", list=intake, done_list=done, people=people, jenkins=jenkins,
                      alerts=alerts, archive=archive, source=self.filename)

    def version(self, y: _Y | None, root: _Y) -> None:
        if y is None:
            self.add(root.line, "version is missing", "add version: 1 as the first line")
        elif not (y.kind == "scalar" and y.value == 1 and not isinstance(y.value, bool)):
            self.add(y.line, f"version {_show(y)} is not supported", "write version: 1")

    def people(self, y: _Y | None) -> tuple[tuple[str, str], ...]:
        if y is None:
            return ()
        if y.kind != "map":
            self.add(y.line, f"people must be a mapping of author -> Trello username, got {_kind(y)}",
                     "write lines such as alice@example.com: alice")
            return ()
        out: dict[str, str] = {}
        for key, value in y.value.items():
            author = key.strip().casefold()
            if not author:
                self.add(y.keys[key], "an empty author in people", "write the Jenkins user id, full name or e-mail")
                continue
            if author in out:
                self.add(y.keys[key], f"author {key!r} is listed twice in people (names compare ignoring case)",
                         "keep one entry")
                continue
            username = self.username(value, f"people: {key!r} ->")
            if username:
                out[author] = username
        self.usernames = set(out.values())
        return tuple(out.items())

    def section(self, top: dict[str, _Y], kind: str, defaults: Route) -> tuple[Route, ...]:
        if kind not in top:  # no section: one catch-all route, as with the environment alone
            return (Route(name="default", kind=kind, board=defaults.board, list=defaults.list,
                          done_list=defaults.done_list),)
        y = top[kind]
        if y.kind == "scalar" and y.value is None:
            self.add(y.line, f"{kind}: is empty",
                     f"list routes: under it (routes: [] leaves everything alone), or remove {kind}: for the "
                     "default catch-all route")
            return ()
        got = self.fields(y, kind, SECTION_KEYS)
        if "routes" not in got:
            if y.kind == "map":
                self.add(y.line, f"{kind}: has no routes:", "add routes: with a list of routes (routes: [] leaves "
                                                            "everything alone)")
            return ()
        routes_y = got["routes"]
        if routes_y.kind != "seq":
            self.add(routes_y.line, f"{kind}.routes must be a list, got {_kind(routes_y)}",
                     "write each route as a list item starting with '- '")
            return ()
        routes: list[Route] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(routes_y.value):
            route = self.route(item, kind, index, defaults)
            if route is None:
                continue
            if route.name in seen:
                self.add(item.line, f"{kind} route id {route.name!r} is used twice (first on line {seen[route.name]})",
                         "give each route its own id")
            seen.setdefault(route.name, item.line)
            routes.append(route)
        return tuple(routes)

    def route(self, y: _Y, kind: str, index: int, defaults: Route) -> Route | None:
        label = f"{kind}[{index}]"
        if y.kind != "map":
            self.add(y.line, f"{kind} route {label} must be a mapping, got {_kind(y)}",
                     "write keys such as match:, board:, list: under '- '")
            return None
        if "id" in y.value:
            name = self.text(y.value["id"], f"{label} id") or label
            label = f"{kind} route {name!r}"
        else:
            name, label = label, f"{kind} route {label}"
        got = self.fields(y, label, ROUTE_KEYS[kind])
        fields: dict[str, Any] = {"name": name, "kind": kind, "board": defaults.board, "list": defaults.list,
                                  "done_list": defaults.done_list}
        if "match" in got:
            if kind == "jenkins":
                fields.update(self.job_match(got["match"], label))
            else:
                fields["matchers"] = self.matchers(got["match"], label)
        if "skip" in got:
            fields["skip"] = self.boolean(got["skip"], f"{label} skip")
        if "board" in got:
            fields["board"] = self.board(got["board"], f"{label} board") or defaults.board
        for key in ("list", "done_list"):
            if key in got:
                fields[key] = self.text(got[key], f"{label} {key}") or fields[key]
        if "labels" in got:
            fields["labels"] = tuple(v for v, _ in self.texts(got["labels"], f"{label} labels"))
        if "labels_from" in got:
            fields["labels_from"] = self.labels_from(got["labels_from"], kind, label)
        if "members" in got:
            fields["members"], fields["culprits"] = self.members(got["members"], kind, label)
        if "reopen_within" in got:
            fields["reopen_within"] = self.duration(got["reopen_within"], f"{label} reopen_within")
        if "after_failures" in got:
            fields["after_failures"] = self.after_failures(got["after_failures"], label)
        if "unstable" in got:
            y_u = got["unstable"]
            if y_u.kind == "scalar" and y_u.value in ("failing", "ignore"):
                fields["unstable"] = y_u.value
            else:
                self.add(y_u.line, f"{label} unstable {_show(y_u)} is not failing or ignore",
                         "write unstable: failing (UNSTABLE builds get cards) or unstable: ignore")
        for key in ("on_fix", "on_resolve"):
            if key in got:
                fields["on_fix"] = self.on_fix(got[key], f"{label} {key}")
        if "format" in got:
            formats = []
            for value, item in self.texts(got["format"], f"{label} format"):
                if value not in FORMATS:
                    self.add(item.line, f"{label} format {_show(item)} is not a webhook format",
                             f"use one of {', '.join(FORMATS)}")
                else:
                    formats.append(value)
            fields["formats"] = tuple(formats)
        if "source" in got:
            sources = []
            for value, item in self.texts(got["source"], f"{label} source", empty_ok=True):
                problem = glob_problem(value, job=False)
                if problem:
                    self.add(item.line, f"{label} source glob {_show(item)}: {_detail(item, problem.split(': ')[0])}",
                             problem.split(": ", 1)[-1])
                else:
                    sources.append(value)
            fields["sources"] = tuple(sources)
        templates = []
        for key in TEMPLATE_KEYS:
            if key in got:
                src = self.template(got[key], f"{label} {key}")
                if src is not None:
                    templates.append((key, src))
        fields["templates"] = tuple(templates)
        return Route(**fields)

    def job_match(self, y: _Y, label: str) -> dict[str, tuple[str, ...]]:
        got = self.fields(y, f"{label} match", JOB_MATCH_KEYS)
        out: dict[str, tuple[str, ...]] = {}
        if "job" in got:
            jobs = []
            for value, item in self.texts(got["job"], f"{label} match.job"):
                if value.startswith("!"):
                    self.add(item.line, f"{label} match.job {_show(item)}: negation is for branches only",
                             "list the jobs to match, and put a skip: true route before this one for the others")
                    continue
                problem = glob_problem(value, job=True)
                if problem:
                    what, _, fix = problem.partition(": ")
                    self.add(item.line, f"{label} match.job {_show(item)}: {_detail(item, what)}",
                             fix or "fix the glob")
                else:
                    jobs.append(value)
            out["match_jobs"] = tuple(jobs)
        if "branch" in got:
            branches = []
            for value, item in self.texts(got["branch"], f"{label} match.branch"):
                body = value[1:] if value.startswith("!") else value
                problem = "nothing after '!': write !PR-* to leave PR branches alone" if not body else \
                    glob_problem(body, job=False)
                if problem:
                    what, _, fix = problem.partition(": ")
                    self.add(item.line, f"{label} match.branch {_show(item)}: {_detail(item, what)}",
                             fix or "fix the glob")
                else:
                    branches.append(value)
            out["match_branches"] = tuple(branches)
        if "result" in got:
            results = []
            for value, item in self.texts(got["result"], f"{label} match.result"):
                if value.upper() not in ROUTABLE_RESULTS:
                    self.add(item.line, f"{label} match.result {_show(item)} is not a failing result",
                             f"use {' or '.join(ROUTABLE_RESULTS)} (a fix is routed by the result it fixes)")
                else:
                    results.append(value.upper())
            out["match_results"] = tuple(dict.fromkeys(results))
        return out

    def matchers(self, y: _Y, label: str) -> tuple[Matcher, ...]:
        if y.kind == "map":
            self.add(y.line, f"{label} match must be a list of Alertmanager matchers, got a mapping",
                     "write match: ['severity=\"critical\"', 'team=~\"db|infra\"']")
            return ()
        out = []
        for value, item in self.texts(y, f"{label} match"):
            try:
                out.append(parse_matcher(value))
            except MatcherError as exc:
                self.add(item.line, f"{label} matcher {_show(item)}: {_detail(item, exc.what)}", exc.fix)
        return tuple(out)

    def labels_from(self, y: _Y, kind: str, label: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        where = f"{label} labels_from"
        if y.kind != "map":
            self.add(y.line, f"{where} must be a mapping, got {_kind(y)}",
                     "write labels_from: {result: {FAILURE: red, UNSTABLE: yellow}}" if kind == "jenkins" else
                     "write labels_from: {severity: {critical: red, warning: yellow}}")
            return ()
        if kind == "jenkins":
            self.fields(y, where, ("result",))
        out = []
        for key, inner in y.value.items():
            if kind == "jenkins" and key != "result":
                continue
            if inner.kind != "map":
                self.add(inner.line, f"{where}.{key} must map values to colours, got {_kind(inner)}",
                         f"write {key}: {{value: red}}")
                continue
            pairs = []
            for value_text, colour_y in inner.value.items():
                value = value_text.upper() if kind == "jenkins" else value_text
                if kind == "jenkins" and value not in ROUTABLE_RESULTS:
                    self.add(inner.keys[value_text], f"{where}.result {value_text!r} is not a failing result",
                             f"use {' or '.join(ROUTABLE_RESULTS)}")
                    continue
                colour = self.colour(colour_y, f"{where}.{key}.{value_text}")
                if colour:
                    pairs.append((value, colour))
            out.append((key, tuple(pairs)))
        return tuple(out)

    def members(self, y: _Y, kind: str, label: str) -> tuple[tuple[str, ...], bool]:
        where = f"{label} members"
        names: list[str] = []
        culprits = False
        for value, item in self.texts(y, where):
            if value == "culprits":
                if kind != "jenkins":
                    self.add(item.line, f"{where}: culprits is only for jenkins routes (alerts have no authors)",
                             "list Trello usernames instead")
                else:
                    culprits = True
                continue
            name = self.username(item, f"{where} entry")
            if name is None:
                continue
            if name not in self.usernames:
                self.add(item.line, f"unknown person {name!r} in members", "add them to people: or correct the name")
                continue
            names.append(name)
        return tuple(dict.fromkeys(names)), culprits

    def after_failures(self, y: _Y, label: str) -> int:
        if y.kind == "scalar" and isinstance(y.value, int) and not isinstance(y.value, bool) and y.value >= 1:
            return y.value
        self.add(y.line, f"{label} after_failures {_show(y)} is not a whole number >= 1",
                 "write after_failures: 2 (no card until 2 builds in a row fail)")
        return 1

    def template(self, y: _Y, where: str) -> str | None:
        if y.kind != "scalar" or not isinstance(y.value, str):
            self.add(y.line, f"{where} must be a text template, got {_kind(y)}", "quote it")
            return None
        problem = template_problem(y.value)
        if problem:
            message, lineno = problem
            base = y.line + (1 if y.style in ("|", ">") else 0)
            self.add(base + max(lineno - 1, 0), f"{where} template: {_detail(y, message)}",
                     "fix the Jinja2 syntax ({{ value }}, {% if %}...{% endif %})")
            return None
        return y.value

    def sweeps(self, y: _Y | None, defaults: Route) -> tuple[Sweep, ...]:
        if y is None:
            return (Sweep(defaults.board, defaults.done_list, DEFAULT_ARCHIVE_DAYS),)
        if y.kind != "seq":
            self.add(y.line, f"archive must be a list of sweeps, got {_kind(y)}",
                     "write archive: [{board: AbCdEf12, list: Done, days: 14}] (archive: [] turns sweeps off)")
            return ()
        out = []
        for index, item in enumerate(y.value):
            where = f"archive[{index}]"
            got = self.fields(item, where, SWEEP_KEYS)
            if item.kind != "map":
                continue
            board = (self.board(got["board"], f"{where} board") if "board" in got else None) or defaults.board
            lst = (self.text(got["list"], f"{where} list") if "list" in got else None) or defaults.done_list
            days = DEFAULT_ARCHIVE_DAYS
            if "days" in got:
                d = got["days"]
                if d.kind == "scalar" and isinstance(d.value, (int, float)) and not isinstance(d.value, bool) \
                        and d.value > 0:
                    days = float(d.value)
                else:
                    self.add(d.line, f"{where} days {_show(d)} is not a number of days > 0", "write days: 14")
            out.append(Sweep(board, lst, days))
        return tuple(out)


def template_problem(source: str) -> tuple[str, int] | None:
    """Why ``source`` does not compile as a card template: (message, line in it), or None.

    Compiled by the templates module itself (the same sandbox, globals and
    cache that render the card), so check-config and rendering agree: a file
    that passes check-config compiles when the card is made. Never rendered
    here (rendering needs the card's variables). Imported on first use so that
    a policy without templates does not load Jinja2.
    """
    from .templates import TemplateProblem, compile_template

    try:
        compile_template(source)
    except TemplateProblem as exc:
        return exc.detail, exc.lineno
    return None


# --------------------------------------------------------------------------- entry points


def check(text: str, filename: str, env: Mapping[str, str]) -> list[Problem]:
    """Every problem in the file, in file order (empty: the file is good). No network."""
    return _parse(text, filename, env)[1]


def _parse(text: str, filename: str, env: Mapping[str, str]) -> tuple[Policy | None, list[Problem]]:
    problems: list[Problem] = []
    root = _yaml_tree(text, filename, env, problems)
    policy = _Reader(filename, env, problems).read(root) if root is not None else None
    problems.sort(key=lambda p: p.line)  # stable: same-line problems keep their order
    return policy, problems


def parse_policy(text: str, filename: str, env: Mapping[str, str]) -> Policy:
    """The policy in ``text``; raises ``PolicyError`` with every problem when there is any."""
    policy, problems = _parse(text, filename, env)
    if problems or policy is None:
        raise PolicyError(problems)
    return policy


def read_policy_file(path: str) -> str:
    """The file's text; a file that cannot be read is a ``PolicyError`` with one line-less problem."""
    fix = "check the path given to --config or JENKINS_TRELLO_CONFIG"
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise PolicyError([Problem(path, 0, "the policy file does not exist", fix)]) from None
    except IsADirectoryError:
        raise PolicyError([Problem(path, 0, "the policy file is a directory", fix)]) from None
    except PermissionError:
        raise PolicyError([Problem(path, 0, "the policy file cannot be read (permission denied)",
                                   "let the user that runs the command read it")]) from None
    except UnicodeDecodeError:
        raise PolicyError([Problem(path, 0, "the policy file is not UTF-8 text", "save it as UTF-8")]) from None
    except OSError as exc:
        raise PolicyError([Problem(path, 0, f"the policy file cannot be read ({exc.strerror or 'error'})",
                                   fix)]) from None


def config_path(path: str | None, env: Mapping[str, str]) -> str | None:
    """The policy file to use: ``--config`` if given, else ``$JENKINS_TRELLO_CONFIG``, else None."""
    return (path or "").strip() or _env(env, "JENKINS_TRELLO_CONFIG") or None


def load_policy(path: str | None, env: Mapping[str, str]) -> Policy:
    """The policy from ``path`` (or ``$JENKINS_TRELLO_CONFIG``), or from the environment alone if neither."""
    chosen = config_path(path, env)
    if chosen is None:
        return policy_from_env(env)
    return parse_policy(read_policy_file(chosen), chosen, env)
