"""CloudTrail events and the findings that name them, from the investigation's records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from remediate.core.records import RecordType
from remediate.engine.journal import Record

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}

# Request parameters worth showing: what a call created, verified, attached or deleted.
DETAIL_PARAMETERS = (
    "emailAddress",
    "identity",
    "emailIdentity",
    "domain",
    "userName",
    "roleName",
    "policyArn",
    "policyName",
    "groupName",
    "websiteURL",
    "additionalContactEmailAddresses",
    "productionAccessEnabled",
)


@dataclass(frozen=True)
class EventView:
    event_id: str
    time: str
    name: str
    source: str
    region: str
    source_ip: str
    user_agent: str
    error_code: str
    details: str  # the request parameters that name what the call touched


@dataclass(frozen=True)
class FindingView:
    id: str
    severity: str
    title: str
    description: str
    source: str
    events: list[EventView]
    data_points: list[str]  # `region@time` of the sending data points behind the finding


def build_events(records: Sequence[Record]) -> list[EventView]:
    """Collect every CloudTrail event recorded, once each, oldest first."""
    seen: dict[str, EventView] = {}
    for record in records:
        if record.type == RecordType.EVENTS:
            for raw in record.get("events") or []:
                if isinstance(raw, dict):
                    event = _event_view(raw)
                    seen.setdefault(event.event_id, event)
    return sorted(seen.values(), key=lambda event: event.time)


def build_findings(
    records: Sequence[Record], events_by_id: dict[str, EventView]
) -> list[FindingView]:
    """List the findings, most severe first. A finding recorded again counts once, as last seen."""
    latest: dict[str, Record] = {}
    for record in records:
        if record.type == RecordType.FINDING:
            latest[str(record.get("id"))] = record
    findings = [
        FindingView(
            id=str(record.get("id")),
            severity=str(record.get("severity")),
            title=str(record.get("title")),
            description=str(record.get("description", "")),
            source=str(record.get("source", "")),
            events=[
                events_by_id[str(event_id)]
                for event_id in record.get("event_ids") or []
                if str(event_id) in events_by_id
            ],
            data_points=[str(point) for point in record.get("data_points") or []],
        )
        for record in latest.values()
    ]
    return sorted(
        findings, key=lambda finding: (SEVERITY_ORDER.get(finding.severity, 9), finding.id)
    )


def highest_severity(findings: Sequence[FindingView]) -> str:
    ranked = sorted(findings, key=lambda finding: SEVERITY_ORDER.get(finding.severity, 9))
    return ranked[0].severity if ranked else "none"


def _event_view(raw: dict[str, Any]) -> EventView:
    return EventView(
        event_id=str(raw.get("eventID") or ""),
        time=str(raw.get("eventTime", "")),
        name=str(raw.get("eventName", "")),
        source=str(raw.get("eventSource", "")),
        region=str(raw.get("awsRegion", "")),
        source_ip=str(raw.get("sourceIPAddress", "")),
        user_agent=str(raw.get("userAgent", "")),
        error_code=str(raw.get("errorCode") or ""),
        details=_request_details(raw.get("requestParameters")),
    )


def _request_details(parameters: Any) -> str:
    if not isinstance(parameters, dict):
        return ""
    shown = [f"{name}={parameters[name]}" for name in DETAIL_PARAMETERS if name in parameters]
    return "; ".join(shown)
