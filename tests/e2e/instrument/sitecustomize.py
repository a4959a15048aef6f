"""Test hook for a `remediate` subprocess: count mutating AWS calls, kill or fault at one.

Python imports this module at start-up when its directory is on PYTHONPATH.
It appends handlers to botocore's built-in handlers, so every botocore session
of the process carries them. Environment variables choose what it does:

- REMEDIATE_TEST_CALL_LOG: a file that gets one JSON line per mutating call
  (service, operation, HTTP status), written after the response arrives.
- REMEDIATE_TEST_KILL: `before:N` sends SIGKILL to the process before the Nth
  mutating call is sent, `after:N` once its response has arrived, and
  `interrupt:N` sends SIGINT (Ctrl-C) after the response of the Nth.
- REMEDIATE_TEST_FAULT: `Operation=Code` fails every attempt of that
  operation with the AWS error code (see botocore_faults).
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import botocore.handlers
import botocore_faults

_CALL_LOG = os.environ.get("REMEDIATE_TEST_CALL_LOG")
_KILL = os.environ.get("REMEDIATE_TEST_KILL")
_FAULT = os.environ.get("REMEDIATE_TEST_FAULT")

_state = {"calls": 0}


def _kill_point() -> tuple[str, int] | None:
    if not _KILL:
        return None
    moment, _, number = _KILL.partition(":")
    return moment, int(number)


def _before_call(model: Any, **_: Any) -> None:
    if not botocore_faults.is_mutating(model.name):
        return
    _state["calls"] += 1
    if _kill_point() == ("before", _state["calls"]):
        os.kill(os.getpid(), signal.SIGKILL)


def _after_call(model: Any, http_response: Any, **_: Any) -> None:
    if not botocore_faults.is_mutating(model.name):
        return
    if _CALL_LOG:
        line = json.dumps(
            {
                "service": model.service_model.service_name,
                "operation": model.name,
                "status": http_response.status_code,
            }
        )
        with open(_CALL_LOG, "a", encoding="utf-8") as log:
            log.write(line + "\n")
    point = _kill_point()
    if point == ("after", _state["calls"]):
        os.kill(os.getpid(), signal.SIGKILL)
    if point == ("interrupt", _state["calls"]):
        os.kill(os.getpid(), signal.SIGINT)


botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _before_call))
botocore.handlers.BUILTIN_HANDLERS.append(("after-call", _after_call))

if _FAULT:
    _operation, _, _code = _FAULT.partition("=")
    botocore.handlers.BUILTIN_HANDLERS.append(
        (
            f"before-send.*.{_operation}",
            botocore_faults.fault_handler(_code, times=1_000_000, attempts=[]),
        )
    )
