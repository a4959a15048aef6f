"""Rotate, update consumers, deactivate: the safe order, the two-key limit, and interrupted runs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from remediate.aws.iam import AccessKey
from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import InputRequiredError, UsageError, VerificationError
from remediate.engine.journal import RecordType
from remediate.steps.rotate import propose_key_to_delete
from tests.helpers import (
    CONSUMER_REGION,
    CONSUMER_SECRET,
    SMTP_USER,
    current_secret,
    key_statuses,
    make_context,
    make_smtp_world,
    run_step,
)


def prepared_context(session: boto3.Session, key_id: str, **options: object):  # type: ignore[no-untyped-def]
    context = make_context(session, key_id, regions=(CONSUMER_REGION,), **options)  # type: ignore[arg-type]
    run_step(context, "identify")
    run_step(context, "find-consumers")
    return context


def pending_secret(session: boto3.Session) -> dict[str, object]:
    client = session.client("secretsmanager", region_name=CONSUMER_REGION)
    value = client.get_secret_value(SecretId=CONSUMER_SECRET, VersionStage="AWSPENDING")[
        "SecretString"
    ]
    return dict(json.loads(value))


def test_rotate_stages_new_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared_context(moto_session, world.leaked_key_id)

    outputs = run_step(context, "rotate").outputs

    new_key = outputs["new_access_key_id"]
    assert key_statuses(moto_session) == {world.leaked_key_id: "Active", new_key: "Active"}
    assert outputs["verified_arn"] == f"arn:aws:iam::123456789012:user/{SMTP_USER}"
    assert pending_secret(moto_session)["username"] == new_key
    assert current_secret(moto_session)["username"] == world.leaked_key_id
    secret = context.secret(new_key).reveal()
    assert pending_secret(moto_session)["password"] == smtp_password_v4(secret, CONSUMER_REGION)
    proof = outputs["proof"]
    assert proof["at"] == "2026-12-04T03:00:00Z"
    assert proof["arn"] == f"arn:aws:iam::123456789012:user/{SMTP_USER}"
    assert re.fullmatch(r"[0-9A-Za-z-]{20,}", str(proof["request_id"]))
    note = context.journal.of_type(RecordType.NOTE)[-1]
    assert note.get("text") == (
        f"sts GetCallerIdentity signed with {new_key} at 2026-12-04T03:00:00Z returned "
        f"arn:aws:iam::123456789012:user/{SMTP_USER} (request ID {proof['request_id']})"
    )


def session_rejecting_new_keys(rejections: int) -> Any:
    """Build sessions whose STS GetCallerIdentity fails as IAM does before a new key propagates.

    moto accepts a new key at once, so the error is injected through botocore's
    event system, the way Stubber answers a call.
    """
    remaining = [rejections]

    def reject(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if remaining[0] == 0:
            return None
        remaining[0] -= 1
        error = {
            "Code": "InvalidClientTokenId",
            "Message": "The security token included in the request is invalid.",
        }
        return AWSResponse("https://sts.amazonaws.com/", 403, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "rejected"},
        }

    def build(**arguments: Any) -> boto3.Session:
        session = boto3.Session(**arguments)
        session.events.register("before-call.sts.GetCallerIdentity", reject)
        return session

    return build


def test_rotate_waits_while_iam_propagates(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared_context(
        moto_session, world.leaked_key_id, credential_session=session_rejecting_new_keys(3)
    )

    outputs = run_step(context, "rotate").outputs

    assert outputs["verified_arn"] == f"arn:aws:iam::123456789012:user/{SMTP_USER}"
    retries = [
        line for line in context.console.lines if "is not valid yet (InvalidClientTokenId)" in line
    ]
    assert retries == [
        "info: The new key is not valid yet (InvalidClientTokenId); retry 1 of 8.",
        "info: The new key is not valid yet (InvalidClientTokenId); retry 2 of 8.",
        "info: The new key is not valid yet (InvalidClientTokenId); retry 3 of 8.",
    ]


def test_rotate_gives_up_after_attempts(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared_context(
        moto_session, world.leaked_key_id, credential_session=session_rejecting_new_keys(99)
    )

    with pytest.raises(VerificationError) as caught:
        run_step(context, "rotate", params={"verify_attempts": 2})

    assert "was still rejected after 2 attempts (InvalidClientTokenId)" in caught.value.message
    assert "it is in the escrow, so a resumed run proves it again" in caught.value.message
    assert current_secret(moto_session)["username"] == world.leaked_key_id


def test_update_consumers_promotes_and_keeps_fields(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session, extra_fields={"reply_to": "ops@example.com"})
    context = prepared_context(moto_session, world.leaked_key_id)
    new_key = run_step(context, "rotate").outputs["new_access_key_id"]
    secret = context.secret(new_key).reveal()

    outputs = run_step(context, "update-consumers").outputs

    assert current_secret(moto_session) == {
        "host": f"email-smtp.{CONSUMER_REGION}.amazonaws.com",
        "port": 587,
        "username": new_key,
        "password": smtp_password_v4(secret, CONSUMER_REGION),
        "from": "no-reply@example.com",
        "reply_to": "ops@example.com",
    }
    stages = moto_session.client("secretsmanager", region_name=CONSUMER_REGION).describe_secret(
        SecretId=CONSUMER_SECRET
    )["VersionIdsToStages"]
    consumer = outputs["consumers"][0]
    assert stages[consumer["current_version_id"]] == ["AWSCURRENT"]
    assert stages[consumer["previous_version_id"]] == ["AWSPREVIOUS"]
    checks = [record.get("name") for record in context.journal.of_type(RecordType.CHECK)]
    assert f"consumer:{CONSUMER_SECRET}" in checks


def test_deactivate_after_verified_consumers(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared_context(moto_session, world.leaked_key_id, approve=("deactivate-old-key",))
    new_key = run_step(context, "rotate").outputs["new_access_key_id"]
    run_step(context, "update-consumers")

    result = run_step(context, "deactivate")

    assert result.summary == f"{world.leaked_key_id} is now Inactive."
    assert key_statuses(moto_session) == {world.leaked_key_id: "Inactive", new_key: "Active"}
    intent = context.journal.last(RecordType.AWS_INTENT, operation="UpdateAccessKey")
    assert intent.get("params") == {
        "UserName": SMTP_USER,
        "AccessKeyId": world.leaked_key_id,
        "Status": "Inactive",
    }
    assert intent.get("undo") == (
        f"aws iam update-access-key --user-name {SMTP_USER} "
        f"--access-key-id {world.leaked_key_id} --status Active"
    )
    result_record = context.journal.last(RecordType.AWS_RESULT, call_id=intent.get("call_id"))
    assert result_record.get("ok") is True
    assert result_record.get("request_id")


def test_deactivate_refused_before_consumers_switched(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared_context(moto_session, world.leaked_key_id, approve=("deactivate-old-key",))
    run_step(context, "rotate")

    with pytest.raises(UsageError, match="not every consumer has been switched and verified"):
        run_step(context, "deactivate")

    assert key_statuses(moto_session)[world.leaked_key_id] == "Active"


def test_deactivate_without_approval_stops(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared_context(moto_session, world.leaked_key_id)
    run_step(context, "rotate")
    run_step(context, "update-consumers")

    with pytest.raises(InputRequiredError, match="add `deactivate-old-key` under `approve:`"):
        run_step(context, "deactivate")

    assert key_statuses(moto_session)[world.leaked_key_id] == "Active"


def test_deactivate_declined_keeps_key_active(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared_context(
        moto_session, world.leaked_key_id, answers={"deactivate.confirm": False}
    )
    run_step(context, "rotate")
    run_step(context, "update-consumers")

    result = run_step(context, "deactivate")

    assert str(result.status) == "skipped"
    assert key_statuses(moto_session)[world.leaked_key_id] == "Active"


def test_rotate_with_two_keys_deletes_chosen(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    spare = iam.create_access_key(UserName=SMTP_USER)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=SMTP_USER, AccessKeyId=spare, Status="Inactive")
    context = prepared_context(moto_session, world.leaked_key_id, approve=("delete-extra-key",))

    outputs = run_step(context, "rotate").outputs

    assert outputs["deleted_access_key_id"] == spare
    assert set(key_statuses(moto_session)) == {world.leaked_key_id, outputs["new_access_key_id"]}
    answer = context.journal.last(RecordType.ANSWER, question="rotate.delete-key")
    assert (answer.get("value"), answer.get("source")) == (spare, "default")
    [note] = [
        record
        for record in context.journal.of_type(RecordType.NOTE)
        if str(record.get("text")).startswith(f"{spare} (")
    ]
    assert note.get("text").startswith(f"{spare} (Inactive, created ")
    assert note.get("text").endswith("was chosen for deletion as proposed, because it is inactive.")


def test_rotate_with_two_keys_needs_approval(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    iam = moto_session.client("iam")
    spare = iam.create_access_key(UserName=SMTP_USER)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=SMTP_USER, AccessKeyId=spare, Status="Inactive")
    context = prepared_context(moto_session, world.leaked_key_id)

    with pytest.raises(InputRequiredError, match="add `delete-extra-key` under `approve:`"):
        run_step(context, "rotate")

    assert len(key_statuses(moto_session)) == 2


def key(key_id: str, status: str, day: int) -> AccessKey:
    return AccessKey(key_id, SMTP_USER, status, datetime(2026, 1, day, tzinfo=UTC))


def test_proposal_prefers_inactive_key() -> None:
    keys = [
        key("AKIALEAKED", "Active", 1),
        key("AKIAOLD", "Active", 2),
        key("AKIAOFF", "Inactive", 3),
    ]

    assert propose_key_to_delete(keys, "AKIALEAKED", None) == keys[2]


def test_proposal_never_offers_leaked_or_operator_key() -> None:
    keys = [key("AKIALEAKED", "Inactive", 1), key("AKIAMINE", "Inactive", 2)]

    assert propose_key_to_delete(keys, "AKIALEAKED", "AKIAMINE") is None


def test_interrupted_rotation_replaces_unkept_key(
    moto_session: boto3.Session, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    first = prepared_context(moto_session, world.leaked_key_id, incident_path=tmp_path)
    first.enter_step(_spec("rotate"))
    created = first.aws.iam.create_access_key(SMTP_USER)
    first.journal.append(
        RecordType.AWS_INTENT,
        step="rotate",
        call_id="rotate#1",
        service="iam",
        operation="CreateAccessKey",
        resource=SMTP_USER,
    )
    first.journal.append(
        RecordType.AWS_RESULT,
        step="rotate",
        call_id="rotate#1",
        ok=True,
        request_id="r-1",
        details={"access_key_id": created.access_key_id},
    )
    # A new process: the journal survives, the secret held in memory does not.
    resumed = make_context(
        moto_session, world.leaked_key_id, incident_path=tmp_path, regions=(CONSUMER_REGION,)
    )

    outputs = run_step(resumed, "rotate").outputs

    statuses = key_statuses(moto_session)
    assert created.access_key_id not in statuses
    assert set(statuses) == {world.leaked_key_id, outputs["new_access_key_id"]}
    deleted = resumed.journal.last(RecordType.AWS_INTENT, operation="DeleteAccessKey")
    assert deleted.get("resource") == created.access_key_id
    assert deleted.get("description") == (
        "delete a key created by an interrupted run, whose secret is in no destination"
    )


def _spec(kind: str):  # type: ignore[no-untyped-def]
    from remediate.steps.base import StepSpec

    return StepSpec(id=kind, kind=kind, title=kind)


def test_resume_after_unjournaled_create(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    first = prepared_context(moto_session, world.leaked_key_id, incident_path=tmp_path)
    first.enter_step(_spec("rotate"))
    first.journal.append(
        RecordType.AWS_INTENT,
        step="rotate",
        call_id="rotate#9",
        service="iam",
        operation="CreateAccessKey",
        resource=SMTP_USER,
        params={"UserName": SMTP_USER, "KeysBefore": [world.leaked_key_id]},
    )
    # The process dies after IAM created the key and before the result was journaled.
    orphan = first.aws.iam.create_access_key(SMTP_USER).access_key_id
    resumed = make_context(
        moto_session, world.leaked_key_id, incident_path=tmp_path, regions=(CONSUMER_REGION,)
    )

    outputs = run_step(resumed, "rotate").outputs

    statuses = key_statuses(moto_session)
    assert orphan not in statuses
    assert set(statuses) == {world.leaked_key_id, outputs["new_access_key_id"]}
    deleted = resumed.journal.last(RecordType.AWS_INTENT, operation="DeleteAccessKey")
    assert deleted.get("resource") == orphan


def test_active_spare_key_must_be_named(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("iam").create_access_key(UserName=SMTP_USER)
    context = prepared_context(moto_session, world.leaked_key_id, approve=("delete-extra-key",))

    with pytest.raises(InputRequiredError, match=re.escape("answer it with `rotate.delete-key:`")):
        run_step(context, "rotate")

    assert len(key_statuses(moto_session)) == 2


def test_active_spare_key_deleted_when_named(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    spare = moto_session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"][
        "AccessKeyId"
    ]
    context = prepared_context(
        moto_session,
        world.leaked_key_id,
        answers={"rotate.delete-key": spare},
        approve=("delete-extra-key",),
    )

    outputs = run_step(context, "rotate").outputs

    assert outputs["deleted_access_key_id"] == spare
    assert spare not in key_statuses(moto_session)


def test_rotate_user_with_path(moto_session: boto3.Session) -> None:
    iam = moto_session.client("iam")
    iam.create_user(UserName="mailer", Path="/service-accounts/")
    key = iam.create_access_key(UserName="mailer")["AccessKey"]
    moto_session.client("secretsmanager", region_name=CONSUMER_REGION).create_secret(
        Name="paths/smtp",
        SecretString=json.dumps(
            {
                "host": f"email-smtp.{CONSUMER_REGION}.amazonaws.com",
                "username": key["AccessKeyId"],
                "password": smtp_password_v4(key["SecretAccessKey"], CONSUMER_REGION),
            }
        ),
    )
    context = prepared_context(moto_session, key["AccessKeyId"])

    outputs = run_step(context, "rotate").outputs

    assert outputs["verified_arn"] == "arn:aws:iam::123456789012:user/service-accounts/mailer"


def test_deactivate_with_consumer_left_behind_needs_named_approval(
    moto_session: boto3.Session,
) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("secretsmanager", region_name=CONSUMER_REGION).create_secret(
        Name="legacy/smtp.txt", SecretString=f"{world.leaked_key_id}:password"
    )
    context = prepared_context(moto_session, world.leaked_key_id, approve=("deactivate-old-key",))
    run_step(context, "rotate")
    run_step(context, "update-consumers")

    with pytest.raises(
        InputRequiredError, match="add `deactivate-breaking-consumers` under `approve:`"
    ):
        run_step(context, "deactivate")

    assert key_statuses(moto_session)[world.leaked_key_id] == "Active"
    assert (
        "legacy/smtp.txt (eu-west-1) was not switched (it contains the key ID but is not JSON)"
        in context.console.text
    )


def test_two_keys_new_user_instead(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    spare = moto_session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"][
        "AccessKeyId"
    ]
    context = prepared_context(
        moto_session,
        world.leaked_key_id,
        answers={"rotate.delete-key": "new-user"},
        approve=("deactivate-old-key",),
    )

    outputs = run_step(context, "rotate").outputs

    new_user = outputs["user_name"]
    assert new_user == f"{SMTP_USER}-rotated-202612040300"
    assert outputs["verified_arn"] == f"arn:aws:iam::123456789012:user/{new_user}"
    assert key_statuses(moto_session) == {world.leaked_key_id: "Active", spare: "Active"}
    assert list(key_statuses(moto_session, new_user)) == [outputs["new_access_key_id"]]
    policy = moto_session.client("iam").get_user_policy(
        UserName=new_user, PolicyName="SesSendingAccess"
    )
    assert policy["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Resource": "*", "Action": ["ses:SendRawEmail"]}
    ]
    run_step(context, "update-consumers")
    run_step(context, "deactivate")
    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"
    assert current_secret(moto_session)["username"] == outputs["new_access_key_id"]


def test_proposal_prefers_never_used_key() -> None:
    keys = [
        key("AKIALEAKED", "Active", 1),
        key("AKIAUSED", "Inactive", 2),
        key("AKIAIDLE", "Inactive", 3),
    ]
    last_used = {"AKIAUSED": datetime(2026, 6, 1, tzinfo=UTC), "AKIAIDLE": None}

    assert propose_key_to_delete(keys, "AKIALEAKED", None, last_used) == keys[2]
