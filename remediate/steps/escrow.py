"""The escrow: a Secrets Manager secret the new key is written to the moment it exists.

AWS shows a secret access key once. Written to the escrow before anything else
happens, it can be read back by a resumed run, so the key is never lost with
the process that created it. The escrow also holds the SMTP password of every
region a consumer needs, for consumers that are updated by hand.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from remediate.aws.secretsmanager import PutSecretReceipt
from remediate.core.errors import AwsCallError
from remediate.core.interaction import Question, QuestionKind
from remediate.core.secrets import SecretValue
from remediate.steps.base import PlannedCall, StepContext
from remediate.steps.consumers import SMTP, Consumer
from remediate.steps.updaters.base import NewCredential

ESCROW_QUESTION = "rotate.escrow"


@dataclass(frozen=True)
class EscrowLocation:
    region: str
    name: str

    def as_record(self) -> dict[str, str]:
        return {"region": self.region, "name": self.name}

    @property
    def label(self) -> str:
        return f"{self.region}:{self.name}"


def choose_escrow(ctx: StepContext) -> EscrowLocation:
    default = f"{ctx.aws.default_region}:remediate/{ctx.incident_id}"
    answer = ctx.ask(
        Question(
            ESCROW_QUESTION,
            "Which Secrets Manager secret (region:name) should hold the new key from the moment "
            "it exists? It is created if it does not exist.",
            QuestionKind.TEXT,
            default=default,
        )
    )
    region, separator, name = str(answer or default).partition(":")
    if not separator or not name:
        region, name = ctx.aws.default_region, region
    return EscrowLocation(region.strip(), name.strip())


def escrow_call(location: EscrowLocation, operation: str) -> PlannedCall:
    return PlannedCall(
        "secretsmanager",
        operation,
        location.name,
        "write the new key to the escrow before anything else",
        region=location.region,
        params={"SecretId": location.name},
        undo=f"aws secretsmanager delete-secret --region {location.region} "
        f"--secret-id {location.name} (only once no consumer needs it)",
    )


def write_escrow(
    ctx: StepContext,
    location: EscrowLocation,
    credential: NewCredential,
    consumers: Sequence[Consumer],
) -> dict[str, Any]:
    """Write the new key and its SMTP passwords to the escrow; return where it is."""
    regions = sorted(
        {
            c.layout.smtp_region
            for c in consumers
            if c.layout.credential == SMTP and c.layout.smtp_region
        }
    )
    document = {
        "AccessKeyId": credential.access_key_id,
        "UserName": credential.user_name,
        "SecretAccessKey": credential.secret_access_key.reveal(),
        "SmtpUserName": credential.access_key_id,
        "SmtpPasswords": {
            region: credential.value_for_region(region).reveal() for region in regions
        },
        "Incident": ctx.incident_id,
    }
    value = SecretValue(json.dumps(document))
    token = str(
        uuid.uuid5(
            uuid.NAMESPACE_URL, f"remediate:escrow:{ctx.incident_id}:{credential.access_key_id}"
        )
    )
    gateway = ctx.aws.secretsmanager
    if gateway.exists(location.region, location.name):
        receipt: PutSecretReceipt = ctx.mutate(
            escrow_call(location, "PutSecretValue"),
            lambda: gateway.put_current_value(
                location.region, location.name, value, client_request_token=token
            ),
            describe=_describe,
        )
    else:
        receipt = ctx.mutate(
            escrow_call(location, "CreateSecret"),
            lambda: gateway.create_secret(
                location.region,
                location.name,
                value,
                client_request_token=token,
                description=f"Replacement key {credential.access_key_id} created by remediate "
                f"for incident {ctx.incident_id}",
            ),
            describe=_describe,
        )
    ctx.console.success(f"Wrote the new key to the escrow {location.label}.")
    return {**location.as_record(), "arn": receipt.arn, "version_id": receipt.version_id}


def read_escrow(
    ctx: StepContext, location: EscrowLocation, access_key_id: str
) -> SecretValue | None:
    """Recover a key's secret from the escrow; None when the escrow does not hold that key."""
    try:
        version = ctx.aws.secretsmanager.get_secret_value(location.region, location.name)
    except AwsCallError as error:
        if error.code == "ResourceNotFoundException":
            return None
        raise
    if version.secret_string is None:
        return None
    try:
        document = json.loads(version.secret_string.reveal())
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict) or document.get("AccessKeyId") != access_key_id:
        return None
    secret = document.get("SecretAccessKey")
    return SecretValue(secret) if isinstance(secret, str) else None


def _describe(receipt: PutSecretReceipt) -> dict[str, Any]:
    return {"arn": receipt.arn, "version_id": receipt.version_id}


def previous_location(location: EscrowLocation) -> EscrowLocation:
    """Where consumers' previous credential values are kept for a rollback."""
    return EscrowLocation(location.region, f"{location.name}/previous")


def keep_previous(
    ctx: StepContext, location: EscrowLocation, consumer: Consumer, values: dict[str, str]
) -> None:
    """Keep a consumer's previous credential values (by field name) for a rollback.

    For kinds without a version history of their own (a Lambda function's
    environment), so the old values never go to the journal. They are the
    leaked credential, kept in Secrets Manager beside the escrow.
    """
    target = previous_location(location)
    gateway = ctx.aws.secretsmanager
    document: dict[str, Any] = {}
    if gateway.exists(target.region, target.name):
        current = gateway.get_secret_value(target.region, target.name)
        if current.secret_string is not None:
            document = json.loads(current.secret_string.reveal())
    if consumer.reference in document:
        return
    document[consumer.reference] = values
    for value in values.values():
        SecretValue(value)
    secret = SecretValue(json.dumps(document))
    token = str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"remediate:previous:{ctx.incident_id}:{consumer.reference}")
    )
    call = PlannedCall(
        "secretsmanager",
        "PutSecretValue" if document.keys() - {consumer.reference} else "CreateSecret",
        target.name,
        f"keep the previous credential of {consumer.name} for a rollback",
        region=target.region,
        undo=f"aws secretsmanager delete-secret --region {target.region} --secret-id {target.name}",
    )
    if gateway.exists(target.region, target.name):
        ctx.mutate(
            call,
            lambda: gateway.put_current_value(
                target.region, target.name, secret, client_request_token=token
            ),
        )
    else:
        ctx.mutate(
            call,
            lambda: gateway.create_secret(
                target.region,
                target.name,
                secret,
                client_request_token=token,
                description=f"Previous credentials of consumers, kept by remediate for incident "
                f"{ctx.incident_id} to roll back",
            ),
        )


def read_previous(
    ctx: StepContext, location: EscrowLocation, consumer: Consumer
) -> dict[str, SecretValue] | None:
    target = previous_location(location)
    try:
        version = ctx.aws.secretsmanager.get_secret_value(target.region, target.name)
    except AwsCallError as error:
        if error.code == "ResourceNotFoundException":
            return None
        raise
    if version.secret_string is None:
        return None
    values = json.loads(version.secret_string.reveal()).get(consumer.reference)
    if not isinstance(values, dict):
        return None
    return {str(name): SecretValue(str(value)) for name, value in values.items()}
