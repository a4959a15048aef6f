"""Incident directories: where they are created, and what they contain."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from remediate.core.errors import IncidentDirError, UsageError
from remediate.core.files import make_private_dir
from remediate.engine.journal import JOURNAL_NAME, RecordType, read_journal

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


def create_incident_dir(
    requested: Path | None, incident_id: str, *, rehearsal: bool = False
) -> IncidentDir:
    """Create the incident directory (mode 0700): the one requested, or incidents/<id>.

    A requested directory must be new or empty, so that two incidents never
    share a journal.
    """
    path = requested if requested is not None else DEFAULT_BASE / incident_id
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(
            f"The incident directory {path} already exists and is not empty.",
            next_step="pass another --incident-dir"
            if rehearsal
            else f"continue that incident with `remediate resume {path}`, "
            "or pass another --incident-dir",
        )
    return IncidentDir(make_private_dir(path))


def unfinished_incidents(base: Path, access_key_id: str) -> list[Path]:
    """Earlier incidents under `base` for the same key whose report step never finished."""
    found = []
    for journal in sorted(base.glob(f"*/{JOURNAL_NAME}")):
        try:
            records = list(read_journal(journal))
        except IncidentDirError:
            continue
        opened = records[0] if records else None
        if opened is None or opened.type != RecordType.INCIDENT_OPENED:
            continue
        if opened.get("access_key_id") != access_key_id or opened.get("mode") != "run":
            continue
        reported = any(
            record.type == RecordType.STEP_FINISHED and record.get("kind") == "report"
            for record in records
        )
        if not reported:
            found.append(journal.parent)
    return found


def open_incident_dir(path: Path) -> IncidentDir:
    if not (path / JOURNAL_NAME).is_file():
        raise IncidentDirError(
            f"{path} is not an incident directory: it has no {JOURNAL_NAME}.",
            next_step="pass the directory that `remediate run` printed when it started",
        )
    return IncidentDir(path)


@contextmanager
def hold_lock(incident: IncidentDir) -> Iterator[None]:
    """Hold the incident's lock for a whole run, so that two runs never interleave.

    The lock is an flock on `<incident>/.lock`, released by the kernel when the
    process ends, even when it is killed; the file holds the holder's PID.
    """
    descriptor = os.open(incident.path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", errors="replace").strip()
            by = f" (process {holder})" if holder else ""
            raise IncidentDirError(
                f"The incident {incident.path} is in use by another remediate run{by}; "
                "two runs never act on one incident at once.",
                next_step="let that run finish or stop it, then run "
                f"`remediate resume {incident.path}`",
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        os.close(descriptor)
