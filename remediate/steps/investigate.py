"""The investigate step: what the key did, per region, and a verdict with its evidence.

Read-only: LookupEvents for the key in every region, the trail's logs in S3
when the playbook names the bucket, and each region's SES sending statistics,
quota, sesv2 account state and CloudWatch AWS/SES metrics. Nothing in the
account changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from remediate.core.errors import UsageError
from remediate.core.records import RecordType
from remediate.core.timeutil import format_timestamp
from remediate.evidence.gaps import LOOKUP_EVENTS, TRAIL_BUCKET
from remediate.evidence.investigation import (
    Investigation,
    findings_table,
    investigate_account,
    sending_table,
)
from remediate.evidence.lookup import lookup_regions
from remediate.evidence.trail_bucket import (
    TrailBucketLocation,
    TrailBucketReader,
    parse_trail_bucket_url,
    trail_window,
)
from remediate.evidence.verdict import Verdict
from remediate.steps.base import Plan, PlannedCall, Step, StepContext, StepResult, StepStatus

# LookupEvents returns nothing older than 90 days.
MAX_LOOKBACK_DAYS = 90


class InvestigateStep(Step):
    kind = "investigate"
    defaults: ClassVar[Mapping[str, Any]] = {
        # Days of CloudTrail management events to read, at most 90.
        "lookback_days": 90,
        # Regions to read. When empty, --regions decides, or else every SES region.
        "regions": [],
        # Regions where the operator sends no mail, so that any sending there is flagged.
        "unused_regions": [],
        # Regions where the team itself asked for SES production access, so that the
        # pending review there is not reported as the attacker's.
        "production_access_requests": [],
        # The trail's logs in S3, as s3://BUCKET/PREFIX. When set, the events there
        # (for the same lookback_days) are merged with those of LookupEvents.
        "trail_bucket": None,
    }

    def plan(self, ctx: StepContext) -> Plan:
        regions = self._regions(ctx)
        since = self._since(ctx.now())
        where = f"{len(regions)} regions" if len(regions) != 1 else regions[0]
        scope = {"regions": list(regions)}
        return Plan(
            calls=[
                PlannedCall(
                    "cloudtrail",
                    "LookupEvents",
                    resource=ctx.access_key_id,
                    description=(
                        f"Read the management events made with {ctx.access_key_id} since "
                        f"{format_timestamp(since)} in {where}"
                    ),
                    mutating=False,
                    params={"AttributeKey": "AccessKeyId", "StartTime": since, **scope},
                ),
                PlannedCall(
                    "ses",
                    "GetSendStatistics",
                    resource=where,
                    description=f"Read two weeks of SES sending statistics in {where}",
                    mutating=False,
                    params=scope,
                ),
                PlannedCall(
                    "ses",
                    "GetSendQuota",
                    resource=where,
                    description=f"Read the SES sending quota in {where}",
                    mutating=False,
                    params=scope,
                ),
                PlannedCall(
                    "sesv2",
                    "GetAccount",
                    resource=where,
                    description=(
                        f"Read the SES account state (sandbox, review, enforcement) in {where}"
                    ),
                    mutating=False,
                    params=scope,
                ),
                PlannedCall(
                    "cloudwatch",
                    "GetMetricData",
                    resource=where,
                    description=f"Read two weeks of hourly AWS/SES metrics in {where}",
                    mutating=False,
                    params=scope,
                ),
                *self._bucket_calls(since),
            ],
            notes=[
                "CloudTrail never logs SMTP sends, and LookupEvents never returns SES API "
                "sends; the SES sending statistics are the only trace of mail sent."
            ],
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        now = ctx.now()
        regions = self._regions(ctx)
        ctx.console.heading(f"Investigating {ctx.access_key_id} in {len(regions)} regions")

        investigation = investigate_account(
            ctx.aws.cloudtrail,
            ctx.aws.ses,
            ctx.access_key_id,
            regions,
            now=now,
            since=self._since(now),
            unused_regions=frozenset(self._strings("unused_regions")),
            production_requests=frozenset(self._strings("production_access_requests")),
            sesv2=ctx.aws.sesv2,
            cloudwatch=ctx.aws.cloudwatch,
            trail_bucket=self._bucket_reader(ctx, now),
            sleep=ctx.sleep,
        )
        _journal(ctx, investigation)
        _show(ctx, investigation)

        failed = investigation.failed_gaps
        verdict = investigation.verdict.verdict
        summary = (
            f"verdict {verdict}: {len(investigation.findings)} finding(s) from "
            f"{len(investigation.events)} event(s) in {len(regions)} regions"
        )
        if failed:
            summary = f"{summary}; {len(failed)} source(s) could not be read"
        return StepResult(
            status=StepStatus.DEGRADED if failed else StepStatus.OK,
            summary=summary,
            outputs={
                "verdict": str(verdict),
                "finding_ids": [finding.id for finding in investigation.findings],
                "event_count": len(investigation.events),
                "regions": list(regions),
                "suspect_regions": list(investigation.suspect_regions),
                "sending_regions": [
                    sending.region for sending in investigation.sending if sending.delivery_attempts
                ],
                "session_access_key_ids": list(investigation.session_key_ids),
                "derived_credentials": [
                    credential.to_record() for credential in investigation.derived_credentials
                ],
                "trail_bucket": (
                    investigation.trail_bucket.to_record() if investigation.trail_bucket else None
                ),
            },
        )

    def _regions(self, ctx: StepContext) -> tuple[str, ...]:
        chosen: Sequence[str] = ctx.regions or self._strings("regions")
        if not chosen:
            chosen = ctx.aws.ses.available_regions()
        return lookup_regions(chosen)

    def _bucket(self) -> TrailBucketLocation | None:
        value = self.params.get("trail_bucket")
        if value is None:
            return None
        fix = "Set it to the trail's s3://BUCKET/PREFIX in the playbook and run again."
        if not isinstance(value, str):
            raise UsageError(f"The investigate step's trail_bucket is invalid: {value!r}. {fix}")
        try:
            return parse_trail_bucket_url(value)
        except ValueError as error:
            raise UsageError(
                f"The investigate step's trail_bucket is invalid: {error} {fix}"
            ) from None

    def _bucket_calls(self, since: datetime) -> list[PlannedCall]:
        location = self._bucket()
        if location is None:
            return []
        window = f"the days since {format_timestamp(since)}"
        return [
            PlannedCall(
                "s3",
                "ListObjectsV2",
                resource=location.url,
                description=f"List the trail's account, region and day folders for {window}",
                mutating=False,
            ),
            PlannedCall(
                "s3",
                "GetObject",
                resource=location.url,
                description=f"Read the trail's log files of {window}",
                mutating=False,
            ),
        ]

    def _bucket_reader(self, ctx: StepContext, now: datetime) -> TrailBucketReader | None:
        location = self._bucket()
        if location is None:
            return None
        since, until = trail_window(now, self._since(now))
        # Only the key's account is read when identify has run, because an
        # organization trail contains the logs of every account of the organization.
        account = ctx.output_of("identify").get("account")
        chosen = ctx.regions or self._strings("regions")
        return TrailBucketReader(
            ctx.aws.s3,
            location,
            since=since,
            until=until,
            account_ids=[account] if isinstance(account, str) else [],
            regions=lookup_regions(chosen) if chosen else [],
        )

    def _since(self, now: datetime) -> datetime:
        days = self.params.get("lookback_days")
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise UsageError(
                f"The investigate step's lookback_days is {days!r}; it must be a whole number "
                f"of days from 1 to {MAX_LOOKBACK_DAYS}. Fix the playbook and run again."
            )
        return now - timedelta(days=min(days, MAX_LOOKBACK_DAYS))

    def _strings(self, name: str) -> list[str]:
        value = self.params.get(name) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise UsageError(
                f"The investigate step's {name} is {value!r}; it must be a list of region names "
                "such as [us-east-1, eu-west-1]. Fix the playbook and run again."
            )
        return value


def _journal(ctx: StepContext, investigation: Investigation) -> None:
    by_region: dict[str | None, list[dict[str, Any]]] = {
        region: [] for region in investigation.regions
    }
    for event in investigation.events:
        by_region.setdefault(event.aws_region, []).append(event.to_record())
    source = LOOKUP_EVENTS
    if investigation.trail_bucket is not None:
        source = f"{LOOKUP_EVENTS}, {TRAIL_BUCKET}"
    for region, events in by_region.items():
        ctx.record(RecordType.EVENTS, source=source, region=region, events=events)

    if investigation.trail_bucket is not None:
        ctx.record(
            RecordType.NOTE,
            text=f"Trail logs read from {investigation.trail_bucket.location}.",
            source=TRAIL_BUCKET,
            **investigation.trail_bucket.to_record(),
            unreadable=[issue.to_record() for issue in investigation.unreadable_files],
            skipped=[issue.to_record() for issue in investigation.skipped_files],
            partly_read=[issue.to_record() for issue in investigation.partly_read_files],
        )

    for sending in investigation.sending:
        ctx.record(RecordType.SENDING, **sending.to_record())
    for finding in investigation.findings:
        ctx.record(RecordType.FINDING, **finding.to_record())
    for gap in investigation.gaps:
        ctx.record_gap(gap.source, gap.reason, region=gap.region, standing=gap.standing)
    ctx.record(RecordType.VERDICT, **investigation.verdict.to_record())
    _keep_evidence(ctx, investigation)


def _keep_evidence(ctx: StepContext, investigation: Investigation) -> None:
    """Keep what the verdict rests on in the evidence bundle, as it was received."""
    ctx.write_evidence(
        "cloudtrail-events",
        {"Records": [event.redacted_raw() for event in investigation.events]},
    )
    ctx.write_evidence("ses-sending", [sending.to_record() for sending in investigation.sending])
    ctx.write_evidence(
        "findings",
        {
            "verdict": investigation.verdict.to_record(),
            "findings": [finding.to_record() for finding in investigation.findings],
            "gaps": [gap.to_record() for gap in investigation.gaps],
        },
    )


def _show(ctx: StepContext, investigation: Investigation) -> None:
    console = ctx.console
    events = investigation.events
    if events:
        first, last = events[0].event_time, events[-1].event_time
        console.info(
            f"{len(events)} CloudTrail events from {format_timestamp(first)} "
            f"to {format_timestamp(last)}."
        )
    else:
        console.info("No CloudTrail management events were found for the key.")
    if investigation.trail_bucket is not None:
        bucket = investigation.trail_bucket
        console.info(
            f"Read {bucket.objects_read} of {bucket.objects_listed} trail log file(s) from "
            f"{bucket.location}."
        )
    for credential in investigation.derived_credentials:
        console.warning(
            f"The key obtained {credential.access_key_id}, {credential.describe()}; "
            "its events are included."
        )
    if investigation.findings:
        console.table(findings_table(investigation))
    quiet = investigation.quiet_regions
    if len(quiet) < len(investigation.sending):
        console.table(sending_table(investigation))
    if quiet:
        console.info(
            f"SES statistics show no mail sent in {len(quiet)} region(s): {', '.join(quiet)}."
        )
    for gap in investigation.failed_gaps:
        where = f" in {gap.region}" if gap.region else ""
        console.warning(f"Not read: {gap.source}{where}: {gap.reason}")

    verdict = investigation.verdict
    text = f"Verdict: {verdict.verdict}"
    if verdict.verdict == Verdict.COMPROMISED:
        console.error(f"{text} ({', '.join(verdict.finding_ids)})")
    elif verdict.verdict == Verdict.SUSPICIOUS:
        console.warning(f"{text} ({', '.join(verdict.finding_ids)})")
    else:
        suffix = "; the evidence behind it is incomplete:" if verdict.limited_by_gaps else ""
        console.info(f"{text}{suffix}")
        for reason in verdict.reasons:
            console.info(reason)
