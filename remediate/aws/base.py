"""Client creation and error translation shared by every gateway."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotocoreConnectionError,
)

from remediate import __version__
from remediate.core.errors import AwsCallError

if TYPE_CHECKING:
    import boto3

# IAM and STS are global; their calls go to us-east-1 unless the session names a region.
GLOBAL_REGION = "us-east-1"

# Codes that mean the caller lacks a permission, so the message can say which one.
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)


@dataclass(frozen=True)
class CallReceipt:
    """What a mutating call returned that the journal keeps: its AWS request ID."""

    request_id: str | None


def request_id_of(response: Mapping[str, Any]) -> str | None:
    metadata = response.get("ResponseMetadata") or {}
    request_id = metadata.get("RequestId")
    return str(request_id) if request_id else None


class ClientFactory:
    """Creates one client per (service, region) from the session, on first use.

    The user agent names remediate and the incident, so that the responder's own
    calls can be told apart from the attacker's in CloudTrail.
    """

    def __init__(self, session: boto3.Session, *, user_agent_extra: str = "") -> None:
        self.session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        extra = f"remediate/{__version__}"
        if user_agent_extra:
            extra = f"{extra} {user_agent_extra}"
        self._config = Config(user_agent_extra=extra, connect_timeout=10, read_timeout=30)

    @property
    def config(self) -> Config:
        return self._config

    @property
    def default_region(self) -> str:
        return self.session.region_name or GLOBAL_REGION

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.default_region)
        with self._lock:
            if key not in self._clients:
                # boto3-stubs types client() per literal service name only.
                self._clients[key] = self.session.client(  # type: ignore[call-overload]
                    service, region_name=key[1], config=self._config
                )
            return self._clients[key]


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def translate(
    error: Exception,
    *,
    service: str,
    operation: str,
    resource: str | None,
    permission: str | None = None,
) -> AwsCallError:
    """Turn a botocore exception into an AwsCallError that says what failed and where.

    `permission` names the IAM action the call needs when it is not
    `service:operation` (S3 ListObjectsV2 needs s3:ListBucket).
    """
    target = f" on {resource}" if resource else ""
    if isinstance(error, ClientError):
        code = error_code(error)
        message = str(error.response.get("Error", {}).get("Message", "")).strip().rstrip(".")
        text = f"{service} {operation}{target} failed: {code}"
        if message:
            text = f"{text}: {message}"
        if code in ACCESS_DENIED_CODES:
            action = permission or f"{service}:{operation}"
            text = f"{text}. The operator's credentials lack {action}."
        return AwsCallError(
            text,
            service=service,
            operation=operation,
            resource=resource,
            code=code,
            request_id=request_id_of(error.response),
        )
    if isinstance(error, NoCredentialsError):
        return AwsCallError(
            f"{service} {operation}{target} failed: no AWS credentials were found. "
            "Log in (for example `aws sso login`) or pass --profile.",
            service=service,
            operation=operation,
            resource=resource,
            code="NoCredentials",
        )
    if isinstance(error, BotocoreConnectionError):
        return AwsCallError(
            f"{service} {operation}{target} failed: could not reach the endpoint ({error}).",
            service=service,
            operation=operation,
            resource=resource,
            code="ConnectionError",
            next_step="check the network, the proxy and AWS_ENDPOINT_URL, then run again",
        )
    return AwsCallError(
        f"{service} {operation}{target} failed: {error}",
        service=service,
        operation=operation,
        resource=resource,
        code=type(error).__name__,
    )


@contextmanager
def aws_call(
    service: str, operation: str, resource: str | None = None, *, permission: str | None = None
) -> Iterator[None]:
    """Translate any botocore failure inside the block into an AwsCallError."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise translate(
            error, service=service, operation=operation, resource=resource, permission=permission
        ) from error
