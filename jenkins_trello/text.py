"""Safe text for Trello cards: untrusted strings go through here before they reach Markdown.

Alert labels, commit messages and test names come from people and systems we do
not control. Trello renders card descriptions and comments as Markdown (links,
images, headings, quotes, lists, code spans, @mentions, and bare URLs turned into
links), so an unescaped value could forge a link, an image, a heading, a quote, a
mention that notifies the board, or the project's own marker line. Everything
untrusted is escaped and bounded here, in one place.

Links are the project's own: ``md_link`` shows the URL's real host in the link
text, so a sender can choose where a link goes but never what it claims to be,
and a URL that could show one host while going to another is not linked at all.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Trello's documented limits: desc 0..16384 characters, comment text 1..16384.
DESC_LIMIT = 16384
COMMENT_LIMIT = 16384
NAME_LIMIT = 16384

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")  # & too: no entity may spell "[" or "@"
_BLOCK_START = re.compile(r"^(\s*)([#>+=\-]|\d+[.)])")
_ZWSP = "\u200b"
_WWW = re.compile(r"(?i)\b(www)\.")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it encodes to UTF-8.

    JSON may carry escapes of lone surrogates (``"\\ud800"``), which decode to a
    Python string that cannot be encoded: in a request body, a log line or a
    hash. The same input always cleans to the same text, so an identity made
    from it is stable across redeliveries.
    """
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def one_line(text: object, limit: int = 500) -> str:
    """Collapse whitespace and control characters so a value cannot start new Markdown blocks."""
    s = _CONTROL.sub(" ", clean_text(str(text if text is not None else "")))
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
    s = s.replace("@", "@" + _ZWSP)  # no @mentions, no @board notifications, no e-mail autolinks
    s = s.replace("://", ":" + _ZWSP + "//")  # no bare-URL autolink the sender chose
    s = _WWW.sub(lambda m: m.group(1) + _ZWSP + ".", s)  # nor a "www." one
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), s) if line_start else s


def md_block(text: object, limit: int = 2000) -> str:
    """Escape a multi-line untrusted value, keeping its line breaks (each line escaped)."""
    s = _CONTROL.sub(" ", clean_text(str(text if text is not None else "")))
    lines = [_inline(" ".join(line.split())) for line in s.splitlines()]
    return clip("\n".join(line for line in lines if line), limit)


def clip(text: str, limit: int) -> str:
    """Bound a string, marking the cut so a reader knows something was left out."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


_URL = re.compile(r"^(?i:https?)://[^\s()<>\[\]`\\\"']+$")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.?$")
_QUAD = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")


def url_host(url: object) -> str | None:
    """The host (and port) a browser would really go to, when it is plain enough to show; else None.

    Refused: user info (``http://trusted@elsewhere/``, which shows one host and
    goes to another), percent-escapes or non-ASCII in the host (IDN hosts come
    as ``xn--`` punycode, so look-alike letters cannot pass), bracketed IPv6,
    and numeric hosts other than a canonical dotted quad (``http://0x7f.1/``,
    ``http://2130706433/`` hide where they go).
    """
    if not isinstance(url, str) or not _URL.match(url.strip()) or len(url.strip()) > 2000:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    netloc = parts.netloc
    if "@" in netloc or "%" in netloc or not netloc.isascii():
        return None
    host = netloc.rsplit(":", 1)[0] if port is not None or netloc.endswith(":") else netloc
    host = host.lower()
    if not host or not _HOST.match(host):
        return None
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if (last.isdigit() or last.startswith("0x")) and not _QUAD.match(host):
        return None
    return f"{host}:{port}" if port is not None else host


def safe_url(url: object) -> str | None:
    """The URL if it is a plain http(s) URL that cannot break out of a Markdown link nor hide its host."""
    return url.strip() if isinstance(url, str) and url_host(url) is not None else None


def md_link(label: object, url: object) -> str:
    """A link whose text the project chooses and whose host is shown: ``[build #12 (ci.example.com)](…)``.

    ``label`` must be the project's own word (it is escaped all the same); an
    empty label shows the host alone. When the URL is not safe to link, the
    label alone is returned as plain text.
    """
    u = safe_url(url)
    lab = _inline(one_line(label, 200), line_start=False)
    if not u:
        return lab
    host = _inline(url_host(u) or "", line_start=False)
    return f"[{lab} ({host})]({u})" if lab else f"[{host}]({u})"
