"""Rollback: reactivate the old key and put every consumer back on its previous credential.

For when the new credential fails in production. The leaked key becomes
usable again, so a rollback buys time to fix the rotation; it is no remedy.
The new key is left active, so that the rotation can be finished later.
"""

from __future__ import annotations

from typing import Any

from remediate.aws.iam import ACTIVE, INACTIVE
from remediate.core.errors import UsageError
from remediate.core.interaction import Question, QuestionKind
from remediate.steps.base import Check, Plan, PlannedCall, Step, StepContext, StepResult, StepStatus
from remediate.steps.consumers import Consumer
from remediate.steps.updaters.registry import updater_for


class RollbackStep(Step):
    kind = "rollback"
    mutating = True
    questions = ("rollback.confirm",)
    approvals = ("rollback",)
    approval_questions = ("rollback.confirm",)

    def plan(self, ctx: StepContext) -> Plan:
        notes = [
            f"restore {record['consumer']['name']} ({record['consumer']['kind']})"
            for record in _switched(ctx)
        ]
        return Plan(calls=[_reactivate_call(ctx)], notes=notes)

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        user = _user(ctx)
        key_id = ctx.access_key_id
        status = next(
            (
                key.status
                for key in ctx.aws.iam.list_access_keys(user)
                if key.access_key_id == key_id
            ),
            None,
        )
        if status is None:
            raise UsageError(
                f"{key_id} has been deleted, so the rollback cannot give consumers their old "
                "credential back.",
                next_step="fix the consumers forward, with the new key, by hand",
            )
        switched = _switched(ctx)
        approved = ctx.ask(
            Question(
                "rollback.confirm",
                f"Reactivate the leaked key {key_id} and put {len(switched)} consumer(s) back on "
                "it? The leaked key works again until the rotation is finished.",
                QuestionKind.CONFIRM,
                default=False,
                approval="rollback",
            )
        )
        if approved is not True:
            return StepResult(StepStatus.SKIPPED, "Nothing was rolled back, as the operator chose.")

        if status == INACTIVE:
            ctx.mutate(
                _reactivate_call(ctx),
                lambda: ctx.aws.iam.update_access_key(user, key_id, ACTIVE),
            )
        restored = []
        for record in reversed(switched):
            consumer = Consumer.from_record(record["consumer"])
            restored.append(updater_for(consumer).restore(ctx, consumer, record))
        for line in restored:
            ctx.console.success(line)
        return StepResult(
            StepStatus.OK,
            f"{key_id} is Active again and {len(restored)} consumer(s) were restored.",
            {"reactivated": status == INACTIVE, "restored": restored},
        )

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        if result.status != StepStatus.OK:
            return []
        key_id = ctx.access_key_id
        status = next(
            (
                k.status
                for k in ctx.aws.iam.list_access_keys(_user(ctx))
                if k.access_key_id == key_id
            ),
            "missing",
        )
        return [Check("old-key-active", status == ACTIVE, f"{key_id} is {status} in IAM")]


def _switched(ctx: StepContext) -> list[dict[str, Any]]:
    return list(ctx.output_of("update-consumers").get("consumers", []))


def _user(ctx: StepContext) -> str:
    return str(ctx.output_of("identify").get("user_name", ""))


def _reactivate_call(ctx: StepContext) -> PlannedCall:
    user = _user(ctx) or "<owner>"
    return PlannedCall(
        "iam",
        "UpdateAccessKey",
        ctx.access_key_id,
        "reactivate the old key for a rollback",
        params={"UserName": user, "AccessKeyId": ctx.access_key_id, "Status": ACTIVE},
        undo=f"aws iam update-access-key --user-name {user} --access-key-id "
        f"{ctx.access_key_id} --status Inactive",
    )
