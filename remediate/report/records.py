"""Reading the journal for the report: the last record of a type, and what each step left."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from remediate.core.records import RecordType
from remediate.core.timeutil import parse_timestamp
from remediate.engine.journal import Record


def last_of(records: Sequence[Record], record_type: str) -> Record | None:
    for record in reversed(records):
        if record.type == record_type:
            return record
    return None


def outputs_by_kind(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """Map each step kind to the outputs of its last finished step."""
    outputs: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.type == RecordType.STEP_FINISHED and isinstance(record.get("outputs"), dict):
            outputs[str(record.get("kind"))] = record.get("outputs")
    return outputs


def finished_outputs(records: Sequence[Record], kind: str) -> list[tuple[Record, dict[str, Any]]]:
    """List every finished step of one kind, with its outputs, oldest first.

    A playbook may have several steps of a kind (two containment steps, say),
    and a resumed run may finish a step again. Each finish counts.
    """
    return [
        (record, record.get("outputs"))
        for record in records
        if record.type == RecordType.STEP_FINISHED
        and record.get("kind") == kind
        and isinstance(record.get("outputs"), dict)
    ]


def step_kinds(records: Sequence[Record]) -> dict[str, str]:
    """Map each step id to its kind, from the playbook and from the steps that started."""
    kinds: dict[str, str] = {}
    opened = last_of(records, RecordType.INCIDENT_OPENED)
    if opened is not None:
        for step in (opened.get("playbook") or {}).get("steps") or []:
            kinds[str(step.get("id"))] = str(step.get("kind"))
    for record in records:
        if record.type == RecordType.STEP_STARTED and record.step and record.get("kind"):
            kinds[record.step] = str(record.get("kind"))
    return kinds


def sortable_time(time: str | None) -> datetime:
    """Parse a time for sorting; a missing or unreadable one sorts last."""
    try:
        return parse_timestamp(time) if time else datetime.max.replace(tzinfo=UTC)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


def text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
