"""Lambda environment variables as consumers: discovery, switch, waiting, read-back and rollback."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import UsageError, VerificationError
from remediate.core.records import RecordType
from remediate.core.secrets import SecretValue
from remediate.steps.consumers import IAM_KEY, SMTP, CredentialLayout
from remediate.steps.updaters.base import NewCredential
from remediate.steps.updaters.lambda_env import UPDATE_POLLS, LambdaUpdater
from tests.helpers import (
    CONSUMER_REGION,
    SMTP_USER,
    SmtpWorld,
    current_secret,
    make_context,
    make_smtp_world,
    run_step,
)
from tests.steps.test_escrow import ESCROW, prepared

FUNCTION = "mailer"
UPDATER = LambdaUpdater()
STAGED = {
    "escrow": f"us-east-1:{ESCROW}",
    "escrow_location": {"region": "us-east-1", "name": ESCROW},
}


def lambda_client(session: boto3.Session) -> Any:
    return session.client("lambda", region_name=CONSUMER_REGION)


def kms_key_arn(session: boto3.Session) -> str:
    return str(
        session.client("kms", region_name=CONSUMER_REGION).create_key()["KeyMetadata"]["Arn"]
    )


def create_function(
    session: boto3.Session, name: str, variables: dict[str, str], *, kms_key: str | None = None
) -> None:
    iam = session.client("iam")
    try:
        role = iam.get_role(RoleName="mailer-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="mailer-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    arguments: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "handler.handle",
        "Code": {"ZipFile": code.getvalue()},
        "Environment": {"Variables": variables},
    }
    if kms_key:
        arguments["KMSKeyArn"] = kms_key
    lambda_client(session).create_function(**arguments)


def mailer_variables(world: SmtpWorld) -> dict[str, str]:
    return {
        "SMTP_HOST": f"email-smtp.{CONSUMER_REGION}.amazonaws.com",
        "SMTP_USER": world.leaked_key_id,
        "SMTP_PASSWORD": smtp_password_v4(world.leaked_secret, CONSUMER_REGION),
        "FROM": "no-reply@example.com",
        "LOG_LEVEL": "info",
    }


def create_mailer(session: boto3.Session, world: SmtpWorld) -> str:
    key = kms_key_arn(session)
    create_function(session, FUNCTION, mailer_variables(world), kms_key=key)
    return key


def configuration(session: boto3.Session, name: str = FUNCTION) -> dict[str, Any]:
    return dict(lambda_client(session).get_function_configuration(FunctionName=name))


def variables_of(session: boto3.Session, name: str = FUNCTION) -> dict[str, str]:
    return dict(configuration(session, name)["Environment"]["Variables"])


def new_credential(session: boto3.Session) -> NewCredential:
    key = session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"]
    return NewCredential(key["AccessKeyId"], SMTP_USER, SecretValue(key["SecretAccessKey"]))


def found_consumer(context: Any, name: str = FUNCTION) -> Any:
    found = UPDATER.discover(context, [CONSUMER_REGION])
    return next(consumer for consumer in found.consumers if consumer.name == name)


def kept_previous(session: boto3.Session) -> dict[str, Any]:
    value = session.client("secretsmanager").get_secret_value(SecretId=f"{ESCROW}/previous")
    return dict(json.loads(value["SecretString"]))


def report_status(context: Any, statuses: list[str]) -> list[int]:
    """Make GetFunctionConfiguration report the given statuses first; return a call counter."""
    calls = [0]

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        calls[0] += 1
        if statuses:
            parsed["LastUpdateStatus"] = statuses.pop(0)
            parsed["LastUpdateStatusReason"] = "The KMS key is disabled."

    client = context.aws.clients.client("lambda", CONSUMER_REGION)
    client.meta.events.register("after-call.lambda.GetFunctionConfiguration", rewrite)
    return calls


def journal_text(context: Any) -> str:
    return "\n".join(json.dumps(record.fields, default=str) for record in context.journal.records)


def test_discovery_finds_function(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    create_function(moto_session, "unrelated", {"LOG_LEVEL": "debug"})
    create_function(
        moto_session, "legacy", {"MAIL_URL": f"smtp://{world.leaked_key_id}:x@host:587"}
    )
    context = make_context(moto_session, world.leaked_key_id)

    found = UPDATER.discover(context, [CONSUMER_REGION])

    assert [consumer.name for consumer in found.consumers] == [FUNCTION]
    consumer = found.consumers[0]
    assert consumer.layout == CredentialLayout(
        SMTP, "SMTP_USER", "SMTP_PASSWORD", CONSUMER_REGION, "SMTP_HOST"
    )
    assert consumer.resource == f"arn:aws:lambda:{CONSUMER_REGION}:123456789012:function:mailer"
    assert found.left_behind == [
        {
            "name": "legacy",
            "region": CONSUMER_REGION,
            "reason": "it contains the key ID, but not as the whole value of a top-level field",
        }
    ]


def test_discovery_leaves_undecryptable_function(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)

    def deny_decrypt(parsed: dict[str, Any], **_: Any) -> None:
        # As Lambda answers a caller that may not use the function's KMS key.
        parsed["Functions"][0]["Environment"] = {
            "Error": {"ErrorCode": "AccessDeniedException", "Message": "Lambda was denied"}
        }

    client = context.aws.clients.client("lambda", CONSUMER_REGION)
    client.meta.events.register("after-call.lambda.ListFunctions", deny_decrypt)

    found = UPDATER.discover(context, [CONSUMER_REGION])

    assert found.consumers == []
    assert found.left_behind == [
        {
            "name": FUNCTION,
            "region": CONSUMER_REGION,
            "reason": "its environment could not be decrypted "
            "(AccessDeniedException: Lambda was denied)",
        }
    ]
    assert found.degraded is True


def test_declare_function(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_function(
        moto_session,
        "worker",
        {"AWS_SES_KEY_ID": world.leaked_key_id, "AWS_SES_SECRET": world.leaked_secret},
    )
    context = make_context(moto_session, world.leaked_key_id)

    consumer = UPDATER.declare(
        context, {"kind": "lambda", "region": CONSUMER_REGION, "function": "worker"}
    )

    assert consumer.layout == CredentialLayout(
        IAM_KEY, "AWS_SES_KEY_ID", "AWS_SES_SECRET", None, "not needed"
    )


def test_declare_missing_function(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(moto_session, world.leaked_key_id)

    with pytest.raises(UsageError) as caught:
        UPDATER.declare(context, {"kind": "lambda", "region": CONSUMER_REGION, "function": "nope"})

    assert caught.value.message == (
        f"The Lambda function nope in {CONSUMER_REGION}, named in the consumers file, "
        "does not exist."
    )


def test_switch_keeps_variables_and_kms(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key = create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    credential = new_credential(moto_session)

    sent: list[dict[str, Any]] = []
    client = context.aws.clients.client("lambda", CONSUMER_REGION)
    client.meta.events.register(
        "provide-client-params.lambda.UpdateFunctionConfiguration",
        lambda params, **_: sent.append(dict(params)),
    )

    switched = UPDATER.switch(context, consumer, credential, STAGED)

    password = smtp_password_v4(credential.secret_access_key.reveal(), CONSUMER_REGION)
    assert [params.get("KMSKeyArn") for params in sent] == [key]
    assert variables_of(moto_session) == {
        **mailer_variables(world),
        "SMTP_USER": credential.access_key_id,
        "SMTP_PASSWORD": password,
    }
    assert configuration(moto_session)["KMSKeyArn"] == key
    assert switched["kms_key_arn"] == key
    assert switched["escrow_location"] == STAGED["escrow_location"]


def test_switch_keeps_previous_in_escrow(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)

    UPDATER.switch(context, consumer, new_credential(moto_session), STAGED)

    old_password = smtp_password_v4(world.leaked_secret, CONSUMER_REGION)
    assert kept_previous(moto_session) == {
        f"{CONSUMER_REGION}:{FUNCTION}": {
            "SMTP_USER": world.leaked_key_id,
            "SMTP_PASSWORD": old_password,
        }
    }
    operations = [i.get("operation") for i in context.journal.of_type(RecordType.AWS_INTENT)]
    assert operations == ["CreateSecret", "UpdateFunctionConfiguration"]
    update = context.journal.last(RecordType.AWS_INTENT, operation="UpdateFunctionConfiguration")
    assert update.get("params")["ChangedVariables"] == ["SMTP_USER", "SMTP_PASSWORD"]
    assert update.get("params")["KeptVariables"] == 3
    assert old_password not in journal_text(context)


def test_switch_without_escrow(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)

    with pytest.raises(UsageError, match="recorded no escrow"):
        UPDATER.switch(context, consumer, new_credential(moto_session), {"escrow_location": None})

    assert variables_of(moto_session)["SMTP_USER"] == world.leaked_key_id


def test_switch_waits_for_update(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    # In progress before the switch (another update), then twice after it.
    calls = report_status(context, ["InProgress", "Successful", "InProgress", "InProgress"])

    switched = UPDATER.switch(context, consumer, new_credential(moto_session), STAGED)

    assert calls[0] == 5
    assert switched["summary"].startswith("SMTP_USER and SMTP_PASSWORD replaced, 3 other")


def test_switch_gives_up_waiting(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    calls = report_status(context, ["Successful"] + ["InProgress"] * 100)

    with pytest.raises(VerificationError) as caught:
        UPDATER.switch(context, consumer, new_credential(moto_session), STAGED)

    assert calls[0] == 1 + UPDATE_POLLS
    assert caught.value.message == (
        f"An update of {FUNCTION} (lambda, {CONSUMER_REGION}) was still in progress after "
        "300 seconds."
    )


def test_switch_reports_failed_update(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    report_status(context, ["Successful", "Failed"])

    with pytest.raises(VerificationError, match=r"failed: The KMS key is disabled\."):
        UPDATER.switch(context, consumer, new_credential(moto_session), STAGED)


def test_verify_reads_back(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, STAGED)

    check = UPDATER.verify(context, consumer, switched, credential)

    assert check.passed is True
    assert check.detail == (
        f"{FUNCTION} (lambda, {CONSUMER_REGION}): contains {credential.access_key_id} (read back)"
    )


def test_verify_catches_wrong_value(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, STAGED)
    # A deployment puts the old environment back after the switch.
    lambda_client(moto_session).update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": mailer_variables(world)}
    )

    check = UPDATER.verify(context, consumer, switched, credential)

    assert check.passed is False
    assert check.detail == (
        f"{FUNCTION} (lambda, {CONSUMER_REGION}): SMTP_USER does not contain "
        f"{credential.access_key_id}; SMTP_PASSWORD does not contain the new credential"
    )


def test_verify_catches_other_kms_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key = create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, STAGED)
    # moto 5.2 ignores KMSKeyArn in UpdateFunctionConfiguration, so the function
    # keeps its key and the record names another one.
    recorded = {**switched, "kms_key_arn": None}

    check = UPDATER.verify(context, consumer, recorded, credential)

    assert check.passed is False
    assert check.detail.endswith(f": its KMS key is {key}, not the AWS managed key")


def test_restore_puts_previous_back(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key = create_mailer(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context)
    switched = UPDATER.switch(context, consumer, new_credential(moto_session), STAGED)
    lambda_client(moto_session).update_function_configuration(
        FunctionName=FUNCTION,
        Environment={"Variables": {**variables_of(moto_session), "LOG_LEVEL": "debug"}},
    )

    first = UPDATER.restore(context, consumer, switched)
    second = UPDATER.restore(context, consumer, switched)

    assert variables_of(moto_session) == {**mailer_variables(world), "LOG_LEVEL": "debug"}
    assert configuration(moto_session)["KMSKeyArn"] == key
    assert first == f"{FUNCTION} (lambda, {CONSUMER_REGION}) contains its previous credential again"
    assert second == (
        f"{FUNCTION} (lambda, {CONSUMER_REGION}) already contains its previous credential"
    )
    old_password = smtp_password_v4(world.leaked_secret, CONSUMER_REGION)
    assert old_password not in journal_text(context)


def test_resumed_switch_updates_once(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    create_mailer(moto_session, world)
    first = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(first)
    credential = new_credential(moto_session)

    def stop(**_: Any) -> None:
        raise KeyboardInterrupt

    client = first.aws.clients.client("lambda", CONSUMER_REGION)
    client.meta.events.register("after-call.lambda.UpdateFunctionConfiguration", stop)
    with pytest.raises(KeyboardInterrupt):
        UPDATER.switch(first, consumer, credential, STAGED)
    resumed = make_context(moto_session, world.leaked_key_id)

    switched = UPDATER.switch(resumed, consumer, credential, STAGED)

    assert resumed.journal.of_type(RecordType.AWS_INTENT) == []
    assert UPDATER.verify(resumed, consumer, switched, credential).passed is True
    assert kept_previous(moto_session)[f"{CONSUMER_REGION}:{FUNCTION}"]["SMTP_USER"] == (
        world.leaked_key_id
    )


def test_rotation_switches_lambda_beside_secret(
    moto_session: boto3.Session, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    key = create_mailer(moto_session, world)
    context = prepared(moto_session, world.leaked_key_id, incident_path=tmp_path)
    names = [record["name"] for record in context.output_of("find-consumers")["consumers"]]
    assert names == ["prod/mailer/smtp", FUNCTION]

    new_key = run_step(context, "rotate").outputs["new_access_key_id"]
    run_step(context, "update-consumers")

    secret = context.secret(new_key).reveal()
    password = smtp_password_v4(secret, CONSUMER_REGION)
    assert variables_of(moto_session)["SMTP_USER"] == new_key
    assert variables_of(moto_session)["SMTP_PASSWORD"] == password
    assert variables_of(moto_session)["LOG_LEVEL"] == "info"
    assert configuration(moto_session)["KMSKeyArn"] == key
    assert current_secret(moto_session)["username"] == new_key
    checks = {r.get("name"): r.get("passed") for r in context.journal.of_type(RecordType.CHECK)}
    assert checks[f"consumer:{FUNCTION}"] is True
    assert checks["consumer:prod/mailer/smtp"] is True
    journal = (tmp_path / "journal.jsonl").read_text(encoding="utf-8")
    assert password not in journal
    assert secret not in journal
    assert smtp_password_v4(world.leaked_secret, CONSUMER_REGION) not in journal
