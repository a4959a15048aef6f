"""`remediate run`, installed, against a moto server on 127.0.0.1, checked through AWS state."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from remediate.aws.smtp import smtp_password_v4
from tests.e2e.conftest import MotoServer, command_environment, remediate_command

pytestmark = pytest.mark.e2e

USER = "ses-smtp-user.20261101-101500"
SMTP_SECRET = "prod/mailer/smtp"
KEYPAIR_SECRET = "prod/worker/aws"
REGION = "eu-west-1"


def seed(server: MotoServer) -> dict[str, str]:
    """Create the SMTP user, its leaked key and two consumers: SMTP credentials and the key pair."""
    iam = server.client("iam")
    iam.create_user(UserName=USER)
    iam.put_user_policy(
        UserName=USER,
        PolicyName="AmazonSesSendingAccess",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    secrets = server.client("secretsmanager", REGION)
    secrets.create_secret(
        Name=SMTP_SECRET,
        SecretString=json.dumps(
            {
                "host": f"email-smtp.{REGION}.amazonaws.com",
                "port": 587,
                "username": key["AccessKeyId"],
                "password": smtp_password_v4(key["SecretAccessKey"], REGION),
            }
        ),
    )
    secrets.create_secret(
        Name=KEYPAIR_SECRET,
        SecretString=json.dumps(
            {
                "aws_access_key_id": key["AccessKeyId"],
                "aws_secret_access_key": key["SecretAccessKey"],
                "queue": "q",
            }
        ),
    )
    return {"key_id": key["AccessKeyId"]}


def run_remediate(
    server: MotoServer, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*remediate_command(), *args],
        capture_output=True,
        text=True,
        env=command_environment(server.endpoint),
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def current(server: MotoServer, name: str) -> dict[str, Any]:
    value = server.client("secretsmanager", REGION).get_secret_value(
        SecretId=name, VersionStage="AWSCURRENT"
    )
    return dict(json.loads(value["SecretString"]))


def key_statuses(server: MotoServer) -> dict[str, str]:
    keys = server.client("iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]
    return {key["AccessKeyId"]: key["Status"] for key in keys}


def write_answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.yaml"
    # The default scenario's attacker verified a sender identity: the eradicate step asks to
    # delete it.
    path.write_text("version: 1\napprove:\n  - deactivate-old-key\n  - delete-ses-identity\n")
    return path


def test_run_rotates_against_plain_moto_server(
    plain_moto_server: MotoServer, tmp_path: Path
) -> None:
    seeded = seed(plain_moto_server)
    incident = tmp_path / "incident"

    completed = run_remediate(
        plain_moto_server,
        tmp_path,
        "run",
        "--access-key-id",
        seeded["key_id"],
        "--answers",
        str(write_answers(tmp_path)),
        "--regions",
        REGION,
        "--incident-dir",
        str(incident),
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    statuses = key_statuses(plain_moto_server)
    new_keys = [key for key in statuses if key != seeded["key_id"]]
    assert len(statuses) == 2
    assert statuses[seeded["key_id"]] == "Inactive"
    assert statuses[new_keys[0]] == "Active"
    assert current(plain_moto_server, SMTP_SECRET)["username"] == new_keys[0]
    keypair = current(plain_moto_server, KEYPAIR_SECRET)
    assert keypair["aws_access_key_id"] == new_keys[0]
    assert keypair["queue"] == "q"

    report = (incident / "report.md").read_text()
    assert "## Evidence gaps" in report
    gaps = report.split("## Evidence gaps", 1)[1].split("## Follow-ups", 1)[0]
    assert "LookupEvents" in gaps
    assert f"Incident directory: {incident}" in completed.stdout

    # No secret reaches the screen or the incident directory.
    secrets = [
        current(plain_moto_server, SMTP_SECRET)["password"],
        keypair["aws_secret_access_key"],
    ]
    written = [completed.stdout, completed.stderr] + [
        p.read_text() for p in incident.rglob("*") if p.is_file()
    ]
    for secret in secrets:
        assert not any(secret in text for text in written)

    assert stat.S_IMODE(incident.stat().st_mode) == 0o700
    modes = {stat.S_IMODE(p.stat().st_mode) for p in incident.rglob("*") if p.is_file()}
    assert modes == {0o600}
    assert {stat.S_IMODE(p.stat().st_mode) for p in incident.rglob("*") if p.is_dir()} == {0o700}


def test_run_without_approval_stops_before_deactivation(
    plain_moto_server: MotoServer, tmp_path: Path
) -> None:
    seeded = seed(plain_moto_server)
    incident = tmp_path / "incident"

    completed = run_remediate(
        plain_moto_server,
        tmp_path,
        "run",
        "--access-key-id",
        seeded["key_id"],
        "--yes",
        "--regions",
        REGION,
        "--incident-dir",
        str(incident),
    )

    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert "add `deactivate-old-key` under `approve:`" in completed.stderr
    assert f"Next: remediate resume {incident}" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert key_statuses(plain_moto_server)[seeded["key_id"]] == "Active"


def test_run_with_fills_finds_attacker_events(rehearsal_server: MotoServer, tmp_path: Path) -> None:
    facts = rehearsal_server.facts
    incident = tmp_path / "incident"

    completed = run_remediate(
        rehearsal_server,
        tmp_path,
        "run",
        "--access-key-id",
        facts["leaked_access_key_id"],
        "--answers",
        str(write_answers(tmp_path)),
        "--incident-dir",
        str(incident),
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = (incident / "report.md").read_text()
    assert "## Verdict: compromised" in report
    assert "VerifyEmailIdentity" in report
    statuses = {
        key["AccessKeyId"]: key["Status"]
        for key in rehearsal_server.client("iam").list_access_keys(
            UserName=facts["smtp_user_name"]
        )["AccessKeyMetadata"]
    }
    assert statuses[facts["leaked_access_key_id"]] == "Inactive"
    assert sorted(statuses.values()) == ["Active", "Inactive"]
    identities = rehearsal_server.client("sesv2", "ap-southeast-2").list_email_identities()
    assert identities["EmailIdentities"] == []
