"""Escaping of attacker-controlled text for the Markdown and HTML reports."""

from __future__ import annotations

import re

from markupsafe import Markup

# Characters that open emphasis, code spans, links or table cells wherever they stand.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# A '#' opens a heading at the start of a line, and closes one after a space.
_HASH = re.compile(r"(^|\s)#")
# List items and quotes: a marker at the start of the text, followed by a space or the end.
_LEADING_MARKER = re.compile(r"^(?:([-+])(?=\s|$|-)|(\d{1,9})([.)])(?=\s|$))")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def markdown_text(value: object, placeholder: str = "") -> str:
    """Render any value as inert inline Markdown text on one line.

    HTML is neutralised with entities, Markdown punctuation that could open
    structure is escaped, and line breaks and control characters become
    visible escapes. A hostile user agent or identity name can therefore add
    no heading, link, list, table cell or tag. None and the empty string
    become `placeholder`, which the template chooses and is not escaped.
    """
    if value is None or value == "":
        return placeholder
    text = str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    text = _HASH.sub(r"\1\\#", text)
    text = _LEADING_MARKER.sub(_escape_leading_marker, text)
    text = _LINE_BREAK.sub(" \\\\n ", text)
    return _CONTROL.sub(lambda match: f"\\\\x{ord(match.group()):02x}", text)


def _escape_leading_marker(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\" + match.group(1)
    return f"{match.group(2)}\\{match.group(3)}"


def markdown_code(value: object) -> str:
    """Render an identifier (key ID, ARN, request ID) as inline code nothing can break out of."""
    text = _CONTROL.sub(" ", "" if value is None else str(value)).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


# Control characters other than tab and newline, which HTML escaping leaves alone.
_HTML_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def html_text(value: object) -> object:
    """Prepare a value for jinja2's HTML autoescaping: show control characters as \\xNN.

    Escaping stops tags and entities; this stops a terminal escape sequence from
    acting when the file is printed with `cat`. Markup the template built
    itself passes through unchanged.
    """
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    return _HTML_CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))
