"""`remediate investigate --cloudtrail-logs`: the sample trail files, read with no AWS call."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from remediate.cli import cli
from remediate.core.errors import ExitCode

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
