"""CloudWatch AWS/SES metrics of one region: sends, bounces, complaints and AWS's reputation rates.

Reputation.BounceRate and Reputation.ComplaintRate are the rates AWS itself
computes for the account in the region, and its review looks at those. The
rates computed from GetSendStatistics are remediate's own. A metric with no data
point in the window is recorded as missing, not as a failure, because the call
succeeded: CloudWatch has no data of it, as for the Send metric of a region that
sent no mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from remediate.aws.cloudwatch import CloudWatchGateway, MetricQuery, MetricSeries
from remediate.core.timeutil import format_timestamp, parse_timestamp

SES_NAMESPACE = "AWS/SES"
SEND = "Send"
BOUNCE = "Bounce"
COMPLAINT = "Complaint"
BOUNCE_RATE = "Reputation.BounceRate"
COMPLAINT_RATE = "Reputation.ComplaintRate"
# Counts are summed per hour. A rate is a level, so the hour keeps its highest value.
SES_QUERIES = (
    MetricQuery(SEND, "Sum"),
    MetricQuery(BOUNCE, "Sum"),
    MetricQuery(COMPLAINT, "Sum"),
    MetricQuery(BOUNCE_RATE, "Maximum"),
    MetricQuery(COMPLAINT_RATE, "Maximum"),
)
METRICS_PERIOD = timedelta(hours=1)
# The same two weeks that GetSendStatistics covers.
METRICS_WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class SesMetrics:
    """The region's AWS/SES series over [start, end], hourly, keyed by metric name."""

    start: datetime
    end: datetime
    period: timedelta
    series: Mapping[str, MetricSeries]

    @property
    def missing(self) -> tuple[str, ...]:
        """Metrics for which CloudWatch returned no data point in the window."""
        return tuple(name for name, series in self.series.items() if not series.points)

    def total(self, name: str) -> float | None:
        series = self.series.get(name)
        if series is None or not series.points:
            return None
        return sum(value for _, value in series.points)

    def latest(self, name: str) -> tuple[datetime, float] | None:
        series = self.series.get(name)
        return _utc(series.points[-1]) if series and series.points else None

    def peak(self, name: str) -> tuple[datetime, float] | None:
        series = self.series.get(name)
        if series is None or not series.points:
            return None
        return _utc(max(series.points, key=lambda point: point[1]))

    def points_at_or_above(self, name: str, level: float) -> tuple[datetime, ...]:
        series = self.series.get(name)
        points = series.points if series else ()
        return tuple(parse_timestamp(moment) for moment, value in points if value >= level)

    def to_record(self) -> dict[str, Any]:
        return {
            "namespace": SES_NAMESPACE,
            "start": format_timestamp(self.start),
            "end": format_timestamp(self.end),
            "period_seconds": int(self.period.total_seconds()),
            "metrics": {name: self._series_record(series) for name, series in self.series.items()},
            "missing": list(self.missing),
            "missing_note": (
                "CloudWatch returned no data point of these metrics in the window. This is "
                "not an error: CloudWatch has no data of them, as when the region sent no mail."
                if self.missing
                else None
            ),
        }

    def _series_record(self, series: MetricSeries) -> dict[str, Any]:
        latest = self.latest(series.name)
        peak = self.peak(series.name)
        return {
            "statistic": series.statistic,
            "status": series.status,
            "total": self.total(series.name) if series.statistic == "Sum" else None,
            "latest": _point_record(latest),
            "peak": _point_record(peak),
            "points": [
                [format_timestamp(parse_timestamp(moment)), value]
                for moment, value in series.points
            ],
        }


def read_ses_metrics(gateway: CloudWatchGateway, region: str, *, now: datetime) -> SesMetrics:
    """Read two weeks of hourly AWS/SES metrics, raising AwsCallError when CloudWatch fails."""
    # Whole hours, aligned with the one-hour period, up to the end of the current hour.
    end = parse_timestamp(now).replace(minute=0, second=0, microsecond=0) + METRICS_PERIOD
    start = end - METRICS_WINDOW
    series = gateway.get_metric_data(
        region,
        SES_NAMESPACE,
        SES_QUERIES,
        start=start,
        end=end,
        period_seconds=int(METRICS_PERIOD.total_seconds()),
    )
    return SesMetrics(start=start, end=end, period=METRICS_PERIOD, series=series)


def _utc(point: tuple[datetime, float]) -> tuple[datetime, float]:
    # boto3 gives the timestamps in the local time zone of the machine that parsed them.
    return parse_timestamp(point[0]), point[1]


def _point_record(point: tuple[datetime, float] | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {"timestamp": format_timestamp(point[0]), "value": point[1]}
