"""remediate rollback: the old key active again and each consumer back on its previous version."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from remediate.core.errors import InputRequiredError, UsageError
from remediate.core.records import RecordType
from remediate.engine.answers import AnswerPolicy, AnswersFile
from remediate.engine.journal import read_journal
from remediate.engine.runner import IncidentRequest, rollback_incident, start_incident
from remediate.rehearsal.moto_fills import install_fills
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
