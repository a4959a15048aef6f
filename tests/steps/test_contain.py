"""Containment: each emergency brake, its approval, its undo, and the lift steps that undo it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from remediate.cli import cli
from remediate.core.errors import ExitCode, InputRequiredError, UsageError
from remediate.core.records import RecordType
from remediate.rehearsal.moto_fills import install_fills
from remediate.steps.revoke_sessions import revoke_policy
from tests.helpers import (
    CONSUMER_REGION,
    SMTP_USER,
    key_statuses,
    make_context,
    make_smtp_world,
    run_step,
)

ACCOUNT = "123456789012"
ATTACKER_REGION = "ap-southeast-2"
COMPROMISED = {
    "verdict": "compromised",
    "finding_ids": ["ses-sending-spike", "ses-recon"],
    "sending_regions": [CONSUMER_REGION, ATTACKER_REGION],
    "suspect_regions": [ATTACKER_REGION],
    "session_access_key_ids": [],
    "derived_credentials": [],
}
DENY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "RemediateIncidentDenySending",
            "Effect": "Deny",
            "Action": ["ses:Send*"],
            "Resource": ["*"],
        }
    ],
}
REASON = "verdict compromised (ses-sending-spike, ses-recon)"


def investigated(
    session: boto3.Session,
    key_id: str,
    investigation: Mapping[str, Any] = COMPROMISED,
    **options: Any,
) -> Any:
    """Identify the key for real, and take the investigation's outputs as given."""
    install_fills()
    context = make_context(session, key_id, regions=(CONSUMER_REGION,), **options)
    run_step(context, "identify")
    context.journal.append(
        RecordType.STEP_FINISHED,
        step="investigate",
        kind="investigate",
        status="ok",
        summary="given",
        outputs=dict(investigation),
    )
    return context


def sending_enabled(session: boto3.Session, region: str) -> bool:
    return bool(session.client("sesv2", region_name=region).get_account()["SendingEnabled"])


def user_policy(session: boto3.Session, name: str) -> dict[str, Any] | None:
    iam = session.client("iam")
    if name not in iam.list_user_policies(UserName=SMTP_USER)["PolicyNames"]:
        return None
    document = iam.get_user_policy(UserName=SMTP_USER, PolicyName=name)["PolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def test_contain_skipped_without_evidence(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session, world.leaked_key_id, {"verdict": "no-evidence", "finding_ids": []}
    )

    result = run_step(context, "contain")

    assert (
        result.summary
        == "Not applicable: the verdict is no-evidence: no emergency brake is called for"
    )


def test_contain_suspicious_needs_sending_finding(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session, world.leaked_key_id, {"verdict": "suspicious", "finding_ids": ["ses-recon"]}
    )

    result = run_step(context, "contain")

    assert result.summary == (
        "Not applicable: the verdict is suspicious, but no finding concerns sending; the "
        "rotation contains the key"
    )


def test_contain_suspicious_sending_offers_brakes(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    investigation = {**COMPROMISED, "verdict": "suspicious", "finding_ids": ["ses-sending-spike"]}
    context = investigated(moto_session, world.leaked_key_id, investigation)

    result = run_step(context, "contain")

    assert str(result.status) == "skipped"
    assert result.summary == "No emergency brake was chosen, so none was applied."
    assert result.outputs == {"actions": []}
    answer = context.journal.last(RecordType.ANSWER, question="contain.actions")
    assert answer.get("value") == []


def test_pause_sending_then_lift(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={
            "contain.actions": ["pause-sending"],
            "contain.pause-regions": [ATTACKER_REGION],
        },
        approve=("pause-sending",),
    )

    result = run_step(context, "contain")

    undo = f"aws sesv2 put-account-sending-attributes --sending-enabled --region {ATTACKER_REGION}"
    assert result.outputs == {
        "actions": [
            {
                "action": "pause-sending",
                "target": ACCOUNT,
                "regions": [ATTACKER_REGION],
                "reason": REASON,
                "undo": undo,
                "undone": False,
            }
        ]
    }
    assert sending_enabled(moto_session, ATTACKER_REGION) is False
    assert sending_enabled(moto_session, CONSUMER_REGION) is True
    intent = context.journal.last(RecordType.AWS_INTENT, operation="PutAccountSendingAttributes")
    assert intent.get("region") == ATTACKER_REGION
    assert intent.get("undo") == undo

    moto_session.client("iam").update_access_key(
        UserName=SMTP_USER, AccessKeyId=world.leaked_key_id, Status="Inactive"
    )
    lifted = run_step(context, "contain", "lift-sending-pause", {"lift": ["pause-sending"]})

    assert lifted.summary == f"Lifted: SES sending paused in {ATTACKER_REGION}."
    assert lifted.outputs["actions"][0]["undone"] is True
    assert sending_enabled(moto_session, ATTACKER_REGION) is True


def test_lift_keeps_pause_while_key_active(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={
            "contain.actions": ["pause-sending"],
            "contain.pause-regions": [ATTACKER_REGION],
        },
        approve=("pause-sending",),
    )
    run_step(context, "contain")

    lifted = run_step(context, "contain", "lift-sending-pause", {"lift": ["pause-sending"]})

    assert str(lifted.status) == "skipped"
    assert lifted.summary == (
        f"Kept, as the operator chose: SES sending paused in {ATTACKER_REGION}."
    )
    assert lifted.outputs["actions"][0]["undone"] is False
    assert sending_enabled(moto_session, ATTACKER_REGION) is False
    question = context.journal.last(RecordType.ANSWER, question="contain.lift.pause-sending")
    assert question.get("value") is False


def test_pause_leaves_region_paused_by_others(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={
            "contain.actions": ["pause-sending"],
            "contain.pause-regions": [ATTACKER_REGION],
        },
        approve=("pause-sending",),
    )
    client = moto_session.client("sesv2", region_name=ATTACKER_REGION)
    client.put_account_sending_attributes(SendingEnabled=False)

    result = run_step(context, "contain")

    assert result.outputs == {"actions": []}
    assert (
        f"warning: SES sending is already paused in {ATTACKER_REGION}, by AWS or by someone "
        "else; it is left as it is, and this incident will not re-enable it."
    ) in context.console.lines
    assert context.journal.last(RecordType.AWS_INTENT) is None


def test_deny_sending_then_lift(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={"contain.actions": ["deny-sending"]},
        approve=("deny-sending",),
    )

    result = run_step(context, "contain")

    undo = (
        f"aws iam delete-user-policy --user-name {SMTP_USER} --policy-name RemediateDenySesSending"
    )
    assert result.outputs["actions"] == [
        {
            "action": "deny-sending",
            "target": SMTP_USER,
            "regions": [],
            "reason": REASON,
            "undo": undo,
            "undone": False,
        }
    ]
    assert user_policy(moto_session, "RemediateDenySesSending") == DENY_POLICY
    check = context.journal.last(RecordType.CHECK, name="deny-sending-applied")
    assert check.get("passed") is True

    lifted = run_step(context, "contain", "lift-sending-deny", {"lift": ["deny-sending"]})

    assert lifted.outputs["actions"][0]["undone"] is True
    assert user_policy(moto_session, "RemediateDenySesSending") is None
    delete = context.journal.last(RecordType.AWS_INTENT, operation="DeleteUserPolicy")
    assert delete.get("params") == {
        "UserName": SMTP_USER,
        "PolicyName": "RemediateDenySesSending",
    }


def test_deny_question_warns_about_new_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session, world.leaked_key_id, answers={"contain.actions": ["deny-sending"]}
    )

    with pytest.raises(InputRequiredError) as caught:
        run_step(context, "contain")

    assert "also the new key that rotate creates for the same user" in caught.value.message
    assert "add `deny-sending` under `approve:`" in caught.value.message
    assert user_policy(moto_session, "RemediateDenySesSending") is None


def test_deactivate_now_then_deactivate_step(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={"contain.actions": ["deactivate-now"], "contain.reason": "spam is going out"},
        approve=("deactivate-now", "deactivate-old-key"),
    )

    result = run_step(context, "contain")

    assert result.outputs["actions"] == [
        {
            "action": "deactivate-now",
            "target": world.leaked_key_id,
            "regions": [],
            "reason": "spam is going out",
            "undo": (
                f"aws iam update-access-key --user-name {SMTP_USER} --access-key-id "
                f"{world.leaked_key_id} --status Active"
            ),
            "undone": False,
        }
    ]
    assert key_statuses(moto_session) == {world.leaked_key_id: "Inactive"}
    assert (
        f"warning: {world.leaked_key_id} is Inactive: its consumers fail until they are "
        "switched to the new key."
    ) in context.console.lines

    for kind in ("find-consumers", "rotate", "update-consumers"):
        run_step(context, kind)
    deactivated = run_step(context, "deactivate")

    assert deactivated.summary == f"{world.leaked_key_id} is already Inactive."


def test_revoke_user_sessions(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    investigation = {**COMPROMISED, "session_access_key_ids": ["ASIAEXAMPLESESSION01"]}
    context = investigated(
        moto_session,
        world.leaked_key_id,
        investigation,
        answers={"contain.actions": ["revoke-sessions"]},
        approve=("revoke-user-sessions",),
    )

    result = run_step(context, "contain")

    assert result.summary == (
        f"Applied: sessions of IAM user {SMTP_USER} issued before now denied "
        "(AWSRevokeOlderSessions)."
    )
    assert user_policy(moto_session, "AWSRevokeOlderSessions") == revoke_policy(
        "2026-12-04T03:00:00Z"
    )
    answer = context.journal.last(RecordType.ANSWER, question="contain.revoke-sessions")
    assert answer.get("source") == "approval"


def test_quarantine_note_in_question(moto_session: boto3.Session, samples_dir: Path) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    document = (samples_dir / "iam" / "AWSCompromisedKeyQuarantineV3.json").read_text()
    arn = iam.create_policy(PolicyName="AWSCompromisedKeyQuarantineV3", PolicyDocument=document)[
        "Policy"
    ]["Arn"]
    iam.attach_user_policy(UserName=SMTP_USER, PolicyArn=arn)
    context = investigated(moto_session, world.leaked_key_id)

    run_step(context, "contain")

    note = (
        f"AWS attached AWSCompromisedKeyQuarantineV3 to {SMTP_USER}, but it does not deny "
        "ses:SendRawEmail or ses:SendEmail: mail keeps flowing until a brake stops it. "
        "remediate never detaches that policy; AWS Support lifts it."
    )
    assert f"warning: {note}" in context.console.lines
    assert any(line.endswith(f"{note} (none) (default)") for line in context.console.lines)
    attached = iam.list_attached_user_policies(UserName=SMTP_USER)["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [arn]


def test_lift_rejects_deactivate_now(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(moto_session, world.leaked_key_id)

    with pytest.raises(UsageError, match="reactivated only by `remediate rollback`"):
        run_step(context, "contain", "lift", {"lift": ["deactivate-now"]})


def test_lift_without_brakes_keeps_outputs(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = investigated(moto_session, world.leaked_key_id)

    result = run_step(context, "contain", "lift-sending-deny", {"lift": ["deny-sending"]})

    assert result.summary == "Nothing to lift: no deny-sending brake is in place."
    assert result.outputs == {"actions": []}


def test_rehearsal_lifts_every_brake(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        "version: 1\n"
        "answers:\n"
        "  contain.actions: [pause-sending, deny-sending]\n"
        f"  contain.pause-regions: [{ATTACKER_REGION}]\n"
        "approve: [pause-sending, deny-sending, deactivate-old-key, delete-ses-identity]\n"
    )

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(
            cli, ["rehearse", "--answers", str(answers)], catch_exceptions=False
        )
        assert result.exit_code == ExitCode.OK, result.output
        session = boto3.Session(region_name="us-east-1")
        [user] = session.client("iam").list_users()["Users"]
        assert sending_enabled(session, ATTACKER_REGION) is True
        policies = session.client("iam").list_user_policies(UserName=user["UserName"])
        assert "RemediateDenySesSending" not in policies["PolicyNames"]

    [incident] = (tmp_path / "incidents").iterdir()
    finished = [
        json.loads(line)
        for line in (incident / "journal.jsonl").read_text().splitlines()
        if '"step.finished"' in line and '"kind": "contain"' in line
    ]
    assert [record["step"] for record in finished] == [
        "contain",
        "lift-sending-deny",
        "lift-sending-pause",
    ]
    brakes = [
        [(action["action"], action["undone"]) for action in record["outputs"]["actions"]]
        for record in finished
    ]
    assert brakes == [
        [("pause-sending", False), ("deny-sending", False)],
        [("pause-sending", False), ("deny-sending", True)],
        [("pause-sending", True), ("deny-sending", True)],
    ]
