"""The state of each step of the playbook, as the journal last recorded it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from remediate.core.records import STEP_LIFECYCLE, RecordType
from remediate.engine.journal import Record

# A step's state when it has not finished: never started, started and not finished
# (running, interrupted or killed), failed, or put off until a later resume.
OPEN = "open"
STARTED = "started"
FAILED = "failed"
DEFERRED = "deferred"
UNFINISHED = frozenset({OPEN, STARTED, FAILED})
# Steps outside the playbook: a refused or failed rollback leaves the incident as it was,
# so it is shown but does not make the incident unfinished.
OPTIONAL_KINDS = frozenset({"rollback"})


@dataclass(frozen=True)
class PhaseView:
    step_id: str
    kind: str
    title: str
    status: (
        str  # a finished step's status (ok, degraded, skipped), or open, started, failed, deferred
    )
    summary: str


def build_phases(records: Sequence[Record], opened: Record) -> list[PhaseView]:
    """List the playbook's steps, then each rollback that went through and the last attempt.

    The last lifecycle record of a step decides its state, so a step that
    failed and then finished on a resume shows as finished.
    """
    steps = [
        (str(step["id"]), str(step["kind"]), str(step["title"]))
        for step in (opened.get("playbook") or {}).get("steps") or []
    ]
    latest: dict[str, Record] = {}
    for record in records:
        if record.type in STEP_LIFECYCLE and record.step:
            latest[record.step] = record

    known = {step_id for step_id, _, _ in steps}
    playbook_ids = set(known)
    for record in records:
        if record.type == RecordType.STEP_STARTED and record.step and record.step not in known:
            known.add(record.step)
            kind = str(record.get("kind"))
            if kind == "rollback":
                # A later rollback supersedes an earlier one that was refused or failed.
                steps = [
                    step
                    for step in steps
                    if step[0] in playbook_ids or step[1] != kind or _went_through(latest, step[0])
                ]
            steps.append((record.step, kind, str(record.get("title"))))
    return [
        _phase(step_id, kind, title, latest.get(step_id))
        for step_id, kind, title in steps
        if kind != "report"
    ]


def _went_through(latest: dict[str, Record], step_id: str) -> bool:
    record = latest.get(step_id)
    return (
        record is not None
        and record.type == RecordType.STEP_FINISHED
        and record.get("status") == "ok"
    )


def _phase(step_id: str, kind: str, title: str, record: Record | None) -> PhaseView:
    if record is None:
        return PhaseView(step_id, kind, title, OPEN, "not run yet")
    if record.type == RecordType.STEP_FINISHED:
        return PhaseView(
            step_id, kind, title, str(record.get("status")), str(record.get("summary"))
        )
    if record.type == RecordType.STEP_FAILED:
        return PhaseView(step_id, kind, title, FAILED, str(record.get("error")))
    if record.type == RecordType.STEP_DEFERRED:
        return PhaseView(step_id, kind, title, DEFERRED, str(record.get("summary")))
    if record.type == RecordType.STEP_REOPENED:
        return PhaseView(
            step_id, kind, title, OPEN, f"{record.get('reason')} at {record.time}; runs again"
        )
    return PhaseView(step_id, kind, title, STARTED, f"started at {record.time}, not finished")
