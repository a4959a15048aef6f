"""Test doubles for the operator's side (scripted answers, a recording console) and a moto world."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from remediate.aws.smtp import smtp_password_v4
from remediate.core.interaction import AnswerValue, Question, Table

# Fake credentials and no instance metadata: a test can never reach a real AWS account.
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
SMTP_USER = "ses-smtp-user.20261101-101500"
SMTP_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}],
}
CONSUMER_SECRET = "prod/mailer/smtp"
CONSUMER_REGION = "eu-west-1"


# A scripted answer that selects every enabled choice of a checkbox question.
SELECT_EVERY_CHOICE = object()
# A scripted answer that takes the question's default, as pressing Enter does.
USE_DEFAULT = object()


class ScriptedPrompter:
    """Answers questions from a mapping by question id; an unknown question fails the test."""

    def __init__(self, answers: Mapping[str, object]) -> None:
        self.answers = dict(answers)
        self.asked: list[str] = []

    def ask(self, question: Question) -> AnswerValue:
        self.asked.append(question.id)
        if question.id not in self.answers:
            raise AssertionError(f"unexpected question {question.id}: {question.message}")
        answer = self.answers[question.id]
        if answer is SELECT_EVERY_CHOICE:
            return question.enabled_values()
        if answer is USE_DEFAULT:
            assert question.default is not None, f"{question.id} has no default"
            return question.default
        assert isinstance(answer, (bool, str, list))
        return answer


@dataclass
class RecordingConsole:
    """Keeps every line shown to the operator, prefixed by its level."""

    lines: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.lines.append(f"heading: {text}")

    def info(self, text: str) -> None:
        self.lines.append(f"info: {text}")

    def success(self, text: str) -> None:
        self.lines.append(f"success: {text}")

    def warning(self, text: str) -> None:
        self.lines.append(f"warning: {text}")

    def error(self, text: str) -> None:
        self.lines.append(f"error: {text}")

    def table(self, table: Table) -> None:
        self.lines.append(f"table: {table.title}")
        for row in table.rows:
            self.lines.append("row: " + " | ".join(row))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class FixedClock:
    """A clock that returns a set time and moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 12, 4, 3, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass(frozen=True)
class SmtpWorld:
    """What `make_smtp_world` created; the leaked secret is kept only to build expectations."""

    user_name: str
    leaked_key_id: str
    leaked_secret: str
    secret_arn: str


def make_smtp_world(
    session: boto3.Session, *, extra_fields: Mapping[str, Any] | None = None
) -> SmtpWorld:
    """Create, in moto, an SMTP user as the SES console does, its key, and one consumer secret."""
    iam = session.client("iam")
    iam.create_user(UserName=SMTP_USER)
    iam.put_user_policy(
        UserName=SMTP_USER,
        PolicyName="AmazonSesSendingAccess",
        PolicyDocument=json.dumps(SMTP_POLICY),
    )
    key = iam.create_access_key(UserName=SMTP_USER)["AccessKey"]
    document = {
        "host": f"email-smtp.{CONSUMER_REGION}.amazonaws.com",
        "port": 587,
        "username": key["AccessKeyId"],
        "password": smtp_password_v4(key["SecretAccessKey"], CONSUMER_REGION),
        "from": "no-reply@example.com",
        **(extra_fields or {}),
    }
    secrets = session.client("secretsmanager", region_name=CONSUMER_REGION)
    arn = secrets.create_secret(Name=CONSUMER_SECRET, SecretString=json.dumps(document))["ARN"]
    return SmtpWorld(SMTP_USER, key["AccessKeyId"], key["SecretAccessKey"], arn)


def current_secret(session: boto3.Session, secret_id: str = CONSUMER_SECRET) -> dict[str, Any]:
    client = session.client("secretsmanager", region_name=CONSUMER_REGION)
    value = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
    document: dict[str, Any] = json.loads(value)
    return document


def key_statuses(session: boto3.Session, user_name: str = SMTP_USER) -> dict[str, str]:
    keys = session.client("iam").list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    return {key["AccessKeyId"]: key["Status"] for key in keys}


def make_context(
    session: boto3.Session,
    access_key_id: str,
    *,
    incident_path: Any = None,
    answers: Mapping[str, Any] | None = None,
    approve: tuple[str, ...] = (),
    assume_yes: bool = True,
    prompter: Any = None,
    regions: tuple[str, ...] = (),
    dry_run: bool = False,
    clock: FixedClock | None = None,
    console: RecordingConsole | None = None,
    credential_session: Any = None,
    declared_consumers: tuple[Mapping[str, Any], ...] = (),
    simulated: bool = True,
) -> Any:
    """Build the engine's RunContext over a moto session, as `remediate run --yes` would."""
    from pathlib import Path

    from remediate.aws.gateways import AwsGateways
    from remediate.engine.answers import AnswerPolicy, AnswersFile
    from remediate.engine.context import RunContext
    from remediate.engine.incident import IncidentDir
    from remediate.engine.journal import Journal

    clock = clock or FixedClock()
    incident = IncidentDir(Path(incident_path)) if incident_path is not None else None
    journal = Journal.open(incident.path, clock) if incident else Journal.in_memory(clock)
    answers_file = AnswersFile(path=None, answers=dict(answers or {}), approve=frozenset(approve))
    return RunContext(
        incident=incident,
        incident_id="test-incident",
        journal=journal,
        gateways=AwsGateways(session, credential_session=credential_session),
        console=console or RecordingConsole(),
        policy=AnswerPolicy(answers=answers_file, assume_yes=assume_yes, prompter=prompter),
        access_key_id=access_key_id,
        regions=regions,
        dry_run=dry_run,
        clock=clock,
        sleep=clock.advance,
        declared_consumers=declared_consumers,
        simulated=simulated,
    )


def run_step(
    context: Any, kind: str, step_id: str | None = None, params: Mapping[str, Any] | None = None
) -> Any:
    """Run one step through the engine's runner, as a playbook would."""
    from remediate.engine.runner import run_step as engine_run_step
    from remediate.steps.base import StepSpec

    spec = StepSpec(id=step_id or kind, kind=kind, title=kind, params=dict(params or {}))
    return engine_run_step(spec, context)
