"""The audit trail: an incident's journal as a timeline of who did what, when, and with what result.

Every line has the UTC time, the actor (the operator ARN of the run or resume
that wrote it), the step, and what happened. That covers questions with the
source of each answer, AWS calls with their outcome and request ID, checks,
gaps and notes. The text is plain, and the Console makes the attacker's text
(user names, user agents) safe to show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediate.core.interaction import Console
from remediate.core.records import RecordType
from remediate.engine.incident import open_incident_dir
from remediate.engine.journal import Record, load_journal

NO_ACTOR = "-"
NO_STEP = "-"


@dataclass(frozen=True)
class TimelineEntry:
    time: str
    actor: str
    step: str
    text: str

    def line(self) -> str:
        return f"{self.time}  {self.actor}  {self.step}  {self.text}"


def show_log(path: Path, console: Console) -> list[TimelineEntry]:
    """Print an incident's timeline; return its entries.

    The journal is only read: a last line cut short by a crash is left out and
    reported, and a damaged line raises IncidentDirError naming it.
    """
    incident = open_incident_dir(path)
    contents = load_journal(incident.journal_path)
    entries = timeline(contents.records)
    opened = next((r for r in contents.records if r.type == RecordType.INCIDENT_OPENED), None)
    incident_id = opened.get("incident_id") if opened else incident.incident_id
    console.heading(
        f"Incident {incident_id}: {len(contents.records)} journal record(s) in "
        f"{incident.journal_path} (times in UTC)"
    )
    for entry in entries:
        console.info(entry.line())
    if contents.torn_tail:
        console.warning(
            f"The journal's last line ({len(contents.records) + 1}) was cut short by a crash "
            "and is left out; the lines before it are intact. `remediate resume` sets it aside."
        )
    return entries


def timeline(records: Sequence[Record]) -> list[TimelineEntry]:
    """Turn journal records into timeline entries, an AWS call's intent and result as one."""
    results = {
        record.get("call_id"): record for record in records if record.type == RecordType.AWS_RESULT
    }
    entries = []
    actor = NO_ACTOR
    for record in records:
        if record.type in (RecordType.INCIDENT_OPENED, RecordType.INCIDENT_RESUMED):
            actor = str((record.get("operator") or {}).get("arn") or NO_ACTOR)
        if record.type == RecordType.AWS_RESULT:
            continue  # shown with its intent
        if record.type == RecordType.AWS_INTENT:
            text = _call(record, results.get(record.get("call_id")))
        else:
            text = _DESCRIBE.get(record.type, _unknown)(record)
        entries.append(TimelineEntry(record.time, actor, record.step or NO_STEP, text))
    return entries


def _call(intent: Record, result: Record | None) -> str:
    region = f" [{intent.get('region')}]" if intent.get("region") else ""
    call = (
        f"call {intent.get('service')} {intent.get('operation')}{region} on "
        f"{intent.get('resource')} ({intent.get('description')})"
    )
    if result is None:
        return (
            f"{call}: no result recorded, because the run stopped during the call; "
            "a resumed run checks AWS for what it did"
        )
    request = f"request ID {result.get('request_id') or 'none'}"
    if result.get("ok"):
        details = dict(result.get("details") or {})
        not_found = details.pop("already_gone", None)
        if not_found:
            return (
                f"{call}: nothing to do, already gone ({not_found}), {request}{_details(details)}"
            )
        return f"{call}: succeeded, {request}{_details(details)}"
    return f"{call}: failed with {result.get('error_code')}, {request}: {result.get('error')}"


def _details(details: Mapping[str, Any]) -> str:
    shown = [f"{name} {value}" for name, value in details.items() if value not in (None, "")]
    return f"; {', '.join(shown)}" if shown else ""


def _opened(record: Record) -> str:
    playbook = record.get("playbook") or {}
    mode = "dry run" if record.get("dry_run") else str(record.get("mode"))
    endpoint = record.get("endpoint")
    if record.get("mode") == "rehearse":
        # moto handles a rehearsal's calls in-process, whatever AWS endpoint they name.
        endpoint = "moto in this process (no call reaches AWS)"
    return (
        f"incident {record.get('incident_id')} opened for {record.get('access_key_id')} "
        f"({mode}, playbook {playbook.get('name')}, endpoint {endpoint}, "
        f"remediate {record.get('tool_version')})"
    )


def _resumed(record: Record) -> str:
    action = str(record.get("action"))
    verb = {"resume": "resumed", "rollback": "reopened for a rollback"}.get(action, action)
    return f"incident {verb} (remediate {record.get('tool_version')})"


def _answer(record: Record) -> str:
    value = record.get("value")
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list):
        text = ", ".join(str(item) for item in value) or "(none)"
    else:
        text = repr(str(value)) if value != "" else "(empty)"
    return f"answer to {record.get('question')}: {text}, from {record.get('source')}"


def _check(record: Record) -> str:
    outcome = "passed" if record.get("passed") else "FAILED"
    return f"check {record.get('name')} {outcome}: {record.get('detail')}"


def _gap(record: Record) -> str:
    region = f" [{record.get('region')}]" if record.get("region") else ""
    kind = "limit of" if record.get("standing") else "gap in"
    return f"{kind} {record.get('source')}{region}: {record.get('reason')}"


def _planned(record: Record) -> str:
    calls = record.get("calls") or []
    changes = sum(1 for call in calls if call.get("mutating"))
    return f"planned {len(calls)} call(s), {changes} of them change(s)"


def _preflight(record: Record) -> str:
    principal = record.get("principal") or "the operator"
    if record.get("skipped"):
        return f"permission preflight skipped: {record.get('skipped')}"
    checked = record.get("checked") or []
    denied = record.get("denied") or []
    if not denied:
        return f"permission preflight: all {len(checked)} action(s) allowed for {principal}"
    actions = ", ".join(dict.fromkeys(str(item.get("action")) for item in denied))
    return (
        f"permission preflight: {len(denied)} of {len(checked)} denied for {principal}: {actions}"
    )


def _events(record: Record) -> str:
    events = record.get("events") or []
    region = f" in {record.get('region')}" if record.get("region") else ""
    return f"evidence: {len(events)} event(s) from {record.get('source')}{region}"


def _calls(record: Record) -> str:
    """Summarise a step's AWS calls by operation; each one's request ID stays in the journal."""
    counts: dict[str, int] = {}
    failed: dict[str, list[str]] = {}
    for call in record.get("calls") or []:
        name = f"{call.get('service')} {call.get('operation')}"
        counts[name] = counts.get(name, 0) + 1
        status = call.get("status")
        if status is None or status >= 300:
            failed.setdefault(name, []).append(str(call.get("error_code") or status))
    parts = []
    for name, count in counts.items():
        part = name if count == 1 else f"{name} x{count}"
        if name in failed:
            part += f" ({len(failed[name])} failed: {', '.join(dict.fromkeys(failed[name]))})"
        parts.append(part)
    total = sum(counts.values())
    return f"{total} AWS call(s), request IDs in the journal: {'; '.join(parts)}"


def _unknown(record: Record) -> str:
    return str(record.type)


def _join(values: Iterable[Any]) -> str:
    return ", ".join(str(value) for value in values)


_DESCRIBE: dict[str, Callable[[Record], str]] = {
    RecordType.INCIDENT_OPENED: _opened,
    RecordType.INCIDENT_RESUMED: _resumed,
    RecordType.STEP_STARTED: lambda r: f"step started: {r.get('title')}",
    RecordType.STEP_PLANNED: _planned,
    RecordType.STEP_FINISHED: lambda r: f"step {r.get('status')}: {r.get('summary')}",
    RecordType.STEP_FAILED: lambda r: f"step failed: {r.get('error')}",
    RecordType.STEP_DEFERRED: lambda r: f"step deferred until {r.get('due')}: {r.get('summary')}",
    RecordType.STEP_REOPENED: lambda r: f"step reopened: {r.get('reason')}",
    RecordType.ANSWER: _answer,
    RecordType.CHECK: _check,
    RecordType.GAP: _gap,
    RecordType.NOTE: lambda r: f"note: {r.get('text')}",
    RecordType.EVENTS: _events,
    RecordType.SENDING: lambda r: f"evidence: SES sending statistics in {r.get('region')}",
    RecordType.FINDING: lambda r: f"finding ({r.get('severity')}): {r.get('title')}",
    RecordType.VERDICT: lambda r: f"verdict {r.get('verdict')}: {' '.join(r.get('reasons') or [])}",
    RecordType.EVIDENCE_FILE: lambda r: f"evidence file {r.get('name')}, SHA-256 {r.get('sha256')}",
    RecordType.EVIDENCE_SEALED: lambda r: (
        f"evidence sealed: {len(r.get('files') or {})} file(s), manifest SHA-256 "
        f"{r.get('manifest_sha256')}"
    ),
    RecordType.REPORT_WRITTEN: lambda r: (
        f"report written: {r.get('path') or _join(r.fields.values())}"
    ),
    RecordType.PREFLIGHT: _preflight,
    RecordType.AWS_CALLS: _calls,
}
