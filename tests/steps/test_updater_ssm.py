"""SSM parameters as consumers: discovery, switch, read-back, rollback and a resumed switch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import InputRequiredError, UsageError
from remediate.core.records import RecordType
from remediate.core.secrets import SecretValue
from remediate.steps.consumers import IAM_KEY, SMTP, CredentialLayout
from remediate.steps.updaters.base import NewCredential
from remediate.steps.updaters.ssm import SsmUpdater
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

USER = "/prod/mailer/smtp_user"
PASSWORD = "/prod/mailer/smtp_password"
HOST = "/prod/mailer/smtp_host"
WORKER = "/prod/worker/ses"
UPDATER = SsmUpdater()


def ssm(session: boto3.Session) -> Any:
    return session.client("ssm", region_name=CONSUMER_REGION)


def kms_key(session: boto3.Session) -> str:
    return str(
        session.client("kms", region_name=CONSUMER_REGION).create_key()["KeyMetadata"]["KeyId"]
    )


def put_split(session: boto3.Session, world: SmtpWorld, *, host: bool = True) -> str:
    """Create the user-name and password parameters of a mailer; return the password's KMS key."""
    key_id = kms_key(session)
    client = ssm(session)
    client.put_parameter(Name=USER, Value=world.leaked_key_id, Type="String")
    client.put_parameter(
        Name=PASSWORD,
        Value=smtp_password_v4(world.leaked_secret, CONSUMER_REGION),
        Type="SecureString",
        KeyId=key_id,
    )
    if host:
        client.put_parameter(
            Name=HOST, Value=f"email-smtp.{CONSUMER_REGION}.amazonaws.com", Type="String"
        )
    return key_id


def put_json(session: boto3.Session, world: SmtpWorld) -> None:
    document = {
        "aws_access_key_id": world.leaked_key_id,
        "aws_secret_access_key": world.leaked_secret,
        "queue": "mail-out",
    }
    ssm(session).put_parameter(Name=WORKER, Value=json.dumps(document), Type="String")


def parameter(session: boto3.Session, name: str) -> dict[str, Any]:
    found = ssm(session).get_parameter(Name=name, WithDecryption=True)["Parameter"]
    return dict(found)


def describe(session: boto3.Session, name: str) -> dict[str, Any]:
    items = ssm(session).describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
    )["Parameters"]
    return dict(items[0])


def new_credential(session: boto3.Session) -> NewCredential:
    key = session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"]
    return NewCredential(key["AccessKeyId"], SMTP_USER, SecretValue(key["SecretAccessKey"]))


def found_consumer(context: Any, name: str) -> Any:
    found = UPDATER.discover(context, [CONSUMER_REGION])
    return next(consumer for consumer in found.consumers if consumer.name == name)


def journal_text(context: Any) -> str:
    return "\n".join(json.dumps(record.fields, default=str) for record in context.journal.records)


def interrupt_after_first_put(context: Any) -> None:
    """Stop the process once SSM has applied the first PutParameter, before its result is kept."""
    calls = [0]

    def stop(**_: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise KeyboardInterrupt

    client = context.aws.clients.client("ssm", CONSUMER_REGION)
    client.meta.events.register("after-call.ssm.PutParameter", stop)


def fail_get_parameters(context: Any, code: str, *, times: int = 99, name: str = "") -> list[int]:
    """Make GetParameters fail with `code`, when the batch names `name` (or any batch).

    The error is answered through botocore's event system, as Stubber does,
    because moto never throttles nor denies a read. Returns a call counter.
    """
    calls = [0]
    matched = [False]
    remaining = [times]

    def inspect(params: dict[str, Any], **_: Any) -> None:
        calls[0] += 1
        matched[0] = not name or name in params["Names"]

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not matched[0] or remaining[0] == 0:
            return None
        remaining[0] -= 1
        error = {"Code": code, "Message": "injected by the test"}
        return AWSResponse("https://ssm.amazonaws.com/", 400, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "injected"},
        }

    client = context.aws.clients.client("ssm", CONSUMER_REGION)
    client.meta.events.register("provide-client-params.ssm.GetParameters", inspect)
    client.meta.events.register("before-call.ssm.GetParameters", answer)
    return calls


def test_discovery_pairs_user_and_password(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)

    found = UPDATER.discover(context, [CONSUMER_REGION])

    assert [consumer.name for consumer in found.consumers] == [PASSWORD]
    consumer = found.consumers[0]
    assert consumer.layout == CredentialLayout(SMTP, USER, PASSWORD, CONSUMER_REGION, HOST)
    assert consumer.details == {"parameter": PASSWORD, "username_parameter": USER}
    assert consumer.resource == f"arn:aws:ssm:{CONSUMER_REGION}:123456789012:parameter{PASSWORD}"
    assert found.left_behind == []


def test_discovery_reads_json_parameter(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_json(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)

    consumer = found_consumer(context, WORKER)

    assert consumer.layout == CredentialLayout(
        IAM_KEY, "aws_access_key_id", "aws_secret_access_key", None, "not needed"
    )
    assert consumer.details == {"parameter": WORKER}


def test_discovery_leaves_unknown_shape(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    ssm(moto_session).put_parameter(
        Name="/legacy/creds", Value=f"{world.leaked_key_id},secret", Type="StringList"
    )
    ssm(moto_session).put_parameter(Name="/lonely/user", Value=world.leaked_key_id, Type="String")
    context = make_context(moto_session, world.leaked_key_id)

    found = UPDATER.discover(context, [CONSUMER_REGION])

    assert found.consumers == []
    reasons = {item["name"]: item["reason"] for item in found.left_behind}
    assert reasons["/legacy/creds"] == "it contains the key ID but is not JSON"
    assert reasons["/lonely/user"] == (
        "it contains the key ID, but no parameter under the same path is named like a password "
        "or a secret access key"
    )


def test_discovery_reads_in_batches_of_ten(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    for index in range(57):
        ssm(moto_session).put_parameter(
            Name=f"/noise/p{index:02}", Value=f"value {index}", Type="SecureString"
        )
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    batches: list[int] = []
    client = context.aws.clients.client("ssm", CONSUMER_REGION)
    client.meta.events.register(
        "provide-client-params.ssm.GetParameters",
        lambda params, **_: batches.append(len(params["Names"])),
    )

    found = UPDATER.discover(context, [CONSUMER_REGION])

    assert [consumer.name for consumer in found.consumers] == [PASSWORD]
    assert sum(batches) == 60
    assert max(batches) == 10


def test_discovery_waits_out_throttling(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    calls = fail_get_parameters(context, "ThrottlingException", times=2)

    found = UPDATER.discover(context, [CONSUMER_REGION])

    assert [consumer.name for consumer in found.consumers] == [PASSWORD]
    assert found.left_behind == []
    assert calls[0] == 3


def test_discovery_leaves_unreadable_parameter(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    ssm(moto_session).put_parameter(Name="/locked/token", Value="x", Type="SecureString")
    context = make_context(moto_session, world.leaked_key_id)
    fail_get_parameters(context, "AccessDeniedException", name="/locked/token")

    found = UPDATER.discover(context, [CONSUMER_REGION])

    assert [consumer.name for consumer in found.consumers] == [PASSWORD]
    assert found.left_behind == [
        {
            "name": "/locked/token",
            "region": CONSUMER_REGION,
            "reason": "it could not be read (AccessDeniedException)",
        }
    ]
    assert found.degraded is True


def test_discovery_registers_password_only(moto_session: boto3.Session) -> None:
    from remediate.core.secrets import registry

    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    ssm(moto_session).put_parameter(
        Name="/other/token", Value="an-unrelated-long-token-value", Type="SecureString"
    )
    context = make_context(moto_session, world.leaked_key_id)

    UPDATER.discover(context, [CONSUMER_REGION])

    registered = registry.values()
    assert smtp_password_v4(world.leaked_secret, CONSUMER_REGION) in registered
    assert "an-unrelated-long-token-value" not in registered


def test_split_needs_region_answer(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world, host=False)

    with pytest.raises(
        InputRequiredError, match=r"consumers\.smtp-region\./prod/mailer/smtp_password"
    ):
        prepared(moto_session, world.leaked_key_id)

    context = prepared(
        moto_session,
        world.leaked_key_id,
        answers={f"consumers.smtp-region.{PASSWORD}": "eu-central-1"},
    )
    records = context.output_of("find-consumers")["consumers"]
    layout = next(r["layout"] for r in records if r["name"] == PASSWORD)
    assert (layout["smtp_region"], layout["region_source"]) == ("eu-central-1", "operator")


def test_switch_keeps_type_and_kms_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key_id = put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)
    credential = new_credential(moto_session)

    switched = UPDATER.switch(context, consumer, credential, {})

    secret = credential.secret_access_key.reveal()
    assert parameter(moto_session, USER)["Value"] == credential.access_key_id
    assert parameter(moto_session, PASSWORD)["Value"] == smtp_password_v4(secret, CONSUMER_REGION)
    assert describe(moto_session, PASSWORD)["Type"] == "SecureString"
    assert describe(moto_session, PASSWORD)["KeyId"] == key_id
    assert describe(moto_session, USER)["Type"] == "String"
    assert switched["parameters"] == [
        {"name": USER, "type": "String", "key_id": None, "previous_version": 1, "version": 2},
        {
            "name": PASSWORD,
            "type": "SecureString",
            "key_id": key_id,
            "previous_version": 1,
            "version": 2,
        },
    ]


def test_switch_journals_no_value(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)
    credential = new_credential(moto_session)

    UPDATER.switch(context, consumer, credential, {})

    intents = context.journal.of_type(RecordType.AWS_INTENT)
    assert [intent.get("resource") for intent in intents] == [USER, PASSWORD]
    assert intents[1].get("params")["PreviousVersion"] == 1
    results = context.journal.of_type(RecordType.AWS_RESULT)
    assert all(result.get("request_id") for result in results)
    text = journal_text(context)
    secret = credential.secret_access_key.reveal()
    assert smtp_password_v4(secret, CONSUMER_REGION) not in text
    assert smtp_password_v4(world.leaked_secret, CONSUMER_REGION) not in text


def test_switch_json_keeps_other_fields(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_json(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, WORKER)
    credential = new_credential(moto_session)

    UPDATER.switch(context, consumer, credential, {})

    assert json.loads(parameter(moto_session, WORKER)["Value"]) == {
        "aws_access_key_id": credential.access_key_id,
        "aws_secret_access_key": credential.secret_access_key.reveal(),
        "queue": "mail-out",
    }
    assert describe(moto_session, WORKER)["Type"] == "String"


def test_switch_keeps_string_list_type(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    client = ssm(moto_session)
    client.put_parameter(Name="/app/smtp_user", Value=world.leaked_key_id, Type="StringList")
    client.put_parameter(Name="/app/smtp_pass", Value="old-password-value", Type="String")
    client.put_parameter(Name="/app/ses_region", Value=CONSUMER_REGION, Type="String")
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, "/app/smtp_pass")

    UPDATER.switch(context, consumer, new_credential(moto_session), {})

    assert describe(moto_session, "/app/smtp_user")["Type"] == "StringList"
    assert consumer.layout.region_source == "/app/ses_region"


def test_verify_reads_back(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, {})

    check = UPDATER.verify(context, consumer, switched, credential)

    assert check.passed is True
    assert check.detail == (
        f"{PASSWORD} (ssm, {CONSUMER_REGION}): {USER}, {PASSWORD} contain "
        f"{credential.access_key_id} (read back)"
    )


def test_verify_catches_wrong_value(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key_id = put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, {})
    # Another writer puts the old password back after the switch.
    ssm(moto_session).put_parameter(
        Name=PASSWORD,
        Value=smtp_password_v4(world.leaked_secret, CONSUMER_REGION),
        Type="SecureString",
        KeyId=key_id,
        Overwrite=True,
    )

    check = UPDATER.verify(context, consumer, switched, credential)

    assert check.passed is False
    assert check.detail.endswith(f": {PASSWORD} does not contain the new credential")


def test_verify_catches_changed_kms_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, {})
    other_key = kms_key(moto_session)
    ssm(moto_session).put_parameter(
        Name=PASSWORD,
        Value=parameter(moto_session, PASSWORD)["Value"],
        Type="SecureString",
        KeyId=other_key,
        Overwrite=True,
    )

    check = UPDATER.verify(context, consumer, switched, credential)

    assert check.passed is False
    assert f"{PASSWORD} is encrypted with {other_key}, not " in check.detail


def test_restore_writes_previous_version(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    key_id = put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)
    switched = UPDATER.switch(context, consumer, new_credential(moto_session), {})

    outcome = UPDATER.restore(context, consumer, switched)

    old_password = smtp_password_v4(world.leaked_secret, CONSUMER_REGION)
    assert parameter(moto_session, USER)["Value"] == world.leaked_key_id
    assert parameter(moto_session, PASSWORD)["Value"] == old_password
    assert parameter(moto_session, PASSWORD)["Version"] == 3
    assert describe(moto_session, PASSWORD)["KeyId"] == key_id
    assert outcome == (
        f"{PASSWORD} (ssm, {CONSUMER_REGION}) contains its previous values again: "
        f"{USER} (version 1), {PASSWORD} (version 1)"
    )
    assert old_password not in journal_text(context)


def test_restore_twice_writes_once(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)
    switched = UPDATER.switch(context, consumer, new_credential(moto_session), {})
    UPDATER.restore(context, consumer, switched)

    outcome = UPDATER.restore(context, consumer, switched)

    assert outcome == f"{PASSWORD} (ssm, {CONSUMER_REGION}) already contains its previous values"
    assert parameter(moto_session, PASSWORD)["Version"] == 3


def test_resumed_switch_writes_rest_only(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    first = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(first, PASSWORD)
    credential = new_credential(moto_session)
    interrupt_after_first_put(first)
    with pytest.raises(KeyboardInterrupt):
        UPDATER.switch(first, consumer, credential, {})
    assert parameter(moto_session, USER)["Value"] == credential.access_key_id
    resumed = make_context(moto_session, world.leaked_key_id)

    switched = UPDATER.switch(resumed, consumer, credential, {})

    intents = resumed.journal.of_type(RecordType.AWS_INTENT)
    assert [intent.get("resource") for intent in intents] == [PASSWORD]
    assert parameter(moto_session, USER)["Version"] == 2
    assert [record["previous_version"] for record in switched["parameters"]] == [1, 1]
    assert UPDATER.verify(resumed, consumer, switched, credential).passed is True


def test_declared_parameter_by_password_name(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world, host=False)
    context = make_context(moto_session, world.leaked_key_id)

    consumer = UPDATER.declare(
        context,
        {
            "kind": "ssm",
            "region": CONSUMER_REGION,
            "parameter": PASSWORD,
            "smtp_region": "us-west-2",
        },
    )

    assert consumer.layout == CredentialLayout(SMTP, USER, PASSWORD, "us-west-2", "consumers file")
    assert consumer.details == {"parameter": PASSWORD, "username_parameter": USER}


def test_declared_username_parameter_elsewhere(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    client = ssm(moto_session)
    client.put_parameter(Name="/shared/ses_key_id", Value=world.leaked_key_id, Type="String")
    client.put_parameter(Name="/app/ses_secret", Value="old-secret-value", Type="SecureString")
    context = make_context(moto_session, world.leaked_key_id)

    consumer = UPDATER.declare(
        context,
        {
            "kind": "ssm",
            "region": CONSUMER_REGION,
            "parameter": "/app/ses_secret",
            "username_parameter": "/shared/ses_key_id",
        },
    )

    assert consumer.layout == CredentialLayout(
        IAM_KEY, "/shared/ses_key_id", "/app/ses_secret", None, "not needed"
    )


def test_declared_missing_parameter(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(moto_session, world.leaked_key_id)

    with pytest.raises(UsageError) as caught:
        UPDATER.declare(context, {"kind": "ssm", "region": CONSUMER_REGION, "parameter": "/nope"})

    assert caught.value.message == (
        f"The SSM parameter /nope in {CONSUMER_REGION}, named in the consumers file, "
        "does not exist."
    )


def test_declared_parameter_without_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    ssm(moto_session).put_parameter(Name="/app/unrelated", Value="nothing", Type="String")
    context = make_context(moto_session, world.leaked_key_id)

    with pytest.raises(UsageError, match="Neither the SSM parameter /app/unrelated"):
        UPDATER.declare(
            context, {"kind": "ssm", "region": CONSUMER_REGION, "parameter": "/app/unrelated"}
        )


def test_plan_switch_names_undo(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    put_split(moto_session, world)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = found_consumer(context, PASSWORD)

    calls = UPDATER.plan_switch(consumer)

    assert [(call.operation, call.resource) for call in calls] == [
        ("PutParameter", USER),
        ("PutParameter", PASSWORD),
    ]
    assert all(call.undo and "get-parameter" in call.undo for call in calls)


def test_rotation_switches_ssm_beside_secret(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    key_id = put_split(moto_session, world)
    context = prepared(moto_session, world.leaked_key_id, incident_path=tmp_path)
    names = [record["name"] for record in context.output_of("find-consumers")["consumers"]]
    assert names == ["prod/mailer/smtp", PASSWORD]

    new_key = run_step(context, "rotate").outputs["new_access_key_id"]
    run_step(context, "update-consumers")

    secret = context.secret(new_key).reveal()
    password = smtp_password_v4(secret, CONSUMER_REGION)
    assert parameter(moto_session, USER)["Value"] == new_key
    assert parameter(moto_session, PASSWORD)["Value"] == password
    assert describe(moto_session, PASSWORD)["KeyId"] == key_id
    assert current_secret(moto_session)["username"] == new_key
    checks = {r.get("name"): r.get("passed") for r in context.journal.of_type(RecordType.CHECK)}
    assert checks[f"consumer:{PASSWORD}"] is True
    assert checks["consumer:prod/mailer/smtp"] is True
    journal = (tmp_path / "journal.jsonl").read_text(encoding="utf-8")
    assert password not in journal
    assert secret not in journal
    assert smtp_password_v4(world.leaked_secret, CONSUMER_REGION) not in journal
    assert ESCROW in journal
