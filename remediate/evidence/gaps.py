"""Evidence gaps: what could not be collected, and what the sources never record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from remediate.core.errors import AwsCallError

# Source names, written to the journal and shown in the report's gaps section.
LOOKUP_EVENTS = "cloudtrail:LookupEvents"
TRAIL_FILES = "cloudtrail:trail-files"
TRAIL_BUCKET = "cloudtrail:trail-bucket"
SEND_STATISTICS = "ses:GetSendStatistics"
SEND_QUOTA = "ses:GetSendQuota"
SES_ACCOUNT = "sesv2:GetAccount"
SES_METRICS = "cloudwatch:GetMetricData"
SMTP_SENDING = "ses:SMTP"
DATA_EVENTS = "cloudtrail:data-events"
DUPLICATE_EVENTS = "cloudtrail:duplicate-event-ids"

# The maximum length of a reason, because a failing endpoint may return a whole HTML page.
MAX_REASON_LENGTH = 300


@dataclass(frozen=True)
class EvidenceGap:
    """Evidence that is missing. `standing` marks facts of the sources, true in every incident."""

    source: str
    reason: str
    region: str | None = None
    standing: bool = False

    def to_record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "region": self.region,
            "reason": self.reason,
            "standing": self.standing,
        }


def standing_gaps(*, lookup_events: bool) -> list[EvidenceGap]:
    """Return the gaps that hold whatever the run found, so no report reads as complete.

    `lookup_events` adds the 90-day limit of LookupEvents, which matters only
    when that source was used.
    """
    gaps = [
        EvidenceGap(
            SMTP_SENDING,
            "Mail sent through the SES SMTP interface is never logged in CloudTrail; "
            "only the SES sending statistics show its volume.",
            standing=True,
        ),
        EvidenceGap(
            DATA_EVENTS,
            "SES API sends (SendEmail, SendRawEmail) are CloudTrail data events: LookupEvents "
            "never returns them, and trail logs hold them only if the trail records SES data "
            "events.",
            standing=True,
        ),
    ]
    if lookup_events:
        gaps.append(
            EvidenceGap(
                LOOKUP_EVENTS,
                "LookupEvents returns management events of the last 90 days only; older "
                "activity is only in the trail's logs in S3.",
                standing=True,
            )
        )
    return gaps


def shorten_reason(text: str) -> str:
    """Collapse whitespace and cut the reason to MAX_REASON_LENGTH characters."""
    text = " ".join(text.split())
    if len(text) <= MAX_REASON_LENGTH:
        return text
    return text[: MAX_REASON_LENGTH - 1] + "…"


# Error codes that an opt-in region returns when it is not enabled for the account.
REGION_NOT_ENABLED_CODES = frozenset({"UnrecognizedClientException", "InvalidClientTokenId"})


def describe_failure(error: AwsCallError) -> str:
    """Return the reason a failed call becomes, short enough for a gap and a report line."""
    if error.code and error.code.isdigit():
        # No AWS error code, only an HTTP status: the endpoint does not speak this API.
        return (
            f"{error.service} {error.operation} failed: the endpoint answered HTTP {error.code} "
            f"with no AWS error code, as an endpoint that does not implement "
            f"{error.operation} does (a plain moto server, for one)."
        )
    reason = shorten_reason(error.message)
    if error.code in REGION_NOT_ENABLED_CODES:
        reason = f"{reason} The region may not be enabled for this account."
    return reason
