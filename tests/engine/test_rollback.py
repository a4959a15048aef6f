"""remediate rollback: the old key active again and each consumer back on its previous version."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from remediate.core.errors import InputRequiredError, UsageError, VerificationError
from remediate.core.records import RecordType
from remediate.engine.answers import AnswerPolicy, AnswersFile
from remediate.engine.journal import read_journal
from remediate.engine.runner import (
    IncidentRequest,
    resume_incident,
    rollback_incident,
    start_incident,
)
from remediate.rehearsal.moto_fills import install_fills
from remediate.report.view import build_view
from tests.helpers import (
    CONSUMER_REGION,
    SMTP_USER,
    FixedClock,
    RecordingConsole,
    current_secret,
    key_statuses,
    make_smtp_world,
)


def rotated(session: boto3.Session, key_id: str, incident: Path) -> None:
    """Run the whole playbook: rotate, switch the consumer, deactivate the old key."""
    install_fills()
    clock = FixedClock()
    answers = AnswersFile(path=None, approve=frozenset({"deactivate-old-key"}))
    start_incident(
        IncidentRequest(
            access_key_id=key_id,
            session=session,
            console=RecordingConsole(),
            policy=AnswerPolicy(answers=answers, assume_yes=True),
            regions=(CONSUMER_REGION,),
            incident_dir=incident,
            clock=clock,
            sleep=clock.advance,
        )
    )


def write_answers(tmp_path: Path, approve: str) -> Path:
    path = tmp_path / "rollback.yaml"
    path.write_text(f"version: 1\napprove: [{approve}]\n")
    return path


def rollback(session: boto3.Session, incident: Path, answers: Path | None):  # type: ignore[no-untyped-def]
    clock = FixedClock()
    return rollback_incident(
        incident,
        session_factory=lambda profile, region: session,
        console=RecordingConsole(),
        prompter=None,
        answers_path=answers,
        clock=clock,
        sleep=clock.advance,
    )


def test_rollback_restores_key_and_consumer(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    rotated(moto_session, world.leaked_key_id, tmp_path / "incident")
    new_key = current_secret(moto_session)["username"]
    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"

    outcome = rollback(moto_session, tmp_path / "incident", write_answers(tmp_path, "rollback"))

    assert (
        outcome.steps[0].summary
        == f"{world.leaked_key_id} is Active again and 1 consumer(s) were restored."
    )
    assert key_statuses(moto_session) == {world.leaked_key_id: "Active", new_key: "Active"}
    assert current_secret(moto_session)["username"] == world.leaked_key_id
    records = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    reopened = [record for record in records if record.type == RecordType.INCIDENT_RESUMED]
    assert reopened[-1].get("action") == "rollback"
    intents = [
        record.get("operation") for record in records if record.type == RecordType.AWS_INTENT
    ]
    assert intents[-2:] == ["UpdateAccessKey", "UpdateSecretVersionStage"]


def test_resume_after_rollback_rotates_again(moto_session: boto3.Session, tmp_path: Path) -> None:
    """A rollback reopens the steps it undid; a resume switches and deactivates again."""
    world = make_smtp_world(moto_session)
    incident = tmp_path / "incident"
    rotated(moto_session, world.leaked_key_id, incident)
    new_key = current_secret(moto_session)["username"]
    rollback(moto_session, incident, write_answers(tmp_path, "rollback"))
    records = list(read_journal(incident / "journal.jsonl"))
    reopened = [
        (record.step, record.get("reason"))
        for record in records
        if record.type == RecordType.STEP_REOPENED
    ]
    rollback_step = next(
        record.step for record in records if record.get("kind") == "rollback" and record.step
    )
    assert reopened == [
        ("rotate", f"undone by {rollback_step}"),
        ("update-consumers", f"undone by {rollback_step}"),
        ("watch", f"undone by {rollback_step}"),
        ("deactivate", f"undone by {rollback_step}"),
        ("delete-old-key", f"undone by {rollback_step}"),
    ]
    view = build_view(records, FixedClock().current)
    assert view.containment["leaked_key_now"] == "Active (rolled back)"
    assert view.containment["contained"] == "no: the leaked key is active"
    phases = {phase.step_id: phase for phase in view.phases}
    assert phases["deactivate"].status == "open"
    assert phases["deactivate"].summary.startswith(f"undone by {rollback_step} at ")
    assert view.follow_ups[0].startswith(
        "Finish the rotation that was rolled back: fix what failed with the new credential, "
        "then run remediate resume <this incident's directory>."
    )
    assert "; undone by the rollback at " in view.key_times.containment.basis
    assert view.key_times.containment.basis.endswith(", so the leaked key is usable")
    assert view.deferred == {}
    [consumer] = view.consumers
    assert consumer.verified is None
    assert consumer.summary.startswith("put back on its previous credential by the rollback at ")

    console = RecordingConsole()
    clock = FixedClock()
    resume_incident(
        incident,
        session_factory=lambda profile, region: moto_session,
        console=console,
        prompter=None,
        answers_path=write_answers(tmp_path, "deactivate-old-key"),
        clock=clock,
        sleep=clock.advance,
    )

    assert key_statuses(moto_session) == {world.leaked_key_id: "Inactive", new_key: "Active"}
    assert current_secret(moto_session)["username"] == new_key
    again = [line for line in console.lines if "done earlier" in line]
    for title in (
        "Create the replacement key",
        "Switch every consumer",
        "Deactivate the leaked key",
    ):
        assert not any(title in line for line in again), title
    records = list(read_journal(incident / "journal.jsonl"))
    finished = [
        record.step
        for record in records
        if record.type == RecordType.STEP_FINISHED and record.get("status") == "ok"
    ]
    assert finished.count("rotate") == 2
    assert finished.count("update-consumers") == 2
    assert finished.count("deactivate") == 2
    # The new key was proven again, and no other key was created.
    creates = [record for record in records if record.get("operation") == "CreateAccessKey"]
    assert len([record for record in creates if record.type == RecordType.AWS_INTENT]) == 1
    view = build_view(records, FixedClock().current)
    assert view.containment["leaked_key_now"] == "Inactive"
    assert view.containment["contained"] == "yes: the leaked key is inactive"
    assert ", contained again at " in view.key_times.containment.basis
    [consumer] = view.consumers
    assert consumer.verified is True
    assert view.unfinished == [
        "Delete the old key after the watch window (on a later resume) (deferred)"
    ]


def test_resume_after_rollback_proves_new_key(moto_session: boto3.Session, tmp_path: Path) -> None:
    """A new key that stopped working is caught before any consumer goes back to it."""
    world = make_smtp_world(moto_session)
    incident = tmp_path / "incident"
    rotated(moto_session, world.leaked_key_id, incident)
    new_key = current_secret(moto_session)["username"]
    rollback(moto_session, incident, write_answers(tmp_path, "rollback"))
    moto_session.client("iam").update_access_key(
        UserName=SMTP_USER, AccessKeyId=new_key, Status="Inactive"
    )
    clock = FixedClock()

    # moto accepts an inactive key's signature, so the rotate step's read-back catches it;
    # AWS rejects the GetCallerIdentity proof first.
    with pytest.raises(VerificationError, match=f"{new_key} is Inactive in IAM"):
        resume_incident(
            incident,
            session_factory=lambda profile, region: moto_session,
            console=RecordingConsole(),
            prompter=None,
            answers_path=write_answers(tmp_path, "deactivate-old-key"),
            clock=clock,
            sleep=clock.advance,
        )

    assert key_statuses(moto_session) == {world.leaked_key_id: "Active", new_key: "Inactive"}
    assert current_secret(moto_session)["username"] == world.leaked_key_id


def test_refused_rollback_names_rollback_command(
    moto_session: boto3.Session, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    rotated(moto_session, world.leaked_key_id, tmp_path / "incident")

    with pytest.raises(InputRequiredError) as refused:
        rollback(moto_session, tmp_path / "incident", write_answers(tmp_path, "deactivate-old-key"))

    assert refused.value.next_step == (
        f"remediate rollback {tmp_path / 'incident'} --answers {tmp_path / 'rollback.yaml'}"
    )

    rollback(moto_session, tmp_path / "incident", write_answers(tmp_path, "rollback"))

    records = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    phases = build_view(records, FixedClock().current).phases
    # The refused attempt is superseded by the one that went through.
    assert [(phase.kind, phase.status) for phase in phases if phase.kind == "rollback"] == [
        ("rollback", "ok")
    ]


def test_refused_rollback_leaves_incident_complete(
    moto_session: boto3.Session, tmp_path: Path
) -> None:
    world = make_smtp_world(moto_session)
    rotated(moto_session, world.leaked_key_id, tmp_path / "incident")

    with pytest.raises(InputRequiredError):
        rollback(moto_session, tmp_path / "incident", write_answers(tmp_path, "deactivate-old-key"))

    records = list(read_journal(tmp_path / "incident" / "journal.jsonl"))
    view = build_view(records, FixedClock().current)
    assert [(phase.kind, phase.status) for phase in view.phases if phase.kind == "rollback"] == [
        ("rollback", "failed")
    ]
    assert view.complete is True
    assert view.unfinished == [
        "Delete the old key after the watch window (on a later resume) (deferred)"
    ]


def test_rollback_needs_approval(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    rotated(moto_session, world.leaked_key_id, tmp_path / "incident")

    with pytest.raises(InputRequiredError, match="add `rollback` under `approve:`"):
        rollback(moto_session, tmp_path / "incident", write_answers(tmp_path, "deactivate-old-key"))

    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_rollback_after_deletion_is_refused(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    rotated(moto_session, world.leaked_key_id, tmp_path / "incident")
    moto_session.client("iam").delete_access_key(
        UserName=SMTP_USER, AccessKeyId=world.leaked_key_id
    )

    with pytest.raises(UsageError, match="has been deleted, so the rollback cannot give consumers"):
        rollback(moto_session, tmp_path / "incident", write_answers(tmp_path, "rollback"))
