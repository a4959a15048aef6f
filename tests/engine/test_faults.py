"""AWS faults at each call: transient ones are retried by botocore, permanent ones stop the step.

GIVEN a moto server on 127.0.0.1 seeded with an SMTP user, its leaked key and
two consumers, WHEN a `before-send` handler answers a call with an AWS error
(or raises a connection timeout) instead of sending it, THEN botocore's own
retry handling sees the fault as it would see AWS's: throttling, 503 and
timeouts are retried with backoff, and AccessDenied, ExpiredToken,
NoSuchEntity and LimitExceeded stop the step with the call, the resource, the
missing permission and the command that resumes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import UnauthorizedSSOTokenError

from remediate.aws.base import DEFAULT_MAX_ATTEMPTS, ClientFactory, default_retries, translate
from remediate.core.errors import AwsCallError
from remediate.engine.answers import AnswerPolicy, load_answers
from remediate.engine.journal import read_journal
from remediate.engine.runner import IncidentRequest, RunOutcome, resume_incident, start_incident
from remediate.report import write_reports
from tests.e2e.instrument.botocore_faults import CONNECT_TIMEOUT, fault_handler
from tests.e2e.moto_world import (
    ANSWERS,
    REGION,
    SECRET,
    USER,
    Server,
    final_state,
    moto_server,
    remediate,
    seed,
    start,
    unanswered_intents,
)
from tests.helpers import RecordingConsole


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with moto_server(tmp_path_factory.mktemp("moto") / "server.log") as running:
        yield running


@pytest.fixture
def endpoint(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """Point boto3 at the server, as `AWS_ENDPOINT_URL` does for `remediate run`."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    return server


def faulty_session(faults: dict[str, tuple[str, int]], attempts: list[str]) -> boto3.Session:
    """Return the operator's session, whose calls of each operation fail as `faults` sets.

    `faults` maps an operation to an error code and how many attempts fail.
    Every attempt of those operations is appended to `attempts` by name.
    """
    session = boto3.Session(region_name="us-east-1")
    for operation, (code, times) in faults.items():
        session.events.register(
            f"before-send.*.{operation}", fault_handler(code, times=times, attempts=attempts)
        )
    return session


def write_answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text(ANSWERS)
    return path


def run(tmp_path: Path, key_id: str, session: boto3.Session) -> RunOutcome:
    answers = write_answers(tmp_path)
    return start_incident(
        IncidentRequest(
            access_key_id=key_id,
            session=session,
            console=RecordingConsole(),
            policy=AnswerPolicy(answers=load_answers(answers)),
            regions=(REGION,),
            incident_dir=tmp_path / "incident",
            answers_path=answers,
            report_writer=write_markdown,
            sleep=lambda seconds: None,
        )
    )


def resume(tmp_path: Path, session: boto3.Session) -> RunOutcome:
    return resume_incident(
        tmp_path / "incident",
        session_factory=lambda profile, region: session,
        console=RecordingConsole(),
        prompter=None,
        report_writer=write_markdown,
        sleep=lambda seconds: None,
    )


def write_markdown(incident: Path) -> list[Path]:
    return write_reports(incident, ("md",))


def sent(attempts: list[str], operation: str) -> int:
    return attempts.count(operation)


def test_default_retry_mode_standard() -> None:
    client = ClientFactory(boto3.Session(region_name="us-east-1")).client("iam")

    assert default_retries(boto3.Session()) == {"mode": "standard", "total_max_attempts": 5}
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}


def test_environment_retry_settings_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")

    client = ClientFactory(boto3.Session(region_name="us-east-1")).client("iam")

    assert default_retries(boto3.Session()) == {}
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}


def test_profile_retry_settings_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile responder]\nregion = us-east-1\nretry_mode = legacy\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    session = boto3.Session(profile_name="responder")

    assert default_retries(session) == {"total_max_attempts": 5}


def test_transient_faults_are_retried(endpoint: Server, tmp_path: Path) -> None:
    key_id = seed(endpoint)
    attempts: list[str] = []
    session = faulty_session(
        {
            "GetAccessKeyInfo": ("ThrottlingException", 1),
            "CreateAccessKey": ("ThrottlingException", 1),
            "CreateSecret": ("RequestLimitExceeded", 1),
            "PutSecretValue": ("ServiceUnavailable", 1),
            "UpdateSecretVersionStage": (CONNECT_TIMEOUT, 1),
            "PutParameter": ("ServiceUnavailable", 1),
            "UpdateAccessKey": (CONNECT_TIMEOUT, 1),
        },
        attempts,
    )

    outcome = run(tmp_path, key_id, session)

    assert [step.status for step in outcome.steps if step.step_id == "deactivate"] == ["ok"]
    assert sent(attempts, "GetAccessKeyInfo") == 2
    assert sent(attempts, "CreateAccessKey") == 2
    assert sent(attempts, "CreateSecret") == 2
    assert sent(attempts, "PutSecretValue") == 2
    assert sent(attempts, "UpdateSecretVersionStage") == 3  # two calls, the first retried once
    assert sent(attempts, "PutParameter") == 3  # two calls, the first retried once
    assert sent(attempts, "UpdateAccessKey") == 2
    assert final_state(endpoint, key_id, tmp_path / "incident")[1] == []
    results = [r for r in read_journal(tmp_path / "incident" / "journal.jsonl")]
    assert [r.get("ok") for r in results if r.type == "aws.result"] == [True] * 8


@pytest.mark.parametrize(
    ("fault", "code", "message", "noted"),
    [
        (
            "ServiceUnavailable",
            "ServiceUnavailable",
            f"iam CreateAccessKey on {USER} failed: ServiceUnavailable: Injected "
            "ServiceUnavailable for a test",
            {"status": 503, "request_id": "injected-5", "error_code": "ServiceUnavailable"},
        ),
        (
            CONNECT_TIMEOUT,
            "ConnectionError",
            f"iam CreateAccessKey on {USER} failed: could not reach the endpoint (Connect timeout "
            'on endpoint URL: "{endpoint}/"). Check the network, the proxy and AWS_ENDPOINT_URL.',
            {"status": None, "request_id": None, "error_code": "ConnectTimeoutError"},
        ),
    ],
)
def test_transient_fault_exhausts_attempts(
    endpoint: Server,
    tmp_path: Path,
    fault: str,
    code: str,
    message: str,
    noted: dict[str, object],
) -> None:
    key_id = seed(endpoint)
    attempts: list[str] = []
    session = faulty_session({"CreateAccessKey": (fault, 100)}, attempts)

    with pytest.raises(AwsCallError) as raised:
        run(tmp_path, key_id, session)

    assert sent(attempts, "CreateAccessKey") == DEFAULT_MAX_ATTEMPTS
    assert raised.value.code == code
    assert raised.value.message == message.format(endpoint=endpoint.endpoint)
    assert raised.value.next_step == f"remediate resume {tmp_path / 'incident'}"
    journal = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    [calls] = [r.get("calls") for r in journal if r.type == "aws.calls" and r.step == "rotate"]
    assert calls[-1] == {
        "service": "iam",
        "operation": "CreateAccessKey",
        "region": "us-east-1",
        **noted,
    }


def test_expired_sso_session_says_log_in() -> None:
    error = translate(
        UnauthorizedSSOTokenError(), service="iam", operation="CreateAccessKey", resource=USER
    )

    assert error.code == "ExpiredToken"
    assert error.message == (
        f"iam CreateAccessKey on {USER} failed: The SSO session associated with this profile "
        "has expired or is otherwise invalid. To refresh this SSO session run aws sso login with "
        "the corresponding profile. Your AWS session has expired: log in again (for example "
        "`aws sso login`, with the same --profile), then resume."
    )


def test_attempts_from_environment(
    endpoint: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    key_id = seed(endpoint)
    attempts: list[str] = []
    session = faulty_session({"CreateAccessKey": ("ThrottlingException", 100)}, attempts)

    with pytest.raises(AwsCallError, match="ThrottlingException"):
        run(tmp_path, key_id, session)

    assert sent(attempts, "CreateAccessKey") == 2


# The mutating calls of a run, in order, with the resource each message names.
CHANGES = [
    ("iam", "CreateAccessKey", USER),
    ("secretsmanager", "CreateSecret", "remediate/{incident}"),
    ("secretsmanager", "PutSecretValue", "{secret_arn}"),
    ("secretsmanager", "UpdateSecretVersionStage", "{secret_arn}"),
    ("ssm", "PutParameter", "/prod/worker/smtp_user"),
    ("iam", "UpdateAccessKey", "{key}"),
]


def test_access_denied_at_each_change(endpoint: Server, tmp_path: Path) -> None:
    """Deny each change in turn: the first run at the first, each resume at the next."""
    key_id = seed(endpoint)
    incident = tmp_path / "incident"
    errors: list[AwsCallError] = []

    for number, (_, operation, _) in enumerate(CHANGES):
        session = faulty_session({operation: ("AccessDenied", 100)}, [])
        continue_run = run if number == 0 else lambda path, _, session: resume(path, session)
        with pytest.raises(AwsCallError) as raised:
            continue_run(tmp_path, key_id, session)
        errors.append(raised.value)
    outcome = resume(tmp_path, boto3.Session(region_name="us-east-1"))

    names = {
        "incident": json.loads((incident / "journal.jsonl").read_text().splitlines()[0])[
            "incident_id"
        ],
        "key": key_id,
        "secret_arn": endpoint.client("secretsmanager", REGION).describe_secret(SecretId=SECRET)[
            "ARN"
        ],
    }
    for error, (service, operation, resource) in zip(errors, CHANGES, strict=True):
        named = resource.format(**names)
        assert (error.service, error.operation, error.resource) == (service, operation, named)
        assert error.message == (
            f"{service} {operation} on {named} failed: AccessDenied: Injected AccessDenied for "
            f"a test. The operator's credentials lack {service}:{operation}."
        )
        assert error.next_step == f"remediate resume {incident}"
    assert [step.status for step in outcome.steps if step.step_id == "report"] == ["ok"]
    assert final_state(endpoint, key_id, incident)[1] == []
    assert unanswered_intents(incident) == []


@pytest.mark.parametrize(
    ("operation", "code", "resource", "advice"),
    [
        (
            "CreateAccessKey",
            "ExpiredToken",
            USER,
            " Your AWS session has expired: log in again (for example `aws sso login`, with "
            "the same --profile), then resume.",
        ),
        ("CreateAccessKey", "LimitExceeded", USER, ""),
        ("UpdateAccessKey", "NoSuchEntity", "{key}", ""),
    ],
)
def test_permanent_fault_stops_step(
    endpoint: Server, tmp_path: Path, operation: str, code: str, resource: str, advice: str
) -> None:
    key_id = seed(endpoint)
    attempts: list[str] = []
    session = faulty_session({operation: (code, 100)}, attempts)

    with pytest.raises(AwsCallError) as raised:
        run(tmp_path, key_id, session)

    named = resource.format(key=key_id)
    assert sent(attempts, operation) == 1
    assert raised.value.message == (
        f"iam {operation} on {named} failed: {code}: Injected {code} for a test.{advice}"
        if advice
        else f"iam {operation} on {named} failed: {code}: Injected {code} for a test"
    )
    assert raised.value.next_step == f"remediate resume {tmp_path / 'incident'}"
    journal = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    failed = [r for r in journal if r.type == "aws.result" and not r.get("ok")]
    assert [(r.get("error_code"), r.get("request_id")) for r in failed] == [(code, "injected-1")]


def test_cli_fault_without_traceback(endpoint: Server, tmp_path: Path) -> None:
    """The installed command, faulted in its own process through the test hook."""
    key_id = seed(endpoint)
    incident = tmp_path / "incident"

    completed = start(
        endpoint,
        tmp_path,
        key_id,
        incident,
        {"REMEDIATE_TEST_FAULT": "CreateAccessKey=ExpiredToken"},
    )

    assert completed.returncode == 4, completed.stdout + completed.stderr
    assert completed.stderr.splitlines()[-2:] == [
        f"Error: iam CreateAccessKey on {USER} failed: ExpiredToken: Injected ExpiredToken for a "
        "test. Your AWS session has expired: log in again (for example `aws sso login`, with the "
        "same --profile), then resume.",
        f"Next: remediate resume {incident}",
    ]
    assert "Traceback" not in completed.stdout + completed.stderr

    resumed = remediate(endpoint, tmp_path, "resume", str(incident))

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final_state(endpoint, key_id, incident)[1] == []
