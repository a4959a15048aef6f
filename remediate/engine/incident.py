"""Incident directories: where they are created, and what they contain."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from remediate.core.errors import IncidentDirError, UsageError
from remediate.core.files import make_private_dir
from remediate.engine.journal import JOURNAL_NAME

DEFAULT_BASE = Path("incidents")


@dataclass(frozen=True)
class IncidentDir:
    path: Path

    @property
    def incident_id(self) -> str:
        return self.path.name

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL_NAME

    def report_path(self, extension: str) -> Path:
        return self.path / f"report.{extension}"


def new_incident_id(access_key_id: str, started: datetime, *, rehearsal: bool) -> str:
    prefix = "rehearsal-" if rehearsal else ""
    safe_key = re.sub(r"[^A-Za-z0-9]", "", access_key_id)[:32]
    return f"{prefix}{started.strftime('%Y%m%dT%H%M%SZ')}-{safe_key}"


def create_incident_dir(requested: Path | None, incident_id: str) -> IncidentDir:
    """Create the incident directory (mode 0700): the one requested, or incidents/<id>.

    A requested directory must be new or empty, so that two incidents never
    share a journal.
    """
    path = requested if requested is not None else DEFAULT_BASE / incident_id
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(
            f"The incident directory {path} already exists and is not empty.",
            next_step=f"continue that incident with `remediate resume {path}`, "
            "or pass another --incident-dir",
        )
    return IncidentDir(make_private_dir(path))


def open_incident_dir(path: Path) -> IncidentDir:
    if not (path / JOURNAL_NAME).is_file():
        raise IncidentDirError(
            f"{path} is not an incident directory: it has no {JOURNAL_NAME}.",
            next_step="pass the directory that `remediate run` printed when it started",
        )
    return IncidentDir(path)
