"""An investigation of one access key: its events, findings, sending, verdict and gaps."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediate.aws.cloudtrail import CloudTrailGateway
from remediate.aws.cloudwatch import CloudWatchGateway
from remediate.aws.ses import SesGateway
from remediate.aws.sesv2 import Sesv2Gateway
from remediate.core.interaction import Table
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.evidence.derived import (
    DerivedCredential,
    derived_activity_finding,
    derived_credentials,
)
from remediate.evidence.events import TrailEvent, conflicting_copies, deduplicate
from remediate.evidence.gaps import (
    DUPLICATE_EVENTS,
    SEND_STATISTICS,
    TRAIL_FILES,
    EvidenceGap,
    standing_gaps,
)
from remediate.evidence.indicators import Catalogue, Finding, default_catalogue, sort_findings
from remediate.evidence.lookup import LookupResult, lookup_events
from remediate.evidence.sending import (
    DATA_POINT_INTERVAL,
    RegionSending,
    collect_sending,
    sending_findings,
)
from remediate.evidence.ses_account import describe_account
from remediate.evidence.trail_bucket import (
    TrailBucketReader,
    TrailBucketResult,
    TrailBucketSummary,
)
from remediate.evidence.trail_files import FileIssue, read_trail_files
from remediate.evidence.verdict import VerdictResult, decide_verdict

# Version 1 gained fields (derived_credentials, trail_bucket, sending's account,
# cloudwatch and aws_reputation) without changing any, so readers of version 1 still work.
SCHEMA_VERSION = 1

# Rounds of following derived keys (a role session may assume another role).
MAX_DERIVED_ROUNDS = 3


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
    derived_credentials: tuple[DerivedCredential, ...] = ()
    regions: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    trail_bucket: TrailBucketSummary | None = None

    @property
    def session_key_ids(self) -> tuple[str, ...]:
        """The temporary keys among the derived keys (from STS calls)."""
        return tuple(key.access_key_id for key in self.derived_credentials if key.temporary)

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
            "derived_credentials": [key.to_record() for key in self.derived_credentials],
            "findings": [finding.to_record() for finding in self.findings],
            "events": [event.to_record() for event in self.events],
            "sending": [region.to_record() for region in self.sending],
            "trail_bucket": self.trail_bucket.to_record() if self.trail_bucket else None,
            "gaps": [gap.to_record() for gap in self.gaps],
            "unreadable_files": [issue.to_record() for issue in self.unreadable_files],
            "skipped_files": [issue.to_record() for issue in self.skipped_files],
            "partly_read_files": [issue.to_record() for issue in self.partly_read_files],
        }


@dataclass
class _Evidence:
    """Events, gaps and file issues gathered from every source, in the order they came."""

    events: list[TrailEvent] = field(default_factory=list)
    gaps: list[EvidenceGap] = field(default_factory=list)
    unreadable: list[FileIssue] = field(default_factory=list)
    skipped: list[FileIssue] = field(default_factory=list)
    partly_read: list[FileIssue] = field(default_factory=list)

    def add_bucket(self, result: TrailBucketResult) -> None:
        self.events.extend(result.events)
        self.gaps.extend(result.gaps)
        self.unreadable.extend(result.unreadable)
        self.skipped.extend(result.skipped)
        self.partly_read.extend(result.partly_read)


def investigate_files(
    paths: Iterable[str | os.PathLike[str]],
    access_key_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    catalogue: Catalogue | None = None,
    trail_bucket: TrailBucketReader | None = None,
) -> Investigation:
    """Investigate the key from trail log files: local files, and a trail bucket when given.

    Without `trail_bucket` no AWS call is made; with it, only S3 reads. Only the
    records that name the key are parsed; the files are read again for the keys
    it obtained, when there are any.
    """
    paths = list(paths)
    result = read_trail_files(paths, [access_key_id])
    evidence = _Evidence(
        events=list(result.events),
        unreadable=list(result.unreadable),
        skipped=list(result.skipped),
        partly_read=list(result.partly_read),
    )
    evidence.gaps.extend(standing_gaps(lookup_events=False))
    evidence.gaps.append(
        EvidenceGap(
            SEND_STATISTICS,
            "SES sending statistics, account state and CloudWatch metrics were not read, "
            "because this investigation read trail log files only; investigate without "
            "--cloudtrail-logs to read them.",
        )
    )
    if result.unreadable:
        evidence.gaps.append(
            EvidenceGap(
                TRAIL_FILES,
                f"{len(result.unreadable)} file(s) could not be read; see the unreadable files.",
            )
        )
    if result.partly_read:
        evidence.gaps.append(
            EvidenceGap(
                TRAIL_FILES,
                f"{len(result.partly_read)} file(s) held records that are not CloudTrail events.",
            )
        )
    if trail_bucket is not None:
        evidence.add_bucket(trail_bucket.read([access_key_id]))

    def fetch(keys: Sequence[str]) -> None:
        # The files' unreadable and skipped ones are already listed by the first pass.
        evidence.events.extend(read_trail_files(paths, keys).events)
        if trail_bucket is not None:
            evidence.add_bucket(trail_bucket.read(keys))

    _follow_derived(access_key_id, evidence, fetch)

    evidence.gaps.extend(_duplicate_gaps([*result.conflicts, *conflicting_copies(evidence.events)]))
    events, derived = select_events(evidence.events, access_key_id, since, until)
    return build_investigation(
        access_key_id,
        events,
        gaps=evidence.gaps,
        catalogue=catalogue,
        unreadable_files=evidence.unreadable,
        skipped_files=evidence.skipped,
        partly_read_files=evidence.partly_read,
        derived=derived,
        since=since,
        until=until,
        trail_bucket=trail_bucket.summary if trail_bucket else None,
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
    production_requests: Collection[str] = (),
    sesv2: Sesv2Gateway | None = None,
    cloudwatch: CloudWatchGateway | None = None,
    trail_bucket: TrailBucketReader | None = None,
    catalogue: Catalogue | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Investigation:
    """Investigate the key in AWS, read-only, in every region.

    Sources: LookupEvents, the trail bucket when given, SES statistics and
    quota, and, when their gateways are given, sesv2 GetAccount and the
    CloudWatch AWS/SES metrics. Keys the key obtained are looked up in
    LookupEvents and in the bucket as well. `production_requests` are the
    regions where the team itself asked for SES production access.
    """
    catalogue = catalogue or default_catalogue()

    def lookup(key: str, targets: Sequence[str]) -> LookupResult:
        return lookup_events(
            cloudtrail,
            key,
            targets,
            start_time=since,
            end_time=until,
            monotonic=monotonic,
            sleep=sleep,
        )

    first = lookup(access_key_id, regions)
    evidence = _Evidence(
        events=list(first.events), gaps=[*standing_gaps(lookup_events=True), *first.gaps]
    )
    if trail_bucket is not None:
        evidence.add_bucket(trail_bucket.read([access_key_id]))

    def fetch(keys: Sequence[str]) -> None:
        for key in keys:
            more = lookup(key, first.regions)
            evidence.events.extend(more.events)
            evidence.gaps.extend(more.gaps)
        if trail_bucket is not None:
            evidence.add_bucket(trail_bucket.read(keys))

    _follow_derived(access_key_id, evidence, fetch)

    sending = collect_sending(
        ses,
        first.regions,
        now=now,
        unused_regions=unused_regions,
        thresholds=catalogue.sending.thresholds,
        sesv2=sesv2,
        cloudwatch=cloudwatch,
        production_requests=production_requests,
    )
    evidence.gaps.extend(_duplicate_gaps(conflicting_copies(evidence.events)))
    selected, derived = select_events(evidence.events, access_key_id, since, until)
    return build_investigation(
        access_key_id,
        selected,
        sending=sending.regions,
        gaps=[*evidence.gaps, *sending.gaps],
        catalogue=catalogue,
        unreadable_files=evidence.unreadable,
        skipped_files=evidence.skipped,
        partly_read_files=evidence.partly_read,
        derived=derived,
        regions=first.regions,
        since=since,
        until=until,
        trail_bucket=trail_bucket.summary if trail_bucket else None,
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
    derived: Sequence[DerivedCredential] = (),
    regions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    trail_bucket: TrailBucketSummary | None = None,
) -> Investigation:
    """Match the indicators, analyse sending and decide the verdict over collected evidence."""
    catalogue = catalogue or default_catalogue()
    ordered = deduplicate(events)
    findings = [
        *catalogue.match(ordered),
        *sending_findings(sending, catalogue.sending, ordered),
    ]
    activity = derived_activity_finding(catalogue.derived_credentials, derived, ordered)
    if activity is not None:
        findings.append(activity)
    findings = sort_findings(findings)
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
        derived_credentials=tuple(derived),
        regions=tuple(regions),
        since=since,
        until=until,
        trail_bucket=trail_bucket,
    )


def select_events(
    events: Iterable[TrailEvent],
    access_key_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[TrailEvent], list[DerivedCredential]]:
    """Keep the events made with the key, or with keys it obtained, within [since, until].

    Returns the events and the derived keys that were followed.
    """
    events = list(events)
    since = parse_timestamp(since) if since is not None else None
    until = parse_timestamp(until) if until is not None else None
    derived = derived_credentials(events, access_key_id)
    keys = {access_key_id, *(credential.access_key_id for credential in derived)}
    selected = [
        event
        for event in events
        if event.access_key_id in keys
        and (since is None or event.event_time >= since)
        and (until is None or event.event_time <= until)
    ]
    return deduplicate(selected), derived


def _follow_derived(
    access_key_id: str, evidence: _Evidence, fetch: Callable[[Sequence[str]], None]
) -> None:
    """Fetch the events of each key the key obtained, then of the keys those obtained."""
    followed: set[str] = set()
    for _ in range(MAX_DERIVED_ROUNDS):
        new_keys = [
            credential.access_key_id
            for credential in derived_credentials(evidence.events, access_key_id)
            if credential.access_key_id not in followed
        ]
        if not new_keys:
            return
        followed.update(new_keys)
        fetch(new_keys)


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


def _duplicate_gaps(pairs: Sequence[tuple[TrailEvent, TrailEvent]]) -> list[EvidenceGap]:
    """Name each record dropped as a copy although its time differs from the copy kept."""
    return [
        EvidenceGap(
            DUPLICATE_EVENTS,
            f"event {kept.ref} ({kept.event_name}) is in two records with different times, "
            f"{format_timestamp(kept.event_time)} and {format_timestamp(dropped.event_time)}; "
            "only the earlier one is analysed",
            region=kept.aws_region,
        )
        for kept, dropped in pairs
    ]


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
                _rates(region.bounce_rate, region.aws_bounce_rate),
                _rates(region.complaint_rate, region.aws_complaint_rate),
                describe_account(region.account) if region.account else "-",
                "none" if region.baseline is None else f"{region.baseline:g}",
                ", ".join(flag.kind for flag in region.flags) or "-",
                # From the first flagged point's start to the last one's end, as in the report.
                f"{format_timestamp(window[0])} to "
                f"{format_timestamp(window[1] + DATA_POINT_INTERVAL)}"
                if window
                else "-",
            )
        )
    return Table(
        title="SES sending (GetSendStatistics, GetAccount, CloudWatch; last two weeks)",
        columns=(
            "Region",
            "Attempts",
            "Bounces (AWS's rate)",
            "Complaints (AWS's rate)",
            "SES account",
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
    if investigation.trail_bucket is not None:
        bucket = investigation.trail_bucket
        lines.append(
            f"Trail logs read from {bucket.location}: {bucket.objects_read} of "
            f"{bucket.objects_listed} log file(s) delivered from "
            f"{format_timestamp(bucket.since)} to {format_timestamp(bucket.until)}"
        )
    if investigation.derived_credentials:
        lines.append("Keys it obtained, whose events are included:")
        lines.extend(
            f"  - {key.access_key_id}, {key.describe()}"
            for key in investigation.derived_credentials
        )

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


def _events_line(investigation: Investigation) -> str:
    events = investigation.events
    if not events:
        return "Events: none found"
    regions = sorted({event.aws_region for event in events if event.aws_region})
    first, last = format_timestamp(events[0].event_time), format_timestamp(events[-1].event_time)
    return f"Events: {len(events)} from {first} to {last} in {', '.join(regions) or 'no region'}"


def _sending_line(region: RegionSending) -> str:
    flags = "; ".join(flag.description for flag in region.flags) or "nothing flagged"
    account = f" (SES account: {describe_account(region.account)})" if region.account else ""
    return (
        f"{region.region}{account}: {region.delivery_attempts} delivery attempts, "
        f"bounces {_rates(region.bounce_rate, region.aws_bounce_rate)}, "
        f"complaints {_rates(region.complaint_rate, region.aws_complaint_rate)}: {flags}"
    )


def _rates(statistics_rate: float | None, aws_rate: float | None) -> str:
    """Show the statistics' rate, and AWS's own Reputation rate beside it when CloudWatch has it."""
    shown = _percent(statistics_rate)
    return shown if aws_rate is None else f"{shown} (AWS {aws_rate:.2%})"


def _gap_line(gap: EvidenceGap) -> str:
    where = f" in {gap.region}" if gap.region else ""
    return f"{gap.source}{where}: {gap.reason}"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def _timestamp(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None
