"""The persistence sweep: what it ties to the attacker, what it lists, and what it removes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from remediate.core.errors import InputRequiredError
from remediate.core.records import RecordType
from remediate.evidence.events import TrailEvent
from remediate.evidence.persistence import (
    DENY_ALL_TRUST,
    PersistenceItem,
    attachment_item,
    items_from_events,
    outside_principals,
    role_trust_item,
    without_outside_principals,
)
from remediate.evidence.persistence_sweep import Protected
from remediate.rehearsal.moto_fills import (
    add_aws_managed_policies,
    install_fills,
    record_cloudtrail_event,
)
from tests.helpers import (
    CONSUMER_REGION,
    SMTP_USER,
    FixedClock,
    SmtpWorld,
    make_context,
    make_smtp_world,
    run_step,
)

ACCOUNT = "123456789012"
OUTSIDE = "444455556666"
BACKDOOR = "backup-admin"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ROLE = "release-pipeline"
SENDER = "alerts@notice.example.net"
SERVICE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
OUTSIDE_STATEMENT = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"},
    "Action": "sts:AssumeRole",
}
BACKDOOR_TRUST = {**SERVICE_TRUST, "Statement": [*SERVICE_TRUST["Statement"], OUTSIDE_STATEMENT]}


class Attacker:
    """Makes calls in moto and records each one in CloudTrail as made with the leaked key."""

    def __init__(self, session: boto3.Session, world: SmtpWorld) -> None:
        install_fills()
        self.session = session
        self.world = world
        self.clock = FixedClock().current - timedelta(days=1)
        self.count = 0

    def record(
        self,
        name: str,
        parameters: Mapping[str, Any],
        *,
        source: str = "iam.amazonaws.com",
        region: str = "us-east-1",
        response: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """Record one event and return what the step's outputs name it by."""
        self.count += 1
        moment = self.clock + timedelta(minutes=self.count)
        event_id = f"00000000-0000-4000-8000-{self.count:012d}"
        record_cloudtrail_event(
            ACCOUNT,
            {
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "IAMUser",
                    "arn": f"arn:aws:iam::{ACCOUNT}:user/{SMTP_USER}",
                    "accountId": ACCOUNT,
                    "accessKeyId": self.world.leaked_key_id,
                    "userName": SMTP_USER,
                },
                "eventTime": f"{moment:%Y-%m-%dT%H:%M:%SZ}",
                "eventSource": source,
                "eventName": name,
                "awsRegion": region,
                "sourceIPAddress": "203.0.113.45",
                "userAgent": "Boto3/1.34.69",
                "requestParameters": dict(parameters),
                "responseElements": dict(response) if response else None,
                "eventID": event_id,
                "readOnly": False,
                "eventType": "AwsApiCall",
                "recipientAccountId": ACCOUNT,
            },
        )
        return {"eventID": event_id, "eventName": name, "eventTime": f"{moment:%Y-%m-%dT%H:%M:%SZ}"}

    def backdoor_user(self) -> tuple[str, dict[str, dict[str, str]]]:
        """Create an administrator user with a console password and a key; return the key ID."""
        iam = self.session.client("iam")
        add_aws_managed_policies(ACCOUNT, ["AdministratorAccess"])
        iam.create_user(UserName=BACKDOOR)
        iam.attach_user_policy(UserName=BACKDOOR, PolicyArn=ADMIN)
        iam.create_login_profile(UserName=BACKDOOR, Password="Rehearsal-0000000000000000!")
        key = iam.create_access_key(UserName=BACKDOOR)["AccessKey"]["AccessKeyId"]
        events = {
            "user": self.record("CreateUser", {"userName": BACKDOOR}),
            "policy": self.record("AttachUserPolicy", {"userName": BACKDOOR, "policyArn": ADMIN}),
            "profile": self.record(
                "CreateLoginProfile", {"userName": BACKDOOR, "passwordResetRequired": False}
            ),
            "key": self.record(
                "CreateAccessKey",
                {"userName": BACKDOOR},
                response={
                    "accessKey": {"userName": BACKDOOR, "accessKeyId": key, "status": "Active"}
                },
            ),
        }
        return key, events


def investigated(session: boto3.Session, key_id: str, **options: Any) -> Any:
    """Identify the key for real, and take a compromised verdict as the investigation's outputs."""
    install_fills()
    context = make_context(session, key_id, regions=(CONSUMER_REGION,), **options)
    run_step(context, "identify")
    context.journal.append(
        RecordType.STEP_FINISHED,
        step="investigate",
        kind="investigate",
        status="ok",
        summary="given",
        outputs={
            "verdict": "compromised",
            "finding_ids": ["iam-persistence"],
            "suspect_regions": [],
            "sending_regions": [],
            "derived_credentials": [],
        },
    )
    return context


def user_names(session: boto3.Session) -> list[str]:
    return sorted(user["UserName"] for user in session.client("iam").list_users()["Users"])


def test_eradicate_deletes_user_and_holdings(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key, events = Attacker(moto_session, world).backdoor_user()
    context = investigated(moto_session, world.leaked_key_id, approve=("delete-iam-user",))

    result = run_step(context, "eradicate")

    removed_with = f"none: removed with IAM user {BACKDOOR}"
    assert result.outputs == {
        "items": [
            {
                "kind": "access-key",
                "name": key,
                "region": None,
                "created_by": events["key"],
                "action": "removed",
                "undo": removed_with,
            },
            {
                "kind": "login-profile",
                "name": BACKDOOR,
                "region": None,
                "created_by": events["profile"],
                "action": "removed",
                "undo": removed_with,
            },
            {
                "kind": "policy-attachment",
                "name": f"user/{BACKDOOR}/{ADMIN}",
                "region": None,
                "created_by": events["policy"],
                "action": "removed",
                "undo": removed_with,
            },
            {
                "kind": "iam-user",
                "name": BACKDOOR,
                "region": None,
                "created_by": events["user"],
                "action": "removed",
                "undo": "none: a deleted IAM user cannot be restored",
            },
        ]
    }
    assert result.summary == (
        "4 removed, 0 reverted and 0 kept of 4 item(s); 4 tied to the attacker by an event."
    )
    assert user_names(moto_session) == [SMTP_USER]
    operations = [
        record.get("operation") for record in context.journal.of_type(RecordType.AWS_INTENT)
    ]
    assert operations == ["DeleteAccessKey", "DeleteLoginProfile", "DetachUserPolicy", "DeleteUser"]
    check = context.journal.last(RecordType.CHECK, name="persistence-removed")
    assert check.get("passed") is True
    assert check.get("detail") == (
        "the 1 item(s) acted on read back as gone; what a deleted user, group, role or policy "
        "held went with it"
    )


def test_declined_user_asks_each_part(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key, _ = Attacker(moto_session, world).backdoor_user()
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={
            f"eradicate.remove.iam-user.{BACKDOOR}": False,
            f"eradicate.remove.access-key.{key}": False,
            f"eradicate.remove.policy-attachment.user/{BACKDOOR}/{ADMIN}": False,
        },
        approve=("delete-login-profile",),
    )

    result = run_step(context, "eradicate")

    actions = {item["kind"]: item["action"] for item in result.outputs["items"]}
    assert actions == {
        "iam-user": "kept",
        "access-key": "kept",
        "login-profile": "removed",
        "policy-attachment": "kept",
    }
    iam = moto_session.client("iam")
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_login_profile(UserName=BACKDOOR)
    assert [
        item["AccessKeyId"] for item in iam.list_access_keys(UserName=BACKDOOR)["AccessKeyMetadata"]
    ] == [key]


def test_removal_needs_approval_by_name(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    Attacker(moto_session, world).backdoor_user()
    context = investigated(moto_session, world.leaked_key_id)

    with pytest.raises(InputRequiredError, match="add `delete-iam-user` under `approve:`"):
        run_step(context, "eradicate")

    assert user_names(moto_session) == [BACKDOOR, SMTP_USER]


def test_role_trust_reverted(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(SERVICE_TRUST))
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(BACKDOOR_TRUST))
    event = Attacker(moto_session, world).record(
        "UpdateAssumeRolePolicy",
        {"roleName": ROLE, "policyDocument": json.dumps(BACKDOOR_TRUST)},
    )
    (tmp_path / "incident").mkdir(mode=0o700)
    context = investigated(
        moto_session,
        world.leaked_key_id,
        incident_path=tmp_path / "incident",
        approve=("revert-role-trust",),
    )

    result = run_step(context, "eradicate")

    assert result.outputs["items"] == [
        {
            "kind": "role-trust",
            "name": ROLE,
            "region": None,
            "created_by": event,
            "action": "reverted",
            "undo": (
                f"aws iam update-assume-role-policy --role-name {ROLE} --policy-document "
                "<its trust policy in evidence/eradicate-before.json>"
            ),
        }
    ]
    assert iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"] == SERVICE_TRUST
    evidence = json.loads(
        (tmp_path / "incident" / "evidence" / "eradicate-before.json").read_text()
    )
    assert evidence["items"][0]["state"] == {
        "trust_policy": BACKDOOR_TRUST,
        "outside": [f"arn:aws:iam::{OUTSIDE}:root"],
    }


def test_ses_identity_and_policy_removed(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("ses", region_name=CONSUMER_REGION).verify_email_identity(
        EmailAddress=SENDER
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"},
                "Action": ["ses:SendRawEmail"],
                "Resource": "*",
            }
        ],
    }
    sesv2 = moto_session.client("sesv2", region_name=CONSUMER_REGION)
    sesv2.create_email_identity_policy(
        EmailIdentity=SENDER, PolicyName="partner", Policy=json.dumps(policy)
    )
    attacker = Attacker(moto_session, world)
    ses = {"source": "ses.amazonaws.com", "region": CONSUMER_REGION}
    verified = attacker.record("VerifyEmailIdentity", {"emailAddress": SENDER}, **ses)
    allowed = attacker.record(
        "CreateEmailIdentityPolicy",
        {"emailIdentity": SENDER, "policyName": "partner", "policy": json.dumps(policy)},
        **ses,
    )
    context = investigated(
        moto_session,
        world.leaked_key_id,
        approve=("delete-ses-identity", "delete-identity-policy"),
    )

    result = run_step(context, "eradicate")

    assert result.outputs["items"] == [
        {
            "kind": "identity-policy",
            "name": f"{SENDER}/partner",
            "region": CONSUMER_REGION,
            "created_by": allowed,
            "action": "removed",
            "undo": (
                f"aws sesv2 create-email-identity-policy --email-identity {SENDER} "
                "--policy-name partner --policy <its document in evidence/eradicate-before.json> "
                f"--region {CONSUMER_REGION}"
            ),
        },
        {
            "kind": "ses-identity",
            "name": SENDER,
            "region": CONSUMER_REGION,
            "created_by": verified,
            "action": "removed",
            "undo": (
                f"aws sesv2 create-email-identity --email-identity {SENDER} --region "
                f"{CONSUMER_REGION} (verification starts again)"
            ),
        },
    ]
    assert sesv2.list_email_identities()["EmailIdentities"] == []


def test_listed_user_kept_unless_selected(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("iam").create_user(UserName="contractor")
    context = investigated(moto_session, world.leaked_key_id)

    result = run_step(context, "eradicate")

    assert result.outputs == {
        "items": [
            {
                "kind": "iam-user",
                "name": "contractor",
                "region": None,
                "created_by": None,
                "action": "kept",
                "undo": None,
            }
        ]
    }
    answer = context.journal.last(RecordType.ANSWER, question="eradicate.select")
    assert answer.get("value") == []
    assert user_names(moto_session) == ["contractor", SMTP_USER]


def test_selected_listed_user_removed(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("iam").create_user(UserName="contractor")
    context = investigated(
        moto_session,
        world.leaked_key_id,
        answers={"eradicate.select": ["iam-user.contractor"]},
        approve=("delete-iam-user",),
    )

    result = run_step(context, "eradicate")

    assert [(item["name"], item["action"]) for item in result.outputs["items"]] == [
        ("contractor", "removed")
    ]
    assert user_names(moto_session) == [SMTP_USER]


def test_new_key_never_offered(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    new_key = moto_session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"]
    context = investigated(moto_session, world.leaked_key_id)
    context.journal.append(
        RecordType.STEP_FINISHED,
        step="rotate",
        kind="rotate",
        status="ok",
        summary="given",
        outputs={"user_name": SMTP_USER, "new_access_key_id": new_key["AccessKeyId"]},
    )

    result = run_step(context, "eradicate")

    assert result.outputs == {"items": []}
    assert result.summary == (
        "No persistence found: no event ties an item to the attacker, and the account listing "
        "shows nothing to offer."
    )


def test_gone_item_noted(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    event = Attacker(moto_session, world).record("CreateUser", {"userName": "deleted-already"})
    context = investigated(moto_session, world.leaked_key_id)

    result = run_step(context, "eradicate")

    assert result.outputs == {"items": []}
    note = context.journal.last(RecordType.NOTE)
    assert note.get("text") == (
        f"IAM user deleted-already, made by CreateUser (event {event['eventID']} at "
        f"{event['eventTime']}), is no longer in the account."
    )


def test_protected_reasons() -> None:
    protected = Protected(
        users=frozenset({SMTP_USER}),
        access_keys=frozenset({"AKIANEWKEY0000000000"}),
        operator_kind="Role",
        operator_name="incident-responder",
    )
    quarantine = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"

    assert protected.reason(PersistenceItem("iam-user", SMTP_USER)) == (
        "the leaked key's user, or a user this incident created; it keeps the new key"
    )
    assert protected.reason(attachment_item("User", "mallory", quarantine)) == (
        "AWS's quarantine policy: only AWS Support lifts it"
    )
    assert protected.reason(attachment_item("Role", "incident-responder", ADMIN)) == (
        "it belongs to the principal you are signed in as"
    )
    assert protected.reason(role_trust_item("incident-responder")) == (
        "the role you are signed in with"
    )
    assert protected.reason(attachment_item("User", SMTP_USER, ADMIN)) is None


def test_unknown_operator_owns_nothing() -> None:
    """Signed in as root or a federated user, no item is the operator's."""
    protected = Protected(operator_kind=None, operator_name=None)

    assert protected.reason(PersistenceItem("iam-group", "ops-break-glass")) is None
    assert protected.reason(PersistenceItem("managed-policy", ADMIN)) is None


def test_items_from_events_skip_failures() -> None:
    base = {
        "eventTime": "2026-12-03T03:01:00Z",
        "eventSource": "iam.amazonaws.com",
        "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "userName": SMTP_USER},
    }
    events = [
        TrailEvent.from_record(
            {
                **base,
                "eventID": "a",
                "eventName": "CreateUser",
                "errorCode": "AccessDenied",
                "requestParameters": {"userName": "denied"},
            }
        ),
        TrailEvent.from_record(
            {
                **base,
                "eventID": "b",
                "eventName": "CreateLoginProfile",
                "requestParameters": {"passwordResetRequired": False},
            }
        ),
        TrailEvent.from_record(
            {
                **base,
                "eventID": "c",
                "eventName": "PutUserPolicy",
                "requestParameters": {"userName": "mallory", "policyName": "all"},
            }
        ),
    ]

    items = items_from_events(events)

    assert [(item.kind, item.name, item.owner) for item in items] == [
        ("login-profile", SMTP_USER, SMTP_USER),
        ("inline-policy", "user/mallory/all", "mallory"),
    ]


def test_outside_principals_found() -> None:
    trust = {
        "Statement": [
            OUTSIDE_STATEMENT,
            {"Effect": "Allow", "Principal": {"AWS": [ACCOUNT, "111122223333"]}, "Action": "x"},
            {"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"}},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "x"},
        ]
    }

    assert outside_principals(trust, ACCOUNT) == [f"arn:aws:iam::{OUTSIDE}:root", "111122223333"]
    assert without_outside_principals(trust, ACCOUNT) == {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "x"},
            {"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"}},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "x"},
        ]
    }


def test_trust_with_only_outsiders_denies_all() -> None:
    trust = {"Version": "2012-10-17", "Statement": [OUTSIDE_STATEMENT]}

    assert without_outside_principals(trust, ACCOUNT) == DENY_ALL_TRUST
