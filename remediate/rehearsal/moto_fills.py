"""Fills for the AWS APIs that moto lacks or simplifies, so rehearsals run the product's calls.

moto 5.2 does not implement cloudtrail LookupEvents, ses
Get/UpdateAccountSendingEnabled, or sesv2 GetAccount, PutAccountSendingAttributes
and PutAccountDetails. Its ses GetSendStatistics returns one cumulative data
point, and its GetSendQuota a fixed sandbox quota.

The fills add handler methods to moto's response classes, because moto
dispatches an action to the method of the same name (`LookupEvents` to
`lookup_events`), in-process under `mock_aws` and in a moto server alike. Their
state lives beside moto's own, on the per-account, per-region backend objects,
so that a moto reset clears both.

This is the only module of remediate that reaches into moto's internals.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import inspect
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moto import __version__ as moto_version
from moto.cloudtrail.models import cloudtrail_backends
from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import camelcase_to_underscores
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends
from moto.ses.models import ses_backends
from moto.ses.responses import EmailResponse
from moto.sesv2 import urls as sesv2_urls
from moto.sesv2.responses import SESV2Response

from remediate.core.timeutil import parse_timestamp

# The version range these fills were written and tested against; pyproject pins moto to it.
TESTED_MOTO_RANGE = ">=5.2.1,<5.3"

# LookupEvents returns at most 50 events a page, and 50 when MaxResults is not given.
LOOKUP_EVENTS_PAGE_SIZE = 50
LOOKUP_ATTRIBUTE_KEYS = frozenset(
    {
        "EventId",
        "EventName",
        "ReadOnly",
        "Username",
        "ResourceType",
        "ResourceName",
        "EventSource",
        "AccessKeyId",
    }
)

# A new SES account is in the sandbox: 200 messages a day, 1 a second. moto's own
# GetSendQuota returns the same numbers.
SANDBOX_MAX_24_HOUR_SEND = 200.0
SANDBOX_MAX_SEND_RATE = 1.0
HEALTHY = "HEALTHY"
MAIL_TYPES = frozenset({"MARKETING", "TRANSACTIONAL"})
CONTACT_LANGUAGES = frozenset({"EN", "JA"})

_FILL_MARKER = "__remediate_fill__"
_EVENT_STORE_ATTRIBUTE = "_remediate_lookup_events"
_STATISTICS_ATTRIBUTE = "_remediate_send_statistics"
_ACCOUNT_STATE_ATTRIBUTE = "_remediate_account_state"

# One lock guards every store, because the moto server handles requests on several threads.
_lock = threading.RLock()


class MotoFillError(RuntimeError):
    """A fill no longer fits the installed moto: moto implements the API, or dropped it."""


# --- CloudTrail events ------------------------------------------------------------------


@dataclass(frozen=True)
class LookupResource:
    """One entry of a LookupEvents item's Resources."""

    resource_type: str
    resource_name: str


@dataclass(frozen=True)
class _StoredEvent:
    sequence: int
    event_time: datetime
    event_id: str
    event_name: str
    event_source: str
    read_only: bool
    access_key_id: str | None
    username: str | None
    resources: tuple[LookupResource, ...]
    record_json: str

    def sort_key(self) -> tuple[datetime, int]:
        return (self.event_time, self.sequence)

    def attribute_values(self, key: str) -> tuple[str, ...]:
        """Return the values a LookupAttributes key matches against in this event."""
        values: dict[str, tuple[str | None, ...]] = {
            "EventId": (self.event_id,),
            "EventName": (self.event_name,),
            "ReadOnly": ("true" if self.read_only else "false",),
            "Username": (self.username,),
            "EventSource": (self.event_source,),
            "AccessKeyId": (self.access_key_id,),
            "ResourceType": tuple(resource.resource_type for resource in self.resources),
            "ResourceName": tuple(resource.resource_name for resource in self.resources),
        }
        return tuple(value for value in values[key] if value is not None)

    def as_lookup_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "EventId": self.event_id,
            "EventName": self.event_name,
            "ReadOnly": "true" if self.read_only else "false",
            "EventTime": self.event_time.timestamp(),
            "EventSource": self.event_source,
            "Resources": [
                {"ResourceType": resource.resource_type, "ResourceName": resource.resource_name}
                for resource in self.resources
            ],
            "CloudTrailEvent": self.record_json,
        }
        if self.access_key_id is not None:
            item["AccessKeyId"] = self.access_key_id
        if self.username is not None:
            item["Username"] = self.username
        return item


class CloudTrailEventStore:
    """The CloudTrail management events of one account and region, as LookupEvents finds them.

    NOTE: unlike CloudTrail, the store keeps events older than 90 days, because
    it has no clock of its own. Scenarios seed only events of the last few days.
    """

    def __init__(self) -> None:
        self._events: list[_StoredEvent] = []

    def add(
        self,
        record: Mapping[str, Any],
        *,
        resources: Sequence[LookupResource] = (),
        username: str | None = None,
    ) -> None:
        identity = record.get("userIdentity") or {}
        with _lock:
            self._events.append(
                _StoredEvent(
                    sequence=len(self._events),
                    event_time=parse_timestamp(record["eventTime"]),
                    event_id=str(record["eventID"]),
                    event_name=str(record["eventName"]),
                    event_source=str(record["eventSource"]),
                    read_only=_is_read_only(record.get("readOnly")),
                    access_key_id=identity.get("accessKeyId") or None,
                    username=username if username is not None else _lookup_username(identity),
                    resources=tuple(resources),
                    record_json=json.dumps(record, separators=(",", ":")),
                )
            )

    def newest_first(self) -> list[_StoredEvent]:
        with _lock:
            events = list(self._events)
        return sorted(events, key=_StoredEvent.sort_key, reverse=True)

    def __len__(self) -> int:
        with _lock:
            return len(self._events)


def _is_read_only(value: object) -> bool:
    # Trail logs write readOnly as a JSON boolean. The string form that LookupEvents returns is
    # accepted too.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _lookup_username(identity: Mapping[str, Any]) -> str | None:
    """Derive LookupEvents' Username: the IAM user name, "root", or the role session name.

    NOTE: this mapping follows the documented userIdentity fields; how the real
    API names other identity types (AWS services, web identities) is not known here.
    """
    identity_type = identity.get("type")
    if identity_type == "Root":
        return "root"
    if identity.get("userName"):
        return str(identity["userName"])
    arn = identity.get("arn")
    if identity_type in ("AssumedRole", "FederatedUser") and arn:
        # The session name is the last part of arn:aws:sts::<account>:assumed-role/<role>/<session>.
        return str(arn).rsplit("/", 1)[-1]
    return None


def cloudtrail_event_store(account_id: str, region: str) -> CloudTrailEventStore:
    """Return the event store attached to moto's CloudTrail backend of this account and region."""
    backend = cloudtrail_backends[account_id][region]
    with _lock:
        store = backend.__dict__.get(_EVENT_STORE_ATTRIBUTE)
        if store is None:
            store = CloudTrailEventStore()
            setattr(backend, _EVENT_STORE_ATTRIBUTE, store)
    assert isinstance(store, CloudTrailEventStore)
    return store


def record_cloudtrail_event(
    account_id: str,
    record: Mapping[str, Any],
    *,
    resources: Sequence[LookupResource] = (),
    username: str | None = None,
) -> None:
    """Store one CloudTrail record in the region it names (`awsRegion`), for LookupEvents.

    `username` overrides the Username that is otherwise derived from `userIdentity`.
    """
    cloudtrail_event_store(account_id, str(record["awsRegion"])).add(
        record, resources=resources, username=username
    )


class InvalidLookupAttributesException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidLookupAttributesException", message)


class InvalidMaxResultsException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidMaxResultsException", message)


class InvalidTimeRangeException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidTimeRangeException", message)


class InvalidEventCategoryException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidEventCategoryException", message)


class InvalidNextTokenException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidNextTokenException", message)


@dataclass(frozen=True)
class _LookupQuery:
    attribute: tuple[str, str] | None
    start_time: datetime | None
    end_time: datetime | None
    insights: bool
    max_results: int

    def fingerprint(self) -> str:
        """Identify the query, so that a NextToken is only accepted for the query that issued it."""
        canonical = json.dumps(
            [
                self.attribute,
                self.start_time.isoformat() if self.start_time else None,
                self.end_time.isoformat() if self.end_time else None,
                self.insights,
            ]
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def matches(self, event: _StoredEvent) -> bool:
        if self.insights:
            # The store contains management events only, because no scenario seeds Insights events.
            return False
        if self.start_time is not None and event.event_time < self.start_time:
            return False
        if self.end_time is not None and event.event_time > self.end_time:
            return False
        if self.attribute is None:
            return True
        key, value = self.attribute
        if key == "ReadOnly":
            return value.lower() in event.attribute_values(key)
        return value in event.attribute_values(key)


def _parse_lookup_query(params: Mapping[str, Any]) -> _LookupQuery:
    # NOTE: the error codes are the API's; the messages are written here, because
    # AWS does not document the exact text of these errors.
    attributes = params.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise InvalidLookupAttributesException(
            "LookupAttributes accepts one lookup attribute; "
            f"the request contained {len(attributes)}."
        )
    attribute: tuple[str, str] | None = None
    if attributes:
        key = attributes[0].get("AttributeKey")
        value = attributes[0].get("AttributeValue")
        if key not in LOOKUP_ATTRIBUTE_KEYS:
            raise InvalidLookupAttributesException(
                f"The lookup attribute key {key!r} is invalid. "
                f"Valid keys: {', '.join(sorted(LOOKUP_ATTRIBUTE_KEYS))}."
            )
        if not value:
            raise InvalidLookupAttributesException(
                f"The lookup attribute {key} needs a non-empty AttributeValue."
            )
        attribute = (str(key), str(value))

    max_results = params.get("MaxResults", LOOKUP_EVENTS_PAGE_SIZE)
    if not isinstance(max_results, int) or not 1 <= max_results <= LOOKUP_EVENTS_PAGE_SIZE:
        raise InvalidMaxResultsException(
            f"MaxResults {max_results!r} is invalid: it must be between 1 and "
            f"{LOOKUP_EVENTS_PAGE_SIZE}."
        )

    category = params.get("EventCategory")
    if category is not None and category != "insight":
        raise InvalidEventCategoryException(
            f"EventCategory {category!r} is invalid; the only value is 'insight'."
        )

    start_time = _epoch_to_datetime(params.get("StartTime"))
    end_time = _epoch_to_datetime(params.get("EndTime"))
    if start_time is not None and end_time is not None and start_time > end_time:
        raise InvalidTimeRangeException("StartTime is later than EndTime.")

    return _LookupQuery(
        attribute=attribute,
        start_time=start_time,
        end_time=end_time,
        insights=category == "insight",
        max_results=max_results,
    )


def _epoch_to_datetime(value: object) -> datetime | None:
    """Read a JSON-protocol timestamp: botocore sends epoch seconds, other clients ISO 8601."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return parse_timestamp(str(value))


def _encode_next_token(event: _StoredEvent, query: _LookupQuery) -> str:
    cursor = {
        "time": event.event_time.isoformat(),
        "sequence": event.sequence,
        "query": query.fingerprint(),
    }
    return base64.urlsafe_b64encode(json.dumps(cursor).encode("utf-8")).decode("ascii")


def _decode_next_token(token: str, query: _LookupQuery) -> tuple[datetime, int]:
    invalid = InvalidNextTokenException(
        "The NextToken is invalid: pass the token from the previous response, "
        "with the same lookup attributes and time range."
    )
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        position = (datetime.fromisoformat(cursor["time"]), int(cursor["sequence"]))
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise invalid from error
    if cursor.get("query") != query.fingerprint():
        raise invalid
    return position


def _lookup_events(response: Any) -> str:
    """Handle cloudtrail LookupEvents from the events stored for the account and region."""
    params = _json_body(response)
    query = _parse_lookup_query(params)
    events = [
        event
        for event in cloudtrail_event_store(
            response.current_account, response.region
        ).newest_first()
        if query.matches(event)
    ]

    token = params.get("NextToken")
    if token:
        position = _decode_next_token(str(token), query)
        events = [event for event in events if event.sort_key() < position]

    page = events[: query.max_results]
    body: dict[str, Any] = {"Events": [event.as_lookup_item() for event in page]}
    if len(events) > len(page):
        body["NextToken"] = _encode_next_token(page[-1], query)
    return json.dumps(body)


def _json_body(response: Any) -> dict[str, Any]:
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if not body:
        return {}
    parsed = json.loads(body)
    return parsed if isinstance(parsed, dict) else {}


# --- SES sending statistics --------------------------------------------------------------


@dataclass(frozen=True)
class SendDataPoint:
    """One 15-minute bucket of ses GetSendStatistics."""

    timestamp: datetime
    delivery_attempts: int
    bounces: int = 0
    complaints: int = 0
    rejects: int = 0

    def as_api(self) -> dict[str, Any]:
        return {
            "Timestamp": self.timestamp,
            "DeliveryAttempts": self.delivery_attempts,
            "Bounces": self.bounces,
            "Complaints": self.complaints,
            "Rejects": self.rejects,
        }


@dataclass(frozen=True)
class SendStatistics:
    """A region's sending history as GetSendStatistics returns it, recorded at `as_of`."""

    points: tuple[SendDataPoint, ...]
    as_of: datetime

    def delivery_attempts_since(self, moment: datetime) -> int:
        """Count the attempts of the intervals that start at or after `moment`."""
        return sum(point.delivery_attempts for point in self.points if point.timestamp >= moment)


def set_send_statistics(
    account_id: str, region: str, points: Iterable[SendDataPoint], *, as_of: datetime
) -> None:
    """Make GetSendStatistics in this region return `points`, in the order given."""
    statistics = SendStatistics(points=tuple(points), as_of=as_of)
    with _lock:
        setattr(ses_backends[account_id][region], _STATISTICS_ATTRIBUTE, statistics)


def send_statistics(account_id: str, region: str) -> SendStatistics | None:
    with _lock:
        value = ses_backends[account_id][region].__dict__.get(_STATISTICS_ATTRIBUTE)
    assert value is None or isinstance(value, SendStatistics)
    return value


def _get_send_statistics(response: Any, native: Callable[[Any], Any]) -> Any:
    """Handle ses GetSendStatistics with the scenario's series, or with moto's own handler."""
    statistics = send_statistics(response.current_account, response.region)
    if statistics is None:
        return native(response)
    return ActionResult({"SendDataPoints": [point.as_api() for point in statistics.points]})


# --- SES account state --------------------------------------------------------------------


@dataclass(frozen=True)
class AccountDetails:
    """The details that sesv2 PutAccountDetails submitted, as GetAccount returns them."""

    mail_type: str
    website_url: str
    contact_language: str | None
    use_case_description: str | None
    additional_contact_email_addresses: tuple[str, ...]
    review_status: str | None
    review_case_id: str | None

    def as_api(self) -> dict[str, Any]:
        details: dict[str, Any] = {"MailType": self.mail_type, "WebsiteURL": self.website_url}
        if self.contact_language is not None:
            details["ContactLanguage"] = self.contact_language
        if self.use_case_description is not None:
            details["UseCaseDescription"] = self.use_case_description
        if self.additional_contact_email_addresses:
            details["AdditionalContactEmailAddresses"] = list(
                self.additional_contact_email_addresses
            )
        if self.review_status is not None:
            details["ReviewDetails"] = {
                "Status": self.review_status,
                "CaseId": self.review_case_id,
            }
        return details


@dataclass(frozen=True)
class SesAccountState:
    """The SES account settings of one region. The defaults are those of a new account (sandbox)."""

    sending_enabled: bool = True
    production_access_enabled: bool = False
    enforcement_status: str = HEALTHY
    max_24_hour_send: float = SANDBOX_MAX_24_HOUR_SEND
    max_send_rate: float = SANDBOX_MAX_SEND_RATE
    details: AccountDetails | None = None


def ses_account_state(account_id: str, region: str) -> SesAccountState:
    with _lock:
        value = ses_backends[account_id][region].__dict__.get(_ACCOUNT_STATE_ATTRIBUTE)
    if value is None:
        return SesAccountState()
    assert isinstance(value, SesAccountState)
    return value


def set_ses_account_state(account_id: str, region: str, state: SesAccountState) -> None:
    with _lock:
        setattr(ses_backends[account_id][region], _ACCOUNT_STATE_ATTRIBUTE, state)


def _update_ses_account_state(account_id: str, region: str, **changes: Any) -> SesAccountState:
    with _lock:
        state = dataclasses.replace(ses_account_state(account_id, region), **changes)
        set_ses_account_state(account_id, region, state)
    return state


def sent_last_24_hours(account_id: str, region: str) -> float:
    """Count the sends of the last 24 hours: the scenario's series plus what moto itself sent.

    The series ends at the moment the scenario recorded it; moto counts every
    send made through it since the world opened, without a time.
    """
    backend = ses_backends[account_id][region]
    sent = float(backend.sent_message_count)
    statistics = send_statistics(account_id, region)
    if statistics is not None:
        sent += statistics.delivery_attempts_since(statistics.as_of - timedelta(hours=24))
    return sent


def _send_quota(account_id: str, region: str) -> dict[str, float]:
    state = ses_account_state(account_id, region)
    return {
        "Max24HourSend": state.max_24_hour_send,
        "MaxSendRate": state.max_send_rate,
        "SentLast24Hours": sent_last_24_hours(account_id, region),
    }


def _get_send_quota(response: Any, native: Callable[[Any], Any]) -> Any:
    """Handle ses GetSendQuota from the region's account state instead of moto's fixed quota."""
    del native  # The quota always comes from the account state, whose defaults equal moto's.
    return ActionResult(_send_quota(response.current_account, response.region))


def _get_account_sending_enabled(response: Any) -> Any:
    state = ses_account_state(response.current_account, response.region)
    return ActionResult({"Enabled": state.sending_enabled})


def _update_account_sending_enabled(response: Any) -> Any:
    enabled = response._get_bool_param("Enabled")
    if enabled is not None:
        _update_ses_account_state(
            response.current_account, response.region, sending_enabled=enabled
        )
    return EmptyResult()


class BadRequestException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("BadRequestException", message)


def _get_account(response: Any) -> str:
    """Handle sesv2 GetAccount (GET /v2/email/account)."""
    account_id, region = response.current_account, response.region
    state = ses_account_state(account_id, region)
    body: dict[str, Any] = {
        "DedicatedIpAutoWarmupEnabled": False,
        "EnforcementStatus": state.enforcement_status,
        "ProductionAccessEnabled": state.production_access_enabled,
        "SendQuota": _send_quota(account_id, region),
        "SendingEnabled": state.sending_enabled,
    }
    if state.details is not None:
        body["Details"] = state.details.as_api()
    return json.dumps(body)


def _put_account_sending_attributes(response: Any) -> str:
    """Handle sesv2 PutAccountSendingAttributes (PUT /v2/email/account/sending)."""
    params = _json_body(response)
    if "SendingEnabled" in params:
        _update_ses_account_state(
            response.current_account,
            response.region,
            sending_enabled=bool(params["SendingEnabled"]),
        )
    return json.dumps({})


def _put_account_details(response: Any) -> str:
    """Handle sesv2 PutAccountDetails (POST /v2/email/account/details).

    A request for production access opens a review that stays PENDING, because
    no AWS review takes place in a rehearsal. The region stays in the sandbox.
    """
    params = _json_body(response)
    mail_type = params.get("MailType")
    if mail_type not in MAIL_TYPES:
        raise BadRequestException(
            f"MailType {mail_type!r} is invalid; use MARKETING or TRANSACTIONAL."
        )
    contact_language = params.get("ContactLanguage")
    if contact_language is not None and contact_language not in CONTACT_LANGUAGES:
        raise BadRequestException(f"ContactLanguage {contact_language!r} is invalid; use EN or JA.")

    previous = ses_account_state(response.current_account, response.region).details
    review_status = previous.review_status if previous else None
    review_case_id = previous.review_case_id if previous else None
    if params.get("ProductionAccessEnabled"):
        review_status = "PENDING"
        review_case_id = _case_id(response.current_account, response.region, str(mail_type))

    details = AccountDetails(
        mail_type=str(mail_type),
        website_url=str(params.get("WebsiteURL", "")),
        contact_language=contact_language,
        use_case_description=params.get("UseCaseDescription"),
        additional_contact_email_addresses=tuple(params.get("AdditionalContactEmailAddresses", ())),
        review_status=review_status,
        review_case_id=review_case_id,
    )
    _update_ses_account_state(response.current_account, response.region, details=details)
    return json.dumps({})


def _case_id(account_id: str, region: str, mail_type: str) -> str:
    """Make a 10-digit support case id that is the same in every run of the same scenario."""
    digest = hashlib.sha256(f"{account_id}:{region}:{mail_type}".encode()).hexdigest()
    return str(10**9 + int(digest, 16) % (9 * 10**9))


# --- IAM dates ----------------------------------------------------------------------------


def backdate_iam_user(account_id: str, user_name: str, created: datetime) -> None:
    """Set the creation date of an IAM user and of its access keys, which moto sets to now.

    IAM has no API to change a creation date. A scenario uses this so that a
    user it places a year in the past does not look created a second ago.
    """
    naive_utc = created.astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC datetimes
    user = iam_backends[account_id]["aws"].get_user(user_name)
    user.create_date = naive_utc
    for access_key in user.access_keys:
        access_key.create_date = naive_utc


def add_aws_managed_policies(account_id: str, names: Iterable[str]) -> None:
    """Make AWS managed policies (AdministratorAccess, say) attachable in moto's IAM.

    moto loads none of them unless configured to load all of them for every account
    (MOTO_IAM_LOAD_MANAGED_POLICIES), which parses some 1,500 documents; a
    scenario needs only the few it attaches. Raises KeyError for a name moto does
    not ship.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    data = json.loads(aws_managed_policies_data)
    backend = iam_backends[account_id]["aws"]
    for name in wanted:
        policy = AWSManagedPolicy.from_data(name, account_id, backend.region_name, data[name])
        if policy.arn not in backend.managed_policies:
            backend.aws_managed_policies.append(policy)
            backend.managed_policies[policy.arn] = policy


# --- installation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """A handler added to one moto response class for one AWS action.

    A fill that `replaces_native` takes the place of moto's own handler. It
    receives that handler as its second argument, to fall back on. Any other
    fill adds an action that moto does not implement. `server_path` is a route
    that the moto server needs for the action, in the format of moto's
    `url_paths`.
    """

    service: str
    action: str
    response_class: type[Any]
    handler: Callable[..., Any]
    replaces_native: bool = False
    server_path: str | None = None

    @property
    def method_name(self) -> str:
        return str(camelcase_to_underscores(self.action))

    @property
    def label(self) -> str:
        return f"{self.service} {self.action}"


# moto routes sesv2 requests it has no explicit path for through the pattern
# "/v2/.*". That regex works in-process, but the moto server hands it to Flask,
# which reads it as a literal path and returns 404. So the sesv2 account fills
# bring routes of their own.
FILLS: tuple[Fill, ...] = (
    Fill("cloudtrail", "LookupEvents", CloudTrailResponse, _lookup_events),
    Fill("ses", "GetSendStatistics", EmailResponse, _get_send_statistics, replaces_native=True),
    Fill("ses", "GetSendQuota", EmailResponse, _get_send_quota, replaces_native=True),
    Fill("ses", "GetAccountSendingEnabled", EmailResponse, _get_account_sending_enabled),
    Fill("ses", "UpdateAccountSendingEnabled", EmailResponse, _update_account_sending_enabled),
    Fill(
        "sesv2",
        "GetAccount",
        SESV2Response,
        _get_account,
        server_path="{0}/v2/email/account$",
    ),
    Fill(
        "sesv2",
        "PutAccountSendingAttributes",
        SESV2Response,
        _put_account_sending_attributes,
        server_path="{0}/v2/email/account/sending$",
    ),
    Fill(
        "sesv2",
        "PutAccountDetails",
        SESV2Response,
        _put_account_details,
        server_path="{0}/v2/email/account/details$",
    ),
)

# The url_paths of the moto services whose fills add server routes.
_URL_PATHS: dict[str, dict[str, Any]] = {"sesv2": sesv2_urls.url_paths}


def _is_fill(member: object) -> bool:
    return getattr(member, _FILL_MARKER, None) is not None


def moto_implements(response_class: type[Any], action: str) -> bool:
    """Tell whether moto itself handles `action` on this response class, ignoring our fills.

    moto dispatches an action to the function of the same name in snake case,
    found with inspect.getmembers, so an inherited function counts as well.
    """
    member = getattr(response_class, camelcase_to_underscores(action), None)
    return inspect.isfunction(member) and not _is_fill(member)


def install_fills(fills: Iterable[Fill] = FILLS) -> None:
    """Add the fills to moto's response classes and routes; calling it again changes nothing.

    Raises MotoFillError, before changing any class, when moto implements an
    action that a fill would add, or no longer implements one a fill replaces.
    The fill then needs review against the new moto. Call it before a moto
    server handles its first sesv2 request, because the server builds its
    sesv2 routes then.
    """
    with _lock:
        pending = [
            fill
            for fill in fills
            if not _is_fill(getattr(fill.response_class, fill.method_name, None))
        ]
        for fill in pending:
            _check_fits_moto(fill)
        for fill in pending:
            _install(fill)


def _check_fits_moto(fill: Fill) -> None:
    native = moto_implements(fill.response_class, fill.action)
    if native and not fill.replaces_native:
        raise MotoFillError(
            f"moto {moto_version} implements {fill.label} itself "
            f"({fill.response_class.__qualname__}.{fill.method_name}), and the rehearsal fill "
            f"would replace it. The fills were tested with moto {TESTED_MOTO_RANGE}. Remove the "
            "fill from remediate.rehearsal.moto_fills, or check that moto's handler behaves "
            "like AWS."
        )
    if fill.replaces_native and not native:
        raise MotoFillError(
            f"moto {moto_version} no longer implements {fill.label} "
            f"({fill.response_class.__qualname__}.{fill.method_name}), which the rehearsal fill "
            f"replaces. The fills were tested with moto {TESTED_MOTO_RANGE}. Review the fill in "
            "remediate.rehearsal.moto_fills against this moto version."
        )


def _install(fill: Fill) -> None:
    handler = fill.handler
    if fill.replaces_native:
        native = getattr(fill.response_class, fill.method_name)

        def method(self: Any) -> Any:
            return handler(self, native)

    else:

        def method(self: Any) -> Any:
            return handler(self)

    method.__name__ = fill.method_name
    method.__qualname__ = f"{fill.response_class.__qualname__}.{fill.method_name}"
    method.__doc__ = handler.__doc__
    setattr(method, _FILL_MARKER, fill.label)
    setattr(fill.response_class, fill.method_name, method)
    if fill.server_path is not None:
        _URL_PATHS[fill.service].setdefault(fill.server_path, fill.response_class.dispatch)
