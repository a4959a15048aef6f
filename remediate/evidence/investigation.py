"""An investigation of one access key: its events, findings, sending, verdict and gaps."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.aws.cloudtrail import CloudTrailGateway
from remediate.aws.ses import SesGateway
from remediate.core.interaction import Table
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.evidence.events import TrailEvent, deduplicate
from remediate.evidence.gaps import (
    SEND_STATISTICS,
    TRAIL_FILES,
    EvidenceGap,
    standing_gaps,
)
from remediate.evidence.indicators import Catalogue, Finding, default_catalogue, sort_findings
from remediate.evidence.lookup import lookup_events
from remediate.evidence.sending import RegionSending, collect_sending, sending_findings
from remediate.evidence.trail_files import FileIssue, read_trail_files
from remediate.evidence.verdict import VerdictResult, decide_verdict

SCHEMA_VERSION = 1

# Calls whose response hands out temporary credentials. An attacker can keep
# working with those after the leaked key is deactivated, and their events
# carry the temporary key's ID, not the leaked one.
CREDENTIAL_ISSUING_CALLS = frozenset({"GetSessionToken", "GetFederationToken", "AssumeRole"})
# Rounds of following temporary keys (a role session may assume another role).
MAX_SESSION_ROUNDS = 3


@dataclass(frozen=True)
class Investigation:
    """Everything learned about one key. `to_json_dict` is the versioned form other tools read."""

    access_key_id: str
    events: tuple[TrailEvent, ...]
    findings: tuple[Finding, ...]
    sending: tuple[RegionSending, ...]
    verdict: VerdictResult
    gaps: tuple[EvidenceGap, ...]
    unreadable_files: tuple[FileIssue, ...] = ()
    skipped_files: tuple[FileIssue, ...] = ()
    partly_read_files: tuple[FileIssue, ...] = ()
    session_key_ids: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @property
    def failed_gaps(self) -> tuple[EvidenceGap, ...]:
        """Gaps from sources that failed, as opposed to what the sources never record."""
        return tuple(gap for gap in self.gaps if not gap.standing)

    @property
    def quiet_regions(self) -> tuple[str, ...]:
        """Regions whose statistics show no mail sent and raise no flag."""
        return tuple(
            sending.region
            for sending in self.sending
            if not sending.delivery_attempts and not sending.flags
        )

    @property
    def suspect_regions(self) -> tuple[str, ...]:
        """Regions with flagged sending or with events behind a finding."""
        regions = {sending.region for sending in self.sending if sending.suspect}
        regions.update(region for finding in self.findings for region in finding.regions)
        return tuple(sorted(regions))

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "access_key_id": self.access_key_id,
            "verdict": str(self.verdict.verdict),
            "verdict_reasons": list(self.verdict.reasons),
            "limited_by_gaps": self.verdict.limited_by_gaps,
            "window": {"since": _timestamp(self.since), "until": _timestamp(self.until)},
            "regions": list(self.regions),
            "suspect_regions": list(self.suspect_regions),
            "session_access_key_ids": list(self.session_key_ids),
            "findings": [finding.to_record() for finding in self.findings],
            "events": [event.to_record() for event in self.events],
            "sending": [region.to_record() for region in self.sending],
            "gaps": [gap.to_record() for gap in self.gaps],
            "unreadable_files": [issue.to_record() for issue in self.unreadable_files],
            "skipped_files": [issue.to_record() for issue in self.skipped_files],
            "partly_read_files": [issue.to_record() for issue in self.partly_read_files],
        }


def investigate_files(
    paths: Iterable[str | os.PathLike[str]],
    access_key_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    catalogue: Catalogue | None = None,
) -> Investigation:
    """Investigate the key from local trail log files only, without any AWS call."""
    result = read_trail_files(paths)
    gaps = standing_gaps(lookup_events=False)
    gaps.append(
        EvidenceGap(
            SEND_STATISTICS,
            "SES sending statistics were not read, because this investigation used local "
            "trail files only; investigate without --cloudtrail-logs to read them.",
        )
    )
    if result.unreadable:
        gaps.append(
            EvidenceGap(
                TRAIL_FILES,
                f"{len(result.unreadable)} file(s) could not be read; see the unreadable files.",
            )
        )
    if result.partly_read:
        gaps.append(
            EvidenceGap(
                TRAIL_FILES,
                f"{len(result.partly_read)} file(s) held records that are not CloudTrail events.",
            )
        )
    events, session_keys = select_events(result.events, access_key_id, since, until)
    return build_investigation(
        access_key_id,
        events,
        gaps=gaps,
        catalogue=catalogue,
        unreadable_files=result.unreadable,
        skipped_files=result.skipped,
        partly_read_files=result.partly_read,
        session_key_ids=session_keys,
        since=since,
        until=until,
    )


def investigate_account(
    cloudtrail: CloudTrailGateway,
    ses: SesGateway,
    access_key_id: str,
    regions: Sequence[str],
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    unused_regions: Collection[str] = (),
    catalogue: Catalogue | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Investigation:
    """Investigate the key with LookupEvents and SES statistics in every region (read-only)."""
    # TODO: sesv2 GetAccount (sandbox and review status) and the CloudWatch AWS/SES
    # metrics are not read yet, and neither are trail logs in S3.
    catalogue = catalogue or default_catalogue()
    lookup = lookup_events(
        cloudtrail,
        access_key_id,
        regions,
        start_time=since,
        end_time=until,
        monotonic=monotonic,
        sleep=sleep,
    )
    events = list(lookup.events)
    gaps = [*standing_gaps(lookup_events=True), *lookup.gaps]

    # Temporary keys the leaked key obtained act under their own IDs, so look them up too.
    followed: set[str] = set()
    for _ in range(MAX_SESSION_ROUNDS):
        new_keys = [
            key for key in session_keys_issued(events, access_key_id) if key not in followed
        ]
        if not new_keys:
            break
        for key in new_keys:
            followed.add(key)
            more = lookup_events(
                cloudtrail,
                key,
                lookup.regions,
                start_time=since,
                end_time=until,
                monotonic=monotonic,
                sleep=sleep,
            )
            events.extend(more.events)
            gaps.extend(more.gaps)

    sending = collect_sending(
        ses,
        lookup.regions,
        now=now,
        unused_regions=unused_regions,
        thresholds=catalogue.sending.thresholds,
    )
    selected, session_keys = select_events(events, access_key_id, since, until)
    return build_investigation(
        access_key_id,
        selected,
        sending=sending.regions,
        gaps=[*gaps, *sending.gaps],
        catalogue=catalogue,
        session_key_ids=session_keys,
        regions=lookup.regions,
        since=since,
        until=until,
    )


def build_investigation(
    access_key_id: str,
    events: Iterable[TrailEvent],
    *,
    sending: Sequence[RegionSending] = (),
    gaps: Sequence[EvidenceGap] = (),
    catalogue: Catalogue | None = None,
    unreadable_files: Sequence[FileIssue] = (),
    skipped_files: Sequence[FileIssue] = (),
    partly_read_files: Sequence[FileIssue] = (),
    session_key_ids: Sequence[str] = (),
    regions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> Investigation:
    """Match the indicators, analyse sending and decide the verdict over collected evidence."""
    catalogue = catalogue or default_catalogue()
    ordered = deduplicate(events)
    findings = sort_findings(
        [*catalogue.match(ordered), *sending_findings(sending, catalogue.sending)]
    )
    return Investigation(
        access_key_id=access_key_id,
        events=tuple(ordered),
        findings=tuple(findings),
        sending=tuple(sending),
        verdict=decide_verdict(findings, gaps),
        gaps=tuple(gaps),
        unreadable_files=tuple(unreadable_files),
        skipped_files=tuple(skipped_files),
        partly_read_files=tuple(partly_read_files),
        session_key_ids=tuple(session_key_ids),
        regions=tuple(regions),
        since=since,
        until=until,
    )


def select_events(
    events: Iterable[TrailEvent],
    access_key_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[TrailEvent], list[str]]:
    """Keep the events made with the key, or with temporary keys it obtained, within [since, until].

    Returns the events and the temporary key IDs that were followed.
    """
    events = list(events)
    since = parse_timestamp(since) if since is not None else None
    until = parse_timestamp(until) if until is not None else None
    session_keys = session_keys_issued(events, access_key_id)
    keys = {access_key_id, *session_keys}
    selected = [
        event
        for event in events
        if event.access_key_id in keys
        and (since is None or event.event_time >= since)
        and (until is None or event.event_time <= until)
    ]
    return deduplicate(selected), session_keys


def session_keys_issued(events: Iterable[TrailEvent], access_key_id: str) -> list[str]:
    """Return the temporary access key IDs that the key, or keys it obtained, were issued."""
    events = list(events)
    keys = [access_key_id]
    issued: list[str] = []
    while keys:
        parent = keys.pop()
        for event in events:
            if event.access_key_id != parent or event.event_name not in CREDENTIAL_ISSUING_CALLS:
                continue
            child = _issued_key(event)
            if child and child != access_key_id and child not in issued:
                issued.append(child)
                keys.append(child)
    return issued


def findings_table(investigation: Investigation) -> Table:
    return Table(
        title="Findings",
        columns=("Severity", "Indicator", "What", "Evidence"),
        rows=[
            (
                str(finding.severity),
                finding.id,
                finding.title,
                finding.summary,
            )
            for finding in investigation.findings
        ],
    )


def sending_table(investigation: Investigation) -> Table:
    """Tabulate the regions that sent mail or have a flag. The others are `quiet_regions`."""
    rows = []
    for region in investigation.sending:
        if not region.delivery_attempts and not region.flags:
            continue
        window = region.abuse_window
        rows.append(
            (
                region.region,
                str(region.delivery_attempts),
                _percent(region.bounce_rate),
                _percent(region.complaint_rate),
                "none" if region.baseline is None else f"{region.baseline:g}",
                ", ".join(flag.kind for flag in region.flags) or "-",
                f"{format_timestamp(window[0])} to {format_timestamp(window[1])}"
                if window
                else "-",
            )
        )
    return Table(
        title="SES sending (GetSendStatistics, last two weeks)",
        columns=(
            "Region",
            "Attempts",
            "Bounces",
            "Complaints",
            "Baseline per 15 min",
            "Flags",
            "Suspected abuse window",
        ),
        rows=rows,
    )


def render_text(investigation: Investigation) -> list[str]:
    """Return the investigation as plain lines, which the console escapes when it prints them."""
    lines = [
        f"Access key {investigation.access_key_id}: {investigation.verdict.verdict}",
        _events_line(investigation),
    ]
    if investigation.session_key_ids:
        keys = ", ".join(investigation.session_key_ids)
        lines.append(f"Temporary keys it obtained, whose events are included: {keys}")

    lines.append("Verdict reasons:")
    lines.extend(f"  - {reason}" for reason in investigation.verdict.reasons or ("none",))

    if investigation.findings:
        lines.append("Findings:")
        lines.extend(
            f"  [{finding.severity}] {finding.id}: {finding.title}. {finding.summary}"
            for finding in investigation.findings
        )

    quiet = set(investigation.quiet_regions)
    if investigation.sending:
        lines.append("SES sending:")
        lines.extend(
            f"  {_sending_line(region)}"
            for region in investigation.sending
            if region.region not in quiet
        )
    if quiet:
        lines.append(f"  no mail sent in {len(quiet)} region(s): {', '.join(sorted(quiet))}")

    sections: list[tuple[str, list[str]]] = [
        ("Evidence gaps:", [_gap_line(gap) for gap in investigation.gaps]),
        ("Unreadable files:", [_file_line(issue) for issue in investigation.unreadable_files]),
        ("Partly read files:", [_file_line(issue) for issue in investigation.partly_read_files]),
        ("Skipped files:", [_file_line(issue) for issue in investigation.skipped_files]),
    ]
    for title, entries in sections:
        if entries:
            lines.append(title)
            lines.extend(f"  {entry}" for entry in entries)
    return lines


def _file_line(issue: FileIssue) -> str:
    return f"{issue.path}: {issue.reason}"


def _issued_key(event: TrailEvent) -> str | None:
    response = event.response_elements or {}
    credentials = response.get("credentials")
    if isinstance(credentials, dict) and isinstance(credentials.get("accessKeyId"), str):
        return str(credentials["accessKeyId"])
    return None


def _events_line(investigation: Investigation) -> str:
    events = investigation.events
    if not events:
        return "Events: none found"
    regions = sorted({event.aws_region for event in events if event.aws_region})
    first, last = format_timestamp(events[0].event_time), format_timestamp(events[-1].event_time)
    return f"Events: {len(events)} from {first} to {last} in {', '.join(regions) or 'no region'}"


def _sending_line(region: RegionSending) -> str:
    flags = "; ".join(flag.description for flag in region.flags) or "nothing flagged"
    return (
        f"{region.region}: {region.delivery_attempts} delivery attempts, "
        f"bounces {_percent(region.bounce_rate)}, complaints {_percent(region.complaint_rate)}: "
        f"{flags}"
    )


def _gap_line(gap: EvidenceGap) -> str:
    where = f" in {gap.region}" if gap.region else ""
    return f"{gap.source}{where}: {gap.reason}"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def _timestamp(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None
