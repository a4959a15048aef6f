"""Secrets Manager consumers: a new version staged as AWSPENDING, then made AWSCURRENT.

The previous version keeps the AWSPREVIOUS label, which is what a rollback
moves AWSCURRENT back to. A JSON secret keeps its other fields and its own
field names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from remediate.aws.secretsmanager import AWSCURRENT, AWSPENDING, PutSecretReceipt
from remediate.core.errors import UsageError
from remediate.core.secrets import SecretValue
from remediate.steps.base import Check, PlannedCall, StepContext
from remediate.steps.consumers import SECRETS_MANAGER, Consumer, rewrite_secret
from remediate.steps.updaters.base import NewCredential, Updater


class SecretsManagerUpdater(Updater):
    kind = SECRETS_MANAGER
    stages = True

    def stage(
        self, ctx: StepContext, consumer: Consumer, credential: NewCredential
    ) -> dict[str, Any]:
        region = _region(consumer)
        current = ctx.aws.secretsmanager.get_secret_value(region, consumer.resource)
        if current.secret_string is None:
            raise UsageError(f"The secret {consumer.label} has no string value to update.")
        new_string = SecretValue(
            rewrite_secret(
                current.secret_string.reveal(),
                consumer.layout,
                credential.access_key_id,
                credential.value_for(consumer.layout).reveal(),
            )
        )
        # The token ties the version to this key and consumer, so a retried call
        # returns the same version instead of writing another.
        token = str(
            uuid.uuid5(
                uuid.NAMESPACE_URL,
                f"remediate:{ctx.incident_id}:{consumer.resource}:{credential.access_key_id}",
            )
        )
        receipt = ctx.mutate(
            PlannedCall(
                "secretsmanager",
                "PutSecretValue",
                consumer.name,
                "stage the new credential as AWSPENDING (consumers keep reading AWSCURRENT)",
                region=region,
                params={"SecretId": consumer.resource, "VersionStages": [AWSPENDING]},
                undo="none needed: no consumer reads AWSPENDING",
            ),
            lambda: ctx.aws.secretsmanager.put_pending_value(
                region, consumer.resource, new_string, client_request_token=token
            ),
            describe=_describe_put,
        )
        ctx.console.success(f"Staged the new credential in {consumer.label} as AWSPENDING.")
        return {"previous_version_id": current.version_id, "pending_version_id": receipt.version_id}

    def plan_switch(self, consumer: Consumer) -> list[PlannedCall]:
        return [
            _move_call(consumer, "<staged version>", "<current version>"),
            PlannedCall(
                "secretsmanager",
                "UpdateSecretVersionStage",
                consumer.name,
                "remove the AWSPENDING label, then read the secret back",
                region=consumer.region,
            ),
        ]

    def switch(
        self,
        ctx: StepContext,
        consumer: Consumer,
        credential: NewCredential,
        staged: Mapping[str, Any],
    ) -> dict[str, Any]:
        region = _region(consumer)
        pending = str(staged["pending_version_id"])
        stages = ctx.aws.secretsmanager.version_stages(region, consumer.resource)
        current = next(
            (version for version, labels in stages.items() if AWSCURRENT in labels), None
        )
        previous = str(staged["previous_version_id"])
        if current != pending:
            ctx.mutate(
                _move_call(consumer, pending, current),
                lambda: ctx.aws.secretsmanager.move_stage(
                    region, consumer.resource, AWSCURRENT, to_version=pending, from_version=current
                ),
            )
            previous = current or previous
        if AWSPENDING in stages.get(pending, ()):
            ctx.mutate(
                PlannedCall(
                    "secretsmanager",
                    "UpdateSecretVersionStage",
                    consumer.name,
                    "remove the AWSPENDING label from the version that is now current",
                    region=region,
                    params={
                        "SecretId": consumer.resource,
                        "VersionStage": AWSPENDING,
                        "RemoveFromVersionId": pending,
                    },
                    undo="none needed: the label marks a finished rotation",
                ),
                lambda: ctx.aws.secretsmanager.move_stage(
                    region, consumer.resource, AWSPENDING, to_version=None, from_version=pending
                ),
            )
        ctx.console.success(f"{consumer.label} now reads the new credential.")
        return {
            "current_version_id": pending,
            "previous_version_id": previous,
            "summary": f"reads version {pending} as AWSCURRENT; the previous version "
            f"{previous} is AWSPREVIOUS",
        }

    def verify(
        self,
        ctx: StepContext,
        consumer: Consumer,
        switched: Mapping[str, Any],
        credential: NewCredential,
    ) -> Check:
        version = ctx.aws.secretsmanager.get_secret_value(_region(consumer), consumer.resource)
        document = json.loads(version.secret_string.reveal()) if version.secret_string else {}
        layout = consumer.layout
        problems = []
        if version.version_id != switched["current_version_id"]:
            problems.append(
                f"AWSCURRENT is version {version.version_id}, not {switched['current_version_id']}"
            )
        if document.get(layout.username_field) != credential.access_key_id:
            problems.append(f"{layout.username_field} does not hold {credential.access_key_id}")
        stored = document.get(layout.secret_field)
        if not isinstance(stored, str) or not credential.value_for(layout).matches(stored):
            problems.append(f"{layout.secret_field} does not hold the new credential")
        detail = "; ".join(problems) or f"AWSCURRENT holds {credential.access_key_id} (read back)"
        return Check(f"consumer:{consumer.name}", not problems, f"{consumer.label}: {detail}")

    def restore(self, ctx: StepContext, consumer: Consumer, switched: Mapping[str, Any]) -> str:
        region = _region(consumer)
        previous = str(switched["previous_version_id"])
        stages = ctx.aws.secretsmanager.version_stages(region, consumer.resource)
        current = next(
            (version for version, labels in stages.items() if AWSCURRENT in labels), None
        )
        if current == previous:
            return f"{consumer.label} already reads its previous version {previous}"
        ctx.mutate(
            _move_call(
                consumer,
                previous,
                current,
                description="move AWSCURRENT back to the previous version",
            ),
            lambda: ctx.aws.secretsmanager.move_stage(
                region, consumer.resource, AWSCURRENT, to_version=previous, from_version=current
            ),
        )
        return f"{consumer.label} reads its previous version {previous} again"


def _move_call(
    consumer: Consumer,
    to_version: str,
    from_version: str | None,
    *,
    description: str = "make the staged version AWSCURRENT; the old one becomes AWSPREVIOUS",
) -> PlannedCall:
    return PlannedCall(
        "secretsmanager",
        "UpdateSecretVersionStage",
        consumer.name,
        description,
        region=consumer.region,
        params={
            "SecretId": consumer.resource,
            "VersionStage": AWSCURRENT,
            "MoveToVersionId": to_version,
            "RemoveFromVersionId": from_version,
        },
        undo=(
            f"aws secretsmanager update-secret-version-stage --region {consumer.region} "
            f"--secret-id {consumer.resource} --version-stage AWSCURRENT "
            f"--move-to-version-id {from_version} --remove-from-version-id {to_version}"
        ),
    )


def _region(consumer: Consumer) -> str:
    if consumer.region is None:
        raise UsageError(f"The secret {consumer.name} has no region.")
    return consumer.region


def _describe_put(receipt: PutSecretReceipt) -> dict[str, Any]:
    return {"arn": receipt.arn, "version_id": receipt.version_id}
