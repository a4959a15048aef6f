"""The append-only incident journal: one JSON object a line, each line fsynced.

Every record carries the schema version, a sequence number and a UTC time.
A line is written with one write() on a file opened for appending and then
fsynced, so a crash leaves at most a torn last line, which `read_journal`
reports instead of guessing at.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from remediate.core.errors import IncidentDirError
from remediate.core.records import STEP_LIFECYCLE, RecordType
from remediate.core.secrets import registry
from remediate.core.timeutil import Clock, format_timestamp

SCHEMA_VERSION = 1
JOURNAL_NAME = "journal.jsonl"
FILE_MODE = 0o600

__all__ = ["JOURNAL_NAME", "SCHEMA_VERSION", "Journal", "Record", "RecordType", "read_journal"]


@dataclass(frozen=True)
class Record:
    seq: int
    time: str
    type: str
    fields: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @property
    def step(self) -> str | None:
        step = self.fields.get("step")
        return str(step) if step is not None else None


class Journal:
    """Appends records to `journal.jsonl` in an incident directory, or keeps them in memory.

    A dry run uses an in-memory journal, so that it leaves nothing on disk that
    could later be mistaken for an action.
    """

    def __init__(
        self, path: Path | None, clock: Clock, records: list[Record] | None = None
    ) -> None:
        self.path = path
        self._clock = clock
        self._records: list[Record] = list(records or [])

    @classmethod
    def open(cls, directory: Path, clock: Clock) -> Journal:
        """Open an incident's journal for appending, setting aside a last line cut short.

        A process killed while writing leaves at most a partial last line. That
        line is moved to `journal.jsonl.torn-<seq>` and a note says so. A cut-short
        intent means its call was never made (intents are fsynced before the
        call), and a cut-short result leaves its intent unanswered, which the
        step reconciles with AWS. A damaged line anywhere else is refused.
        """
        path = directory / JOURNAL_NAME
        if not path.exists():
            return cls(path, clock)
        contents = load_journal(path)
        journal = cls(path, clock, contents.records)
        aside = None
        if contents.torn_tail is not None:
            aside = _set_aside(path, contents)
        if aside is not None:
            journal.append(
                RecordType.NOTE,
                text=f"The journal's last line was cut short by a crash; it was set aside in "
                f"{aside.name}. The lines before it are intact.",
            )
        return journal

    @classmethod
    def in_memory(cls, clock: Clock) -> Journal:
        return cls(None, clock)

    @property
    def records(self) -> list[Record]:
        return list(self._records)

    def append(self, record_type: str, **fields: Any) -> Record:
        record = Record(
            seq=len(self._records) + 1,
            time=format_timestamp(self._clock()),
            type=record_type,
            fields=fields,
        )
        line = json.dumps(
            {"schema": SCHEMA_VERSION, "seq": record.seq, "time": record.time, "type": record_type}
            | fields,
            ensure_ascii=False,
            sort_keys=False,
            default=_json_default,
        )
        registry.check(line, destination=f"the journal ({self.path or 'in memory'})")
        if self.path is not None:
            _append_line(self.path, line)
        self._records.append(record)
        return record

    def of_type(self, record_type: str) -> list[Record]:
        return [record for record in self._records if record.type == record_type]

    def last(self, record_type: str, **match: Any) -> Record | None:
        for record in reversed(self._records):
            if record.type == record_type and all(record.get(k) == v for k, v in match.items()):
                return record
        return None

    def last_lifecycle(self, step_id: str) -> Record | None:
        """Return the step's last lifecycle record (started, finished, ...), or None."""
        for record in reversed(self._records):
            if record.type in STEP_LIFECYCLE and record.step == step_id:
                return record
        return None

    def finished(self, step_id: str) -> Record | None:
        """Return the step's step.finished record if that is its last lifecycle record, else None.

        A step that finished and was then reopened (by a rollback) is not finished.
        """
        record = self.last_lifecycle(step_id)
        return record if record is not None and record.type == RecordType.STEP_FINISHED else None


def _append_line(path: Path, line: str) -> None:
    data = (line + "\n").encode("utf-8")
    new = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        written = os.write(descriptor, data)
        if written != len(data):
            raise IncidentDirError(
                f"Writing the journal {path} stopped after {written} of {len(data)} bytes "
                "(is the disk full?).",
                next_step=f"free space, then run: remediate resume {path.parent}",
            )
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    if new:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to the journal")


@dataclass(frozen=True)
class JournalContents:
    """A journal's intact records, and the bytes of a last line cut short, if any."""

    records: list[Record]
    torn_tail: bytes | None
    intact_length: int


def read_journal(path: Path) -> Iterator[Record]:
    """Yield the intact records of a journal file.

    A last line cut short is left out (`load_journal` reports it); any other
    damaged line raises IncidentDirError, which names the line.
    """
    yield from load_journal(path).records


def load_journal(path: Path) -> JournalContents:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IncidentDirError(f"Cannot read the journal {path}: {error.strerror}.") from error
    lines = data.split(b"\n")
    complete = lines[:-1]
    tail = lines[-1]
    records = [_parse_line(path, number, raw) for number, raw in enumerate(complete, start=1)]
    intact_length = len(data) - len(tail)
    if tail:
        try:
            records.append(_parse_line(path, len(complete) + 1, tail))
        except IncidentDirError:
            return JournalContents(records, tail, intact_length)
        # A whole record whose newline was not written: keep it, and add the newline.
        return JournalContents(records, b"", len(data))
    return JournalContents(records, None, intact_length)


def _set_aside(path: Path, contents: JournalContents) -> Path | None:
    """Move a cut-short last line out of the journal, or add a missing final newline.

    Return the file the cut-short line was moved to, or None when only the
    newline was missing.
    """
    aside = path.with_name(f"{path.name}.torn-{len(contents.records) + 1}")
    if contents.torn_tail:
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.write(descriptor, contents.torn_tail)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    descriptor = os.open(path, os.O_RDWR)
    try:
        os.ftruncate(descriptor, contents.intact_length)
        if contents.torn_tail == b"":
            os.lseek(descriptor, 0, os.SEEK_END)
            os.write(descriptor, b"\n")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return aside if contents.torn_tail else None


def _parse_line(path: Path, number: int, raw: bytes) -> Record:
    trusted = f"lines 1 to {number - 1} are intact" if number > 1 else "no line before it exists"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IncidentDirError(
            f"Line {number} of the journal {path} is not valid JSON: {error}; {trusted}. "
            "remediate does not act on a damaged journal.",
            next_step="restore journal.jsonl from a backup, or start a new incident with "
            "`remediate run`",
        ) from error
    not_a_record = IncidentDirError(
        f"Line {number} of the journal {path} is not a journal record (an object with an "
        f"integer seq, a time and a type); {trusted}. remediate does not act on a damaged "
        "journal.",
        next_step="restore journal.jsonl from a backup, or start a new incident with "
        "`remediate run`",
    )
    if not isinstance(data, dict):
        raise not_a_record
    if data.get("schema") != SCHEMA_VERSION:
        raise IncidentDirError(
            f"Line {number} of the journal {path} has schema version {data.get('schema')!r}; "
            f"this remediate reads version {SCHEMA_VERSION}; {trusted}.",
            next_step="use the remediate version that wrote the journal",
        )
    if not isinstance(data.get("seq"), int) or not all(
        isinstance(data.get(name), str) for name in ("time", "type")
    ):
        raise not_a_record
    fields = {k: v for k, v in data.items() if k not in {"schema", "seq", "time", "type"}}
    return Record(seq=data["seq"], time=data["time"], type=data["type"], fields=fields)
