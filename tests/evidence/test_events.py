"""TrailEvent: normalising trail records and LookupEvents items, deduplicating, exporting."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediate.evidence.events import REDACTED, EventFormatError, TrailEvent, deduplicate


def records(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text("utf-8"))
    return document["Records"] if isinstance(document, dict) else document


def ses_2015(samples_dir: Path) -> list[dict[str, Any]]:
    return records(samples_dir / "cloudtrail" / "ses-api-calls-aws-docs-2015.json")


def test_record_fields(samples_dir: Path) -> None:
    record = next(r for r in ses_2015(samples_dir) if r["eventName"] == "VerifyDomainIdentity")

    event = TrailEvent.from_record(record)

    assert event.event_id == "33b3e2eb-7ba3-460b-a127-a5f4cedb4469"
    assert event.event_time == datetime(2015, 2, 4, 0, 59, 21, tzinfo=UTC)
    assert event.event_name == "VerifyDomainIdentity"
    assert event.event_source == "ses.amazonaws.com"
    assert event.aws_region == "us-west-2"
    assert event.source_ip == "192.0.2.0"
    assert event.user_agent == "aws-sdk-java/unknown-version"
    assert event.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    assert event.user_type == "Root"
    assert event.user_arn == "arn:aws:iam::111122223333:root"
    assert event.user_name is None
    assert event.error_code is None
    assert event.request_parameters == {"disableEmailNotifications": False, "domain": "example.com"}
    assert event.response_elements == {
        "verificationToken": "pmBGN/7MjnfhTKUZ06Enqq1PeGUaOkw8lGhcfwefcHU="
    }
    assert event.recipient_account_id == "111122223333"
    assert event.event_type == "AwsApiCall"


def test_record_with_error(samples_dir: Path) -> None:
    guide = records(samples_dir / "cloudtrail" / "cloudtrail-guide-examples.json")
    record = next(r for r in guide if r.get("eventName") == "UpdateTrail")

    event = TrailEvent.from_record(record)

    assert event.error_code == "TrailNotFoundException"
    assert event.error_message == "Unknown trail: myTrail2 for the user: 123456789012"
    assert event.user_name == "Alice"


def test_insights_event_without_identity(samples_dir: Path) -> None:
    guide = records(samples_dir / "cloudtrail" / "cloudtrail-guide-examples.json")
    insight = next(r for r in guide if r.get("eventType") == "AwsCloudTrailInsight")

    event = TrailEvent.from_record(insight)

    assert event.event_id == "EXAMPLE8-9621-4d00-b913-beca2EXAMPLE"
    assert event.access_key_id is None
    assert event.user_type is None
    assert event.event_name is None
    assert event.event_time == datetime(2019, 11, 14, 0, 51, tzinfo=UTC)


def test_assumed_role_user_name(samples_dir: Path) -> None:
    federation = records(
        samples_dir / "cloudtrail" / "stratus-aws.persistence.sts-federation-token.json"
    )
    record = next(r for r in federation if r["eventName"] == "GetCallerIdentity")

    event = TrailEvent.from_record(record)

    assert event.access_key_id == "ASIASTJKC5GCM7ZE6LUP"
    assert event.user_type == "FederatedUser"
    assert event.user_name == "stratus-red-team-user-federation-user"


def test_milliseconds_in_event_time(samples_dir: Path) -> None:
    record = dict(ses_2015(samples_dir)[0], eventTime="2015-02-02T21:34:50.123Z")

    event = TrailEvent.from_record(record)

    assert event.event_time == datetime(2015, 2, 2, 21, 34, 50, 123000, tzinfo=UTC)
    assert event.to_record()["eventTime"] == "2015-02-02T21:34:50.123Z"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"eventName": "GetSendQuota"}, "a record has no eventTime"),
        ({"eventTime": "yesterday"}, "a record's eventTime 'yesterday' is invalid"),
        ({"eventTime": 1422912890}, "a record's eventTime is a JSON int"),
        (["not", "a", "record"], "a record is a JSON list, not an object"),
    ],
)
def test_record_rejected(record: object, message: str) -> None:
    with pytest.raises(EventFormatError) as raised:
        TrailEvent.from_record(record)

    assert str(raised.value) == message


def test_lookup_item_uses_cloudtrail_event(samples_dir: Path) -> None:
    record = next(r for r in ses_2015(samples_dir) if r["eventName"] == "GetSendQuota")
    item = {
        "EventId": record["eventID"],
        "EventName": "GetSendQuota",
        "ReadOnly": "true",
        "AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "EventTime": datetime(2015, 2, 4, 1, 3, 27, tzinfo=UTC),
        "EventSource": "ses.amazonaws.com",
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }

    event = TrailEvent.from_lookup_item(item)

    assert event == TrailEvent.from_record(record)
    assert event.raw == record


def test_lookup_item_without_cloudtrail_event() -> None:
    item = {
        "EventId": "6eb8178e-69c3-4a93-8af0-2a5a0f5f209e",
        "EventName": "ListIdentities",
        "ReadOnly": "true",
        "AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "EventTime": datetime(2015, 2, 4, 1, 3, 27, tzinfo=UTC),
        "EventSource": "ses.amazonaws.com",
        "Username": "mailer",
        "CloudTrailEvent": "{not json",
    }

    event = TrailEvent.from_lookup_item(item)

    assert event.event_id == "6eb8178e-69c3-4a93-8af0-2a5a0f5f209e"
    assert event.event_time == datetime(2015, 2, 4, 1, 3, 27, tzinfo=UTC)
    assert event.event_name == "ListIdentities"
    assert event.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    assert event.user_name == "mailer"
    assert event.read_only is True


def test_to_record_uses_cloudtrail_names(samples_dir: Path) -> None:
    record = next(r for r in ses_2015(samples_dir) if r["eventName"] == "DeleteIdentity")

    exported = TrailEvent.from_record(record).to_record()

    assert exported["eventID"] == "0ffa308d-1467-4259-8be3-c749753be325"
    assert exported["eventTime"] == "2015-02-02T21:34:50Z"
    assert exported["eventName"] == "DeleteIdentity"
    assert exported["eventSource"] == "ses.amazonaws.com"
    assert exported["awsRegion"] == "us-west-2"
    assert exported["sourceIPAddress"] == "192.0.2.0"
    assert exported["userAgent"] == "aws-sdk-java/unknown-version"
    assert exported["accessKeyId"] == "AKIAIOSFODNN7EXAMPLE"
    assert exported["userName"] is None
    assert exported["errorCode"] is None
    assert exported["errorMessage"] is None
    assert exported["requestParameters"] == {"identity": "amazon.com"}
    assert json.loads(json.dumps(exported)) == exported


def test_to_record_redacts_session_token(samples_dir: Path) -> None:
    federation = records(
        samples_dir / "cloudtrail" / "stratus-aws.persistence.sts-federation-token.json"
    )
    record = next(r for r in federation if r["eventName"] == "GetFederationToken")

    exported = TrailEvent.from_record(record).to_record()

    credentials = exported["responseElements"]["credentials"]
    assert credentials["sessionToken"] == REDACTED
    assert credentials["accessKeyId"] == "ASIASTJKC5GCM7ZE6LUP"
    assert "IQoJb3JpZ2lu" not in json.dumps(exported)


def test_deduplicate_keeps_earliest_copy(samples_dir: Path) -> None:
    newer = records(samples_dir / "cloudtrail" / "ses-api-calls-aws-docs-2018.json")
    events = [TrailEvent.from_record(r) for r in newer + ses_2015(samples_dir)]

    kept = deduplicate(events)

    delete = [event for event in kept if event.event_name == "DeleteIdentity"]
    assert len(kept) == 17
    assert [event.event_time.year for event in delete] == [2015]


def test_deduplicate_keeps_reused_event_id(samples_dir: Path) -> None:
    # The 2015 sample gives SetIdentityFeedbackForwardingEnabled and
    # SetIdentityHeadersInNotificationsEnabled the same eventID.
    events = [TrailEvent.from_record(r) for r in ses_2015(samples_dir)]

    kept = deduplicate(events)

    shared = [e.event_name for e in kept if e.event_id == "5d817126-dadb-436f-b480-f9843289f487"]
    assert len({event.event_id for event in events}) == 16
    assert len(kept) == 17
    assert shared == [
        "SetIdentityFeedbackForwardingEnabled",
        "SetIdentityHeadersInNotificationsEnabled",
    ]


def test_deduplicate_sorts_by_time(samples_dir: Path) -> None:
    # This organization trail file contains its 20 records out of time order.
    bucket = samples_dir / "cloudtrail" / "trail-bucket" / "AWSLogs" / "o-1234abcde"
    path = next(bucket.rglob("*.json.gz"))
    document = json.loads(gzip.decompress(path.read_bytes()))
    events = [TrailEvent.from_record(r) for r in document["Records"]]

    kept = deduplicate(events)

    times = [event.event_time for event in kept]
    assert [event.event_time for event in events] != sorted(times)
    assert times == sorted(times)
    assert len(kept) == 20


def test_events_without_id_get_digest_ref(samples_dir: Path) -> None:
    guide = records(samples_dir / "cloudtrail" / "cloudtrail-guide-examples.json")
    first = TrailEvent.from_record(guide[0])
    second = TrailEvent.from_record(guide[1])

    assert first.event_id is None
    assert first.ref.startswith("sha256:")
    assert len(first.ref) == len("sha256:") + 16
    assert first.ref != second.ref
    assert first.ref == TrailEvent.from_record(json.loads(json.dumps(guide[0]))).ref
