"""STS: which account owns a key, who the operator is, and whether a new key works."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from remediate.aws.base import ClientFactory, aws_call, request_id_of
from remediate.core.secrets import SecretValue


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str
    user_id: str
    request_id: str | None = None


class StsGateway:
    def __init__(
        self,
        clients: ClientFactory,
        *,
        credential_session: Callable[..., boto3.Session] | None = None,
    ) -> None:
        self._clients = clients
        self._credential_session = credential_session or boto3.Session

    @property
    def _sts(self) -> Any:
        return self._clients.client("sts")

    def get_access_key_info(self, access_key_id: str) -> str:
        """Return the account that owns the key; works for a key of any account."""
        with aws_call("sts", "GetAccessKeyInfo", access_key_id):
            response = self._sts.get_access_key_info(AccessKeyId=access_key_id)
        return str(response["Account"])

    def get_caller_identity(self) -> CallerIdentity:
        with aws_call("sts", "GetCallerIdentity"):
            response = self._sts.get_caller_identity()
        return _identity(response)

    def get_caller_identity_with(
        self, access_key_id: str, secret_access_key: SecretValue
    ) -> CallerIdentity:
        """Call GetCallerIdentity signed with the given key, to prove that it works.

        The session copies the operator session's region and botocore settings
        (endpoint, retries), but none of its credentials.
        """
        session = self._credential_session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key.reveal(),
            region_name=self._clients.default_region,
        )
        client = session.client(
            "sts", region_name=self._clients.default_region, config=self._clients.config
        )
        with aws_call("sts", "GetCallerIdentity", access_key_id):
            response = client.get_caller_identity()
        return _identity(response)


def _identity(response: Mapping[str, Any]) -> CallerIdentity:
    return CallerIdentity(
        account=response["Account"],
        arn=response["Arn"],
        user_id=response["UserId"],
        request_id=request_id_of(response),
    )
