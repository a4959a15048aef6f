"""The debug log: off by default; IDs and request IDs, never a secret."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from remediate.core.secrets import registry

# botocore logs whole request and response bodies at DEBUG, and a response body
# holds a new secret access key before remediate has wrapped (and registered)
# it, so no filter could mask it. These loggers never go below WARNING.
_QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "moto", "werkzeug")


class SecretScrubbingFilter(logging.Filter):
    """Masks registered secrets in every record that reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = registry.scrub(record.getMessage())
        record.args = None
        return True


def configure_logging(*, debug: bool, log_file: Path | None) -> None:
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    if debug:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        # Create it 0600 first: it names the incident's keys and users.
        os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger("remediate")
    root.setLevel(logging.DEBUG)
    root.propagate = False
    for old in [handler for handler in root.handlers if getattr(handler, "remediate", False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.remediate = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(SecretScrubbingFilter())
        root.addHandler(handler)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
