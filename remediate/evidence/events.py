"""CloudTrail events normalised from trail log records and from LookupEvents items."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediate.core.timeutil import format_timestamp, parse_timestamp

# Keys whose values are credentials. CloudTrail writes some of them into events
# (GetFederationToken and GetSessionToken return a session token in
# responseElements), and an exported event must not carry them further.
_CREDENTIAL_KEYS = frozenset(
    {
        "sessiontoken",
        "secretaccesskey",
        "password",
        "newpassword",
        "oldpassword",
        "secretstring",
        "secretbinary",
        "privatekey",
    }
)
REDACTED = "(redacted by remediate)"


class EventFormatError(ValueError):
    """A record is not a CloudTrail event this reader can place on a timeline."""


@dataclass(frozen=True)
class TrailEvent:
    """One CloudTrail event. Text fields come from the request, so most are attacker-controlled.

    Fields a record lacks are None: Insights events have no userIdentity, no
    eventName and no accessKeyId.
    """

    event_id: str | None
    event_time: datetime
    event_name: str | None
    event_source: str | None
    aws_region: str | None
    source_ip: str | None
    user_agent: str | None
    access_key_id: str | None
    user_type: str | None
    user_arn: str | None
    user_name: str | None
    error_code: str | None
    error_message: str | None
    request_parameters: Mapping[str, Any] | None
    response_elements: Mapping[str, Any] | None
    read_only: bool | None
    recipient_account_id: str | None
    event_type: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, record: object) -> TrailEvent:
        """Normalise one record of a trail log file (`{"Records": [...]}`)."""
        if not isinstance(record, dict):
            raise EventFormatError(f"a record is a JSON {type(record).__name__}, not an object")
        identity = record.get("userIdentity")
        if not isinstance(identity, dict):
            identity = {}
        return cls(
            event_id=_text(record.get("eventID")),
            event_time=_event_time(record.get("eventTime")),
            event_name=_text(record.get("eventName")),
            event_source=_text(record.get("eventSource")),
            aws_region=_text(record.get("awsRegion")),
            source_ip=_text(record.get("sourceIPAddress")),
            user_agent=_text(record.get("userAgent")),
            access_key_id=_text(identity.get("accessKeyId")),
            user_type=_text(identity.get("type")),
            user_arn=_text(identity.get("arn")),
            user_name=_user_name(identity),
            error_code=_text(record.get("errorCode")),
            error_message=_text(record.get("errorMessage")),
            request_parameters=_mapping(record.get("requestParameters")),
            response_elements=_mapping(record.get("responseElements")),
            read_only=_flag(record.get("readOnly")),
            recipient_account_id=_text(record.get("recipientAccountId")),
            event_type=_text(record.get("eventType")),
            raw=record,
        )

    @classmethod
    def from_lookup_item(cls, item: Mapping[str, Any]) -> TrailEvent:
        """Normalise one LookupEvents item, whose `CloudTrailEvent` is the record as a JSON string.

        When that string is missing or unreadable, the item's own summary fields
        (EventId, EventTime, EventName, ...) still place the event on the timeline.
        """
        record: object = None
        document = item.get("CloudTrailEvent")
        if isinstance(document, str):
            try:
                record = json.loads(document)
            except json.JSONDecodeError:
                record = None
        if not isinstance(record, dict):
            record = _record_from_summary(item)
        record.setdefault("eventID", item.get("EventId"))
        if "eventTime" not in record and item.get("EventTime") is not None:
            record["eventTime"] = _json_time(item["EventTime"])
        return cls.from_record(record)

    @property
    def ref(self) -> str:
        """The eventID, or a digest of the record for the few events that have none."""
        if self.event_id:
            return self.event_id
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    @property
    def dedup_key(self) -> tuple[str, str | None, str | None]:
        # An eventID names one event, so copies from several files or from both
        # LookupEvents and a trail log collapse. The call's source and name are
        # part of the key because documentation samples reuse one eventID for
        # two different calls. Keeping both loses nothing, but merging them would.
        return (self.ref, self.event_source, self.event_name)

    def redacted_raw(self) -> Any:
        """Return the record as CloudTrail delivered it, with credentials redacted."""
        return _redacted(dict(self.raw))

    def to_record(self) -> dict[str, Any]:
        """Return a JSON-safe dict with CloudTrail's key names and credentials redacted."""
        return {
            "eventID": self.event_id,
            "eventTime": format_timestamp(self.event_time),
            "eventName": self.event_name,
            "eventSource": self.event_source,
            "eventType": self.event_type,
            "awsRegion": self.aws_region,
            "sourceIPAddress": self.source_ip,
            "userAgent": self.user_agent,
            "accessKeyId": self.access_key_id,
            "userName": self.user_name,
            "userIdentity": {
                "type": self.user_type,
                "arn": self.user_arn,
                "userName": self.user_name,
                "accessKeyId": self.access_key_id,
            },
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "requestParameters": _redacted(self.request_parameters),
            "responseElements": _redacted(self.response_elements),
            "readOnly": self.read_only,
            "recipientAccountId": self.recipient_account_id,
        }


def deduplicate(events: Iterable[TrailEvent]) -> list[TrailEvent]:
    """Return each event once, oldest first. Of two copies, the earlier one is kept."""
    first_copies: dict[tuple[str, str | None, str | None], TrailEvent] = {}
    for event in sort_events(events):
        first_copies.setdefault(event.dedup_key, event)
    return list(first_copies.values())


def conflicting_copies(events: Iterable[TrailEvent]) -> list[tuple[TrailEvent, TrailEvent]]:
    """Pair each copy that `deduplicate` drops although its time differs, with the copy kept.

    Copies of one event agree on its time; two records with one eventID and
    different times are two events, or one record was altered.
    """
    first_copies: dict[tuple[str, str | None, str | None], TrailEvent] = {}
    pairs = []
    for event in sort_events(events):
        first = first_copies.setdefault(event.dedup_key, event)
        if first is not event and first.event_time != event.event_time:
            pairs.append((first, event))
    return pairs


def sort_events(events: Iterable[TrailEvent]) -> list[TrailEvent]:
    """Sort by event time, then by reference, so equal times keep a stable order."""
    return sorted(events, key=lambda event: (event.event_time, event.ref, event.event_name or ""))


def _event_time(value: object) -> datetime:
    if value is None:
        raise EventFormatError("a record has no eventTime")
    if not isinstance(value, (str, datetime)):
        raise EventFormatError(f"a record's eventTime is a JSON {type(value).__name__}")
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise EventFormatError(f"a record's eventTime {str(value)[:40]!r} is invalid") from error


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None


def _flag(value: object) -> bool | None:
    # Trail logs write a JSON boolean, but LookupEvents items write the string "true".
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _user_name(identity: Mapping[str, Any]) -> str | None:
    name = _text(identity.get("userName"))
    if name is not None:
        return name
    # An assumed role or federated user names the IAM user or role it came from here.
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    return _text(issuer.get("userName")) if isinstance(issuer, dict) else None


def _record_from_summary(item: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventName": item.get("EventName"),
        "eventSource": item.get("EventSource"),
        "readOnly": item.get("ReadOnly"),
    }
    identity = {"accessKeyId": item.get("AccessKeyId"), "userName": item.get("Username")}
    record["userIdentity"] = {key: value for key, value in identity.items() if value}
    return record


def _json_time(value: object) -> object:
    return format_timestamp(value) if isinstance(value, datetime) else value


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in _CREDENTIAL_KEYS else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value
