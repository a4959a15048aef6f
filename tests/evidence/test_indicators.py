"""The indicator catalogue: loading it, and matching it on real and adapted CloudTrail records."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.evidence.events import TrailEvent
from remediate.evidence.indicators import (
    CatalogueError,
    Severity,
    default_catalogue,
    load_catalogue,
    parse_catalogue,
)

KEY = "AKIAIOSFODNN7EXAMPLE"


def sample_records(samples_dir: Path, name: str) -> list[dict[str, Any]]:
    document = json.loads((samples_dir / "cloudtrail" / name).read_text("utf-8"))
    return document["Records"] if isinstance(document, dict) else document


def events_of(records: list[dict[str, Any]]) -> list[TrailEvent]:
    return [TrailEvent.from_record(record) for record in records]


def ses_record(samples_dir: Path, name: str) -> dict[str, Any]:
    records = sample_records(samples_dir, "ses-api-calls-aws-docs-2015.json")
    return copy.deepcopy(next(r for r in records if r["eventName"] == name))


def variant(record: dict[str, Any], number: int, **changes: Any) -> dict[str, Any]:
    """A copy of a sample record with its own eventID and the given fields changed."""
    changed = copy.deepcopy(record)
    changed["eventID"] = f"{record['eventID'][:-4]}{number:04d}"
    changed.update(changes)
    return changed


def matched_ids(events: list[TrailEvent]) -> list[str]:
    return [finding.id for finding in default_catalogue().match(events)]


def test_shipped_catalogue_loads() -> None:
    catalogue = default_catalogue()

    assert catalogue.ids() == [
        "ses-recon",
        "ses-identity-verification",
        "ses-identity-verified-then-deleted",
        "ses-identity-deleted",
        "ses-sending-enabled",
        "ses-sandbox-exit",
        "ses-sandbox-exit-multi-region",
        "iam-persistence",
        "iam-admin-policy-attached",
        "anti-forensics",
        "scanner-user-agent",
        "access-denied-burst",
        "ses-sending-spike",
        "ses-sending-new-region",
        "ses-sending-unused-region",
        "ses-reputation-risk",
        "ses-production-review-pending",
        "ses-production-access-unused-region",
        "ses-enforcement-action",
        "derived-credential-activity",
    ]


def test_every_indicator_names_source() -> None:
    for indicator in default_catalogue().indicators:
        assert indicator.info.source, indicator.id
        assert "http" not in indicator.info.source, indicator.id


def test_ses_2015_sample_findings(samples_dir: Path) -> None:
    events = events_of(sample_records(samples_dir, "ses-api-calls-aws-docs-2015.json"))

    findings = {finding.id: finding for finding in default_catalogue().match(events)}

    assert sorted(findings) == [
        "ses-identity-deleted",
        "ses-identity-verification",
        "ses-identity-verified-then-deleted",
        "ses-recon",
    ]
    assert findings["ses-identity-verified-then-deleted"].severity == Severity.HIGH
    assert findings["ses-identity-verified-then-deleted"].event_ids == (
        "eb2e1616-2b7b-4cd2-b6dc-29f83fc1789f",  # VerifyEmailAddress user@example.com
        "17bb827a-dc8c-4156-90b1-c214e1d135c9",  # DeleteVerifiedEmailAddress user@example.com
    )
    assert findings["ses-identity-deleted"].event_ids == (
        "0ffa308d-1467-4259-8be3-c749753be325",  # DeleteIdentity amazon.com
        "17bb827a-dc8c-4156-90b1-c214e1d135c9",
    )
    assert findings["ses-recon"].event_ids == (
        "0fe5eef3-0c28-4480-808e-307b21404a78",  # GetSendStatistics
        "a18a9745-d06a-43e9-aad0-8eee4de50f48",  # ListVerifiedEmailAddresses
        "8f9aed63-b03a-4d30-a880-33ae0c6b7786",  # GetIdentityVerificationAttributes
        "60ef4f01-9826-4fb4-828e-8c36dda81f40",  # GetSendQuota
        "6eb8178e-69c3-4a93-8af0-2a5a0f5f209e",  # ListIdentities
    )
    assert len(findings["ses-identity-verification"].event_ids) == 4


def test_finding_summary(samples_dir: Path) -> None:
    events = events_of(sample_records(samples_dir, "ses-api-calls-aws-docs-2015.json"))

    finding = next(f for f in default_catalogue().match(events) if f.id == "ses-identity-deleted")

    assert finding.summary == (
        "2 calls (DeleteIdentity, DeleteVerifiedEmailAddress) from 2015-02-02T21:34:50Z "
        "to 2015-02-04T00:57:15Z in us-west-2."
    )
    assert finding.regions == ("us-west-2",)
    assert finding.to_record()["first_seen"] == "2015-02-02T21:34:50Z"


def test_verified_then_deleted_needs_same_identity(samples_dir: Path) -> None:
    verify = ses_record(samples_dir, "VerifyEmailIdentity")
    delete = variant(
        ses_record(samples_dir, "DeleteIdentity"),
        1,
        eventTime="2015-02-04T02:05:33Z",
        requestParameters={"identity": "someone-else@example.com"},
    )

    assert "ses-identity-verified-then-deleted" not in matched_ids(events_of([verify, delete]))


def test_verified_then_deleted_within_window(samples_dir: Path) -> None:
    verify = ses_record(samples_dir, "VerifyEmailIdentity")
    delete = variant(
        ses_record(samples_dir, "DeleteIdentity"),
        1,
        eventTime="2015-02-04T02:05:33Z",
        requestParameters={"identity": "User@Example.com"},
    )
    too_late = variant(delete, 2, eventTime="2015-02-07T01:05:34Z")

    assert "ses-identity-verified-then-deleted" in matched_ids(events_of([verify, delete]))
    assert "ses-identity-verified-then-deleted" not in matched_ids(events_of([verify, too_late]))


def test_recon_needs_two_calls(samples_dir: Path) -> None:
    quota = ses_record(samples_dir, "GetSendQuota")

    assert matched_ids(events_of([quota])) == []


def test_trusted_advisor_not_recon(samples_dir: Path) -> None:
    # Trusted Advisor checks the SES quota on the account's behalf.
    service = {"type": "AWSService", "invokedBy": "trustedadvisor.amazonaws.com"}
    quota = variant(
        ses_record(samples_dir, "GetSendQuota"),
        1,
        sourceIPAddress="trustedadvisor.amazonaws.com",
        userAgent="trustedadvisor.amazonaws.com",
        userIdentity=service,
    )
    statistics = variant(
        ses_record(samples_dir, "GetSendStatistics"),
        2,
        eventTime=quota["eventTime"],
        sourceIPAddress="trustedadvisor.amazonaws.com",
        userIdentity=service,
    )

    assert matched_ids(events_of([quota, statistics])) == []


def test_service_source_ip_not_recon(samples_dir: Path) -> None:
    quota = variant(
        ses_record(samples_dir, "GetSendQuota"), 1, sourceIPAddress="trustedadvisor.amazonaws.com"
    )
    statistics = variant(
        ses_record(samples_dir, "GetSendStatistics"),
        2,
        eventTime=quota["eventTime"],
        sourceIPAddress="trustedadvisor.amazonaws.com",
    )
    control = variant(statistics, 3, sourceIPAddress="192.0.2.0")

    assert matched_ids(events_of([quota, statistics])) == []
    assert matched_ids(events_of([quota, control])) == []
    assert matched_ids(events_of([variant(quota, 4, sourceIPAddress="192.0.2.0"), control])) == [
        "ses-recon"
    ]


def test_stratus_admin_user(samples_dir: Path) -> None:
    events = events_of(
        sample_records(samples_dir, "stratus-aws.persistence.iam-create-admin-user.json")
    )

    findings = {finding.id: finding for finding in default_catalogue().match(events)}

    assert sorted(findings) == ["iam-admin-policy-attached", "iam-persistence"]
    assert findings["iam-admin-policy-attached"].severity == Severity.CRITICAL
    assert findings["iam-admin-policy-attached"].event_ids == (
        "083dc4ad-e264-46bc-a407-d0dd31b58bdc",
    )
    assert len(findings["iam-persistence"].event_ids) == 3


def test_stratus_login_profile(samples_dir: Path) -> None:
    events = events_of(
        sample_records(samples_dir, "stratus-aws.persistence.iam-create-user-login-profile.json")
    )

    findings = default_catalogue().match(events)

    assert [(f.id, f.event_ids) for f in findings] == [
        ("iam-persistence", ("d3906a7d-604b-407f-acb6-fc425742821e",))
    ]


def test_stratus_federation_token(samples_dir: Path) -> None:
    events = events_of(
        sample_records(samples_dir, "stratus-aws.persistence.sts-federation-token.json")
    )

    assert matched_ids(events) == ["iam-persistence"]


def test_failed_update_trail_is_anti_forensics(samples_dir: Path) -> None:
    events = events_of(sample_records(samples_dir, "cloudtrail-guide-examples.json"))

    findings = {finding.id: finding for finding in default_catalogue().match(events)}

    assert findings["anti-forensics"].event_ids == ("b7d4398e-b2f0-4faa-9c76-e2d316a8d67f",)
    assert findings["anti-forensics"].summary.endswith(", 1 of them failed.")


@pytest.mark.parametrize(
    "user_agent",
    [
        "TruffleHog",
        "aws-cli/2.15.0 Python/3.11.6 Linux/6.6.9-amd64 exe/x86_64.kali.2024 distrib#kali.2024",
        "S3 Browser 11.5.7 https://s3browser.com",
    ],
)
def test_scanner_user_agent(samples_dir: Path, user_agent: str) -> None:
    quota = variant(ses_record(samples_dir, "GetSendQuota"), 1, userAgent=user_agent)

    assert matched_ids(events_of([quota])) == ["scanner-user-agent"]


def test_ordinary_user_agent_not_scanner(samples_dir: Path) -> None:
    quota = variant(
        ses_record(samples_dir, "GetSendQuota"), 1, userAgent="Boto3/1.34.0 Python/3.12"
    )

    assert matched_ids(events_of([quota])) == []


def denied_calls(samples_dir: Path, names: list[str], spacing: timedelta) -> list[TrailEvent]:
    base = ses_record(samples_dir, "GetSendQuota")
    start = parse_timestamp(base["eventTime"])
    return events_of(
        [
            variant(
                base,
                number,
                eventName=name,
                eventTime=format_timestamp(start + number * spacing),
                errorCode="AccessDenied",
                errorMessage="User is not authorized",
            )
            for number, name in enumerate(names)
        ]
    )


def test_access_denied_burst(samples_dir: Path) -> None:
    names = [
        "ListUsers",
        "ListRoles",
        "ListBuckets",
        "DescribeInstances",
        "ListSecrets",
        "GetAccount",
    ]

    events = denied_calls(samples_dir, names, timedelta(seconds=30))

    findings = [f for f in default_catalogue().match(events) if f.id == "access-denied-burst"]
    assert len(findings) == 1
    assert len(findings[0].event_ids) == 6


def test_denied_calls_spread_out(samples_dir: Path) -> None:
    names = [
        "ListUsers",
        "ListRoles",
        "ListBuckets",
        "DescribeInstances",
        "ListSecrets",
        "GetAccount",
    ]

    events = denied_calls(samples_dir, names, timedelta(minutes=3))

    assert "access-denied-burst" not in matched_ids(events)


def test_same_denied_call_repeated(samples_dir: Path) -> None:
    events = denied_calls(samples_dir, ["SendRawEmail"] * 12, timedelta(seconds=5))

    assert "access-denied-burst" not in matched_ids(events)


def test_sandbox_exit_in_many_regions(samples_dir: Path) -> None:
    base = variant(
        ses_record(samples_dir, "GetSendQuota"),
        0,
        eventName="PutAccountDetails",
        requestParameters={"mailType": "MARKETING", "productionAccessEnabled": True},
    )
    regions = ["us-east-1", "eu-west-1", "ap-south-1"]
    records = [
        variant(base, number, awsRegion=region, eventTime=f"2015-02-04T01:03:{27 + number}Z")
        for number, region in enumerate(regions)
    ]

    findings = {f.id: f for f in default_catalogue().match(events_of(records))}

    assert sorted(findings) == ["ses-sandbox-exit", "ses-sandbox-exit-multi-region"]
    assert findings["ses-sandbox-exit-multi-region"].regions == (
        "ap-south-1",
        "eu-west-1",
        "us-east-1",
    )


def test_sending_enabled_only_when_true(samples_dir: Path) -> None:
    enable = variant(
        ses_record(samples_dir, "GetSendQuota"),
        1,
        eventName="UpdateAccountSendingEnabled",
        requestParameters={"enabled": True},
    )
    pause = variant(enable, 2, requestParameters={"enabled": False})

    assert matched_ids(events_of([enable])) == ["ses-sending-enabled"]
    assert matched_ids(events_of([pause])) == []


def shipped_document() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("remediate.evidence").joinpath("indicators.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def test_invalid_severity_rejected() -> None:
    document = shipped_document()
    document["indicators"][0]["severity"] = "urgent"

    with pytest.raises(CatalogueError) as raised:
        parse_catalogue(document, origin="team.yaml")

    assert str(raised.value) == (
        "team.yaml: indicator ses-recon: "
        "severity 'urgent' is not one of low, medium, high, critical."
    )


def test_duplicate_id_rejected() -> None:
    document = shipped_document()
    document["indicators"].append(document["indicators"][0])

    with pytest.raises(CatalogueError, match="indicator ids appear twice: ses-recon"):
        parse_catalogue(document, origin="team.yaml")


def test_invalid_pattern_rejected() -> None:
    document = shipped_document()
    scanner = next(i for i in document["indicators"] if i["id"] == "scanner-user-agent")
    scanner["match"]["user_agents"].append("kali(")

    with pytest.raises(CatalogueError, match="'kali\\(' is not a valid regular expression"):
        parse_catalogue(document, origin="team.yaml")


def test_team_catalogue_file(tmp_path: Path) -> None:
    document = shipped_document()
    document["indicators"] = [i for i in document["indicators"] if i["id"] == "ses-recon"]
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(document))

    catalogue = load_catalogue(path)

    assert [indicator.id for indicator in catalogue.indicators] == ["ses-recon"]


def test_wrong_schema_version_rejected() -> None:
    document = shipped_document()
    document["schema_version"] = 2

    with pytest.raises(CatalogueError, match="schema_version is 2; this remediate reads version 1"):
        parse_catalogue(document, origin="team.yaml")


def test_application_sends_are_not_findings(samples_dir: Path) -> None:
    # SES API sends logged as data events by a trail: the application's own mail.
    base = ses_record(samples_dir, "GetSendQuota")
    sends = [
        variant(
            base,
            number,
            eventName=name,
            eventCategory="Data",
            readOnly=False,
            eventTime=format_timestamp(
                parse_timestamp(base["eventTime"]) + timedelta(seconds=number)
            ),
            requestParameters={"source": "no-reply@example.com"},
        )
        for number, name in enumerate(["SendRawEmail", "SendEmail"] * 10, start=1)
    ]

    assert matched_ids(events_of(sends)) == []
