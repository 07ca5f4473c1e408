"""Safe text for Trello cards: untrusted strings go through here before they reach Markdown.

Alert labels, commit messages and test names come from people and systems we do
not control. Trello renders card descriptions and comments as Markdown, so an
unescaped value could forge a link, an image, a mention or the project's own
marker line. Everything untrusted is escaped and bounded here, in one place.
"""

from __future__ import annotations

import re

# Trello's documented limits: desc 0..16384 characters, comment text 1..16384.
DESC_LIMIT = 16384
COMMENT_LIMIT = 16384
NAME_LIMIT = 16384

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_BLOCK_START = re.compile(r"^(\s*)([#>+=\-]|\d+[.)])")
_ZWSP = "\u200b"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def one_line(text: object, limit: int = 500) -> str:
    """Collapse whitespace and control characters so a value cannot start new Markdown blocks."""
    s = _CONTROL.sub(" ", str(text if text is not None else ""))
    s = " ".join(s.split())
    return clip(s, limit)


def md_escape(text: object, limit: int = 500) -> str:
    """Escape an untrusted value for inline use in Trello Markdown (single line, bounded).

    Backslash-escapes every character that starts Markdown syntax, so a value like
    ``[x](http://evil)`` or a backtick-quoted marker renders as literal text.
    """
    return _inline(one_line(text, limit))


def _inline(s: str, line_start: bool = True) -> str:
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = s.replace("@", "@" + _ZWSP)  # no @mentions, no @board notifications
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), s) if line_start else s


def md_block(text: object, limit: int = 2000) -> str:
    """Escape a multi-line untrusted value, keeping its line breaks (each line escaped)."""
    s = _CONTROL.sub(" ", str(text if text is not None else ""))
    lines = [_inline(" ".join(line.split())) for line in s.splitlines()]
    return clip("\n".join(line for line in lines if line), limit)


def clip(text: str, limit: int) -> str:
    """Bound a string, marking the cut so a reader knows something was left out."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def safe_url(url: object) -> str | None:
    """Return the URL if it is a plain http(s) URL that cannot break out of a Markdown link."""
    if not isinstance(url, str):
        return None
    u = url.strip()
    if not re.match(r"^https?://[^\s()<>\[\]`]+$", u) or len(u) > 2000:
        return None
    return u


def md_link(label: object, url: object) -> str:
    """A Markdown link with an escaped label, or just the escaped label when the URL is unsafe."""
    u = safe_url(url)
    lab = _inline(one_line(label, 200), line_start=False)
    return f"[{lab}]({u})" if u else lab
