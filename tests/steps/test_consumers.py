"""Where a credential sits in a JSON secret, and how discovery finds the secrets that hold it."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import InputRequiredError
from remediate.core.secrets import registry
from remediate.steps.consumers import (
    IAM_KEY,
    SMTP,
    CredentialLayout,
    LayoutError,
    detect_layout,
    rewrite_secret,
)
from tests.helpers import (
    CONSUMER_REGION,
    CONSUMER_SECRET,
    current_secret,
    make_context,
    make_smtp_world,
    run_step,
)

KEY = "AKIAIOSFODNN7EXAMPLE"


def test_layout_smtp_region_from_host() -> None:
    secret = json.dumps({"host": "email-smtp.eu-central-1.amazonaws.com", "user": KEY, "pass": "x"})

    layout = detect_layout(secret, KEY, "us-east-1")

    assert layout == CredentialLayout(SMTP, "user", "pass", "eu-central-1", "host")


def test_layout_smtp_region_from_region_field() -> None:
    secret = json.dumps(
        {"SMTP_USERNAME": KEY, "SMTP_PASSWORD": "x", "SES_REGION": "ap-southeast-2"}
    )

    layout = detect_layout(secret, KEY, "us-east-1")

    assert layout == CredentialLayout(
        SMTP, "SMTP_USERNAME", "SMTP_PASSWORD", "ap-southeast-2", "SES_REGION"
    )


def test_layout_smtp_region_defaults_to_secret_region() -> None:
    layout = detect_layout(json.dumps({"username": KEY, "password": "x"}), KEY, "eu-west-2")

    assert layout is not None
    assert (layout.smtp_region, layout.region_source) == ("eu-west-2", "secret region")


def test_layout_iam_key_pair() -> None:
    secret = json.dumps({"aws_access_key_id": KEY, "aws_secret_access_key": "x"})

    layout = detect_layout(secret, KEY, "us-east-1")

    assert layout == CredentialLayout(
        IAM_KEY, "aws_access_key_id", "aws_secret_access_key", None, "not needed"
    )


def test_layout_none_when_key_absent() -> None:
    assert detect_layout(json.dumps({"username": "AKIAOTHER"}), KEY, "us-east-1") is None


def test_layout_rejects_plain_text() -> None:
    with pytest.raises(LayoutError, match="is not JSON"):
        detect_layout(f"{KEY}:password", KEY, "us-east-1")


def test_layout_rejects_missing_password_field() -> None:
    with pytest.raises(LayoutError, match="no field named like a password"):
        detect_layout(json.dumps({"username": KEY, "note": "x"}), KEY, "us-east-1")


def test_rewrite_keeps_other_fields() -> None:
    layout = CredentialLayout(SMTP, "username", "password", "eu-west-1", "host")
    original = json.dumps(
        {"host": "h", "port": 587, "username": KEY, "password": "old", "from": "a@b"}
    )

    rewritten = json.loads(rewrite_secret(original, layout, "AKIANEW", "new"))

    assert rewritten == {
        "host": "h",
        "port": 587,
        "username": "AKIANEW",
        "password": "new",
        "from": "a@b",
    }


def test_find_consumers_discovers_secret(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(moto_session, world.leaked_key_id, regions=(CONSUMER_REGION,))

    result = run_step(context, "find-consumers")

    assert result.outputs["consumers"] == [
        {
            "kind": "secretsmanager",
            "resource": world.secret_arn,
            "name": CONSUMER_SECRET,
            "region": CONSUMER_REGION,
            "layout": {
                "credential": SMTP,
                "username_field": "username",
                "secret_field": "password",
                "smtp_region": CONSUMER_REGION,
                "region_source": "host",
                "smtp_version": 4,
            },
            "details": {},
        }
    ]
    assert result.outputs["left_behind"] == []


def test_find_consumers_reports_unsupported_secret(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("secretsmanager", region_name=CONSUMER_REGION).create_secret(
        Name="legacy/smtp.txt", SecretString=f"{world.leaked_key_id}:password"
    )
    context = make_context(moto_session, world.leaked_key_id, regions=(CONSUMER_REGION,))

    result = run_step(context, "find-consumers")

    assert result.outputs["left_behind"] == [
        {
            "name": "legacy/smtp.txt",
            "region": CONSUMER_REGION,
            "reason": "it contains the key ID but is not JSON",
        }
    ]
    assert str(result.status) == "degraded"


def test_find_consumers_without_any_stops(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(moto_session, world.leaked_key_id, regions=("us-west-2",))

    with pytest.raises(InputRequiredError, match=r"No consumer of .* was found in us-west-2"):
        run_step(context, "find-consumers")


def test_find_consumers_named_secret(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(
        moto_session,
        world.leaked_key_id,
        regions=("us-west-2",),
        answers={"consumers.secrets": f"{CONSUMER_REGION}:{CONSUMER_SECRET}"},
    )

    result = run_step(context, "find-consumers")

    assert [consumer["name"] for consumer in result.outputs["consumers"]] == [CONSUMER_SECRET]


def test_bare_key_secret_is_not_registered(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("secretsmanager", region_name=CONSUMER_REGION).create_secret(
        Name="prod/mailer/username", SecretString=world.leaked_key_id
    )
    context = make_context(moto_session, world.leaked_key_id, regions=(CONSUMER_REGION,))

    run_step(context, "find-consumers")

    assert world.leaked_key_id not in registry.values()
    assert registry.scrub(world.leaked_key_id) == world.leaked_key_id


def test_consumer_password_is_registered(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(moto_session, world.leaked_key_id, regions=(CONSUMER_REGION,))

    run_step(context, "find-consumers")

    assert smtp_password_v4(world.leaked_secret, CONSUMER_REGION) in registry.values()


def test_layout_vpc_endpoint_host() -> None:
    host = "vpce-0abc123.email-smtp.eu-north-1.vpce.amazonaws.com"
    secret = json.dumps({"smtp_host": host, "user": KEY, "password": "x"})

    layout = detect_layout(secret, KEY, "us-east-1")

    assert layout is not None
    assert (layout.smtp_region, layout.region_source) == ("eu-north-1", "smtp_host")


def add_secret(
    session: boto3.Session, name: str, document: dict[str, object], region: str = CONSUMER_REGION
) -> str:
    client = session.client("secretsmanager", region_name=region)
    return str(client.create_secret(Name=name, SecretString=json.dumps(document))["ARN"])


def test_unselected_consumer_is_left_behind(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    add_secret(
        moto_session,
        "billing/smtp",
        {
            "host": "email-smtp.eu-west-1.amazonaws.com",
            "username": world.leaked_key_id,
            "password": "x",
        },
    )
    context = make_context(
        moto_session,
        world.leaked_key_id,
        regions=(CONSUMER_REGION,),
        answers={"consumers.select": [f"{CONSUMER_REGION}:{CONSUMER_SECRET}"]},
    )

    result = run_step(context, "find-consumers")

    assert [c["name"] for c in result.outputs["consumers"]] == [CONSUMER_SECRET]
    assert result.outputs["left_behind"] == [
        {
            "name": "billing/smtp",
            "region": CONSUMER_REGION,
            "reason": "not selected by the operator",
        }
    ]


def test_secret_without_region_asks(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("secretsmanager", region_name=CONSUMER_REGION).delete_secret(
        SecretId=CONSUMER_SECRET, ForceDeleteWithoutRecovery=True
    )
    add_secret(
        moto_session,
        "plain/smtp",
        {"username": world.leaked_key_id, "password": "x"},
        region="us-east-1",
    )
    context = make_context(
        moto_session,
        world.leaked_key_id,
        regions=("us-east-1",),
        answers={"consumers.smtp-region.plain/smtp": "eu-west-1"},
    )

    result = run_step(context, "find-consumers")

    layout = result.outputs["consumers"][0]["layout"]
    assert (layout["smtp_region"], layout["region_source"]) == ("eu-west-1", "operator")


def test_secret_without_region_stops_without_answer(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    add_secret(
        moto_session,
        "plain/smtp",
        {"username": world.leaked_key_id, "password": "x"},
        region="us-east-1",
    )
    context = make_context(moto_session, world.leaked_key_id, regions=("us-east-1",))

    with pytest.raises(
        InputRequiredError, match=re.escape("answer it with `consumers.smtp-region.plain/smtp:`")
    ):
        run_step(context, "find-consumers")


def test_region_without_smtp_is_left_behind(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    add_secret(
        moto_session,
        "cape/smtp",
        {
            "host": "email-smtp.af-south-1.amazonaws.com",
            "username": world.leaked_key_id,
            "password": "x",
        },
    )
    context = make_context(moto_session, world.leaked_key_id, regions=(CONSUMER_REGION,))

    result = run_step(context, "find-consumers")

    assert [c["name"] for c in result.outputs["consumers"]] == [CONSUMER_SECRET]
    assert result.outputs["left_behind"] == [
        {
            "name": "cape/smtp",
            "region": CONSUMER_REGION,
            "reason": "its SMTP region af-south-1 has no SES SMTP endpoint",
        }
    ]


def test_consumers_file_asks_version_2(moto_session: boto3.Session) -> None:
    from remediate.aws.smtp import smtp_password_v2

    world = make_smtp_world(moto_session)
    declared = (
        {
            "kind": "secretsmanager",
            "secret": f"{CONSUMER_REGION}:{CONSUMER_SECRET}",
            "smtp_version": 2,
        },
    )
    context = make_context(
        moto_session, world.leaked_key_id, regions=(CONSUMER_REGION,), declared_consumers=declared
    )
    run_step(context, "identify")
    run_step(context, "find-consumers")

    new_key = run_step(context, "rotate").outputs["new_access_key_id"]
    run_step(context, "update-consumers")

    secret = context.secret(new_key).reveal()
    assert current_secret(moto_session)["password"] == smtp_password_v2(secret)
    assert any("AWS deprecated version 2" in line for line in context.console.lines)
