"""The persistence sweep's reads: the attacker's events again, and a listing of the account.

The sweep runs after the rotation, possibly days after the investigation, so
it looks the events up again (the leaked key, and every key obtained from it)
to see what the attacker did since. It then lists the account: IAM users, their
keys and console passwords, groups, customer managed policies, roles that trust
an outside account, SES identities and their policies. Each item an event ties
to the attacker is checked against that listing. Listed items that no event
ties are candidates for the operator to choose from. Nothing here changes the
account.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediate.aws.gateways import AwsGateways
from remediate.aws.iam import AccessKey, IamRole, ManagedPolicy, PolicyEntities, UserAttachments
from remediate.aws.regions import GLOBAL_EVENTS_REGION
from remediate.core.errors import AwsCallError
from remediate.core.timeutil import format_timestamp
from remediate.evidence.derived import derived_credentials
from remediate.evidence.events import TrailEvent, deduplicate
from remediate.evidence.gaps import EvidenceGap, describe_failure
from remediate.evidence.lookup import lookup_events
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
    access_key_item,
    attachment_item,
    group_item,
    identity_item,
    identity_policy_item,
    inline_policy_item,
    is_quarantine_policy,
    items_from_events,
    login_profile_item,
    managed_policy_item,
    membership_item,
    outside_principals,
    policy_version_item,
    role_trust_item,
    user_item,
    version_of,
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
        # An operator that is no IAM user or role (root, a federated user) owns no item.
        if self.operator_kind is not None and (item.owner_kind, item.owner) == operator:
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
class GroupDependents:
    """The members and policies IAM requires gone before DeleteGroup succeeds."""

    members: tuple[str, ...]
    inline_policies: tuple[str, ...]
    attached_policies: tuple[str, ...]


@dataclass(frozen=True)
class PolicyDependents:
    """The attachments and non-default versions IAM requires gone before DeletePolicy succeeds."""

    entities: PolicyEntities
    versions: tuple[str, ...]


@dataclass(frozen=True)
class SweepResult:
    items: tuple[SweepItem, ...]
    gone: tuple[PersistenceItem, ...]
    events_read: int
    gaps: tuple[EvidenceGap, ...]
    user_attachments: dict[str, UserAttachments]
    role_dependents: dict[str, RoleDependents]
    group_dependents: dict[str, GroupDependents] = field(default_factory=dict)
    policy_dependents: dict[str, PolicyDependents] = field(default_factory=dict)

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
    for item in tied:
        if item.kind == POLICY_VERSION:
            reader.attacker_versions.setdefault(item.subject or "", set()).add(version_of(item))
    reader.list_users()
    reader.list_groups()
    reader.list_policies()
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
        group_dependents=reader.group_dependents,
        policy_dependents=reader.policy_dependents,
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
        self.groups: dict[str, datetime] = {}
        self.group_dependents: dict[str, GroupDependents] = {}
        self.managed_policies: dict[str, ManagedPolicy] = {}
        self.policy_dependents: dict[str, PolicyDependents] = {}
        self.configuration_sets: dict[str, list[str]] = {}
        self._policies: dict[tuple[str, str], dict[str, Any]] = {}
        self._listed_users = False
        self._listed_groups = False
        self._listed_policies = False
        # Versions an attacker's event created, by policy ARN: never a version to restore.
        self.attacker_versions: dict[str, set[str]] = {}

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

    def list_groups(self) -> None:
        try:
            groups = self._aws.iam.list_groups()
        except AwsCallError as error:
            self._gap(f"the IAM groups could not be listed: {describe_failure(error)}")
            return
        self._listed_groups = True
        self.groups = {group.group_name: group.create_date for group in groups}

    def list_policies(self) -> None:
        try:
            policies = self._aws.iam.list_local_policies()
        except AwsCallError as error:
            self._gap(
                f"the account's managed policies could not be listed: {describe_failure(error)}"
            )
            return
        self._listed_policies = True
        self.managed_policies = {policy.arn: policy for policy in policies}

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
        for group, created in self.groups.items():
            if created >= since and self._read_group_dependents(group):
                found.append(self._candidate(group_item(group)))
        for policy in self.managed_policies.values():
            if policy.create_date >= since and self._read_policy_dependents(policy.arn):
                found.append(self._candidate(managed_policy_item(policy.arn)))
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
        if kind == IAM_GROUP:
            return self._check_group(item.name)
        if kind == MANAGED_POLICY:
            return self._check_policy(item.name)
        if kind == POLICY_VERSION:
            return self._check_policy_version(item)
        if kind == CONFIGURATION_SET:
            region = item.region or ""
            if region not in self.configuration_sets:
                self.configuration_sets[region] = self._aws.sesv2.list_configuration_sets(region)
            return {} if item.name in self.configuration_sets[region] else None
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

    def _check_group(self, group: str) -> dict[str, Any] | None:
        if self._listed_groups and group not in self.groups:
            return None
        dependents = self.group_dependents.get(group)
        if dependents is None:
            # GetGroup fails with NoSuchEntity for a group that is gone.
            dependents = self._group_dependents(group)
            self.group_dependents[group] = dependents
        return {"members": list(dependents.members)}

    def _check_policy(self, policy_arn: str) -> dict[str, Any] | None:
        if self._listed_policies and policy_arn not in self.managed_policies:
            return None
        dependents = self.policy_dependents.get(policy_arn)
        if dependents is None:
            dependents = self._policy_dependents(policy_arn)
            self.policy_dependents[policy_arn] = dependents
        iam = self._aws.iam
        return {
            "document": iam.get_policy_document(policy_arn),
            # The older versions are deleted with the policy; their documents are evidence too.
            "older_versions": {
                version: iam.get_policy_version_document(policy_arn, version)
                for version in dependents.versions
            },
            "attached_to": {
                "users": list(dependents.entities.users),
                "groups": list(dependents.entities.groups),
                "roles": list(dependents.entities.roles),
            },
        }

    def _check_policy_version(self, item: PersistenceItem) -> dict[str, Any] | None:
        """Read a version the attacker added, and the version to make default again."""
        policy_arn, version_id = item.subject or "", version_of(item)
        if self._listed_policies and policy_arn not in self.managed_policies:
            return None
        versions = self._aws.iam.list_policy_versions(policy_arn)
        version = next((entry for entry in versions if entry.version_id == version_id), None)
        if version is None:
            return None
        attacker = self.attacker_versions.get(policy_arn, set()) | {version_id}
        others = [entry for entry in versions if entry.version_id not in attacker]
        older = [entry for entry in others if entry.create_date <= version.create_date]
        # NOTE: IAM keeps no record of the previous default version. The newest version
        # older than the attacker's is a guess, so the question names it.
        restore = (older or others)[-1] if others and version.is_default else None
        return {
            "default": version.is_default,
            "restore": restore.version_id if restore else None,
            "restore_created": format_timestamp(restore.create_date) if restore else None,
            "document": self._aws.iam.get_policy_version_document(policy_arn, version_id),
        }

    # Reads, each made once.

    def _read_group_dependents(self, group: str) -> bool:
        """Read what a group holds; return False, with a gap, when it cannot be read."""
        if group in self.group_dependents:
            return True
        try:
            self.group_dependents[group] = self._group_dependents(group)
        except AwsCallError as error:
            self._gap(f"what group {group} holds could not be listed: {describe_failure(error)}")
            return False
        return True

    def _group_dependents(self, group: str) -> GroupDependents:
        iam = self._aws.iam
        return GroupDependents(
            members=iam.list_group_members(group),
            inline_policies=iam.list_inline_policy_names("Group", group),
            attached_policies=iam.list_attached_policy_arns("Group", group),
        )

    def _read_policy_dependents(self, policy_arn: str) -> bool:
        """Read where a policy is attached; return False, with a gap, when it cannot be read."""
        if policy_arn in self.policy_dependents:
            return True
        try:
            self.policy_dependents[policy_arn] = self._policy_dependents(policy_arn)
        except AwsCallError as error:
            self._gap(
                f"the attachments of policy {policy_arn} could not be listed: "
                f"{describe_failure(error)}"
            )
            return False
        return True

    def _policy_dependents(self, policy_arn: str) -> PolicyDependents:
        iam = self._aws.iam
        versions = iam.list_policy_versions(policy_arn)
        return PolicyDependents(
            entities=iam.list_entities_for_policy(policy_arn),
            versions=tuple(version.version_id for version in versions if not version.is_default),
        )

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
    elif item.owner_kind == "Group" and item.owner in reader.group_dependents:
        owner_key = group_item(item.owner).key
    elif item.kind == GROUP_MEMBERSHIP and item.subject in reader.group_dependents:
        owner_key = group_item(item.subject or "").key
    elif item.kind in (POLICY_ATTACHMENT, POLICY_VERSION) and (
        item.subject in reader.policy_dependents
    ):
        owner_key = managed_policy_item(item.subject or "").key
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


def group_dependents(group: str, dependents: GroupDependents) -> list[PersistenceItem]:
    """Name what a group's deletion removes, in the order IAM needs it gone."""
    return [
        *(membership_item(user, group) for user in dependents.members),
        *(attachment_item("Group", group, arn) for arn in dependents.attached_policies),
        *(inline_policy_item("Group", group, name) for name in dependents.inline_policies),
    ]


def policy_dependents(policy_arn: str, dependents: PolicyDependents) -> list[PersistenceItem]:
    """Name what a managed policy's deletion removes: its attachments and older versions."""
    entities = dependents.entities
    return [
        *(attachment_item("User", user, policy_arn) for user in entities.users),
        *(attachment_item("Group", group, policy_arn) for group in entities.groups),
        *(attachment_item("Role", role, policy_arn) for role in entities.roles),
        *(policy_version_item(policy_arn, version) for version in dependents.versions),
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
