"""Find consumers: the Secrets Manager secrets that hold the leaked credential.

Secret values are read only to compare them with the key ID in memory; no
value is kept, journaled or shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from remediate.aws.regions import GLOBAL_EVENTS_REGION
from remediate.aws.secretsmanager import SecretSummary
from remediate.core.errors import AwsCallError, InputRequiredError
from remediate.core.interaction import Choice, Question, QuestionKind, Table
from remediate.steps.base import Plan, PlannedCall, Step, StepContext, StepResult, StepStatus
from remediate.steps.consumers import SECRETS_MANAGER, Consumer, LayoutError, detect_layout
from remediate.steps.identify import temporary_key_reason


class FindConsumersStep(Step):
    kind = "find-consumers"
    questions = ("consumers.secrets", "consumers.select")
    defaults: ClassVar[Mapping[str, Any]] = {"regions": []}

    def skip_reason(self, ctx: StepContext) -> str | None:
        return temporary_key_reason(ctx)

    def plan(self, ctx: StepContext) -> Plan:
        regions = self._search_regions(ctx)
        return Plan(
            calls=[
                PlannedCall(
                    "secretsmanager",
                    "ListSecrets",
                    region,
                    "list secrets, then read each to compare it with the key ID in memory",
                    mutating=False,
                    region=region,
                )
                for region in regions
            ]
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        regions = self._search_regions(ctx)
        consumers: dict[str, Consumer] = {}
        unsupported: list[dict[str, str]] = []
        degraded = False
        for region in regions:
            try:
                summaries = list(ctx.aws.secretsmanager.list_secrets(region))
            except AwsCallError as error:
                ctx.record_gap(
                    "secretsmanager", f"secrets could not be listed: {error.message}", region=region
                )
                degraded = True
                continue
            for summary in summaries:
                self._examine(ctx, summary, consumers, unsupported)

        for reference in self._named_secrets(ctx):
            region, secret_id = _split_reference(reference, ctx.aws.default_region)
            summary = SecretSummary(arn=secret_id, name=secret_id, region=region)
            if not any(c.name == secret_id or c.resource == secret_id for c in consumers.values()):
                self._examine(ctx, summary, consumers, unsupported, named=True)

        chosen = self._confirm(ctx, list(consumers.values()))
        if not chosen:
            raise InputRequiredError(
                f"No consumer of {ctx.access_key_id} was found in {', '.join(regions)}, so the new "
                "credential would have nowhere to go. Name the Secrets Manager secret that holds "
                "it as `consumers.secrets: region:name` in the answers file, or widen the search "
                "with --regions."
            )
        _show(ctx, chosen, unsupported)
        outputs: dict[str, Any] = {
            "consumers": [consumer.as_record() for consumer in chosen],
            "searched_regions": regions,
            "unsupported": unsupported,
        }
        status = StepStatus.DEGRADED if degraded or unsupported else StepStatus.OK
        return StepResult(
            status, f"{len(chosen)} consumer(s) will be switched to the new key.", outputs
        )

    def _search_regions(self, ctx: StepContext) -> list[str]:
        """Where to look: --regions, else where the key was active plus the operator's region."""
        if ctx.regions:
            return sorted(set(ctx.regions))
        wanted = {ctx.aws.default_region, GLOBAL_EVENTS_REGION, *self.params["regions"]}
        last_used = ctx.output_of("identify").get("access_key", {}).get("last_used_region")
        if last_used:
            wanted.add(last_used)
        investigation = ctx.output_of("investigate")
        wanted.update(investigation.get("sending_regions", []))
        wanted.update(investigation.get("suspect_regions", []))
        return sorted(wanted)

    def _examine(
        self,
        ctx: StepContext,
        summary: SecretSummary,
        consumers: dict[str, Consumer],
        unsupported: list[dict[str, str]],
        *,
        named: bool = False,
    ) -> None:
        try:
            version = ctx.aws.secretsmanager.get_secret_value(summary.region, summary.arn)
        except AwsCallError as error:
            if named:
                unsupported.append(
                    {"name": summary.name, "region": summary.region, "reason": error.message}
                )
            else:
                ctx.record_gap(
                    "secretsmanager",
                    f"{summary.name} could not be read: {error.code}",
                    region=summary.region,
                )
            return
        if version.secret_string is None:
            return
        try:
            layout = detect_layout(
                version.secret_string.reveal(), ctx.access_key_id, summary.region
            )
        except LayoutError as error:
            unsupported.append(
                {"name": version.name, "region": summary.region, "reason": str(error)}
            )
            return
        if layout is None:
            if named:
                unsupported.append(
                    {
                        "name": version.name,
                        "region": summary.region,
                        "reason": "it does not contain the key ID",
                    }
                )
            return
        consumers[version.arn] = Consumer(
            SECRETS_MANAGER, version.arn, version.name, summary.region, layout
        )

    def _named_secrets(self, ctx: StepContext) -> list[str]:
        answer = ctx.ask(
            Question(
                "consumers.secrets",
                "Other Secrets Manager secrets that hold this key (region:name, comma-separated)?",
                QuestionKind.TEXT,
                default="",
            )
        )
        text = answer if isinstance(answer, str) else ""
        return [item.strip() for item in text.split(",") if item.strip()]

    def _confirm(self, ctx: StepContext, found: list[Consumer]) -> list[Consumer]:
        if not found:
            return []
        answer = ctx.ask(
            Question(
                "consumers.select",
                "Which consumers should be switched to the new key?",
                QuestionKind.CHECKBOX,
                default=[consumer.resource for consumer in found],
                choices=tuple(
                    Choice(
                        consumer.resource,
                        f"{consumer.name} ({consumer.region}, {consumer.layout.credential})",
                    )
                    for consumer in found
                ),
            )
        )
        selected = set(answer) if isinstance(answer, list) else set()
        return [consumer for consumer in found if consumer.resource in selected]


def _split_reference(reference: str, default_region: str) -> tuple[str, str]:
    """Accept `region:name`, an ARN (which names its region) or a bare name."""
    if reference.startswith("arn:"):
        return reference.split(":")[3], reference
    region, separator, name = reference.partition(":")
    if separator and name:
        return region, name
    return default_region, reference


def _show(ctx: StepContext, consumers: list[Consumer], unsupported: list[dict[str, str]]) -> None:
    rows = [
        [
            consumer.name,
            consumer.region,
            consumer.layout.credential,
            consumer.layout.smtp_region or "-",
        ]
        for consumer in consumers
    ]
    ctx.console.table(
        Table("Consumers of the leaked key", ["Secret", "Region", "Holds", "SMTP region"], rows)
    )
    for item in unsupported:
        ctx.console.warning(
            f"{item['name']} ({item['region']}) cannot be updated automatically: {item['reason']}. "
            "Update it by hand after the rotation."
        )
