"""CloudWatch GetMetricData: the series of several metrics of one namespace, in one region."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.aws.base import ClientFactory, aws_call


@dataclass(frozen=True)
class MetricQuery:
    """A metric of the namespace, with no dimensions, and the statistic to read per period."""

    name: str
    statistic: str


@dataclass(frozen=True)
class MetricSeries:
    """A metric's values, oldest first. No points means CloudWatch has no data in the window.

    `status` is GetMetricData's StatusCode: Complete, or PartialData when
    CloudWatch did not return every point.
    """

    name: str
    statistic: str
    points: tuple[tuple[datetime, float], ...]
    status: str


class CloudWatchGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def get_metric_data(
        self,
        region: str,
        namespace: str,
        queries: Sequence[MetricQuery],
        *,
        start: datetime,
        end: datetime,
        period_seconds: int,
    ) -> dict[str, MetricSeries]:
        """Read every page of GetMetricData and return one series per metric name."""
        ids = {f"m{number}": query for number, query in enumerate(queries)}
        arguments: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": query_id,
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": query.name},
                        "Period": period_seconds,
                        "Stat": query.statistic,
                    },
                    "ReturnData": True,
                }
                for query_id, query in ids.items()
            ],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        points: dict[str, list[tuple[datetime, float]]] = {query_id: [] for query_id in ids}
        statuses: dict[str, str] = {}
        paginator = self._clients.client("cloudwatch", region).get_paginator("get_metric_data")
        with aws_call("cloudwatch", "GetMetricData", f"{namespace} in {region}"):
            for page in paginator.paginate(**arguments):
                for result in page.get("MetricDataResults", []):
                    query_id = str(result.get("Id"))
                    if query_id not in points:
                        continue
                    pairs = zip(
                        result.get("Timestamps", []), result.get("Values", []), strict=False
                    )
                    points[query_id].extend((moment, float(value)) for moment, value in pairs)
                    # A series split over pages is partial if any page reports PartialData.
                    if statuses.get(query_id) != "PartialData":
                        statuses[query_id] = str(result.get("StatusCode", "Complete"))
        return {
            query.name: MetricSeries(
                name=query.name,
                statistic=query.statistic,
                points=tuple(sorted(points[query_id], key=lambda point: point[0])),
                status=statuses.get(query_id, "Complete"),
            )
            for query_id, query in ids.items()
        }
