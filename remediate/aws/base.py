"""Client creation and error translation shared by every gateway."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.exceptions import (
    ConnectionError as BotocoreConnectionError,
)

from remediate import __version__
from remediate.core.errors import AwsCallError

if TYPE_CHECKING:
    import boto3
    from botocore.config import _RetryDict

# IAM and STS are global; their calls go to us-east-1 unless the session names a region.
GLOBAL_REGION = "us-east-1"

# Codes that mean the caller lacks a permission, so the message can say which one.
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)

# Codes that mean the operator's session has expired: logging in again fixes them.
EXPIRED_SESSION_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
EXPIRED_SESSION_ADVICE = (
    "Your AWS session has expired: log in again (for example `aws sso login`, with the same "
    "--profile), then resume."
)

# Retries when the operator's configuration names none. botocore's own default, the
# legacy mode, does not retry RequestLimitExceeded. The standard mode (botocore 1.43)
# retries it, other throttling, HTTP 500/502/503/504 and connection errors, with
# exponential backoff and jitter of up to 20 s. AWS_RETRY_MODE, AWS_MAX_ATTEMPTS or the
# profile's `retry_mode` and `max_attempts` replace these.
# NOTE: both modes also retry a read timeout, when AWS may have acted on the request.
# A CreateAccessKey sent again then fails with LimitExceeded (two keys per user), and
# the key the lost response named is not recognised as this incident's on resume.
DEFAULT_RETRY_MODE: Final[Literal["standard"]] = "standard"
DEFAULT_MAX_ATTEMPTS = 5


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
    calls can be told apart from the attacker's in CloudTrail. Every call of
    these clients is noted (operation, region, HTTP status, request ID) until
    `take_calls` hands the notes to the journal.
    """

    def __init__(self, session: boto3.Session, *, user_agent_extra: str = "") -> None:
        self.session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        extra = f"remediate/{__version__}"
        if user_agent_extra:
            extra = f"{extra} {user_agent_extra}"
        self._config = Config(
            user_agent_extra=extra,
            connect_timeout=10,
            read_timeout=30,
            retries=default_retries(session),
        )

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
                client = self.session.client(  # type: ignore[call-overload]
                    service, region_name=key[1], config=self._config
                )
                self._note_calls_of(client, key[1])
                self._clients[key] = client
            return self._clients[key]

    def take_calls(self) -> list[dict[str, Any]]:
        """Return the calls made since the last time, oldest first, and forget them."""
        with self._lock:
            calls, self._calls = self._calls, []
        return calls

    def _note_calls_of(self, client: Any, region: str) -> None:
        def response(http_response: Any, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
            error = parsed.get("Error") or {}
            self._note(
                model.service_model.service_name,
                model.name,
                region,
                status=http_response.status_code,
                request_id=request_id_of(parsed),
                error_code=error.get("Code"),
            )

        def exception(exception: Exception, event_name: str, **_: Any) -> None:
            # A call that got no response, such as a connection error once retries ran out.
            operation = event_name.rsplit(".", 1)[-1]
            service = client.meta.service_model.service_name
            self._note(
                service,
                operation,
                region,
                status=None,
                request_id=None,
                error_code=type(exception).__name__,
            )

        client.meta.events.register("after-call", response)
        client.meta.events.register("after-call-error", exception)

    def _note(
        self,
        service: str,
        operation: str,
        region: str,
        *,
        status: int | None,
        request_id: str | None,
        error_code: str | None,
    ) -> None:
        call = {
            "service": service,
            "operation": operation,
            "region": region,
            "status": status,
            "request_id": request_id,
            "error_code": error_code,
        }
        with self._lock:
            self._calls.append(call)


def default_retries(session: boto3.Session) -> _RetryDict:
    """Return the retry settings the operator's configuration leaves to remediate.

    Each setting the environment or the profile names is left out, so that
    botocore reads it from there.
    """
    try:
        profile = session._session.get_scoped_config()
    except BotoCoreError:
        profile = {}
    retries: _RetryDict = {}
    if "AWS_RETRY_MODE" not in os.environ and "retry_mode" not in profile:
        retries["mode"] = DEFAULT_RETRY_MODE
    if "AWS_MAX_ATTEMPTS" not in os.environ and "max_attempts" not in profile:
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    return retries


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
        elif code in EXPIRED_SESSION_CODES:
            text = f"{text}. {EXPIRED_SESSION_ADVICE}"
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
    if isinstance(error, (TokenRetrievalError, SSOTokenLoadError, UnauthorizedSSOTokenError)):
        return AwsCallError(
            f"{service} {operation}{target} failed: {str(error).rstrip('.')}. "
            f"{EXPIRED_SESSION_ADVICE}",
            service=service,
            operation=operation,
            resource=resource,
            code="ExpiredToken",
        )
    if isinstance(error, BotocoreConnectionError):
        return AwsCallError(
            # The advice is in the message, so that a run's stop can name its resume command
            # as the next step.
            f"{service} {operation}{target} failed: could not reach the endpoint ({error}). "
            "Check the network, the proxy and AWS_ENDPOINT_URL.",
            service=service,
            operation=operation,
            resource=resource,
            code="ConnectionError",
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
