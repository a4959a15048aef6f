"""Selecting the records that name a key from compact trail logs, without parsing the others."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from remediate.evidence.investigation import investigate_files
from remediate.evidence.trail_files import (
    FileIssue,
    parse_trail_document,
    read_trail_files,
    select_trail_records,
)

GUIDE = "cloudtrail-guide-examples.json"
LEAKED = "AKIAIOSFODNN7EXAMPLE"
OTHER = "AKIAI44QH8DHBEXAMPLE"
SESSION = "ASIAY34FZKBOKMUTVV7A"


def compact(document: Any) -> bytes:
    """Return the document as CloudTrail delivers it: one line, no spaces."""
    return json.dumps(document, separators=(",", ":")).encode()


def record(key: str | None, name: str, minute: int, **fields: Any) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": "IAMUser", "userName": "smtp"}
    if key is not None:
        identity["accessKeyId"] = key
    return {
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": f"2026-12-01T03:{minute:02d}:00Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "eventID": f"id-{minute}",
        **fields,
    }


def trail(*records: dict[str, Any]) -> bytes:
    return compact({"Records": list(records)})


def names(data: bytes, key: str) -> list[str | None]:
    return [event.event_name for event in parse_trail_document(data, [key.encode()]).events]


def test_guide_examples_selected_without_full_parse(samples_dir: Path) -> None:
    document = json.loads((samples_dir / "cloudtrail" / GUIDE).read_text())
    data = compact(document)

    selected = select_trail_records(data, [b"EXAMPLE_KEY_ID"])

    assert selected == document["Records"][:6]


def test_selection_equals_full_parse(samples_dir: Path) -> None:
    document = json.loads((samples_dir / "cloudtrail" / GUIDE).read_text())
    data = compact(document)
    everything = parse_trail_document(data).events

    for key in ("EXAMPLE_KEY_ID", "Alice", "ec2.amazonaws.com", "absent"):
        expected = [event for event in everything if key in json.dumps(event.raw)]
        assert parse_trail_document(data, [key.encode()]).events == tuple(expected), key


def test_gzipped_compact_file(tmp_path: Path) -> None:
    path = tmp_path / "111122223333_CloudTrail_eu-west-1_20261201T0305Z_a1.json.gz"
    path.write_bytes(
        gzip.compress(trail(record(OTHER, "SendEmail", 1), record(LEAKED, "GetSendQuota", 2)))
    )

    result = read_trail_files([path], [LEAKED])

    assert [event.event_name for event in result.events] == ["GetSendQuota"]
    assert result.files_read == (str(path),)
    assert result.records_read == 1


def test_several_matches_in_one_record() -> None:
    data = trail(
        record(LEAKED, "UpdateAccessKey", 1, requestParameters={"accessKeyId": LEAKED}),
        record(OTHER, "ListIdentities", 2),
        record(LEAKED, "GetSendQuota", 3),
    )

    assert names(data, LEAKED) == ["UpdateAccessKey", "GetSendQuota"]


def test_key_named_outside_user_identity() -> None:
    data = trail(
        record(OTHER, "CreateAccessKey", 1, responseElements={"accessKey": {"accessKeyId": LEAKED}})
    )

    assert names(data, LEAKED) == ["CreateAccessKey"]


def test_two_needles_one_record() -> None:
    data = trail(
        record(
            LEAKED,
            "GetSessionToken",
            1,
            responseElements={"credentials": {"accessKeyId": SESSION}},
        ),
        record(SESSION, "SendRawEmail", 2),
    )

    events = parse_trail_document(data, [LEAKED.encode(), SESSION.encode()]).events

    assert [event.event_name for event in events] == ["GetSessionToken", "SendRawEmail"]


def test_record_in_another_layout_falls_back() -> None:
    # The second record does not start with eventVersion, so no cut can hold the match.
    reordered = {"eventName": "GetSendQuota", **record(LEAKED, "GetSendQuota", 2)}
    data = trail(record(OTHER, "ListIdentities", 1), reordered)

    assert select_trail_records(data, [LEAKED.encode()]) is None
    assert names(data, LEAKED) == ["GetSendQuota"]


def test_nested_event_version_falls_back() -> None:
    nested = {"items": [{"eventVersion": "x", "owner": LEAKED}, {"eventVersion": "y"}]}
    data = trail(record(OTHER, "PutEvents", 1, requestParameters=nested))

    assert select_trail_records(data, [LEAKED.encode()]) is None
    assert names(data, LEAKED) == ["PutEvents"]


def test_nested_forged_record_falls_back() -> None:
    """Objects in a parameter list that look like whole records are not cut out as events."""
    forged = record(LEAKED, "DeleteTrail", 9)
    # The first item makes the forged one follow "},", as a real record does.
    nested = {"items": [{"name": "first"}, forged, record(None, "StopLogging", 8)]}
    data = trail(
        record(OTHER, "ListIdentities", 1),
        record(OTHER, "CreateTopic", 2, requestParameters=nested),
        record(OTHER, "GetSendQuota", 3),
    )

    assert select_trail_records(data, [LEAKED.encode()]) is None
    # The full parse finds the real record, whose parameters merely name the key.
    assert names(data, LEAKED) == ["CreateTopic"]


def test_pretty_printed_file_falls_back(samples_dir: Path) -> None:
    data = (samples_dir / "cloudtrail" / GUIDE).read_bytes()

    assert select_trail_records(data, [b"EXAMPLE_KEY_ID"]) is None
    assert len(parse_trail_document(data, [b"EXAMPLE_KEY_ID"]).events) == 6


def test_file_cut_short_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_bytes(trail(record(OTHER, "ListIdentities", 1))[:-30])

    result = read_trail_files([path], [LEAKED])

    assert result.files_read == ()
    assert len(result.unreadable) == 1
    assert result.unreadable[0].reason.startswith("invalid JSON: ")


def test_digest_skipped_with_key_filter(samples_dir: Path, tmp_path: Path) -> None:
    [digest] = (samples_dir / "cloudtrail").rglob("*CloudTrail-Digest_*.json")
    copy = tmp_path / "digest.json"
    copy.write_bytes(digest.read_bytes())

    result = read_trail_files([copy], [LEAKED])

    assert result.skipped == (
        FileIssue(str(copy), "a CloudTrail digest file, which holds no events"),
    )
    assert result.files_read == ()


def test_session_key_followed_across_files(tmp_path: Path) -> None:
    # The session key acts in a file read before the one where it was issued.
    (tmp_path / "a.json").write_bytes(trail(record(SESSION, "SendRawEmail", 9)))
    (tmp_path / "b.json").write_bytes(
        trail(
            record(
                LEAKED,
                "GetSessionToken",
                1,
                eventSource="sts.amazonaws.com",
                responseElements={"credentials": {"accessKeyId": SESSION}},
            )
        )
    )

    investigation = investigate_files([tmp_path], LEAKED)

    assert investigation.session_key_ids == (SESSION,)
    assert [event.event_name for event in investigation.events] == [
        "GetSessionToken",
        "SendRawEmail",
    ]


@pytest.mark.parametrize("needle", [LEAKED, OTHER])
def test_last_record_selected(needle: str) -> None:
    data = trail(record(OTHER, "ListIdentities", 1), record(LEAKED, "GetSendQuota", 2))

    selected = select_trail_records(data + b"\n", [needle.encode()])

    assert selected is not None
    assert [item["userIdentity"]["accessKeyId"] for item in selected] == [needle]
