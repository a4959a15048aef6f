"""After the switch: watch both keys, deactivate, and delete the old key only after the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from remediate.core.errors import InputRequiredError
from remediate.core.records import RecordType
from tests.helpers import (
    CONSUMER_REGION,
    FixedClock,
    key_statuses,
    make_context,
    make_smtp_world,
    run_step,
)


def switched(session: boto3.Session, key_id: str, **options: object):  # type: ignore[no-untyped-def]
    context = make_context(session, key_id, regions=(CONSUMER_REGION,), **options)  # type: ignore[arg-type]
    for kind in ("identify", "find-consumers", "rotate", "update-consumers"):
        run_step(context, kind)
    return context


def use_key(key_id: str, secret: str) -> None:
    """Sign one call with a key, as a forgotten consumer would; moto records its last use."""
    boto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="eu-west-1"
    ).client("ses").get_send_quota()


def test_watch_sees_no_use_of_old_key(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = switched(moto_session, world.leaked_key_id)

    result = run_step(context, "watch")

    assert result.outputs["old_key_used_after_switch"] is False
    assert len(result.outputs["observations"]) == 1
    assert result.summary.startswith(
        f"{world.leaked_key_id} shows no use since the consumers were switched"
    )


class WallClock(FixedClock):
    """The real time, as moto records a key's last use in real time too."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


def test_watch_ignores_own_proof_call(moto_session: boto3.Session) -> None:
    """The new key's only use is remediate's GetCallerIdentity proof: no consumer uses it yet."""
    world = make_smtp_world(moto_session)
    context = switched(moto_session, world.leaked_key_id, clock=WallClock())
    new_key = context.output_of("rotate")["new_access_key_id"]

    first = run_step(context, "watch")

    assert first.outputs["observations"][0]["new"]["service"] == "sts"
    assert first.outputs["new_key_used"] is False
    assert f"{new_key} shows no use since the switch yet" in first.summary
    use_key(new_key, context.secret(new_key).reveal())
    again = run_step(context, "watch")
    assert again.outputs["new_key_used"] is True
    assert f"{new_key} is in use since the switch" in again.summary


def test_watch_sees_forgotten_consumer(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = switched(moto_session, world.leaked_key_id, approve=("deactivate-old-key",))
    use_key(world.leaked_key_id, world.leaked_secret)

    result = run_step(context, "watch")

    assert str(result.status) == "degraded"
    assert result.outputs["old_key_used_after_switch"] is True
    assert "was used after the consumers were switched: something still uses it" in result.summary
    run_step(context, "deactivate")
    answer = context.journal.last(RecordType.ANSWER, question="deactivate.confirm")
    assert answer.get("value") is True


def test_watch_window_observes_repeatedly(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = switched(moto_session, world.leaked_key_id, answers={"watch.minutes": "3"})

    result = run_step(context, "watch", params={"interval_seconds": 60})

    assert [item["at"] for item in result.outputs["observations"]] == [
        "2026-12-04T03:00:00Z",
        "2026-12-04T03:01:00Z",
        "2026-12-04T03:02:00Z",
        "2026-12-04T03:03:00Z",
    ]


def test_delete_old_key_deferred_until_due(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = switched(moto_session, world.leaked_key_id, approve=("deactivate-old-key",))
    run_step(context, "deactivate")

    result = run_step(context, "delete-old-key")

    assert str(result.status) == "deferred"
    assert result.outputs == {"due": "2026-12-11T03:00:00Z"}
    assert context.journal.last(RecordType.STEP_FINISHED, step="delete-old-key") is None
    assert context.journal.last(RecordType.STEP_DEFERRED, step="delete-old-key") is not None
    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_delete_old_key_after_window(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = switched(
        moto_session, world.leaked_key_id, approve=("deactivate-old-key", "delete-old-key")
    )
    run_step(context, "deactivate")
    context._clock.advance(timedelta(days=8).total_seconds())

    result = run_step(context, "delete-old-key")

    assert result.summary == f"{world.leaked_key_id} is deleted."
    assert world.leaked_key_id not in key_statuses(moto_session)
    intent = context.journal.last(RecordType.AWS_INTENT, operation="DeleteAccessKey")
    assert intent.get("undo") == "none: a deleted key cannot be restored"


def test_delete_old_key_needs_approval(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    clock = FixedClock()
    context = switched(
        moto_session, world.leaked_key_id, clock=clock, approve=("deactivate-old-key",)
    )
    run_step(context, "deactivate")
    clock.advance(timedelta(days=8).total_seconds())

    with pytest.raises(InputRequiredError, match="add `delete-old-key` under `approve:`"):
        run_step(context, "delete-old-key")

    assert key_statuses(moto_session)[world.leaked_key_id] == "Inactive"


def test_delete_skipped_when_not_deactivated(moto_session: boto3.Session) -> None:
    world = make_smtp_world(moto_session)
    context = switched(moto_session, world.leaked_key_id, answers={"deactivate.confirm": False})
    run_step(context, "deactivate")

    result = run_step(context, "delete-old-key")

    assert (
        result.summary
        == "Not applicable: the old key was not deactivated, so it is not deleted either"
    )
