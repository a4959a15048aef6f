"""Identify: which account and IAM user own the key, its status, age, last use and rights."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from remediate.aws.iam import AccessKey, AccessKeyLastUsed, UserPolicies
from remediate.aws.regions import GLOBAL_EVENTS_REGION
from remediate.core.errors import AwsCallError, UsageError, WrongAccountError
from remediate.core.interaction import Table
from remediate.core.timeutil import format_timestamp
from remediate.evidence.iam_policies import (
    QUARANTINE_POLICY_PREFIX,
    SENDING_AND_KEY_ACTIONS,
    SES_SEND_ACTIONS,
    describe_extra_rights,
    documents_of,
    rights_beyond_sending,
    sources_allowing,
    statement_effect,
)
from remediate.steps.base import Plan, PlannedCall, Step, StepContext, StepResult, StepStatus

# NOTE: IAM documents no UserName for a root access key in GetAccessKeyLastUsed;
# these are the names the credential report and CloudTrail use for the root user.
ROOT_USER_NAMES = frozenset({"root", "<root_account>"})


class IdentifyStep(Step):
    kind = "identify"

    def plan(self, ctx: StepContext) -> Plan:
        key = ctx.access_key_id
        reads = [
            ("sts", "GetAccessKeyInfo", "the account that owns the key"),
            ("iam", "GetAccessKeyLastUsed", "the owning IAM user and the key's last use"),
            ("iam", "ListAccessKeys", "the user's keys and their status"),
            ("iam", "ListUserPolicies", "the user's policies, its groups and theirs"),
        ]
        return Plan(
            calls=[
                PlannedCall(service, operation, key, description, mutating=False)
                for service, operation, description in reads
            ]
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        key_id = ctx.access_key_id
        account = ctx.aws.sts.get_access_key_info(key_id)
        operator = ctx.aws.sts.get_caller_identity()
        if account != operator.account:
            raise WrongAccountError(
                f"The key {key_id} belongs to AWS account {account}, but your credentials are "
                f"for account {operator.account} ({operator.arn}).",
                next_step=f"sign in to account {account} (for example with --profile) and run "
                f"`remediate run --access-key-id {key_id}` again",
            )
        if key_id.startswith("ASIA"):
            return _identify_temporary_key(ctx, account, operator.arn)

        try:
            last_used = ctx.aws.iam.get_access_key_last_used(key_id)
        except AwsCallError as error:
            if error.code == "AccessDenied":
                raise AwsCallError(
                    f"{error.message} Without iam:GetAccessKeyLastUsed the key's owner cannot be "
                    "found.",
                    service=error.service,
                    operation=error.operation,
                    resource=error.resource,
                    code=error.code,
                    request_id=error.request_id,
                    next_step="grant iam:GetAccessKeyLastUsed (see the README's permissions), "
                    "then run again",
                ) from error
            if error.code == "NoSuchEntity":
                raise WrongAccountError(
                    f"IAM in account {account} does not know the key {key_id}: check the key ID "
                    "for a typing mistake; if it is right, the key has been deleted already.",
                    next_step=f"remediate investigate --access-key-id {key_id}",
                ) from error
            raise
        user_name = last_used.user_name
        if user_name in ROOT_USER_NAMES:
            raise UsageError(
                f"{key_id} is an access key of the root user of account {account}. Only the root "
                "user can deactivate or delete it: sign in as root, open Security credentials, "
                "deactivate the key, and delete it once nothing uses it (AWS recommends that the "
                "root user has no access key at all).",
                next_step=f"remediate investigate --access-key-id {key_id}",
            )

        keys = ctx.aws.iam.list_access_keys(user_name)
        leaked = next((key for key in keys if key.access_key_id == key_id), None)
        if leaked is None:
            raise WrongAccountError(
                f"IAM reports that {user_name} owns {key_id}, but the user's key list does not "
                "contain it; it may have just been deleted.",
                next_step=f"remediate investigate --access-key-id {key_id}",
            )
        policies = _read_policies(ctx, user_name)
        user_arn = ctx.aws.iam.get_user_arn(user_name)
        now = ctx.now()

        outputs: dict[str, Any] = {
            "account": account,
            "temporary": False,
            "user_name": user_name,
            "user_arn": user_arn,
            "access_key": {
                **_key_record(leaked, now),
                "last_used_date": _maybe_time(last_used.last_used_date),
                "last_used_service": last_used.service_name,
                "last_used_region": last_used.region,
            },
            "other_keys": [_key_record(key, now) for key in keys if key.access_key_id != key_id],
            "policies": _policies_record(policies) if policies else None,
            "ses_send_sources": _ses_send_sources(policies) if policies else None,
            "rights_beyond_sending": rights_beyond_sending(documents_of(policies))
            if policies
            else None,
            "quarantine_policies": _quarantine_policies(policies) if policies else [],
            "operator_arn": operator.arn,
            "operator_owns_key": operator.arn == user_arn,
        }
        _show(ctx, outputs)
        ctx.write_evidence("iam-state", _iam_state(user_name, keys, last_used, policies))
        status = StepStatus.OK if policies else StepStatus.DEGRADED
        return StepResult(
            status,
            f"{key_id} belongs to IAM user {user_name} in account {account}; "
            f"it is {leaked.status}.",
            outputs,
        )


def _iam_state(
    user_name: str,
    keys: list[AccessKey],
    last_used: AccessKeyLastUsed,
    policies: UserPolicies | None,
) -> dict[str, Any]:
    """The user's IAM state as found, before any change: keys, last use and policy documents."""
    return {
        "user_name": user_name,
        "access_keys": [
            {
                "AccessKeyId": key.access_key_id,
                "Status": key.status,
                "CreateDate": format_timestamp(key.create_date),
            }
            for key in keys
        ],
        "leaked_key_last_used": {
            "LastUsedDate": _maybe_time(last_used.last_used_date),
            "ServiceName": last_used.service_name,
            "Region": last_used.region,
        },
        "policies": None
        if policies is None
        else {
            "inline": {policy.name: policy.document for policy in policies.inline},
            "attached": {policy.arn: policy.document for policy in policies.attached},
            "groups": {
                group.name: {
                    "inline": {policy.name: policy.document for policy in group.inline},
                    "attached": {policy.arn: policy.document for policy in group.attached},
                }
                for group in policies.groups
            },
        },
    }


def temporary_key_reason(ctx: StepContext) -> str | None:
    """The reason a rotation step does not apply: the key is temporary, or None."""
    if ctx.output_of("identify").get("temporary"):
        return (
            "a temporary (ASIA) key cannot be rotated or deactivated; "
            "its sessions are revoked instead"
        )
    return None


def _identify_temporary_key(ctx: StepContext, account: str, operator_arn: str) -> StepResult:
    """A temporary key cannot be rotated: find the principal whose sessions can be revoked."""
    key_id = ctx.access_key_id
    issuer = _find_issuer(ctx)
    outputs: dict[str, Any] = {
        "account": account,
        "temporary": True,
        "issuer": issuer,
        "operator_arn": operator_arn,
    }
    ctx.console.warning(
        f"{key_id} is a temporary (ASIA) access key of an STS session. It cannot be rotated, "
        "deactivated or used for SMTP; it stops working when its session expires (at most 36 "
        "hours for a session token, 12 for a role) or when the sessions of the principal that "
        "issued it are revoked."
    )
    if issuer:
        ctx.console.info(
            f"It was issued to {issuer['kind'].lower()} {issuer['name']} ({issuer['arn']})."
        )
        principal = f"{issuer['kind'].lower()} {issuer['name']}"
        summary = f"{key_id} is a temporary key of {principal} in {account}."
    else:
        ctx.console.warning(
            "CloudTrail shows no event of this key, so the issuing principal is unknown."
        )
        summary = f"{key_id} is a temporary key in {account}; its issuer is unknown."
    return StepResult(StepStatus.OK if issuer else StepStatus.DEGRADED, summary, outputs)


def _find_issuer(ctx: StepContext) -> dict[str, str] | None:
    """Read the first CloudTrail event made with the temporary key and name its issuer."""
    regions = dict.fromkeys([GLOBAL_EVENTS_REGION, *ctx.regions, ctx.aws.default_region])
    for region in regions:
        try:
            first = next(
                iter(ctx.aws.cloudtrail.lookup_events_by_access_key(region, ctx.access_key_id)),
                None,
            )
        except AwsCallError as error:
            ctx.record_gap(
                "cloudtrail:LookupEvents",
                f"the key's issuer could not be looked up: {error.message}",
                region=region,
            )
            continue
        if first is not None:
            issuer = issuer_of(first)
            if issuer is not None:
                return issuer
    return None


def issuer_of(item: dict[str, Any]) -> dict[str, str] | None:
    """Name the principal whose session a CloudTrail event's temporary key belongs to."""
    record = item.get("CloudTrailEvent")
    event = json.loads(record) if isinstance(record, str) else item
    identity = event.get("userIdentity") or {}
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    if issuer.get("type") == "Role" and issuer.get("userName"):
        return {"kind": "Role", "name": issuer["userName"], "arn": str(issuer.get("arn", ""))}
    if issuer.get("type") == "IAMUser" and issuer.get("userName"):
        return {"kind": "User", "name": issuer["userName"], "arn": str(issuer.get("arn", ""))}
    if identity.get("type") == "IAMUser" and identity.get("userName"):
        # A session token from GetSessionToken keeps the user's own identity.
        return {"kind": "User", "name": identity["userName"], "arn": str(identity.get("arn", ""))}
    return None


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
        "groups": [group.name for group in policies.groups],
    }


def _ses_send_sources(policies: UserPolicies) -> list[str]:
    documents = documents_of(policies)
    sources: list[str] = []
    for action in SES_SEND_ACTIONS:
        sources += [
            source for source in sources_allowing(documents, action) if source not in sources
        ]
    return sources


def _quarantine_policies(policies: UserPolicies) -> list[dict[str, Any]]:
    """Describe each AWSCompromisedKeyQuarantine policy: what it denies, and what it leaves open."""
    found = []
    for policy in policies.attached:
        if not policy.name.startswith(QUARANTINE_POLICY_PREFIX) or policy.document is None:
            continue
        effects = {
            action: statement_effect(policy.document, action) for action in SENDING_AND_KEY_ACTIONS
        }
        found.append(
            {
                "name": policy.name,
                "arn": policy.arn,
                "denies": [action for action, effect in effects.items() if effect == "Deny"],
                "leaves_open": [action for action, effect in effects.items() if effect != "Deny"],
            }
        )
    return found


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
    sources = outputs["ses_send_sources"]
    if sources is not None:
        rows.append(
            [
                "May send mail",
                "; ".join(sources) if sources else "no policy allows ses:SendRawEmail",
            ]
        )
    extra = outputs["rights_beyond_sending"]
    if extra:
        rows.append(["May also", describe_extra_rights(extra)])
    ctx.console.table(Table("The leaked key", ["", ""], rows))
    if outputs["operator_owns_key"]:
        ctx.console.warning(
            "You are signed in as the user that owns the leaked key. Use another principal."
        )
    for policy in outputs["quarantine_policies"]:
        open_actions = [a for a in policy["leaves_open"] if a.startswith("ses:")]
        ctx.console.warning(
            f"AWS attached {policy['name']} to this user. It denies "
            f"{', '.join(policy['denies']) or 'none of the key and sending actions'}, "
            + (
                f"but not {' or '.join(open_actions)}, so mail keeps flowing. "
                if open_actions
                else "including sending. "
            )
            + "remediate acts with your credentials, so the rotation is not blocked, and it never "
            "detaches the policy: ask AWS Support to lift it once the rotation is done."
        )
