"""Scenario plans: the default story as exact data at a fixed clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from remediate.core.errors import ExitCode
from remediate.rehearsal.moto_fills import SendDataPoint
from remediate.rehearsal.scenarios import (
    BOTO3_USER_AGENT,
    UnknownScenarioError,
    floor_to_interval,
    get_scenario,
    list_scenarios,
)

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def test_scenarios_listed_by_name() -> None:
    assert [scenario.name for scenario in list_scenarios()] == ["default", "persistence"]


def test_unknown_scenario_lists_known_ones() -> None:
    with pytest.raises(UnknownScenarioError) as caught:
        get_scenario("ransomware")

    assert caught.value.exit_code == ExitCode.USAGE_ERROR
    assert caught.value.message == (
        "There is no rehearsal scenario named 'ransomware'. Known scenarios:\n"
        "  default: SMTP key found by a scanner, used to send phishing from an unused region\n"
        "  persistence: SMTP key with IAM rights, used to leave an administrator user and "
        "backdoors"
    )
    assert caught.value.next_step == "remediate rehearse --scenario default"


def test_default_plan_smtp_user() -> None:
    plan = get_scenario("default").build(NOW)

    assert plan.smtp_user.user_name == "ses-smtp-user.20251030-093012"
    assert plan.smtp_user.created == datetime(2025, 10, 30, 9, 30, 12, tzinfo=UTC)
    assert plan.smtp_user.policy_name == "AmazonSesSendingAccess"
    assert plan.smtp_user.policy_document == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}],
    }


def test_default_plan_consumer_and_regions() -> None:
    plan = get_scenario("default").build(NOW)

    assert plan.consumer.secret_id == "prod/mailer/smtp"
    assert plan.consumer.region == "eu-west-1"
    assert plan.consumer.smtp_region == "eu-west-1"
    assert plan.consumer.port == 587
    assert plan.consumer.from_address == "no-reply@example.com"
    assert plan.team_regions == ("eu-west-1",)
    assert plan.unused_regions == ("ap-southeast-2", "us-east-1", "us-west-2")
    assert plan.attacker_source_ips == ("198.51.100.23", "203.0.113.45")
    [team] = plan.ses_regions
    assert (team.region, team.production_access_enabled) == ("eu-west-1", True)
    assert (team.max_24_hour_send, team.max_send_rate) == (50000.0, 14.0)
    assert team.verified_domains == ("example.com",)


def test_default_plan_attacker_timeline() -> None:
    plan = get_scenario("default").build(NOW)

    timeline = [
        (call.event_time, call.region, call.event_name, call.read_only, call.source_ip)
        for call in plan.attacker_calls
    ]

    recon = datetime(2026, 12, 2, 4, 11, 55, tzinfo=UTC)
    assert timeline == [
        (
            datetime(2026, 12, 1, 7, 47, 29, tzinfo=UTC),
            "us-east-1",
            "GetCallerIdentity",
            True,
            "198.51.100.23",
        ),
        (recon, "us-east-1", "GetCallerIdentity", True, "203.0.113.45"),
        (recon + timedelta(seconds=6), "us-east-1", "GetSendQuota", True, "203.0.113.45"),
        (recon + timedelta(seconds=9), "eu-west-1", "GetSendQuota", True, "203.0.113.45"),
        (recon + timedelta(seconds=13), "us-west-2", "GetSendQuota", True, "203.0.113.45"),
        (recon + timedelta(seconds=17), "ap-southeast-2", "GetSendQuota", True, "203.0.113.45"),
        (recon + timedelta(seconds=25), "us-east-1", "ListUsers", True, "203.0.113.45"),
        (recon + timedelta(seconds=41), "eu-west-1", "ListIdentities", True, "203.0.113.45"),
        (recon + timedelta(seconds=58), "eu-west-1", "GetAccount", True, "203.0.113.45"),
        (
            datetime(2026, 12, 3, 14, 22, 50, tzinfo=UTC),
            "ap-southeast-2",
            "PutAccountDetails",
            False,
            "203.0.113.45",
        ),
        (
            datetime(2026, 12, 3, 14, 25, 4, tzinfo=UTC),
            "ap-southeast-2",
            "VerifyEmailIdentity",
            False,
            "203.0.113.45",
        ),
    ]


def test_default_plan_user_agents() -> None:
    plan = get_scenario("default").build(NOW)

    agents = [call.user_agent for call in plan.attacker_calls]

    assert agents[0] == "TruffleHog"
    assert agents[1:] == [BOTO3_USER_AGENT] * 10


def test_default_plan_only_denied_call_lacks_moto_call() -> None:
    plan = get_scenario("default").build(NOW)

    without_api = [call.event_name for call in plan.attacker_calls if call.api is None]
    denied = [call.event_name for call in plan.attacker_calls if call.error_code == "AccessDenied"]

    assert without_api == ["ListUsers"]
    assert denied == ["ListUsers"]


def test_default_plan_ids_are_distinct_uuid4() -> None:
    plan = get_scenario("default").build(NOW)

    ids = [call.event_id for call in plan.attacker_calls]
    ids += [call.request_id for call in plan.attacker_calls]

    assert len(set(ids)) == 22
    assert {uuid.UUID(value).version for value in ids} == {4}


def test_default_plan_is_same_for_same_clock() -> None:
    assert get_scenario("default").build(NOW) == get_scenario("default").build(NOW)


def test_default_plan_request_parameters() -> None:
    plan = get_scenario("default").build(NOW)
    parameters = {call.event_name: call.request_parameters for call in plan.attacker_calls}

    assert parameters["VerifyEmailIdentity"] == {
        "emailAddress": "billing@notice-center.example.net"
    }
    assert parameters["PutAccountDetails"] == {
        "mailType": "MARKETING",
        "websiteURL": "https://notice-center.example.net",
        "contactLanguage": "EN",
        "useCaseDescription": "Account notices for customers who opted in.",
        "additionalContactEmailAddresses": ["ops@notice-center.example.net"],
        "productionAccessEnabled": True,
    }
    assert parameters["GetSendQuota"] is None


def test_default_plan_team_sending_baseline() -> None:
    plan = get_scenario("default").build(NOW)

    points = plan.statistics["eu-west-1"]

    assert len(points) == 614
    assert sum(point.delivery_attempts for point in points) == 2792
    assert sum(point.bounces for point in points) == 17
    assert sum(point.complaints for point in points) == 1
    assert sum(point.rejects for point in points) == 0
    assert points[0].timestamp == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert points[-1].timestamp == datetime(2026, 12, 4, 11, 45, tzinfo=UTC)
    assert max(point.delivery_attempts for point in points) == 8
    assert all(point.timestamp == floor_to_interval(point.timestamp) for point in points)
    assert all(7 <= point.timestamp.hour < 20 for point in points)


def test_default_plan_attacker_sending_spike() -> None:
    plan = get_scenario("default").build(NOW)

    assert plan.statistics["ap-southeast-2"] == (
        SendDataPoint(datetime(2026, 12, 3, 15, 0, tzinfo=UTC), 64, 9, 1, 3),
        SendDataPoint(datetime(2026, 12, 3, 15, 15, tzinfo=UTC), 71, 12, 0, 0),
        SendDataPoint(datetime(2026, 12, 3, 15, 30, tzinfo=UTC), 58, 7, 2, 1),
    )
    assert [send.destination for send in plan.attacker_sends] == [
        f"customer{number}@example.org" for number in range(1, 6)
    ]
    assert [send.raw for send in plan.attacker_sends] == [False, False, False, False, True]
    assert {send.region for send in plan.attacker_sends} == {"ap-southeast-2"}


def test_floor_to_interval_rounds_down_to_quarter_hour() -> None:
    moment = datetime(2026, 12, 4, 11, 44, 59, 999, tzinfo=UTC)

    assert floor_to_interval(moment) == datetime(2026, 12, 4, 11, 30, tzinfo=UTC)
