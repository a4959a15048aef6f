"""The in-process world: what the responder finds in moto after the default scenario is seeded."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.iam.models import iam_backends

from remediate.aws.smtp import smtp_password_v4
from remediate.core.secrets import registry
from remediate.rehearsal import (
    UnknownScenarioError,
    World,
    get_scenario,
    open_world,
    world_facts,
)

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
USER = "ses-smtp-user.20251030-093012"
ACCOUNT = "123456789012"


@pytest.fixture
def world() -> Iterator[World]:
    with open_world("default", now=NOW) as opened:
        yield opened


def leaked_secret(world: World) -> str:
    """Read the leaked key's secret from moto itself, which World never exposes."""
    key = iam_backends[world.account_id]["aws"].access_keys[world.leaked_access_key_id]
    return str(key.secret_access_key)


def client(world: World, service: str, region: str = "us-east-1") -> Any:
    return world.session.client(service, region_name=region)  # type: ignore[call-overload]


def lookup_names(world: World, region: str) -> list[str]:
    response = client(world, "cloudtrail", region).lookup_events(
        LookupAttributes=[
            {"AttributeKey": "AccessKeyId", "AttributeValue": world.leaked_access_key_id}
        ]
    )
    return [event["EventName"] for event in response["Events"]]


def test_world_facts_of_default(world: World) -> None:
    facts = world_facts(world)
    key_id = facts.pop("leaked_access_key_id")

    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", key_id)
    assert facts == {
        "scenario": "default",
        "title": get_scenario("default").title,
        "description": get_scenario("default").story,
        "now": "2026-12-04T12:00:00Z",
        "account_id": ACCOUNT,
        "smtp_user_name": USER,
        "consumer_secret_id": "prod/mailer/smtp",
        "consumer_secret_region": "eu-west-1",
        "team_regions": ["eu-west-1"],
        "unused_regions": ["ap-southeast-2", "us-east-1", "us-west-2"],
        "attacker_source_ips": ["198.51.100.23", "203.0.113.45"],
    }
    assert json.loads(json.dumps(world_facts(world))) == world_facts(world)


def test_world_smtp_user_and_policy(world: World) -> None:
    iam = client(world, "iam")

    policy = iam.get_user_policy(UserName=USER, PolicyName="AmazonSesSendingAccess")
    [key] = iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]

    assert iam.list_user_policies(UserName=USER)["PolicyNames"] == ["AmazonSesSendingAccess"]
    assert policy["PolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}],
    }
    assert key["AccessKeyId"] == world.leaked_access_key_id
    assert key["Status"] == "Active"
    assert key["CreateDate"] == datetime(2025, 10, 30, 9, 30, 12, tzinfo=UTC)
    assert iam.get_user(UserName=USER)["User"]["CreateDate"] == key["CreateDate"]


def test_world_key_last_used_by_attacker_sends(world: World) -> None:
    response = client(world, "iam").get_access_key_last_used(AccessKeyId=world.leaked_access_key_id)

    assert response["UserName"] == USER
    assert response["AccessKeyLastUsed"]["ServiceName"] == "ses"
    assert response["AccessKeyLastUsed"]["Region"] == "ap-southeast-2"


def test_world_account_of_leaked_key(world: World) -> None:
    response = client(world, "sts").get_access_key_info(AccessKeyId=world.leaked_access_key_id)

    assert response["Account"] == ACCOUNT


def test_world_responder_is_not_leaked_key(world: World) -> None:
    identity = client(world, "sts").get_caller_identity()

    assert world.session.region_name == "us-east-1"
    assert identity["Account"] == ACCOUNT
    assert identity["Arn"] != f"arn:aws:iam::{ACCOUNT}:user/{USER}"
    credentials = world.session.get_credentials()
    assert credentials is not None
    assert credentials.access_key != world.leaked_access_key_id


def test_world_consumer_secret_content(world: World) -> None:
    secrets = client(world, "secretsmanager", "eu-west-1")

    value = json.loads(secrets.get_secret_value(SecretId="prod/mailer/smtp")["SecretString"])

    assert value == {
        "host": "email-smtp.eu-west-1.amazonaws.com",
        "port": 587,
        "username": world.leaked_access_key_id,
        "password": smtp_password_v4(leaked_secret(world), "eu-west-1"),
        "from": "no-reply@example.com",
    }


@pytest.mark.parametrize(
    ("region", "expected_names"),
    [
        ("us-east-1", ["ListUsers", "GetSendQuota", "GetCallerIdentity", "GetCallerIdentity"]),
        ("eu-west-1", ["GetAccount", "ListIdentities", "GetSendQuota"]),
        ("us-west-2", ["GetSendQuota"]),
        ("ap-southeast-2", ["VerifyEmailIdentity", "PutAccountDetails", "GetSendQuota"]),
        ("eu-central-1", []),
    ],
)
def test_world_cloudtrail_events_per_region(
    world: World, region: str, expected_names: list[str]
) -> None:
    assert lookup_names(world, region) == expected_names


def test_world_cloudtrail_record_of_scanner(world: World) -> None:
    events = client(world, "cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}]
    )["Events"]

    record = json.loads(events[-1]["CloudTrailEvent"])

    assert record["userAgent"] == "TruffleHog"
    assert record["sourceIPAddress"] == "198.51.100.23"
    assert record["eventTime"] == "2026-12-01T07:47:29Z"
    assert record["eventSource"] == "sts.amazonaws.com"
    assert record["readOnly"] is True
    assert record["requestParameters"] is None
    assert record["userIdentity"] == {
        "type": "IAMUser",
        "principalId": client(world, "iam").get_user(UserName=USER)["User"]["UserId"],
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{USER}",
        "accountId": ACCOUNT,
        "accessKeyId": world.leaked_access_key_id,
        "userName": USER,
    }
    assert events[-1]["Username"] == USER


def test_world_cloudtrail_record_of_denied_call(world: World) -> None:
    [event] = client(world, "cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ListUsers"}]
    )["Events"]

    record = json.loads(event["CloudTrailEvent"])

    assert record["errorCode"] == "AccessDenied"
    assert record["errorMessage"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{USER} is not authorized to perform: "
        f"iam:ListUsers on resource: arn:aws:iam::{ACCOUNT}:user/ because no "
        "identity-based policy allows the iam:ListUsers action"
    )


def test_world_team_statistics(world: World) -> None:
    ses = client(world, "ses", "eu-west-1")

    points = ses.get_send_statistics()["SendDataPoints"]
    quota = ses.get_send_quota()

    assert len(points) == 614
    assert sum(point["DeliveryAttempts"] for point in points) == 2792
    assert points[-1]["Timestamp"] == datetime(2026, 12, 4, 11, 45, tzinfo=UTC)
    assert quota["Max24HourSend"] == 50000.0
    assert quota["MaxSendRate"] == 14.0
    assert quota["SentLast24Hours"] == 259.0


def test_world_attacker_region_statistics(world: World) -> None:
    ses = client(world, "ses", "ap-southeast-2")

    points = ses.get_send_statistics()["SendDataPoints"]
    quota = ses.get_send_quota()

    assert [point["DeliveryAttempts"] for point in points] == [64, 71, 58]
    assert [point["Bounces"] for point in points] == [9, 12, 7]
    assert [point["Timestamp"] for point in points] == [
        datetime(2026, 12, 3, 15, 0, tzinfo=UTC) + timedelta(minutes=15 * index)
        for index in range(3)
    ]
    # 193 from the series, 5 messages that the attacker simulation sent through moto.
    assert quota["SentLast24Hours"] == 198.0
    assert quota["Max24HourSend"] == 200.0


def test_world_attacker_identity_verified(world: World) -> None:
    attacker = client(world, "ses", "ap-southeast-2").list_identities()["Identities"]
    team = client(world, "ses", "eu-west-1").list_identities()["Identities"]

    assert attacker == ["billing@notice-center.example.net"]
    assert team == ["example.com"]


def test_world_sesv2_account_per_region(world: World) -> None:
    team = client(world, "sesv2", "eu-west-1").get_account()
    attacker = client(world, "sesv2", "ap-southeast-2").get_account()

    assert team["ProductionAccessEnabled"] is True
    assert team["SendingEnabled"] is True
    assert team["EnforcementStatus"] == "HEALTHY"
    assert "Details" not in team
    assert attacker["ProductionAccessEnabled"] is False
    assert attacker["Details"]["MailType"] == "MARKETING"
    assert attacker["Details"]["ReviewDetails"]["Status"] == "PENDING"


def test_world_exposes_no_secret(world: World) -> None:
    secret = leaked_secret(world)
    password = smtp_password_v4(secret, "eu-west-1")
    fields = {field.name: getattr(world, field.name) for field in dataclasses.fields(world)}
    fields.pop("session")

    texts = [repr(world), json.dumps(world_facts(world)), *map(repr, fields.values())]

    assert [text for text in texts if secret in text or password in text] == []
    credentials = world.session.get_credentials()
    assert credentials is not None
    assert credentials.secret_key != secret


def test_world_registers_secrets(world: World) -> None:
    secret = leaked_secret(world)

    registered = registry.values()

    assert secret in registered
    assert smtp_password_v4(secret, "eu-west-1") in registered


def test_world_restores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with open_world("default", now=NOW) as opened:
        inside = {
            name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM")
        }
        users = client(opened, "iam").list_users()["Users"]

    assert inside == {"AWS_ENDPOINT_URL": None, "AWS_ENDPOINT_URL_IAM": None}
    assert [user["UserName"] for user in users] == [USER]
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert os.environ["AWS_ENDPOINT_URL_IAM"] == "http://127.0.0.1:9"
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ


def test_world_state_dropped_on_exit() -> None:
    with open_world("default", now=NOW) as first:
        first_key = first.leaked_access_key_id

    with open_world("default", now=NOW) as second:
        users = client(second, "iam").list_users()["Users"]
        events = lookup_names(second, "us-west-2")

    assert second.leaked_access_key_id != first_key
    assert [user["UserName"] for user in users] == [USER]
    assert events == ["GetSendQuota"]


def test_open_world_rejects_unknown_scenario() -> None:
    with pytest.raises(UnknownScenarioError), open_world("persistence-later"):
        pytest.fail("the world opened for an unknown scenario")
