"""Update consumers: make the staged version current in each secret, then read it back."""

from __future__ import annotations

import json
from typing import Any

from remediate.aws.secretsmanager import AWSCURRENT, AWSPENDING
from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import UsageError
from remediate.core.secrets import SecretValue
from remediate.steps.base import Check, Plan, PlannedCall, Step, StepContext, StepResult, StepStatus
from remediate.steps.consumers import SMTP
from remediate.steps.identify import temporary_key_reason


class UpdateConsumersStep(Step):
    kind = "update-consumers"
    mutating = True

    def skip_reason(self, ctx: StepContext) -> str | None:
        return temporary_key_reason(ctx)

    def plan(self, ctx: StepContext) -> Plan:
        staged = _staged(ctx)
        if staged:
            return Plan(calls=[_promote_call(item) for item in staged])
        # Nothing is staged yet (a dry run plans the rotate step without running it).
        consumers = ctx.output_of("find-consumers").get("consumers", [])
        calls = []
        for consumer in consumers:
            calls.append(
                PlannedCall(
                    "secretsmanager",
                    "UpdateSecretVersionStage",
                    consumer["name"],
                    "make the version the rotate step stages AWSCURRENT",
                    region=consumer["region"],
                )
            )
            calls.append(
                PlannedCall(
                    "secretsmanager",
                    "UpdateSecretVersionStage",
                    consumer["name"],
                    "remove the AWSPENDING label, then read the secret back",
                    region=consumer["region"],
                )
            )
        return Plan(calls=calls)

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        staged = _staged(ctx)
        if not staged:
            raise UsageError(
                "The rotate step staged no new credential, so there is nothing to switch to.",
                next_step="run `remediate resume` to finish the rotate step first",
            )
        switched = [self._promote(ctx, item) for item in staged]
        return StepResult(
            StepStatus.OK,
            f"{len(switched)} consumer(s) now read the new credential as AWSCURRENT.",
            {"consumers": switched},
        )

    def _promote(self, ctx: StepContext, item: dict[str, Any]) -> dict[str, Any]:
        region, resource, pending = item["region"], item["resource"], item["pending_version_id"]
        stages = ctx.aws.secretsmanager.version_stages(region, resource)
        current = next(
            (version for version, labels in stages.items() if AWSCURRENT in labels), None
        )
        if current != pending:
            ctx.mutate(
                _promote_call(item, current),
                lambda: ctx.aws.secretsmanager.move_stage(
                    region, resource, AWSCURRENT, to_version=pending, from_version=current
                ),
            )
        if AWSPENDING in stages.get(pending, ()):
            ctx.mutate(
                PlannedCall(
                    "secretsmanager",
                    "UpdateSecretVersionStage",
                    item["name"],
                    "remove the AWSPENDING label from the version that is now current",
                    region=region,
                    params={
                        "SecretId": resource,
                        "VersionStage": AWSPENDING,
                        "RemoveFromVersionId": pending,
                    },
                ),
                lambda: ctx.aws.secretsmanager.move_stage(
                    region, resource, AWSPENDING, to_version=None, from_version=pending
                ),
            )
        ctx.console.success(f"{item['name']} ({region}) now reads the new credential.")
        return {
            **item,
            "previous_version_id": current if current != pending else item["previous_version_id"],
        }

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        new_key = ctx.output_of("rotate").get("new_access_key_id")
        secret = ctx.secret(str(new_key))
        checks: list[Check] = []
        for item in result.outputs["consumers"]:
            version = ctx.aws.secretsmanager.get_secret_value(item["region"], item["resource"])
            document = json.loads(version.secret_string.reveal()) if version.secret_string else {}
            problems = []
            if version.version_id != item["pending_version_id"]:
                problems.append(
                    f"AWSCURRENT is version {version.version_id}, not {item['pending_version_id']}"
                )
            if document.get(item["username_field"]) != new_key:
                problems.append(f"{item['username_field']} does not hold {new_key}")
            if secret is not None and not _credential_matches(document, item, secret.reveal()):
                problems.append(
                    "the stored credential does not match the one derived for the new key"
                )
            checks.append(
                Check(
                    f"consumer:{item['name']}",
                    not problems,
                    f"{item['name']} ({item['region']}): "
                    + (
                        "; ".join(problems)
                        if problems
                        else f"AWSCURRENT holds {new_key} (read back)"
                    ),
                )
            )
        return checks


def _credential_matches(
    document: dict[str, Any], item: dict[str, Any], secret_access_key: str
) -> bool:
    stored = document.get(item["secret_field"])
    if not isinstance(stored, str):
        return False
    expected = (
        smtp_password_v4(secret_access_key, item["smtp_region"])
        if item["credential"] == SMTP
        else secret_access_key
    )
    return SecretValue(expected).matches(stored)


def _promote_call(item: dict[str, Any], current: str | None = None) -> PlannedCall:
    previous = current or item.get("previous_version_id") or "<previous version>"
    return PlannedCall(
        "secretsmanager",
        "UpdateSecretVersionStage",
        item["name"],
        "make the staged version AWSCURRENT; the old one becomes AWSPREVIOUS",
        region=item["region"],
        params={
            "SecretId": item["resource"],
            "VersionStage": AWSCURRENT,
            "MoveToVersionId": item["pending_version_id"],
        },
        undo=(
            f"aws secretsmanager update-secret-version-stage --region {item['region']} "
            f"--secret-id {item['resource']} --version-stage AWSCURRENT "
            f"--move-to-version-id {previous} --remove-from-version-id {item['pending_version_id']}"
        ),
    )


def _staged(ctx: StepContext) -> list[dict[str, Any]]:
    return list(ctx.output_of("rotate").get("staged", []))
