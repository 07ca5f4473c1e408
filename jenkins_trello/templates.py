"""Card text from a policy's templates: Jinja2 in its sandbox, every printed value escaped as card text.

A route may give ``name``, ``desc`` and ``comment`` templates. They come from a
reviewed file, but the values they print come from builds and alerts, which
anyone who can push a commit or fire an alert controls. So:

- Templates run in Jinja2's ``SandboxedEnvironment`` (no attribute of Python's
  internals, no file, no import: no code runs from the policy file), with
  ``StrictUndefined`` (a misspelt variable is an error, not an empty text).
- Every value a ``{{ ... }}`` prints goes through one ``finalize`` that escapes
  it as card text: ``text.md_escape`` in descriptions and comments (so a
  commit message cannot forge a link, a mention, a heading or the project's
  marker line), ``text.one_line`` in names (plain text in Trello). That covers
  loop items, attribute look-ups and filter results alike; Jinja's ``|safe``
  does not bypass it. Only ``link(label, url)`` prints unescaped: it returns
  the project's own safe link (``text.md_link``, the host shown), wrapped in
  ``Safe``, the one type ``finalize`` lets through.
- The result is cut to Trello's limits, leaving room for the marker line,
  which the caller appends after the rendered text (``cards.with_marker``): a
  template can neither remove nor imitate it; a marker-looking line the
  template's own text holds has its backticks escaped as well.
- A template that fails while rendering falls back to the built-in text, with
  the reason for a warning (``render_or_default``): a bad template never costs
  a card.

Compiled templates are cached by source string. Everything here is pure.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import StrictUndefined, pass_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from .cards import PREFIX
from .text import clean_text, clip, md_escape, md_link, one_line

KINDS = ("name", "desc", "comment")
#: Trello allows 16384 characters in a name; cards stay readable far below that
NAME_MAX = 500
#: a description leaves room for the marker line (up to ~3.5 kB for a large alert group)
DESC_MAX = 12000
COMMENT_MAX = 16000
#: one printed value at most (a 1 MB annotation cannot fill a card by itself)
VALUE_MAX = 2000
#: ``range()`` in a template: enough for any list a card shows
RANGE_MAX = 1000
CACHE_SIZE = 512

_LIMITS = {"name": NAME_MAX, "desc": DESC_MAX, "comment": COMMENT_MAX}
_KIND: contextvars.ContextVar[str] = contextvars.ContextVar("card_text_kind", default="desc")


class TemplateProblem(ValueError):
    """A template that does not compile (check-config reports it) or fails while rendering (the default is used).

    ``detail`` is the reason alone and ``lineno`` its line in the template, so
    that check-config can point at the file's line.
    """

    def __init__(self, message: str, detail: str = "", lineno: int = 1) -> None:
        super().__init__(message)
        self.detail = detail or message
        self.lineno = lineno


class Safe(str):
    """Text the project made safe itself (a ``link``): printed as is.

    String operations on it return a plain ``str``, so anything a template
    builds from it is escaped again (safe, if ugly).
    """


def link(label: object, url: object) -> Safe:
    """The template helper ``link("build", url)``: ``[build (host)](url)``, or the label alone for an unsafe URL."""
    return Safe(md_link(label, url))


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pass_context  # evaluated at render time (never folded into a constant at compile time, whatever the kind)
def _finalize(_context: Any, value: object) -> str:
    """Escape one printed value for the text being rendered: the single gate every ``{{ }}`` goes through."""
    kind = _KIND.get()
    if kind == "name":
        return one_line(_show(value), VALUE_MAX)
    if isinstance(value, Safe):
        return str(value)
    return md_escape(_show(value), VALUE_MAX)


def _safe_range(*args: int) -> range:
    r = range(*args)
    if len(r) > RANGE_MAX:
        raise SecurityError(f"range() of {len(r)} items, over the {RANGE_MAX} a template may use")
    return r


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_finalize,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.globals.pop("lipsum", None)  # random text has no place on a card
    env.globals.update(link=link, range=_safe_range)
    return env


_ENV = _environment()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compiled(src: str) -> jinja2.Template:
    return _ENV.from_string(src)


def compile_template(src: str, what: str = "template") -> jinja2.Template:
    """The compiled template (cached by source), or ``TemplateProblem`` naming ``what`` and the line.

    ``what`` only labels the message (e.g. ``"route 'payments' desc"``).
    """
    if not isinstance(src, str):
        raise TemplateProblem(f"{what}: a template must be text")
    try:
        return _compiled(src)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"{what}: line {exc.lineno}: {exc.message}", exc.message or "syntax error",
                              exc.lineno or 1) from None
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"{what}: {exc}", str(exc)) from None


def plain(value: object, depth: int = 0) -> object:
    """Variables as plain Python values a template can loop over: dicts of str keys, lists, str, numbers.

    Any other object becomes its text, so a template sees data, never an
    object with methods; text is made valid Unicode.
    """
    if depth > 12:
        return ""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [plain(v, depth + 1) for v in items]
    return clean_text(str(value))


_MARKERISH = re.compile(r"(?<!\\)((?:\\\\)*)`" + re.escape(PREFIX) + ":")


def _unmark(text: str) -> str:
    """Break a marker-looking code span the template's own text holds: only the project writes markers.

    A backtick already escaped (by ``finalize``) is left alone: escaping it
    twice would leave an escaped backslash before a live backtick.
    """
    return _MARKERISH.sub(lambda m: m.group(1) + "\\`" + PREFIX + ":", text)


def render(template: jinja2.Template, variables: Mapping[str, object], kind: str) -> str:
    """Render for ``kind`` (``name``, ``desc`` or ``comment``), escaped and cut to that text's limit.

    A name is made one line. Errors from the template (undefined variable,
    sandbox refusal, a failing filter) propagate as ``TemplateProblem``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown card text kind {kind!r} (expected one of {', '.join(KINDS)})")
    data = {str(k): plain(v) for k, v in variables.items()}
    token = _KIND.set(kind)
    try:
        out = template.render(data)
    except Exception as exc:  # Jinja's errors, and a template can divide by zero or compare a str with an int
        raise TemplateProblem(f"{type(exc).__name__}: {one_line(exc, 300)}") from None
    finally:
        _KIND.reset(token)
    out = clean_text(out)
    if kind == "name":
        return one_line(out, NAME_MAX)
    return clip(_unmark(out).strip("\n"), _LIMITS[kind])


def render_or_default(template_src: str | None, variables: Mapping[str, object], kind: str,
                      default_text: str) -> tuple[str, str | None]:
    """The card text from a route's template, or the built-in text; with the reason when it fell back.

    No template (None or empty): the built-in text, no reason. A template that
    does not compile or fails while rendering, or a name or comment that
    renders empty (Trello refuses those): the built-in text and why, for the
    caller's warning, so the card is never lost. A description may render
    empty (the card then holds only the marker).
    """
    if not template_src:
        return default_text, None
    try:
        out = render(compile_template(template_src, f"{kind} template"), variables, kind)
    except TemplateProblem as exc:
        return default_text, f"{kind} template failed, built-in text used: {exc}"
    if not out.strip() and kind != "desc":
        return default_text, f"{kind} template rendered empty, built-in text used"
    return out, None
