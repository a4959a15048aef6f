"""The layers contract, lint and strict typing are part of the test run, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_tool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_import_layers_are_kept() -> None:
    command = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
    completed = run_tool("-c", command)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Contracts: 3 kept, 0 broken." in completed.stdout


@pytest.mark.parametrize("check", [("check",), ("format", "--check")])
def test_ruff(check: tuple[str, ...]) -> None:
    completed = run_tool("-m", "ruff", *check, "remediate", "tests")

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_mypy_strict() -> None:
    completed = run_tool("-m", "mypy")

    assert completed.returncode == 0, completed.stdout + completed.stderr
