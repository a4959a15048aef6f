"""The containment brakes: what each one changes, how it is undone, and how it is checked."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediate.aws.iam import INACTIVE
from remediate.steps.base import Check, PlannedCall, StepContext
from remediate.steps.revoke_sessions import POLICY_NAME as REVOKE_POLICY_NAME

PAUSE_SENDING = "pause-sending"
DENY_SENDING = "deny-sending"
DEACTIVATE_NOW = "deactivate-now"
REVOKE_SESSIONS = "revoke-sessions"
ACTIONS = (PAUSE_SENDING, DENY_SENDING, DEACTIVATE_NOW, REVOKE_SESSIONS)
# A key deactivated at once is never reactivated by a lift: `remediate rollback` does that.
LIFTABLE = (PAUSE_SENDING, DENY_SENDING, REVOKE_SESSIONS)

DENY_POLICY_NAME = "RemediateDenySesSending"
# ses:Send* covers SendEmail and SendRawEmail (SMTP sends need the latter) and
# the templated and bulk sends of both SES API versions.
DENY_SENDING_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "RemediateIncidentDenySending",
            "Effect": "Deny",
            "Action": ["ses:Send*"],
            "Resource": ["*"],
        }
    ],
}

# Findings about sending: with a suspicious verdict, one of these calls for a brake.
SENDING_FINDING_PREFIXES = (
    "ses-sending-",
    "ses-reputation-",
    "ses-sandbox-exit",
    "ses-production-",
)
SENDING_FINDING_IDS = frozenset({"ses-enforcement-action"})


@dataclass(frozen=True)
class Brake:
    """One applied brake, as a contain step outputs it.

    `target` is the account ID (pause-sending), the IAM user (deny-sending,
    revoke-sessions) or the access key ID (deactivate-now).
    """

    action: str
    target: str
    regions: tuple[str, ...]
    reason: str
    undo: str
    undone: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Brake:
        return cls(
            action=str(record["action"]),
            target=str(record["target"]),
            regions=tuple(record.get("regions") or ()),
            reason=str(record.get("reason", "")),
            undo=str(record.get("undo", "")),
            undone=bool(record.get("undone")),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.target,
            "regions": list(self.regions),
            "reason": self.reason,
            "undo": self.undo,
            "undone": self.undone,
        }

    def lifted(self) -> Brake:
        return dataclasses.replace(self, undone=True)

    def describe(self) -> str:
        if self.action == PAUSE_SENDING:
            return f"SES sending paused in {', '.join(self.regions)}"
        if self.action == DENY_SENDING:
            return f"ses:Send* denied to IAM user {self.target} ({DENY_POLICY_NAME})"
        if self.action == DEACTIVATE_NOW:
            return f"{self.target} deactivated at once"
        return f"sessions of IAM user {self.target} issued before now denied ({REVOKE_POLICY_NAME})"


def sending_findings(investigation: Mapping[str, Any]) -> list[str]:
    return [
        finding
        for finding in investigation.get("finding_ids") or []
        if finding.startswith(SENDING_FINDING_PREFIXES) or finding in SENDING_FINDING_IDS
    ]


def user_name(ctx: StepContext) -> str:
    return str(ctx.output_of("identify").get("user_name") or "<owner>")


def account_id(ctx: StepContext) -> str:
    return str(ctx.output_of("identify").get("account") or "<account>")


def key_status(ctx: StepContext) -> str:
    """Return the leaked key's status: Active, Inactive, or Deleted when IAM no longer lists it."""
    keys = ctx.aws.iam.list_access_keys(user_name(ctx))
    return next((key.status for key in keys if key.access_key_id == ctx.access_key_id), "Deleted")


def pause_call(ctx: StepContext, region: str) -> PlannedCall:
    return PlannedCall(
        "sesv2",
        "PutAccountSendingAttributes",
        f"SES sending of account {account_id(ctx)}",
        f"pause SES sending in {region}",
        region=region,
        params={"SendingEnabled": False},
        undo=resume_command(region),
    )


def resume_call(ctx: StepContext, region: str) -> PlannedCall:
    return PlannedCall(
        "sesv2",
        "PutAccountSendingAttributes",
        f"SES sending of account {account_id(ctx)}",
        f"re-enable SES sending in {region}, paused by this incident",
        region=region,
        params={"SendingEnabled": True},
        undo=(f"aws sesv2 put-account-sending-attributes --no-sending-enabled --region {region}"),
    )


def resume_command(region: str) -> str:
    return f"aws sesv2 put-account-sending-attributes --sending-enabled --region {region}"


def put_policy_call(ctx: StepContext, policy_name: str, description: str) -> PlannedCall:
    user = user_name(ctx)
    return PlannedCall(
        "iam",
        "PutUserPolicy",
        f"user {user}",
        description,
        params={"UserName": user, "PolicyName": policy_name},
        undo=delete_policy_command(user, policy_name),
    )


def delete_policy_call(ctx: StepContext, policy_name: str, description: str) -> PlannedCall:
    user = user_name(ctx)
    return PlannedCall(
        "iam",
        "DeleteUserPolicy",
        f"user {user}",
        description,
        params={"UserName": user, "PolicyName": policy_name},
        undo=None,
    )


def delete_policy_command(user: str, policy_name: str) -> str:
    return f"aws iam delete-user-policy --user-name {user} --policy-name {policy_name}"


def deactivate_call(ctx: StepContext) -> PlannedCall:
    user, key_id = user_name(ctx), ctx.access_key_id
    return PlannedCall(
        "iam",
        "UpdateAccessKey",
        key_id,
        "deactivate the leaked key at once, before its consumers are switched",
        params={"UserName": user, "AccessKeyId": key_id, "Status": INACTIVE},
        undo=reactivate_command(user, key_id),
    )


def reactivate_command(user: str, key_id: str) -> str:
    return f"aws iam update-access-key --user-name {user} --access-key-id {key_id} --status Active"


def brake_calls(ctx: StepContext, action: str) -> list[PlannedCall]:
    """List the calls one brake makes, as a dry run shows them (the regions are chosen later)."""
    if action == PAUSE_SENDING:
        return [pause_call(ctx, "<each chosen region>")]
    if action == DENY_SENDING:
        return [put_policy_call(ctx, DENY_POLICY_NAME, "deny ses:Send* to every key of the user")]
    if action == DEACTIVATE_NOW:
        return [deactivate_call(ctx)]
    return [put_policy_call(ctx, REVOKE_POLICY_NAME, "deny the sessions issued before now")]


def lift_calls(ctx: StepContext, brake: Brake) -> list[PlannedCall]:
    if brake.action == PAUSE_SENDING:
        return [resume_call(ctx, region) for region in brake.regions]
    policy = DENY_POLICY_NAME if brake.action == DENY_SENDING else REVOKE_POLICY_NAME
    return [delete_policy_call(ctx, policy, f"lift: {brake.describe()}")]


def check_brake(ctx: StepContext, brake: Brake, *, lifted: bool) -> Check:
    """Read back that a brake is in place, or gone after a lift."""
    name = f"{brake.action}-{'lifted' if lifted else 'applied'}"
    if brake.action == PAUSE_SENDING:
        enabled = {
            region: ctx.aws.sesv2.get_account(region).sending_enabled for region in brake.regions
        }
        wrong = [region for region, on in enabled.items() if on != lifted]
        state = "enabled" if lifted else "paused"
        detail = f"SES sending is {state} in {', '.join(brake.regions)}"
        if wrong:
            detail = f"SES sending is not {state} in {', '.join(wrong)}"
        return Check(name, not wrong, detail)
    if brake.action == DEACTIVATE_NOW:
        status = key_status(ctx)
        return Check(name, status == INACTIVE, f"{brake.target} is {status} in IAM")
    policy = DENY_POLICY_NAME if brake.action == DENY_SENDING else REVOKE_POLICY_NAME
    present = ctx.aws.iam.get_inline_policy("User", brake.target, policy) is not None
    where = f"{policy} on user {brake.target}"
    if lifted:
        return Check(name, not present, f"{where} is {'still there' if present else 'gone'}")
    return Check(name, present, f"{where} is {'in place' if present else 'missing'}")
