"""The assignments of dotenv and Java properties files: read them, and rewrite values in place.

A rewrite changes only the characters of the values it is given. Every other
character stays as it was: comments, blank lines, ordering, `export`, quotes,
separators, inline comments and line endings (LF or CRLF).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

DOTENV = "dotenv"
PROPERTIES = "properties"
FORMATS = (DOTENV, PROPERTIES)

# `KEY=`, `export KEY =`; the value follows the match.
_DOTENV_ASSIGNMENT = re.compile(
    r"[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*"
)
# An unquoted dotenv value ends where a comment starts: a `#` after whitespace.
_DOTENV_COMMENT = re.compile(r"[ \t]#")
_DOTENV_UNSAFE_UNQUOTED = re.compile(r"[\s#'\"\\$`]")
_DOTENV_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\"}
_PROPERTIES_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}
_PROPERTIES_WHITESPACE = " \t\f"


class FormatError(ValueError):
    """A value that cannot be read or written in the file's syntax."""


@dataclass(frozen=True)
class Assignment:
    """One `key=value` of the file, and where its raw value sits.

    `value` is what the format's loader reads: unquoted and unescaped.
    `start` and `end` delimit the raw value on line `line` (inside its quotes),
    which is what a rewrite replaces. `continued` marks a value that goes on
    over the following lines.
    """

    key: str
    value: str
    line: int
    start: int
    end: int
    quote: str = ""
    continued: bool = False


def parse_assignments(text: str, file_format: str) -> list[Assignment]:
    """Return the file's assignments in order; a key assigned twice appears twice."""
    lines = [_without_carriage_return(line) for line in text.split("\n")]
    if file_format == DOTENV:
        return _parse_dotenv(lines)
    if file_format == PROPERTIES:
        return _parse_properties(lines)
    raise FormatError(f"unknown format {file_format!r}")


def rewrite_assignments(text: str, file_format: str, values: Mapping[str, str]) -> str:
    """Return the text with every assignment of the given keys set to the new values.

    Raises FormatError when a key is missing, its value spans several lines, or
    the new value cannot be written in that quoting style.
    """
    lines = text.split("\n")
    rewritten = set()
    for assignment in parse_assignments(text, file_format):
        if assignment.key not in values:
            continue
        if assignment.continued:
            raise FormatError(f"the value of {assignment.key} goes on over several lines")
        encoded = _encode(values[assignment.key], file_format, assignment)
        line = lines[assignment.line]
        lines[assignment.line] = line[: assignment.start] + encoded + line[assignment.end :]
        rewritten.add(assignment.key)
    missing = sorted(set(values) - rewritten)
    if missing:
        raise FormatError(f"it has no key {', '.join(missing)}")
    return "\n".join(lines)


def _parse_dotenv(lines: list[str]) -> list[Assignment]:
    assignments = []
    index = 0
    while index < len(lines):
        body = lines[index]
        match = _DOTENV_ASSIGNMENT.match(body)
        if match is None:
            index += 1
            continue
        key, start = match.group("key"), match.end()
        rest = body[start:]
        if rest[:1] in ('"', "'"):
            quote = rest[0]
            close = _closing_quote(rest, quote)
            if close is None:
                # A quoted value over several lines (a PEM key, say): skip to its end.
                following = _skip_quoted_lines(lines, index + 1, quote)
                assignments.append(
                    Assignment(key, "", index, start + 1, len(body), quote, continued=True)
                )
                index = following
                continue
            raw = rest[1:close]
            value = _unescape_dotenv(raw) if quote == '"' else raw
            assignments.append(Assignment(key, value, index, start + 1, start + close, quote))
        elif rest.startswith("#") and body[start - 1] in " \t":
            # `KEY= # comment`: an empty value, written right after the `=` when rewritten.
            equals = body.index("=", match.end("key")) + 1
            assignments.append(Assignment(key, "", index, equals, equals))
        else:
            comment = _DOTENV_COMMENT.search(rest)
            raw = (rest[: comment.start()] if comment else rest).rstrip(" \t")
            assignments.append(Assignment(key, raw, index, start, start + len(raw)))
        index += 1
    return assignments


def _parse_properties(lines: list[str]) -> list[Assignment]:
    assignments = []
    index = 0
    while index < len(lines):
        body = lines[index]
        content = body.lstrip(_PROPERTIES_WHITESPACE)
        if not content or content[0] in "#!":
            index += 1
            continue
        key_start = len(body) - len(content)
        key_end = _properties_key_end(body, key_start)
        value_start = _properties_value_start(body, key_end)
        key = _unescape_properties(body[key_start:key_end])
        raw = body[value_start:]
        first = index
        continued = _continues(body)
        while _continues(lines[index]) and index + 1 < len(lines):
            # The logical line goes on; its next physical line starts after leading whitespace.
            raw = raw[:-1] + lines[index + 1].lstrip(_PROPERTIES_WHITESPACE)
            index += 1
        if _continues(raw):
            raw = raw[:-1]
        assignments.append(
            Assignment(
                key,
                _unescape_properties(raw),
                first,
                value_start,
                len(body),
                continued=continued,
            )
        )
        index += 1
    return assignments


def _properties_key_end(body: str, position: int) -> int:
    """Return where the key ends: at the first whitespace, `=` or `:` that is not escaped."""
    while position < len(body):
        character = body[position]
        if character == "\\":
            position += 2
            continue
        if character in _PROPERTIES_WHITESPACE or character in "=:":
            return position
        position += 1
    return len(body)


def _properties_value_start(body: str, position: int) -> int:
    """Skip the separator: whitespace, then at most one `=` or `:`, then whitespace."""
    while position < len(body) and body[position] in _PROPERTIES_WHITESPACE:
        position += 1
    if position < len(body) and body[position] in "=:":
        position += 1
    while position < len(body) and body[position] in _PROPERTIES_WHITESPACE:
        position += 1
    return position


def _continues(line: str) -> bool:
    """Tell whether a properties line goes on: it ends with an odd number of backslashes."""
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _closing_quote(rest: str, quote: str) -> int | None:
    position = 1
    while position < len(rest):
        if quote == '"' and rest[position] == "\\":
            position += 2
            continue
        if rest[position] == quote:
            return position
        position += 1
    return None


def _skip_quoted_lines(lines: list[str], index: int, quote: str) -> int:
    """Return the index of the line after the one that closes a quoted value."""
    while index < len(lines):
        if _closing_quote(" " + lines[index], quote) is not None:
            return index + 1
        index += 1
    return index


def _unescape_dotenv(raw: str) -> str:
    return re.sub(r"\\(.)", lambda match: _DOTENV_ESCAPES.get(match[1], match[0]), raw)


def _unescape_properties(raw: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[1]:
            return chr(int(match[1], 16))
        return _PROPERTIES_ESCAPES.get(match[2], match[2])

    return re.sub(r"\\(?:u([0-9a-fA-F]{4})|(.))", replace, raw)


def _encode(value: str, file_format: str, assignment: Assignment) -> str:
    """Write a value in the syntax its line already uses."""
    if "\n" in value or "\r" in value:
        raise FormatError(f"the new value of {assignment.key} contains a line break")
    if file_format == PROPERTIES:
        if not value.isascii() or not value.isprintable():
            raise FormatError(f"the new value of {assignment.key} is not printable ASCII")
        encoded = value.replace("\\", "\\\\")
        return "\\" + encoded if encoded.startswith((" ", "\t", "\f")) else encoded
    if assignment.quote == '"':
        return value.replace("\\", "\\\\").replace('"', '\\"')
    if assignment.quote == "'":
        if "'" in value:
            raise FormatError(f"the new value of {assignment.key} contains a single quote")
        return value
    if _DOTENV_UNSAFE_UNQUOTED.search(value):
        raise FormatError(f"the new value of {assignment.key} would need quotes")
    return value


def _without_carriage_return(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line
