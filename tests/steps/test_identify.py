"""Identify: the key's account, owner, status, age, last use and the user's other keys."""

from __future__ import annotations

import json

import boto3
import pytest

from remediate.core.errors import UsageError, WrongAccountError
from tests.helpers import SMTP_USER, FixedClock, make_context, make_smtp_world, run_step


def test_identify_finds_owner_and_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(moto_session, world.leaked_key_id)

    result = run_step(context, "identify")

    outputs = result.outputs
    assert outputs["account"] == "123456789012"
    assert outputs["user_name"] == SMTP_USER
    assert outputs["access_key"]["access_key_id"] == world.leaked_key_id
    assert outputs["access_key"]["status"] == "Active"
    assert outputs["other_keys"] == []
    assert outputs["policies"] == {
        "inline": ["AmazonSesSendingAccess"],
        "attached": [],
        "groups": [],
    }
    assert outputs["ses_send_rights"] is True
    assert outputs["quarantine_policies"] == []
    assert result.summary == (
        f"{world.leaked_key_id} belongs to IAM user {SMTP_USER} in account 123456789012; "
        "it is Active."
    )


def test_identify_lists_other_keys(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    other = moto_session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"][
        "AccessKeyId"
    ]
    context = make_context(moto_session, world.leaked_key_id)

    outputs = run_step(context, "identify").outputs

    assert [key["access_key_id"] for key in outputs["other_keys"]] == [other]
    assert outputs["other_keys"][0]["status"] == "Active"


def test_identify_warns_about_quarantine_policy(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    arn = iam.create_policy(
        PolicyName="AWSCompromisedKeyQuarantineV3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "iam:CreateAccessKey", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=SMTP_USER, PolicyArn=arn)
    context = make_context(moto_session, world.leaked_key_id)

    outputs = run_step(context, "identify").outputs

    assert outputs["quarantine_policies"] == ["AWSCompromisedKeyQuarantineV3"]
    assert "does not deny ses:SendRawEmail, so mail keeps flowing" in context.console.text


def test_identify_stops_on_temporary_key(moto_session: boto3.Session) -> None:
    context = make_context(moto_session, "ASIAEXAMPLEEXAMPLE12")

    with pytest.raises(UsageError, match="is a temporary \\(ASIA\\) access key"):
        run_step(context, "identify")


def test_identify_stops_on_deleted_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("iam").delete_access_key(
        UserName=SMTP_USER, AccessKeyId=world.leaked_key_id
    )
    context = make_context(moto_session, world.leaked_key_id)

    with pytest.raises(
        WrongAccountError, match=r"does not know the key .* it may have been deleted"
    ):
        run_step(context, "identify")


def test_identify_stops_on_other_account(moto_session: boto3.Session) -> None:
    other = moto_session.client("sts").assume_role(
        RoleArn="arn:aws:iam::210987654321:role/responder", RoleSessionName="seed"
    )["Credentials"]
    other_session = boto3.Session(
        aws_access_key_id=other["AccessKeyId"],
        aws_secret_access_key=other["SecretAccessKey"],
        aws_session_token=other["SessionToken"],
        region_name="us-east-1",
    )
    other_session.client("iam").create_user(UserName="mailer")
    key_id = other_session.client("iam").create_access_key(UserName="mailer")["AccessKey"][
        "AccessKeyId"
    ]
    context = make_context(moto_session, key_id, clock=FixedClock())

    with pytest.raises(WrongAccountError) as caught:
        run_step(context, "identify")

    assert caught.value.message.startswith(f"The key {key_id} belongs to AWS account 210987654321")
    assert "sign in to account 210987654321" in str(caught.value.next_step)
