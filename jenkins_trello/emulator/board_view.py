"""The Trello emulator's read-only board and card pages, as HTML and JSON (pure rendering).

Why: a person replaying a lifecycle by hand needs to *see* the board the
commands wrote to, without a Trello account. The emulator gathers plain data
(``TrelloEmulator.board_view`` / ``card_view``); this module turns it into a
page. Card text is whatever a build or an alert sender put there, so every
value is HTML-escaped and the page loads nothing from elsewhere (no scripts,
no external styles or images).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["board_html", "board_text", "card_html", "card_text", "index_html"]

_STYLE = (
    "body{font-family:sans-serif;margin:1em;background:#f4f5f7}"
    ".lists{display:flex;gap:1em;align-items:flex-start}"
    ".list{background:#ebecf0;border-radius:6px;padding:.5em;width:22em;flex:none}"
    ".card{background:#fff;border-radius:4px;padding:.5em;margin:.5em 0;box-shadow:0 1px 1px #0002}"
    ".label{display:inline-block;border-radius:3px;padding:0 .4em;margin-right:.3em;font-size:.8em;"
    "background:#ccc}"
    "pre{white-space:pre-wrap;font-family:inherit;font-size:.9em;margin:.4em 0}"
    ".comment{border-left:3px solid #ccc;padding-left:.5em;margin:.3em 0;font-size:.85em}"
    ".meta{color:#5e6c84;font-size:.8em}"
)
_COLOURS = {"green": "#61bd4f", "yellow": "#f2d600", "orange": "#ff9f1a", "red": "#eb5a46", "purple": "#c377e0",
            "blue": "#0079bf", "sky": "#00c2e0", "lime": "#51e898", "pink": "#ff78cb", "black": "#344563"}


def _e(value: object) -> str:
    return html.escape(str(value if value is not None else ""), quote=True)


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def _labels(labels: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for lab in labels:
        colour = _COLOURS.get(str(lab.get("color") or ""), "#ccc")
        out.append(f'<span class="label" style="background:{colour}">{_e(lab.get("name") or lab.get("color"))}</span>')
    return "".join(out)


def _card(card: Mapping[str, Any], full: bool) -> str:
    parts = [f'<div class="card" id="{_e(card["shortLink"])}">']
    if card.get("labels"):
        parts.append(f"<div>{_labels(card['labels'])}</div>")
    parts.append(f'<b><a href="/c/{_e(card["shortLink"])}">{_e(card["name"])}</a></b>')
    if card.get("members"):
        names = ", ".join(_e(m.get("fullName") or m.get("username")) for m in card["members"])
        parts.append(f'<div class="meta">members: {names}</div>')
    if full or card.get("desc"):
        parts.append(f"<pre>{_e(card.get('desc', ''))}</pre>")
    comments = card.get("comments") or []
    if comments:
        parts.append(f'<div class="meta">{len(comments)} comment{"s" if len(comments) != 1 else ""}</div>')
        for c in comments:
            parts.append(f'<div class="comment"><span class="meta">{_e(c.get("date"))}</span>'
                         f"<pre>{_e(c.get('text'))}</pre></div>")
    parts.append("</div>")
    return "".join(parts)


def board_html(board: Mapping[str, Any]) -> str:
    """The board as columns of open cards (names, labels, members, description, comments), archived ones below."""
    cols = []
    for lst in board["lists"]:
        cards = "".join(_card(c, False) for c in lst["cards"]) or '<div class="meta">(no cards)</div>'
        cols.append(f'<div class="list"><h3>{_e(lst["name"])}</h3>{cards}</div>')
    archived = board.get("archived") or []
    rows = "".join(f'<li><a href="/c/{_e(c["shortLink"])}">{_e(c["name"])}</a> '
                   f'<span class="meta">({_e(c.get("list"))})</span></li>' for c in archived)
    tail = f"<h3>Archived cards ({len(archived)})</h3><ul>{rows}</ul>" if archived else ""
    body = (f"<h1>{_e(board['name'])}</h1><p class=\"meta\">emulated Trello board {_e(board['shortLink'])}, "
            f'read-only; as JSON: <a href="/b/{_e(board["shortLink"])}.json">/b/{_e(board["shortLink"])}.json</a></p>'
            f'<div class="lists">{"".join(cols)}</div>{tail}')
    return _page(f"{board['name']} | Trello emulator", body)


def card_html(card: Mapping[str, Any]) -> str:
    """One card with everything on it, and a link back to its board."""
    state = " (archived)" if card.get("closed") else ""
    body = (f'<p class="meta"><a href="/b/{_e(card["boardShortLink"])}">{_e(card["board"])}</a> / '
            f"{_e(card.get('list'))}{state}</p>{_card(card, True)}")
    return _page(f"{card['name']} | Trello emulator", body)


def index_html(boards: Sequence[Mapping[str, Any]]) -> str:
    """Every board, linked."""
    rows = "".join(f'<li><a href="/b/{_e(b["shortLink"])}">{_e(b["name"])}</a></li>' for b in boards)
    return _page("Trello emulator", f"<h1>Trello emulator</h1><p>The API is under /1. Boards:</p><ul>{rows}</ul>")


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line.strip() else prefix.rstrip() for line in str(text).splitlines()]


def card_text(card: Mapping[str, Any], prefix: str = "") -> list[str]:
    """One card as plain lines: name, labels, members, description, then the comments (for terminals)."""
    extra = []
    if card.get("labels"):
        extra.append("labels: " + ", ".join(str(lab.get("name") or lab.get("color")) for lab in card["labels"]))
    if card.get("members"):
        extra.append("members: " + ", ".join(str(m.get("username")) for m in card["members"]))
    lines = [f"{prefix}* {card['name']}" + (f"  ({'; '.join(extra)})" if extra else "")]
    lines += _indent(card.get("desc", ""), prefix + "  | ")
    for c in card.get("comments") or []:
        body = str(c.get("text", "")).splitlines() or [""]
        lines.append(f"{prefix}  > {body[0]}")
        lines += [f"{prefix}    {line}" for line in body[1:]]
    return lines


def board_text(board: Mapping[str, Any], full: bool = True) -> str:
    """The board as text: each open list with its cards (``full``: their text and comments), then the archived."""
    lines = [f"board {board['name']!r} ({board['url']})"]
    for lst in board["lists"]:
        lines.append(f"  [{lst['name']}]" + ("" if lst["cards"] else " (empty)"))
        for card in lst["cards"]:
            lines += card_text(card, "    ") if full else [f"    * {card['name']}"]
    archived = board.get("archived") or []
    if archived:
        lines.append(f"  archived: {len(archived)}")
        lines += [f"    - {c['name']}" for c in archived]
    return "\n".join(lines) + "\n"
