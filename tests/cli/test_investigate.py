"""`remediate investigate`: local trail files with no AWS call, a trail bucket, and read-only AWS.

The AWS tests run the command against in-process moto, with the rehearsal
fills for the APIs moto lacks (LookupEvents, sesv2 GetAccount).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from remediate.cli import cli
from remediate.core.errors import ExitCode
from remediate.engine.investigate import InvestigateRequest, run_investigation
from remediate.rehearsal.moto_fills import install_fills
from tests.evidence.trail_fixtures import (
    BUCKET,
    PREFIX,
    gzipped_log,
    load_records,
    log_key,
    make_bucket,
    ses_record,
)
from tests.helpers import RecordingConsole

KEY = "AKIAIOSFODNN7EXAMPLE"


def investigate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["investigate", "--access-key-id", KEY, *args], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_samples_as_json(samples_dir: Path) -> None:
    code, stdout, stderr = investigate(
        "--cloudtrail-logs", str(samples_dir / "cloudtrail"), "--output", "json"
    )

    assert code == ExitCode.OK, stderr
    document = json.loads(stdout)
    assert document["schema_version"] == 1
    assert document["access_key_id"] == KEY
    assert document["verdict"] == "compromised"
    assert len(document["events"]) == 17
    assert len({event["eventID"] for event in document["events"]}) == 16
    assert {event["accessKeyId"] for event in document["events"]} == {KEY}
    assert {finding["id"] for finding in document["findings"]} == {
        "ses-identity-verified-then-deleted",
        "ses-identity-deleted",
        "ses-identity-verification",
        "ses-recon",
    }
    for finding in document["findings"]:
        assert set(finding) >= {"id", "severity", "event_ids"}
    unreadable = [Path(item["path"]).name for item in document["unreadable_files"]]
    assert unreadable == ["invalid-json-createrole.txt"]
    skipped = [Path(item["path"]).name for item in document["skipped_files"]]
    assert skipped == ["111122223333_CloudTrail-Digest_us-east-2_digest-example.json"]
    # The 2018 sample repeats two eventIDs of the 2015 one, three years later.
    duplicates = [gap["reason"] for gap in document["gaps"] if "duplicate" in gap["source"]]
    assert duplicates == [
        "event 0ffa308d-1467-4259-8be3-c749753be325 (DeleteIdentity) is in two records with "
        "different times, 2015-02-02T21:34:50Z and 2018-02-02T21:34:50Z; only the earlier one "
        "is analysed",
        "event 5613b0ff-d6c6-4526-9b53-a603a9231725 (VerifyEmailIdentity) is in two records "
        "with different times, 2015-02-04T01:05:33Z and 2018-02-04T01:05:33Z; only the earlier "
        "one is analysed",
    ]


def test_samples_as_text(samples_dir: Path) -> None:
    code, stdout, stderr = investigate("--cloudtrail-logs", str(samples_dir / "cloudtrail"))

    assert code == ExitCode.OK, stderr
    assert f"Access key {KEY}: compromised" in stdout
    assert "Events: 17 from 2015-02-02T21:34:50Z to 2015-02-04T01:05:33Z in us-west-2" in stdout
    assert "VerifyEmailIdentity" in stdout
    assert "invalid-json-createrole.txt: invalid JSON" in stdout
    assert "a CloudTrail digest file, which holds no events" in stdout


def test_several_log_paths(samples_dir: Path) -> None:
    cloudtrail = samples_dir / "cloudtrail"
    code, stdout, _ = investigate(
        "--cloudtrail-logs", str(cloudtrail / "ses-api-calls-aws-docs-2015.json"),
        "--cloudtrail-logs", str(cloudtrail / "ses-api-calls-aws-docs-2018.json"),
        "--output", "json",
    )  # fmt: skip

    assert code == ExitCode.OK
    assert len(json.loads(stdout)["events"]) == 17


def test_time_window(samples_dir: Path) -> None:
    code, stdout, _ = investigate(
        "--cloudtrail-logs", str(samples_dir / "cloudtrail"),
        "--since", "2015-02-04T00:00:00Z", "--until", "2015-02-05T00:00:00Z",
        "--output", "json",
    )  # fmt: skip

    assert code == ExitCode.OK
    times = [event["eventTime"] for event in json.loads(stdout)["events"]]
    assert times
    assert all("2015-02-04T00:00:00Z" <= time < "2015-02-05T00:00:00Z" for time in times)


def test_invalid_since_is_usage_error(samples_dir: Path) -> None:
    code, _, stderr = investigate(
        "--cloudtrail-logs", str(samples_dir / "cloudtrail"), "--since", "yesterday"
    )

    assert code == ExitCode.USAGE_ERROR
    assert "--since 'yesterday' is not a valid time; use ISO 8601" in stderr


BUCKET_URL = f"s3://{BUCKET}/{PREFIX}"
ACCOUNT = "123456789012"
SES_SAMPLE_LOG = log_key(ACCOUNT, "us-west-2", "2015/02/04", "f_20150204T0110Z_ses.json.gz")
READ_ONLY = re.compile(r"^(Get|List|Describe|Lookup)")


@pytest.fixture
def trail_bucket(moto_session: boto3.Session, samples_dir: Path) -> boto3.Session:
    """The SES documentation sample delivered to a trail bucket, as one log file."""
    install_fills()
    s3 = make_bucket(moto_session)
    records = load_records(samples_dir, "ses-api-calls-aws-docs-2015.json")
    s3.put_object(Bucket=BUCKET, Key=SES_SAMPLE_LOG, Body=gzipped_log(records))
    return moto_session


@pytest.mark.usefixtures("trail_bucket")
def test_trail_bucket_as_json() -> None:
    code, stdout, stderr = investigate(
        "--trail-bucket", BUCKET_URL, "--regions", "us-west-2",
        "--since", "2015-02-01T00:00:00Z", "--until", "2015-02-05T00:00:00Z",
        "--output", "json",
    )  # fmt: skip

    assert code == ExitCode.OK, stderr
    document = json.loads(stdout)
    assert document["schema_version"] == 1
    assert document["trail_bucket"] == {
        "location": BUCKET_URL,
        "since": "2015-02-01T00:00:00Z",
        "until": "2015-02-05T00:00:00Z",
        "objects_listed": 1,
        "objects_read": 1,
    }
    assert len(document["events"]) == 17
    assert document["verdict"] == "compromised"
    assert document["derived_credentials"] == []
    assert [region["region"] for region in document["sending"]] == ["us-east-1", "us-west-2"]
    assert document["sending"][1]["account"]["enforcement_status"] == "HEALTHY"
    assert document["sending"][1]["cloudwatch"]["period_seconds"] == 3600


@pytest.mark.usefixtures("trail_bucket")
def test_logs_and_bucket_merged(samples_dir: Path) -> None:
    code, stdout, stderr = investigate(
        "--cloudtrail-logs", str(samples_dir / "cloudtrail" / "ses-api-calls-aws-docs-2018.json"),
        "--trail-bucket", BUCKET_URL,
        "--since", "2015-02-01T00:00:00Z", "--until", "2015-02-05T00:00:00Z",
        "--output", "json",
    )  # fmt: skip

    assert code == ExitCode.OK, stderr
    document = json.loads(stdout)
    # The 2018 file repeats two of the sample's events; the copies collapse.
    assert len(document["events"]) == 17
    assert document["sending"] == []
    assert "ses:GetSendStatistics" in [gap["source"] for gap in document["gaps"]]


def test_invalid_trail_bucket_is_usage_error() -> None:
    code, _, stderr = investigate("--trail-bucket", "org-trail-logs/trails/prod")

    assert code == ExitCode.USAGE_ERROR
    assert "--trail-bucket is invalid: 'org-trail-logs/trails/prod' is not an S3 URL" in stderr


def test_investigate_is_read_only(trail_bucket: boto3.Session) -> None:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    trail_bucket.events.register("before-call.*.*", record)

    run_investigation(
        InvestigateRequest(
            access_key_id=KEY,
            since="2015-02-01T00:00:00Z",
            until="2015-02-05T00:00:00Z",
            regions=["us-west-2"],
            trail_bucket=BUCKET_URL,
        ),
        console=RecordingConsole(),
        as_json=True,
        session=trail_bucket,
        now=datetime(2015, 2, 5, 12, tzinfo=UTC),
    )

    assert [name for name in calls if not READ_ONLY.match(name)] == []
    assert sorted(set(calls)) == [
        "GetAccessKeyInfo",
        "GetAccount",
        "GetMetricData",
        "GetObject",
        "GetSendQuota",
        "GetSendStatistics",
        "ListObjectsV2",
        "LookupEvents",
    ]


def test_investigate_refuses_the_leaked_key(moto_session: boto3.Session) -> None:
    from remediate.core.errors import UsageError
    from remediate.engine.investigate import InvestigateRequest, run_investigation
    from tests.helpers import RecordingConsole

    leaked = boto3.Session(
        aws_access_key_id=KEY,
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name="us-east-1",
    )
    calls: list[str] = []
    leaked.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))

    with pytest.raises(UsageError, match="remediate never acts with it"):
        run_investigation(
            InvestigateRequest(access_key_id=KEY),
            console=RecordingConsole(),
            as_json=True,
            session=leaked,
        )

    assert calls == []


def test_hostile_text_inert_on_terminal(
    samples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escape sequences and rich markup from a trail record reach the terminal as plain text."""
    # Wide enough that the events table does not wrap the user agent.
    monkeypatch.setenv("COLUMNS", "400")
    record = ses_record(
        samples_dir,
        "VerifyEmailIdentity",
        access_key_id=KEY,
        event_id="11111111-2222-3333-4444-555555555555",
        event_time="2015-02-04T01:00:00Z",
    )
    record["userAgent"] = "\x1b]0;owned\x07[bold red]evil[/bold red]\x1b[2J"
    record["eventName"] = "Verify\x1b[31mEmailIdentity"
    record["requestParameters"] = {"emailAddress": "[link=https://example.com]x[/link]\x9b"}
    log = tmp_path / "hostile.json.gz"
    log.write_bytes(gzipped_log([record]))

    code, stdout, stderr = investigate("--cloudtrail-logs", str(log))

    assert code == ExitCode.OK, stderr
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in stdout
    assert "\\x1b]0;owned\\x07[bold red]evil[/bold red]\\x1b[2J" in stdout
    assert "Verify\\x1b[31mEmailIdentity" in stdout
