"""The permission preflight: IAM SimulatePrincipalPolicy before the first change.

GIVEN an operator signed in as an IAM user, WHEN a run reaches its first
mutating step, THEN IAM is asked about every action the remaining steps plan
to call. A denied change asks `preflight.proceed`, whose default stops the run
before anything changes; a denied or unavailable simulation is a gap and the
run goes on. moto 5.2 does not implement SimulatePrincipalPolicy, so IAM's
answers come from a `before-call` handler, which short-circuits the call the
way botocore's Stubber does for one operation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from remediate.aws.base import ClientFactory
from remediate.aws.iam_simulation import IamSimulationGateway
from remediate.core.errors import InputRequiredError
from remediate.engine.answers import AnswerPolicy, AnswersFile
from remediate.engine.journal import read_journal
from remediate.engine.playbook import check_answers, load_playbook
from remediate.engine.preflight import (
    PREFLIGHT_QUESTION,
    NeededAction,
    PermissionsMissingError,
    grant_policy,
    iam_action,
    simulation_principal,
)
from remediate.engine.runner import IncidentRequest, RunOutcome, resume_incident, start_incident
from remediate.steps.base import PlannedCall
from tests.helpers import (
    CONSUMER_REGION,
    SMTP_USER,
    RecordingConsole,
    ScriptedPrompter,
    key_statuses,
    make_smtp_world,
)

ACCOUNT = "123456789012"
RESPONDER = f"arn:aws:iam::{ACCOUNT}:user/responder"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/{SMTP_USER}"

PLAYBOOK = """\
playbook: rotate-only
version: 1
title: Rotate and deactivate
steps:
  - {id: identify, kind: identify, title: Identify}
  - {id: find-consumers, kind: find-consumers, title: Find consumers}
  - {id: rotate, kind: rotate, title: Rotate}
  - {id: update-consumers, kind: update-consumers, title: Update consumers}
  - {id: deactivate, kind: deactivate, title: Deactivate}
"""


def responder_session(moto_session: boto3.Session) -> boto3.Session:
    """Sign in as the IAM user `responder`, as a real operator would be."""
    iam = moto_session.client("iam")
    iam.create_user(UserName="responder")
    key = iam.create_access_key(UserName="responder")["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )


def answer_simulation(
    session: boto3.Session, *, denied: frozenset[str] = frozenset(), error: str | None = None
) -> list[dict[str, Any]]:
    """Register canned SimulatePrincipalPolicy responses on the session; return its requests."""
    requests: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        requests.append(dict(params))

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        metadata = {"RequestId": f"simulate-{len(requests)}", "HTTPStatusCode": 200}
        if error is not None:
            metadata["HTTPStatusCode"] = 403
            http = AWSResponse("https://iam.amazonaws.com/", 403, {}, None)
            return http, {"Error": {"Code": error, "Message": "no"}, "ResponseMetadata": metadata}
        request = requests[-1]
        resource = (request.get("ResourceArns") or ["*"])[0]
        results = [
            {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": "implicitDeny" if action in denied else "allowed",
            }
            for action in request["ActionNames"]
        ]
        http = AWSResponse("https://iam.amazonaws.com/", 200, {}, None)
        return http, {
            "EvaluationResults": results,
            "IsTruncated": False,
            "ResponseMetadata": metadata,
        }

    session.events.register("before-parameter-build.iam.SimulatePrincipalPolicy", capture)
    session.events.register("before-call.iam.SimulatePrincipalPolicy", answer)
    return requests


def start(
    session: boto3.Session,
    key_id: str,
    tmp_path: Path,
    *,
    answers: dict[str, Any] | None = None,
    prompter: Any = None,
    console: RecordingConsole | None = None,
    dry_run: bool = False,
) -> RunOutcome:
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK)
    answers_file = AnswersFile(
        None, answers=answers or {}, approve=frozenset({"deactivate-old-key"})
    )
    return start_incident(
        IncidentRequest(
            access_key_id=key_id,
            session=session,
            console=console or RecordingConsole(),
            policy=AnswerPolicy(
                answers=None if prompter else answers_file,
                prompter=prompter,
                assume_yes=dry_run,
            ),
            playbook=str(playbook),
            regions=(CONSUMER_REGION,),
            incident_dir=None if dry_run else tmp_path / "incident",
            dry_run=dry_run,
            sleep=lambda seconds: None,
        )
    )


def preflights(tmp_path: Path) -> list[dict[str, Any]]:
    records = read_journal(tmp_path / "incident" / "journal.jsonl")
    return [record.fields for record in records if record.type == "preflight"]


def gaps(tmp_path: Path) -> list[str]:
    records = read_journal(tmp_path / "incident" / "journal.jsonl")
    return [str(record.get("reason")) for record in records if record.type == "gap"]


# What the rotate, update-consumers and deactivate steps plan, as IAM evaluates it.
CHECKED = [
    ("iam:CreateAccessKey", USER_ARN),
    (
        "secretsmanager:CreateSecret",
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:remediate/{{incident}}-AbCdEf",
    ),
    ("secretsmanager:PutSecretValue", "{secret_arn}"),
    ("secretsmanager:UpdateSecretVersionStage", "{secret_arn}"),
    ("iam:UpdateAccessKey", USER_ARN),
]


def test_all_allowed_run_goes_on(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)
    requests = answer_simulation(session)
    console = RecordingConsole()

    start(session, world.leaked_key_id, tmp_path, console=console)

    [record] = preflights(tmp_path)
    incident_id = next(read_journal(tmp_path / "incident" / "journal.jsonl")).get("incident_id")
    expected = [
        (action, resource.format(incident=incident_id, secret_arn=world.secret_arn))
        for action, resource in CHECKED
    ]
    assert record["principal"] == RESPONDER
    assert [(item["action"], item["resource"]) for item in record["checked"]] == expected
    assert record["denied"] == []
    assert record["skipped"] is None
    assert [request["PolicySourceArn"] for request in requests] == [RESPONDER] * 3
    assert f"success: All {len(CHECKED)} action(s) are allowed." in console.lines
    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_denied_change_stops_run(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)
    answer_simulation(session, denied=frozenset({"iam:UpdateAccessKey", "iam:CreateAccessKey"}))
    console = RecordingConsole()

    with pytest.raises(PermissionsMissingError) as stopped:
        start(session, world.leaked_key_id, tmp_path, console=console)

    assert stopped.value.message == (
        f"Stopped before any change in this run: {RESPONDER} may not call iam:CreateAccessKey, "
        "iam:UpdateAccessKey, which the remaining steps need."
    )
    assert stopped.value.next_step == (
        f"attach the policy printed above to {RESPONDER}, then run `remediate resume "
        f"{tmp_path / 'incident'}`; or, to go on anyway, answer `preflight.proceed: true` in the "
        "answers file (or yes at the prompt)"
    )
    assert "warning: 2 of 5 action(s) are denied:" in console.lines
    assert (
        f"info:   iam:CreateAccessKey on {USER_ARN}: not allowed by any policy; needed by "
        "rotate: create the replacement key"
    ) in console.lines
    heading = console.lines.index(f"info: A policy that grants them, to attach to {RESPONDER}:")
    policy = json.loads(console.lines[heading + 1].removeprefix("info: "))
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RemediateIncidentResponse1",
                "Effect": "Allow",
                "Action": ["iam:CreateAccessKey", "iam:UpdateAccessKey"],
                "Resource": USER_ARN,
            }
        ],
    }
    assert key_statuses(moto_session) == {world.leaked_key_id: "Active"}
    journal = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    assert [r.type for r in journal if r.type in ("aws.intent", "aws.result")] == []
    assert [r.type for r in journal][-3:] == ["answer", "step.failed", "aws.calls"]
    assert (journal[-3].get("question"), journal[-3].get("value")) == (PREFLIGHT_QUESTION, False)


def test_answer_goes_on_despite_denial(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)
    answer_simulation(session, denied=frozenset({"iam:UpdateAccessKey"}))

    start(session, world.leaked_key_id, tmp_path, answers={PREFLIGHT_QUESTION: True})

    answers = [
        (r.get("value"), r.get("source"))
        for r in read_journal(tmp_path / "incident" / "journal.jsonl")
        if r.get("question") == PREFLIGHT_QUESTION
    ]
    assert answers == [(True, "answers-file")]
    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_prompt_declined_stops(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)
    answer_simulation(session, denied=frozenset({"secretsmanager:CreateSecret"}))
    prompter = ScriptedPrompter(
        {
            "consumers.secrets": "",
            "consumers.select": [f"{CONSUMER_REGION}:prod/mailer/smtp"],
            PREFLIGHT_QUESTION: False,
        }
    )

    with pytest.raises(PermissionsMissingError):
        start(session, world.leaked_key_id, tmp_path, prompter=prompter)

    assert prompter.asked[-1] == PREFLIGHT_QUESTION
    assert len(key_statuses(moto_session)) == 1


def test_denied_simulation_is_gap(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)
    answer_simulation(session, error="AccessDenied")
    console = RecordingConsole()

    start(session, world.leaked_key_id, tmp_path, console=console)

    reason = "the operator may not call iam:SimulatePrincipalPolicy"
    assert f"The permission preflight was skipped: {reason}." in gaps(tmp_path)
    assert preflights(tmp_path)[0]["skipped"] == reason
    assert (
        f"warning: Permission preflight skipped: {reason}. A missing permission stops the step "
        "that needs it."
    ) in console.lines
    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_unimplemented_simulation_is_gap(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)  # moto itself raises NotImplementedError

    start(session, world.leaked_key_id, tmp_path)

    assert (
        "The permission preflight was skipped: iam SimulatePrincipalPolicy failed (NotImplemented)."
    ) in gaps(tmp_path)


def test_resume_checks_again(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)
    answer_simulation(session)
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK)
    with pytest.raises(InputRequiredError):
        start_incident(
            IncidentRequest(
                access_key_id=world.leaked_key_id,
                session=session,
                console=RecordingConsole(),
                policy=AnswerPolicy(assume_yes=True),
                playbook=str(playbook),
                regions=(CONSUMER_REGION,),
                incident_dir=tmp_path / "incident",
                sleep=lambda seconds: None,
            )
        )

    resume_incident(
        tmp_path / "incident",
        session_factory=lambda profile, region: session,
        console=RecordingConsole(),
        prompter=ScriptedPrompter({"deactivate.confirm": True}),
        sleep=lambda seconds: None,
    )

    records = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    kinds = [r.type for r in records if r.type in ("preflight", "incident.resumed")]
    assert kinds == ["preflight", "incident.resumed", "preflight"]
    assert [item["action"] for item in preflights(tmp_path)[1]["checked"]] == [
        "iam:UpdateAccessKey"
    ]


def test_dry_run_shows_denial(
    moto_session: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_smtp_world(moto_session)
    session = responder_session(moto_session)
    answer_simulation(session, denied=frozenset({"iam:CreateAccessKey"}))
    console = RecordingConsole()
    monkeypatch.chdir(tmp_path)

    start(session, world.leaked_key_id, tmp_path, console=console, dry_run=True)

    assert "warning: 1 of 5 action(s) are denied:" in console.lines
    assert key_statuses(moto_session) == {world.leaked_key_id: "Active"}
    assert [path.name for path in tmp_path.iterdir()] == ["playbook.yaml"]


def test_role_session_is_simulated_as_role(moto_session: boto3.Session) -> None:
    moto_session.client("iam").create_role(
        RoleName="Responder", Path="/incident/", AssumeRolePolicyDocument="{}"
    )
    gateway = IamSimulationGateway(ClientFactory(moto_session))

    found = simulation_principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/Responder/alice", gateway)
    unknown = simulation_principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/Gone/bob", gateway)

    assert found == (f"arn:aws:iam::{ACCOUNT}:role/incident/Responder", "")
    assert unknown == (f"arn:aws:iam::{ACCOUNT}:role/Gone", "")


@pytest.mark.parametrize(
    ("arn", "reason"),
    [
        (
            f"arn:aws:iam::{ACCOUNT}:root",
            "the root user acts here, and IAM policies do not limit it",
        ),
        (
            f"arn:aws:sts::{ACCOUNT}:federated-user/carol",
            f"arn:aws:sts::{ACCOUNT}:federated-user/carol is neither an IAM user nor a role "
            "session, which IAM can simulate",
        ),
        (None, "the journal does not name the operator"),
    ],
)
def test_principals_not_simulated(
    moto_session: boto3.Session, arn: str | None, reason: str
) -> None:
    gateway = IamSimulationGateway(ClientFactory(moto_session))

    assert simulation_principal(arn, gateway) == (None, reason)


@pytest.mark.parametrize(
    ("service", "operation", "action"),
    [
        ("iam", "CreateAccessKey", "iam:CreateAccessKey"),
        ("sesv2", "PutAccountDetails", "ses:PutAccountDetails"),
        ("s3", "ListObjectsV2", "s3:ListBucket"),
        ("lambda", "UpdateFunctionConfiguration", "lambda:UpdateFunctionConfiguration"),
        ("sts", "GetCallerIdentity", None),
    ],
)
def test_iam_action_names(service: str, operation: str, action: str | None) -> None:
    assert iam_action(PlannedCall(service, operation, "x", "why")) == action


def test_grant_policy_groups_by_resource() -> None:
    secret = "arn:aws:secretsmanager:us-east-1:1:secret:remediate/x-*"
    denied = [
        NeededAction("iam:UpdateAccessKey", USER_ARN, USER_ARN, True, ()),
        NeededAction("secretsmanager:CreateSecret", secret + "AbCdEf", secret, True, ()),
        NeededAction("iam:CreateAccessKey", USER_ARN, USER_ARN, True, ()),
        NeededAction("ses:GetAccount", "*", "*", False, ()),
    ]

    assert grant_policy(denied) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RemediateIncidentResponse1",
                "Effect": "Allow",
                "Action": ["ses:GetAccount"],
                "Resource": "*",
            },
            {
                "Sid": "RemediateIncidentResponse2",
                "Effect": "Allow",
                "Action": ["iam:CreateAccessKey", "iam:UpdateAccessKey"],
                "Resource": USER_ARN,
            },
            {
                "Sid": "RemediateIncidentResponse3",
                "Effect": "Allow",
                "Action": ["secretsmanager:CreateSecret"],
                "Resource": secret,
            },
        ],
    }


def test_answers_file_may_answer_preflight() -> None:
    check_answers(AnswersFile(None, answers={PREFLIGHT_QUESTION: True}), load_playbook(None))
