"""Which route an event takes: pure functions of the event and the policy, first match wins.

Everything here is deterministic and free of I/O so that route selection can be
tested exhaustively and so that ``--dry-run`` / ``replay`` can say which route
matched without touching a service.

Three small languages live here:

- job globs, over a Jenkins job's full name split on ``/``: ``*`` is any run of
  characters inside one segment, ``?`` one character, ``[...]`` a class (``[!...]``
  or ``[^...]`` negated), and ``**`` as a whole segment is zero or more segments
  (so ``payments/**`` matches ``payments`` itself as well as everything under it);
- flat globs, for branches and for the bridge's ``?source=`` name: the same, but
  ``*`` and ``?`` also match ``/`` (branch names such as ``feature/x`` are one name);
- Alertmanager matchers: ``name="value"``, ``name!="value"``, ``name=~"regex"``,
  ``name!~"regex"``, with the grammar of Alertmanager's UTF-8 matcher parser.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:  # policy.py imports this module; the types are only needed for hints
    from .policy import Policy, Route

#: the four Alertmanager operators
OPERATORS = ("=", "!=", "=~", "!~")
#: results a Jenkins route's ``result:`` may name (the failing results a card is about)
ROUTABLE_RESULTS = ("FAILURE", "UNSTABLE")


class MatcherError(ValueError):
    """A matcher string that Alertmanager would refuse: ``what`` is wrong (with the column), ``fix`` what to do."""

    def __init__(self, what: str, fix: str = "write name=\"value\", name!=\"value\", name=~\"regex\" or "
                                               "name!~\"regex\"") -> None:
        super().__init__(f"{what}: {fix}")
        self.what, self.fix = what, fix


class GlobError(ValueError):
    """A glob that cannot be compiled (unclosed ``[``, ``**`` inside a segment, empty)."""


# --------------------------------------------------------------------------- matchers


def _reserved(ch: str) -> bool:
    """Alertmanager's reserved runes: they end an unquoted name or value."""
    return ch.isspace() or ch in '{}!=~,"\'`'


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "'": "'"}


@dataclass(frozen=True)
class Matcher:
    """One Alertmanager label matcher. A missing label has the value ``""``, as in Alertmanager."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = _regex(self.value).fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        """The canonical text, which ``parse_matcher`` reads back to an equal matcher."""
        name = self.name if self.name and not any(_reserved(c) or c == "\\" for c in self.name) else _quote(self.name)
        return f"{name}{self.op}{_quote(self.value)}"


def _quote(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") \
        .replace("\r", "\\r")
    return f'"{out}"'


@functools.lru_cache(maxsize=2048)
def _regex(value: str) -> re.Pattern[str]:
    """Alertmanager anchors every regex (``^(?:v)$``); ``fullmatch`` is the same thing."""
    return re.compile(f"(?:{value})")


def regex_problem(value: str) -> str | None:
    """Why ``value`` does not compile as a regex, or None."""
    try:
        _regex(value)
    except re.error as exc:
        return str(exc)
    return None


def _unquote(text: str, start: int) -> tuple[str, int]:
    """Read a double-quoted string at ``text[start]``; return (value, index after the closing quote).

    Escapes as Go's ``strconv.Unquote`` (which Alertmanager uses): ``\\"`` ``\\\\``
    ``\\n`` ``\\t`` ``\\r`` and friends, ``\\xHH``, ``\\uHHHH``, ``\\UHHHHHHHH``; any other
    backslash sequence is an error, so a regex such as ``\\d`` must be written ``\\\\d``.
    """
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\n":
            raise MatcherError(f"column {i + 1}: a newline inside quotes", "write \\n")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(text):
            break
        esc = text[i + 1]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(esc)
        digits = text[i + 2:i + 2 + width] if width else ""
        if width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise MatcherError(f"column {i + 1}: \\{esc}{digits} is not a character")
            out.append(chr(code))
            i += 2 + width
            continue
        raise MatcherError(f"column {i + 1}: unknown escape \\{esc} inside quotes",
                           "write \\\\ for a backslash (a regex \\d is \\\\d)")
    raise MatcherError(f"column {start + 1}: missing closing \"")


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _name_or_value(text: str, i: int, what: str) -> tuple[str, int]:
    i = _skip_space(text, i)
    if i >= len(text):
        raise MatcherError(f"expected a label {what} at the end")
    if text[i] == '"':
        return _unquote(text, i)
    j = i
    while j < len(text) and not _reserved(text[j]):
        j += 1
    if j == i:
        raise MatcherError(f"column {i + 1}: unexpected {text[i]!r}, expected a label {what}",
                           "quote a value that has that character" if what == "value" else
                           "write name=\"value\"")
    return text[i:j], j


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher with Alertmanager's grammar; raise ``MatcherError`` saying what is wrong.

    Whitespace around the name, the operator and the value is ignored; names and
    values are either double-quoted (with escapes) or unquoted runs of characters
    other than whitespace and ``{}!=~,"'`` ``\\```; ``=~``/``!~`` values must
    compile as a regex and match the whole label value. Exactly one matcher:
    braces and commas belong to a list, which in the policy file is a YAML list.
    """
    if not isinstance(text, str):
        raise MatcherError("a matcher must be text", "write severity=\"critical\"")
    stripped = text.strip()
    if stripped.startswith("{") or stripped.endswith("}"):
        raise MatcherError("a matcher cannot start or end with braces", "list each matcher as its own item")
    name, i = _name_or_value(text, 0, "name")
    if not name:
        raise MatcherError("the label name is empty")
    i = _skip_space(text, i)
    op = ""
    for candidate in ("=~", "!~", "!=", "="):
        if text.startswith(candidate, i):
            op = candidate
            break
    if not op:
        found = repr(text[i]) if i < len(text) else "the end"
        raise MatcherError(f"column {i + 1}: expected an operator such as '=', '!=', '=~' or '!~', found {found}")
    value, i = _name_or_value(text, i + len(op), "value")
    i = _skip_space(text, i)
    if i < len(text):
        extra = "list each matcher as its own item" if text[i] == "," else "quote the value"
        raise MatcherError(f"column {i + 1}: unexpected {text[i:i + 10]!r} after the matcher", extra)
    if op in ("=~", "!~"):
        problem = regex_problem(value)
        if problem:
            raise MatcherError(f"the regex {value[:60]!r} does not compile ({problem})",
                               "fix the regex (it must match the whole label value)")
    return Matcher(name, op, value)


# --------------------------------------------------------------------------- globs


def _class(pattern: str, i: int, exclude_slash: bool) -> tuple[str, int]:
    """Translate ``[...]`` starting at ``pattern[i]``; return (regex, index after ``]``)."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] in "!^"
    if negate:
        j += 1
    body_start = j
    if j < len(pattern) and pattern[j] == "]":  # a leading ] is literal
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 1
    if j >= len(pattern):
        raise GlobError(f"unclosed '[' at column {i + 1}: close it with ']' (or write [[] for a literal '[')")
    body = pattern[body_start:j]
    chars = "".join("\\" + c if c in "\\^[]" else c for c in body)
    if negate:
        return f"[^{chars}{'/' if exclude_slash else ''}]", j + 1
    regex = f"[{chars}]"
    return (f"(?:(?!/){regex})" if exclude_slash else regex), j + 1


def _translate(segment: str, one_segment: bool) -> str:
    out: list[str] = []
    i = 0
    any_char = "[^/]" if one_segment else "."
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            out.append(any_char + "*")
            continue
        if ch == "?":
            out.append(any_char)
        elif ch == "[":
            regex, i = _class(segment, i, one_segment)
            out.append(regex)
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    if pattern == "":
        return re.compile("")
    return _compile(_translate(pattern, one_segment=False))


@functools.lru_cache(maxsize=4096)
def _job_regex(pattern: str) -> re.Pattern[str]:
    if not pattern:
        raise GlobError("the job glob is empty: write a job name, a folder glob such as team/** or **")
    parts: list[str] = []
    for segment in pattern.split("/"):
        if segment == "**":
            parts.append("(?:/[^/]*)*")
        elif "**" in segment:
            raise GlobError(f"'**' must be a whole segment, as in team/**/main, not {segment!r}: use * within a "
                            "segment")
        elif segment == "":
            raise GlobError("an empty segment (a leading, trailing or double '/'): remove the extra '/'")
        else:
            parts.append("/" + _translate(segment, one_segment=True))
    return _compile("".join(parts))


def _compile(regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex, re.DOTALL)
    except re.error as exc:  # e.g. a reversed range [z-a]
        raise GlobError(f"bad character class ({exc})") from None


def glob_match(pattern: str, value: str) -> bool:
    """Flat glob (branches, sources): ``*`` and ``?`` match any character, ``/`` included.

    The empty pattern matches only the empty value, so ``source: ""`` selects
    deliveries without a ``?source=``.
    """
    return _glob_regex(pattern).fullmatch(value) is not None


def job_glob_match(pattern: str, full_name: str) -> bool:
    """Job glob over the full name's ``/`` segments (``*`` stays in a segment, ``**`` spans any number).

    The raw full name is split, so a multibranch ``feature%2Fx`` is one segment.
    """
    return _job_regex(pattern).fullmatch("/" + full_name) is not None


def glob_problem(pattern: str, *, job: bool) -> str | None:
    """Why ``pattern`` cannot be used (as a job glob when ``job``, else a flat glob), or None."""
    try:
        _job_regex(pattern) if job else _glob_regex(pattern)
    except GlobError as exc:
        return str(exc)
    return None


def branch_of(job: str, branch: str | None = None) -> str:
    """The branch used for routing: ``$BRANCH_NAME`` when known, else the job's last segment, unquoted.

    A multibranch job ``org/repo/feature%2Fx`` is branch ``feature/x``. For a job that
    is not multibranch the last segment is the job's own name, which is what a branch
    glob then sees (so ``branch:`` rules are best kept to multibranch folders).
    """
    if branch:
        return branch
    return unquote(job.rsplit("/", 1)[-1])


def branches_match(patterns: Sequence[str], branch: str) -> bool:
    """A list of branch globs: every ``!``-pattern must miss, and some positive one hit (if there are any)."""
    positives = [p for p in patterns if not p.startswith("!")]
    negatives = [p[1:] for p in patterns if p.startswith("!")]
    if any(glob_match(p, branch) for p in negatives):
        return False
    return not positives or any(glob_match(p, branch) for p in positives)


# --------------------------------------------------------------------------- route selection


def jenkins_route_matches(route: Route, job: str, branch: str | None, result: str | None) -> bool:
    """Does one Jenkins route take this job? Empty match lists match anything.

    ``result`` is the failing result the card is about (the caller passes the previous
    counted build's result for a SUCCESS); a route with ``result:`` never matches
    None or SUCCESS.
    """
    if route.match_jobs and not any(job_glob_match(p, job) for p in route.match_jobs):
        return False
    if route.match_branches and not branches_match(route.match_branches, branch_of(job, branch)):
        return False
    if route.match_results:
        routing = (result or "").strip().upper()
        if routing not in route.match_results:
            return False
    return True


def alert_route_matches(route: Route, labels: Mapping[str, str], fmt: str, source: str) -> bool:
    """Does one alert route take this group? All matchers (AND), the format and the source glob."""
    if route.formats and fmt not in route.formats:
        return False
    if route.sources and not any(glob_match(p, source or "") for p in route.sources):
        return False
    return all(m.matches(labels) for m in route.matchers)


def _first(routes: Iterable[Route], test) -> Route | None:  # noqa: ANN001 - a predicate over Route
    for route in routes:
        if test(route):
            return route
    return None


def jenkins_route(policy: Policy, job: str, branch: str | None, result: str | None) -> Route | None:
    """The first Jenkins route that takes ``job``, or None (the job is left alone).

    A ``skip: true`` route is returned as it is: callers see ``route.skip`` and leave
    the job alone, and ``--dry-run`` can name the route that skipped it.
    """
    return _first(policy.jenkins, lambda r: jenkins_route_matches(r, job, branch, result))


def alert_route(policy: Policy, labels: Mapping[str, str], fmt: str, source: str) -> Route | None:
    """The first alert route that takes this group (labels = groupLabels over commonLabels), or None."""
    return _first(policy.alerts, lambda r: alert_route_matches(r, labels, fmt, source))
