"""The escrow keeps the new key from the moment it exists, and every later step can recover it."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import InputRequiredError, VerificationError
from remediate.core.records import RecordType
from tests.helpers import (
    CONSUMER_REGION,
    SMTP_USER,
    current_secret,
    key_statuses,
    make_context,
    make_smtp_world,
    run_step,
)
from tests.steps.test_rotation import session_rejecting_new_keys

ESCROW = "remediate/test-incident"


def prepared(session: boto3.Session, key_id: str, **options: object):  # type: ignore[no-untyped-def]
    context = make_context(session, key_id, regions=(CONSUMER_REGION,), **options)  # type: ignore[arg-type]
    run_step(context, "identify")
    run_step(context, "find-consumers")
    return context


def escrow_document(session: boto3.Session) -> dict[str, object]:
    value = session.client("secretsmanager").get_secret_value(SecretId=ESCROW)["SecretString"]
    return dict(json.loads(value))


def test_rotate_writes_escrow(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared(moto_session, world.leaked_key_id)

    outputs = run_step(context, "rotate").outputs

    new_key = outputs["new_access_key_id"]
    secret = context.secret(new_key).reveal()
    assert escrow_document(moto_session) == {
        "AccessKeyId": new_key,
        "UserName": SMTP_USER,
        "SecretAccessKey": secret,
        "SmtpUserName": new_key,
        "SmtpPasswords": {CONSUMER_REGION: smtp_password_v4(secret, CONSUMER_REGION)},
        "Incident": "test-incident",
    }
    assert outputs["escrow"]["name"] == ESCROW
    create = context.journal.last(RecordType.AWS_INTENT, operation="CreateAccessKey")
    escrow = context.journal.last(RecordType.AWS_INTENT, operation="CreateSecret")
    stage = context.journal.last(RecordType.AWS_INTENT, operation="PutSecretValue")
    assert create.seq < escrow.seq < stage.seq


def test_resumed_rotate_reuses_escrowed_key(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    first = prepared(
        moto_session,
        world.leaked_key_id,
        incident_path=tmp_path,
        credential_session=session_rejecting_new_keys(99),
    )
    with pytest.raises(VerificationError):
        run_step(first, "rotate", params={"verify_attempts": 1})
    created = first.journal.last(RecordType.AWS_RESULT, call_id="rotate#1").get("details")[
        "access_key_id"
    ]
    # A new process: the journal and the escrow survive, the memory does not.
    resumed = make_context(
        moto_session, world.leaked_key_id, incident_path=tmp_path, regions=(CONSUMER_REGION,)
    )

    outputs = run_step(resumed, "rotate").outputs

    assert outputs["new_access_key_id"] == created
    assert set(key_statuses(moto_session)) == {world.leaked_key_id, created}
    assert resumed.journal.last(RecordType.AWS_INTENT, operation="DeleteAccessKey") is None
    assert (
        "info: Continuing with " + created + ", recovered from the escrow." in resumed.console.lines
    )


def test_update_consumers_in_new_process(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    first = prepared(moto_session, world.leaked_key_id, incident_path=tmp_path)
    new_key = run_step(first, "rotate").outputs["new_access_key_id"]
    resumed = make_context(
        moto_session, world.leaked_key_id, incident_path=tmp_path, regions=(CONSUMER_REGION,)
    )

    run_step(resumed, "update-consumers")

    checks = {
        record.get("name"): record.get("passed")
        for record in resumed.journal.of_type(RecordType.CHECK)
    }
    assert checks["consumer:prod/mailer/smtp"] is True
    assert current_secret(moto_session)["username"] == new_key


def test_lost_escrow_stops_update(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    first = prepared(moto_session, world.leaked_key_id, incident_path=tmp_path)
    run_step(first, "rotate")
    moto_session.client("secretsmanager").delete_secret(
        SecretId=ESCROW, ForceDeleteWithoutRecovery=True
    )
    resumed = make_context(
        moto_session, world.leaked_key_id, incident_path=tmp_path, regions=(CONSUMER_REGION,)
    )

    with pytest.raises(VerificationError, match="is in no destination"):
        run_step(resumed, "update-consumers")

    assert current_secret(moto_session)["username"] == world.leaked_key_id


MANUAL = {
    "kind": "manual",
    "name": "newsletter-vendor",
    "instructions": "paste the SMTP credentials in the vendor's settings page",
    "smtp_region": "eu-west-1",
}


def test_manual_consumer_is_confirmed(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared(
        moto_session,
        world.leaked_key_id,
        declared_consumers=(MANUAL,),
        answers={"consumers.manual.newsletter-vendor": True},
    )
    run_step(context, "rotate")

    outputs = run_step(context, "update-consumers").outputs

    summaries = {record["consumer"]["name"]: record["summary"] for record in outputs["consumers"]}
    assert summaries["newsletter-vendor"] == "switched by hand, confirmed by the operator"


def test_manual_consumer_needs_an_answer(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared(moto_session, world.leaked_key_id, declared_consumers=(MANUAL,))
    run_step(context, "rotate")

    with pytest.raises(InputRequiredError) as caught:
        run_step(context, "update-consumers")

    assert (
        "newsletter-vendor: paste the SMTP credentials in the vendor's settings page."
        in caught.value.message
    )
    assert f"SmtpPasswords.eu-west-1 in us-east-1:{ESCROW}" in caught.value.message


def test_unconfirmed_manual_consumer_blocks_deactivation(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = prepared(
        moto_session,
        world.leaked_key_id,
        declared_consumers=(MANUAL,),
        answers={"consumers.manual.newsletter-vendor": False},
        approve=("deactivate-old-key",),
    )
    run_step(context, "rotate")

    with pytest.raises(
        VerificationError, match="newsletter-vendor \\(manual\\): the operator did not confirm it"
    ):
        run_step(context, "update-consumers")
    with pytest.raises(Exception, match="not every consumer has been switched"):
        run_step(context, "deactivate")

    assert key_statuses(moto_session)[world.leaked_key_id] == "Active"
