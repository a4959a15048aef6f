"""Consumers files: a YAML list of the places that hold the credential, of any kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from remediate.core.errors import UsageError
from remediate.steps.updaters.registry import UPDATERS

CONSUMERS_VERSION = 1


def load_consumers(path: Path) -> tuple[dict[str, Any], ...]:
    """Read a consumers file and check its shape; each kind's updater checks its own fields."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"Cannot read the consumers file {path}: {error.strerror}.") from error
    except yaml.YAMLError as error:
        raise UsageError(f"The consumers file {path} is not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("consumers"), list):
        raise UsageError(f"The consumers file {path} must be a mapping with a `consumers` list.")
    version = document.get("version", CONSUMERS_VERSION)
    if version != CONSUMERS_VERSION:
        raise UsageError(
            f"The consumers file {path} has version {version!r}; expected {CONSUMERS_VERSION}."
        )
    entries = []
    for index, entry in enumerate(document["consumers"], start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            raise UsageError(f"Entry {index} of the consumers file {path} needs a `kind`.")
        if entry["kind"] not in UPDATERS:
            raise UsageError(
                f"Entry {index} of the consumers file {path} has kind {entry['kind']!r}; "
                f"known kinds: {', '.join(sorted(UPDATERS))}."
            )
        entries.append({str(key): value for key, value in entry.items()})
    return tuple(entries)
