"""SES account state per region (sesv2 GetAccount) against in-process moto with the fills.

moto 5.2 has no sesv2 GetAccount or PutAccountDetails; the rehearsal fills add
both, so the attacker's request for production access goes through the real API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from remediate.aws.gateways import AwsGateways
from remediate.aws.ses import SendDataPoint
from remediate.aws.sesv2 import SesAccount, parse_get_account
from remediate.evidence.events import TrailEvent
from remediate.evidence.gaps import SES_ACCOUNT, EvidenceGap
from remediate.evidence.indicators import default_catalogue
from remediate.evidence.sending import analyse_region, collect_sending, sending_findings
from remediate.evidence.ses_account import (
    FLAG_ENFORCEMENT,
    FLAG_PRODUCTION_UNUSED,
    FLAG_REVIEW_PENDING,
    account_concerns,
    describe_account,
)
from remediate.rehearsal.moto_fills import SesAccountState, install_fills, set_ses_account_state
from tests.evidence.trail_fixtures import LEAKED_KEY, ses_record

ACCOUNT = "123456789012"
ATTACKER_REGION = "ap-southeast-2"
TEAM_REGION = "eu-west-1"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
THRESHOLDS = default_catalogue().sending.thresholds
# The request the attacker of the rehearsal scenario submits, as sesv2 PutAccountDetails takes it.
ATTACKER_DETAILS = {
    "MailType": "MARKETING",
    "WebsiteURL": "https://promo-deals.example.net",
    "ContactLanguage": "EN",
    "UseCaseDescription": "Newsletters to customers who signed up on our website.",
    "AdditionalContactEmailAddresses": ["ops@promo-deals.example.net"],
    "ProductionAccessEnabled": True,
}


@pytest.fixture
def world(moto_session: boto3.Session) -> boto3.Session:
    install_fills()
    return moto_session


def request_production_access(session: boto3.Session, region: str = ATTACKER_REGION) -> None:
    session.client("sesv2", region_name=region).put_account_details(**ATTACKER_DETAILS)


def test_gateway_reads_pending_review(world: boto3.Session) -> None:
    request_production_access(world)

    account = AwsGateways(world).sesv2.get_account(ATTACKER_REGION)

    assert account.region == ATTACKER_REGION
    assert account.sending_enabled is True
    assert account.production_access_enabled is False
    assert account.enforcement_status == "HEALTHY"
    assert account.review_status == "PENDING"
    assert account.review_case_id is not None
    assert account.review_case_id.isdigit()
    assert account.mail_type == "MARKETING"
    assert account.website_url == "https://promo-deals.example.net"
    assert account.contact_addresses == ("ops@promo-deals.example.net",)


def test_gateway_reads_new_region(world: boto3.Session) -> None:
    account = AwsGateways(world).sesv2.get_account(TEAM_REGION)

    assert account == SesAccount(
        region=TEAM_REGION,
        sending_enabled=True,
        production_access_enabled=False,
        enforcement_status="HEALTHY",
    )


def test_parse_response_without_details() -> None:
    account = parse_get_account(
        "us-east-1",
        {"SendingEnabled": False, "ProductionAccessEnabled": True, "EnforcementStatus": "SHUTDOWN"},
    )

    assert account.sending_enabled is False
    assert account.production_access_enabled is True
    assert account.enforcement_status == "SHUTDOWN"
    assert account.review_status is None


def test_pending_review_flagged() -> None:
    account = SesAccount(
        ATTACKER_REGION,
        sending_enabled=True,
        production_access_enabled=False,
        enforcement_status="HEALTHY",
        review_status="PENDING",
        review_case_id="1234567890",
        mail_type="MARKETING",
        website_url="https://promo-deals.example.net",
    )

    concerns = account_concerns(account)

    assert [(concern.kind, concern.description) for concern in concerns] == [
        (
            FLAG_REVIEW_PENDING,
            "a production-access review is pending (case 1234567890), for marketing mail from "
            "https://promo-deals.example.net, and the team has not listed it as its own request",
        )
    ]


def test_team_request_not_flagged() -> None:
    account = SesAccount(TEAM_REGION, True, False, "HEALTHY", review_status="PENDING")

    assert account_concerns(account, requested=True) == []


def test_production_in_unused_region() -> None:
    account = SesAccount(ATTACKER_REGION, True, True, "HEALTHY", review_status="GRANTED")

    concerns = account_concerns(account, unused=True)

    assert [concern.kind for concern in concerns] == [FLAG_PRODUCTION_UNUSED]
    assert account_concerns(account, unused=False) == []


@pytest.mark.parametrize(
    ("status", "description"),
    [
        ("PROBATION", "AWS placed SES sending under review (PROBATION)"),
        ("SHUTDOWN", "AWS paused SES sending (SHUTDOWN)"),
    ],
)
def test_enforcement_flagged(status: str, description: str) -> None:
    account = SesAccount(TEAM_REGION, True, True, status)

    concerns = account_concerns(account)

    assert [(concern.kind, concern.description) for concern in concerns] == [
        (FLAG_ENFORCEMENT, description)
    ]


def test_healthy_account_not_flagged() -> None:
    account = SesAccount(TEAM_REGION, True, True, "HEALTHY", review_status="GRANTED")

    assert account_concerns(account) == []


def test_describe_account() -> None:
    account = SesAccount(ATTACKER_REGION, False, False, "PROBATION", review_status="PENDING")

    assert describe_account(account) == "sandbox, PROBATION, review PENDING, sending paused"


def test_collect_reads_account(world: boto3.Session) -> None:
    request_production_access(world)
    gateways = AwsGateways(world)

    result = collect_sending(
        gateways.ses, [TEAM_REGION, ATTACKER_REGION], now=NOW, sesv2=gateways.sesv2
    )

    by_region = {region.region: region for region in result.regions}
    assert result.gaps == ()
    assert [flag.kind for flag in by_region[ATTACKER_REGION].flags] == [FLAG_REVIEW_PENDING]
    assert by_region[TEAM_REGION].flags == ()
    record = by_region[ATTACKER_REGION].to_record()
    assert json.loads(json.dumps(record)) == record
    assert record["account"]["review_status"] == "PENDING"
    assert record["account"]["website_url"] == "https://promo-deals.example.net"
    assert record["account"]["additional_contact_email_addresses"] == [
        "ops@promo-deals.example.net"
    ]


def test_collect_team_request_expected(world: boto3.Session) -> None:
    request_production_access(world, TEAM_REGION)
    gateways = AwsGateways(world)

    result = collect_sending(
        gateways.ses,
        [TEAM_REGION],
        now=NOW,
        sesv2=gateways.sesv2,
        production_requests=[TEAM_REGION],
    )

    assert result.regions[0].flags == ()


def test_collect_enforcement(world: boto3.Session) -> None:
    set_ses_account_state(
        ACCOUNT,
        TEAM_REGION,
        SesAccountState(production_access_enabled=True, enforcement_status="PROBATION"),
    )
    gateways = AwsGateways(world)

    result = collect_sending(gateways.ses, [TEAM_REGION], now=NOW, sesv2=gateways.sesv2)

    assert [flag.kind for flag in result.regions[0].flags] == [FLAG_ENFORCEMENT]


def test_denied_get_account_is_gap(world: boto3.Session) -> None:
    gateways = AwsGateways(world)
    denied = Stubber(gateways.clients.client("sesv2", TEAM_REGION))
    denied.add_client_error(
        "get_account",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: ses:GetAccount",
        http_status_code=403,
    )

    with denied:
        result = collect_sending(gateways.ses, [TEAM_REGION], now=NOW, sesv2=gateways.sesv2)

    assert result.gaps == (
        EvidenceGap(
            SES_ACCOUNT,
            f"sesv2 GetAccount on {TEAM_REGION} failed: AccessDeniedException: User is not "
            "authorized to perform: ses:GetAccount. The operator's credentials lack "
            "ses:GetAccount.",
            region=TEAM_REGION,
        ),
    )
    assert result.regions[0].region == TEAM_REGION
    assert result.regions[0].account is None


def test_pending_review_finding(samples_dir: Path) -> None:
    account = SesAccount(
        ATTACKER_REGION,
        True,
        False,
        "HEALTHY",
        review_status="PENDING",
        review_case_id="1234567890",
    )
    points = [SendDataPoint(NOW - timedelta(hours=1), 64, 9, 1, 3)]
    region = analyse_region(
        ATTACKER_REGION, points, None, now=NOW, thresholds=THRESHOLDS, account=account
    )
    request = TrailEvent.from_record(
        ses_record(
            samples_dir,
            "GetSendQuota",
            access_key_id=LEAKED_KEY,
            event_id="c0ffee00-0000-4000-8000-000000000001",
            event_time="2026-12-04T10:00:00Z",
            region=ATTACKER_REGION,
        )
        | {
            "eventName": "PutAccountDetails",
            "readOnly": False,
            "requestParameters": {"mailType": "MARKETING", "productionAccessEnabled": True},
        }
    )

    findings = sending_findings([region], events=[request])

    review = next(f for f in findings if f.id == "ses-production-review-pending")
    assert review.severity == "medium"
    assert review.event_ids == ("c0ffee00-0000-4000-8000-000000000001",)
    assert review.data_points == (f"{ATTACKER_REGION}@GetAccount",)
    assert review.regions == (ATTACKER_REGION,)
    assert review.summary == (
        f"{ATTACKER_REGION}: a production-access review is pending (case 1234567890), for "
        "unknown mail from no website, and the team has not listed it as its own request. "
        "Requested with the key: PutAccountDetails c0ffee00-0000-4000-8000-000000000001 at "
        f"2026-12-04T10:00:00Z in {ATTACKER_REGION}."
    )
