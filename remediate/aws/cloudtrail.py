"""CloudTrail LookupEvents: the management events made with one access key, in one region."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.aws.base import ClientFactory, aws_call

# The maximum number of events LookupEvents returns in one page.
LOOKUP_PAGE_SIZE = 50


@dataclass(frozen=True)
class LookupEventsPage:
    """One page of LookupEvents: raw items, and the token of the next page (None on the last)."""

    events: tuple[dict[str, Any], ...]
    next_token: str | None


class CloudTrailGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def lookup_events_by_access_key(
        self,
        region: str,
        access_key_id: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the raw LookupEvents items (50 a page), newest first as the API returns them.

        LookupEvents covers management events of the last 90 days only; SES API
        sends are data events and SMTP sends are never logged, so neither appears.
        """
        arguments = _lookup_arguments(access_key_id, start_time, end_time)
        client = self._clients.client("cloudtrail", region)
        with aws_call("cloudtrail", "LookupEvents", f"{access_key_id} in {region}"):
            for page in client.get_paginator("lookup_events").paginate(**arguments):
                yield from page.get("Events", [])

    def lookup_events_page(
        self,
        region: str,
        access_key_id: str,
        *,
        next_token: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> LookupEventsPage:
        """Make one LookupEvents request, so the caller can pace requests and retry throttling.

        LookupEvents allows 2 requests per second per account and region.
        """
        arguments = _lookup_arguments(access_key_id, start_time, end_time)
        arguments["MaxResults"] = LOOKUP_PAGE_SIZE
        if next_token is not None:
            arguments["NextToken"] = next_token
        client = self._clients.client("cloudtrail", region)
        with aws_call("cloudtrail", "LookupEvents", f"{access_key_id} in {region}"):
            response = client.lookup_events(**arguments)
        token = response.get("NextToken")
        return LookupEventsPage(
            events=tuple(response.get("Events", [])), next_token=str(token) if token else None
        )


def _lookup_arguments(
    access_key_id: str, start_time: datetime | None, end_time: datetime | None
) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}],
    }
    if start_time is not None:
        arguments["StartTime"] = start_time
    if end_time is not None:
        arguments["EndTime"] = end_time
    return arguments
