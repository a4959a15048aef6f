"""Keys obtained with the leaked key, followed in trail files, LookupEvents and a trail bucket.

The CreateAccessKey record is the Stratus Red Team sample's, made with the
leaked key. The created key then calls SES, in records shaped like the SES
documentation sample.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from remediate.aws.gateways import AwsGateways
from remediate.evidence.derived import DerivedCredential, derived_credentials
from remediate.evidence.events import TrailEvent
from remediate.evidence.investigation import (
    investigate_account,
    investigate_files,
    render_text,
)
from remediate.evidence.trail_bucket import TrailBucketLocation, TrailBucketReader
from remediate.rehearsal.moto_fills import install_fills, record_cloudtrail_event
from tests.evidence.trail_fixtures import (
    BUCKET,
    CREATE_ACCESS_KEY_EVENT_ID,
    CREATED_KEY,
    LEAKED_KEY,
    PREFIX,
    create_access_key_record,
    created_key_records,
    gzipped_log,
    log_key,
    make_bucket,
    only,
    record_calls,
    record_s3_calls,
)

ACCOUNT = "123456789012"
NOW = datetime(2024, 8, 2, tzinfo=UTC)
EXPECTED_SUMMARY = (
    f"{CREATED_KEY}, obtained through CreateAccessKey for user malicious-iam-user (event "
    f"{CREATE_ACCESS_KEY_EVENT_ID} at 2024-08-01T13:33:28Z) with {LEAKED_KEY}, made 2 call(s) "
    "(GetSendQuota, ListIdentities) from 2024-08-01T13:40:02Z to 2024-08-01T13:41:10Z."
)


def events_of(records: list[dict[str, Any]]) -> list[TrailEvent]:
    return [TrailEvent.from_record(record) for record in records]


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"Records": records}), "utf-8")
    return path


def test_created_key_derived(samples_dir: Path) -> None:
    events = events_of([create_access_key_record(samples_dir), *created_key_records(samples_dir)])

    derived = derived_credentials(events, LEAKED_KEY)

    assert derived == [
        DerivedCredential(CREATED_KEY, LEAKED_KEY, events[0], user_name="malicious-iam-user")
    ]
    assert derived[0].temporary is False


def test_failed_create_not_derived(samples_dir: Path) -> None:
    record = create_access_key_record(samples_dir)
    record.update(errorCode="LimitExceeded", responseElements=None)

    assert derived_credentials(events_of([record]), LEAKED_KEY) == []


def test_own_user_key_named(samples_dir: Path) -> None:
    # Without userName, CreateAccessKey creates the key for the caller's own user.
    record = create_access_key_record(samples_dir)
    record["requestParameters"] = None
    del record["responseElements"]["accessKey"]["userName"]

    [derived] = derived_credentials(events_of([record]), LEAKED_KEY)

    assert derived.user_name == "christophe"


def test_created_key_of_created_key(samples_dir: Path) -> None:
    first = create_access_key_record(samples_dir)
    second = copy.deepcopy(first)
    second["eventID"] = "94faedcc-0fa4-46e6-9322-022e8e934f05"
    second["eventTime"] = "2024-08-01T13:50:00Z"
    second["userIdentity"]["accessKeyId"] = CREATED_KEY
    second["responseElements"]["accessKey"]["accessKeyId"] = "AKIAXAFZN8JEPF6L6999"

    derived = derived_credentials(events_of([second, first]), LEAKED_KEY)

    assert [(key.access_key_id, key.obtained_with) for key in derived] == [
        (CREATED_KEY, LEAKED_KEY),
        ("AKIAXAFZN8JEPF6L6999", CREATED_KEY),
    ]


def test_finding_names_issuing_event(samples_dir: Path, tmp_path: Path) -> None:
    path = write_records(
        tmp_path / "trail.json",
        [create_access_key_record(samples_dir), *created_key_records(samples_dir)],
    )

    investigation = investigate_files([path], LEAKED_KEY)

    activity = next(f for f in investigation.findings if f.id == "derived-credential-activity")
    assert activity.summary == EXPECTED_SUMMARY
    assert activity.event_ids == (
        CREATE_ACCESS_KEY_EVENT_ID,
        "5a1c0bde-0000-4000-8000-000000000001",
        "5a1c0bde-0000-4000-8000-000000000002",
    )
    assert activity.regions == ("us-east-1",)


def test_json_names_derived_key(samples_dir: Path, tmp_path: Path) -> None:
    path = write_records(
        tmp_path / "trail.json",
        [create_access_key_record(samples_dir), *created_key_records(samples_dir)],
    )

    document = investigate_files([path], LEAKED_KEY).to_json_dict()

    assert document["derived_credentials"] == [
        {
            "access_key_id": CREATED_KEY,
            "temporary": False,
            "user_name": "malicious-iam-user",
            "obtained_with": LEAKED_KEY,
            "obtained_by": {
                "eventID": CREATE_ACCESS_KEY_EVENT_ID,
                "eventName": "CreateAccessKey",
                "eventTime": "2024-08-01T13:33:28Z",
                "awsRegion": "us-east-1",
            },
        }
    ]
    assert document["session_access_key_ids"] == []
    assert [finding["id"] for finding in document["findings"]] == [
        "iam-persistence",
        "derived-credential-activity",
        "ses-recon",
    ]


def test_lookup_follows_created_key(moto_session: boto3.Session, samples_dir: Path) -> None:
    install_fills()
    for record in [create_access_key_record(samples_dir), *created_key_records(samples_dir)]:
        record_cloudtrail_event(ACCOUNT, record)
    calls = record_calls(moto_session)
    gateways = AwsGateways(moto_session)

    investigation = investigate_account(
        gateways.cloudtrail, gateways.ses, LEAKED_KEY, ["eu-west-1"], now=NOW, sleep=lambda _: None
    )

    # One LookupEvents in us-east-1 and one in eu-west-1 for each key.
    looked_up = [
        params["LookupAttributes"][0]["AttributeValue"]
        for _, name, params in calls
        if name == "LookupEvents"
    ]
    assert looked_up == [LEAKED_KEY, LEAKED_KEY, CREATED_KEY, CREATED_KEY]
    assert [event.access_key_id for event in investigation.events] == [
        LEAKED_KEY,
        CREATED_KEY,
        CREATED_KEY,
    ]
    activity = next(f for f in investigation.findings if f.id == "derived-credential-activity")
    assert activity.summary == EXPECTED_SUMMARY


def test_bucket_follows_created_key(moto_session: boto3.Session, samples_dir: Path) -> None:
    calls = record_s3_calls(moto_session)
    s3 = make_bucket(moto_session)
    leaked_log = log_key(ACCOUNT, "us-east-1", "2024/08/01", "a_20240801T1335Z_leaked.json.gz")
    created_log = log_key(ACCOUNT, "us-east-1", "2024/08/01", "a_20240801T1345Z_created.json.gz")
    s3.put_object(
        Bucket=BUCKET, Key=leaked_log, Body=gzipped_log([create_access_key_record(samples_dir)])
    )
    s3.put_object(
        Bucket=BUCKET, Key=created_log, Body=gzipped_log(created_key_records(samples_dir))
    )
    calls.clear()
    reader = TrailBucketReader(
        AwsGateways(moto_session).s3,
        TrailBucketLocation(BUCKET, PREFIX),
        since=datetime(2024, 8, 1, tzinfo=UTC),
        until=NOW,
    )

    investigation = investigate_files([], LEAKED_KEY, trail_bucket=reader)

    # Both files are read for the leaked key; only the created key's file is read again.
    assert only(calls, "GetObject") == [leaked_log, created_log, created_log]
    assert [event.access_key_id for event in investigation.events] == [
        LEAKED_KEY,
        CREATED_KEY,
        CREATED_KEY,
    ]
    assert investigation.trail_bucket is not None
    assert investigation.trail_bucket.objects_read == 2
    activity = next(f for f in investigation.findings if f.id == "derived-credential-activity")
    assert activity.summary == EXPECTED_SUMMARY
    lines = render_text(investigation)
    assert (
        f"Trail logs read from s3://{BUCKET}/{PREFIX}: 2 of 2 log file(s) delivered from "
        "2024-08-01T00:00:00Z to 2024-08-02T00:00:00Z"
    ) in lines
    assert f"  - {CREATED_KEY}, obtained through CreateAccessKey for user malicious-iam-user" in (
        "\n".join(lines)
    )
