"""The moto fills, called through boto3 against in-process moto as the product calls AWS."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ses.responses import EmailResponse
from moto.sesv2 import urls as sesv2_urls
from moto.sesv2.responses import SESV2Response

from remediate.rehearsal import moto_fills
from remediate.rehearsal.moto_fills import (
    FILLS,
    Fill,
    LookupResource,
    MotoFillError,
    SendDataPoint,
    SesAccountState,
    install_fills,
    moto_implements,
    record_cloudtrail_event,
    set_send_statistics,
    set_ses_account_state,
)

ACCOUNT = "123456789012"
REGION = "eu-west-1"
KEY = "AKIAEXAMPLELEAKED001"
OTHER_KEY = "AKIAEXAMPLEOTHER0001"
T0 = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
SESV2_ACCOUNT_PATHS = (
    "{0}/v2/email/account$",
    "{0}/v2/email/account/sending$",
    "{0}/v2/email/account/details$",
)


@pytest.fixture
def aws() -> Iterator[None]:
    install_fills()
    with mock_aws():
        yield


def cloudtrail_record(
    number: int,
    *,
    event_name: str = "GetSendQuota",
    access_key_id: str = KEY,
    region: str = REGION,
    read_only: bool = True,
    source: str = "ses.amazonaws.com",
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": identity
        or {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE000000001",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/mailer",
            "accountId": ACCOUNT,
            "accessKeyId": access_key_id,
            "userName": "mailer",
        },
        "eventTime": (T0 + timedelta(minutes=number)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.45",
        "userAgent": "Boto3/1.34.69",
        "requestParameters": None,
        "responseElements": None,
        "requestID": f"00000000-0000-4000-8000-{number:012d}",
        "eventID": f"11111111-0000-4000-8000-{number:012d}",
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def lookup(region: str = REGION, **arguments: Any) -> dict[str, Any]:
    client = boto3.client("cloudtrail", region_name=region)
    response: dict[str, Any] = client.lookup_events(**arguments)
    return response


def by_key(key: str, value: str) -> list[dict[str, str]]:
    return [{"AttributeKey": key, "AttributeValue": value}]


def error_of(call: Any, **arguments: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**arguments)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# --- LookupEvents ---------------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_lookup_events_item_matches_real_api_shape() -> None:
    record = cloudtrail_record(1)
    record_cloudtrail_event(
        ACCOUNT,
        record,
        resources=[LookupResource("AWS::SES::Identity", "example.com")],
    )

    [item] = lookup(LookupAttributes=by_key("AccessKeyId", KEY))["Events"]

    assert item["EventId"] == "11111111-0000-4000-8000-000000000001"
    assert item["EventName"] == "GetSendQuota"
    assert item["ReadOnly"] == "true"
    assert item["AccessKeyId"] == KEY
    assert item["EventTime"] == datetime(2026, 11, 30, 8, 1, 0, tzinfo=UTC)
    assert item["EventSource"] == "ses.amazonaws.com"
    assert item["Username"] == "mailer"
    assert item["Resources"] == [
        {"ResourceType": "AWS::SES::Identity", "ResourceName": "example.com"}
    ]
    assert json.loads(item["CloudTrailEvent"]) == record


@pytest.mark.usefixtures("aws")
def test_lookup_events_newest_first_and_filtered_by_key() -> None:
    for number in (3, 1, 2):
        record_cloudtrail_event(ACCOUNT, cloudtrail_record(number))
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(4, access_key_id=OTHER_KEY))

    events = lookup(LookupAttributes=by_key("AccessKeyId", KEY))["Events"]

    assert [event["EventId"][-1] for event in events] == ["3", "2", "1"]


@pytest.mark.usefixtures("aws")
def test_lookup_events_without_attributes_returns_all() -> None:
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(1))
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(2, access_key_id=OTHER_KEY))

    events = lookup()["Events"]

    assert [event["AccessKeyId"] for event in events] == [OTHER_KEY, KEY]


@pytest.mark.usefixtures("aws")
def test_lookup_events_keeps_regions_apart() -> None:
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(1, region="us-east-1"))
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(2, region="ap-southeast-2"))

    assert [event["EventId"][-1] for event in lookup("us-east-1")["Events"]] == ["1"]
    assert [event["EventId"][-1] for event in lookup("ap-southeast-2")["Events"]] == ["2"]
    assert lookup(REGION)["Events"] == []


@pytest.mark.parametrize(
    ("key", "value", "expected_numbers"),
    [
        ("EventName", "VerifyEmailIdentity", ["2"]),
        ("Username", "mailer", ["3", "2", "1"]),
        ("Username", "root", ["4"]),
        ("EventSource", "sts.amazonaws.com", ["1"]),
        ("ReadOnly", "false", ["2"]),
        ("ReadOnly", "true", ["4", "3", "1"]),
        ("ResourceName", "attacker@example.net", ["2"]),
        ("ResourceType", "AWS::SES::Identity", ["2"]),
        ("EventId", "11111111-0000-4000-8000-000000000003", ["3"]),
        ("AccessKeyId", OTHER_KEY, ["4"]),
    ],
)
@pytest.mark.usefixtures("aws")
def test_lookup_events_by_attribute(key: str, value: str, expected_numbers: list[str]) -> None:
    record_cloudtrail_event(
        ACCOUNT, cloudtrail_record(1, event_name="GetCallerIdentity", source="sts.amazonaws.com")
    )
    record_cloudtrail_event(
        ACCOUNT,
        cloudtrail_record(2, event_name="VerifyEmailIdentity", read_only=False),
        resources=[LookupResource("AWS::SES::Identity", "attacker@example.net")],
    )
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(3))
    root = {"type": "Root", "accountId": ACCOUNT, "accessKeyId": OTHER_KEY}
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(4, identity=root))

    events = lookup(LookupAttributes=by_key(key, value))["Events"]

    assert [event["EventId"][-1] for event in events] == expected_numbers


@pytest.mark.usefixtures("aws")
def test_lookup_events_assumed_role_username() -> None:
    identity = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-session",
        "accessKeyId": "ASIAEXAMPLE000000001",
    }
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(1, identity=identity))

    [event] = lookup()["Events"]

    assert event["Username"] == "ci-session"


@pytest.mark.usefixtures("aws")
def test_lookup_events_time_range_is_inclusive() -> None:
    for number in range(1, 6):
        record_cloudtrail_event(ACCOUNT, cloudtrail_record(number))

    events = lookup(StartTime=T0 + timedelta(minutes=2), EndTime=T0 + timedelta(minutes=4))[
        "Events"
    ]

    assert [event["EventId"][-1] for event in events] == ["4", "3", "2"]


@pytest.mark.usefixtures("aws")
def test_lookup_events_insights_category_empty() -> None:
    record_cloudtrail_event(ACCOUNT, cloudtrail_record(1))

    assert lookup(EventCategory="insight")["Events"] == []


@pytest.mark.usefixtures("aws")
def test_lookup_events_pages_of_fifty() -> None:
    for number in range(1, 121):
        record_cloudtrail_event(ACCOUNT, cloudtrail_record(number))
    arguments: dict[str, Any] = {"LookupAttributes": by_key("AccessKeyId", KEY)}

    first = lookup(**arguments)
    second = lookup(**arguments, NextToken=first["NextToken"])
    third = lookup(**arguments, NextToken=second["NextToken"])

    assert len(first["Events"]) == 50
    assert len(second["Events"]) == 50
    assert len(third["Events"]) == 20
    assert "NextToken" not in third
    numbers = [int(event["EventId"][-12:]) for event in first["Events"] + second["Events"]]
    numbers += [int(event["EventId"][-12:]) for event in third["Events"]]
    assert numbers == list(range(120, 0, -1))


@pytest.mark.usefixtures("aws")
def test_lookup_events_paginator_and_max_results() -> None:
    for number in range(1, 8):
        record_cloudtrail_event(ACCOUNT, cloudtrail_record(number))
    paginator = boto3.client("cloudtrail", region_name=REGION).get_paginator("lookup_events")

    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))

    assert [len(page["Events"]) for page in pages] == [3, 3, 1]


@pytest.mark.usefixtures("aws")
def test_lookup_events_page_stable_when_events_arrive() -> None:
    for number in range(1, 4):
        record_cloudtrail_event(ACCOUNT, cloudtrail_record(number))
    first = lookup(MaxResults=2)

    record_cloudtrail_event(ACCOUNT, cloudtrail_record(9))
    second = lookup(MaxResults=2, NextToken=first["NextToken"])

    assert [event["EventId"][-1] for event in second["Events"]] == ["1"]


@pytest.mark.parametrize(
    ("arguments", "expected_code"),
    [
        (
            {"LookupAttributes": by_key("SourceIPAddress", "203.0.113.45")},
            "InvalidLookupAttributesException",
        ),
        (
            {
                "LookupAttributes": by_key("AccessKeyId", KEY)
                + by_key("EventName", "GetSendQuota"),
            },
            "InvalidLookupAttributesException",
        ),
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"StartTime": T0, "EndTime": T0 - timedelta(seconds=1)}, "InvalidTimeRangeException"),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
        ({"EventCategory": "management"}, "InvalidEventCategoryException"),
    ],
)
@pytest.mark.usefixtures("aws")
def test_lookup_events_rejects_invalid_request(
    arguments: dict[str, Any], expected_code: str
) -> None:
    client = boto3.client("cloudtrail", region_name=REGION)

    assert error_of(client.lookup_events, **arguments) == (expected_code, 400)


@pytest.mark.usefixtures("aws")
def test_lookup_events_rejects_token_of_other_query() -> None:
    for number in range(1, 4):
        record_cloudtrail_event(ACCOUNT, cloudtrail_record(number))
    token = lookup(MaxResults=1)["NextToken"]
    client = boto3.client("cloudtrail", region_name=REGION)

    code = error_of(
        client.lookup_events,
        MaxResults=1,
        NextToken=token,
        LookupAttributes=by_key("EventName", "GetSendQuota"),
    )

    assert code == ("InvalidNextTokenException", 400)


# --- ses GetSendStatistics and GetSendQuota -------------------------------------------------


def send_through_moto(region: str, count: int) -> None:
    ses = boto3.client("ses", region_name=region)
    ses.verify_email_identity(EmailAddress="sender@example.com")
    for number in range(count):
        ses.send_email(
            Source="sender@example.com",
            Destination={"ToAddresses": [f"to{number}@example.org"]},
            Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
        )


@pytest.mark.usefixtures("aws")
def test_send_statistics_without_series_is_moto_cumulative_point() -> None:
    send_through_moto(REGION, 3)

    points = boto3.client("ses", region_name=REGION).get_send_statistics()["SendDataPoints"]

    assert len(points) == 1
    assert points[0]["DeliveryAttempts"] == 3
    assert points[0]["Bounces"] == 0


@pytest.mark.usefixtures("aws")
def test_send_statistics_returns_scenario_series() -> None:
    series = [
        SendDataPoint(T0, delivery_attempts=5),
        SendDataPoint(T0 + timedelta(minutes=15), delivery_attempts=71, bounces=12, complaints=1),
        SendDataPoint(T0 + timedelta(minutes=30), delivery_attempts=2, rejects=1),
    ]
    set_send_statistics(ACCOUNT, REGION, series, as_of=T0 + timedelta(hours=1))

    points = boto3.client("ses", region_name=REGION).get_send_statistics()["SendDataPoints"]

    assert points == [
        {"Timestamp": T0, "DeliveryAttempts": 5, "Bounces": 0, "Complaints": 0, "Rejects": 0},
        {
            "Timestamp": T0 + timedelta(minutes=15),
            "DeliveryAttempts": 71,
            "Bounces": 12,
            "Complaints": 1,
            "Rejects": 0,
        },
        {
            "Timestamp": T0 + timedelta(minutes=30),
            "DeliveryAttempts": 2,
            "Bounces": 0,
            "Complaints": 0,
            "Rejects": 1,
        },
    ]


@pytest.mark.usefixtures("aws")
def test_send_statistics_series_is_per_region() -> None:
    set_send_statistics(ACCOUNT, REGION, [SendDataPoint(T0, 5)], as_of=T0)

    points = boto3.client("ses", region_name="us-west-2").get_send_statistics()["SendDataPoints"]

    assert [point["DeliveryAttempts"] for point in points] == [0]


@pytest.mark.usefixtures("aws")
def test_send_quota_default_is_sandbox() -> None:
    quota = boto3.client("ses", region_name=REGION).get_send_quota()

    assert quota["Max24HourSend"] == 200.0
    assert quota["MaxSendRate"] == 1.0
    assert quota["SentLast24Hours"] == 0.0


@pytest.mark.usefixtures("aws")
def test_send_quota_counts_last_day() -> None:
    set_ses_account_state(
        ACCOUNT,
        REGION,
        SesAccountState(
            production_access_enabled=True, max_24_hour_send=50000.0, max_send_rate=14.0
        ),
    )
    as_of = T0 + timedelta(days=1)
    series = [
        SendDataPoint(T0 - timedelta(minutes=15), delivery_attempts=100),
        SendDataPoint(T0, delivery_attempts=7),
        SendDataPoint(as_of - timedelta(minutes=15), delivery_attempts=3),
    ]
    set_send_statistics(ACCOUNT, REGION, series, as_of=as_of)
    send_through_moto(REGION, 2)

    quota = boto3.client("ses", region_name=REGION).get_send_quota()

    assert quota["Max24HourSend"] == 50000.0
    assert quota["MaxSendRate"] == 14.0
    assert quota["SentLast24Hours"] == 12.0


# --- ses account sending ----------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_account_sending_enabled_by_default() -> None:
    response = boto3.client("ses", region_name=REGION).get_account_sending_enabled()

    assert response["Enabled"] is True


@pytest.mark.usefixtures("aws")
def test_update_account_sending_pauses_one_region() -> None:
    boto3.client("ses", region_name=REGION).update_account_sending_enabled(Enabled=False)

    paused = boto3.client("ses", region_name=REGION).get_account_sending_enabled()
    other = boto3.client("ses", region_name="us-west-2").get_account_sending_enabled()

    assert paused["Enabled"] is False
    assert other["Enabled"] is True


@pytest.mark.usefixtures("aws")
def test_update_account_sending_resumes() -> None:
    ses = boto3.client("ses", region_name=REGION)
    ses.update_account_sending_enabled(Enabled=False)

    ses.update_account_sending_enabled(Enabled=True)

    assert ses.get_account_sending_enabled()["Enabled"] is True


# --- sesv2 account ----------------------------------------------------------------------------


def get_account(region: str = REGION) -> dict[str, Any]:
    response: dict[str, Any] = boto3.client("sesv2", region_name=region).get_account()
    response.pop("ResponseMetadata")
    return response


@pytest.mark.usefixtures("aws")
def test_get_account_of_new_region() -> None:
    assert get_account() == {
        "DedicatedIpAutoWarmupEnabled": False,
        "EnforcementStatus": "HEALTHY",
        "ProductionAccessEnabled": False,
        "SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 0.0},
        "SendingEnabled": True,
    }


@pytest.mark.usefixtures("aws")
def test_get_account_of_production_region() -> None:
    set_ses_account_state(
        ACCOUNT,
        REGION,
        SesAccountState(
            production_access_enabled=True, max_24_hour_send=50000.0, max_send_rate=14.0
        ),
    )
    send_through_moto(REGION, 4)

    account = get_account()

    assert account["ProductionAccessEnabled"] is True
    assert account["SendQuota"] == {
        "Max24HourSend": 50000.0,
        "MaxSendRate": 14.0,
        "SentLast24Hours": 4.0,
    }


@pytest.mark.usefixtures("aws")
def test_put_account_sending_attributes_pauses_both_apis() -> None:
    boto3.client("sesv2", region_name=REGION).put_account_sending_attributes(SendingEnabled=False)

    v1 = boto3.client("ses", region_name=REGION).get_account_sending_enabled()

    assert get_account()["SendingEnabled"] is False
    assert v1["Enabled"] is False
    assert get_account("us-west-2")["SendingEnabled"] is True


@pytest.mark.usefixtures("aws")
def test_put_account_details_opens_pending_review() -> None:
    boto3.client("sesv2", region_name="ap-southeast-2").put_account_details(
        MailType="MARKETING",
        WebsiteURL="https://notice-center.example.net",
        ContactLanguage="EN",
        UseCaseDescription="Account notices.",
        AdditionalContactEmailAddresses=["ops@notice-center.example.net"],
        ProductionAccessEnabled=True,
    )

    account = get_account("ap-southeast-2")

    assert account["ProductionAccessEnabled"] is False
    review = account["Details"].pop("ReviewDetails")
    assert account["Details"] == {
        "MailType": "MARKETING",
        "WebsiteURL": "https://notice-center.example.net",
        "ContactLanguage": "EN",
        "UseCaseDescription": "Account notices.",
        "AdditionalContactEmailAddresses": ["ops@notice-center.example.net"],
    }
    assert review["Status"] == "PENDING"
    assert review["CaseId"] == moto_fills._case_id(ACCOUNT, "ap-southeast-2", "MARKETING")
    assert len(review["CaseId"]) == 10
    assert "Details" not in get_account(REGION)


@pytest.mark.usefixtures("aws")
def test_put_account_details_without_review() -> None:
    boto3.client("sesv2", region_name=REGION).put_account_details(
        MailType="TRANSACTIONAL", WebsiteURL="https://example.com"
    )

    assert get_account()["Details"] == {
        "MailType": "TRANSACTIONAL",
        "WebsiteURL": "https://example.com",
    }


@pytest.mark.usefixtures("aws")
def test_put_account_details_rejects_unknown_mail_type() -> None:
    client = boto3.client("sesv2", region_name=REGION)

    code = error_of(client.put_account_details, MailType="BULK", WebsiteURL="https://example.com")

    assert code == ("BadRequestException", 400)


# --- installation -----------------------------------------------------------------------------


def test_install_fills_is_idempotent() -> None:
    install_fills()
    before = {fill.label: getattr(fill.response_class, fill.method_name) for fill in FILLS}

    install_fills()

    after = {fill.label: getattr(fill.response_class, fill.method_name) for fill in FILLS}
    assert after == before


def test_install_adds_sesv2_server_routes() -> None:
    install_fills()

    routes = {path: sesv2_urls.url_paths.get(path) for path in SESV2_ACCOUNT_PATHS}

    assert routes == dict.fromkeys(SESV2_ACCOUNT_PATHS, SESV2Response.dispatch)


def test_moto_implements_ignores_fills() -> None:
    install_fills()

    assert moto_implements(EmailResponse, "GetAccountSendingEnabled") is False
    assert moto_implements(EmailResponse, "SendEmail") is True


class NativeResponse:
    def get_thing(self) -> str:
        return "moto's own"


class EmptyResponse:
    pass


def test_install_rejects_fill_over_native_method() -> None:
    fill = Fill("test", "GetThing", NativeResponse, lambda response: "fill")

    with pytest.raises(MotoFillError, match=r"moto \S+ implements test GetThing itself"):
        install_fills([fill])

    assert NativeResponse().get_thing() == "moto's own"


def test_install_rejects_replacement_of_missing_method() -> None:
    fill = Fill("test", "GetThing", EmptyResponse, lambda response, native: "fill", True)

    with pytest.raises(MotoFillError, match=r"moto \S+ no longer implements test GetThing"):
        install_fills([fill])

    assert not hasattr(EmptyResponse, "get_thing")


def test_install_changes_nothing_when_one_fill_conflicts() -> None:
    class Target:
        pass

    fills = [
        Fill("test", "AddedAction", Target, lambda response: "fill"),
        Fill("test", "GetThing", NativeResponse, lambda response: "fill"),
    ]

    with pytest.raises(MotoFillError):
        install_fills(fills)

    assert not hasattr(Target, "added_action")


def test_moto_lacks_every_filled_api() -> None:
    """Fail when a moto upgrade implements an API that a fill adds, or drops one it replaces.

    A fresh interpreter checks moto's response classes before any fill is installed.
    """
    program = (
        "import json\n"
        "from remediate.rehearsal.moto_fills import FILLS, moto_implements\n"
        "print(json.dumps({f.label: moto_implements(f.response_class, f.action) for f in FILLS}))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == {
        "cloudtrail LookupEvents": False,
        "ses GetSendStatistics": True,
        "ses GetSendQuota": True,
        "ses GetAccountSendingEnabled": False,
        "ses UpdateAccountSendingEnabled": False,
        "sesv2 GetAccount": False,
        "sesv2 PutAccountSendingAttributes": False,
        "sesv2 PutAccountDetails": False,
    }


def test_moto_send_statistics_unchanged() -> None:
    """Fail when moto's own GetSendStatistics changes, which the fill falls back on."""
    program = (
        "import boto3, json\n"
        "from moto import mock_aws\n"
        "with mock_aws():\n"
        "    ses = boto3.client('ses', region_name='eu-west-1')\n"
        "    points = ses.get_send_statistics()['SendDataPoints']\n"
        "    print(json.dumps([sorted(point) for point in points]))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == [
        ["Bounces", "Complaints", "DeliveryAttempts", "Rejects", "Timestamp"]
    ]
