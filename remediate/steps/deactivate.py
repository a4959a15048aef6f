"""Deactivate: set the leaked key Inactive once the new key and every consumer are verified."""

from __future__ import annotations

from remediate.aws.iam import ACTIVE, INACTIVE
from remediate.core.errors import UsageError
from remediate.core.interaction import Question, QuestionKind
from remediate.core.timeutil import format_timestamp
from remediate.steps.base import Check, Plan, PlannedCall, Step, StepContext, StepResult, StepStatus
from remediate.steps.identify import temporary_key_reason


class DeactivateStep(Step):
    kind = "deactivate"
    mutating = True
    questions = ("deactivate.confirm",)
    approvals = ("deactivate-old-key", "deactivate-breaking-consumers")
    approval_questions = ("deactivate.confirm",)

    def skip_reason(self, ctx: StepContext) -> str | None:
        return temporary_key_reason(ctx)

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(calls=[_deactivate_call(ctx)])

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        user = str(ctx.output_of("identify").get("user_name", ""))
        key_id = ctx.access_key_id
        _require_safe_order(ctx)

        status = next(
            (
                key.status
                for key in ctx.aws.iam.list_access_keys(user)
                if key.access_key_id == key_id
            ),
            None,
        )
        if status == INACTIVE:
            # delete-old-key counts its wait from `deactivated_at`. When a stopped run of
            # this incident made the call but never journaled its result, the intent's
            # time is when the key went off. Otherwise the wait starts now.
            interrupted = ctx.unfinished_calls("UpdateAccessKey")
            since = interrupted[-1]["requested_at"] if interrupted else format_timestamp(ctx.now())
            return StepResult(
                StepStatus.OK,
                f"{key_id} is already Inactive.",
                {"access_key_id": key_id, "status": INACTIVE, "deactivated_at": since},
            )

        left_behind = ctx.output_of("find-consumers").get("left_behind", [])
        for item in left_behind:
            ctx.console.warning(
                f"{item['name']} ({item['region']}) was not switched ({item['reason']}); "
                f"if it uses {key_id}, it stops working when the key is deactivated."
            )
        # With consumers left behind, the approval names the breakage, so that an
        # answers file written for a clean rotation cannot approve it by accident.
        approval = "deactivate-breaking-consumers" if left_behind else "deactivate-old-key"
        breaking = (
            f" {len(left_behind)} consumer(s) that may use it were not switched and will break."
            if left_behind
            else " Every consumer found now uses the new key."
        )
        watched = ctx.output_of("watch").get("old_key_used_after_switch")
        if watched:
            breaking += " The watch saw it used after the consumers were switched."
        approved = ctx.ask(
            Question(
                "deactivate.confirm",
                f"Deactivate the leaked key {key_id} of {user} now?{breaking} "
                "Reactivating it undoes this.",
                QuestionKind.CONFIRM,
                default=False,
                approval=approval,
            )
        )
        if approved is not True:
            ctx.console.warning(
                f"To deactivate it later: aws iam update-access-key --user-name {user} "
                f"--access-key-id {key_id} --status Inactive"
            )
            return StepResult(
                StepStatus.SKIPPED,
                f"{key_id} stays Active, as the operator chose; "
                "the leak is not contained until it is deactivated.",
                {"access_key_id": key_id, "status": ACTIVE, "declined": True},
            )

        ctx.mutate(
            _deactivate_call(ctx), lambda: ctx.aws.iam.update_access_key(user, key_id, INACTIVE)
        )
        return StepResult(
            StepStatus.OK,
            f"{key_id} is now Inactive.",
            {
                "access_key_id": key_id,
                "status": INACTIVE,
                "deactivated_at": format_timestamp(ctx.now()),
            },
        )

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        if result.outputs.get("declined"):
            return []
        user = str(ctx.output_of("identify").get("user_name", ""))
        key_id = ctx.access_key_id
        status = next(
            (
                key.status
                for key in ctx.aws.iam.list_access_keys(user)
                if key.access_key_id == key_id
            ),
            "missing",
        )
        return [Check("old-key-inactive", status == INACTIVE, f"{key_id} is {status} in IAM")]


def _require_safe_order(ctx: StepContext) -> None:
    """The old key goes off only after the new key is proven and every consumer is switched."""
    rotate = ctx.output_of("rotate")
    switched = ctx.output_of("update-consumers").get("consumers", [])
    found = ctx.output_of("find-consumers").get("consumers", [])
    if not rotate.get("verified_arn"):
        raise UsageError(
            f"{ctx.access_key_id} is not deactivated: the replacement key has not been proven yet.",
            next_step="finish the rotate step with `remediate resume`",
        )
    if len(switched) != len(found):
        raise UsageError(
            f"{ctx.access_key_id} is not deactivated: "
            "not every consumer has been switched and verified.",
            next_step="finish the update-consumers step with `remediate resume`",
        )


def _deactivate_call(ctx: StepContext) -> PlannedCall:
    user = str(ctx.output_of("identify").get("user_name", "<owner>"))
    key_id = ctx.access_key_id
    return PlannedCall(
        "iam",
        "UpdateAccessKey",
        key_id,
        "deactivate the leaked key",
        params={"UserName": user, "AccessKeyId": key_id, "Status": INACTIVE},
        undo=(
            f"aws iam update-access-key --user-name {user} --access-key-id {key_id} --status Active"
        ),
    )
