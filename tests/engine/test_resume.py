"""remediate resume: after a stop for approval, after a crash, and without a terminal."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from remediate.core.errors import InputRequiredError, UsageError
from remediate.engine.answers import AnswerPolicy
from remediate.engine.runner import IncidentRequest, resume_incident, start_incident
from remediate.rehearsal.moto_fills import install_fills
from tests.helpers import (
    CONSUMER_REGION,
    FixedClock,
    RecordingConsole,
    ScriptedPrompter,
    key_statuses,
    make_smtp_world,
)


def start_with_yes(session: boto3.Session, key_id: str, incident: Path) -> None:
    """Run with --yes: it rotates, then stops because deactivation needs an approval."""
    install_fills()
    request = IncidentRequest(
        access_key_id=key_id,
        session=session,
        console=RecordingConsole(),
        policy=AnswerPolicy(assume_yes=True),
        regions=(CONSUMER_REGION,),
        incident_dir=incident,
        clock=FixedClock(),
        sleep=lambda seconds: None,
    )
    with pytest.raises(InputRequiredError, match="add `deactivate-old-key` under `approve:`"):
        start_incident(request)


def resume(session: boto3.Session, incident: Path, **options: object):  # type: ignore[no-untyped-def]
    return resume_incident(
        incident,
        session_factory=lambda profile, region: session,
        console=RecordingConsole(),
        clock=FixedClock(),
        sleep=lambda seconds: None,
        **options,  # type: ignore[arg-type]
    )


def test_resume_on_terminal_prompts_for_approval(
    moto_session: boto3.Session, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    start_with_yes(moto_session, world.leaked_key_id, tmp_path / "incident")
    prompter = ScriptedPrompter({"deactivate.confirm": True})

    outcome = resume(moto_session, tmp_path / "incident", prompter=prompter)

    assert prompter.asked == ["deactivate.confirm"]
    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"
    assert [str(step.status) for step in outcome.steps][-5:] == [
        "ok",
        "ok",
        "skipped",
        "deferred",
        "ok",
    ]


def test_resume_with_new_answers_file(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    start_with_yes(moto_session, world.leaked_key_id, tmp_path / "incident")
    answers = tmp_path / "answers.yaml"
    answers.write_text("version: 1\napprove: [deactivate-old-key]\n")

    resume(moto_session, tmp_path / "incident", prompter=None, answers_path=answers)

    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_resume_without_terminal_keeps_yes(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    start_with_yes(moto_session, world.leaked_key_id, tmp_path / "incident")

    with pytest.raises(InputRequiredError, match="add `deactivate-old-key` under `approve:`"):
        resume(moto_session, tmp_path / "incident", prompter=None)

    assert key_statuses(moto_session)[world.leaked_key_id] == "Active"


def test_resume_refuses_leaked_credentials(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    start_with_yes(moto_session, world.leaked_key_id, tmp_path / "incident")
    leaked = boto3.Session(
        aws_access_key_id=world.leaked_key_id,
        aws_secret_access_key=world.leaked_secret,
        region_name="us-east-1",
    )

    with pytest.raises(UsageError, match="remediate never acts with it"):
        resume(leaked, tmp_path / "incident", prompter=ScriptedPrompter({}))


def test_resume_records_operator(moto_session: boto3.Session, tmp_path: Path) -> None:
    from remediate.core.records import RecordType
    from remediate.engine.journal import read_journal

    world = make_smtp_world(moto_session)
    start_with_yes(moto_session, world.leaked_key_id, tmp_path / "incident")

    resume(
        moto_session, tmp_path / "incident", prompter=ScriptedPrompter({"deactivate.confirm": True})
    )

    records = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    resumed = [record for record in records if record.type == RecordType.INCIDENT_RESUMED]
    assert [record.get("operator")["arn"] for record in resumed] == [
        "arn:aws:sts::123456789012:user/moto"
    ]


def test_new_run_warns_about_unfinished_incident(
    moto_session: boto3.Session, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    start_with_yes(moto_session, world.leaked_key_id, tmp_path / "first")
    console = RecordingConsole()

    with pytest.raises(InputRequiredError):
        start_incident(
            IncidentRequest(
                access_key_id=world.leaked_key_id,
                session=moto_session,
                console=console,
                policy=AnswerPolicy(assume_yes=True),
                regions=(CONSUMER_REGION,),
                incident_dir=tmp_path / "second",
                clock=FixedClock(),
                sleep=lambda seconds: None,
            )
        )

    assert (
        f"warning: An earlier incident for {world.leaked_key_id} did not finish: "
        f"{tmp_path / 'first'}. To continue it instead, stop here and run "
        f"`remediate resume {tmp_path / 'first'}`."
    ) in console.lines


def test_stopped_run_writes_partial_report(moto_session: boto3.Session, tmp_path: Path) -> None:
    from remediate.report import write_reports

    world = make_smtp_world(moto_session)
    install_fills()
    with pytest.raises(InputRequiredError):
        start_incident(
            IncidentRequest(
                access_key_id=world.leaked_key_id,
                session=moto_session,
                console=RecordingConsole(),
                policy=AnswerPolicy(assume_yes=True),
                regions=(CONSUMER_REGION,),
                incident_dir=tmp_path / "incident",
                report_writer=lambda path: write_reports(path, ("md",)),
                clock=FixedClock(),
                sleep=lambda seconds: None,
            )
        )

    report = (tmp_path / "incident" / "report.md").read_text()
    assert "> **Partial report.**" in report
    assert "- **Deactivate the leaked key**: failed." in report
