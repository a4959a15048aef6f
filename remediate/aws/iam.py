"""IAM: access keys, their owners and the policies that give a user SES rights."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.aws.base import CallReceipt, ClientFactory, aws_call, request_id_of
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
class InlinePolicy:
    name: str
    document: dict[str, Any]


@dataclass(frozen=True)
class AttachedPolicy:
    name: str
    arn: str


@dataclass(frozen=True)
class UserPolicies:
    inline: tuple[InlinePolicy, ...]
    attached: tuple[AttachedPolicy, ...]
    groups: tuple[str, ...]


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
        inline: list[InlinePolicy] = []
        attached: list[AttachedPolicy] = []
        groups: list[str] = []
        with aws_call("iam", "ListUserPolicies", user_name):
            for page in self._iam.get_paginator("list_user_policies").paginate(UserName=user_name):
                for name in page["PolicyNames"]:
                    inline.append(self._get_user_policy(user_name, name))
        with aws_call("iam", "ListAttachedUserPolicies", user_name):
            paginator = self._iam.get_paginator("list_attached_user_policies")
            for page in paginator.paginate(UserName=user_name):
                for item in page["AttachedPolicies"]:
                    attached.append(AttachedPolicy(name=item["PolicyName"], arn=item["PolicyArn"]))
        with aws_call("iam", "ListGroupsForUser", user_name):
            for page in self._iam.get_paginator("list_groups_for_user").paginate(
                UserName=user_name
            ):
                groups.extend(group["GroupName"] for group in page["Groups"])
        return UserPolicies(inline=tuple(inline), attached=tuple(attached), groups=tuple(groups))

    def _get_user_policy(self, user_name: str, policy_name: str) -> InlinePolicy:
        with aws_call("iam", "GetUserPolicy", f"{user_name}/{policy_name}"):
            response = self._iam.get_user_policy(UserName=user_name, PolicyName=policy_name)
        return InlinePolicy(name=policy_name, document=_policy_document(response["PolicyDocument"]))

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


def _known(value: str | None) -> str | None:
    """IAM reports 'N/A' for a key never used; treat it as absent."""
    return None if value in (None, "", "N/A") else value


def _policy_document(document: str | dict[str, Any]) -> dict[str, Any]:
    """Policy documents arrive URL-encoded JSON from the API, already decoded by some SDKs."""
    if isinstance(document, dict):
        return document
    decoded: dict[str, Any] = json.loads(urllib.parse.unquote(document))
    return decoded
