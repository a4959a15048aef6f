"""SES sending per region: statistics, account state, AWS's own metrics, and what is unusual.

GetSendStatistics and the CloudWatch AWS/SES metrics are the only record of mail
sent through SMTP, which CloudTrail never logs. GetSendStatistics returns the
last two weeks in 15-minute data points, and only the intervals in which
something was sent. sesv2 GetAccount adds the region's sandbox, review and
enforcement status.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from remediate.aws.cloudwatch import CloudWatchGateway
from remediate.aws.ses import SendDataPoint, SendQuota, SesGateway
from remediate.aws.sesv2 import SesAccount, Sesv2Gateway
from remediate.core.errors import AwsCallError
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.evidence.events import TrailEvent
from remediate.evidence.gaps import (
    SEND_QUOTA,
    SEND_STATISTICS,
    SES_ACCOUNT,
    SES_METRICS,
    EvidenceGap,
    describe_failure,
)
from remediate.evidence.indicators import (
    Finding,
    IndicatorInfo,
    SendingIndicators,
    SendingThresholds,
    Severity,
    default_catalogue,
    sort_findings,
)
from remediate.evidence.ses_account import (
    ACCOUNT_FLAGS,
    FLAG_ENFORCEMENT,
    FLAG_PRODUCTION_UNUSED,
    FLAG_REVIEW_PENDING,
    account_concerns,
    account_record,
    production_request_events,
)
from remediate.evidence.ses_metrics import (
    BOUNCE_RATE,
    COMPLAINT_RATE,
    SesMetrics,
    read_ses_metrics,
)

FLAG_SPIKE = "spike"
FLAG_NEW_REGION = "new-region"
FLAG_UNUSED_REGION = "unused-region"
FLAG_BOUNCE_RATE = "bounce-rate"
FLAG_COMPLAINT_RATE = "complaint-rate"
VOLUME_FLAGS = frozenset({FLAG_SPIKE, FLAG_NEW_REGION, FLAG_UNUSED_REGION})
# Flags on production access, whose findings name the key's PutAccountDetails calls.
PRODUCTION_FLAGS = frozenset({FLAG_REVIEW_PENDING, FLAG_PRODUCTION_UNUSED})

MAX_WORKERS = 4
# GetSendStatistics gives one data point per 15 minutes; a point's time is its start.
DATA_POINT_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True)
class SendingFlag:
    """An unusual pattern in a region's statistics, and the data points behind it."""

    kind: str
    description: str
    timestamps: tuple[datetime, ...]
    # Raises the finding's severity above the indicator's own (a rate past AWS's review level).
    severity: Severity | None = None

    def to_record(self) -> dict[str, Any]:
        moments = sorted(self.timestamps)
        return {
            "kind": self.kind,
            "description": self.description,
            "start": format_timestamp(moments[0]) if moments else None,
            "end": format_timestamp(moments[-1]) if moments else None,
            "timestamps": [format_timestamp(moment) for moment in moments],
        }


@dataclass(frozen=True)
class RegionSending:
    """One region's sending: data points (oldest first), quota, baseline, flags and more.

    `account` is the region's sesv2 GetAccount, and `metrics` its CloudWatch
    AWS/SES series; each is None when it was not read.
    """

    region: str
    points: tuple[SendDataPoint, ...]
    quota: SendQuota | None
    baseline: float | None
    flags: tuple[SendingFlag, ...]
    account: SesAccount | None = None
    metrics: SesMetrics | None = None

    @property
    def delivery_attempts(self) -> int:
        return sum(point.delivery_attempts for point in self.points)

    @property
    def bounces(self) -> int:
        return sum(point.bounces for point in self.points)

    @property
    def complaints(self) -> int:
        return sum(point.complaints for point in self.points)

    @property
    def rejects(self) -> int:
        return sum(point.rejects for point in self.points)

    @property
    def bounce_rate(self) -> float | None:
        return _rate(self.bounces, self.delivery_attempts)

    @property
    def complaint_rate(self) -> float | None:
        return _rate(self.complaints, self.delivery_attempts)

    @property
    def aws_bounce_rate(self) -> float | None:
        """The latest Reputation.BounceRate, the rate AWS itself reviews, or None."""
        latest = self.metrics.latest(BOUNCE_RATE) if self.metrics else None
        return latest[1] if latest else None

    @property
    def aws_complaint_rate(self) -> float | None:
        """The latest Reputation.ComplaintRate, the rate AWS itself reviews, or None."""
        latest = self.metrics.latest(COMPLAINT_RATE) if self.metrics else None
        return latest[1] if latest else None

    @property
    def suspect(self) -> bool:
        return bool(self.flags)

    @property
    def abuse_window(self) -> tuple[datetime, datetime] | None:
        """The first and the last data point flagged for its volume, or None.

        Bounce and complaint rates are measured over the whole two weeks, so
        their data points do not show when abuse began.
        """
        moments = sorted(
            moment for flag in self.flags if flag.kind in VOLUME_FLAGS for moment in flag.timestamps
        )
        return (moments[0], moments[-1]) if moments else None

    def to_record(self) -> dict[str, Any]:
        window = self.abuse_window
        return {
            "region": self.region,
            "points": [_point_record(point) for point in self.points],
            "quota": _quota_record(self.quota),
            "totals": {
                "delivery_attempts": self.delivery_attempts,
                "bounces": self.bounces,
                "complaints": self.complaints,
                "rejects": self.rejects,
                "bounce_rate": self.bounce_rate,
                "complaint_rate": self.complaint_rate,
            },
            # The latest rates from CloudWatch, next to the totals' rates from the statistics.
            "aws_reputation": {
                "bounce_rate": self.aws_bounce_rate,
                "complaint_rate": self.aws_complaint_rate,
            },
            "account": account_record(self.account) if self.account else None,
            "cloudwatch": self.metrics.to_record() if self.metrics else None,
            "baseline": self.baseline,
            "flags": [flag.to_record() for flag in self.flags],
            "abuse_window": (
                {"start": format_timestamp(window[0]), "end": format_timestamp(window[1])}
                if window
                else None
            ),
        }


@dataclass(frozen=True)
class SendingResult:
    regions: tuple[RegionSending, ...]
    gaps: tuple[EvidenceGap, ...]


def parse_send_statistics(response: dict[str, Any]) -> list[SendDataPoint]:
    """Read a GetSendStatistics response (as the API or `aws ses get-send-statistics` gives it)."""
    points = [
        SendDataPoint(
            timestamp=parse_timestamp(item["Timestamp"]),
            delivery_attempts=int(item.get("DeliveryAttempts", 0)),
            bounces=int(item.get("Bounces", 0)),
            complaints=int(item.get("Complaints", 0)),
            rejects=int(item.get("Rejects", 0)),
        )
        for item in response.get("SendDataPoints", [])
    ]
    return sorted(points, key=lambda point: point.timestamp)


def analyse_region(
    region: str,
    points: Iterable[SendDataPoint],
    quota: SendQuota | None,
    *,
    now: datetime,
    thresholds: SendingThresholds,
    unused: bool = False,
    account: SesAccount | None = None,
    metrics: SesMetrics | None = None,
    production_requested: bool = False,
) -> RegionSending:
    """Compute the region's baseline and flags.

    `unused` means the operator says the region sends no mail of theirs, and
    `production_requested` that the team itself asked for production access there.
    """
    ordered = tuple(sorted((_utc_point(point) for point in points), key=lambda p: p.timestamp))
    sending = [point for point in ordered if point.delivery_attempts > 0]
    flags: list[SendingFlag] = []

    if unused and sending:
        flags.append(
            SendingFlag(
                FLAG_UNUSED_REGION,
                f"{_total(sending)} delivery attempts in a region the operator says is unused",
                _moments(sending),
            )
        )
    new_region = bool(sending) and ordered[0].timestamp >= now - thresholds.new_region_recent
    if new_region:
        hours = thresholds.new_region_recent.total_seconds() / 3600
        flags.append(
            SendingFlag(
                FLAG_NEW_REGION,
                f"all {_total(sending)} delivery attempts fall in the last {hours:g} hours, "
                "with no earlier sending to compare them with",
                _moments(sending),
            )
        )
    baseline = None if new_region else _baseline(ordered, thresholds)
    if baseline is not None:
        flags.extend(_spike_flags(ordered, baseline, thresholds))
    flags.extend(_reputation_flags(ordered, thresholds, metrics))
    if account is not None:
        flags.extend(
            SendingFlag(concern.kind, concern.description, ())
            for concern in account_concerns(account, unused=unused, requested=production_requested)
        )

    return RegionSending(region, ordered, quota, baseline, tuple(flags), account, metrics)


def sending_findings(
    regions: Iterable[RegionSending],
    indicators: SendingIndicators | None = None,
    events: Sequence[TrailEvent] = (),
) -> list[Finding]:
    """Turn the regions' flags into findings, one per indicator, naming the data points.

    `events` are the key's events: a finding on a region's production access
    names the key's PutAccountDetails calls in that region.
    """
    indicators = indicators or default_catalogue().sending
    by_flag: dict[str, IndicatorInfo] = {
        FLAG_SPIKE: indicators.spike,
        FLAG_NEW_REGION: indicators.new_region,
        FLAG_UNUSED_REGION: indicators.unused_region,
        FLAG_BOUNCE_RATE: indicators.reputation,
        FLAG_COMPLAINT_RATE: indicators.reputation,
        FLAG_REVIEW_PENDING: indicators.review_pending,
        FLAG_PRODUCTION_UNUSED: indicators.production_unused_region,
        FLAG_ENFORCEMENT: indicators.enforcement,
    }
    grouped: dict[str, list[tuple[RegionSending, SendingFlag]]] = {}
    for region in regions:
        for flag in region.flags:
            grouped.setdefault(by_flag[flag.kind].id, []).append((region, flag))

    findings = []
    for info in {info.id: info for info in by_flag.values()}.values():
        flagged = grouped.get(info.id)
        if flagged:
            findings.append(_finding(info, flagged, events))
    return sort_findings(findings)


def collect_sending(
    gateway: SesGateway,
    regions: Iterable[str],
    *,
    now: datetime,
    unused_regions: Collection[str] = (),
    thresholds: SendingThresholds | None = None,
    max_workers: int = MAX_WORKERS,
    sesv2: Sesv2Gateway | None = None,
    cloudwatch: CloudWatchGateway | None = None,
    production_requests: Collection[str] = (),
) -> SendingResult:
    """Read statistics and quota, and account state and metrics when given, in every region.

    Each call that fails becomes a gap. A region whose statistics cannot be read
    is left out, because without them its sending is unknown.
    `production_requests` are the regions where the team itself asked for
    production access.
    """
    limits = thresholds or default_catalogue().sending.thresholds
    targets = list(dict.fromkeys(regions))

    def read(region: str) -> tuple[RegionSending | None, list[EvidenceGap]]:
        gaps: list[EvidenceGap] = []
        try:
            points = gateway.get_send_statistics(region)
        except AwsCallError as error:
            return None, [EvidenceGap(SEND_STATISTICS, describe_failure(error), region=region)]
        quota: SendQuota | None = None
        try:
            quota = gateway.get_send_quota(region)
        except AwsCallError as error:
            gaps.append(EvidenceGap(SEND_QUOTA, describe_failure(error), region=region))
        account: SesAccount | None = None
        if sesv2 is not None:
            try:
                account = sesv2.get_account(region)
            except AwsCallError as error:
                gaps.append(EvidenceGap(SES_ACCOUNT, describe_failure(error), region=region))
        metrics: SesMetrics | None = None
        if cloudwatch is not None:
            try:
                metrics = read_ses_metrics(cloudwatch, region, now=now)
            except AwsCallError as error:
                gaps.append(EvidenceGap(SES_METRICS, describe_failure(error), region=region))
        analysis = analyse_region(
            region,
            points,
            quota,
            now=now,
            thresholds=limits,
            unused=region in unused_regions,
            account=account,
            metrics=metrics,
            production_requested=region in production_requests,
        )
        return analysis, gaps

    if not targets:
        return SendingResult((), ())
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(targets)))) as pool:
        outcomes = list(pool.map(read, targets))
    return SendingResult(
        regions=tuple(analysis for analysis, _ in outcomes if analysis is not None),
        gaps=tuple(gap for _, gaps in outcomes for gap in gaps),
    )


def point_reference(region: str, point: SendDataPoint | datetime) -> str:
    moment = point if isinstance(point, datetime) else point.timestamp
    return f"{region}@{format_timestamp(moment)}"


def _baseline(points: Sequence[SendDataPoint], thresholds: SendingThresholds) -> float | None:
    # NOTE: the median of the region's own points resists a short spike, but when
    # abuse fills most of the two weeks the median is the abuse and no spike shows.
    if len(points) < thresholds.min_baseline_points:
        return None
    return float(statistics.median(point.delivery_attempts for point in points))


def _spike_flags(
    points: Sequence[SendDataPoint], baseline: float, thresholds: SendingThresholds
) -> list[SendingFlag]:
    limit = max(thresholds.spike_factor * baseline, float(thresholds.spike_min_attempts))
    spikes = [point for point in points if point.delivery_attempts >= limit]
    if not spikes:
        return []
    peak = max(point.delivery_attempts for point in spikes)
    return [
        SendingFlag(
            FLAG_SPIKE,
            f"{len(spikes)} data points of {limit:g} or more delivery attempts (peak {peak}) "
            f"against a baseline of {baseline:g} per 15 minutes",
            _moments(spikes),
        )
    ]


def _reputation_flags(
    points: Sequence[SendDataPoint],
    thresholds: SendingThresholds,
    metrics: SesMetrics | None = None,
) -> list[SendingFlag]:
    """Flag a rate near AWS's review level, from the statistics or from AWS's own metric.

    The statistics' rate counts only from `reputation_min_attempts` delivery
    attempts on. AWS's Reputation metric counts at any volume, because AWS
    computes it over the volume it judges representative.
    """
    attempts = _total(points)
    bounces = sum(point.bounces for point in points)
    complaints = sum(point.complaints for point in points)
    checks = [
        (FLAG_BOUNCE_RATE, "bounce", bounces, thresholds.bounce_rate, BOUNCE_RATE),
        (FLAG_COMPLAINT_RATE, "complaint", complaints, thresholds.complaint_rate, COMPLAINT_RATE),
    ]
    flags = []
    for kind, name, count, review_rate, metric in checks:
        near = thresholds.near_fraction * review_rate
        reasons: list[str] = []
        moments: list[datetime] = []
        past_review = False
        if attempts >= thresholds.reputation_min_attempts and count / attempts >= near:
            past_review = count / attempts >= review_rate
            reasons.append(f"{name} rate {count / attempts:.2%} over {attempts} delivery attempts")
            moments.extend(
                point.timestamp
                for point in points
                if (point.bounces if kind == FLAG_BOUNCE_RATE else point.complaints) > 0
            )
        peak = metrics.peak(metric) if metrics else None
        if metrics is not None and peak is not None and peak[1] >= near:
            reasons.append(
                f"AWS's own {metric} reached {peak[1]:.2%} at {format_timestamp(peak[0])}"
            )
            moments.extend(metrics.points_at_or_above(metric, near))
            past_review = past_review or peak[1] >= review_rate
        if reasons:
            flags.append(
                SendingFlag(
                    kind,
                    f"{'; '.join(reasons)}; AWS reviews an account at {review_rate:.1%}",
                    tuple(sorted(set(moments))),
                    Severity.HIGH if past_review else None,
                )
            )
    return flags


def _finding(
    info: IndicatorInfo,
    flagged: list[tuple[RegionSending, SendingFlag]],
    events: Sequence[TrailEvent] = (),
) -> Finding:
    references = [
        point_reference(region.region, moment)
        for region, flag in flagged
        for moment in flag.timestamps
    ]
    # An account-state flag has no data point; the region's GetAccount is its evidence.
    references.extend(
        f"{region.region}@GetAccount" for region, flag in flagged if flag.kind in ACCOUNT_FLAGS
    )
    requests = [
        event
        for region, flag in flagged
        if flag.kind in PRODUCTION_FLAGS
        for event in production_request_events(events, region.region)
    ]
    moments = sorted(moment for _, flag in flagged for moment in flag.timestamps)
    summary = " ".join(f"{region.region}: {flag.description}." for region, flag in flagged)
    if requests:
        calls = ", ".join(
            f"{event.event_name} {event.ref} at {format_timestamp(event.event_time)} "
            f"in {event.aws_region}"
            for event in requests
        )
        summary = f"{summary} Requested with the key: {calls}."
    raised = [flag.severity for _, flag in flagged if flag.severity is not None]
    severity = max([info.severity, *raised], key=lambda level: level.rank)
    return info.finding(
        severity=severity,
        event_ids=tuple(dict.fromkeys(event.ref for event in requests)),
        data_points=tuple(dict.fromkeys(references)),
        summary=summary,
        regions=tuple(sorted({region.region for region, _ in flagged})),
        first_seen=moments[0] if moments else None,
        last_seen=moments[-1] if moments else None,
    )


def _utc_point(point: SendDataPoint) -> SendDataPoint:
    # boto3 gives the timestamps in the local time zone of the machine that parsed them.
    return dataclasses.replace(point, timestamp=parse_timestamp(point.timestamp))


def _moments(points: Iterable[SendDataPoint]) -> tuple[datetime, ...]:
    return tuple(point.timestamp for point in points)


def _total(points: Iterable[SendDataPoint]) -> int:
    return sum(point.delivery_attempts for point in points)


def _rate(count: int, attempts: int) -> float | None:
    return count / attempts if attempts else None


def _point_record(point: SendDataPoint) -> dict[str, Any]:
    return {
        "timestamp": format_timestamp(point.timestamp),
        "delivery_attempts": point.delivery_attempts,
        "bounces": point.bounces,
        "complaints": point.complaints,
        "rejects": point.rejects,
    }


def _quota_record(quota: SendQuota | None) -> dict[str, float] | None:
    if quota is None:
        return None
    return {
        "max_24_hour_send": quota.max_24_hour_send,
        "max_send_rate": quota.max_send_rate,
        "sent_last_24_hours": quota.sent_last_24_hours,
    }
