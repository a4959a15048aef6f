"""Identify: which account and IAM user own the key, its status, age and last use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from remediate.aws.iam import AccessKey, UserPolicies
from remediate.core.errors import AwsCallError, UsageError, WrongAccountError
from remediate.core.interaction import Table
from remediate.core.timeutil import format_timestamp
from remediate.steps.base import Plan, PlannedCall, Step, StepContext, StepResult, StepStatus

QUARANTINE_POLICY_PREFIX = "AWSCompromisedKeyQuarantine"
SES_SEND_ACTIONS = frozenset({"ses:sendrawemail", "ses:sendemail", "ses:send*", "ses:*", "*"})


class IdentifyStep(Step):
    kind = "identify"

    def plan(self, ctx: StepContext) -> Plan:
        key = ctx.access_key_id
        reads = [
            ("sts", "GetAccessKeyInfo", "the account that owns the key"),
            ("iam", "GetAccessKeyLastUsed", "the owning IAM user and the key's last use"),
            ("iam", "ListAccessKeys", "the user's keys and their status"),
            ("iam", "ListUserPolicies", "the user's policies and groups"),
        ]
        return Plan(
            calls=[
                PlannedCall(service, operation, key, description, mutating=False)
                for service, operation, description in reads
            ]
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        key_id = ctx.access_key_id
        if key_id.startswith("ASIA"):
            # NOTE: revoking the sessions of a temporary key is not offered yet.
            raise UsageError(
                f"{key_id} is a temporary (ASIA) access key from an STS session. It cannot be "
                "rotated or deactivated, and it cannot be used for SMTP. Find the role or user "
                "that issued it in CloudTrail, then revoke that principal's sessions.",
                next_step=f"remediate investigate --access-key-id {key_id}",
            )

        account = ctx.aws.sts.get_access_key_info(key_id)
        operator = ctx.aws.sts.get_caller_identity()
        if account != operator.account:
            raise WrongAccountError(
                f"The key {key_id} belongs to AWS account {account}, but your credentials are "
                f"for account {operator.account} ({operator.arn}).",
                next_step=f"sign in to account {account} (for example with --profile) and run "
                f"`remediate run --access-key-id {key_id}` again",
            )

        try:
            last_used = ctx.aws.iam.get_access_key_last_used(key_id)
        except AwsCallError as error:
            if error.code in {"NoSuchEntity", "AccessDenied"}:
                raise WrongAccountError(
                    f"IAM in account {account} does not know the key {key_id} ({error.code}): "
                    "it may have been deleted already.",
                    next_step=f"remediate investigate --access-key-id {key_id}",
                ) from error
            raise

        user_name = last_used.user_name
        keys = ctx.aws.iam.list_access_keys(user_name)
        leaked = next((key for key in keys if key.access_key_id == key_id), None)
        if leaked is None:
            raise WrongAccountError(
                f"IAM reports that {user_name} owns {key_id}, but the user's key list does not "
                "contain it; it may have just been deleted.",
                next_step=f"remediate investigate --access-key-id {key_id}",
            )
        policies = _read_policies(ctx, user_name)
        now = ctx.now()

        outputs: dict[str, Any] = {
            "account": account,
            "user_name": user_name,
            "access_key": {
                **_key_record(leaked, now),
                "last_used_date": _maybe_time(last_used.last_used_date),
                "last_used_service": last_used.service_name,
                "last_used_region": last_used.region,
            },
            "other_keys": [_key_record(key, now) for key in keys if key.access_key_id != key_id],
            "policies": _policies_record(policies) if policies else None,
            "ses_send_rights": _grants_ses_send(policies) if policies else None,
            "quarantine_policies": _quarantine_policies(policies) if policies else [],
            "operator_arn": operator.arn,
            "operator_owns_key": operator.arn.endswith(f":user/{user_name}"),
        }
        _show(ctx, outputs)
        status = StepStatus.OK if policies else StepStatus.DEGRADED
        return StepResult(
            status,
            f"{key_id} belongs to IAM user {user_name} in account {account}; "
            f"it is {leaked.status}.",
            outputs,
        )


def _read_policies(ctx: StepContext, user_name: str) -> UserPolicies | None:
    try:
        return ctx.aws.iam.list_user_policies(user_name)
    except AwsCallError as error:
        ctx.record_gap("iam-policies", f"the user's policies could not be read: {error.message}")
        ctx.console.warning(f"Could not read the policies of {user_name}: {error.message}")
        return None


def _key_record(key: AccessKey, now: datetime) -> dict[str, Any]:
    return {
        "access_key_id": key.access_key_id,
        "status": key.status,
        "create_date": format_timestamp(key.create_date),
        "age_days": (now - key.create_date).days,
    }


def _maybe_time(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment else None


def _policies_record(policies: UserPolicies) -> dict[str, Any]:
    return {
        "inline": [policy.name for policy in policies.inline],
        "attached": [policy.arn for policy in policies.attached],
        "groups": list(policies.groups),
    }


def _grants_ses_send(policies: UserPolicies) -> bool:
    """Whether an inline policy allows sending; attached and group policies are not read here."""
    for policy in policies.inline:
        statements = policy.document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        for statement in statements:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if any(str(action).lower() in SES_SEND_ACTIONS for action in actions):
                return True
    return False


def _quarantine_policies(policies: UserPolicies) -> list[str]:
    return [
        policy.name
        for policy in policies.attached
        if policy.name.startswith(QUARANTINE_POLICY_PREFIX)
    ]


def _show(ctx: StepContext, outputs: dict[str, Any]) -> None:
    key = outputs["access_key"]
    rows = [
        ["Account", outputs["account"]],
        ["IAM user", outputs["user_name"]],
        ["Access key ID", key["access_key_id"]],
        ["Status", key["status"]],
        ["Created", f"{key['create_date']} ({key['age_days']} days ago)"],
        [
            "Last used",
            f"{key['last_used_date']} ({key['last_used_service']}, {key['last_used_region']})"
            if key["last_used_date"]
            else "never, as far as IAM reports (it lags by minutes to hours)",
        ],
    ]
    for other in outputs["other_keys"]:
        rows.append(
            [
                "Other key",
                f"{other['access_key_id']} ({other['status']}, created {other['create_date']})",
            ]
        )
    ctx.console.table(Table("The leaked key", ["", ""], rows))
    if outputs["operator_owns_key"]:
        ctx.console.warning(
            "You are signed in as the user that owns the leaked key. Use another principal."
        )
    for name in outputs["quarantine_policies"]:
        ctx.console.warning(
            f"AWS attached {name} to this user: it blocks the user's own key changes but "
            "does not deny ses:SendRawEmail, so mail keeps flowing. remediate never detaches it."
        )
