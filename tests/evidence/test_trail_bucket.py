"""Trail logs in S3: which folders are listed, which objects are read, and the events kept.

The sample bucket (tests/data/samples/cloudtrail/trail-bucket) has an account
layout with a digest file and an organization layout. Extra log files on days
around the window show that only the window's day folders, one day more at each
end, are ever listed.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediate.aws.base import ClientFactory
from remediate.aws.s3 import S3Gateway
from remediate.evidence.gaps import TRAIL_BUCKET, EvidenceGap
from remediate.evidence.trail_bucket import (
    TrailBucketLocation,
    TrailBucketReader,
    delivery_days,
    parse_trail_bucket_url,
    trail_window,
)
from remediate.evidence.trail_files import FileIssue
from tests.evidence.trail_fixtures import (
    BUCKET,
    PREFIX,
    gzipped_log,
    log_key,
    make_bucket,
    only,
    record_s3_calls,
    upload_samples,
)

ORGANIZATION = "o-1234abcde"
ORG_ACCOUNT = "222222222222"
ACCOUNT = "111122223333"
LAMBDA_KEY = "ASIATGOPDG7TERBYLQLP"
SSM_KEY = "ASIATGOPDG7TBUOCAMAH"
ORG_SAMPLE_KEY = log_key(
    ORG_ACCOUNT,
    "us-east-1",
    "2025/03/06",
    "222222222222_CloudTrail_us-east-1_20250306T0230Z_QF6qcgyiaVnSueXa.json.gz",
    organization=ORGANIZATION,
)
ACCOUNT_SAMPLE_KEY = log_key(
    ACCOUNT,
    "us-east-2",
    "2015/08/01",
    "111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz",
)
LOGS = f"{PREFIX}/AWSLogs/"
ORG_SINCE = datetime(2025, 3, 6, tzinfo=UTC)
ORG_UNTIL = datetime(2025, 3, 6, 23, 59, 59, tzinfo=UTC)


def url(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


def lambda_decrypt(samples_dir: Path, event_id: str, event_time: str) -> dict[str, Any]:
    """A copy of the organization sample's Decrypt record, at another time."""
    path = samples_dir / "cloudtrail" / "trail-bucket" / ORG_SAMPLE_KEY.removeprefix(f"{PREFIX}/")
    records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
    record = copy.deepcopy(next(r for r in records if r["eventName"] == "Decrypt"))
    record.update(eventID=event_id, eventTime=event_time)
    return record


def org_log(day: str, name: str) -> str:
    return log_key(ORG_ACCOUNT, "us-east-1", day, name, organization=ORGANIZATION)


@pytest.fixture
def bucket(moto_session: boto3.Session, samples_dir: Path) -> tuple[boto3.Session, Any]:
    """The sample bucket, plus log files of the organization account on five other days."""
    calls = record_s3_calls(moto_session)
    s3 = make_bucket(moto_session)
    upload_samples(s3, samples_dir)
    extra = {
        # Two days before the window: never listed.
        ("2025/03/04", "222222222222_CloudTrail_us-east-1_20250304T1005Z_early.json.gz"): (
            "aaaaaaaa-0000-4000-8000-000000000004",
            "2025-03-04T10:00:00Z",
        ),
        # The day before: listed and read, but its event is before the window.
        ("2025/03/05", "222222222222_CloudTrail_us-east-1_20250305T2359Z_before.json.gz"): (
            "aaaaaaaa-0000-4000-8000-000000000005",
            "2025-03-05T23:54:00Z",
        ),
        # The day after: its file was delivered after midnight, with an event of the window.
        ("2025/03/07", "222222222222_CloudTrail_us-east-1_20250307T0005Z_late.json.gz"): (
            "aaaaaaaa-0000-4000-8000-000000000007",
            "2025-03-06T23:58:10Z",
        ),
        # Three days after: never listed.
        ("2025/03/09", "222222222222_CloudTrail_us-east-1_20250309T0805Z_after.json.gz"): (
            "aaaaaaaa-0000-4000-8000-000000000009",
            "2025-03-09T08:00:00Z",
        ),
    }
    for (day, name), (event_id, event_time) in extra.items():
        body = gzipped_log([lambda_decrypt(samples_dir, event_id, event_time)])
        s3.put_object(Bucket=BUCKET, Key=org_log(day, name), Body=body)
    calls.clear()
    return moto_session, calls


def reader(session: boto3.Session, **options: Any) -> TrailBucketReader:
    options.setdefault("since", ORG_SINCE)
    options.setdefault("until", ORG_UNTIL)
    return TrailBucketReader(
        S3Gateway(ClientFactory(session)), TrailBucketLocation(BUCKET, PREFIX), **options
    )


def test_org_window_read(bucket: tuple[boto3.Session, Any]) -> None:
    session, calls = bucket

    result = reader(session).read([LAMBDA_KEY])

    # Only the day folders from the day before the window to the day after are listed.
    org_root = f"{LOGS}{ORGANIZATION}/{ORG_ACCOUNT}/CloudTrail/"
    account_root = f"{LOGS}{ACCOUNT}/CloudTrail/"
    assert only(calls, "ListObjectsV2") == sorted(
        [
            LOGS,
            f"{LOGS}{ACCOUNT}/",
            account_root,
            f"{account_root}us-east-2/2025/03/05/",
            f"{account_root}us-east-2/2025/03/06/",
            f"{account_root}us-east-2/2025/03/07/",
            f"{LOGS}{ORGANIZATION}/",
            f"{LOGS}{ORGANIZATION}/{ORG_ACCOUNT}/",
            org_root,
            f"{org_root}us-east-1/2025/03/05/",
            f"{org_root}us-east-1/2025/03/06/",
            f"{org_root}us-east-1/2025/03/07/",
        ]
    )
    read = [
        org_log("2025/03/05", "222222222222_CloudTrail_us-east-1_20250305T2359Z_before.json.gz"),
        ORG_SAMPLE_KEY,
        org_log("2025/03/07", "222222222222_CloudTrail_us-east-1_20250307T0005Z_late.json.gz"),
    ]
    assert only(calls, "GetObject") == sorted(read)
    assert result.objects_read == tuple(url(key) for key in read)
    # The file of the day before holds only an event before the window.
    assert [(event.event_id, event.event_name) for event in result.events] == [
        ("f4008b7e-fa53-4bee-a31a-762b3ba038d1", "Decrypt"),
        ("aaaaaaaa-0000-4000-8000-000000000007", "Decrypt"),
    ]
    assert [event.access_key_id for event in result.events] == [LAMBDA_KEY, LAMBDA_KEY]
    assert result.skipped == (
        FileIssue(
            url(f"{LOGS}{ACCOUNT}/CloudTrail-Digest/"),
            "CloudTrail digest files, which hold no events",
        ),
    )
    assert result.gaps == ()
    assert result.unreadable == ()


def test_later_read_uses_index(bucket: tuple[boto3.Session, Any]) -> None:
    session, calls = bucket
    trail = reader(session)
    trail.read([LAMBDA_KEY])
    calls.clear()

    result = trail.read([SSM_KEY])
    again = trail.read([LAMBDA_KEY, SSM_KEY])

    # Only the one file in which the new key appears is read again; nothing is listed.
    assert calls == [("GetObject", ORG_SAMPLE_KEY)]
    assert [event.event_id for event in result.events] == ["be170ced-ba43-4a02-9b70-f18127034945"]
    assert again.events == ()
    assert trail.summary.objects_listed == 3
    assert trail.summary.objects_read == 3


def test_account_filter(bucket: tuple[boto3.Session, Any]) -> None:
    session, calls = bucket

    result = reader(session, account_ids=[ORG_ACCOUNT]).read([LAMBDA_KEY])

    assert f"{LOGS}{ACCOUNT}/" not in only(calls, "ListObjectsV2")
    assert result.skipped == (
        FileIssue(
            url(LOGS),
            f"1 other account folder(s) not read ({ACCOUNT}), because the key belongs to "
            f"{ORG_ACCOUNT}",
        ),
    )
    assert len(result.events) == 2


def test_account_missing_is_gap(bucket: tuple[boto3.Session, Any]) -> None:
    session, _ = bucket

    result = reader(session, account_ids=["999999999999"]).read([LAMBDA_KEY])

    assert result.events == ()
    assert result.gaps == (
        EvidenceGap(
            TRAIL_BUCKET,
            f"{url(LOGS)} has no folder of account 999999999999, so this trail does not log "
            "the key's account.",
        ),
    )


def test_region_filter(bucket: tuple[boto3.Session, Any]) -> None:
    session, calls = bucket

    result = reader(session, regions=["us-east-1"]).read([LAMBDA_KEY])

    listed = only(calls, "ListObjectsV2")
    assert not [prefix for prefix in listed if "us-east-2" in prefix]
    assert (
        FileIssue(
            url(f"{LOGS}{ACCOUNT}/CloudTrail/"),
            "1 region folder(s) not read (us-east-2), because they are outside the regions "
            "investigated",
        )
        in result.skipped
    )


def test_account_layout_sample(bucket: tuple[boto3.Session, Any]) -> None:
    # The sample file sits in the folder of 2015-08-01, but its records are the
    # user guide's examples from 2014 to 2019: no eventTime falls in the window.
    session, calls = bucket

    result = reader(
        session,
        since=datetime(2015, 8, 1, tzinfo=UTC),
        until=datetime(2015, 8, 1, 12, tzinfo=UTC),
        account_ids=[ACCOUNT],
    ).read(["EXAMPLE_KEY_ID"])

    assert only(calls, "GetObject") == [ACCOUNT_SAMPLE_KEY]
    assert result.objects_read == (url(ACCOUNT_SAMPLE_KEY),)
    assert result.events == ()


def test_unreadable_object_named(bucket: tuple[boto3.Session, Any]) -> None:
    session, _ = bucket
    s3 = session.client("s3")
    broken = org_log("2025/03/06", "222222222222_CloudTrail_us-east-1_20250306T0300Z_cut.json.gz")
    s3.put_object(Bucket=BUCKET, Key=broken, Body=b'{"Records": [')
    notes = org_log("2025/03/06", "notes.txt")
    s3.put_object(Bucket=BUCKET, Key=notes, Body=b"written by hand")

    result = reader(session).read([LAMBDA_KEY])

    assert result.unreadable == (
        FileIssue(url(broken), "invalid JSON: Expecting value: line 1 column 14 (char 13)"),
    )
    assert FileIssue(url(notes), "not a CloudTrail log file (.json.gz)") in result.skipped
    assert result.gaps == (
        EvidenceGap(
            TRAIL_BUCKET, "1 trail log object(s) could not be read; see the unreadable files."
        ),
    )
    assert len(result.events) == 2


def test_denied_listing_is_gap(moto_session: boto3.Session) -> None:
    gateway = S3Gateway(ClientFactory(moto_session))
    denied = Stubber(gateway._s3)
    denied.add_client_error(
        "list_objects_v2",
        service_error_code="AccessDenied",
        service_message="Access Denied",
        http_status_code=403,
    )
    trail = TrailBucketReader(
        gateway, TrailBucketLocation(BUCKET, PREFIX), since=ORG_SINCE, until=ORG_UNTIL
    )

    with denied:
        result = trail.read([LAMBDA_KEY])

    assert result.events == ()
    assert result.gaps == (
        EvidenceGap(
            TRAIL_BUCKET,
            f"s3 ListObjectsV2 on {url(LOGS)} failed: AccessDenied: Access Denied. "
            "The operator's credentials lack s3:ListBucket.",
        ),
    )


def test_empty_prefix_is_gap(bucket: tuple[boto3.Session, Any]) -> None:
    session, _ = bucket
    trail = TrailBucketReader(
        S3Gateway(ClientFactory(session)),
        TrailBucketLocation(BUCKET, "wrong/prefix"),
        since=ORG_SINCE,
        until=ORG_UNTIL,
    )

    result = trail.read([LAMBDA_KEY])

    assert result.gaps == (
        EvidenceGap(
            TRAIL_BUCKET,
            f"No CloudTrail logs were found under {url('wrong/prefix/AWSLogs/')}. Give the "
            "trail's bucket and S3 key prefix, the part of the key before AWSLogs/.",
        ),
    )


def test_max_objects_keeps_newest(bucket: tuple[boto3.Session, Any]) -> None:
    session, calls = bucket

    result = reader(session, max_objects=1).read([LAMBDA_KEY])

    late = org_log("2025/03/07", "222222222222_CloudTrail_us-east-1_20250307T0005Z_late.json.gz")
    assert only(calls, "GetObject") == [late]
    assert result.gaps == (
        EvidenceGap(
            TRAIL_BUCKET,
            "3 log files were delivered in the window, and only the newest 1 (from 2025-03-07 "
            "on) were read. Run again with --until 2025-03-07 to read the older ones.",
        ),
    )


@pytest.mark.parametrize(
    ("text", "bucket_name", "prefix", "logs_prefix"),
    [
        ("s3://org-trail-logs", "org-trail-logs", "", "AWSLogs/"),
        ("s3://org-trail-logs/", "org-trail-logs", "", "AWSLogs/"),
        (
            "s3://org-trail-logs/trails/prod/",
            "org-trail-logs",
            "trails/prod",
            "trails/prod/AWSLogs/",
        ),
        ("s3://org-trail-logs/p/AWSLogs", "org-trail-logs", "p/AWSLogs", "p/AWSLogs/"),
        ("s3://Legacy_Bucket/p", "Legacy_Bucket", "p", "p/AWSLogs/"),
    ],
)
def test_bucket_url_parsed(text: str, bucket_name: str, prefix: str, logs_prefix: str) -> None:
    location = parse_trail_bucket_url(text)

    assert location.bucket == bucket_name
    assert location.prefix == prefix
    assert location.logs_prefix == logs_prefix


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("org-trail-logs/p", "'org-trail-logs/p' is not an S3 URL; write it as s3://BUCKET/PREFIX"),
        ("https://org-trail-logs.s3.amazonaws.com/p", "is not an S3 URL"),
        ("s3://", "'' in 's3://' is not a valid S3 bucket name."),
        ("s3://a/p", "'a' in 's3://a/p' is not a valid S3 bucket name."),
    ],
)
def test_bucket_url_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_trail_bucket_url(text)


def test_delivery_days_margin() -> None:
    days = delivery_days(datetime(2025, 2, 28, 22, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC))

    assert days == [date(2025, 2, 27), date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 2)]


def test_window_defaults() -> None:
    now = datetime(2026, 12, 4, 3, tzinfo=UTC)

    assert trail_window(now) == (datetime(2026, 9, 5, 3, tzinfo=UTC), now)
    assert trail_window(now, until=datetime(2026, 6, 1, tzinfo=UTC)) == (
        datetime(2026, 3, 3, tzinfo=UTC),
        datetime(2026, 6, 1, tzinfo=UTC),
    )
