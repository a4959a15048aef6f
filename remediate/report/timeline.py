"""One timeline, in UTC: attacker events, suspicious sending windows and responder actions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from remediate.core.records import RecordType
from remediate.engine.journal import Record
from remediate.report.findings import EventView, FindingView
from remediate.report.records import sortable_time
from remediate.report.response import ActionView
from remediate.report.sending import SendingView

CLOUDTRAIL = "CloudTrail"
SES_STATISTICS = "SES statistics"
REMEDIATE = "remediate"


@dataclass(frozen=True)
class TimelineEntry:
    time: str
    source: str  # CloudTrail, SES statistics or remediate
    text: str


def build_timeline(
    records: Sequence[Record],
    opened: Record,
    events: Sequence[EventView],
    findings: Sequence[FindingView],
    sending: Sequence[SendingView],
    actions: Sequence[ActionView],
) -> list[TimelineEntry]:
    named_by: dict[str, list[str]] = {}
    for finding in findings:
        for event in finding.events:
            named_by.setdefault(event.event_id, []).append(finding.id)

    entries = [_event_entry(event, named_by.get(event.event_id, [])) for event in events]
    entries.extend(entry for region in sending if (entry := _sending_entry(region)) is not None)
    entries.append(TimelineEntry(opened.time, REMEDIATE, "incident opened (detection)"))
    entries.extend(
        TimelineEntry(
            action.time, REMEDIATE, f"{action.operation} on {action.resource}: {action.outcome}"
        )
        for action in actions
    )
    entries.extend(
        TimelineEntry(record.time, REMEDIATE, str(record.get("text")))
        for record in records
        if record.type == RecordType.NOTE and record.get("text")
    )
    return sorted(entries, key=lambda entry: sortable_time(entry.time))


def _event_entry(event: EventView, finding_ids: list[str]) -> TimelineEntry:
    text = f"{event.name} ({event.source}) in {event.region} from {event.source_ip}"
    if event.error_code:
        text += f", failed: {event.error_code}"
    if finding_ids:
        text += f"; finding {', '.join(finding_ids)}"
    return TimelineEntry(event.time, CLOUDTRAIL, text)


def _sending_entry(region: SendingView) -> TimelineEntry | None:
    """Build one entry per region: its suspected abuse window, or else its flags with a time."""
    kinds = ", ".join(flag.kind for flag in region.flags if flag.kind)
    window = region.abuse_window
    if window is not None:
        return TimelineEntry(
            window.start,
            SES_STATISTICS,
            f"{region.region}: suspected abuse window until {window.end}, "
            f"{window.delivery_attempts} delivery attempts; flags: {kinds}",
        )
    timed = sorted(
        (flag for flag in region.flags if flag.start), key=lambda flag: sortable_time(flag.start)
    )
    if not timed:
        return None
    descriptions = "; ".join(flag.description for flag in timed)
    return TimelineEntry(str(timed[0].start), SES_STATISTICS, f"{region.region}: {descriptions}")
