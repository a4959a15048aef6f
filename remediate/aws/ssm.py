"""Systems Manager Parameter Store: list parameters, read them decrypted, write new versions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from remediate.aws.base import ClientFactory, aws_call, request_id_of
from remediate.core.secrets import SecretValue

SECURE_STRING = "SecureString"

# GetParameters accepts at most 10 names a call.
GET_PARAMETERS_LIMIT = 10
# DescribeParameters returns at most 50 parameters a page.
DESCRIBE_PAGE_SIZE = 50


@dataclass(frozen=True)
class ParameterSummary:
    """A parameter as DescribeParameters lists it: its type and KMS key, never its value."""

    name: str
    type: str
    version: int
    key_id: str | None
    tier: str | None


@dataclass(frozen=True)
class Parameter:
    """A parameter's current value, decrypted; the value stays wrapped and unregistered.

    The caller registers what it finds to be a credential, as with secrets.
    """

    name: str
    arn: str
    type: str
    version: int
    value: SecretValue


@dataclass(frozen=True)
class ParameterVersion:
    """One version from GetParameterHistory, with its type, KMS key and decrypted value."""

    version: int
    type: str
    key_id: str | None
    value: SecretValue


@dataclass(frozen=True)
class PutParameterReceipt:
    name: str
    version: int
    request_id: str | None


class SsmGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def _client(self, region: str) -> Any:
        return self._clients.client("ssm", region)

    def describe_parameters(
        self, region: str, *, path: str | None = None
    ) -> Iterator[ParameterSummary]:
        """List the region's parameters, or only those one level under `path`."""
        arguments: dict[str, Any] = {"PaginationConfig": {"PageSize": DESCRIBE_PAGE_SIZE}}
        if path:
            arguments["ParameterFilters"] = [
                {"Key": "Path", "Option": "OneLevel", "Values": [path]}
            ]
        with aws_call("ssm", "DescribeParameters", path or region):
            paginator = self._client(region).get_paginator("describe_parameters")
            for page in paginator.paginate(**arguments):
                for item in page.get("Parameters", []):
                    yield _summary(item)

    def describe_parameter(self, region: str, name: str) -> ParameterSummary | None:
        """Describe one parameter by its exact name; None when it does not exist."""
        with aws_call("ssm", "DescribeParameters", name):
            response = self._client(region).describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
            )
        items = response.get("Parameters", [])
        return _summary(items[0]) if items else None

    def get_parameters(
        self, region: str, names: Sequence[str]
    ) -> tuple[list[Parameter], list[str]]:
        """Read up to 10 parameters, decrypted; return them and the names that do not exist."""
        if len(names) > GET_PARAMETERS_LIMIT:
            raise ValueError(f"GetParameters takes at most {GET_PARAMETERS_LIMIT} names")
        with aws_call("ssm", "GetParameters", ", ".join(names)):
            response = self._client(region).get_parameters(Names=list(names), WithDecryption=True)
        found = [
            Parameter(
                name=item["Name"],
                arn=item["ARN"],
                type=item["Type"],
                version=int(item["Version"]),
                value=SecretValue(item["Value"], register=False),
            )
            for item in response.get("Parameters", [])
        ]
        return found, list(response.get("InvalidParameters", []))

    def parameter_history(self, region: str, name: str) -> list[ParameterVersion]:
        """Return every version SSM still keeps of a parameter (at most 100), oldest first."""
        versions = []
        with aws_call("ssm", "GetParameterHistory", name):
            paginator = self._client(region).get_paginator("get_parameter_history")
            for page in paginator.paginate(Name=name, WithDecryption=True):
                for item in page.get("Parameters", []):
                    versions.append(
                        ParameterVersion(
                            version=int(item["Version"]),
                            type=item["Type"],
                            key_id=item.get("KeyId"),
                            value=SecretValue(item["Value"], register=False),
                        )
                    )
        return sorted(versions, key=lambda version: version.version)

    def put_parameter(
        self,
        region: str,
        name: str,
        value: SecretValue,
        *,
        parameter_type: str,
        key_id: str | None,
        tier: str | None,
    ) -> PutParameterReceipt:
        """Write a new version over the current one, keeping the type, KMS key and tier given.

        The tier is passed because SSM rejects moving an Advanced parameter back
        to Standard, which an omitted tier could ask for.

        NOTE: the description, allowed pattern and parameter policies are not sent
        again. moto 5.2 keeps the first two on an overwrite; whether AWS keeps an
        Advanced parameter's policies was not checked.
        """
        arguments: dict[str, Any] = {
            "Name": name,
            "Value": value.reveal(),
            "Type": parameter_type,
            "Overwrite": True,
        }
        if parameter_type == SECURE_STRING and key_id:
            arguments["KeyId"] = key_id
        if tier:
            arguments["Tier"] = tier
        with aws_call("ssm", "PutParameter", name):
            response = self._client(region).put_parameter(**arguments)
        return PutParameterReceipt(
            name=name, version=int(response["Version"]), request_id=request_id_of(response)
        )


def _summary(item: dict[str, Any]) -> ParameterSummary:
    return ParameterSummary(
        name=item["Name"],
        type=item["Type"],
        version=int(item.get("Version", 0)),
        key_id=item.get("KeyId"),
        tier=item.get("Tier"),
    )
