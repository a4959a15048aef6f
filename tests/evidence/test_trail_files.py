"""Reading CloudTrail log files from disk: directories, gzip, digests, unreadable files."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from remediate.evidence.trail_files import FileIssue, parse_trail_document, read_trail_files

DIGEST = (
    "trail-bucket/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/01/"
    "111122223333_CloudTrail-Digest_us-east-2_digest-example.json"
)
INVALID_JSON_REASON = "invalid JSON: Invalid control character at: line 19 column 124 (char 755)"


def test_samples_directory(samples_dir: Path) -> None:
    cloudtrail = samples_dir / "cloudtrail"

    result = read_trail_files([cloudtrail])

    assert result.records_read == 63
    assert len(result.events) == 53
    assert len(result.files_read) == 8
    assert result.skipped == (
        FileIssue(str(cloudtrail / DIGEST), "a CloudTrail digest file, which holds no events"),
    )
    assert result.unreadable == (
        FileIssue(str(cloudtrail / "invalid-json-createrole.txt"), INVALID_JSON_REASON),
    )
    assert result.partly_read == ()


def test_gzip_file_named_directly(samples_dir: Path) -> None:
    bucket = samples_dir / "cloudtrail" / "trail-bucket" / "AWSLogs" / "111122223333"
    path = next(bucket.rglob("*.json.gz"))

    result = read_trail_files([path])

    assert result.files_read == (str(path),)
    assert len(result.events) == 8
    assert [e.event_name for e in result.events][:2] == ["CreateKeyPair", "StopInstances"]


def test_gzip_repeats_plain_file(samples_dir: Path) -> None:
    cloudtrail = samples_dir / "cloudtrail"
    gz = next((cloudtrail / "trail-bucket" / "AWSLogs" / "111122223333").rglob("*.json.gz"))

    result = read_trail_files([cloudtrail / "cloudtrail-guide-examples.json", gz])

    assert result.records_read == 16
    assert len(result.events) == 8


def test_digest_recognised_by_content(samples_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "digest.json"
    shutil.copy(samples_dir / "cloudtrail" / DIGEST, copy)

    result = read_trail_files([copy])

    assert result.skipped == (
        FileIssue(str(copy), "a CloudTrail digest file, which holds no events"),
    )
    assert result.files_read == ()


def test_invalid_file_does_not_stop_reading(samples_dir: Path) -> None:
    cloudtrail = samples_dir / "cloudtrail"
    invalid = cloudtrail / "invalid-json-createrole.txt"
    valid = cloudtrail / "ses-api-calls-aws-docs-2018.json"

    result = read_trail_files([invalid, valid])

    assert result.unreadable == (FileIssue(str(invalid), INVALID_JSON_REASON),)
    assert result.files_read == (str(valid),)
    assert len(result.events) == 2


def test_missing_path_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"

    result = read_trail_files([missing])

    assert result.unreadable == (FileIssue(str(missing), "no such file or directory"),)


def test_walk_skips_non_json_file(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# trail logs of the incident\n")

    result = read_trail_files([tmp_path])

    assert result.skipped == (FileIssue(str(tmp_path / "README.md"), "neither JSON nor gzip"),)
    assert result.unreadable == ()


def test_walk_skips_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)

    result = read_trail_files([tmp_path])

    assert result.skipped == (FileIssue(str(fifo), "not a regular file"),)


def test_walk_reads_json_under_other_name(samples_dir: Path, tmp_path: Path) -> None:
    source = samples_dir / "cloudtrail" / "ses-api-calls-aws-docs-2018.json"
    saved = tmp_path / "export.log"
    saved.write_bytes(gzip.compress(source.read_bytes()))

    result = read_trail_files([tmp_path])

    assert result.files_read == (str(saved),)
    assert len(result.events) == 2


def test_truncated_gzip_unreadable(samples_dir: Path, tmp_path: Path) -> None:
    bucket = samples_dir / "cloudtrail" / "trail-bucket" / "AWSLogs" / "111122223333"
    data = next(bucket.rglob("*.json.gz")).read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(data[: len(data) // 2])

    result = read_trail_files([cut])

    assert len(result.unreadable) == 1
    assert result.unreadable[0].reason.startswith("invalid gzip data: ")


def test_records_without_time_partly_read(samples_dir: Path, tmp_path: Path) -> None:
    source = (samples_dir / "cloudtrail" / "ses-api-calls-aws-docs-2018.json").read_text()
    damaged = tmp_path / "damaged.json"
    damaged.write_text(source.replace('"eventTime":"2018-02-02T21:34:50Z",', "", 1))

    result = read_trail_files([damaged])

    assert len(result.events) == 1
    assert result.partly_read == (
        FileIssue(str(damaged), "1 of 2 records skipped: a record has no eventTime"),
    )


def test_stratus_list_of_records(samples_dir: Path) -> None:
    path = samples_dir / "cloudtrail" / "stratus-aws.persistence.iam-create-admin-user.json"

    result = read_trail_files([path])

    names = sorted(event.event_name or "" for event in result.events)
    assert names == ["AttachUserPolicy", "CreateAccessKey", "CreateUser"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'"just a string"', "the file contains a JSON str, not CloudTrail records"),
        (b'{"Trails": []}', "the JSON has no Records list, so it is not a CloudTrail log file"),
        (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
    ],
)
def test_document_rejected(data: bytes, reason: str) -> None:
    from remediate.evidence.trail_files import UnreadableFileError

    with pytest.raises(UnreadableFileError) as raised:
        parse_trail_document(data)

    assert str(raised.value) == reason


def test_lookup_events_output_document(samples_dir: Path) -> None:
    import json

    record = json.loads(
        (samples_dir / "cloudtrail" / "ses-api-calls-aws-docs-2018.json").read_text()
    )["Records"][0]
    output = {"Events": [{"EventId": record["eventID"], "CloudTrailEvent": json.dumps(record)}]}

    document = parse_trail_document(json.dumps(output).encode())

    assert [event.event_id for event in document.events] == ["0ffa308d-1467-4259-8be3-c749753be325"]
