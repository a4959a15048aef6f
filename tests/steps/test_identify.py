"""Identify: the key's account, owner, status, age, last use and the user's other keys."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from remediate.core.errors import UsageError, WrongAccountError
from remediate.core.records import RecordType
from remediate.rehearsal.moto_fills import install_fills, record_cloudtrail_event
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
    assert outputs["ses_send_sources"] == ["inline AmazonSesSendingAccess"]
    assert outputs["rights_beyond_sending"] == []
    assert outputs["quarantine_policies"] == []
    assert outputs["temporary"] is False
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


def test_identify_reads_attached_and_group_rights(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.delete_user_policy(UserName=SMTP_USER, PolicyName="AmazonSesSendingAccess")
    send_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ses:Send*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="SesSend", PolicyDocument=json.dumps(send_all))["Policy"][
        "Arn"
    ]
    iam.attach_user_policy(UserName=SMTP_USER, PolicyArn=arn)
    iam.create_group(GroupName="mailers")
    iam.add_user_to_group(GroupName="mailers", UserName=SMTP_USER)
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}],
    }
    iam.put_group_policy(
        GroupName="mailers", PolicyName="SesAll", PolicyDocument=json.dumps(everything)
    )
    context = make_context(moto_session, world.leaked_key_id)

    outputs = run_step(context, "identify").outputs

    assert outputs["ses_send_sources"] == ["attached SesSend", "group mailers: inline SesAll"]
    assert outputs["policies"]["groups"] == ["mailers"]
    assert outputs["rights_beyond_sending"] == [
        {"source": "group mailers: inline SesAll", "actions": ["ses:*"]}
    ]
    assert "row: May also | group mailers: inline SesAll (ses:*)" in context.console.text


def test_identify_without_send_rights(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("iam").delete_user_policy(
        UserName=SMTP_USER, PolicyName="AmazonSesSendingAccess"
    )
    context = make_context(moto_session, world.leaked_key_id)

    outputs = run_step(context, "identify").outputs

    assert outputs["ses_send_sources"] == []
    assert "row: May send mail | no policy allows ses:SendRawEmail" in context.console.text


def test_identify_explains_quarantine_policy(
    moto_session: boto3.Session, samples_dir: Path
) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    document = (samples_dir / "iam" / "AWSCompromisedKeyQuarantineV3.json").read_text()
    arn = iam.create_policy(PolicyName="AWSCompromisedKeyQuarantineV3", PolicyDocument=document)[
        "Policy"
    ]["Arn"]
    iam.attach_user_policy(UserName=SMTP_USER, PolicyArn=arn)
    context = make_context(moto_session, world.leaked_key_id)

    outputs = run_step(context, "identify").outputs

    assert outputs["quarantine_policies"] == [
        {
            "name": "AWSCompromisedKeyQuarantineV3",
            "arn": arn,
            "denies": [
                "iam:CreateAccessKey",
                "iam:UpdateAccessKey",
                "iam:CreateUser",
                "sts:GetSessionToken",
                "sts:GetFederationToken",
            ],
            "leaves_open": ["ses:SendRawEmail", "ses:SendEmail"],
        }
    ]
    assert (
        "but not ses:SendRawEmail or ses:SendEmail, so mail keeps flowing" in context.console.text
    )
    assert "it never detaches the policy" in context.console.text


def test_identify_stops_on_root_key(moto_session: boto3.Session) -> None:
    # moto cannot create a root access key, so IAM's answer for one is stubbed.
    context = make_context(moto_session, "AKIAROOTEXAMPLE00000")
    iam_client = context.aws.clients.client("iam")
    stubber = Stubber(iam_client)
    stubber.add_response(
        "get_access_key_last_used",
        {"UserName": "root", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}},
        {"AccessKeyId": "AKIAROOTEXAMPLE00000"},
    )

    with stubber, pytest.raises(UsageError) as caught:
        run_step(context, "identify")

    assert caught.value.message.startswith(
        "AKIAROOTEXAMPLE00000 is an access key of the root user of account 123456789012."
    )
    assert "Only the root user can deactivate or delete it" in caught.value.message


def test_identify_temporary_key_names_issuer(moto_session: boto3.Session) -> None:
    session_key = assumed_role_key(moto_session)
    context = make_context(moto_session, session_key)

    result = run_step(context, "identify")

    assert result.outputs["temporary"] is True
    assert result.outputs["issuer"] == {
        "kind": "Role",
        "name": "mailer-role",
        "arn": "arn:aws:iam::123456789012:role/mailer-role",
    }
    assert (
        result.summary == f"{session_key} is a temporary key of role mailer-role in 123456789012."
    )
    assert "It cannot be rotated, deactivated or used for SMTP" in context.console.text


def test_temporary_key_sessions_revoked(moto_session: boto3.Session) -> None:
    session_key = assumed_role_key(moto_session)
    context = make_context(moto_session, session_key, approve=("revoke-sessions",))
    run_step(context, "identify")

    result = run_step(context, "revoke-sessions")

    assert result.outputs["issued_before"] == "2026-12-04T03:00:00Z"
    document = moto_session.client("iam").get_role_policy(
        RoleName="mailer-role", PolicyName="AWSRevokeOlderSessions"
    )["PolicyDocument"]
    assert document["Statement"][0]["Effect"] == "Deny"
    assert document["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2026-12-04T03:00:00Z"}
    }
    intent = context.journal.last(RecordType.AWS_INTENT, operation="PutRolePolicy")
    assert intent.get("undo") == (
        "aws iam delete-role-policy --role-name mailer-role --policy-name AWSRevokeOlderSessions"
    )


def test_temporary_key_skips_rotation(moto_session: boto3.Session) -> None:
    session_key = assumed_role_key(moto_session)
    context = make_context(moto_session, session_key)
    run_step(context, "identify")

    for kind in ("find-consumers", "rotate", "update-consumers", "deactivate"):
        result = run_step(context, kind)

        assert str(result.status) == "skipped"
        assert result.summary == (
            "Not applicable: a temporary (ASIA) key cannot be rotated or deactivated; "
            "its sessions are revoked instead"
        )


def test_long_term_key_skips_revocation(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(moto_session, world.leaked_key_id)
    run_step(context, "identify")

    result = run_step(context, "revoke-sessions")

    assert result.summary == "Not applicable: the key is a long-term key; it is rotated instead"


def test_identify_stops_on_deleted_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("iam").delete_access_key(
        UserName=SMTP_USER, AccessKeyId=world.leaked_key_id
    )
    context = make_context(moto_session, world.leaked_key_id)

    with pytest.raises(
        WrongAccountError, match=r"does not know the key .*: check the key ID for a typing mistake"
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


def assumed_role_key(session: boto3.Session) -> str:
    """Assume a role in moto and record one CloudTrail event made with its temporary key."""
    install_fills()
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="mailer-role", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]
    credentials = session.client("sts").assume_role(
        RoleArn=role["Arn"], RoleSessionName="attacker"
    )["Credentials"]
    key_id = credentials["AccessKeyId"]
    record_cloudtrail_event(
        "123456789012",
        {
            "eventVersion": "1.08",
            "eventID": "7f3a1c2e-0000-4000-8000-000000000001",
            "eventTime": "2026-12-03T10:00:00Z",
            "eventSource": "ses.amazonaws.com",
            "eventName": "GetSendQuota",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.45",
            "userAgent": "Boto3/1.34.69",
            "userIdentity": {
                "type": "AssumedRole",
                "accessKeyId": key_id,
                "arn": "arn:aws:sts::123456789012:assumed-role/mailer-role/attacker",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "arn": role["Arn"],
                        "userName": "mailer-role",
                    }
                },
            },
        },
    )
    return str(key_id)


def test_identify_warns_when_operator_is_owner(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    other = moto_session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"]
    owner_session = boto3.Session(
        aws_access_key_id=other["AccessKeyId"],
        aws_secret_access_key=other["SecretAccessKey"],
        region_name="us-east-1",
    )
    context = make_context(owner_session, world.leaked_key_id)

    outputs = run_step(context, "identify").outputs

    assert outputs["operator_owns_key"] is True
    assert (
        "warning: You are signed in as the user that owns the leaked key. Use another principal."
        in context.console.lines
    )


def test_run_refuses_the_leaked_key_itself(moto_session: boto3.Session, tmp_path: Path) -> None:
    from remediate.engine.answers import AnswerPolicy
    from remediate.engine.runner import IncidentRequest, start_incident
    from tests.helpers import RecordingConsole

    world = make_smtp_world(moto_session)
    leaked_session = boto3.Session(
        aws_access_key_id=world.leaked_key_id,
        aws_secret_access_key=world.leaked_secret,
        region_name="us-east-1",
    )
    calls: list[str] = []
    leaked_session.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))

    with pytest.raises(UsageError) as caught:
        start_incident(
            IncidentRequest(
                access_key_id=world.leaked_key_id,
                session=leaked_session,
                console=RecordingConsole(),
                policy=AnswerPolicy(assume_yes=True),
                incident_dir=tmp_path / "incident",
            )
        )

    assert caught.value.message == (
        f"Your AWS credentials are the leaked key {world.leaked_key_id} itself; remediate never "
        "acts with it."
    )
    assert calls == []
    assert not (tmp_path / "incident").exists()
