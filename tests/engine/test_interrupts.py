"""Ctrl-C during a call or at a prompt, and two processes on one incident.

GIVEN a run in progress, WHEN the operator presses Ctrl-C (a KeyboardInterrupt
raised from a botocore event during a call, or from the prompter), THEN the
journal is consistent (every line whole, no call answered twice), the run
raises InterruptedRun naming `remediate resume DIR`, and a resume finishes
the incident. The CLI turns it into exit code 130.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from remediate.cli import State, cli
from remediate.core.errors import IncidentDirError, InterruptedRun
from remediate.core.interaction import AnswerValue, Question, QuestionKind
from remediate.engine.answers import AnswerPolicy, AnswersFile
from remediate.engine.incident import IncidentDir, create_incident_dir, hold_lock
from remediate.engine.journal import read_journal
from remediate.engine.runner import IncidentRequest, RunOutcome, resume_incident, start_incident
from remediate.rehearsal.moto_fills import install_fills
from tests.helpers import (
    CONSUMER_REGION,
    RecordingConsole,
    ScriptedPrompter,
    key_statuses,
    make_smtp_world,
)

INTERRUPTED_NOTE = "Interrupted by the operator (Ctrl-C)."


def interrupt_at(session: boto3.Session, event: str) -> list[int]:
    """Raise KeyboardInterrupt the first time `event` is emitted; return a list that counts it.

    Registered first, so it runs before moto's own before-send handler makes
    the call, as Ctrl-C before the request leaves would.
    """
    raised: list[int] = []

    def interrupt(**_: Any) -> None:
        if not raised:
            raised.append(1)
            raise KeyboardInterrupt

    session.events.register_first(event, interrupt)
    return raised


class InterruptingPrompter:
    """Answers every question with its default, and presses Ctrl-C at one of them."""

    def __init__(self, interrupt_at: str, answers: dict[str, AnswerValue] | None = None) -> None:
        self.interrupt_at = interrupt_at
        self.answers = answers or {}
        self.asked: list[str] = []

    def ask(self, question: Question) -> AnswerValue:
        self.asked.append(question.id)
        if question.id == self.interrupt_at:
            raise KeyboardInterrupt
        if question.id in self.answers:
            return self.answers[question.id]
        if question.default is not None:
            return question.default
        return {
            QuestionKind.CONFIRM: False,
            QuestionKind.TEXT: "",
            QuestionKind.CHECKBOX: question.enabled_values(),
        }.get(question.kind, question.enabled_values()[0])


def start(session: boto3.Session, key_id: str, incident: Path, **policy: Any) -> RunOutcome:
    install_fills()
    options = {"answers": AnswersFile(None, approve=frozenset({"deactivate-old-key"}))} | policy
    return start_incident(
        IncidentRequest(
            access_key_id=key_id,
            session=session,
            console=RecordingConsole(),
            policy=AnswerPolicy(**options),
            regions=(CONSUMER_REGION,),
            incident_dir=incident,
            sleep=lambda seconds: None,
        )
    )


def resume(session: boto3.Session, incident: Path, prompter: Any = None) -> RunOutcome:
    answers = incident.parent / "answers.yaml"
    answers.write_text("version: 1\napprove: [deactivate-old-key]\n")
    return resume_incident(
        incident,
        session_factory=lambda profile, region: session,
        console=RecordingConsole(),
        prompter=prompter,
        answers_path=None if prompter else answers,
        sleep=lambda seconds: None,
    )


def assert_consistent(incident: Path) -> list[str]:
    """Check every journal line is whole and each call has at most one result; return the types."""
    records = list(read_journal(incident / "journal.jsonl"))
    results = [record.get("call_id") for record in records if record.type == "aws.result"]
    assert len(results) == len(set(results))
    assert [record.seq for record in records] == list(range(1, len(records) + 1))
    return [record.type for record in records]


@pytest.mark.parametrize(
    "event",
    [
        # Before the request leaves: IAM never saw it.
        "before-send.iam.CreateAccessKey",
        # After IAM's response: the key exists but its secret is lost, so resume replaces it.
        "after-call.iam.CreateAccessKey",
        "before-send.secrets-manager.UpdateSecretVersionStage",
        "after-call.iam.UpdateAccessKey",
        # A read, before any change.
        "before-send.iam.ListAccessKeys",
    ],
)
def test_ctrl_c_during_call_then_resume(
    moto_session: boto3.Session, tmp_path: Path, event: str
) -> None:
    world = make_smtp_world(moto_session)
    incident = tmp_path / "incident"
    raised = interrupt_at(moto_session, event)

    with pytest.raises(InterruptedRun) as interrupted:
        start(moto_session, world.leaked_key_id, incident)

    assert raised == [1]
    assert interrupted.value.next_step == f"remediate resume {incident}"
    assert assert_consistent(incident)[-2:] == ["note", "aws.calls"]
    assert list(read_journal(incident / "journal.jsonl"))[-2].get("text") == INTERRUPTED_NOTE

    resume(moto_session, incident)

    statuses = key_statuses(moto_session)
    assert statuses[world.leaked_key_id] == "Inactive"
    assert sorted(statuses.values()) == ["Active", "Inactive"]


def test_ctrl_c_after_key_created(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    incident = tmp_path / "incident"
    interrupt_at(moto_session, "after-call.iam.CreateAccessKey")

    with pytest.raises(InterruptedRun):
        start(moto_session, world.leaked_key_id, incident)

    records = list(read_journal(incident / "journal.jsonl"))
    intents = [record.get("operation") for record in records if record.type == "aws.intent"]
    results = [record for record in records if record.type == "aws.result"]
    assert intents == ["CreateAccessKey"]
    assert results == []
    assert len(key_statuses(moto_session)) == 2  # IAM made the key; the journal has no result


def test_ctrl_c_at_prompt_then_resume(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    incident = tmp_path / "incident"
    prompter = InterruptingPrompter("deactivate.confirm")

    with pytest.raises(InterruptedRun) as interrupted:
        start(moto_session, world.leaked_key_id, incident, answers=None, prompter=prompter)

    assert prompter.asked[-1] == "deactivate.confirm"
    assert interrupted.value.next_step == f"remediate resume {incident}"
    assert assert_consistent(incident)[-2:] == ["note", "aws.calls"]
    answered = [r.get("question") for r in read_journal(incident / "journal.jsonl")]
    assert "deactivate.confirm" not in answered
    assert key_statuses(moto_session)[world.leaked_key_id] == "Active"

    resume(moto_session, incident, prompter=ScriptedPrompter({"deactivate.confirm": True}))

    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_ctrl_c_while_resume_reads_aws(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    incident = tmp_path / "incident"
    interrupt_at(moto_session, "before-send.iam.CreateAccessKey")
    with pytest.raises(InterruptedRun):
        start(moto_session, world.leaked_key_id, incident)
    again = boto3.Session(region_name="us-east-1")  # the same moto account, new handlers
    interrupt_at(again, "before-send.sts.GetCallerIdentity")

    with pytest.raises(InterruptedRun) as interrupted:
        resume(again, incident)

    assert interrupted.value.next_step == f"remediate resume {incident}"


def test_cli_ctrl_c_at_prompt_exits_130(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    install_fills()
    incident = tmp_path / "incident"
    prompter = InterruptingPrompter("rotate.escrow")

    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--access-key-id",
            world.leaked_key_id,
            "--regions",
            CONSUMER_REGION,
            "--incident-dir",
            str(incident),
        ],
        obj=State(prompter=prompter),
        catch_exceptions=False,
    )

    assert result.exit_code == 130, result.stdout + result.stderr
    assert result.stderr.splitlines()[-2:] == [
        "Interrupted. The journal holds everything done so far.",
        f"Next: remediate resume {incident}",
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert key_statuses(moto_session) == {world.leaked_key_id: "Active"}


def hold_in_other_process(incident: Path) -> subprocess.Popen[str]:
    """Start a process that holds the incident's lock until its stdin closes."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from remediate.engine.incident import IncidentDir, hold_lock\n"
        "with hold_lock(IncidentDir(Path(sys.argv[1]))):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(incident)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    return holder


def take_lock(incident: Path) -> Callable[[], None]:
    def take() -> None:
        with hold_lock(IncidentDir(incident)):
            pass

    return take


def test_second_process_is_refused(tmp_path: Path) -> None:
    incident = create_incident_dir(tmp_path / "incident", "test-incident").path
    holder = hold_in_other_process(incident)
    try:
        with pytest.raises(IncidentDirError) as refused:
            take_lock(incident)()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)

    assert refused.value.message == (
        f"The incident {incident} is in use by another remediate run (process {holder.pid}); "
        "two runs never act on one incident at once."
    )
    assert refused.value.next_step == (
        f"let that run finish or stop it, then run `remediate resume {incident}`"
    )
    take_lock(incident)()  # released when the holder ended


def test_lock_released_when_holder_killed(tmp_path: Path) -> None:
    incident = create_incident_dir(tmp_path / "incident", "test-incident").path
    holder = hold_in_other_process(incident)

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)

    take_lock(incident)()
