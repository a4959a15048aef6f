"""The journal: append-only, fsynced, 0600, and honest about damage."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from remediate.core.errors import IncidentDirError, SecretLeakError
from remediate.core.secrets import SecretValue
from remediate.engine.incident import IncidentDir, hold_lock
from remediate.engine.journal import Journal, RecordType, read_journal
from tests.helpers import FixedClock


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, FixedClock())
    journal.append(RecordType.STEP_STARTED, step="identify", kind="identify")
    journal.append(RecordType.STEP_FINISHED, step="identify", status="ok", outputs={"n": 1})

    records = list(read_journal(tmp_path / "journal.jsonl"))

    assert [record.seq for record in records] == [1, 2]
    assert [record.type for record in records] == ["step.started", "step.finished"]
    assert records[1].fields == {"step": "identify", "status": "ok", "outputs": {"n": 1}}
    assert records[0].time == "2026-12-04T03:00:00Z"


def test_journal_file_mode_is_0600(tmp_path: Path) -> None:
    Journal.open(tmp_path, FixedClock()).append(RecordType.NOTE, text="x")

    mode = stat.S_IMODE((tmp_path / "journal.jsonl").stat().st_mode)

    assert mode == 0o600


def test_journal_reopen_continues_sequence(tmp_path: Path) -> None:
    Journal.open(tmp_path, FixedClock()).append(RecordType.NOTE, text="first")

    record = Journal.open(tmp_path, FixedClock()).append(RecordType.NOTE, text="second")

    assert record.seq == 2


def test_journal_refuses_secret(tmp_path: Path) -> None:
    secret = SecretValue("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    journal = Journal.open(tmp_path, FixedClock())

    with pytest.raises(SecretLeakError):
        journal.append(RecordType.NOTE, text=f"the secret is {secret.reveal()}")

    assert not (tmp_path / "journal.jsonl").exists()


def test_torn_last_line_is_set_aside(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, FixedClock())
    journal.append(RecordType.NOTE, text="kept")
    with (tmp_path / "journal.jsonl").open("a") as handle:
        handle.write('{"schema": 1, "seq": 2, "ty')

    reopened = Journal.open(tmp_path, FixedClock())

    assert reopened.records[0].get("text") == "kept"
    assert reopened.records[1].get("text") == (
        "The journal's last line was cut short by a crash; it was set aside in "
        "journal.jsonl.torn-2. The lines before it are intact."
    )
    assert (tmp_path / "journal.jsonl.torn-2").read_text() == '{"schema": 1, "seq": 2, "ty'
    assert [record.seq for record in read_journal(tmp_path / "journal.jsonl")] == [1, 2]


def test_torn_last_line_is_left_out_by_readers(tmp_path: Path) -> None:
    Journal.open(tmp_path, FixedClock()).append(RecordType.NOTE, text="kept")
    with (tmp_path / "journal.jsonl").open("a") as handle:
        handle.write('{"schema": 1, "seq"')

    records = list(read_journal(tmp_path / "journal.jsonl"))

    assert [record.get("text") for record in records] == ["kept"]


def test_missing_final_newline_is_added(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"schema": 1, "seq": 1, "time": "t", "type": "note", "text": "a"}))

    journal = Journal.open(tmp_path, FixedClock())
    journal.append(RecordType.NOTE, text="b")

    assert [record.get("text") for record in read_journal(path)] == ["a", "b"]
    assert not list(tmp_path.glob("journal.jsonl.torn-*"))


def test_invalid_middle_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    good = json.dumps({"schema": 1, "seq": 1, "time": "t", "type": "note"})
    path.write_text(f"{good}\nnot json\n{good}\n")

    with pytest.raises(IncidentDirError, match=r"Line 2 of the journal .* is not valid JSON"):
        list(read_journal(path))


def test_unknown_schema_version_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"schema": 99, "seq": 1, "time": "t", "type": "note"}) + "\n")

    with pytest.raises(
        IncidentDirError, match="has schema version 99; this remediate reads version 1"
    ):
        list(read_journal(path))


def test_in_memory_journal_writes_nothing(tmp_path: Path) -> None:
    journal = Journal.in_memory(FixedClock())
    journal.append(RecordType.NOTE, text="dry")

    assert journal.records[0].get("text") == "dry"
    assert list(tmp_path.iterdir()) == []


def test_incident_lock_refuses_second_run(tmp_path: Path) -> None:
    incident = IncidentDir(tmp_path)

    with hold_lock(incident), pytest.raises(IncidentDirError) as caught, hold_lock(incident):
        pass

    assert caught.value.message == (
        f"The incident {tmp_path} is in use by another remediate run (process {os.getpid()}); "
        "two runs never act on one incident at once."
    )
    assert caught.value.next_step == (
        f"let that run finish or stop it, then run `remediate resume {tmp_path}`"
    )


def test_incident_lock_released_after_run(tmp_path: Path) -> None:
    incident = IncidentDir(tmp_path)

    with hold_lock(incident):
        pass
    with hold_lock(incident):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
