"""Update consumers: switch every consumer to the new credential, then read each one back.

This is the finish phase. Kinds that staged a value (Secrets Manager) make it
current; the others write the new value now; manual consumers are confirmed by
the operator, item by item. Each switch records what a rollback restores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediate.core.errors import UsageError, VerificationError
from remediate.core.timeutil import format_timestamp
from remediate.steps.base import Check, Plan, Step, StepContext, StepResult, StepStatus
from remediate.steps.consumers import Consumer
from remediate.steps.escrow import EscrowLocation, read_escrow
from remediate.steps.identify import temporary_key_reason
from remediate.steps.updaters.base import NewCredential
from remediate.steps.updaters.manual import MANUAL_QUESTION
from remediate.steps.updaters.registry import updater_for


class UpdateConsumersStep(Step):
    kind = "update-consumers"
    mutating = True
    # `consumers.manual.<name>` is asked for each consumer updated by hand.
    questions = (MANUAL_QUESTION,)

    def skip_reason(self, ctx: StepContext) -> str | None:
        return temporary_key_reason(ctx)

    def plan(self, ctx: StepContext) -> Plan:
        calls = [
            call
            for consumer in _consumers(ctx)
            for call in updater_for(consumer).plan_switch(consumer)
        ]
        notes = [
            f"{consumer.label} is switched by hand, confirmed at a prompt"
            for consumer in _consumers(ctx)
            if updater_for(consumer).manual
        ]
        return Plan(calls=calls, notes=notes)

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        rotate = ctx.output_of("rotate")
        if not rotate.get("new_access_key_id"):
            raise UsageError(
                "The rotate step has not finished, so there is no new credential to switch to.",
                next_step="run `remediate resume` to finish the rotate step first",
            )
        credential = new_credential(ctx, rotate)
        escrow = EscrowLocation(**_location(rotate["escrow"])) if rotate.get("escrow") else None
        staged_by_resource: Mapping[str, Any] = rotate.get("staged", {})
        switched = []
        for consumer in _consumers(ctx):
            staged = {
                **staged_by_resource.get(consumer.resource, {}),
                "escrow": escrow.label if escrow else "the escrow",
                "escrow_location": escrow.as_record() if escrow else None,
            }
            record = updater_for(consumer).switch(ctx, consumer, credential, staged)
            switched.append({"consumer": consumer.as_record(), **record})
        return StepResult(
            StepStatus.OK,
            f"{len(switched)} consumer(s) now use {credential.access_key_id}.",
            {"consumers": switched, "switched_at": format_timestamp(ctx.now())},
        )

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        credential = new_credential(ctx, ctx.output_of("rotate"))
        checks = []
        for record in result.outputs["consumers"]:
            consumer = Consumer.from_record(record["consumer"])
            checks.append(updater_for(consumer).verify(ctx, consumer, record, credential))
        return checks


def new_credential(ctx: StepContext, rotate: Mapping[str, Any]) -> NewCredential:
    """The new key with its secret: from this run's memory, or else from the escrow."""
    key_id = str(rotate["new_access_key_id"])
    secret = ctx.secret(key_id)
    if secret is None and rotate.get("escrow"):
        secret = read_escrow(ctx, EscrowLocation(**_location(rotate["escrow"])), key_id)
    if secret is None:
        raise VerificationError(
            f"The secret of the new key {key_id} is in no destination: not in this run's memory, "
            "and the escrow does not hold it.",
            next_step="check the escrow secret named in the journal; if it is gone, deactivate "
            f"{key_id} and start a new incident with `remediate run`",
        )
    ctx.keep_secret(key_id, secret)
    return NewCredential(key_id, str(rotate["user_name"]), secret)


def _location(record: Mapping[str, Any]) -> dict[str, str]:
    return {"region": str(record["region"]), "name": str(record["name"])}


def _consumers(ctx: StepContext) -> list[Consumer]:
    records = ctx.output_of("find-consumers").get("consumers", [])
    return [Consumer.from_record(record) for record in records]
