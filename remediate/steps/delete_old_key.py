"""Delete the old key, once it has stayed inactive for the watch window and nothing broke.

Deactivation can be undone; deletion cannot. So the old key is deleted only
when the operator resumes the incident after the window and confirms it. Until
then the step is deferred: the run ends, and `remediate resume` runs it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from remediate.aws.iam import INACTIVE
from remediate.core.errors import AwsCallError
from remediate.core.interaction import Question, QuestionKind
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.steps.base import Check, Plan, PlannedCall, Step, StepContext, StepResult, StepStatus
from remediate.steps.identify import temporary_key_reason


class DeleteOldKeyStep(Step):
    kind = "delete-old-key"
    mutating = True
    questions = ("delete-old-key.confirm",)
    approvals = ("delete-old-key",)
    approval_questions = ("delete-old-key.confirm",)
    defaults: ClassVar[Mapping[str, Any]] = {"wait_days": 7}

    def skip_reason(self, ctx: StepContext) -> str | None:
        reason = temporary_key_reason(ctx)
        if reason is not None:
            return reason
        if ctx.output_of("deactivate").get("status") != INACTIVE:
            return "the old key was not deactivated, so it is not deleted either"
        return None

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(calls=[_delete_call(ctx)])

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        key_id = ctx.access_key_id
        deactivated_at = parse_timestamp(str(ctx.output_of("deactivate")["deactivated_at"]))
        due = deactivated_at + timedelta(days=float(self.params["wait_days"]))
        if ctx.now() < due:
            return StepResult(
                StepStatus.DEFERRED,
                f"{key_id} is inactive; it can be deleted after {format_timestamp(due)}, "
                "once nothing has broken in the meantime.",
                {"due": format_timestamp(due)},
                due=format_timestamp(due),
            )

        user = _user(ctx)
        status = _status(ctx, user, key_id)
        if status is None:
            return StepResult(StepStatus.OK, f"{key_id} is already deleted.", {"deleted": True})
        approved = ctx.ask(
            Question(
                "delete-old-key.confirm",
                f"{key_id} has been {status} since {format_timestamp(deactivated_at)}. Delete it? "
                "A deleted key cannot be restored, so a rollback is no longer possible.",
                QuestionKind.CONFIRM,
                default=False,
                approval="delete-old-key",
            )
        )
        if approved is not True:
            return StepResult(
                StepStatus.SKIPPED,
                f"{key_id} stays {status}, as the operator chose.",
                {"deleted": False},
            )
        ctx.mutate(_delete_call(ctx), lambda: ctx.aws.iam.delete_access_key(user, key_id))
        return StepResult(StepStatus.OK, f"{key_id} is deleted.", {"deleted": True})

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        if not result.outputs.get("deleted"):
            return []
        status = _status(ctx, _user(ctx), ctx.access_key_id)
        return [
            Check(
                "old-key-deleted",
                status is None,
                f"{ctx.access_key_id} is " + ("gone from IAM" if status is None else status),
            )
        ]


def _status(ctx: StepContext, user: str, key_id: str) -> str | None:
    try:
        keys = ctx.aws.iam.list_access_keys(user)
    except AwsCallError as error:
        if error.code == "NoSuchEntity":
            return None
        raise
    return next((key.status for key in keys if key.access_key_id == key_id), None)


def _user(ctx: StepContext) -> str:
    return str(ctx.output_of("identify").get("user_name", ""))


def _delete_call(ctx: StepContext) -> PlannedCall:
    user = _user(ctx) or "<owner>"
    return PlannedCall(
        "iam",
        "DeleteAccessKey",
        ctx.access_key_id,
        "delete the old key after the watch window",
        params={"UserName": user, "AccessKeyId": ctx.access_key_id},
        undo="none: a deleted key cannot be restored",
    )
