"""Follow-ups: what is left to do after this report, most urgent first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from remediate.evidence.iam_policies import describe_extra_rights
from remediate.report.phases import PhaseView
from remediate.report.response import ConsumerView, ContainActionView, EradicationItemView
from remediate.report.sending import SendingView

# Consumers that keep the credential outside a secrets manager.
UNMANAGED_KINDS = {
    "file": "a file on disk",
    "manual": "a place updated by hand",
    "lambda": "Lambda environment variables",
}
# Brakes that stop legitimate mail too, so they must be released.
SENDING_BRAKES = frozenset({"pause-sending", "deny-sending"})


@dataclass(frozen=True)
class FollowUpFacts:
    """The facts the follow-ups depend on, gathered by the view builder."""

    access_key_id: str
    user_name: str
    rehearsal: bool
    verdict: str
    leaked_key_now: str
    temporary: bool
    delete_due: str | None
    outputs: dict[str, dict[str, Any]]
    phases: Sequence[PhaseView]
    sending: Sequence[SendingView]
    finding_ids: Sequence[str]
    consumers: Sequence[ConsumerView]
    left_behind: Sequence[dict[str, Any]]
    contain_actions: Sequence[ContainActionView]
    eradication: Sequence[EradicationItemView]


def build_follow_ups(facts: FollowUpFacts) -> list[str]:
    return [
        *_key_follow_ups(facts),
        *_brake_follow_ups(facts.contain_actions),
        *_account_follow_ups(facts),
        *_consumer_follow_ups(facts),
        *_attacker_follow_ups(facts),
    ]


def _key_follow_ups(facts: FollowUpFacts) -> list[str]:
    items = []
    key_id = facts.access_key_id
    resume = "remediate resume <this incident's directory>"
    if facts.rehearsal:
        resume = f"on a real incident, {resume}"
    if facts.leaked_key_now == "Active (rolled back)":
        items.append(
            f"Finish the rotation that was rolled back: fix what failed with the new credential, "
            f"then run {resume}. It switches the consumers to the new key again and deactivates "
            f"{key_id}. Do not deactivate {key_id} by hand before that: the consumers use it "
            "again."
        )
    elif facts.leaked_key_now.startswith("Active") and not facts.temporary:
        items.append(
            f"Deactivate the leaked key {key_id}, which is still active: aws iam "
            f"update-access-key --user-name {facts.user_name} --access-key-id {key_id} "
            "--status Inactive"
        )
    elif facts.delete_due:
        items.append(
            f"After {facts.delete_due}, delete the old key {key_id} if nothing broke: {resume}"
        )
    elif facts.leaked_key_now == "Inactive":
        items.append(
            f"Delete the old key {key_id} after a watch window (for example 7 days) in which its "
            f"last-used date does not move: aws iam delete-access-key --user-name "
            f"{facts.user_name} --access-key-id {key_id}"
        )
    escrow = facts.outputs.get("rotate", {}).get("escrow")
    if escrow:
        items.append(
            f"The new key's secret is kept in the Secrets Manager secret {escrow['region']}:"
            f"{escrow['name']}, its only copy: restrict who can read it, and keep it for "
            "deriving SMTP passwords of other regions."
        )
    identify = facts.outputs.get("identify", {})
    extra = _still_granted(identify.get("rights_beyond_sending") or [], facts)
    new_user = facts.outputs.get("rotate", {}).get("user_name")
    if extra and new_user in (None, facts.user_name):
        items.append(
            f"The user {facts.user_name} may do more than send mail: "
            f"{describe_extra_rights(extra)}. The new key has the same rights. Leave it only "
            "ses:SendRawEmail (and ses:SendEmail if a consumer calls the API)."
        )
    for policy in identify.get("quarantine_policies", []):
        items.append(
            f"AWS attached {policy['name']} to {facts.user_name}: open an AWS Support case to "
            "have it lifted once the rotation is done. It does not stop SES sending."
        )
    if facts.temporary:
        issuer = identify.get("issuer") or {}
        items.append(
            "Find how the attacker obtained the temporary key: the long-term credentials of "
            f"{issuer.get('arn') or 'the principal that issued it'} may have leaked too."
        )
    return items


def _still_granted(extra: list[dict[str, Any]], facts: FollowUpFacts) -> list[dict[str, Any]]:
    """Leave out the grants that eradication removed from the user (a group, an attachment)."""
    user = facts.user_name
    removed: set[str] = set()
    for item in facts.eradication:
        if item.action != "removed":
            continue
        if item.kind == "iam-group":
            removed.add(f"group {item.name}:")
        elif item.kind == "group-membership" and item.name.startswith(f"user/{user}/"):
            removed.add(f"group {item.name.removeprefix(f'user/{user}/')}:")
        elif item.kind == "policy-attachment" and item.name.startswith(f"user/{user}/"):
            removed.add(f"attached {item.name.rsplit('/', 1)[-1]}")
        elif item.kind == "inline-policy" and item.name.startswith(f"user/{user}/"):
            removed.add(f"inline {item.name.rsplit('/', 1)[-1]}")
    return [
        entry
        for entry in extra
        if not any(
            str(entry["source"]) == prefix or str(entry["source"]).startswith(prefix + " ")
            for prefix in removed
        )
    ]


def _brake_follow_ups(actions: Sequence[ContainActionView]) -> list[str]:
    return [
        f"Release {action.action} on {action.target}"
        + (f" in {', '.join(action.regions)}" if action.regions else "")
        + f" once legitimate mail may flow again: {action.undo}"
        for action in actions
        if action.action in SENDING_BRAKES and not action.undone
    ]


def _account_follow_ups(facts: FollowUpFacts) -> list[str]:
    items = []
    flagged = [region.region for region in facts.sending if region.flags]
    if flagged:
        items.append(
            "Review SES reputation (bounce and complaint rates, account status) in "
            + ", ".join(flagged)
            + "; AWS reviews accounts at about 5 % bounces or 0.1 % complaints."
        )
    for region in facts.sending:
        account = region.account
        if account is not None and account.review_status == "PENDING":
            case = f" (case {account.review_case_id})" if account.review_case_id else ""
            items.append(
                f"A production-access request is pending in {region.region}{case}: if the team "
                "did not make it, ask AWS Support to withdraw it."
            )
    return items


def _consumer_follow_ups(facts: FollowUpFacts) -> list[str]:
    items = [
        f"Check {item.get('name')} ({item.get('region')}), which was not switched "
        f"({item.get('reason')}): update it by hand if it used the leaked key."
        for item in facts.left_behind
    ]
    for consumer in facts.consumers:
        if consumer.kind in UNMANAGED_KINDS:
            items.append(
                f"Move the credential of {consumer.name} out of {UNMANAGED_KINDS[consumer.kind]} "
                "into a secrets manager (AWS Secrets Manager, or an SSM SecureString parameter), "
                "so that it is not kept in plain text and the next rotation can be automatic."
            )
    for item in facts.outputs.get("update-consumers", {}).get("consumers", []):
        if item.get("backup_path"):
            items.append(
                f"Delete {item['backup_path']}, the copy of {item.get('path')} made before the "
                "switch: it holds the leaked credential."
            )
    return items


def _attacker_follow_ups(facts: FollowUpFacts) -> list[str]:
    pending = {
        region.region
        for region in facts.sending
        if region.account is not None and region.account.review_status == "PENDING"
    }
    items = []
    # An item found by listing alone is most likely the team's own: only the kept items an
    # event ties to the attacker need a decision.
    for item in facts.eradication:
        if item.action != "kept" or item.created_by is None:
            continue
        creation = f"created by {item.created_by.event_name} at {item.created_by.event_time}"
        if item.kind == "production-access-request":
            if item.region not in pending:
                items.append(
                    f"Ask AWS Support to withdraw the production-access request in {item.region} "
                    f"({creation}); no API withdraws it."
                )
            continue
        region = f" ({item.region})" if item.region else ""
        items.append(
            f"Decide what to do with the {item.kind} {item.name}{region}, {creation}, which "
            "was kept."
        )
    for item in facts.eradication:
        if item.kind == "role-trust" and item.action == "reverted":
            items.append(
                f"Revoke the sessions of role {item.name} that the outside account may already "
                "hold: they stay valid until they expire (up to 12 hours). In the IAM console, "
                "the role's Revoke active sessions attaches AWSRevokeOlderSessions."
            )
    eradicated = any(
        phase.kind == "eradicate" and phase.status in {"ok", "degraded"} for phase in facts.phases
    )
    if eradicated:
        return items
    if any(finding_id.startswith("ses-identity") for finding_id in facts.finding_ids):
        items.append(
            "Remove the SES identities the attacker verified, and check their identity policies."
        )
    if facts.verdict == "compromised":
        items.append(
            "Look for persistence the attacker may have left: IAM users, keys, login profiles, "
            "role trusts."
        )
    return items
