"""Revoke sessions: deny every session of the principal that issued a temporary (ASIA) key.

A temporary key cannot be deactivated. What IAM offers instead, as the
console's "Revoke active sessions" does, is an inline policy on the issuing
role or user that denies everything to sessions issued before now
(`aws:TokenIssueTime`). Long-term keys carry no token issue time, so the
policy leaves them working; new sessions are unaffected.
"""

from __future__ import annotations

from typing import Any

from remediate.core.interaction import Question, QuestionKind
from remediate.core.timeutil import format_timestamp
from remediate.steps.base import Check, Plan, PlannedCall, Step, StepContext, StepResult, StepStatus

POLICY_NAME = "AWSRevokeOlderSessions"


class RevokeSessionsStep(Step):
    kind = "revoke-sessions"
    mutating = True
    questions = ("revoke-sessions.confirm",)
    approvals = ("revoke-sessions",)
    approval_questions = ("revoke-sessions.confirm",)

    def skip_reason(self, ctx: StepContext) -> str | None:
        identity = ctx.output_of("identify")
        if not identity.get("temporary"):
            return "the key is a long-term key; it is rotated instead"
        if not identity.get("issuer"):
            return (
                "the principal that issued the temporary key is unknown; find it in CloudTrail "
                "and revoke its sessions in the IAM console"
            )
        return None

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(calls=[_put_call(_issuer(ctx), "<now>")])

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        issuer = _issuer(ctx)
        label = f"{issuer['kind'].lower()} {issuer['name']}"
        approved = ctx.ask(
            Question(
                "revoke-sessions.confirm",
                f"Revoke every session of {label} issued before now? The attacker's temporary key "
                "stops working; legitimate sessions must sign in again.",
                QuestionKind.CONFIRM,
                default=False,
                approval="revoke-sessions",
            )
        )
        if approved is not True:
            return StepResult(
                StepStatus.SKIPPED,
                f"The sessions of {label} were not revoked, as the operator chose; the temporary "
                "key works until its session expires.",
                {"revoked": False, "issuer": issuer},
            )
        issued_before = format_timestamp(ctx.now().replace(microsecond=0))
        ctx.mutate(
            _put_call(issuer, issued_before),
            lambda: ctx.aws.iam.put_inline_policy(
                issuer["kind"], issuer["name"], POLICY_NAME, revoke_policy(issued_before)
            ),
        )
        return StepResult(
            StepStatus.OK,
            f"Every session of {label} issued before {issued_before} is denied.",
            {"revoked": True, "issuer": issuer, "issued_before": issued_before},
        )

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        if not result.outputs.get("revoked"):
            return []
        issuer = result.outputs["issuer"]
        document = ctx.aws.iam.get_inline_policy(issuer["kind"], issuer["name"], POLICY_NAME)
        expected = revoke_policy(result.outputs["issued_before"])
        return [
            Check(
                "sessions-revoked",
                document == expected,
                f"{POLICY_NAME} on {issuer['kind'].lower()} {issuer['name']} "
                + (
                    "denies older sessions (read back)"
                    if document == expected
                    else "does not read back as written"
                ),
            )
        ]


def revoke_policy(issued_before: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}},
            }
        ],
    }


def _issuer(ctx: StepContext) -> dict[str, str]:
    issuer: dict[str, str] = ctx.output_of("identify")["issuer"]
    return issuer


def _put_call(issuer: dict[str, str], issued_before: str) -> PlannedCall:
    kind, name = issuer["kind"], issuer["name"]
    option = "--role-name" if kind == "Role" else "--user-name"
    return PlannedCall(
        "iam",
        f"Put{kind}Policy",
        f"{kind.lower()} {name}",
        f"deny every session issued before {issued_before}",
        params={f"{kind}Name": name, "PolicyName": POLICY_NAME},
        undo=f"aws iam delete-{kind.lower()}-policy {option} {name} --policy-name {POLICY_NAME}",
    )
