"""`remediate rehearse --scenario persistence --yes`: every backdoor found, removed and listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from remediate.cli import cli
from remediate.core.errors import ExitCode
from remediate.rehearsal.scenarios import (
    ATTACKER_CONFIGURATION_SET,
    BACKDOOR_POLICY_ARN,
    BACKDOOR_TRUST,
    BACKDOOR_USER,
    ESCALATION_GROUP,
    ESCALATION_POLICY,
    ESCALATION_POLICY_NAME,
    OUTSIDE_ACCOUNT,
    PERSISTENCE_SENDER,
    PIPELINE_ROLE,
    PIPELINE_TRUST,
    SENDER_POLICY,
    SENDER_POLICY_NAME,
    TEAM_REGION,
    get_scenario,
)
from remediate.rehearsal.world import open_world

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
# moto's default account, which the rehearsal world uses.
ACCOUNT = "123456789012"
ESCALATION_POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{ESCALATION_POLICY_NAME}"


@pytest.fixture
def kept_moto() -> Iterator[None]:
    """Keep moto's state after the rehearsal's own world closes, so the test can read it."""
    with mock_aws():
        yield


def event_ids() -> dict[str, str]:
    """The scenario's event IDs by event name; they come from a seeded generator, not the clock."""
    calls = get_scenario("persistence").build(NOW).attacker_calls
    return {call.event_name: call.event_id for call in calls}


def backdoor_password() -> str:
    """The console password the scenario's attacker sets; CloudTrail never logs it."""
    [call] = [
        call
        for call in get_scenario("persistence").build(NOW).attacker_calls
        if call.event_name == "CreateLoginProfile"
    ]
    assert call.api is not None
    return str(call.api.parameters["Password"])


def journal(incident: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (incident / "journal.jsonl").read_text().splitlines()]


def test_persistence_world_leaves_backdoors() -> None:
    with open_world("persistence", now=NOW) as world:
        iam = world.session.client("iam")
        keys = iam.list_access_keys(UserName=BACKDOOR_USER)["AccessKeyMetadata"]
        attached = iam.list_attached_user_policies(UserName=BACKDOOR_USER)["AttachedPolicies"]
        trust = iam.get_role(RoleName=PIPELINE_ROLE)["Role"]["AssumeRolePolicyDocument"]
        sesv2 = world.session.client("sesv2", region_name=TEAM_REGION)
        identities = sesv2.list_email_identities()["EmailIdentities"]
        policies = sesv2.get_email_identity_policies(EmailIdentity=PERSISTENCE_SENDER)
        lookup = world.session.client("cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}]
        )
        leaked_policies = iam.list_attached_user_policies(UserName=world.smtp_user_name)
        members = iam.get_group(GroupName=ESCALATION_GROUP)["Users"]
        group_policies = iam.list_attached_group_policies(GroupName=ESCALATION_GROUP)
        version = iam.get_policy_version(PolicyArn=ESCALATION_POLICY_ARN, VersionId="v1")
        configuration_sets = sesv2.list_configuration_sets()["ConfigurationSets"]
        lookup_policy = world.session.client("cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreatePolicy"}]
        )

    assert len(keys) == 1
    assert [policy["PolicyArn"] for policy in attached] == [BACKDOOR_POLICY_ARN]
    assert trust == BACKDOOR_TRUST
    assert sorted(identity["IdentityName"] for identity in identities) == [
        "example.com",
        PERSISTENCE_SENDER,
    ]
    assert json.loads(policies["Policies"][SENDER_POLICY_NAME]) == SENDER_POLICY
    assert [policy["PolicyArn"] for policy in leaked_policies["AttachedPolicies"]] == [
        "arn:aws:iam::aws:policy/IAMFullAccess"
    ]
    assert [member["UserName"] for member in members] == [world.smtp_user_name]
    assert [policy["PolicyArn"] for policy in group_policies["AttachedPolicies"]] == [
        ESCALATION_POLICY_ARN
    ]
    assert version["PolicyVersion"]["Document"] == ESCALATION_POLICY
    assert configuration_sets == [ATTACKER_CONFIGURATION_SET]
    [policy_event] = lookup_policy["Events"]
    policy_record = json.loads(policy_event["CloudTrailEvent"])
    assert policy_record["responseElements"]["policy"]["arn"] == ESCALATION_POLICY_ARN
    [item] = lookup["Events"]
    record = json.loads(item["CloudTrailEvent"])
    assert record["userIdentity"]["accessKeyId"] == world.leaked_access_key_id
    assert record["responseElements"] == {
        "accessKey": {
            "userName": BACKDOOR_USER,
            "accessKeyId": keys[0]["AccessKeyId"],
            "status": "Active",
            "createDate": "Dec 2, 2026 4:19:59 PM",
        }
    }


def test_rehearse_persistence_removes_backdoors(tmp_path: Path, kept_moto: None) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(
            cli, ["rehearse", "--yes", "--scenario", "persistence"], catch_exceptions=False
        )
    assert result.exit_code == ExitCode.OK, result.output

    iam = boto3.client("iam", region_name="us-east-1")
    users = [user["UserName"] for user in iam.list_users()["Users"]]
    assert BACKDOOR_USER not in users
    assert len(users) == 1
    assert iam.get_role(RoleName=PIPELINE_ROLE)["Role"]["AssumeRolePolicyDocument"] == (
        PIPELINE_TRUST
    )
    assert iam.list_groups()["Groups"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []
    sesv2 = boto3.client("sesv2", region_name=TEAM_REGION)
    identities = sesv2.list_email_identities()["EmailIdentities"]
    assert [identity["IdentityName"] for identity in identities] == ["example.com"]
    assert sesv2.list_configuration_sets()["ConfigurationSets"] == []

    [incident] = (tmp_path / "incidents").iterdir()
    records = journal(incident)
    [outputs] = [
        record["outputs"]
        for record in records
        if record["type"] == "step.finished" and record.get("kind") == "eradicate"
    ]
    evidence = json.loads((incident / "evidence" / "cloudtrail-events.json").read_text())
    times = {event["eventID"]: event["eventTime"] for event in evidence["Records"]}
    [created_key] = [
        event["responseElements"]["accessKey"]["accessKeyId"]
        for event in evidence["Records"]
        if event["eventName"] == "CreateAccessKey"
    ]
    ids = event_ids()

    def made_by(name: str) -> dict[str, str]:
        return {"eventID": ids[name], "eventName": name, "eventTime": times[ids[name]]}

    removed_with = f"none: removed with IAM user {BACKDOOR_USER}"
    assert outputs["items"] == [
        {
            "kind": "access-key",
            "name": created_key,
            "region": None,
            "created_by": made_by("CreateAccessKey"),
            "action": "removed",
            "undo": removed_with,
        },
        {
            "kind": "login-profile",
            "name": BACKDOOR_USER,
            "region": None,
            "created_by": made_by("CreateLoginProfile"),
            "action": "removed",
            "undo": removed_with,
        },
        {
            "kind": "policy-attachment",
            "name": f"user/{BACKDOOR_USER}/{BACKDOOR_POLICY_ARN}",
            "region": None,
            "created_by": made_by("AttachUserPolicy"),
            "action": "removed",
            "undo": removed_with,
        },
        {
            "kind": "iam-user",
            "name": BACKDOOR_USER,
            "region": None,
            "created_by": made_by("CreateUser"),
            "action": "removed",
            "undo": "none: a deleted IAM user cannot be restored",
        },
        {
            "kind": "group-membership",
            "name": f"user/{users[0]}/{ESCALATION_GROUP}",
            "region": None,
            "created_by": made_by("AddUserToGroup"),
            "action": "removed",
            "undo": f"none: removed with IAM group {ESCALATION_GROUP}",
        },
        {
            "kind": "policy-attachment",
            "name": f"group/{ESCALATION_GROUP}/{ESCALATION_POLICY_ARN}",
            "region": None,
            "created_by": made_by("AttachGroupPolicy"),
            "action": "removed",
            "undo": f"none: removed with IAM group {ESCALATION_GROUP}",
        },
        {
            "kind": "iam-group",
            "name": ESCALATION_GROUP,
            "region": None,
            "created_by": made_by("CreateGroup"),
            "action": "removed",
            "undo": "none: a deleted group cannot be restored",
        },
        {
            "kind": "managed-policy",
            "name": ESCALATION_POLICY_ARN,
            "region": None,
            "created_by": made_by("CreatePolicy"),
            "action": "removed",
            "undo": (
                "none: a deleted policy cannot be restored; its document is in "
                "evidence/eradicate-before.json"
            ),
        },
        {
            "kind": "role-trust",
            "name": PIPELINE_ROLE,
            "region": None,
            "created_by": made_by("UpdateAssumeRolePolicy"),
            "action": "reverted",
            "undo": (
                f"aws iam update-assume-role-policy --role-name {PIPELINE_ROLE} "
                "--policy-document <its trust policy in evidence/eradicate-before.json>"
            ),
        },
        {
            "kind": "identity-policy",
            "name": f"{PERSISTENCE_SENDER}/{SENDER_POLICY_NAME}",
            "region": TEAM_REGION,
            "created_by": made_by("CreateEmailIdentityPolicy"),
            "action": "removed",
            "undo": (
                f"aws sesv2 create-email-identity-policy --email-identity {PERSISTENCE_SENDER} "
                f"--policy-name {SENDER_POLICY_NAME} --policy <its document in "
                f"evidence/eradicate-before.json> --region {TEAM_REGION}"
            ),
        },
        {
            "kind": "ses-identity",
            "name": PERSISTENCE_SENDER,
            "region": TEAM_REGION,
            "created_by": made_by("VerifyEmailIdentity"),
            "action": "removed",
            "undo": (
                f"aws sesv2 create-email-identity --email-identity {PERSISTENCE_SENDER} "
                f"--region {TEAM_REGION} (verification starts again)"
            ),
        },
        {
            "kind": "ses-identity",
            "name": "example.com",
            "region": TEAM_REGION,
            "created_by": None,
            "action": "kept",
            "undo": None,
        },
        {
            "kind": "configuration-set",
            "name": ATTACKER_CONFIGURATION_SET,
            "region": TEAM_REGION,
            "created_by": made_by("CreateConfigurationSet"),
            "action": "removed",
            "undo": (
                "aws sesv2 create-configuration-set --configuration-set-name "
                f"{ATTACKER_CONFIGURATION_SET} --region {TEAM_REGION} (its event destinations "
                "are not restored)"
            ),
        },
    ]
    # The backdoor key's own events were followed: the role's trust was changed with it.
    [trust_event] = [
        event for event in evidence["Records"] if event["eventName"] == "UpdateAssumeRolePolicy"
    ]
    assert trust_event["userIdentity"]["accessKeyId"] == created_key
    assert OUTSIDE_ACCOUNT in trust_event["requestParameters"]["policyDocument"]
    report = (incident / "report.md").read_text()
    # The group the attacker added the user to is gone, so only the scenario's own grant is left.
    assert (
        f"- [ ] The user {users[0]} may do more than send mail: attached IAMFullAccess (iam:\\*, "
        "organizations:DescribeAccount, organizations:DescribeOrganization and 8 more). The new "
        "key has the same rights. Leave it only ses:SendRawEmail (and ses:SendEmail if a consumer "
        "calls the API).\n"
    ) in report
    assert (
        f"- [ ] Revoke the sessions of role {PIPELINE_ROLE} that the outside account may already "
        "hold: they stay valid until they expire (up to 12 hours). In the IAM console, the "
        "role's Revoke active sessions attaches AWSRevokeOlderSessions.\n"
    ) in report
    password = backdoor_password()
    assert password not in result.output
    for path in incident.rglob("*"):
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path
