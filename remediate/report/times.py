"""The incident's key times: exposure, detection, containment, rotation and deactivation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from remediate.core.records import RecordType
from remediate.core.timeutil import parse_timestamp
from remediate.engine.journal import Record
from remediate.report.findings import FindingView
from remediate.report.records import finished_outputs, sortable_time, step_kinds
from remediate.report.sending import SendingView

# Steps whose changes stop the attacker: emergency brakes, revoked sessions, deactivation.
CONTAINMENT_KINDS = frozenset({"contain", "revoke-sessions", "deactivate"})


@dataclass(frozen=True)
class KeyTime:
    time: str | None  # UTC; None when it has not happened or is not known
    basis: str  # what the time is taken from


@dataclass(frozen=True)
class KeyTimes:
    exposure: KeyTime
    detection: KeyTime
    containment: KeyTime
    rotation: KeyTime
    deactivation: KeyTime
    time_to_contain_seconds: int | None  # from detection to containment
    exposure_to_containment_seconds: int | None

    @property
    def time_to_contain(self) -> str:
        return format_duration(self.time_to_contain_seconds)

    @property
    def exposure_to_containment(self) -> str:
        return format_duration(self.exposure_to_containment_seconds)


def build_key_times(
    records: Sequence[Record],
    opened: Record,
    access_key_id: str,
    findings: Sequence[FindingView],
    sending: Sequence[SendingView],
) -> KeyTimes:
    detection = KeyTime(
        opened.time,
        "the rehearsal started"
        if opened.get("mode") == "rehearse"
        else "the incident was opened in remediate",
    )
    containment = _containment(records)
    exposed = _exposure(findings, sending)
    return KeyTimes(
        exposure=exposed,
        detection=detection,
        containment=containment,
        rotation=_rotation(records),
        deactivation=_deactivation(records, access_key_id),
        time_to_contain_seconds=_seconds_between(detection.time, containment.time),
        exposure_to_containment_seconds=_seconds_between(exposed.time, containment.time),
    )


def _exposure(findings: Sequence[FindingView], sending: Sequence[SendingView]) -> KeyTime:
    """Take the earliest attacker activity found: an event a finding names, or an abuse window.

    The leak itself may be older: this is the first moment the evidence shows.
    """
    candidates = [
        KeyTime(event.time, f"{event.name} in {event.region} ({finding.id})")
        for finding in findings
        for event in finding.events
    ]
    candidates.extend(
        KeyTime(region.abuse_window.start, f"suspected abuse window in {region.region}")
        for region in sending
        if region.abuse_window is not None
    )
    if not candidates:
        return KeyTime(None, "unknown: no finding names an attacker event or a sending window")
    return min(candidates, key=lambda candidate: sortable_time(candidate.time))


def _successful_changes(records: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair each intent whose result succeeded with that result, in journal order."""
    intents = {
        record.get("call_id"): record for record in records if record.type == RecordType.AWS_INTENT
    }
    return [
        (intents[record.get("call_id")], record)
        for record in records
        if record.type == RecordType.AWS_RESULT
        and record.get("ok")
        and record.get("call_id") in intents
    ]


def _containment(records: Sequence[Record]) -> KeyTime:
    """Take the first successful containment change, and note each rollback that undid it."""
    kinds = step_kinds(records)
    changes = _successful_changes(records)
    for intent, result in changes:
        kind = kinds.get(str(intent.step), "")
        if kind in CONTAINMENT_KINDS:
            basis = (
                f"{intent.get('service')} {intent.get('operation')} on "
                f"{intent.get('resource')} ({kind} step)"
            )
            return KeyTime(result.time, basis + _rollbacks_after(records, changes, result))
    return KeyTime(None, "not contained yet: no containment action and no deactivation")


def _rollbacks_after(
    records: Sequence[Record], changes: Sequence[tuple[Record, Record]], contained: Record
) -> str:
    """Describe each rollback that made the leaked key usable again after containment."""
    text = ""
    for finished, outputs in finished_outputs(records, "rollback"):
        if not outputs.get("reactivated") or finished.seq < contained.seq:
            continue
        text += f"; undone by the rollback at {finished.time}"
        again = next(
            (
                result
                for intent, result in changes
                if result.seq > finished.seq
                and intent.get("operation") == "UpdateAccessKey"
                and (intent.get("params") or {}).get("Status") == "Inactive"
            ),
            None,
        )
        text += f", contained again at {again.time}" if again else ", so the leaked key is usable"
    return text


def _rotation(records: Sequence[Record]) -> KeyTime:
    for finished, outputs in finished_outputs(records, "rotate"):
        if outputs.get("new_access_key_id"):
            return KeyTime(
                finished.time,
                f"the new key {outputs['new_access_key_id']} was created and proven",
            )
    return KeyTime(None, "not rotated yet")


def _deactivation(records: Sequence[Record], access_key_id: str) -> KeyTime:
    for intent, result in _successful_changes(records):
        params = intent.get("params") or {}
        if (
            intent.get("operation") == "UpdateAccessKey"
            and params.get("AccessKeyId") == access_key_id
            and params.get("Status") == "Inactive"
        ):
            return KeyTime(result.time, f"iam UpdateAccessKey set {access_key_id} Inactive")
    for finished, outputs in finished_outputs(records, "deactivate"):
        if outputs.get("status") == "Inactive":
            return KeyTime(
                None,
                f"unknown: {access_key_id} was already Inactive when checked at {finished.time}",
            )
    return KeyTime(None, "not deactivated yet")


def _seconds_between(start: str | None, end: str | None) -> int | None:
    if start is None or end is None:
        return None
    return int((parse_timestamp(end) - parse_timestamp(start)).total_seconds())


def format_duration(seconds: int | None) -> str:
    """Format a duration as `2 d 3 h`, `1 h 5 min` or `40 s`; `-` when unknown."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    if minutes:
        return f"{sign}{minutes} min {secs} s"
    return f"{sign}{secs} s"
