"""A plain moto server on 127.0.0.1, seeded with an SMTP user, its leaked key and two consumers.

The consumers are of two kinds: a Secrets Manager secret holding SMTP
credentials as JSON, and SSM parameters under one path (user, password, host).
Tests that run `remediate` against it reset and seed the same server again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from remediate.aws.smtp import smtp_password_v4
from remediate.engine.journal import read_journal
from tests.e2e.conftest import LOOPBACK, command_environment, free_port, remediate_command
from tests.helpers import FAKE_AWS_ENVIRONMENT

INSTRUMENT = Path(__file__).resolve().parent / "instrument"
ANSWERS = "version: 1\napprove:\n  - deactivate-old-key\n"
REGION = "eu-west-1"
USER = "ses-smtp-user.20261101-101500"
SECRET = "prod/mailer/smtp"
PARAMETERS = "/prod/worker"


@dataclass
class Server:
    endpoint: str

    def client(self, service: str, region: str = "us-east-1") -> Any:
        # Module-scoped fixtures run before the autouse fixture that sets fake credentials.
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=FAKE_AWS_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
        )

    def reset(self) -> None:
        url = f"{self.endpoint}/moto-api/reset"
        request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback only
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback only
            pass

    def backend_secret(self, access_key_id: str) -> str:
        """Return the secret moto holds for a key: the truth a consumer's password must match."""
        url = f"{self.endpoint}/moto-api/data.json"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
            data = json.load(response)
        keys = {key["access_key_id"]: key for key in data["iam"]["AccessKey"]}
        return str(keys[access_key_id]["secret_access_key"])


@contextmanager
def moto_server(log_path: Path) -> Iterator[Server]:
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=command_environment(endpoint),
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"the moto server did not start; see {log_path}"
                        ) from None
                    time.sleep(0.1)
            yield Server(endpoint)
        finally:
            process.terminate()
            process.wait(timeout=10)


def seed(server: Server) -> str:
    """Reset the server and seed the user, its leaked key and both consumers; return the key ID."""
    server.reset()
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

    password = smtp_password_v4(key["SecretAccessKey"], REGION)
    server.client("secretsmanager", REGION).create_secret(
        Name=SECRET,
        SecretString=json.dumps(
            {
                "host": f"email-smtp.{REGION}.amazonaws.com",
                "port": 587,
                "username": key["AccessKeyId"],
                "password": password,
            }
        ),
    )

    ssm = server.client("ssm", REGION)
    ssm.put_parameter(
        Name=f"{PARAMETERS}/smtp_host", Value=f"email-smtp.{REGION}.amazonaws.com", Type="String"
    )
    ssm.put_parameter(Name=f"{PARAMETERS}/smtp_user", Value=key["AccessKeyId"], Type="String")
    ssm.put_parameter(Name=f"{PARAMETERS}/smtp_password", Value=password, Type="SecureString")
    return str(key["AccessKeyId"])


def remediate(
    server: Server, workdir: Path, *args: str, hook: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = command_environment(server.endpoint)
    if hook is not None:
        environment["PYTHONPATH"] = str(INSTRUMENT)
        environment.update(hook)
    return subprocess.run(
        [*remediate_command(), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=workdir,
        timeout=120,
        check=False,
    )


def start(
    server: Server, workdir: Path, key_id: str, incident: Path, hook: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    answers = workdir / "answers.yaml"
    answers.write_text(ANSWERS)
    return remediate(
        server,
        workdir,
        "run",
        "--access-key-id",
        key_id,
        "--answers",
        str(answers),
        "--regions",
        REGION,
        "--incident-dir",
        str(incident),
        hook=hook,
    )


@dataclass(frozen=True)
class FinalState:
    """What an incident leaves in AWS and in its report, with the random key IDs left out."""

    key_statuses: tuple[str, ...]
    secret_stages: tuple[tuple[str, ...], ...]
    parameter_versions: tuple[int, ...]
    report_phases: tuple[str, ...]


def final_state(server: Server, key_id: str, incident: Path) -> tuple[FinalState, list[str]]:
    """Read the state back, and list every way a consumer or the escrow is wrong."""
    problems: list[str] = []
    keys = server.client("iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]
    statuses = {key["AccessKeyId"]: key["Status"] for key in keys}
    active = [key for key, status in statuses.items() if status == "Active"]
    if statuses.get(key_id) != "Inactive":
        problems.append(f"the leaked key is {statuses.get(key_id, 'missing')}")
    if len(active) != 1:
        problems.append(f"{len(active)} active keys: {active}")
        return FinalState((), (), (), ()), problems
    new_key = active[0]
    expected = smtp_password_v4(server.backend_secret(new_key), REGION)

    escrow = json.loads(
        server.client("secretsmanager").get_secret_value(
            SecretId=f"remediate/{incident_id(incident)}", VersionStage="AWSCURRENT"
        )["SecretString"]
    )
    if escrow["AccessKeyId"] != new_key:
        problems.append(f"the escrow holds {escrow['AccessKeyId']}, not {new_key}")
    if escrow["SecretAccessKey"] != server.backend_secret(new_key):
        problems.append("the escrow's secret is not the new key's secret")

    secrets = server.client("secretsmanager", REGION)
    # moto 5.2 returns, for a GetSecretValue without VersionStage, the version that was
    # current first, not the one UpdateSecretVersionStage made current.
    current = json.loads(
        secrets.get_secret_value(SecretId=SECRET, VersionStage="AWSCURRENT")["SecretString"]
    )
    if current["username"] != new_key:
        problems.append(f"the secret's username is {current['username']}")
    if current["password"] != expected:
        problems.append("the secret's password is not the new key's SMTP password")
    versions = secrets.list_secret_version_ids(SecretId=SECRET)["Versions"]
    stages = tuple(sorted(tuple(sorted(version["VersionStages"])) for version in versions))

    ssm = server.client("ssm", REGION)
    user = ssm.get_parameter(Name=f"{PARAMETERS}/smtp_user")["Parameter"]
    password = ssm.get_parameter(Name=f"{PARAMETERS}/smtp_password", WithDecryption=True)[
        "Parameter"
    ]
    if user["Value"] != new_key:
        problems.append(f"the SSM user parameter is {user['Value']}")
    if password["Value"] != expected:
        problems.append("the SSM password parameter is not the new key's SMTP password")

    report = (incident / "report.md").read_text()
    phases = tuple(
        line.split(". ", 1)[0] for line in report.splitlines() if line.startswith("- **")
    )
    state = FinalState(
        key_statuses=tuple(sorted(statuses.values())),
        secret_stages=stages,
        parameter_versions=(int(user["Version"]), int(password["Version"])),
        report_phases=phases,
    )
    return state, problems


def incident_id(incident: Path) -> str:
    opened = next(read_journal(incident / "journal.jsonl"))
    return str(opened.get("incident_id"))


def unanswered_intents(incident: Path) -> list[str]:
    records = list(read_journal(incident / "journal.jsonl"))
    answered = {record.get("call_id") for record in records if record.type == "aws.result"}
    return [
        str(record.get("operation"))
        for record in records
        if record.type == "aws.intent" and record.get("call_id") not in answered
    ]
