"""investigate_files on the sample trail files, and the versioned JSON it produces."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from remediate.evidence.investigation import investigate_files, render_text, select_events
from remediate.evidence.trail_files import read_trail_files

KEY = "AKIAIOSFODNN7EXAMPLE"
EXPECTED_FINDINGS = [
    "ses-identity-verified-then-deleted",
    "ses-identity-deleted",
    "ses-identity-verification",
    "ses-recon",
]


def test_samples_directory(samples_dir: Path) -> None:
    cloudtrail = samples_dir / "cloudtrail"

    investigation = investigate_files([cloudtrail], KEY)

    assert len(investigation.events) == 17
    assert [finding.id for finding in investigation.findings] == EXPECTED_FINDINGS
    assert investigation.verdict.verdict == "compromised"
    assert [issue.path for issue in investigation.unreadable_files] == [
        str(cloudtrail / "invalid-json-createrole.txt")
    ]
    assert len(investigation.skipped_files) == 1
    assert "CloudTrail-Digest" in investigation.skipped_files[0].path


def test_2018_file_repeats_two_events(samples_dir: Path) -> None:
    cloudtrail = samples_dir / "cloudtrail"
    older = cloudtrail / "ses-api-calls-aws-docs-2015.json"
    newer = cloudtrail / "ses-api-calls-aws-docs-2018.json"

    both = investigate_files([older, newer], KEY)
    only_newer = investigate_files([newer], KEY)

    assert len(both.events) == 17
    assert {e.event_id for e in only_newer.events} <= {e.event_id for e in both.events}
    assert all(event.event_time.year == 2015 for event in both.events)


def test_events_of_other_keys_left_out(samples_dir: Path) -> None:
    result = read_trail_files([samples_dir / "cloudtrail"])

    events, session_keys = select_events(result.events, KEY)

    assert len(result.events) == 53
    assert len(events) == 17
    assert session_keys == []


def test_time_window(samples_dir: Path) -> None:
    since = datetime(2015, 2, 4, tzinfo=UTC)
    until = datetime(2015, 2, 4, 1, 0, tzinfo=UTC)

    investigation = investigate_files([samples_dir / "cloudtrail"], KEY, since=since, until=until)

    assert [event.event_name for event in investigation.events] == [
        "DeleteVerifiedEmailAddress",
        "GetIdentityVerificationAttributes",
        "SetIdentityNotificationTopic",
        "VerifyDomainIdentity",
    ]
    assert [finding.id for finding in investigation.findings] == [
        "ses-identity-deleted",
        "ses-identity-verification",
    ]
    assert investigation.verdict.verdict == "suspicious"


def test_temporary_key_followed(samples_dir: Path) -> None:
    path = samples_dir / "cloudtrail" / "stratus-aws.persistence.sts-federation-token.json"

    investigation = investigate_files([path], "AKIA6V1GNZTT65XQH36M")

    assert investigation.session_key_ids == ("ASIASTJKC5GCM7ZE6LUP",)
    assert [event.access_key_id for event in investigation.events] == [
        "AKIA6V1GNZTT65XQH36M",
        "ASIASTJKC5GCM7ZE6LUP",
    ]


def test_standing_gaps_listed(samples_dir: Path) -> None:
    investigation = investigate_files([samples_dir / "cloudtrail"], KEY)

    sources = [(gap.source, gap.standing) for gap in investigation.gaps]
    assert sources == [
        ("ses:SMTP", True),
        ("cloudtrail:data-events", True),
        ("ses:GetSendStatistics", False),
        ("cloudtrail:trail-files", False),
        ("cloudtrail:duplicate-event-ids", False),
        ("cloudtrail:duplicate-event-ids", False),
    ]


def test_no_events_is_limited_no_evidence(samples_dir: Path) -> None:
    investigation = investigate_files([samples_dir / "cloudtrail"], "AKIANOTINTHESAMPLES0")

    assert investigation.events == ()
    assert investigation.verdict.verdict == "no-evidence"
    assert investigation.verdict.limited_by_gaps is True
    assert investigation.verdict.reasons[0] == (
        "No indicator matched, but this verdict is limited: 2 source(s) could not be read "
        "(cloudtrail:trail-files; ses:GetSendStatistics)."
    )


def test_json_dict(samples_dir: Path) -> None:
    cloudtrail = samples_dir / "cloudtrail"

    document = investigate_files([cloudtrail], KEY).to_json_dict()

    assert json.loads(json.dumps(document)) == document
    assert document["schema_version"] == 1
    assert document["access_key_id"] == KEY
    assert document["verdict"] == "compromised"
    assert [finding["id"] for finding in document["findings"]] == EXPECTED_FINDINGS
    assert document["findings"][0]["severity"] == "high"
    assert document["findings"][0]["title"] == "SES identity verified, then deleted"
    assert document["findings"][0]["event_ids"] == [
        "eb2e1616-2b7b-4cd2-b6dc-29f83fc1789f",
        "17bb827a-dc8c-4156-90b1-c214e1d135c9",
    ]
    assert len(document["events"]) == 17
    assert document["events"][0] == {
        **document["events"][0],
        "eventID": "0b311e38-b5c6-43b3-9a39-5fbf0c2d0d99",
        "eventTime": "2015-02-02T21:34:50Z",
        "eventName": "GetIdentityDkimAttributes",
        "awsRegion": "us-west-2",
        "sourceIPAddress": "192.0.2.0",
        "accessKeyId": KEY,
    }
    assert document["unreadable_files"] == [
        {
            "path": str(cloudtrail / "invalid-json-createrole.txt"),
            "reason": "invalid JSON: Invalid control character at: line 19 column 124 (char 755)",
        }
    ]
    assert [gap["source"] for gap in document["gaps"]][:2] == ["ses:SMTP", "cloudtrail:data-events"]


def test_render_text(samples_dir: Path) -> None:
    lines = render_text(investigate_files([samples_dir / "cloudtrail"], KEY))

    assert lines[0] == f"Access key {KEY}: compromised"
    assert lines[1] == "Events: 17 from 2015-02-02T21:34:50Z to 2015-02-04T01:05:33Z in us-west-2"
    assert "Unreadable files:" in lines
    assert all(isinstance(line, str) for line in lines)
