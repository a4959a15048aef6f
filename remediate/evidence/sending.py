"""SES sending statistics per region: totals, rates, a baseline, and what is unusual.

GetSendStatistics is the only record of mail sent through SMTP, which
CloudTrail never logs. It returns the last two weeks in 15-minute data points,
and only the intervals in which something was sent.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.aws.ses import SendDataPoint, SendQuota, SesGateway
from remediate.core.errors import AwsCallError
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.evidence.gaps import SEND_QUOTA, SEND_STATISTICS, EvidenceGap, describe_failure
from remediate.evidence.indicators import (
    Finding,
    IndicatorInfo,
    SendingIndicators,
    SendingThresholds,
    default_catalogue,
    sort_findings,
)

FLAG_SPIKE = "spike"
FLAG_NEW_REGION = "new-region"
FLAG_UNUSED_REGION = "unused-region"
FLAG_BOUNCE_RATE = "bounce-rate"
FLAG_COMPLAINT_RATE = "complaint-rate"
VOLUME_FLAGS = frozenset({FLAG_SPIKE, FLAG_NEW_REGION, FLAG_UNUSED_REGION})

MAX_WORKERS = 4


@dataclass(frozen=True)
class SendingFlag:
    """An unusual pattern in a region's statistics, and the data points behind it."""

    kind: str
    description: str
    timestamps: tuple[datetime, ...]

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
    """One region's sending: its data points (oldest first), quota, baseline and flags."""

    region: str
    points: tuple[SendDataPoint, ...]
    quota: SendQuota | None
    baseline: float | None
    flags: tuple[SendingFlag, ...]

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
) -> RegionSending:
    """Compute the region's baseline and flags.

    `unused` means the operator says the region sends no mail of theirs.
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
    flags.extend(_reputation_flags(ordered, thresholds))

    return RegionSending(region, ordered, quota, baseline, tuple(flags))


def sending_findings(
    regions: Iterable[RegionSending], indicators: SendingIndicators | None = None
) -> list[Finding]:
    """Turn the regions' flags into findings, one per indicator, naming the data points."""
    indicators = indicators or default_catalogue().sending
    by_flag: dict[str, IndicatorInfo] = {
        FLAG_SPIKE: indicators.spike,
        FLAG_NEW_REGION: indicators.new_region,
        FLAG_UNUSED_REGION: indicators.unused_region,
        FLAG_BOUNCE_RATE: indicators.reputation,
        FLAG_COMPLAINT_RATE: indicators.reputation,
    }
    grouped: dict[str, list[tuple[RegionSending, SendingFlag]]] = {}
    for region in regions:
        for flag in region.flags:
            grouped.setdefault(by_flag[flag.kind].id, []).append((region, flag))

    findings = []
    for info in {info.id: info for info in by_flag.values()}.values():
        flagged = grouped.get(info.id)
        if flagged:
            findings.append(_finding(info, flagged))
    return sort_findings(findings)


def collect_sending(
    gateway: SesGateway,
    regions: Iterable[str],
    *,
    now: datetime,
    unused_regions: Collection[str] = (),
    thresholds: SendingThresholds | None = None,
    max_workers: int = MAX_WORKERS,
) -> SendingResult:
    """Read statistics and quota in every region. A region that fails becomes a gap."""
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
        analysis = analyse_region(
            region, points, quota, now=now, thresholds=limits, unused=region in unused_regions
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
    points: Sequence[SendDataPoint], thresholds: SendingThresholds
) -> list[SendingFlag]:
    attempts = _total(points)
    if attempts < thresholds.reputation_min_attempts:
        return []
    flags = []
    bounces = sum(point.bounces for point in points)
    complaints = sum(point.complaints for point in points)
    checks = [
        (FLAG_BOUNCE_RATE, "bounce", bounces, thresholds.bounce_rate),
        (FLAG_COMPLAINT_RATE, "complaint", complaints, thresholds.complaint_rate),
    ]
    for kind, name, count, review_rate in checks:
        rate = count / attempts
        if rate >= thresholds.near_fraction * review_rate:
            involved = [
                point
                for point in points
                if (point.bounces if kind == FLAG_BOUNCE_RATE else point.complaints) > 0
            ]
            flags.append(
                SendingFlag(
                    kind,
                    f"{name} rate {rate:.2%} over {attempts} delivery attempts; AWS reviews "
                    f"an account at {review_rate:.1%}",
                    _moments(involved),
                )
            )
    return flags


def _finding(info: IndicatorInfo, flagged: list[tuple[RegionSending, SendingFlag]]) -> Finding:
    references = [
        point_reference(region.region, moment)
        for region, flag in flagged
        for moment in flag.timestamps
    ]
    moments = sorted(moment for _, flag in flagged for moment in flag.timestamps)
    summary = " ".join(f"{region.region}: {flag.description}." for region, flag in flagged)
    return info.finding(
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
