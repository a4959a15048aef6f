"""Exit codes and the error types that carry a way forward to the operator."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, named by meaning. The README documents each one."""

    OK = 0
    INTERNAL_ERROR = 1
    USAGE_ERROR = 2
    INPUT_REQUIRED = 3
    AWS_CALL_FAILED = 4
    VERIFICATION_FAILED = 5
    WRONG_ACCOUNT = 6
    INCIDENT_DIR_ERROR = 7
    INTERRUPTED = 130


class RemediateError(Exception):
    """An expected failure: what failed, on which resource, and what to run next.

    The CLI prints `message`, then `next_step` when there is one, and exits with
    `exit_code`; it prints no traceback unless --debug is given.
    """

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, *, next_step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step

    def with_next_step(self, next_step: str) -> RemediateError:
        """Set the follow-up command when the raiser could not know it, and return self."""
        if self.next_step is None:
            self.next_step = next_step
        return self


class UsageError(RemediateError):
    """An option or input file is invalid."""

    exit_code = ExitCode.USAGE_ERROR


class InputRequiredError(RemediateError):
    """A question needs an answer (or an approval) and no terminal is attached."""

    exit_code = ExitCode.INPUT_REQUIRED


class AwsCallError(RemediateError):
    """An AWS call failed in a way that retrying will not fix."""

    exit_code = ExitCode.AWS_CALL_FAILED

    def __init__(
        self,
        message: str,
        *,
        service: str,
        operation: str,
        resource: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
        next_step: str | None = None,
    ) -> None:
        super().__init__(message, next_step=next_step)
        self.service = service
        self.operation = operation
        self.resource = resource
        self.code = code
        self.request_id = request_id


class VerificationError(RemediateError):
    """A check after a change failed: the change may not have taken effect."""

    exit_code = ExitCode.VERIFICATION_FAILED


class WrongAccountError(RemediateError):
    """The access key cannot be acted on from the operator's account."""

    exit_code = ExitCode.WRONG_ACCOUNT


class IncidentDirError(RemediateError):
    """The incident directory is missing, unreadable, damaged or in use."""

    exit_code = ExitCode.INCIDENT_DIR_ERROR


class SecretLeakError(RemediateError):
    """A secret was about to be written somewhere it must never go.

    Raised before the write happens, so nothing leaks; it always means a bug.
    """

    exit_code = ExitCode.INTERNAL_ERROR


class InterruptedRun(KeyboardInterrupt):
    """Ctrl-C during a run whose journal is consistent; `next_step` continues the incident."""

    def __init__(self, next_step: str) -> None:
        super().__init__(next_step)
        self.next_step = next_step
