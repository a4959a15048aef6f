"""The persistence sweep's reads: the attacker's events again, and a listing of the account.

The sweep runs after the rotation, possibly days after the investigation, so
it looks the events up again (the leaked key, and every key obtained from it)
to see what the attacker did since. It then lists the account: IAM users, their
keys and console passwords, roles that trust an outside account, SES identities
and their policies. Each item an event ties to the attacker is checked against
that listing. Listed items that no event ties are candidates for the operator
to choose from. Nothing here changes the account.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediate.aws.gateways import AwsGateways
from remediate.aws.iam import AccessKey, IamRole, UserAttachments
from remediate.aws.regions import GLOBAL_EVENTS_REGION
from remediate.core.errors import AwsCallError
from remediate.evidence.derived import derived_credentials
from remediate.evidence.events import TrailEvent, deduplicate
from remediate.evidence.gaps import EvidenceGap, describe_failure
from remediate.evidence.lookup import lookup_events
from remediate.evidence.persistence import (
    ACCESS_KEY,
    ACCOUNT_SENDING,
    GROUP_MEMBERSHIP,
    IAM_ROLE,
    IAM_USER,
    IDENTITY_POLICY,
    INLINE_POLICY,
    LOGIN_PROFILE,
    POLICY_ATTACHMENT,
    PRODUCTION_ACCESS,
    ROLE_TRUST,
    SES_IDENTITY,
    PersistenceItem,
    access_key_item,
    attachment_item,
    identity_item,
    identity_policy_item,
    inline_policy_item,
    is_quarantine_policy,
    items_from_events,
    login_profile_item,
    membership_item,
    outside_principals,
    role_trust_item,
    user_item,
)

# Rounds of following keys obtained from keys obtained from the leaked key.
MAX_DERIVED_ROUNDS = 3
# Roles AWS creates and manages for its services; their trust is AWS's to set.
SERVICE_LINKED_ROLE_PATH = "/aws-service-role/"
PERSISTENCE_SOURCE = "iam:persistence-listing"
# Codes of IAM and SES version 2 for a resource that does not exist.
NOT_FOUND_CODES = frozenset({"NoSuchEntity", "NotFoundException"})


@dataclass(frozen=True)
class Protected:
    """The principals and keys the sweep never offers to remove, whatever ties them to the attacker.

    `users` are never deleted: the leaked key's own user (it keeps the new
    key) and users this incident created. `access_keys` are never deleted:
    the leaked key (the deactivate and delete-old-key steps own it), the new
    key, and the key the operator signs with. Nothing attached to the
    operator's own user or role (`operator_kind`, `operator_name`) is touched.
    """

    users: frozenset[str] = frozenset()
    access_keys: frozenset[str] = frozenset()
    operator_kind: str | None = None
    operator_name: str | None = None

    def reason(self, item: PersistenceItem) -> str | None:
        """Say why the item is never touched, or None when it may be removed."""
        operator = (self.operator_kind, self.operator_name)
        if item.kind == IAM_USER and ("User", item.name) == operator:
            return "the user you are signed in as"
        if item.kind in (IAM_ROLE, ROLE_TRUST) and ("Role", item.name) == operator:
            return "the role you are signed in with"
        if (item.owner_kind, item.owner) == operator:
            return "it belongs to the principal you are signed in as"
        if item.kind == IAM_USER and item.name in self.users:
            return "the leaked key's user, or a user this incident created; it keeps the new key"
        if item.kind == ACCESS_KEY and item.subject in self.access_keys:
            return "the leaked key, the new key, or the key you are signed in with"
        if item.kind == POLICY_ATTACHMENT and is_quarantine_policy(item.subject or ""):
            return "AWS's quarantine policy: only AWS Support lifts it"
        return None


@dataclass(frozen=True)
class SweepScope:
    """The keys, regions and time window the sweep reads.

    `key_ids` are the leaked key and the keys the investigation saw it obtain.
    `regions` are the SES regions involved; us-east-1 is always read for IAM events.
    """

    account_id: str
    key_ids: tuple[str, ...]
    regions: tuple[str, ...]
    since: datetime
    until: datetime
    protected: Protected


@dataclass(frozen=True)
class SweepItem:
    """An item found in the account now.

    `tied` is true when an event made with an attacker's key created it. `part_of` is
    the key of the user or role whose deletion removes it too. `state` is what
    it holds now (a trust policy, a policy document), kept as evidence and for
    the undo.
    """

    item: PersistenceItem
    tied: bool
    protected: str | None = None
    part_of: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RoleDependents:
    """The policies and instance profiles IAM requires gone before DeleteRole succeeds."""

    inline_policies: tuple[str, ...]
    attached_policies: tuple[str, ...]
    instance_profiles: tuple[str, ...]


@dataclass(frozen=True)
class SweepResult:
    items: tuple[SweepItem, ...]
    gone: tuple[PersistenceItem, ...]
    events_read: int
    gaps: tuple[EvidenceGap, ...]
    user_attachments: dict[str, UserAttachments]
    role_dependents: dict[str, RoleDependents]

    def find(self, key: str) -> SweepItem | None:
        return next((found for found in self.items if found.item.key == key), None)


def sweep(
    aws: AwsGateways,
    scope: SweepScope,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> SweepResult:
    """Read the attacker's events and the account, and name every item with its evidence."""
    events, gaps = attacker_events(aws, scope, sleep=sleep)
    tied = items_from_events(events)
    reader = _AccountReader(aws, scope)
    reader.list_users()
    reader.list_roles()
    for region in sorted({*scope.regions, *(item.region for item in tied if item.region)}):
        reader.list_identities(region)

    found: list[SweepItem] = []
    gone: list[PersistenceItem] = []
    for item in tied:
        state = reader.check(item)
        if state is None:
            gone.append(item)
        else:
            found.append(SweepItem(item, True, scope.protected.reason(item), state=state))
    # A candidate that is protected (the new key, the leaked key's user) is left
    # out: no event ties it to the attacker, so there is nothing to say about it.
    tied_keys = {item.key for item in tied}
    found += [
        candidate
        for candidate in reader.candidates()
        if candidate.item.key not in tied_keys and candidate.protected is None
    ]
    found = [_with_owner(entry, found, reader) for entry in found]
    return SweepResult(
        items=tuple(found),
        gone=tuple(gone),
        events_read=len(events),
        gaps=(*gaps, *reader.gaps),
        user_attachments=reader.attachments,
        role_dependents=reader.role_dependents,
    )


def attacker_events(
    aws: AwsGateways, scope: SweepScope, *, sleep: Callable[[float], None] = time.sleep
) -> tuple[list[TrailEvent], list[EvidenceGap]]:
    """Look up the events of the leaked key and of every key obtained from it, oldest first."""
    regions = (GLOBAL_EVENTS_REGION, *scope.regions)
    events: list[TrailEvent] = []
    gaps: list[EvidenceGap] = []
    leaked = scope.key_ids[0]
    pending = list(scope.key_ids)
    followed: set[str] = set()
    for _ in range(MAX_DERIVED_ROUNDS + 1):
        for key in pending:
            result = lookup_events(
                aws.cloudtrail,
                key,
                regions,
                start_time=scope.since,
                end_time=scope.until,
                sleep=sleep,
            )
            events += result.events
            gaps += result.gaps
        followed.update(pending)
        pending = [
            credential.access_key_id
            for credential in derived_credentials(events, leaked)
            if credential.access_key_id not in followed
        ]
        if not pending:
            break
    return deduplicate(events), gaps


class _AccountReader:
    """Lists the account once, then checks whether each item exists and what it contains now."""

    def __init__(self, aws: AwsGateways, scope: SweepScope) -> None:
        self._aws = aws
        self._scope = scope
        self.gaps: list[EvidenceGap] = []
        self.users: dict[str, datetime] = {}
        self.keys: dict[str, list[AccessKey]] = {}
        self.login_profiles: dict[str, datetime | None] = {}
        self.attachments: dict[str, UserAttachments] = {}
        self.roles: dict[str, IamRole] = {}
        self.role_dependents: dict[str, RoleDependents] = {}
        self.identities: dict[str, list[str]] = {}
        self._policies: dict[tuple[str, str], dict[str, Any]] = {}
        self._listed_users = False

    # Listing.

    def list_users(self) -> None:
        """List every user with its keys and console password: 2 IAM calls per user."""
        operator = self._scope.protected
        try:
            users = self._aws.iam.list_users()
        except AwsCallError as error:
            self._gap(f"the IAM users could not be listed: {describe_failure(error)}")
            return
        self._listed_users = True
        for user in users:
            self.users[user.user_name] = user.create_date
            if (operator.operator_kind, operator.operator_name) == ("User", user.user_name):
                continue
            self._read_user(user.user_name)

    def list_roles(self) -> None:
        try:
            roles = self._aws.iam.list_roles()
        except AwsCallError as error:
            self._gap(f"the IAM roles could not be listed: {describe_failure(error)}")
            return
        self.roles = {role.role_name: role for role in roles}

    def list_identities(self, region: str) -> None:
        try:
            identities = self._aws.sesv2.list_email_identities(region)
        except AwsCallError as error:
            self._gap(f"the SES identities could not be listed: {describe_failure(error)}", region)
            return
        self.identities[region] = [identity.name for identity in identities]

    # Candidates: what the listing shows that no event ties to the attacker.

    def candidates(self) -> list[SweepItem]:
        since = self._scope.since
        found: list[SweepItem] = []
        for user, created in self.users.items():
            if created >= since:
                found.append(self._candidate(user_item(user)))
                self._read_attachments(user)
            found += [
                self._candidate(access_key_item(user, key.access_key_id))
                for key in self.keys.get(user, [])
                if key.create_date >= since
            ]
            profile_created = self.login_profiles.get(user)
            if profile_created is not None and profile_created >= since:
                found.append(self._candidate(login_profile_item(user)))
        for role in self.roles.values():
            if role.path.startswith(SERVICE_LINKED_ROLE_PATH):
                continue
            outside = outside_principals(role.trust_policy, self._scope.account_id)
            if outside:
                item = role_trust_item(role.role_name)
                found.append(
                    self._candidate(item, {"trust_policy": role.trust_policy, "outside": outside})
                )
        for region, identities in self.identities.items():
            for identity in identities:
                found.append(self._candidate(identity_item(region, identity)))
                for name, document in self._identity_policies(region, identity).items():
                    state = {"policy": document}
                    found.append(
                        self._candidate(identity_policy_item(region, identity, name), state)
                    )
        return found

    def _candidate(self, item: PersistenceItem, state: dict[str, Any] | None = None) -> SweepItem:
        return SweepItem(item, False, self._scope.protected.reason(item), state=state or {})

    # Checks: does a tied item still exist, and what does it hold?

    def check(self, item: PersistenceItem) -> dict[str, Any] | None:
        """Return the item's current state, or None when it no longer exists."""
        try:
            return self._check(item)
        except AwsCallError as error:
            if error.code in NOT_FOUND_CODES:
                return None
            self._gap(f"{item.kind} {item.name} could not be read: {describe_failure(error)}")
            # Unknown is not gone: the item is shown so the operator can decide.
            return {"unreadable": error.message}

    def _check(self, item: PersistenceItem) -> dict[str, Any] | None:
        kind, owner = item.kind, item.owner or ""
        if item.owner_kind == "User" and self._listed_users and owner not in self.users:
            return None

        if kind == IAM_USER:
            if self._listed_users:
                exists = item.name in self.users
            else:
                exists = self._aws.iam.user_exists(item.name)
            if not exists:
                return None
            self._read_attachments(item.name)
            return {}
        if kind == ACCESS_KEY:
            keys = {key.access_key_id: key for key in self._user_keys(owner)}
            key = keys.get(item.subject or "")
            return {"status": key.status} if key else None
        if kind == LOGIN_PROFILE:
            return {} if self._login_profile(owner) is not None else None
        if kind == POLICY_ATTACHMENT:
            arns = self._aws.iam.list_attached_policy_arns(item.owner_kind or "User", owner)
            return {} if item.subject in arns else None
        if kind == INLINE_POLICY:
            document = self._aws.iam.get_inline_policy(
                item.owner_kind or "User", owner, item.subject or ""
            )
            return {"policy": document} if document is not None else None
        if kind == GROUP_MEMBERSHIP:
            return {} if item.subject in self._aws.iam.list_groups_for_user(owner) else None
        if kind in (IAM_ROLE, ROLE_TRUST):
            return self._check_role(item)
        if kind == SES_IDENTITY:
            return {} if item.name in self._region_identities(item.region or "") else None
        if kind == IDENTITY_POLICY:
            identity = item.subject or ""
            if identity not in self._region_identities(item.region or ""):
                return None
            policies = self._identity_policies(item.region or "", identity)
            policy_name = item.name.removeprefix(f"{identity}/")
            return {"policy": policies[policy_name]} if policy_name in policies else None
        if kind in (ACCOUNT_SENDING, PRODUCTION_ACCESS):
            account = self._aws.sesv2.get_account(item.region or "")
            if kind == ACCOUNT_SENDING:
                return {"sending_enabled": True} if account.sending_enabled else None
            return {
                "production_access_enabled": account.production_access_enabled,
                "review_status": account.review_status,
                "review_case_id": account.review_case_id,
            }
        return None

    def _check_role(self, item: PersistenceItem) -> dict[str, Any] | None:
        role = self.roles.get(item.name) or self._aws.iam.get_role(item.name)
        if role is None:
            return None
        self.roles[role.role_name] = role
        outside = outside_principals(role.trust_policy, self._scope.account_id)
        if item.kind == ROLE_TRUST and not outside:
            # Someone took the outside principal out already: nothing to revert.
            return None
        if item.kind == IAM_ROLE:
            self._read_role_dependents(role.role_name)
        return {"trust_policy": role.trust_policy, "outside": outside}

    # Reads, each made once.

    def _read_user(self, user: str) -> None:
        try:
            self.keys[user] = self._aws.iam.list_access_keys(user)
            profile = self._aws.iam.get_login_profile(user)
        except AwsCallError as error:
            self._gap(f"the keys of user {user} could not be listed: {describe_failure(error)}")
            return
        self.login_profiles[user] = profile.create_date if profile else None

    def _user_keys(self, user: str) -> list[AccessKey]:
        if user not in self.keys:
            self.keys[user] = self._aws.iam.list_access_keys(user)
        return self.keys[user]

    def _login_profile(self, user: str) -> datetime | None:
        if user not in self.login_profiles:
            profile = self._aws.iam.get_login_profile(user)
            self.login_profiles[user] = profile.create_date if profile else None
        return self.login_profiles[user]

    def _read_attachments(self, user: str) -> None:
        if user in self.attachments:
            return
        try:
            self.attachments[user] = self._aws.iam.list_user_attachments(user)
        except AwsCallError as error:
            self._gap(f"what user {user} holds could not be listed: {describe_failure(error)}")

    def _read_role_dependents(self, role: str) -> None:
        if role in self.role_dependents:
            return
        iam = self._aws.iam
        self.role_dependents[role] = RoleDependents(
            inline_policies=iam.list_inline_policy_names("Role", role),
            attached_policies=iam.list_attached_policy_arns("Role", role),
            instance_profiles=iam.list_instance_profiles_for_role(role),
        )

    def _region_identities(self, region: str) -> list[str]:
        if region not in self.identities:
            self.identities[region] = [
                identity.name for identity in self._aws.sesv2.list_email_identities(region)
            ]
        return self.identities[region]

    def _identity_policies(self, region: str, identity: str) -> dict[str, Any]:
        key = (region, identity)
        if key not in self._policies:
            try:
                self._policies[key] = self._aws.sesv2.get_email_identity_policies(region, identity)
            except AwsCallError as error:
                self._gap(
                    f"the policies of identity {identity} could not be read: "
                    f"{describe_failure(error)}",
                    region,
                )
                self._policies[key] = {}
        return self._policies[key]

    def _gap(self, reason: str, region: str | None = None) -> None:
        self.gaps.append(EvidenceGap(PERSISTENCE_SOURCE, reason, region=region))


def _with_owner(entry: SweepItem, items: Sequence[SweepItem], reader: _AccountReader) -> SweepItem:
    """Mark what a user's or role's deletion removes with that user's or role's key."""
    item = entry.item
    if item.owner_kind == "User" and item.owner in reader.attachments:
        owner_key = user_item(item.owner).key
    elif item.owner_kind == "Role" and item.owner in reader.role_dependents:
        owner_key = f"{IAM_ROLE}.{item.owner}"
    elif item.kind == IDENTITY_POLICY:
        owner_key = identity_item(item.region or "", item.subject or "").key
    else:
        return entry
    if not any(other.item.key == owner_key for other in items):
        return entry
    return SweepItem(item, entry.tied, entry.protected, owner_key, entry.state)


def user_dependents(user: str, attachments: UserAttachments) -> list[PersistenceItem]:
    """Name what a user's deletion removes, in the order IAM needs it gone."""
    return [
        *(access_key_item(user, key.access_key_id) for key in attachments.access_keys),
        *([login_profile_item(user)] if attachments.login_profile else []),
        *(attachment_item("User", user, arn) for arn in attachments.attached_policies),
        *(inline_policy_item("User", user, name) for name in attachments.inline_policies),
        *(membership_item(user, group) for group in attachments.groups),
    ]


def role_dependents(role: str, dependents: RoleDependents) -> list[PersistenceItem]:
    """Name the policies a role's deletion removes."""
    return [
        *(attachment_item("Role", role, arn) for arn in dependents.attached_policies),
        *(inline_policy_item("Role", role, name) for name in dependents.inline_policies),
    ]


def still_present(
    aws: AwsGateways, scope: SweepScope, items: Sequence[PersistenceItem]
) -> list[PersistenceItem]:
    """Read each item again and return those that are still there (or could not be read).

    A reverted role trust counts as gone once no outside principal is left,
    and a reverted account sending switch once sending is paused.
    """
    reader = _AccountReader(aws, scope)
    return [item for item in items if reader.check(item) is not None]
