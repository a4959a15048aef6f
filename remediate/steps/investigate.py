"""The investigate step: what the key did, per region, and a verdict with its evidence.

Read-only: LookupEvents for the key in every region and the SES sending
statistics and quota of each region. Nothing in the account changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from remediate.core.errors import UsageError
from remediate.core.records import RecordType
from remediate.core.timeutil import format_timestamp
from remediate.evidence.gaps import LOOKUP_EVENTS
from remediate.evidence.investigation import (
    Investigation,
    findings_table,
    investigate_account,
    sending_table,
)
from remediate.evidence.lookup import lookup_regions
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
            },
        )

    def _regions(self, ctx: StepContext) -> tuple[str, ...]:
        chosen: Sequence[str] = ctx.regions or self._strings("regions")
        if not chosen:
            chosen = ctx.aws.ses.available_regions()
        return lookup_regions(chosen)

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
    for region, events in by_region.items():
        ctx.record(RecordType.EVENTS, source=LOOKUP_EVENTS, region=region, events=events)

    for sending in investigation.sending:
        ctx.record(RecordType.SENDING, **sending.to_record())
    for finding in investigation.findings:
        ctx.record(RecordType.FINDING, **finding.to_record())
    for gap in investigation.gaps:
        ctx.record_gap(gap.source, gap.reason, region=gap.region, standing=gap.standing)
    ctx.record(RecordType.VERDICT, **investigation.verdict.to_record())


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
    if investigation.session_key_ids:
        console.info(
            "Events of temporary keys the key obtained are included: "
            + ", ".join(investigation.session_key_ids)
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
