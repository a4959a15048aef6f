"""--dry-run reads, plans, and makes no mutating call (counted through botocore's event system)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediate.engine.answers import AnswerPolicy
from remediate.engine.runner import IncidentRequest, start_incident
from remediate.rehearsal.moto_fills import install_fills
from tests.helpers import (
    CONSUMER_REGION,
    FixedClock,
    RecordingConsole,
    key_statuses,
    make_smtp_world,
)

READ_ONLY = re.compile(r"^(Get|List|Describe|Lookup)")


def count_calls(session: boto3.Session) -> list[str]:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    session.events.register("before-call.*.*", record)
    return calls


def test_dry_run_makes_no_mutating_call(
    moto_session: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fills()  # LookupEvents, which the investigate step reads
    world = make_smtp_world(moto_session)
    calls = count_calls(moto_session)
    console = RecordingConsole()
    monkeypatch.chdir(tmp_path)

    outcome = start_incident(
        IncidentRequest(
            access_key_id=world.leaked_key_id,
            session=moto_session,
            console=console,
            policy=AnswerPolicy(assume_yes=True),
            regions=(CONSUMER_REGION,),
            dry_run=True,
            clock=FixedClock(),
        )
    )

    assert calls, "the dry run made no call at all"
    assert [name for name in calls if not READ_ONLY.match(name)] == []
    assert outcome.incident is None
    assert list(tmp_path.iterdir()) == []
    assert key_statuses(moto_session) == {world.leaked_key_id: "Active"}
    assert "Dry run: these calls would be made, and none is." in console.text
    assert (
        "change: iam CreateAccessKey on ses-smtp-user.20261101-101500: create the replacement key"
        in console.text
    )
    assert (
        f"change: iam UpdateAccessKey on {world.leaked_key_id}: deactivate the leaked key"
        in console.text
    )
    assert "info:   deactivate-old-key: not approved" in console.lines
    assert "info:   delete-extra-key: not approved" in console.lines
    statuses = [str(step.status) for step in outcome.steps]
    assert statuses == [
        "ok",  # identify
        "ok",  # investigate
        "skipped",  # contain: the verdict calls for no brake
        "skipped",  # revoke-sessions: not a temporary key
        "ok",  # find-consumers
        "skipped",  # rotate: planned only
        "skipped",  # update-consumers: planned only
        "skipped",  # lift-sending-deny: planned only
        "skipped",  # watch: nothing to watch in a dry run
        "skipped",  # deactivate: planned only
        "skipped",  # eradicate: planned only, after its read-only sweep
        "skipped",  # lift-sending-pause: planned only
        "skipped",  # delete-old-key: planned only
        "skipped",  # report: a dry run writes none
    ]
