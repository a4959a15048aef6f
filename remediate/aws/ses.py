"""SES (API version 1): sending statistics and quota, per region."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.aws.base import ClientFactory, aws_call
from remediate.aws.regions import ses_regions


@dataclass(frozen=True)
class SendDataPoint:
    """One 15-minute bucket of GetSendStatistics."""

    timestamp: datetime
    delivery_attempts: int
    bounces: int
    complaints: int
    rejects: int


@dataclass(frozen=True)
class SendQuota:
    max_24_hour_send: float
    max_send_rate: float
    sent_last_24_hours: float


class SesGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def _ses(self, region: str) -> Any:
        return self._clients.client("ses", region)

    def get_send_statistics(self, region: str) -> list[SendDataPoint]:
        """Return the last two weeks of data points, oldest first (the API does not sort them)."""
        with aws_call("ses", "GetSendStatistics", region):
            response = self._ses(region).get_send_statistics()
        points = [
            SendDataPoint(
                timestamp=item["Timestamp"],
                delivery_attempts=int(item.get("DeliveryAttempts", 0)),
                bounces=int(item.get("Bounces", 0)),
                complaints=int(item.get("Complaints", 0)),
                rejects=int(item.get("Rejects", 0)),
            )
            for item in response.get("SendDataPoints", [])
        ]
        return sorted(points, key=lambda point: point.timestamp)

    def get_send_quota(self, region: str) -> SendQuota:
        with aws_call("ses", "GetSendQuota", region):
            response = self._ses(region).get_send_quota()
        return SendQuota(
            max_24_hour_send=float(response.get("Max24HourSend", 0.0)),
            max_send_rate=float(response.get("MaxSendRate", 0.0)),
            sent_last_24_hours=float(response.get("SentLast24Hours", 0.0)),
        )

    def available_regions(self) -> list[str]:
        """Return the SES regions of the table in aws/data that are in the session's partition.

        GovCloud regions accept only GovCloud credentials and the other way round,
        so the session's own partition decides which regions are worth a call.
        """
        session = self._clients.session
        partition = session.get_partition_for_region(self._clients.default_region)
        return [
            region
            for region in ses_regions()
            if session.get_partition_for_region(region) == partition
        ]
