"""The console prints attacker text as plain text: no markup, no terminal escapes, no secrets."""

from __future__ import annotations

import io

from remediate.core.interaction import Table
from remediate.core.secrets import SecretValue
from remediate.ui.console import TerminalConsole, terminal_safe


def printed(*texts: str) -> str:
    buffer = io.StringIO()
    console = TerminalConsole(buffer, color=False)
    for text in texts:
        console.info(text)
    return buffer.getvalue()


def test_terminal_escapes_are_made_visible() -> None:
    assert terminal_safe("\x1b]0;owned\x07title") == "\\x1b]0;owned\\x07title"


def test_markup_is_printed_literally() -> None:
    assert printed("[bold red]alarm[/bold red] [link=https://x]y[/link]") == (
        "[bold red]alarm[/bold red] [link=https://x]y[/link]\n"
    )


def test_registered_secret_is_masked() -> None:
    secret = SecretValue("BAbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")

    assert printed(f"password {secret.reveal()}") == "password ****\n"


def test_table_cells_are_sanitised() -> None:
    buffer = io.StringIO()
    TerminalConsole(buffer, color=False).table(
        Table("Events", ["User agent"], [["\x1b[31m[red]ua"]])
    )

    assert "\\x1b[31m[red]ua" in buffer.getvalue()
    assert "\x1b" not in buffer.getvalue()
