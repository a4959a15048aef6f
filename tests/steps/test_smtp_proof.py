"""Rotate's SMTP proof: STARTTLS and AUTH LOGIN against a real local server, no mail sent."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import VerificationError
from tests.helpers import CONSUMER_REGION, current_secret, make_context, make_smtp_world, run_step
from tests.smtp_server import LocalSmtpServer


def password_of_moto_key(username: str, password: str) -> bool:
    """Accept exactly the SMTP password derived from the secret moto holds for that key ID."""
    from moto.iam.models import iam_backends

    keys = iam_backends["123456789012"]["global"].access_keys
    key = keys.get(username)
    return key is not None and password == smtp_password_v4(key.secret_access_key, CONSUMER_REGION)


def rotate_with_smtp_check(
    session: boto3.Session, key_id: str, server: LocalSmtpServer, tmp_path: Path
):  # type: ignore[no-untyped-def]
    context = make_context(
        session, key_id, regions=(CONSUMER_REGION,), answers={"rotate.smtp-check": True}
    )
    run_step(context, "identify")
    run_step(context, "find-consumers")
    params = {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_ca_file": str(tmp_path / "smtp-server.crt"),
        "verify_attempts": 2,
    }
    return context, params


def test_smtp_proof_accepted(
    moto_session: boto3.Session, smtp_server: LocalSmtpServer, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    smtp_server.accept_when(password_of_moto_key)
    context, params = rotate_with_smtp_check(
        moto_session, world.leaked_key_id, smtp_server, tmp_path
    )

    outputs = run_step(context, "rotate", params=params).outputs

    assert outputs["smtp_checks"] == [
        {
            "region": CONSUMER_REGION,
            "endpoint": f"{smtp_server.host}:{smtp_server.port}",
            "accepted": True,
            "reply_code": 235,
        }
    ]
    assert smtp_server.logins == [f"LOGIN {outputs['new_access_key_id']}"]
    assert smtp_server.mail_commands == []


def test_smtp_proof_refused_stops_rotation(
    moto_session: boto3.Session, smtp_server: LocalSmtpServer, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    smtp_server.accept_when(lambda username, password: False)
    context, params = rotate_with_smtp_check(
        moto_session, world.leaked_key_id, smtp_server, tmp_path
    )

    with pytest.raises(VerificationError) as caught:
        run_step(context, "rotate", params=params)

    assert "was refused at 127.0.0.1" in caught.value.message
    assert "after 2 attempts" in caught.value.message
    assert len(smtp_server.logins) == 2
    assert current_secret(moto_session)["username"] == world.leaked_key_id


def test_smtp_check_never_reaches_aws_when_simulated(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = make_context(
        moto_session,
        world.leaked_key_id,
        regions=(CONSUMER_REGION,),
        answers={"rotate.smtp-check": True},
    )
    run_step(context, "identify")
    run_step(context, "find-consumers")

    outputs = run_step(context, "rotate").outputs

    assert outputs["smtp_checks"] == []
    assert (
        "info: The SMTP check is skipped: AWS is simulated here and has no SMTP endpoint."
        in context.console.lines
    )
