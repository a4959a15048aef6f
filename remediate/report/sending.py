"""SES sending per region, from the investigation's `evidence.sending` records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from remediate.core.records import RecordType
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.engine.journal import Record
from remediate.evidence.sending import DATA_POINT_INTERVAL
from remediate.report.records import text_or_none


@dataclass(frozen=True)
class SendingFlagView:
    kind: str
    description: str
    start: str | None
    end: str | None


@dataclass(frozen=True)
class AbuseWindow:
    """Data points flagged for volume: from the first one's start to the last one's end."""

    start: str
    end: str
    delivery_attempts: int


@dataclass(frozen=True)
class SesAccountView:
    """The region's sesv2 GetAccount: sandbox, review and enforcement status."""

    sending_enabled: bool | None
    production_access_enabled: bool | None
    enforcement_status: str | None
    review_status: str | None
    review_case_id: str | None
    mail_type: str | None
    website_url: str | None


@dataclass(frozen=True)
class SendQuotaView:
    max_24_hour_send: float | None
    max_send_rate: float | None
    sent_last_24_hours: float | None


@dataclass(frozen=True)
class SendingView:
    """One region's sending over the two weeks of statistics read at `read_at`.

    The rates computed from the statistics cover the whole two weeks. The
    `aws_` rates are CloudWatch's latest Reputation.BounceRate and
    Reputation.ComplaintRate, which AWS itself reviews, or None without data.
    """

    region: str
    read_at: str
    delivery_attempts: int
    bounces: int
    complaints: int
    rejects: int
    bounce_rate: float | None
    complaint_rate: float | None
    aws_bounce_rate: float | None
    aws_complaint_rate: float | None
    quota: SendQuotaView | None
    account: SesAccountView | None
    flags: list[SendingFlagView]
    abuse_window: AbuseWindow | None

    @property
    def quiet(self) -> bool:
        return not self.delivery_attempts and not self.flags


def sending_records(records: Sequence[Record]) -> list[Record]:
    """Keep the last `evidence.sending` record of each region, sorted by region.

    A resumed investigation reads the statistics again, and its records replace the older ones.
    """
    by_region: dict[str, Record] = {}
    for record in records:
        if record.type == RecordType.SENDING:
            by_region[str(record.get("region"))] = record
    return [by_region[region] for region in sorted(by_region)]


def build_sending(records: Sequence[Record]) -> list[SendingView]:
    return [_sending_view(record) for record in sending_records(records)]


def _sending_view(record: Record) -> SendingView:
    points = [point for point in record.get("points") or [] if isinstance(point, dict)]
    totals = record.get("totals") or {}
    reputation = record.get("aws_reputation") or {}
    delivery_attempts = sum(_count(point, "delivery_attempts") for point in points)
    bounces = sum(_count(point, "bounces") for point in points)
    complaints = sum(_count(point, "complaints") for point in points)
    return SendingView(
        region=str(record.get("region")),
        read_at=record.time,
        delivery_attempts=delivery_attempts,
        bounces=bounces,
        complaints=complaints,
        rejects=sum(_count(point, "rejects") for point in points),
        bounce_rate=_rate(totals.get("bounce_rate"), bounces, delivery_attempts),
        complaint_rate=_rate(totals.get("complaint_rate"), complaints, delivery_attempts),
        aws_bounce_rate=_number(reputation.get("bounce_rate")),
        aws_complaint_rate=_number(reputation.get("complaint_rate")),
        quota=_quota(record.get("quota")),
        account=_account(record.get("account")),
        flags=[_flag(flag) for flag in record.get("flags") or []],
        abuse_window=_abuse_window(record.get("abuse_window"), points),
    )


def _count(point: dict[str, Any], name: str) -> int:
    value = point.get(name)
    return int(value) if isinstance(value, (int, float)) else 0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _rate(recorded: Any, part: int, whole: int) -> float | None:
    """Return the rate the investigation recorded, or else the one the data points give."""
    rate = _number(recorded)
    if rate is not None:
        return rate
    return part / whole if whole else None


def _flag(flag: Any) -> SendingFlagView:
    if not isinstance(flag, dict):
        return SendingFlagView(kind="", description=str(flag), start=None, end=None)
    return SendingFlagView(
        kind=str(flag.get("kind") or ""),
        description=str(flag.get("description") or flag.get("kind") or ""),
        start=text_or_none(flag.get("start")),
        end=text_or_none(flag.get("end")),
    )


def _abuse_window(window: Any, points: Sequence[dict[str, Any]]) -> AbuseWindow | None:
    if not isinstance(window, dict) or not window.get("start") or not window.get("end"):
        return None
    start = parse_timestamp(str(window["start"]))
    last = parse_timestamp(str(window["end"]))
    inside = sum(
        _count(point, "delivery_attempts")
        for point in points
        if point.get("timestamp") and start <= parse_timestamp(str(point["timestamp"])) <= last
    )
    return AbuseWindow(
        start=format_timestamp(start),
        end=format_timestamp(last + DATA_POINT_INTERVAL),
        delivery_attempts=inside,
    )


def _quota(quota: Any) -> SendQuotaView | None:
    if not isinstance(quota, dict):
        return None
    return SendQuotaView(
        max_24_hour_send=_number(quota.get("max_24_hour_send")),
        max_send_rate=_number(quota.get("max_send_rate")),
        sent_last_24_hours=_number(quota.get("sent_last_24_hours")),
    )


def _account(account: Any) -> SesAccountView | None:
    if not isinstance(account, dict):
        return None
    return SesAccountView(
        sending_enabled=_flag_value(account.get("sending_enabled")),
        production_access_enabled=_flag_value(account.get("production_access_enabled")),
        enforcement_status=text_or_none(account.get("enforcement_status")),
        review_status=text_or_none(account.get("review_status")),
        review_case_id=text_or_none(account.get("review_case_id")),
        mail_type=text_or_none(account.get("mail_type")),
        website_url=text_or_none(account.get("website_url")),
    )


def _flag_value(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
