"""IAM: access keys, their owners, the policies that give a user SES rights, and the account's
users and roles as the persistence sweep lists and removes them."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.aws.base import CallReceipt, ClientFactory, aws_call, request_id_of
from remediate.core.errors import AwsCallError
from remediate.core.secrets import SecretValue

ACTIVE = "Active"
INACTIVE = "Inactive"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    user_name: str
    status: str
    create_date: datetime


@dataclass(frozen=True)
class AccessKeyLastUsed:
    """GetAccessKeyLastUsed, which lags real use by minutes to hours."""

    access_key_id: str
    user_name: str
    last_used_date: datetime | None
    service_name: str | None
    region: str | None


@dataclass(frozen=True)
class CreatedAccessKey:
    """A new access key. AWS returns its secret once; it lives only in `secret_access_key`."""

    access_key_id: str
    user_name: str
    create_date: datetime
    secret_access_key: SecretValue
    request_id: str | None


@dataclass(frozen=True)
class UserCreated:
    user_name: str
    arn: str
    request_id: str | None


@dataclass(frozen=True)
class InlinePolicy:
    name: str
    document: dict[str, Any]


@dataclass(frozen=True)
class AttachedPolicy:
    """A managed policy attached to a user or group; `document` is its default version."""

    name: str
    arn: str
    document: dict[str, Any] | None = None


@dataclass(frozen=True)
class GroupPolicies:
    name: str
    inline: tuple[InlinePolicy, ...]
    attached: tuple[AttachedPolicy, ...]


@dataclass(frozen=True)
class UserPolicies:
    inline: tuple[InlinePolicy, ...]
    attached: tuple[AttachedPolicy, ...]
    groups: tuple[GroupPolicies, ...]


@dataclass(frozen=True)
class IamUser:
    user_name: str
    user_id: str
    arn: str
    create_date: datetime


@dataclass(frozen=True)
class IamRole:
    """A role and its trust policy (AssumeRolePolicyDocument), decoded."""

    role_name: str
    arn: str
    path: str
    create_date: datetime
    trust_policy: dict[str, Any]


@dataclass(frozen=True)
class IamGroup:
    group_name: str
    create_date: datetime


@dataclass(frozen=True)
class ManagedPolicy:
    """A customer managed policy (ListPolicies with Scope Local)."""

    arn: str
    policy_name: str
    create_date: datetime
    default_version_id: str


@dataclass(frozen=True)
class PolicyVersion:
    version_id: str
    is_default: bool
    create_date: datetime


@dataclass(frozen=True)
class PolicyEntities:
    """The users, groups and roles a managed policy is attached to (ListEntitiesForPolicy)."""

    users: tuple[str, ...]
    groups: tuple[str, ...]
    roles: tuple[str, ...]


@dataclass(frozen=True)
class LoginProfile:
    """A user's console password; IAM never returns the password itself."""

    user_name: str
    create_date: datetime


@dataclass(frozen=True)
class UserAttachments:
    """The items IAM requires removed before DeleteUser succeeds.

    `attached_policies` are ARNs, `mfa_devices` serial numbers, and
    `signing_certificates` and `ssh_public_keys` their IDs. Service-specific
    credentials (Git credentials for CodeCommit) are not listed: DeleteUser
    fails with DeleteConflict while the user has one.
    """

    access_keys: tuple[AccessKey, ...]
    login_profile: LoginProfile | None
    inline_policies: tuple[str, ...]
    attached_policies: tuple[str, ...]
    groups: tuple[str, ...]
    mfa_devices: tuple[str, ...] = ()
    signing_certificates: tuple[str, ...] = ()
    ssh_public_keys: tuple[str, ...] = ()


class IamGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    @property
    def _iam(self) -> Any:
        return self._clients.client("iam")

    def get_access_key_last_used(self, access_key_id: str) -> AccessKeyLastUsed:
        with aws_call("iam", "GetAccessKeyLastUsed", access_key_id):
            response = self._iam.get_access_key_last_used(AccessKeyId=access_key_id)
        last_used = response.get("AccessKeyLastUsed") or {}
        return AccessKeyLastUsed(
            access_key_id=access_key_id,
            user_name=response["UserName"],
            last_used_date=last_used.get("LastUsedDate"),
            service_name=_known(last_used.get("ServiceName")),
            region=_known(last_used.get("Region")),
        )

    def get_user_arn(self, user_name: str) -> str:
        """Return the user's ARN, which includes its path (arn:aws:iam::1:user/path/name)."""
        with aws_call("iam", "GetUser", user_name):
            response = self._iam.get_user(UserName=user_name)
        return str(response["User"]["Arn"])

    def create_user(self, user_name: str, *, path: str = "/") -> UserCreated:
        with aws_call("iam", "CreateUser", user_name):
            response = self._iam.create_user(UserName=user_name, Path=path)
        return UserCreated(
            user_name=response["User"]["UserName"],
            arn=response["User"]["Arn"],
            request_id=request_id_of(response),
        )

    def user_exists(self, user_name: str) -> bool:
        try:
            self.get_user_arn(user_name)
        except AwsCallError as error:
            if error.code == "NoSuchEntity":
                return False
            raise
        return True

    def list_access_keys(self, user_name: str) -> list[AccessKey]:
        keys: list[AccessKey] = []
        with aws_call("iam", "ListAccessKeys", user_name):
            for page in self._iam.get_paginator("list_access_keys").paginate(UserName=user_name):
                for item in page["AccessKeyMetadata"]:
                    keys.append(
                        AccessKey(
                            access_key_id=item["AccessKeyId"],
                            user_name=item["UserName"],
                            status=item["Status"],
                            create_date=item["CreateDate"],
                        )
                    )
        return sorted(keys, key=lambda key: key.create_date)

    def list_user_policies(self, user_name: str) -> UserPolicies:
        """Read every policy that applies to the user: inline, attached, and those of its groups."""
        inline = self._inline_policies("User", user_name)
        attached = self._attached_policies("User", user_name)
        groups: list[GroupPolicies] = []
        with aws_call("iam", "ListGroupsForUser", user_name):
            pages = self._iam.get_paginator("list_groups_for_user").paginate(UserName=user_name)
            names = [group["GroupName"] for page in pages for group in page["Groups"]]
        for name in names:
            groups.append(
                GroupPolicies(
                    name=name,
                    inline=self._inline_policies("Group", name),
                    attached=self._attached_policies("Group", name),
                )
            )
        return UserPolicies(inline=inline, attached=attached, groups=tuple(groups))

    def _inline_policies(self, kind: str, name: str) -> tuple[InlinePolicy, ...]:
        """Read the inline policies of a user or group (`kind` is "User" or "Group")."""
        argument = {f"{kind}Name": name}
        policies: list[InlinePolicy] = []
        for policy_name in self.list_inline_policy_names(kind, name):
            with aws_call("iam", f"Get{kind}Policy", f"{name}/{policy_name}"):
                method = getattr(self._iam, f"get_{kind.lower()}_policy")
                response = method(PolicyName=policy_name, **argument)
            policies.append(
                InlinePolicy(
                    name=policy_name, document=_policy_document(response["PolicyDocument"])
                )
            )
        return tuple(policies)

    def list_inline_policy_names(self, kind: str, name: str) -> tuple[str, ...]:
        """List the names of the inline policies of a user, group or role (`kind`)."""
        with aws_call("iam", f"List{kind}Policies", name):
            pages = self._iam.get_paginator(f"list_{kind.lower()}_policies").paginate(
                **{f"{kind}Name": name}
            )
            return tuple(policy for page in pages for policy in page["PolicyNames"])

    def list_attached_policy_arns(self, kind: str, name: str) -> tuple[str, ...]:
        """List the ARNs of the managed policies attached to a user, group or role."""
        with aws_call("iam", f"ListAttached{kind}Policies", name):
            paginator = self._iam.get_paginator(f"list_attached_{kind.lower()}_policies")
            pages = paginator.paginate(**{f"{kind}Name": name})
            return tuple(item["PolicyArn"] for page in pages for item in page["AttachedPolicies"])

    def list_groups_for_user(self, user_name: str) -> tuple[str, ...]:
        with aws_call("iam", "ListGroupsForUser", user_name):
            pages = self._iam.get_paginator("list_groups_for_user").paginate(UserName=user_name)
            return tuple(group["GroupName"] for page in pages for group in page["Groups"])

    def _attached_policies(self, kind: str, name: str) -> tuple[AttachedPolicy, ...]:
        argument = {f"{kind}Name": name}
        with aws_call("iam", f"ListAttached{kind}Policies", name):
            paginator = self._iam.get_paginator(f"list_attached_{kind.lower()}_policies")
            items = [
                item for page in paginator.paginate(**argument) for item in page["AttachedPolicies"]
            ]
        return tuple(
            AttachedPolicy(
                name=item["PolicyName"],
                arn=item["PolicyArn"],
                document=self.get_policy_document(item["PolicyArn"]),
            )
            for item in items
        )

    def get_policy_document(self, policy_arn: str) -> dict[str, Any]:
        """Return the default version's document of a managed policy."""
        with aws_call("iam", "GetPolicy", policy_arn):
            version = self._iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        with aws_call("iam", "GetPolicyVersion", policy_arn):
            response = self._iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)
        return _policy_document(response["PolicyVersion"]["Document"])

    def get_inline_policy(self, kind: str, name: str, policy_name: str) -> dict[str, Any] | None:
        """Return an inline policy of a user or role, or None when it does not exist."""
        method = getattr(self._iam, f"get_{kind.lower()}_policy")
        try:
            with aws_call("iam", f"Get{kind}Policy", f"{name}/{policy_name}"):
                response = method(PolicyName=policy_name, **{f"{kind}Name": name})
        except AwsCallError as error:
            if error.code == "NoSuchEntity":
                return None
            raise
        return _policy_document(response["PolicyDocument"])

    def put_inline_policy(
        self, kind: str, name: str, policy_name: str, document: dict[str, Any]
    ) -> CallReceipt:
        """Put an inline policy on a user or role (`kind` is "User" or "Role")."""
        method = getattr(self._iam, f"put_{kind.lower()}_policy")
        with aws_call("iam", f"Put{kind}Policy", f"{name}/{policy_name}"):
            response = method(
                PolicyName=policy_name, PolicyDocument=json.dumps(document), **{f"{kind}Name": name}
            )
        return CallReceipt(request_id=request_id_of(response))

    def create_access_key(self, user_name: str) -> CreatedAccessKey:
        # UserName is always passed: without it IAM creates a key for the caller.
        with aws_call("iam", "CreateAccessKey", user_name):
            response = self._iam.create_access_key(UserName=user_name)
        key = response["AccessKey"]
        return CreatedAccessKey(
            access_key_id=key["AccessKeyId"],
            user_name=key["UserName"],
            create_date=key["CreateDate"],
            secret_access_key=SecretValue(key["SecretAccessKey"]),
            request_id=request_id_of(response),
        )

    def update_access_key(self, user_name: str, access_key_id: str, status: str) -> CallReceipt:
        with aws_call("iam", "UpdateAccessKey", access_key_id):
            response = self._iam.update_access_key(
                UserName=user_name, AccessKeyId=access_key_id, Status=status
            )
        return CallReceipt(request_id=request_id_of(response))

    def delete_access_key(self, user_name: str, access_key_id: str) -> CallReceipt:
        with aws_call("iam", "DeleteAccessKey", access_key_id):
            response = self._iam.delete_access_key(UserName=user_name, AccessKeyId=access_key_id)
        return CallReceipt(request_id=request_id_of(response))

    def list_users(self) -> list[IamUser]:
        with aws_call("iam", "ListUsers"):
            pages = self._iam.get_paginator("list_users").paginate()
            return [
                IamUser(
                    user_name=item["UserName"],
                    user_id=item["UserId"],
                    arn=item["Arn"],
                    create_date=item["CreateDate"],
                )
                for page in pages
                for item in page["Users"]
            ]

    def list_roles(self) -> list[IamRole]:
        with aws_call("iam", "ListRoles"):
            pages = self._iam.get_paginator("list_roles").paginate()
            return [_role(item) for page in pages for item in page["Roles"]]

    def get_role(self, role_name: str) -> IamRole | None:
        """Return the role, or None when it does not exist."""
        try:
            with aws_call("iam", "GetRole", role_name):
                response = self._iam.get_role(RoleName=role_name)
        except AwsCallError as error:
            if error.code == "NoSuchEntity":
                return None
            raise
        return _role(response["Role"])

    def get_login_profile(self, user_name: str) -> LoginProfile | None:
        """Return the user's login profile, or None when the user has no console password."""
        try:
            with aws_call("iam", "GetLoginProfile", user_name):
                response = self._iam.get_login_profile(UserName=user_name)
        except AwsCallError as error:
            if error.code == "NoSuchEntity":
                return None
            raise
        profile = response["LoginProfile"]
        return LoginProfile(user_name=profile["UserName"], create_date=profile["CreateDate"])

    def list_user_attachments(self, user_name: str) -> UserAttachments:
        """Read everything DeleteUser needs gone: keys, password, policies, groups, devices."""
        with aws_call("iam", "ListMFADevices", user_name):
            pages = self._iam.get_paginator("list_mfa_devices").paginate(UserName=user_name)
            mfa_devices = tuple(
                item["SerialNumber"] for page in pages for item in page["MFADevices"]
            )
        with aws_call("iam", "ListSigningCertificates", user_name):
            pages = self._iam.get_paginator("list_signing_certificates").paginate(
                UserName=user_name
            )
            certificates = tuple(
                item["CertificateId"] for page in pages for item in page["Certificates"]
            )
        with aws_call("iam", "ListSSHPublicKeys", user_name):
            pages = self._iam.get_paginator("list_ssh_public_keys").paginate(UserName=user_name)
            ssh_keys = tuple(
                item["SSHPublicKeyId"] for page in pages for item in page["SSHPublicKeys"]
            )
        return UserAttachments(
            access_keys=tuple(self.list_access_keys(user_name)),
            login_profile=self.get_login_profile(user_name),
            inline_policies=self.list_inline_policy_names("User", user_name),
            attached_policies=self.list_attached_policy_arns("User", user_name),
            groups=self.list_groups_for_user(user_name),
            mfa_devices=mfa_devices,
            signing_certificates=certificates,
            ssh_public_keys=ssh_keys,
        )

    def list_instance_profiles_for_role(self, role_name: str) -> tuple[str, ...]:
        with aws_call("iam", "ListInstanceProfilesForRole", role_name):
            paginator = self._iam.get_paginator("list_instance_profiles_for_role")
            pages = paginator.paginate(RoleName=role_name)
            return tuple(
                item["InstanceProfileName"] for page in pages for item in page["InstanceProfiles"]
            )

    def delete_login_profile(self, user_name: str) -> CallReceipt:
        with aws_call("iam", "DeleteLoginProfile", user_name):
            response = self._iam.delete_login_profile(UserName=user_name)
        return CallReceipt(request_id=request_id_of(response))

    def detach_policy(self, kind: str, name: str, policy_arn: str) -> CallReceipt:
        """Detach a managed policy from a user, group or role (`kind` "User", "Group", "Role")."""
        method = getattr(self._iam, f"detach_{kind.lower()}_policy")
        with aws_call("iam", f"Detach{kind}Policy", f"{name}/{policy_arn}"):
            response = method(PolicyArn=policy_arn, **{f"{kind}Name": name})
        return CallReceipt(request_id=request_id_of(response))

    def delete_inline_policy(self, kind: str, name: str, policy_name: str) -> CallReceipt:
        """Delete an inline policy of a user, group or role."""
        method = getattr(self._iam, f"delete_{kind.lower()}_policy")
        with aws_call("iam", f"Delete{kind}Policy", f"{name}/{policy_name}"):
            response = method(PolicyName=policy_name, **{f"{kind}Name": name})
        return CallReceipt(request_id=request_id_of(response))

    def remove_user_from_group(self, group_name: str, user_name: str) -> CallReceipt:
        with aws_call("iam", "RemoveUserFromGroup", f"{group_name}/{user_name}"):
            response = self._iam.remove_user_from_group(GroupName=group_name, UserName=user_name)
        return CallReceipt(request_id=request_id_of(response))

    def deactivate_mfa_device(self, user_name: str, serial_number: str) -> CallReceipt:
        with aws_call("iam", "DeactivateMFADevice", serial_number):
            response = self._iam.deactivate_mfa_device(
                UserName=user_name, SerialNumber=serial_number
            )
        return CallReceipt(request_id=request_id_of(response))

    def delete_signing_certificate(self, user_name: str, certificate_id: str) -> CallReceipt:
        with aws_call("iam", "DeleteSigningCertificate", certificate_id):
            response = self._iam.delete_signing_certificate(
                UserName=user_name, CertificateId=certificate_id
            )
        return CallReceipt(request_id=request_id_of(response))

    def delete_ssh_public_key(self, user_name: str, key_id: str) -> CallReceipt:
        with aws_call("iam", "DeleteSSHPublicKey", key_id):
            response = self._iam.delete_ssh_public_key(UserName=user_name, SSHPublicKeyId=key_id)
        return CallReceipt(request_id=request_id_of(response))

    def delete_user(self, user_name: str) -> CallReceipt:
        with aws_call("iam", "DeleteUser", user_name):
            response = self._iam.delete_user(UserName=user_name)
        return CallReceipt(request_id=request_id_of(response))

    def update_assume_role_policy(self, role_name: str, document: dict[str, Any]) -> CallReceipt:
        with aws_call("iam", "UpdateAssumeRolePolicy", role_name):
            response = self._iam.update_assume_role_policy(
                RoleName=role_name, PolicyDocument=json.dumps(document)
            )
        return CallReceipt(request_id=request_id_of(response))

    def remove_role_from_instance_profile(self, profile_name: str, role_name: str) -> CallReceipt:
        with aws_call("iam", "RemoveRoleFromInstanceProfile", f"{profile_name}/{role_name}"):
            response = self._iam.remove_role_from_instance_profile(
                InstanceProfileName=profile_name, RoleName=role_name
            )
        return CallReceipt(request_id=request_id_of(response))

    def delete_role(self, role_name: str) -> CallReceipt:
        with aws_call("iam", "DeleteRole", role_name):
            response = self._iam.delete_role(RoleName=role_name)
        return CallReceipt(request_id=request_id_of(response))

    def list_groups(self) -> list[IamGroup]:
        with aws_call("iam", "ListGroups"):
            pages = self._iam.get_paginator("list_groups").paginate()
            return [
                IamGroup(group_name=item["GroupName"], create_date=item["CreateDate"])
                for page in pages
                for item in page["Groups"]
            ]

    def list_group_members(self, group_name: str) -> tuple[str, ...]:
        """List the user names in a group; NoSuchEntity when the group does not exist."""
        with aws_call("iam", "GetGroup", group_name):
            pages = self._iam.get_paginator("get_group").paginate(GroupName=group_name)
            return tuple(user["UserName"] for page in pages for user in page["Users"])

    def delete_group(self, group_name: str) -> CallReceipt:
        with aws_call("iam", "DeleteGroup", group_name):
            response = self._iam.delete_group(GroupName=group_name)
        return CallReceipt(request_id=request_id_of(response))

    def list_local_policies(self) -> list[ManagedPolicy]:
        """List the account's own managed policies, not AWS's."""
        with aws_call("iam", "ListPolicies"):
            pages = self._iam.get_paginator("list_policies").paginate(Scope="Local")
            return [
                ManagedPolicy(
                    arn=item["Arn"],
                    policy_name=item["PolicyName"],
                    create_date=item["CreateDate"],
                    default_version_id=item["DefaultVersionId"],
                )
                for page in pages
                for item in page["Policies"]
            ]

    def list_policy_versions(self, policy_arn: str) -> list[PolicyVersion]:
        """List a managed policy's versions, oldest first; NoSuchEntity when it does not exist."""
        with aws_call("iam", "ListPolicyVersions", policy_arn):
            pages = self._iam.get_paginator("list_policy_versions").paginate(PolicyArn=policy_arn)
            versions = [
                PolicyVersion(
                    version_id=item["VersionId"],
                    is_default=bool(item["IsDefaultVersion"]),
                    create_date=item["CreateDate"],
                )
                for page in pages
                for item in page["Versions"]
            ]
        return sorted(versions, key=lambda version: version.create_date)

    def get_policy_version_document(self, policy_arn: str, version_id: str) -> dict[str, Any]:
        with aws_call("iam", "GetPolicyVersion", f"{policy_arn}/{version_id}"):
            response = self._iam.get_policy_version(PolicyArn=policy_arn, VersionId=version_id)
        return _policy_document(response["PolicyVersion"]["Document"])

    def list_entities_for_policy(self, policy_arn: str) -> PolicyEntities:
        """List where the policy is attached as a permissions policy.

        NOTE: a policy used as a permissions boundary is not listed, so DeletePolicy then fails
        with DeleteConflict; moto ignores PolicyUsageFilter, so that case is untested.
        """
        with aws_call("iam", "ListEntitiesForPolicy", policy_arn):
            paginator = self._iam.get_paginator("list_entities_for_policy")
            pages = list(
                paginator.paginate(PolicyArn=policy_arn, PolicyUsageFilter="PermissionsPolicy")
            )
        return PolicyEntities(
            users=tuple(item["UserName"] for page in pages for item in page["PolicyUsers"]),
            groups=tuple(item["GroupName"] for page in pages for item in page["PolicyGroups"]),
            roles=tuple(item["RoleName"] for page in pages for item in page["PolicyRoles"]),
        )

    def set_default_policy_version(self, policy_arn: str, version_id: str) -> CallReceipt:
        with aws_call("iam", "SetDefaultPolicyVersion", f"{policy_arn}/{version_id}"):
            response = self._iam.set_default_policy_version(
                PolicyArn=policy_arn, VersionId=version_id
            )
        return CallReceipt(request_id=request_id_of(response))

    def delete_policy_version(self, policy_arn: str, version_id: str) -> CallReceipt:
        with aws_call("iam", "DeletePolicyVersion", f"{policy_arn}/{version_id}"):
            response = self._iam.delete_policy_version(PolicyArn=policy_arn, VersionId=version_id)
        return CallReceipt(request_id=request_id_of(response))

    def delete_policy(self, policy_arn: str) -> CallReceipt:
        with aws_call("iam", "DeletePolicy", policy_arn):
            response = self._iam.delete_policy(PolicyArn=policy_arn)
        return CallReceipt(request_id=request_id_of(response))


def _role(item: dict[str, Any]) -> IamRole:
    return IamRole(
        role_name=item["RoleName"],
        arn=item["Arn"],
        path=item.get("Path", "/"),
        create_date=item["CreateDate"],
        trust_policy=_policy_document(item.get("AssumeRolePolicyDocument") or "{}"),
    )


def _known(value: str | None) -> str | None:
    """IAM reports 'N/A' for a key never used; treat it as absent."""
    return None if value in (None, "", "N/A") else value


def _policy_document(document: str | dict[str, Any]) -> dict[str, Any]:
    """Policy documents arrive URL-encoded JSON from the API, already decoded by some SDKs."""
    if isinstance(document, dict):
        return document
    decoded: dict[str, Any] = json.loads(urllib.parse.unquote(document))
    return decoded
