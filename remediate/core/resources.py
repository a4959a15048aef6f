"""Where the playbooks and templates shipped with remediate are."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """Return the shipped `playbooks` or `templates` directory.

    A wheel carries them inside the package; a source checkout (an editable
    install or the tests) keeps them at the repository root.
    """
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name} directory is missing from the remediate installation")
