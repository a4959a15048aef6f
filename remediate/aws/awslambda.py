"""Lambda: list functions with their environment variables, and replace those variables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from remediate.aws.base import ClientFactory, aws_call, request_id_of
from remediate.core.secrets import SecretValue

SUCCESSFUL = "Successful"
IN_PROGRESS = "InProgress"
FAILED = "Failed"


@dataclass(frozen=True)
class FunctionConfiguration:
    """A function's $LATEST configuration; variable values stay wrapped and unregistered.

    `environment_error` is set when Lambda could not decrypt the variables for
    the caller (a KMS key the caller may not use); `variables` is then empty.
    """

    name: str
    arn: str
    region: str
    variables: Mapping[str, SecretValue] = field(default_factory=dict)
    environment_error: str | None = None
    kms_key_arn: str | None = None
    last_update_status: str | None = None
    last_update_status_reason: str | None = None
    revision_id: str | None = None


@dataclass(frozen=True)
class UpdateFunctionReceipt:
    name: str
    revision_id: str | None
    last_update_status: str | None
    request_id: str | None


class LambdaGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def _client(self, region: str) -> Any:
        return self._clients.client("lambda", region)

    def list_functions(self, region: str) -> Iterator[FunctionConfiguration]:
        with aws_call("lambda", "ListFunctions", region):
            paginator = self._client(region).get_paginator("list_functions")
            for page in paginator.paginate():
                for item in page.get("Functions", []):
                    yield _configuration(item, region)

    def get_function_configuration(self, region: str, name: str) -> FunctionConfiguration:
        with aws_call("lambda", "GetFunctionConfiguration", name):
            response = self._client(region).get_function_configuration(FunctionName=name)
        return _configuration(response, region)

    def update_environment(
        self,
        region: str,
        name: str,
        variables: Mapping[str, SecretValue],
        *,
        kms_key_arn: str | None,
        revision_id: str | None,
    ) -> UpdateFunctionReceipt:
        """Replace the whole environment of $LATEST with `variables`.

        The KMS key is passed again so that the variables stay encrypted with it.
        The revision ID makes Lambda reject the update when the function changed
        since it was read, instead of losing that change.
        """
        arguments: dict[str, Any] = {
            "FunctionName": name,
            "Environment": {"Variables": {key: value.reveal() for key, value in variables.items()}},
        }
        if kms_key_arn:
            arguments["KMSKeyArn"] = kms_key_arn
        if revision_id:
            arguments["RevisionId"] = revision_id
        with aws_call("lambda", "UpdateFunctionConfiguration", name):
            response = self._client(region).update_function_configuration(**arguments)
        return UpdateFunctionReceipt(
            name=name,
            revision_id=response.get("RevisionId"),
            last_update_status=response.get("LastUpdateStatus"),
            request_id=request_id_of(response),
        )


def _configuration(item: Mapping[str, Any], region: str) -> FunctionConfiguration:
    environment = item.get("Environment") or {}
    error = environment.get("Error")
    return FunctionConfiguration(
        name=item["FunctionName"],
        arn=item["FunctionArn"],
        region=region,
        variables={
            str(key): SecretValue(str(value), register=False)
            for key, value in (environment.get("Variables") or {}).items()
        },
        environment_error=(
            f"{error.get('ErrorCode', 'Error')}: {error.get('Message', '')}".strip(": ")
            if error
            else None
        ),
        kms_key_arn=item.get("KMSKeyArn") or None,
        last_update_status=item.get("LastUpdateStatus"),
        last_update_status_reason=item.get("LastUpdateStatusReason"),
        revision_id=item.get("RevisionId"),
    )
