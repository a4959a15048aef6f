"""Faults injected into botocore through its event system, for tests in and out of process.

A `before-send` handler that returns a response or raises replaces the
network, so botocore's own retry handling sees the fault as it would see AWS's.
This module imports only the standard library and botocore, because the
subprocess hook (sitecustomize) imports it before anything else is on the path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError

# Calls that only read. Every other operation the run makes changes something.
READ_ONLY = re.compile(r"^(Get|List|Describe|Lookup|Simulate)")

# Services that speak the query protocol (XML errors); the others here speak JSON.
QUERY_SERVICES = frozenset({"iam", "sts", "ses"})

# The HTTP status AWS returns with each error code.
STATUS_OF = {
    "ThrottlingException": 400,
    "Throttling": 400,
    "RequestLimitExceeded": 400,
    "ServiceUnavailable": 503,
    "AccessDenied": 403,
    "AccessDeniedException": 400,
    "ExpiredToken": 403,
    "ExpiredTokenException": 400,
    "NoSuchEntity": 404,
    "LimitExceeded": 409,
}

# The fault name for a connection that never opened.
CONNECT_TIMEOUT = "ConnectTimeout"

TRANSIENT_FAULTS = ("ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable")
PERMANENT_FAULTS = ("AccessDenied", "ExpiredToken", "NoSuchEntity", "LimitExceeded")


class _Body:
    """The raw body botocore reads from an AWSResponse."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def is_mutating(operation: str) -> bool:
    return not READ_ONLY.match(operation)


def error_response(service: str, url: str, code: str, request_id: str) -> AWSResponse:
    """Build the HTTP response AWS sends with an error code, in the service's protocol."""
    status = STATUS_OF.get(code, 400)
    message = f"Injected {code} for a test"
    if service in QUERY_SERVICES:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}
    return AWSResponse(url, status, headers, _Body(body))


def fault_handler(
    code: str, *, times: int, attempts: list[str]
) -> Callable[..., AWSResponse | None]:
    """Return a before-send handler that fails the first `times` attempts with `code`.

    Every attempt (faulted or not) is appended to `attempts` by operation name,
    so a test can count botocore's retries.
    """
    remaining = [times]

    def handle(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        attempts.append(operation)
        if remaining[0] <= 0:
            return None
        remaining[0] -= 1
        if code == CONNECT_TIMEOUT:
            raise ConnectTimeoutError(endpoint_url=request.url)
        return error_response(service, request.url, code, f"injected-{len(attempts)}")

    return handle
