"""Applying and lifting one containment brake: its question, its approval and its calls."""

from __future__ import annotations

from remediate.aws.iam import INACTIVE
from remediate.core.interaction import Choice, Question, QuestionKind
from remediate.core.timeutil import format_timestamp
from remediate.steps.base import StepContext
from remediate.steps.containment import (
    DEACTIVATE_NOW,
    DENY_POLICY_NAME,
    DENY_SENDING,
    DENY_SENDING_POLICY,
    PAUSE_SENDING,
    REVOKE_SESSIONS,
    Brake,
    account_id,
    deactivate_call,
    delete_policy_call,
    delete_policy_command,
    key_status,
    pause_call,
    put_policy_call,
    reactivate_command,
    resume_call,
    resume_command,
    user_name,
)
from remediate.steps.revoke_sessions import POLICY_NAME as REVOKE_POLICY_NAME
from remediate.steps.revoke_sessions import revoke_policy


def apply_brake(ctx: StepContext, action: str, reason: str) -> Brake | None:
    """Ask for the brake's approval and apply it; return None when it is declined."""
    if action == PAUSE_SENDING:
        return _pause_sending(ctx, reason)
    if action == DENY_SENDING:
        return _deny_sending(ctx, reason)
    if action == DEACTIVATE_NOW:
        return _deactivate_now(ctx, reason)
    return _revoke_sessions(ctx, reason)


def lift_brake(ctx: StepContext, brake: Brake) -> bool:
    """Ask whether to lift the brake and lift it; return whether it is lifted."""
    if brake.action == PAUSE_SENDING:
        return _resume_sending(ctx, brake)
    policy = DENY_POLICY_NAME if brake.action == DENY_SENDING else REVOKE_POLICY_NAME
    return _delete_policy(ctx, brake, policy)


def _approved(ctx: StepContext, action: str, approval: str, message: str) -> bool:
    answer = ctx.ask(
        Question(
            f"contain.{action}", message, QuestionKind.CONFIRM, default=False, approval=approval
        )
    )
    if answer is not True:
        ctx.console.info(f"Not applied: {action}, as the operator chose.")
    return answer is True


def _pause_sending(ctx: StepContext, reason: str) -> Brake | None:
    regions = _chosen_regions(ctx)
    to_pause = []
    for region in regions:
        enabled = ctx.aws.sesv2.get_account(region).sending_enabled
        if enabled or region in _paused_by_incident(ctx):
            to_pause.append(region)
        else:
            ctx.console.warning(
                f"SES sending is already paused in {region}, by AWS or by someone else; it is "
                "left as it is, and this incident will not re-enable it."
            )
    if not to_pause:
        return None
    where = ", ".join(to_pause)
    if not _approved(
        ctx,
        PAUSE_SENDING,
        "pause-sending",
        f"Pause SES sending of account {account_id(ctx)} in {where}? Every sender there stops, "
        "the team's own mail included, until sending is re-enabled; the playbook's lift step "
        "re-enables exactly these regions.",
    ):
        return None
    for region in to_pause:
        _switch_sending(ctx, region, enabled=False)
    return Brake(
        PAUSE_SENDING,
        account_id(ctx),
        tuple(to_pause),
        reason,
        "; ".join(resume_command(region) for region in to_pause),
    )


def _chosen_regions(ctx: StepContext) -> list[str]:
    """Ask which regions to pause; no region is preselected, because a guess stops real mail."""
    investigation = ctx.output_of("investigate")
    sending = set(investigation.get("sending_regions") or [])
    suspect = set(investigation.get("suspect_regions") or [])
    regions = sorted(sending | suspect | set(ctx.regions)) or [ctx.aws.default_region]

    def label(region: str) -> str:
        facts = [
            text
            for text, holds in (
                ("sent mail in the last two weeks", region in sending),
                ("flagged by the investigation", region in suspect),
            )
            if holds
        ]
        return f"{region} ({', '.join(facts)})" if facts else region

    answer = ctx.ask(
        Question(
            "contain.pause-regions",
            "In which regions should SES sending be paused?",
            QuestionKind.CHECKBOX,
            choices=tuple(Choice(region, label(region)) for region in regions),
        )
    )
    return [region for region in regions if isinstance(answer, list) and region in answer]


def _switch_sending(ctx: StepContext, region: str, *, enabled: bool) -> None:
    call = resume_call(ctx, region) if enabled else pause_call(ctx, region)
    ctx.mutate(
        call,
        lambda: ctx.aws.sesv2.put_account_sending_attributes(region, enabled=enabled),
        describe=lambda _receipt: {"region": region, "sending_enabled": enabled},
    )


def _paused_by_incident(ctx: StepContext) -> set[str]:
    """Regions where this incident's own earlier call paused sending (a resumed run)."""
    return {
        str(details.get("region"))
        for details in ctx.completed_calls("PutAccountSendingAttributes")
        if details.get("sending_enabled") is False
    }


def _deny_sending(ctx: StepContext, reason: str) -> Brake | None:
    user = user_name(ctx)
    if not _approved(
        ctx,
        DENY_SENDING,
        "deny-sending",
        f"Attach the inline policy {DENY_POLICY_NAME} to IAM user {user}? It denies ses:Send* "
        f"to every key of {user}: the leaked key, and also the new key that rotate creates for "
        "the same user, so consumers switched to it cannot send either until the deny is "
        "lifted after update-consumers. A new SMTP user from rotate is not affected.",
    ):
        return None
    ctx.mutate(
        put_policy_call(ctx, DENY_POLICY_NAME, "deny ses:Send* to every key of the user"),
        lambda: ctx.aws.iam.put_inline_policy(
            "User", user, DENY_POLICY_NAME, dict(DENY_SENDING_POLICY)
        ),
    )
    return Brake(DENY_SENDING, user, (), reason, delete_policy_command(user, DENY_POLICY_NAME))


def _deactivate_now(ctx: StepContext, reason: str) -> Brake | None:
    user, key_id = user_name(ctx), ctx.access_key_id
    if not _approved(
        ctx,
        DEACTIVATE_NOW,
        "deactivate-now",
        f"Deactivate the leaked key {key_id} of {user} now, before its consumers are switched? "
        "Everything that uses it, SMTP senders included, fails until update-consumers switches "
        "it to the new key. Reactivating the key undoes this.",
    ):
        return None
    if key_status(ctx) != INACTIVE:
        ctx.mutate(
            deactivate_call(ctx), lambda: ctx.aws.iam.update_access_key(user, key_id, INACTIVE)
        )
    ctx.console.warning(
        f"{key_id} is Inactive: its consumers fail until they are switched to the new key."
    )
    return Brake(DEACTIVATE_NOW, key_id, (), reason, reactivate_command(user, key_id))


def _revoke_sessions(ctx: StepContext, reason: str) -> Brake | None:
    user = user_name(ctx)
    investigation = ctx.output_of("investigate")
    sessions = investigation.get("session_access_key_ids") or []
    assumed = [
        credential
        for credential in investigation.get("derived_credentials") or []
        if (credential.get("obtained_by") or {}).get("eventName") == "AssumeRole"
    ]
    seen = f" The investigation saw {len(sessions)}: {', '.join(sessions)}." if sessions else ""
    # A role session is the role's, so a policy on the user does not reach it.
    not_covered = (
        f" {len(assumed)} of them are role sessions (AssumeRole), which this does not reach: "
        "revoke them on each role in the IAM console."
        if assumed
        else ""
    )
    if not _approved(
        ctx,
        REVOKE_SESSIONS,
        "revoke-user-sessions",
        f"Deny every temporary session of IAM user {user} issued before now (the inline policy "
        f"{REVOKE_POLICY_NAME})? Session keys obtained with GetSessionToken or "
        f"GetFederationToken stop working.{seen} Long-term keys, the new key among them, are "
        f"not affected.{not_covered}",
    ):
        return None
    issued_before = format_timestamp(ctx.now().replace(microsecond=0))
    ctx.mutate(
        put_policy_call(
            ctx, REVOKE_POLICY_NAME, f"deny every session issued before {issued_before}"
        ),
        lambda: ctx.aws.iam.put_inline_policy(
            "User", user, REVOKE_POLICY_NAME, revoke_policy(issued_before)
        ),
    )
    return Brake(REVOKE_SESSIONS, user, (), reason, delete_policy_command(user, REVOKE_POLICY_NAME))


def _resume_sending(ctx: StepContext, brake: Brake) -> bool:
    where = ", ".join(brake.regions)
    if ctx.output_of("identify").get("temporary"):
        # A temporary key cannot be deactivated: it is off once its sessions are revoked.
        still_active = not ctx.output_of("revoke-sessions").get("revoked")
        state = "its sessions are not revoked" if still_active else "its sessions are revoked"
    else:
        status = key_status(ctx)
        still_active = status == "Active"
        state = f"it is {status}"
    warning = f" The leaked key {ctx.access_key_id}: {state}"
    warning += ", so it could send again." if still_active else "."
    answer = ctx.ask(
        Question(
            f"contain.lift.{PAUSE_SENDING}",
            f"Re-enable SES sending in {where}, where this incident paused it?{warning}",
            QuestionKind.CONFIRM,
            default=not still_active,
        )
    )
    if answer is not True:
        ctx.console.warning(f"SES sending stays paused in {where}. To resume it: {brake.undo}")
        return False
    for region in brake.regions:
        if ctx.aws.sesv2.get_account(region).sending_enabled:
            ctx.console.info(f"SES sending is already enabled again in {region}.")
            continue
        _switch_sending(ctx, region, enabled=True)
    return True


def _delete_policy(ctx: StepContext, brake: Brake, policy: str) -> bool:
    user = brake.target
    consequence = (
        f" The consumers now use the new key, which the deny stops as well; the leaked key "
        f"{ctx.access_key_id} is {key_status(ctx)}."
        if brake.action == DENY_SENDING
        else ""
    )
    answer = ctx.ask(
        Question(
            f"contain.lift.{brake.action}",
            f"Remove the inline policy {policy} from IAM user {user}?{consequence}",
            QuestionKind.CONFIRM,
            default=True,
        )
    )
    if answer is not True:
        ctx.console.warning(f"{policy} stays on {user}. To remove it: {brake.undo}")
        return False
    if ctx.aws.iam.get_inline_policy("User", user, policy) is None:
        ctx.console.info(f"{policy} is no longer on {user}.")
        return True
    ctx.mutate(
        delete_policy_call(ctx, policy, f"lift: {brake.describe()}"),
        lambda: ctx.aws.iam.delete_inline_policy("User", user, policy),
    )
    return True
