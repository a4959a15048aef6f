"""How the eradicate step removes or reverts each kind of item: approval, calls and undo.

Every removal is a list of journaled calls. An item that is already gone when
its call arrives (a run stopped after the call and before its result was
journaled) counts as removed, so a resumed run never fails on its own work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from remediate.aws.base import CallReceipt
from remediate.aws.iam import UserAttachments
from remediate.core.errors import AwsCallError
from remediate.evidence.persistence import (
    ACCESS_KEY,
    ACCOUNT_SENDING,
    CONFIGURATION_SET,
    GROUP_MEMBERSHIP,
    IAM_GROUP,
    IAM_ROLE,
    IAM_USER,
    IDENTITY_POLICY,
    INLINE_POLICY,
    LOGIN_PROFILE,
    MANAGED_POLICY,
    POLICY_ATTACHMENT,
    POLICY_VERSION,
    PRODUCTION_ACCESS,
    ROLE_TRUST,
    SES_IDENTITY,
    PersistenceItem,
    version_of,
    without_outside_principals,
)
from remediate.evidence.persistence_sweep import (
    NOT_FOUND_CODES,
    GroupDependents,
    PolicyDependents,
    RoleDependents,
    group_dependents,
    policy_dependents,
    role_dependents,
    user_dependents,
)
from remediate.steps.base import PlannedCall, StepContext

REMOVED = "removed"
REVERTED = "reverted"
KEPT = "kept"

EVIDENCE_NAME = "eradicate-before"
EVIDENCE_FILE = f"evidence/{EVIDENCE_NAME}.json"


@dataclass(frozen=True)
class Removal:
    """The approval, output action, question verb and consequence of removing one kind of item."""

    approval: str
    action: str
    verb: str
    consequence: str


REMOVALS: Mapping[str, Removal] = {
    IAM_USER: Removal(
        "delete-iam-user",
        REMOVED,
        "Delete",
        "A deleted IAM user cannot be restored: a user created again with the same name has a "
        "new ID, and its keys and password are gone.",
    ),
    ACCESS_KEY: Removal(
        "delete-access-key", REMOVED, "Delete", "A deleted key cannot be restored."
    ),
    LOGIN_PROFILE: Removal(
        "delete-login-profile",
        REMOVED,
        "Delete",
        "The console password is gone for good; a new one can be set.",
    ),
    POLICY_ATTACHMENT: Removal(
        "remove-policy", REMOVED, "Remove", "Attaching the policy again undoes this."
    ),
    INLINE_POLICY: Removal(
        "remove-policy",
        REMOVED,
        "Delete",
        f"Its document is kept in {EVIDENCE_FILE} to put it back.",
    ),
    GROUP_MEMBERSHIP: Removal(
        "remove-from-group", REMOVED, "Remove", "Adding the user to the group again undoes this."
    ),
    IAM_ROLE: Removal(
        "delete-iam-role",
        REMOVED,
        "Delete",
        f"A deleted role cannot be restored; its trust and policies are kept in {EVIDENCE_FILE}.",
    ),
    ROLE_TRUST: Removal(
        "revert-role-trust",
        REVERTED,
        "Take the outside principals out of",
        f"The current trust policy is kept in {EVIDENCE_FILE} to put it back.",
    ),
    SES_IDENTITY: Removal(
        "delete-ses-identity",
        REMOVED,
        "Delete",
        "Verifying it again (a mail or DNS record) undoes this.",
    ),
    IDENTITY_POLICY: Removal(
        "delete-identity-policy",
        REMOVED,
        "Delete",
        f"Its document is kept in {EVIDENCE_FILE} to put it back.",
    ),
    ACCOUNT_SENDING: Removal(
        "disable-sending",
        REVERTED,
        "Pause",
        "The team's own mail in the region stops too, until sending is re-enabled.",
    ),
    IAM_GROUP: Removal(
        "delete-iam-group",
        REMOVED,
        "Delete",
        "A deleted group cannot be restored: a group created again has a new ID, and its "
        "members and policies must be added again.",
    ),
    MANAGED_POLICY: Removal(
        "delete-managed-policy",
        REMOVED,
        "Delete",
        f"A deleted policy cannot be restored; its document is kept in {EVIDENCE_FILE}.",
    ),
    POLICY_VERSION: Removal(
        "revert-policy-version",
        REVERTED,
        "Delete",
        f"Its document is kept in {EVIDENCE_FILE} to create it again.",
    ),
    CONFIGURATION_SET: Removal(
        "delete-configuration-set",
        REMOVED,
        "Delete",
        "Mail sent with this configuration set's name fails until it is created again; its "
        "event destinations go with it.",
    ),
}
APPROVALS = tuple(dict.fromkeys(removal.approval for removal in REMOVALS.values()))


@dataclass(frozen=True)
class Call:
    """One journaled call of a removal, and the function that makes it."""

    planned: PlannedCall
    action: Callable[[], CallReceipt]
    item: PersistenceItem
    # Whether NoSuchEntity means the work is done (a resource already removed).
    gone_is_done: bool = True


def label(item: PersistenceItem) -> str:
    """Name an item for the operator, with its owner and region."""
    kind, owner, subject = item.kind, item.owner, item.subject
    owner_label = f"{(item.owner_kind or 'User').lower()} {owner}"
    labels = {
        IAM_USER: f"IAM user {item.name}",
        ACCESS_KEY: f"access key {item.name} of user {owner}",
        LOGIN_PROFILE: f"the console password of user {owner}",
        POLICY_ATTACHMENT: f"the attachment of {subject} to {owner_label}",
        INLINE_POLICY: f"the inline policy {subject} of {owner_label}",
        GROUP_MEMBERSHIP: f"the membership of user {owner} in group {subject}",
        IAM_ROLE: f"IAM role {item.name}",
        ROLE_TRUST: f"the trust policy of role {item.name}",
        SES_IDENTITY: f"SES identity {item.name} in {item.region}",
        IDENTITY_POLICY: (
            f"the policy {item.name.removeprefix(f'{subject}/')} of SES identity {subject} "
            f"in {item.region}"
        ),
        ACCOUNT_SENDING: f"SES sending of account {item.name} in {item.region}",
        PRODUCTION_ACCESS: f"the SES production access request of account {item.name} in "
        f"{item.region}",
        IAM_GROUP: f"IAM group {item.name}",
        MANAGED_POLICY: f"managed policy {item.name}",
        POLICY_VERSION: f"version {version_of(item)} of managed policy {subject}",
        CONFIGURATION_SET: f"SES configuration set {item.name} in {item.region}",
    }
    return labels.get(kind, f"{kind} {item.name}")


def undo_of(item: PersistenceItem) -> str:
    """Return the undo that the outputs record for a removed or reverted item."""
    kind, owner = item.kind, item.owner or ""
    option = f"--{(item.owner_kind or 'User').lower()}-name {owner}"
    if kind == IAM_USER:
        return "none: a deleted IAM user cannot be restored"
    if kind == ACCESS_KEY:
        return "none: a deleted key cannot be restored"
    if kind == LOGIN_PROFILE:
        return (
            f"none: the password is gone; aws iam create-login-profile --user-name {owner} "
            "--password-reset-required sets a new one"
        )
    if kind == POLICY_ATTACHMENT:
        verb = f"attach-{(item.owner_kind or 'User').lower()}-policy"
        return f"aws iam {verb} {option} --policy-arn {item.subject}"
    if kind == INLINE_POLICY:
        verb = f"put-{(item.owner_kind or 'User').lower()}-policy"
        return (
            f"aws iam {verb} {option} --policy-name {item.subject} --policy-document "
            f"<its document in {EVIDENCE_FILE}>"
        )
    if kind == GROUP_MEMBERSHIP:
        return f"aws iam add-user-to-group --group-name {item.subject} --user-name {owner}"
    if kind == IAM_ROLE:
        return f"none: a deleted role cannot be restored; its trust is in {EVIDENCE_FILE}"
    if kind == ROLE_TRUST:
        return (
            f"aws iam update-assume-role-policy --role-name {item.name} --policy-document "
            f"<its trust policy in {EVIDENCE_FILE}>"
        )
    if kind == SES_IDENTITY:
        return (
            f"aws sesv2 create-email-identity --email-identity {item.name} --region "
            f"{item.region} (verification starts again)"
        )
    if kind == IAM_GROUP:
        return "none: a deleted group cannot be restored"
    if kind == MANAGED_POLICY:
        return f"none: a deleted policy cannot be restored; its document is in {EVIDENCE_FILE}"
    if kind == POLICY_VERSION:
        return (
            f"aws iam create-policy-version --policy-arn {item.subject} --policy-document "
            f"<its document in {EVIDENCE_FILE}> --set-as-default"
        )
    if kind == CONFIGURATION_SET:
        return (
            f"aws sesv2 create-configuration-set --configuration-set-name {item.name} "
            f"--region {item.region} (its event destinations are not restored)"
        )
    if kind == IDENTITY_POLICY:
        policy = item.name.removeprefix(f"{item.subject}/")
        return (
            f"aws sesv2 create-email-identity-policy --email-identity {item.subject} "
            f"--policy-name {policy} --policy <its document in {EVIDENCE_FILE}> "
            f"--region {item.region}"
        )
    return f"aws sesv2 put-account-sending-attributes --sending-enabled --region {item.region}"


def removal_calls(
    ctx: StepContext,
    item: PersistenceItem,
    state: Mapping[str, Any],
    *,
    account_id: str,
) -> list[Call]:
    """List the calls that remove or revert one item, without a user's or role's dependents."""
    iam, sesv2 = ctx.aws.iam, ctx.aws.sesv2
    kind, owner_kind, owner = item.kind, item.owner_kind or "User", item.owner or ""
    subject, region = item.subject or "", item.region or ""
    undo = undo_of(item)

    def call(operation: str, resource: str, description: str, **params: Any) -> PlannedCall:
        service = "sesv2" if region else "iam"
        return PlannedCall(
            service,
            operation,
            resource,
            description,
            region=item.region,
            params=params,
            undo=undo,
        )

    if kind == IAM_USER:
        return [
            Call(
                call("DeleteUser", item.name, f"delete IAM user {item.name}", UserName=item.name),
                lambda: iam.delete_user(item.name),
                item,
            )
        ]
    if kind == ACCESS_KEY:
        planned = call(
            "DeleteAccessKey",
            subject,
            f"delete access key {subject} of {owner}",
            UserName=owner,
            AccessKeyId=subject,
        )
        return [Call(planned, lambda: iam.delete_access_key(owner, subject), item)]
    if kind == LOGIN_PROFILE:
        planned = call(
            "DeleteLoginProfile", owner, f"delete the console password of {owner}", UserName=owner
        )
        return [Call(planned, lambda: iam.delete_login_profile(owner), item)]
    if kind == POLICY_ATTACHMENT:
        planned = call(
            f"Detach{owner_kind}Policy",
            f"{owner_kind.lower()} {owner}",
            f"detach {subject} from {owner_kind.lower()} {owner}",
            **{f"{owner_kind}Name": owner, "PolicyArn": subject},
        )
        return [Call(planned, lambda: iam.detach_policy(owner_kind, owner, subject), item)]
    if kind == INLINE_POLICY:
        planned = call(
            f"Delete{owner_kind}Policy",
            f"{owner_kind.lower()} {owner}",
            f"delete the inline policy {subject} of {owner_kind.lower()} {owner}",
            **{f"{owner_kind}Name": owner, "PolicyName": subject},
        )
        return [Call(planned, lambda: iam.delete_inline_policy(owner_kind, owner, subject), item)]
    if kind == GROUP_MEMBERSHIP:
        planned = call(
            "RemoveUserFromGroup",
            f"group {subject}",
            f"remove {owner} from group {subject}",
            GroupName=subject,
            UserName=owner,
        )
        return [Call(planned, lambda: iam.remove_user_from_group(subject, owner), item)]
    if kind == IAM_ROLE:
        planned = call("DeleteRole", item.name, f"delete role {item.name}", RoleName=item.name)
        return [Call(planned, lambda: iam.delete_role(item.name), item)]
    if kind == ROLE_TRUST:
        trust = without_outside_principals(state.get("trust_policy") or {}, account_id)
        planned = call(
            "UpdateAssumeRolePolicy",
            f"role {item.name}",
            f"remove {', '.join(state.get('outside') or [])} from the trust of role {item.name}",
            RoleName=item.name,
        )
        return [Call(planned, lambda: iam.update_assume_role_policy(item.name, trust), item)]
    if kind == IAM_GROUP:
        planned = call("DeleteGroup", item.name, f"delete group {item.name}", GroupName=item.name)
        return [Call(planned, lambda: iam.delete_group(item.name), item)]
    if kind == MANAGED_POLICY:
        planned = call("DeletePolicy", item.name, f"delete policy {item.name}", PolicyArn=item.name)
        return [Call(planned, lambda: iam.delete_policy(item.name), item)]
    if kind == POLICY_VERSION:
        return _policy_version_calls(ctx, item, state, call)
    if kind == CONFIGURATION_SET:
        planned = call(
            "DeleteConfigurationSet",
            item.name,
            f"delete SES configuration set {item.name}",
            ConfigurationSetName=item.name,
        )
        return [Call(planned, lambda: sesv2.delete_configuration_set(region, item.name), item)]
    if kind == SES_IDENTITY:
        planned = call(
            "DeleteEmailIdentity",
            item.name,
            f"delete SES identity {item.name}",
            EmailIdentity=item.name,
        )
        return [Call(planned, lambda: sesv2.delete_email_identity(region, item.name), item)]
    if kind == IDENTITY_POLICY:
        policy = item.name.removeprefix(f"{subject}/")
        planned = call(
            "DeleteEmailIdentityPolicy",
            subject,
            f"delete the policy {policy} of SES identity {subject}",
            EmailIdentity=subject,
            PolicyName=policy,
        )
        return [
            Call(planned, lambda: sesv2.delete_email_identity_policy(region, subject, policy), item)
        ]
    planned = call(
        "PutAccountSendingAttributes",
        f"SES sending of account {account_id}",
        f"pause SES sending in {region} again",
        SendingEnabled=False,
    )
    return [
        Call(planned, lambda: sesv2.put_account_sending_attributes(region, enabled=False), item)
    ]


def _policy_version_calls(
    ctx: StepContext,
    item: PersistenceItem,
    state: Mapping[str, Any],
    call: Callable[..., PlannedCall],
) -> list[Call]:
    """List the calls that make the version before the attacker's the default, then delete it."""
    iam = ctx.aws.iam
    policy_arn, version = item.subject or "", version_of(item)
    calls: list[Call] = []
    restore = state.get("restore")
    if state.get("default") and restore:
        planned = call(
            "SetDefaultPolicyVersion",
            policy_arn,
            f"make version {restore} of {policy_arn} the default again",
            PolicyArn=policy_arn,
            VersionId=restore,
        )
        # A restore version that is gone is a failure, not a removal already made.
        calls.append(
            Call(
                planned,
                partial(iam.set_default_policy_version, policy_arn, restore),
                item,
                gone_is_done=False,
            )
        )
    planned = call(
        "DeletePolicyVersion",
        policy_arn,
        f"delete version {version} of {policy_arn}",
        PolicyArn=policy_arn,
        VersionId=version,
    )
    calls.append(Call(planned, partial(iam.delete_policy_version, policy_arn, version), item))
    return calls


def _removals(ctx: StepContext, items: list[PersistenceItem], *, account_id: str) -> list[Call]:
    """List the calls that remove each item in turn, as a dependent of something deleted."""
    return [call for item in items for call in removal_calls(ctx, item, {}, account_id=account_id)]


def group_deletion_calls(
    ctx: StepContext, group: str, dependents: GroupDependents, *, account_id: str
) -> list[Call]:
    """List the calls that delete a group, after its members and policies."""
    items = [*group_dependents(group, dependents), PersistenceItem(IAM_GROUP, group)]
    return _removals(ctx, items, account_id=account_id)


def policy_deletion_calls(
    ctx: StepContext, policy_arn: str, dependents: PolicyDependents, *, account_id: str
) -> list[Call]:
    """List the calls that delete a managed policy, after its attachments and older versions."""
    items = [
        *policy_dependents(policy_arn, dependents),
        PersistenceItem(MANAGED_POLICY, policy_arn),
    ]
    return _removals(ctx, items, account_id=account_id)


def user_deletion_calls(
    ctx: StepContext, user: str, attachments: UserAttachments, *, account_id: str
) -> list[Call]:
    """List the calls that delete a user, after everything IAM requires gone first."""
    calls = _removals(ctx, user_dependents(user, attachments), account_id=account_id)
    calls += user_cleanup_calls(ctx, user, attachments)
    return calls + removal_calls(ctx, PersistenceItem(IAM_USER, user), {}, account_id=account_id)


def role_deletion_calls(
    ctx: StepContext,
    role: str,
    state: Mapping[str, Any],
    dependents: RoleDependents,
    *,
    account_id: str,
) -> list[Call]:
    """List the calls that delete a role, after its policies and instance profiles."""
    calls = role_cleanup_calls(ctx, role, dependents)
    for policy in role_dependents(role, dependents):
        calls += removal_calls(ctx, policy, {}, account_id=account_id)
    return calls + removal_calls(ctx, PersistenceItem(IAM_ROLE, role), state, account_id=account_id)


def user_cleanup_calls(ctx: StepContext, user: str, attachments: UserAttachments) -> list[Call]:
    """List the calls that remove a user's MFA devices, signing certificates and SSH keys.

    MFA devices are deactivated (a virtual device stays in the account, detached),
    and signing certificates and SSH public keys are deleted.
    """
    iam = ctx.aws.iam
    item = PersistenceItem(IAM_USER, user)
    undo = "none: part of deleting the user"
    calls = [
        Call(
            PlannedCall(
                "iam",
                "DeactivateMFADevice",
                serial,
                f"deactivate MFA device {serial} of {user}",
                params={"UserName": user, "SerialNumber": serial},
                undo=undo,
            ),
            partial(iam.deactivate_mfa_device, user, serial),
            item,
        )
        for serial in attachments.mfa_devices
    ]
    calls += [
        Call(
            PlannedCall(
                "iam",
                "DeleteSigningCertificate",
                certificate,
                f"delete signing certificate {certificate} of {user}",
                params={"UserName": user, "CertificateId": certificate},
                undo=undo,
            ),
            partial(iam.delete_signing_certificate, user, certificate),
            item,
        )
        for certificate in attachments.signing_certificates
    ]
    calls += [
        Call(
            PlannedCall(
                "iam",
                "DeleteSSHPublicKey",
                key,
                f"delete SSH public key {key} of {user}",
                params={"UserName": user, "SSHPublicKeyId": key},
                undo=undo,
            ),
            partial(iam.delete_ssh_public_key, user, key),
            item,
        )
        for key in attachments.ssh_public_keys
    ]
    return calls


def role_cleanup_calls(ctx: StepContext, role: str, dependents: RoleDependents) -> list[Call]:
    """List the calls that take a role out of its instance profiles, as DeleteRole requires."""
    iam = ctx.aws.iam
    item = PersistenceItem(IAM_ROLE, role)
    return [
        Call(
            PlannedCall(
                "iam",
                "RemoveRoleFromInstanceProfile",
                f"instance profile {profile}",
                f"remove role {role} from instance profile {profile}",
                params={"InstanceProfileName": profile, "RoleName": role},
                undo=(
                    f"aws iam add-role-to-instance-profile --instance-profile-name {profile} "
                    f"--role-name {role}"
                ),
            ),
            partial(iam.remove_role_from_instance_profile, profile, role),
            item,
        )
        for profile in dependents.instance_profiles
    ]


def make_call(ctx: StepContext, call: Call) -> None:
    """Make one journaled call; a resource already gone counts as removed."""

    not_found: list[str] = []

    def action() -> CallReceipt:
        try:
            return call.action()
        except AwsCallError as error:
            if call.gone_is_done and error.code in NOT_FOUND_CODES:
                not_found.append(error.code)
                return CallReceipt(request_id=error.request_id)
            raise

    def describe(_receipt: CallReceipt) -> dict[str, Any]:
        details: dict[str, Any] = {"item": call.item.key}
        if not_found:
            # The resource was gone already, so this call changed nothing.
            details["already_gone"] = not_found[0]
        return details

    ctx.mutate(call.planned, action, describe=describe)
