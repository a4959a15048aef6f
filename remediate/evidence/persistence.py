"""Items an attacker may leave behind, as the persistence sweep names them.

An item (an IAM user, an access key, a role's trust, an SES identity, ...) is
tied to the attacker by the CloudTrail event that created or changed it, made
with the leaked key or a key obtained from it. `items_from_events` reads those
events; `remediate.evidence.persistence_sweep` lists the account itself and
checks what still exists.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from remediate.core.timeutil import format_timestamp
from remediate.evidence.events import TrailEvent, sort_events

# Item kinds, as the eradicate step's outputs name them.
IAM_USER = "iam-user"
ACCESS_KEY = "access-key"
LOGIN_PROFILE = "login-profile"
POLICY_ATTACHMENT = "policy-attachment"
INLINE_POLICY = "inline-policy"
GROUP_MEMBERSHIP = "group-membership"
IAM_ROLE = "iam-role"
ROLE_TRUST = "role-trust"
SES_IDENTITY = "ses-identity"
IDENTITY_POLICY = "identity-policy"
ACCOUNT_SENDING = "account-sending"
PRODUCTION_ACCESS = "production-access-request"
IAM_GROUP = "iam-group"
MANAGED_POLICY = "managed-policy"
POLICY_VERSION = "policy-version"
CONFIGURATION_SET = "configuration-set"

# Calls that leave something behind, and the kind of item each one creates or changes.
IAM_CALLS: Mapping[str, str] = {
    "CreateUser": IAM_USER,
    "CreateAccessKey": ACCESS_KEY,
    "CreateLoginProfile": LOGIN_PROFILE,
    "UpdateLoginProfile": LOGIN_PROFILE,
    "AttachUserPolicy": POLICY_ATTACHMENT,
    "AttachGroupPolicy": POLICY_ATTACHMENT,
    "AttachRolePolicy": POLICY_ATTACHMENT,
    "PutUserPolicy": INLINE_POLICY,
    "PutGroupPolicy": INLINE_POLICY,
    "PutRolePolicy": INLINE_POLICY,
    "AddUserToGroup": GROUP_MEMBERSHIP,
    "CreateRole": IAM_ROLE,
    "UpdateAssumeRolePolicy": ROLE_TRUST,
    "CreateGroup": IAM_GROUP,
    "CreatePolicy": MANAGED_POLICY,
    "CreatePolicyVersion": POLICY_VERSION,
}
SES_CALLS: Mapping[str, str] = {
    "VerifyEmailIdentity": SES_IDENTITY,
    "VerifyEmailAddress": SES_IDENTITY,
    "VerifyDomainIdentity": SES_IDENTITY,
    "CreateEmailIdentity": SES_IDENTITY,
    "PutIdentityPolicy": IDENTITY_POLICY,
    "CreateEmailIdentityPolicy": IDENTITY_POLICY,
    "UpdateEmailIdentityPolicy": IDENTITY_POLICY,
    "UpdateAccountSendingEnabled": ACCOUNT_SENDING,
    "PutAccountSendingAttributes": ACCOUNT_SENDING,
    "PutAccountDetails": PRODUCTION_ACCESS,
    "CreateConfigurationSet": CONFIGURATION_SET,
}
IAM_SOURCE = "iam.amazonaws.com"
SES_SOURCE = "ses.amazonaws.com"

# The identity parameter of each SES call, in SES version 1 and version 2.
_IDENTITY_PARAMETERS = ("emailAddress", "domain", "emailIdentity", "identity")
_ACCOUNT_ID = re.compile(r"^\d{12}$")

# The policy AWS attaches to an exposed key's user. Only AWS Support lifts it.
QUARANTINE_POLICY_ARN_PREFIX = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine"

# A trust policy that lets no one assume the role, for a role whose every
# trusted principal was outside the account.
# NOTE: IAM is expected to accept a trust policy made of a Deny statement
# alone; only moto has been seen to accept it.
DENY_ALL_TRUST: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class CreatingEvent:
    """The CloudTrail event that created or changed an item."""

    event_id: str
    event_name: str
    event_time: str

    @classmethod
    def of(cls, event: TrailEvent) -> CreatingEvent:
        return cls(event.ref, event.event_name or "", format_timestamp(event.event_time))

    def to_record(self) -> dict[str, str]:
        return {
            "eventID": self.event_id,
            "eventName": self.event_name,
            "eventTime": self.event_time,
        }

    def describe(self) -> str:
        return f"{self.event_name} (event {self.event_id} at {self.event_time})"


@dataclass(frozen=True)
class PersistenceItem:
    """One thing in the account that may be the attacker's.

    `owner_kind` ("User", "Group" or "Role") and `owner` name the principal an
    access key, login profile, policy or group membership belongs to.
    `subject` is what is attached there: a policy ARN, an inline policy's
    name, a group's name, or, for an identity policy, the identity. For a
    policy version, `subject` is the managed policy's ARN.
    `created_by` is None for an item found only by listing the account.
    """

    kind: str
    name: str
    region: str | None = None
    owner_kind: str | None = None
    owner: str | None = None
    subject: str | None = None
    created_by: CreatingEvent | None = None

    @property
    def key(self) -> str:
        """Identify the item, region included; question ids and answers files use it."""
        if self.region:
            return f"{self.kind}.{self.region}.{self.name}"
        return f"{self.kind}.{self.name}"

    def tied(self, event: CreatingEvent) -> PersistenceItem:
        return PersistenceItem(
            self.kind, self.name, self.region, self.owner_kind, self.owner, self.subject, event
        )


def user_item(user_name: str) -> PersistenceItem:
    return PersistenceItem(IAM_USER, user_name)


def access_key_item(user_name: str, access_key_id: str) -> PersistenceItem:
    return PersistenceItem(
        ACCESS_KEY, access_key_id, owner_kind="User", owner=user_name, subject=access_key_id
    )


def login_profile_item(user_name: str) -> PersistenceItem:
    return PersistenceItem(LOGIN_PROFILE, user_name, owner_kind="User", owner=user_name)


def attachment_item(owner_kind: str, owner: str, policy_arn: str) -> PersistenceItem:
    return PersistenceItem(
        POLICY_ATTACHMENT,
        f"{owner_kind.lower()}/{owner}/{policy_arn}",
        owner_kind=owner_kind,
        owner=owner,
        subject=policy_arn,
    )


def inline_policy_item(owner_kind: str, owner: str, policy_name: str) -> PersistenceItem:
    return PersistenceItem(
        INLINE_POLICY,
        f"{owner_kind.lower()}/{owner}/{policy_name}",
        owner_kind=owner_kind,
        owner=owner,
        subject=policy_name,
    )


def membership_item(user_name: str, group_name: str) -> PersistenceItem:
    return PersistenceItem(
        GROUP_MEMBERSHIP,
        f"user/{user_name}/{group_name}",
        owner_kind="User",
        owner=user_name,
        subject=group_name,
    )


def role_item(role_name: str) -> PersistenceItem:
    return PersistenceItem(IAM_ROLE, role_name)


def role_trust_item(role_name: str) -> PersistenceItem:
    return PersistenceItem(ROLE_TRUST, role_name)


def group_item(group_name: str) -> PersistenceItem:
    return PersistenceItem(IAM_GROUP, group_name)


def managed_policy_item(policy_arn: str) -> PersistenceItem:
    return PersistenceItem(MANAGED_POLICY, policy_arn)


def policy_version_item(policy_arn: str, version_id: str) -> PersistenceItem:
    return PersistenceItem(POLICY_VERSION, f"{policy_arn}/{version_id}", subject=policy_arn)


def version_of(item: PersistenceItem) -> str:
    """Return the version ID (`v3`) of a policy-version item."""
    return item.name.removeprefix(f"{item.subject}/")


def configuration_set_item(region: str, name: str) -> PersistenceItem:
    return PersistenceItem(CONFIGURATION_SET, name, region=region)


def identity_item(region: str, identity: str) -> PersistenceItem:
    return PersistenceItem(SES_IDENTITY, identity, region=region)


def identity_policy_item(region: str, identity: str, policy_name: str) -> PersistenceItem:
    return PersistenceItem(
        IDENTITY_POLICY, f"{identity}/{policy_name}", region=region, subject=identity
    )


def account_item(kind: str, region: str, account_id: str | None) -> PersistenceItem:
    """Name a setting of the SES account in one region (sending, production access)."""
    return PersistenceItem(kind, account_id or "account", region=region)


def items_from_events(events: Iterable[TrailEvent]) -> list[PersistenceItem]:
    """Name the item each successful persistence call left, with the earliest event behind it.

    A call that failed (an errorCode) left nothing. A call whose parameters do
    not name the item (a LookupEvents summary without the record, say) is left
    out, and the account listing still finds what it created.
    """
    found: dict[str, PersistenceItem] = {}
    for event in sort_events(events):
        if event.error_code:
            continue
        item = _item_of(event)
        if item is not None and item.key not in found:
            found[item.key] = item.tied(CreatingEvent.of(event))
    return list(found.values())


def _item_of(event: TrailEvent) -> PersistenceItem | None:
    name = event.event_name or ""
    parameters = event.request_parameters or {}
    if event.event_source == IAM_SOURCE and name in IAM_CALLS:
        return _iam_item(event, name, parameters)
    if event.event_source == SES_SOURCE and name in SES_CALLS and event.aws_region:
        return _ses_item(event.aws_region, name, parameters, event.recipient_account_id)
    return None


def _iam_item(
    event: TrailEvent, name: str, parameters: Mapping[str, Any]
) -> PersistenceItem | None:
    kind = IAM_CALLS[name]
    # Calls on a user that name no user act on the caller's own user.
    user = _text(parameters.get("userName")) or event.user_name
    if kind == IAM_USER:
        created = _text(parameters.get("userName"))
        return user_item(created) if created else None
    if kind == ACCESS_KEY:
        created = (event.response_elements or {}).get("accessKey")
        if not isinstance(created, dict) or not _text(created.get("accessKeyId")):
            return None
        owner = _text(created.get("userName")) or user
        return access_key_item(owner, str(created["accessKeyId"])) if owner else None
    if kind == LOGIN_PROFILE:
        return login_profile_item(user) if user else None
    if kind == GROUP_MEMBERSHIP:
        group = _text(parameters.get("groupName"))
        return membership_item(user, group) if user and group else None
    if kind in (IAM_ROLE, ROLE_TRUST):
        role = _text(parameters.get("roleName"))
        if role is None:
            return None
        return role_item(role) if kind == IAM_ROLE else role_trust_item(role)
    if kind == IAM_GROUP:
        group = _text(parameters.get("groupName"))
        return group_item(group) if group else None
    if kind == MANAGED_POLICY:
        arn = _created_policy_arn(event, parameters)
        return managed_policy_item(arn) if arn else None
    if kind == POLICY_VERSION:
        arn = _text(parameters.get("policyArn"))
        created = (event.response_elements or {}).get("policyVersion")
        version = _text(created.get("versionId")) if isinstance(created, dict) else None
        return policy_version_item(arn, version) if arn and version else None
    owner_kind, owner = _policy_owner(name, parameters, user)
    if owner is None:
        return None
    if kind == POLICY_ATTACHMENT:
        arn = _text(parameters.get("policyArn"))
        return attachment_item(owner_kind, owner, arn) if arn else None
    policy = _text(parameters.get("policyName"))
    return inline_policy_item(owner_kind, owner, policy) if policy else None


def _created_policy_arn(event: TrailEvent, parameters: Mapping[str, Any]) -> str | None:
    """Return the ARN of the policy a CreatePolicy event made, from its response or its request."""
    created = (event.response_elements or {}).get("policy")
    if isinstance(created, dict) and _text(created.get("arn")):
        return str(created["arn"])
    name, account = _text(parameters.get("policyName")), event.recipient_account_id
    if name is None or account is None:
        return None
    path = _text(parameters.get("path")) or "/"
    return f"arn:aws:iam::{account}:policy{path}{name}"


def _policy_owner(
    name: str, parameters: Mapping[str, Any], user: str | None
) -> tuple[str, str | None]:
    if "Group" in name:
        return "Group", _text(parameters.get("groupName"))
    if "Role" in name:
        return "Role", _text(parameters.get("roleName"))
    return "User", user


def _ses_item(
    region: str, name: str, parameters: Mapping[str, Any], account_id: str | None
) -> PersistenceItem | None:
    kind = SES_CALLS[name]
    identity = next(
        (_text(parameters.get(key)) for key in _IDENTITY_PARAMETERS if parameters.get(key)), None
    )
    if kind == SES_IDENTITY:
        return identity_item(region, identity) if identity else None
    if kind == CONFIGURATION_SET:
        configuration_set = _configuration_set_name(parameters)
        return configuration_set_item(region, configuration_set) if configuration_set else None
    if kind == IDENTITY_POLICY:
        policy = _text(parameters.get("policyName"))
        return identity_policy_item(region, identity, policy) if identity and policy else None
    if kind == ACCOUNT_SENDING:
        enabled = parameters.get("enabled", parameters.get("sendingEnabled"))
        # Pausing sending leaves nothing to remove.
        return account_item(ACCOUNT_SENDING, region, account_id) if enabled else None
    if parameters.get("productionAccessEnabled"):
        return account_item(PRODUCTION_ACCESS, region, account_id)
    return None


def _configuration_set_name(parameters: Mapping[str, Any]) -> str | None:
    """Name the configuration set of a CreateConfigurationSet call (SES version 2, or 1)."""
    name = _text(parameters.get("configurationSetName"))
    if name is None:
        created = parameters.get("configurationSet")
        name = _text(created.get("name")) if isinstance(created, dict) else None
    return name


def outside_principals(trust_policy: Mapping[str, Any], account_id: str) -> list[str]:
    """List the principals of Allow statements that are outside the account (or anyone, `*`).

    AWS services and identity providers (Service, Federated) are not outside
    principals; a NotPrincipal in an Allow statement trusts everyone else.
    """
    found: list[str] = []
    for statement in _statements(trust_policy):
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement:
            found.append("NotPrincipal")
            continue
        found += [value for value in _aws_principals(statement) if _is_outside(value, account_id)]
    return list(dict.fromkeys(found))


def without_outside_principals(trust_policy: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """Return the trust policy minus every outside principal, or DENY_ALL_TRUST if none is left.

    An Allow statement loses the outside values of its AWS principal and is
    dropped when it trusts nothing else any more.
    """
    document = copy.deepcopy(dict(trust_policy))
    kept: list[dict[str, Any]] = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            kept.append(statement)
            continue
        if "NotPrincipal" in statement or statement.get("Principal") == "*":
            continue
        principal = dict(statement.get("Principal") or {})
        inside = [
            value for value in _aws_principals(statement) if not _is_outside(value, account_id)
        ]
        if inside:
            principal["AWS"] = inside[0] if len(inside) == 1 else inside
        else:
            principal.pop("AWS", None)
        if principal:
            kept.append({**statement, "Principal": principal})
    if not any(statement.get("Effect") == "Allow" for statement in kept):
        return copy.deepcopy(dict(DENY_ALL_TRUST))
    document["Statement"] = kept
    return document


def is_quarantine_policy(policy_arn: str) -> bool:
    return policy_arn.startswith(QUARANTINE_POLICY_ARN_PREFIX)


def _aws_principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    values = principal.get("AWS", [])
    return [values] if isinstance(values, str) else [str(value) for value in values]


def _is_outside(principal: str, account_id: str) -> bool:
    if principal == "*":
        return True
    if _ACCOUNT_ID.match(principal):
        return principal != account_id
    parts = principal.split(":")
    # arn:aws:iam::111122223333:root, or a user, role or assumed-role ARN.
    return len(parts) > 4 and parts[4] != account_id


def _statements(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if isinstance(statement, dict):
            yield statement


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
