"""UTC timestamps: parsing what AWS and CloudTrail write, and formatting what we write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(value: str | datetime) -> datetime:
    """Parse an ISO 8601 timestamp, with or without fractional seconds, into an aware UTC time.

    CloudTrail writes `2015-08-01T02:10:31Z`; LookupEvents, boto3 and our own
    journal may add milliseconds or an explicit offset. A naive value is taken as UTC.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format as `2026-12-04T19:52:01Z`, or with milliseconds when the time has them."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
