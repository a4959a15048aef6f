"""Consumers of the leaked credential, and where in a JSON secret the credential sits."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remediate.core.secrets import SecretValue

SECRETS_MANAGER = "secretsmanager"
MANUAL = "manual"

# A consumer stores either SMTP credentials (user name = key ID, password derived
# per region) or the IAM key pair itself (key ID + secret access key).
SMTP = "smtp"
IAM_KEY = "iam-key"

_PASSWORD_NAME = re.compile(r"pass(word)?|pwd", re.IGNORECASE)
_SECRET_KEY_NAME = re.compile(r"secret", re.IGNORECASE)
_HOST_NAME = re.compile(r"host|server|endpoint|url", re.IGNORECASE)
_REGION_NAME = re.compile(r"region", re.IGNORECASE)
# Public endpoints (email-smtp.eu-west-1.amazonaws.com) and VPC endpoints
# (vpce-0abc.email-smtp.eu-west-1.vpce.amazonaws.com).
_SMTP_HOST = re.compile(
    r"email-smtp(?:-fips)?\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.(?:vpce\.)?amazonaws\.com"
)


@dataclass(frozen=True)
class CredentialLayout:
    """Where the credential sits in a JSON secret: field names only, never values.

    `smtp_version` is 4 (a password per region) unless the consumers file asks for
    the deprecated version 2 for a consumer that cannot move yet.
    """

    credential: str  # SMTP or IAM_KEY
    username_field: str
    secret_field: str
    smtp_region: str | None
    region_source: str  # the field the region was read from, or "secret region"
    smtp_version: int = 4

    def as_record(self) -> dict[str, Any]:
        return {
            "credential": self.credential,
            "username_field": self.username_field,
            "secret_field": self.secret_field,
            "smtp_region": self.smtp_region,
            "region_source": self.region_source,
            "smtp_version": self.smtp_version,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CredentialLayout:
        return cls(
            credential=record["credential"],
            username_field=record["username_field"],
            secret_field=record["secret_field"],
            smtp_region=record.get("smtp_region"),
            region_source=record["region_source"],
            smtp_version=int(record.get("smtp_version", 4)),
        )


@dataclass(frozen=True)
class Consumer:
    """A place that holds the leaked credential and must be switched to the new one.

    `resource` identifies it for its kind: a secret's ARN, a parameter's name, a
    file's path, a function's name. `details` holds what only some kinds need
    (a file's format, the parameter that holds the user name, manual steps).
    """

    kind: str
    resource: str
    name: str
    region: str | None
    layout: CredentialLayout
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """How an answers file names it: `region:name`, or the name when it has no region."""
        return f"{self.region}:{self.name}" if self.region else self.name

    @property
    def label(self) -> str:
        where = f", {self.region}" if self.region else ""
        return f"{self.name} ({self.kind}{where})"

    def as_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource": self.resource,
            "name": self.name,
            "region": self.region,
            "layout": self.layout.as_record(),
            "details": dict(self.details),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Consumer:
        return cls(
            kind=record["kind"],
            resource=record["resource"],
            name=record["name"],
            region=record.get("region"),
            layout=CredentialLayout.from_record(record["layout"]),
            details=dict(record.get("details") or {}),
        )


class LayoutError(ValueError):
    """The secret mentions the key but its shape is not one remediate can update."""


def detect_layout(
    secret_string: str, access_key_id: str, secret_region: str
) -> CredentialLayout | None:
    """Find the fields holding the credential; None when the secret does not hold the key.

    Raises LayoutError when the key ID is present but the secret is not a flat
    JSON object with a recognisable password or secret-key field.
    """
    if access_key_id not in secret_string:
        return None
    try:
        document = json.loads(secret_string)
    except json.JSONDecodeError:
        raise LayoutError("it contains the key ID but is not JSON") from None
    if not isinstance(document, dict):
        raise LayoutError("it contains the key ID but is not a JSON object")

    username_fields = [name for name, value in document.items() if value == access_key_id]
    if not username_fields:
        raise LayoutError("it contains the key ID, but not as the whole value of a top-level field")
    username_field = username_fields[0]
    others = [
        name for name in document if name != username_field and isinstance(document[name], str)
    ]

    secret_fields = [name for name in others if _SECRET_KEY_NAME.search(name)]
    password_fields = [name for name in others if _PASSWORD_NAME.search(name)]
    if secret_fields and not password_fields:
        return CredentialLayout(IAM_KEY, username_field, secret_fields[0], None, "not needed")
    if not password_fields:
        raise LayoutError(
            f"it has the key ID in {username_field!r} but no field named like a password "
            "or a secret access key"
        )
    region, source = _smtp_region(document, secret_region)
    return CredentialLayout(SMTP, username_field, password_fields[0], region, source)


def _smtp_region(document: dict[str, Any], secret_region: str) -> tuple[str, str]:
    for name, value in document.items():
        if isinstance(value, str) and _HOST_NAME.search(name):
            match = _SMTP_HOST.search(value)
            if match:
                return match.group(1), name
    for name, value in document.items():
        if (
            isinstance(value, str)
            and _REGION_NAME.search(name)
            and re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", value)
        ):
            return value, name
    return secret_region, "secret region"


def register_credential(secret_string: str, layout: CredentialLayout) -> None:
    """Register the consumer's current credential, so that no output can show it."""
    value = json.loads(secret_string).get(layout.secret_field)
    if isinstance(value, str):
        SecretValue(value)


def rewrite_secret(secret_string: str, layout: CredentialLayout, username: str, secret: str) -> str:
    """Return the secret's JSON with the credential replaced and every other field kept."""
    document = json.loads(secret_string)
    document[layout.username_field] = username
    document[layout.secret_field] = secret
    return json.dumps(document, ensure_ascii=False)
