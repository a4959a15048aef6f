"""The operator's screen, drawn with rich; all text is treated as plain text."""

from __future__ import annotations

import os
import re
import sys
from typing import IO

from rich.console import Console as RichConsole
from rich.table import Table as RichTable
from rich.text import Text

from remediate.core.interaction import Table
from remediate.core.secrets import registry

PIPE_WIDTH = 160

# C0 and C1 control characters other than tab and newline: an attacker's user
# agent or identity name could otherwise move the cursor, recolour or retitle
# the operator's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Return text with control characters shown as \\xNN and registered secrets masked."""
    text = registry.scrub(text)
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class TerminalConsole:
    """Writes to the terminal (stderr or a given file) with rich, never interpreting markup."""

    def __init__(self, file: IO[str] | None = None, *, color: bool | None = None) -> None:
        file = file or sys.stdout
        # rich assumes 80 columns when the output is not a terminal; a log or a CI
        # page is read later and has room for whole event names and ARNs.
        width = None if file.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH
        self._console = RichConsole(
            file=file,
            width=width,
            highlight=False,
            markup=False,
            emoji=False,
            no_color=color is False,
            soft_wrap=False,
        )

    def _print(self, text: str, style: str | None = None, prefix: str = "") -> None:
        # soft_wrap: never insert line breaks, so that a path or a command copied from
        # the screen still works; the terminal wraps long lines for display.
        self._console.print(Text(prefix + terminal_safe(text), style=style or ""), soft_wrap=True)

    def heading(self, text: str) -> None:
        self._console.print()
        self._print(text, "bold")

    def info(self, text: str) -> None:
        self._print(text)

    def success(self, text: str) -> None:
        self._print(text, "green", "✓ ")

    def warning(self, text: str) -> None:
        self._print(text, "yellow", "! ")

    def error(self, text: str) -> None:
        self._print(text, "bold red", "✗ ")

    def table(self, table: Table) -> None:
        rich_table = RichTable(
            title=Text(terminal_safe(table.title)),
            title_justify="left",
            show_header=any(table.columns),
        )
        for column in table.columns:
            rich_table.add_column(Text(terminal_safe(column)), overflow="fold")
        for row in table.rows:
            rich_table.add_row(*(Text(terminal_safe(cell)) for cell in row))
        self._console.print(rich_table)
