"""Secrets Manager: find the secrets that hold a credential, stage and promote a new version."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from remediate.aws.base import CallReceipt, ClientFactory, aws_call, request_id_of
from remediate.core.errors import AwsCallError
from remediate.core.secrets import SecretValue

AWSCURRENT = "AWSCURRENT"
AWSPREVIOUS = "AWSPREVIOUS"
AWSPENDING = "AWSPENDING"


@dataclass(frozen=True)
class SecretSummary:
    arn: str
    name: str
    region: str


@dataclass(frozen=True)
class SecretVersion:
    """A secret's value; the string stays wrapped so that it cannot be printed by mistake."""

    arn: str
    name: str
    version_id: str
    stages: tuple[str, ...]
    secret_string: SecretValue | None


@dataclass(frozen=True)
class PutSecretReceipt:
    arn: str
    version_id: str
    request_id: str | None


class SecretsManagerGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def _client(self, region: str) -> Any:
        return self._clients.client("secretsmanager", region)

    def list_secrets(self, region: str) -> Iterator[SecretSummary]:
        with aws_call("secretsmanager", "ListSecrets", region):
            paginator = self._client(region).get_paginator("list_secrets")
            for page in paginator.paginate():
                for item in page.get("SecretList", []):
                    yield SecretSummary(arn=item["ARN"], name=item["Name"], region=region)

    def get_secret_value(
        self, region: str, secret_id: str, *, version_stage: str = AWSCURRENT
    ) -> SecretVersion:
        with aws_call("secretsmanager", "GetSecretValue", secret_id):
            response = self._client(region).get_secret_value(
                SecretId=secret_id, VersionStage=version_stage
            )
        secret_string = response.get("SecretString")
        return SecretVersion(
            arn=response["ARN"],
            name=response["Name"],
            version_id=response["VersionId"],
            stages=tuple(response.get("VersionStages", ())),
            # Not registered: the caller registers the credential field it finds in it.
            secret_string=(
                SecretValue(secret_string, register=False) if secret_string is not None else None
            ),
        )

    def put_pending_value(
        self, region: str, secret_id: str, secret_string: SecretValue, *, client_request_token: str
    ) -> PutSecretReceipt:
        """Write a new version labelled AWSPENDING only; consumers keep reading AWSCURRENT.

        The client request token makes a repeated call (after a crash or a retry)
        return the same version instead of writing a second one.
        """
        with aws_call("secretsmanager", "PutSecretValue", secret_id):
            response = self._client(region).put_secret_value(
                SecretId=secret_id,
                SecretString=secret_string.reveal(),
                ClientRequestToken=client_request_token,
                VersionStages=[AWSPENDING],
            )
        return PutSecretReceipt(
            arn=response["ARN"],
            version_id=response["VersionId"],
            request_id=request_id_of(response),
        )

    def create_secret(
        self,
        region: str,
        name: str,
        secret_string: SecretValue,
        *,
        client_request_token: str,
        description: str,
    ) -> PutSecretReceipt:
        with aws_call("secretsmanager", "CreateSecret", name):
            response = self._client(region).create_secret(
                Name=name,
                SecretString=secret_string.reveal(),
                ClientRequestToken=client_request_token,
                Description=description,
            )
        return PutSecretReceipt(
            arn=response["ARN"],
            version_id=response["VersionId"],
            request_id=request_id_of(response),
        )

    def put_current_value(
        self, region: str, secret_id: str, secret_string: SecretValue, *, client_request_token: str
    ) -> PutSecretReceipt:
        """Write a new version that becomes AWSCURRENT at once."""
        with aws_call("secretsmanager", "PutSecretValue", secret_id):
            response = self._client(region).put_secret_value(
                SecretId=secret_id,
                SecretString=secret_string.reveal(),
                ClientRequestToken=client_request_token,
            )
        return PutSecretReceipt(
            arn=response["ARN"],
            version_id=response["VersionId"],
            request_id=request_id_of(response),
        )

    def exists(self, region: str, secret_id: str) -> bool:
        try:
            with aws_call("secretsmanager", "DescribeSecret", secret_id):
                self._client(region).describe_secret(SecretId=secret_id)
        except AwsCallError as error:
            if error.code == "ResourceNotFoundException":
                return False
            raise
        return True

    def version_stages(self, region: str, secret_id: str) -> dict[str, tuple[str, ...]]:
        """Return each version ID of the secret with its staging labels."""
        with aws_call("secretsmanager", "DescribeSecret", secret_id):
            response = self._client(region).describe_secret(SecretId=secret_id)
        stages = response.get("VersionIdsToStages", {})
        return {version: tuple(labels) for version, labels in stages.items()}

    def move_stage(
        self,
        region: str,
        secret_id: str,
        stage: str,
        *,
        to_version: str | None,
        from_version: str | None,
    ) -> CallReceipt:
        """Move a staging label; moving AWSCURRENT makes the old version AWSPREVIOUS."""
        arguments: dict[str, Any] = {"SecretId": secret_id, "VersionStage": stage}
        if to_version:
            arguments["MoveToVersionId"] = to_version
        if from_version:
            arguments["RemoveFromVersionId"] = from_version
        with aws_call("secretsmanager", "UpdateSecretVersionStage", secret_id):
            response = self._client(region).update_secret_version_stage(**arguments)
        return CallReceipt(request_id=request_id_of(response))
