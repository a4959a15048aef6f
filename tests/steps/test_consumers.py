"""Where a credential sits in a JSON secret, and how discovery finds the secrets that hold it."""

from __future__ import annotations

import json

import boto3
import pytest

from remediate.core.errors import InputRequiredError
from remediate.steps.consumers import (
    IAM_KEY,
    SMTP,
    CredentialLayout,
    LayoutError,
    detect_layout,
    rewrite_secret,
)
from tests.helpers import CONSUMER_REGION, CONSUMER_SECRET, make_context, make_smtp_world, run_step

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
            },
        }
    ]
    assert result.outputs["unsupported"] == []


def test_find_consumers_reports_unsupported_secret(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    moto_session.client("secretsmanager", region_name=CONSUMER_REGION).create_secret(
        Name="legacy/smtp.txt", SecretString=f"{world.leaked_key_id}:password"
    )
    context = make_context(moto_session, world.leaked_key_id, regions=(CONSUMER_REGION,))

    result = run_step(context, "find-consumers")

    assert result.outputs["unsupported"] == [
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
