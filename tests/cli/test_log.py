"""`remediate log`: the journal as a timeline, and what a damaged journal still shows.

GIVEN an incident journal, WHEN `remediate log DIR` runs, THEN each record is
one line with its UTC time, the operator ARN that wrote it, the step and what
happened; attacker text is shown inert; a damaged line is named, and the
journal is left as it was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from remediate.cli import cli
from remediate.core.errors import ExitCode
from remediate.engine.answers import AnswerPolicy, AnswersFile
from remediate.engine.journal import Journal, RecordType, read_journal
from remediate.engine.runner import IncidentRequest, start_incident
from remediate.rehearsal.moto_fills import install_fills
from tests.helpers import CONSUMER_REGION, FixedClock, RecordingConsole, make_smtp_world

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/Responder/bob"
KEY = "AKIAIOSFODNN7EXAMPLE"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_journal(incident: Path) -> None:
    """Write a short incident: opened by alice, a failed call, then resumed by bob."""
    incident.mkdir()
    clock = FixedClock()
    journal = Journal.open(incident, clock)
    journal.append(
        RecordType.INCIDENT_OPENED,
        incident_id="20261204T030000Z-AKIAIOSFODNN7EXAMPLE",
        access_key_id=KEY,
        mode="run",
        dry_run=False,
        playbook={"name": "ses-key-leak"},
        operator={"arn": ALICE},
        endpoint="https://sts.us-east-1.amazonaws.com",
        tool_version="0.1.0",
    )

    clock.advance(1)
    journal.append(RecordType.STEP_STARTED, step="rotate", kind="rotate", title="Rotate")
    journal.append(
        RecordType.ANSWER,
        step="rotate",
        question="rotate.escrow",
        value="us-east-1:remediate/x",
        source="answers-file",
    )
    journal.append(
        RecordType.AWS_INTENT,
        step="rotate",
        call_id="rotate#1",
        service="iam",
        operation="CreateAccessKey",
        region=None,
        resource="mailer",
        description="create the replacement key",
    )
    clock.advance(1)
    journal.append(
        RecordType.AWS_RESULT,
        step="rotate",
        call_id="rotate#1",
        ok=False,
        request_id="req-1",
        error_code="AccessDenied",
        error="iam CreateAccessKey on mailer failed: AccessDenied",
    )
    journal.append(RecordType.STEP_FAILED, step="rotate", kind="rotate", error="no rights")

    clock.advance(60)
    journal.append(
        RecordType.INCIDENT_RESUMED, action="resume", operator={"arn": BOB}, tool_version="0.1.0"
    )
    journal.append(
        RecordType.AWS_INTENT,
        step="rotate",
        call_id="rotate#2",
        service="secretsmanager",
        operation="CreateSecret",
        region="us-east-1",
        resource="remediate/x",
        description="write the escrow",
    )
    journal.append(
        RecordType.AWS_RESULT,
        step="rotate",
        call_id="rotate#2",
        ok=True,
        request_id="req-2",
        details={"version_id": "v1"},
    )
    journal.append(
        RecordType.AWS_INTENT,
        step="deactivate",
        call_id="deactivate#3",
        service="iam",
        operation="UpdateAccessKey",
        region=None,
        resource=KEY,
        description="deactivate the leaked key",
    )
    journal.append(
        RecordType.CHECK, step="deactivate", name="old-key-inactive", passed=False, detail="Active"
    )
    journal.append(
        RecordType.GAP,
        step="investigate",
        source="cloudtrail:LookupEvents",
        region="eu-west-1",
        reason="AccessDenied",
        standing=False,
    )
    journal.append(
        RecordType.ANSWER,
        step="deactivate",
        question="deactivate.confirm",
        value=True,
        source="prompt",
    )


def test_log_prints_timeline(tmp_path: Path) -> None:
    write_journal(tmp_path / "incident")

    code, stdout, _ = invoke("log", str(tmp_path / "incident"))

    assert code == 0
    assert stdout.splitlines() == [
        "",
        "Incident 20261204T030000Z-AKIAIOSFODNN7EXAMPLE: 13 journal record(s) in "
        f"{tmp_path / 'incident' / 'journal.jsonl'} (times in UTC)",
        f"2026-12-04T03:00:00Z  {ALICE}  -  incident 20261204T030000Z-AKIAIOSFODNN7EXAMPLE "
        f"opened for {KEY} (run, playbook ses-key-leak, endpoint "
        "https://sts.us-east-1.amazonaws.com, remediate 0.1.0)",
        f"2026-12-04T03:00:01Z  {ALICE}  rotate  step started: Rotate",
        f"2026-12-04T03:00:01Z  {ALICE}  rotate  answer to rotate.escrow: "
        "'us-east-1:remediate/x', from answers-file",
        f"2026-12-04T03:00:01Z  {ALICE}  rotate  call iam CreateAccessKey on mailer (create the "
        "replacement key): failed with AccessDenied, request ID req-1: iam CreateAccessKey on "
        "mailer failed: AccessDenied",
        f"2026-12-04T03:00:02Z  {ALICE}  rotate  step failed: no rights",
        f"2026-12-04T03:01:02Z  {BOB}  -  incident resumed (remediate 0.1.0)",
        f"2026-12-04T03:01:02Z  {BOB}  rotate  call secretsmanager CreateSecret [us-east-1] on "
        "remediate/x (write the escrow): succeeded, request ID req-2; version_id v1",
        f"2026-12-04T03:01:02Z  {BOB}  deactivate  call iam UpdateAccessKey on {KEY} (deactivate "
        "the leaked key): no result recorded, because the run stopped during the call; a "
        "resumed run checks AWS for what it did",
        f"2026-12-04T03:01:02Z  {BOB}  deactivate  check old-key-inactive FAILED: Active",
        f"2026-12-04T03:01:02Z  {BOB}  investigate  gap in cloudtrail:LookupEvents [eu-west-1]: "
        "AccessDenied",
        f"2026-12-04T03:01:02Z  {BOB}  deactivate  answer to deactivate.confirm: yes, from prompt",
    ]


def test_log_shows_hostile_text_inert(tmp_path: Path) -> None:
    incident = tmp_path / "incident"
    incident.mkdir()
    journal = Journal.open(incident, FixedClock())
    journal.append(RecordType.NOTE, step="identify", text="user \x1b]0;owned\x07 [red]x[/red]")

    code, stdout, _ = invoke("log", str(incident))

    assert code == 0
    assert stdout.splitlines()[-1] == (
        "2026-12-04T03:00:00Z  -  identify  note: user \\x1b]0;owned\\x07 [red]x[/red]"
    )
    assert "\x1b" not in stdout


def test_log_of_real_run_has_request_ids(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    install_fills()
    incident = tmp_path / "incident"
    start_incident(
        IncidentRequest(
            access_key_id=world.leaked_key_id,
            session=moto_session,
            console=RecordingConsole(),
            policy=AnswerPolicy(
                answers=AnswersFile(None, approve=frozenset({"deactivate-old-key"}))
            ),
            regions=(CONSUMER_REGION,),
            incident_dir=incident,
            sleep=lambda seconds: None,
        )
    )

    code, stdout, _ = invoke("log", str(incident))

    calls = [line for line in stdout.splitlines() if "  call " in line]
    assert code == 0
    assert [line.split("  call ", 1)[1].split(" on ", 1)[0] for line in calls] == [
        "iam CreateAccessKey",
        "secretsmanager CreateSecret [us-east-1]",
        "secretsmanager PutSecretValue [eu-west-1]",
        "secretsmanager UpdateSecretVersionStage [eu-west-1]",
        "secretsmanager UpdateSecretVersionStage [eu-west-1]",
        "iam UpdateAccessKey",
    ]
    assert all(": succeeded, request ID " in line for line in calls)
    assert all("  arn:aws:sts::123456789012:user/moto  " in line for line in calls)
    answers = [line.split("  ", 3)[3] for line in stdout.splitlines() if "  answer to " in line]
    assert "answer to deactivate.confirm: yes, from approval" in answers
    made = [r for r in read_journal(incident / "journal.jsonl") if r.type == "aws.calls"]
    assert made[0].step == "incident"
    assert [call["operation"] for call in made[0].get("calls")] == ["GetCallerIdentity"]
    assert all(call["request_id"] for record in made for call in record.get("calls"))
    assert (
        "  incident  1 AWS call(s), request IDs in the journal: sts GetCallerIdentity"
    ) in stdout


def test_log_names_torn_last_line(tmp_path: Path) -> None:
    incident = tmp_path / "incident"
    incident.mkdir()
    Journal.open(incident, FixedClock()).append(RecordType.NOTE, text="kept")
    with (incident / "journal.jsonl").open("a") as handle:
        handle.write('{"schema": 1, "seq": 2, "ty')
    before = (incident / "journal.jsonl").read_bytes()

    code, stdout, _ = invoke("log", str(incident))

    assert code == 0
    assert stdout.splitlines()[-2:] == [
        "2026-12-04T03:00:00Z  -  -  note: kept",
        "! The journal's last line (2) was cut short by a crash and is left out; the lines "
        "before it are intact. `remediate resume` sets it aside.",
    ]
    assert (incident / "journal.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"schema": 1, "time": "t", "type": "note"}', "is not a journal record"),
        ("[1, 2]", "is not a journal record"),
        ('{"schema": 2, "seq": 2, "time": "t", "type": "note"}', "has schema version 2"),
    ],
)
@pytest.mark.parametrize("command", ["log", "resume"])
def test_damaged_line_is_named(tmp_path: Path, line: str, problem: str, command: str) -> None:
    incident = tmp_path / "incident"
    incident.mkdir()
    good = json.dumps({"schema": 1, "seq": 1, "time": "t", "type": "note"})
    (incident / "journal.jsonl").write_text(f"{good}\n{line}\n{good}\n")
    before = (incident / "journal.jsonl").read_bytes()

    code, _, stderr = invoke(command, str(incident), *(["--yes"] if command == "resume" else []))

    assert code == ExitCode.INCIDENT_DIR_ERROR
    assert f"Error: Line 2 of the journal {incident / 'journal.jsonl'} {problem}" in stderr
    assert "lines 1 to 1 are intact" in stderr
    assert "Traceback" not in stderr
    assert (incident / "journal.jsonl").read_bytes() == before


def test_log_of_missing_directory(tmp_path: Path) -> None:
    code, _, stderr = invoke("log", str(tmp_path / "nowhere"))

    assert code == ExitCode.INCIDENT_DIR_ERROR
    assert f"Error: {tmp_path / 'nowhere'} is not an incident directory: it has no " in stderr


def test_rehearsal_changes_have_intents(tmp_path: Path) -> None:
    """Each step's changing calls, as botocore saw them, are the calls journaled as intents."""
    read_only = re.compile(r"^(Get|List|Describe|Lookup|Simulate)")
    incident = tmp_path / "incident"
    result = CliRunner().invoke(
        cli,
        ["rehearse", "--yes", "--scenario", "persistence", "--incident-dir", str(incident)],
        catch_exceptions=False,
    )

    made: dict[str, list[str]] = {}
    intended: dict[str, list[str]] = {}
    for record in read_journal(incident / "journal.jsonl"):
        if record.type == "aws.calls":
            made.setdefault(str(record.step), []).extend(
                call["operation"]
                for call in record.get("calls")
                if not read_only.match(call["operation"])
            )
        if record.type == "aws.intent":
            intended.setdefault(str(record.step), []).append(str(record.get("operation")))

    assert result.exit_code == 0, result.output
    assert {step: calls for step, calls in made.items() if calls} == intended
    assert intended["rotate"] == ["CreateAccessKey", "CreateSecret", "PutSecretValue"]
    log = CliRunner().invoke(cli, ["log", str(incident)], catch_exceptions=False)
    [opened] = [line for line in log.output.splitlines() if " opened for " in line]
    assert "endpoint moto in this process (no call reaches AWS)" in opened
    assert "amazonaws.com" not in opened
