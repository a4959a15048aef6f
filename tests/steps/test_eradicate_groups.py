"""The persistence sweep for groups, managed policies, policy versions and configuration sets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from remediate.core.records import RecordType
from remediate.evidence.events import TrailEvent
from remediate.evidence.persistence import PersistenceItem, group_item, items_from_events
from remediate.steps.base import StepSpec
from tests.helpers import CONSUMER_REGION, SMTP_USER, make_smtp_world, run_step
from tests.steps.test_eradicate import ACCOUNT, Attacker, investigated

GROUP = "ops-break-glass"
POLICY_NAME = "SupportOpsAccess"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{POLICY_NAME}"
TEAM_POLICY = "mailer-send"
TEAM_POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{TEAM_POLICY}"
CONFIGURATION_SET = "tracking-relay"
EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
SEND_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}],
}
EVIDENCE = "<its document in evidence/eradicate-before.json>"


def test_group_and_policy_deleted(moto_session: boto3.Session) -> None:
    """A group that lifts the leaked user to administrator goes, with the policy it holds."""
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_group(GroupName=GROUP)
    iam.create_policy(PolicyName=POLICY_NAME, PolicyDocument=json.dumps(EVERYTHING))
    iam.attach_group_policy(GroupName=GROUP, PolicyArn=POLICY_ARN)
    iam.put_group_policy(GroupName=GROUP, PolicyName="extra", PolicyDocument=json.dumps(EVERYTHING))
    iam.add_user_to_group(GroupName=GROUP, UserName=SMTP_USER)
    attacker = Attacker(moto_session, world)
    events = {
        "group": attacker.record("CreateGroup", {"groupName": GROUP}),
        "policy": attacker.record(
            "CreatePolicy",
            {"policyName": POLICY_NAME, "policyDocument": json.dumps(EVERYTHING)},
            response={"policy": {"policyName": POLICY_NAME, "arn": POLICY_ARN}},
        ),
        "attach": attacker.record(
            "AttachGroupPolicy", {"groupName": GROUP, "policyArn": POLICY_ARN}
        ),
        "inline": attacker.record("PutGroupPolicy", {"groupName": GROUP, "policyName": "extra"}),
        "member": attacker.record("AddUserToGroup", {"groupName": GROUP, "userName": SMTP_USER}),
    }
    context = investigated(
        moto_session,
        world.leaked_key_id,
        approve=("delete-iam-group", "delete-managed-policy"),
    )

    result = run_step(context, "eradicate")

    with_group = f"none: removed with IAM group {GROUP}"
    assert result.outputs["items"] == [
        {
            "kind": "group-membership",
            "name": f"user/{SMTP_USER}/{GROUP}",
            "region": None,
            "created_by": events["member"],
            "action": "removed",
            "undo": with_group,
        },
        {
            "kind": "policy-attachment",
            "name": f"group/{GROUP}/{POLICY_ARN}",
            "region": None,
            "created_by": events["attach"],
            "action": "removed",
            "undo": with_group,
        },
        {
            "kind": "inline-policy",
            "name": f"group/{GROUP}/extra",
            "region": None,
            "created_by": events["inline"],
            "action": "removed",
            "undo": with_group,
        },
        {
            "kind": "iam-group",
            "name": GROUP,
            "region": None,
            "created_by": events["group"],
            "action": "removed",
            "undo": "none: a deleted group cannot be restored",
        },
        {
            "kind": "managed-policy",
            "name": POLICY_ARN,
            "region": None,
            "created_by": events["policy"],
            "action": "removed",
            "undo": (
                "none: a deleted policy cannot be restored; its document is in "
                "evidence/eradicate-before.json"
            ),
        },
    ]
    assert iam.list_groups()["Groups"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert iam.list_groups_for_user(UserName=SMTP_USER)["Groups"] == []
    operations = [
        (record.get("operation"), record.get("resource"))
        for record in context.journal.of_type(RecordType.AWS_INTENT)
    ]
    assert operations == [
        ("RemoveUserFromGroup", f"group {GROUP}"),
        ("DetachGroupPolicy", f"group {GROUP}"),
        ("DeleteGroupPolicy", f"group {GROUP}"),
        ("DeleteGroup", GROUP),
        ("DeletePolicy", POLICY_ARN),
    ]
    check = context.journal.last(RecordType.CHECK, name="persistence-removed")
    assert check.get("passed") is True
    [question] = [line for line in context.console.lines if "Delete managed policy" in line]
    # The group that held the policy was deleted just before, so it is not named.
    assert "It is attached to nothing now; deleting it first deletes 0 older version(s)." in (
        question
    )


def test_group_holding_operator_kept(moto_session: boto3.Session) -> None:
    """Deleting the attacker's group would take the operator out of it: it is kept instead."""
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_group(GroupName=GROUP)
    iam.create_user(UserName="responder")
    iam.add_user_to_group(GroupName=GROUP, UserName="responder")
    event = Attacker(moto_session, world).record("CreateGroup", {"groupName": GROUP})
    context = investigated(moto_session, world.leaked_key_id, approve=("delete-iam-group",))
    operator = "arn:aws:iam::123456789012:user/responder"
    identify = context.journal.last(RecordType.STEP_FINISHED, step="identify")
    context.journal.append(
        RecordType.STEP_FINISHED,
        step="identify",
        kind="identify",
        status="ok",
        summary="again, signed in as responder",
        outputs={**identify.get("outputs"), "operator_arn": operator},
    )

    result = run_step(context, "eradicate")

    group = next(item for item in result.outputs["items"] if item["kind"] == "iam-group")
    assert group == {
        "kind": "iam-group",
        "name": GROUP,
        "region": None,
        "created_by": event,
        "action": "kept",
        "undo": None,
    }
    assert (
        f"warning: IAM group {GROUP} is kept: deleting it would also remove the membership of "
        f"user responder in group {GROUP}, and it belongs to the principal you are signed in "
        "as. Remove that by hand if it must go."
    ) in context.console.lines
    assert [group["GroupName"] for group in iam.list_groups()["Groups"]] == [GROUP]
    assert context.journal.of_type(RecordType.AWS_INTENT) == []


def test_call_on_gone_resource_says_so(moto_session: boto3.Session) -> None:
    """A removal whose target is already gone is journaled as nothing to do, not as a change."""
    from remediate.engine.audit import timeline
    from remediate.report.response import build_actions
    from remediate.steps.eradication import make_call, removal_calls

    world = make_smtp_world(moto_session)
    context = investigated(moto_session, world.leaked_key_id)
    context.enter_step(StepSpec(id="eradicate", kind="eradicate", title="Eradicate"))
    [call] = removal_calls(context, group_item(GROUP), {}, account_id=ACCOUNT)

    make_call(context, call)

    result = context.journal.last(RecordType.AWS_RESULT)
    assert result.get("ok") is True
    assert result.get("details") == {"item": f"iam-group.{GROUP}", "already_gone": "NoSuchEntity"}
    records = context.journal.records
    # The in-memory journal of a test context has no incident.opened record; any record serves.
    [action] = build_actions(records, result)
    assert action.outcome == "nothing to do: already gone (NoSuchEntity)"
    [line] = [entry.text for entry in timeline(records) if "DeleteGroup" in entry.text]
    assert ": nothing to do, already gone (NoSuchEntity), request ID " in line


def test_unreadable_group_kept(moto_session: boto3.Session) -> None:
    """A group whose members cannot be listed is kept, because it cannot be emptied first."""
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_group(GroupName=GROUP)
    Attacker(moto_session, world).record("CreateGroup", {"groupName": GROUP})

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Code": "AccessDenied", "Message": "not authorized to perform iam:GetGroup"}
        return AWSResponse("https://iam.amazonaws.com/", 403, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "denied"},
        }

    moto_session.events.register("before-call.iam.GetGroup", deny)
    context = investigated(moto_session, world.leaked_key_id, approve=("delete-iam-group",))

    result = run_step(context, "eradicate")

    assert [(item["name"], item["action"]) for item in result.outputs["items"]] == [(GROUP, "kept")]
    assert (
        f"warning: IAM group {GROUP} is kept: its state could not be read (see the evidence "
        "gaps), so it cannot be removed safely."
    ) in context.console.lines
    reasons = [str(gap.get("reason")) for gap in context.journal.of_type(RecordType.GAP)]
    denied = (
        "iam GetGroup on ops-break-glass failed: AccessDenied: not authorized to perform "
        "iam:GetGroup. The operator's credentials lack iam:GetGroup."
    )
    assert f"iam-group {GROUP} could not be read: {denied}" in reasons
    assert [group["GroupName"] for group in iam.list_groups()["Groups"]] == [GROUP]


def test_unreadable_policy_version_kept(moto_session: boto3.Session) -> None:
    """Without its versions, whether the attacker's version is the default is unknown: kept."""
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_policy(PolicyName=TEAM_POLICY, PolicyDocument=json.dumps(SEND_ONLY))
    iam.create_policy_version(
        PolicyArn=TEAM_POLICY_ARN, PolicyDocument=json.dumps(EVERYTHING), SetAsDefault=True
    )
    Attacker(moto_session, world).record(
        "CreatePolicyVersion",
        {"policyArn": TEAM_POLICY_ARN, "setAsDefault": True},
        response={"policyVersion": {"versionId": "v2", "isDefaultVersion": True}},
    )

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Code": "AccessDenied", "Message": "not authorized"}
        return AWSResponse("https://iam.amazonaws.com/", 403, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "denied"},
        }

    moto_session.events.register("before-call.iam.ListPolicyVersions", deny)
    context = investigated(moto_session, world.leaked_key_id, approve=("revert-policy-version",))

    result = run_step(context, "eradicate")

    version = next(item for item in result.outputs["items"] if item["kind"] == "policy-version")
    assert version["action"] == "kept"
    assert (
        f"warning: version v2 of managed policy {TEAM_POLICY_ARN} is kept: its state could not "
        "be read (see the evidence gaps), so it cannot be removed safely."
    ) in context.console.lines
    assert context.journal.of_type(RecordType.AWS_INTENT) == []


def test_policy_version_reverted(moto_session: boto3.Session, tmp_path: Path) -> None:
    """A version the attacker made the default of the team's policy: the old one comes back."""
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_policy(PolicyName=TEAM_POLICY, PolicyDocument=json.dumps(SEND_ONLY))
    iam.attach_user_policy(UserName=SMTP_USER, PolicyArn=TEAM_POLICY_ARN)
    iam.create_policy_version(
        PolicyArn=TEAM_POLICY_ARN, PolicyDocument=json.dumps(EVERYTHING), SetAsDefault=True
    )
    event = Attacker(moto_session, world).record(
        "CreatePolicyVersion",
        {"policyArn": TEAM_POLICY_ARN, "setAsDefault": True},
        response={"policyVersion": {"versionId": "v2", "isDefaultVersion": True}},
    )
    (tmp_path / "incident").mkdir(mode=0o700)
    context = investigated(
        moto_session,
        world.leaked_key_id,
        incident_path=tmp_path / "incident",
        approve=("revert-policy-version",),
    )

    result = run_step(context, "eradicate")

    assert result.outputs["items"] == [
        {
            "kind": "managed-policy",
            "name": TEAM_POLICY_ARN,
            "region": None,
            "created_by": None,
            "action": "kept",
            "undo": None,
        },
        {
            "kind": "policy-version",
            "name": f"{TEAM_POLICY_ARN}/v2",
            "region": None,
            "created_by": event,
            "action": "reverted",
            "undo": (
                f"aws iam create-policy-version --policy-arn {TEAM_POLICY_ARN} --policy-document "
                f"{EVIDENCE} --set-as-default"
            ),
        },
    ]
    versions = iam.list_policy_versions(PolicyArn=TEAM_POLICY_ARN)["Versions"]
    assert [(version["VersionId"], version["IsDefaultVersion"]) for version in versions] == [
        ("v1", True)
    ]
    operations = [
        record.get("operation") for record in context.journal.of_type(RecordType.AWS_INTENT)
    ]
    assert operations == ["SetDefaultPolicyVersion", "DeletePolicyVersion"]
    evidence = json.loads(
        (tmp_path / "incident" / "evidence" / "eradicate-before.json").read_text()
    )
    version_state = next(
        item["state"] for item in evidence["items"] if item["kind"] == "policy-version"
    )
    restore_created = version_state.pop("restore_created")
    assert version_state == {"default": True, "restore": "v1", "document": EVERYTHING}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", restore_created)


def test_two_attacker_versions_reverted(moto_session: boto3.Session) -> None:
    """With two versions of the attacker's, the team's own version is the one made default."""
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_policy(PolicyName=TEAM_POLICY, PolicyDocument=json.dumps(SEND_ONLY))
    attacker = Attacker(moto_session, world)
    for version in ("v2", "v3"):
        iam.create_policy_version(
            PolicyArn=TEAM_POLICY_ARN, PolicyDocument=json.dumps(EVERYTHING), SetAsDefault=True
        )
        attacker.record(
            "CreatePolicyVersion",
            {"policyArn": TEAM_POLICY_ARN, "setAsDefault": True},
            response={"policyVersion": {"versionId": version, "isDefaultVersion": True}},
        )
    context = investigated(moto_session, world.leaked_key_id, approve=("revert-policy-version",))

    result = run_step(context, "eradicate")

    actions = [(item["name"], item["action"]) for item in result.outputs["items"]]
    assert actions == [
        (TEAM_POLICY_ARN, "kept"),
        (f"{TEAM_POLICY_ARN}/v2", "reverted"),
        (f"{TEAM_POLICY_ARN}/v3", "reverted"),
    ]
    versions = iam.list_policy_versions(PolicyArn=TEAM_POLICY_ARN)["Versions"]
    assert [(version["VersionId"], version["IsDefaultVersion"]) for version in versions] == [
        ("v1", True)
    ]
    [question] = [line for line in context.console.lines if "Delete version v3 of" in line]
    assert "First, version v1 (created " in question
    assert "becomes the default again; check that it is the one the team had in force." in (
        question
    )


def test_only_policy_version_kept(moto_session: boto3.Session) -> None:
    """A version that is its policy's only one cannot be deleted: it is kept, with a warning."""
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_policy(PolicyName=TEAM_POLICY, PolicyDocument=json.dumps(SEND_ONLY))
    iam.create_policy_version(
        PolicyArn=TEAM_POLICY_ARN, PolicyDocument=json.dumps(EVERYTHING), SetAsDefault=True
    )
    iam.delete_policy_version(PolicyArn=TEAM_POLICY_ARN, VersionId="v1")
    Attacker(moto_session, world).record(
        "CreatePolicyVersion",
        {"policyArn": TEAM_POLICY_ARN, "setAsDefault": True},
        response={"policyVersion": {"versionId": "v2", "isDefaultVersion": True}},
    )
    context = investigated(moto_session, world.leaked_key_id, approve=("revert-policy-version",))

    result = run_step(context, "eradicate")

    actions = [(item["kind"], item["action"]) for item in result.outputs["items"]]
    assert actions == [("managed-policy", "kept"), ("policy-version", "kept")]
    assert (
        f"warning: version v2 of managed policy {TEAM_POLICY_ARN} is the policy's only version, "
        "so it cannot be deleted: delete the policy, or create a version to replace it."
    ) in context.console.lines
    assert context.journal.of_type(RecordType.AWS_INTENT) == []


def test_configuration_set_deleted(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    sesv2 = moto_session.client("sesv2", region_name=CONSUMER_REGION)
    sesv2.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
    event = Attacker(moto_session, world).record(
        "CreateConfigurationSet",
        {"configurationSet": {"name": CONFIGURATION_SET}},
        source="ses.amazonaws.com",
        region=CONSUMER_REGION,
    )
    context = investigated(moto_session, world.leaked_key_id, approve=("delete-configuration-set",))

    result = run_step(context, "eradicate")

    assert result.outputs["items"] == [
        {
            "kind": "configuration-set",
            "name": CONFIGURATION_SET,
            "region": CONSUMER_REGION,
            "created_by": event,
            "action": "removed",
            "undo": (
                f"aws sesv2 create-configuration-set --configuration-set-name {CONFIGURATION_SET} "
                f"--region {CONSUMER_REGION} (its event destinations are not restored)"
            ),
        }
    ]
    assert sesv2.list_configuration_sets()["ConfigurationSets"] == []


def test_listed_group_kept_unless_selected(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_group(GroupName="auditors")
    context = investigated(moto_session, world.leaked_key_id)

    result = run_step(context, "eradicate")

    assert [(item["kind"], item["name"], item["action"]) for item in result.outputs["items"]] == [
        ("iam-group", "auditors", "kept")
    ]
    assert [group["GroupName"] for group in iam.list_groups()["Groups"]] == ["auditors"]


def test_selected_listed_group_removed(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_group(GroupName="auditors")
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={"eradicate.select": ["iam-group.auditors"]},
        approve=("delete-iam-group",),
    )

    result = run_step(context, "eradicate")

    assert [(item["name"], item["action"]) for item in result.outputs["items"]] == [
        ("auditors", "removed")
    ]
    assert iam.list_groups()["Groups"] == []
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_group(GroupName="auditors")


def trail_event(name: str, parameters: dict[str, object], **extra: object) -> TrailEvent:
    return TrailEvent.from_record(
        {
            "eventID": f"id-{name}",
            "eventTime": "2026-12-03T10:00:00Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": parameters,
            "recipientAccountId": ACCOUNT,
            **extra,
        }
    )


def test_created_policy_arn_without_response() -> None:
    """CreatePolicy logged without responseElements: the ARN is built from account and path."""
    event = trail_event("CreatePolicy", {"policyName": "ops", "path": "/team/"})

    items = items_from_events([event])

    assert [(item.kind, item.name) for item in items] == [
        ("managed-policy", f"arn:aws:iam::{ACCOUNT}:policy/team/ops")
    ]


def test_policy_version_without_version_id() -> None:
    """A CreatePolicyVersion event that names no version ties no item."""
    event = trail_event("CreatePolicyVersion", {"policyArn": TEAM_POLICY_ARN})

    assert items_from_events([event]) == []


def test_configuration_set_of_sesv2() -> None:
    event = trail_event(
        "CreateConfigurationSet",
        {"configurationSetName": CONFIGURATION_SET},
        eventSource="ses.amazonaws.com",
        awsRegion=CONSUMER_REGION,
    )

    items = items_from_events([event])

    assert items == [
        PersistenceItem(
            "configuration-set",
            CONFIGURATION_SET,
            region=CONSUMER_REGION,
            created_by=items[0].created_by,
        )
    ]
    assert items[0].created_by is not None
    assert items[0].created_by.event_name == "CreateConfigurationSet"
