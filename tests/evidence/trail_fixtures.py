"""CloudTrail records shaped like the public samples, and a trail bucket laid out in moto S3."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3

BUCKET = "org-trail-logs"
PREFIX = "trails/prod"
LEAKED_KEY = "AKIAIOSFODNN7EXAMPLE"
# The key that the leaked key creates for another user in the CreateAccessKey fixture.
CREATED_KEY = "AKIAXAFZN8JEPF6L682H"
CREATE_ACCESS_KEY_EVENT_ID = "94faedcc-0fa4-46e6-9322-022e8e934f04"


def load_records(samples_dir: Path, name: str) -> list[dict[str, Any]]:
    document = json.loads((samples_dir / "cloudtrail" / name).read_text("utf-8"))
    records: list[dict[str, Any]] = document["Records"] if isinstance(document, dict) else document
    return records


def create_access_key_record(samples_dir: Path, *, region: str = "us-east-1") -> dict[str, Any]:
    """The Stratus Red Team CreateAccessKey record, as if the leaked key had made it.

    The sample's region does not exist, so it moves to `region` (IAM events land
    in us-east-1).
    """
    records = load_records(samples_dir, "stratus-aws.persistence.iam-create-admin-user.json")
    record = copy.deepcopy(next(r for r in records if r["eventName"] == "CreateAccessKey"))
    record["awsRegion"] = region
    record["userIdentity"]["accessKeyId"] = LEAKED_KEY
    return record


def ses_record(
    samples_dir: Path,
    name: str,
    *,
    access_key_id: str,
    event_id: str,
    event_time: str,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """A record of the SES documentation sample, made with another key, time and region."""
    records = load_records(samples_dir, "ses-api-calls-aws-docs-2015.json")
    record = copy.deepcopy(next(r for r in records if r["eventName"] == name))
    record["userIdentity"]["accessKeyId"] = access_key_id
    record.update(eventID=event_id, eventTime=event_time, awsRegion=region)
    return record


def created_key_records(samples_dir: Path) -> list[dict[str, Any]]:
    """Two SES calls made with the created key, seven and eight minutes after its creation."""
    return [
        ses_record(
            samples_dir,
            "GetSendQuota",
            access_key_id=CREATED_KEY,
            event_id="5a1c0bde-0000-4000-8000-000000000001",
            event_time="2024-08-01T13:40:02Z",
        ),
        ses_record(
            samples_dir,
            "ListIdentities",
            access_key_id=CREATED_KEY,
            event_id="5a1c0bde-0000-4000-8000-000000000002",
            event_time="2024-08-01T13:41:10Z",
        ),
    ]


def gzipped_log(records: Iterable[dict[str, Any]]) -> bytes:
    """Return a trail log file's bytes: `{"Records": [...]}`, gzipped as CloudTrail writes it."""
    return gzip.compress(json.dumps({"Records": list(records)}).encode("utf-8"))


def log_key(account: str, region: str, day: str, name: str, *, organization: str = "") -> str:
    """Return the key of a log file, `day` written as YYYY/MM/DD."""
    owner = f"{organization}/{account}" if organization else account
    return f"{PREFIX}/AWSLogs/{owner}/CloudTrail/{region}/{day}/{name}"


def make_bucket(session: boto3.Session) -> Any:
    s3 = session.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return s3


def upload_samples(s3: Any, samples_dir: Path) -> list[str]:
    """Upload tests/data/samples/cloudtrail/trail-bucket under PREFIX and return the keys."""
    root = samples_dir / "cloudtrail" / "trail-bucket"
    keys = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            key = f"{PREFIX}/{path.relative_to(root).as_posix()}"
            s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
            keys.append(key)
    return keys


def record_s3_calls(session: boto3.Session) -> list[tuple[str, str]]:
    """Return a list that fills with (operation, Prefix or Key) for each S3 call of the session.

    botocore emits before-parameter-build once per API call, with the call's own
    parameters (before-call carries the serialised request instead). Register
    before the first client is created, because a client copies the session's
    event handlers when it is built.
    """
    calls: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, str(params.get("Prefix", params.get("Key", "")))))

    session.events.register("before-parameter-build.s3.*", record)
    return calls


def record_calls(session: boto3.Session) -> list[tuple[str, str, dict[str, Any]]]:
    """Return a list that fills with (service, operation, params) for every call of the session."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.service_model.service_name, model.name, dict(params)))

    session.events.register("before-parameter-build.*.*", record)
    return calls


def only(calls: list[tuple[str, str]], operation: str) -> list[str]:
    return sorted(target for name, target in calls if name == operation)
