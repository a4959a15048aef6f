"""Find consumers: the Secrets Manager secrets that hold the leaked credential.

Secret values are read only to compare them with the key ID in memory; no
value is kept, journaled or shown. Every secret that may still hold the leaked
key after the rotation (not selected, in a shape remediate cannot update, or
unreadable) is recorded as left behind, so that deactivation asks for an
approval that names the breakage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from remediate.aws.regions import GLOBAL_EVENTS_REGION, SmtpEndpoint, ses_regions, smtp_endpoint
from remediate.aws.secretsmanager import SecretSummary
from remediate.core.errors import AwsCallError, InputRequiredError, UsageError
from remediate.core.interaction import Choice, Question, QuestionKind, Table
from remediate.steps.base import Plan, PlannedCall, Step, StepContext, StepResult, StepStatus
from remediate.steps.consumers import (
    SECRETS_MANAGER,
    SMTP,
    Consumer,
    LayoutError,
    detect_layout,
    register_credential,
)
from remediate.steps.identify import temporary_key_reason
from remediate.steps.updaters.base import Discovery
from remediate.steps.updaters.registry import UPDATERS

SMTP_REGION_QUESTION = "consumers.smtp-region"


class FindConsumersStep(Step):
    kind = "find-consumers"
    # `consumers.smtp-region.<secret name>` is asked per secret that names no SMTP region.
    questions = ("consumers.secrets", "consumers.select", SMTP_REGION_QUESTION)
    defaults: ClassVar[Mapping[str, Any]] = {"regions": []}

    def skip_reason(self, ctx: StepContext) -> str | None:
        return temporary_key_reason(ctx)

    def plan(self, ctx: StepContext) -> Plan:
        reads = [
            ("secretsmanager", "ListSecrets", "list secrets, then read each"),
            ("ssm", "DescribeParameters", "list parameters, then read them (decrypted)"),
            ("lambda", "ListFunctions", "list functions and their environment variables"),
        ]
        return Plan(
            calls=[
                PlannedCall(
                    service,
                    operation,
                    region,
                    f"{description}, to compare with the key ID in memory",
                    mutating=False,
                    region=region,
                )
                for region in self._search_regions(ctx)
                for service, operation, description in reads
            ]
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        regions = self._search_regions(ctx)
        search = _Search(ctx)
        for region in regions:
            try:
                summaries = list(ctx.aws.secretsmanager.list_secrets(region))
            except AwsCallError as error:
                reason = f"secrets could not be listed: {error.message}"
                ctx.record_gap("secretsmanager", reason, region=region)
                search.degraded = True
                continue
            for summary in summaries:
                search.examine(summary)

        for declaration in ctx.declared_consumers:
            if declaration["kind"] == SECRETS_MANAGER:
                continue
            consumer = UPDATERS[declaration["kind"]].declare(ctx, declaration)
            search.consumers[consumer.resource] = consumer
        for kind, updater in UPDATERS.items():
            if kind != SECRETS_MANAGER:
                search.merge(updater.discover(ctx, regions))

        declared_secrets = [
            str(declaration.get("secret") or "")
            for declaration in ctx.declared_consumers
            if declaration["kind"] == SECRETS_MANAGER
        ]
        for reference in [*declared_secrets, *self._named_secrets(ctx)]:
            region, secret_id = _split_reference(reference, ctx.aws.default_region)
            if not search.knows(secret_id):
                search.examine(
                    SecretSummary(arn=secret_id, name=secret_id, region=region), named=True
                )

        _apply_legacy_versions(ctx, search)
        found = [_with_smtp_region(ctx, consumer, search) for consumer in search.consumers.values()]
        chosen = self._confirm(ctx, [consumer for consumer in found if consumer is not None])
        for consumer in search.consumers.values():
            if consumer.resource not in {c.resource for c in chosen} and not search.left_out(
                consumer
            ):
                search.leave(consumer.name, consumer.region, "not selected by the operator")
        if not chosen and search.consumers:
            raise UsageError(
                "No consumer was selected, so the new credential would have nowhere to go.",
                next_step="run again and select at least one consumer",
            )
        if not chosen:
            raise InputRequiredError(
                f"No consumer of {ctx.access_key_id} was found in {', '.join(regions)}, so the new "
                "credential would have nowhere to go. Name the Secrets Manager secret that holds "
                "it as `consumers.secrets: region:name` in the answers file (editing the one this "
                "incident uses, if any) and resume, or start again with a wider --regions."
            )
        _show(ctx, chosen, search.left_behind)
        outputs: dict[str, Any] = {
            "consumers": [consumer.as_record() for consumer in chosen],
            "left_behind": search.left_behind,
            "searched_regions": regions,
        }
        status = StepStatus.DEGRADED if search.degraded or search.left_behind else StepStatus.OK
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
        # Choices are `region:name`, which an answers file written in advance can name.
        answer = ctx.ask(
            Question(
                "consumers.select",
                "Which consumers should be switched to the new key?",
                QuestionKind.CHECKBOX,
                default=[consumer.reference for consumer in found],
                choices=tuple(
                    Choice(
                        consumer.reference,
                        f"{consumer.name} ({consumer.region}, {consumer.layout.credential})",
                    )
                    for consumer in found
                ),
            )
        )
        selected = set(answer) if isinstance(answer, list) else set()
        return [consumer for consumer in found if consumer.reference in selected]


class _Search:
    """What the search found: consumers by ARN, and the secrets left behind with a reason."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.consumers: dict[str, Consumer] = {}
        self.left_behind: list[dict[str, str]] = []
        self.degraded = False

    def knows(self, secret_id: str) -> bool:
        return any(secret_id in (c.name, c.resource) for c in self.consumers.values())

    def left_out(self, consumer: Consumer) -> bool:
        return any(item["name"] == consumer.name for item in self.left_behind)

    def merge(self, found: Discovery) -> None:
        for consumer in found.consumers:
            self.consumers.setdefault(consumer.resource, consumer)
        self.left_behind += found.left_behind
        self.degraded = self.degraded or found.degraded

    def leave(self, name: str, region: str | None, reason: str) -> None:
        self.left_behind.append({"name": name, "region": region or "-", "reason": reason})

    def examine(self, summary: SecretSummary, *, named: bool = False) -> None:
        try:
            version = self.ctx.aws.secretsmanager.get_secret_value(summary.region, summary.arn)
        except AwsCallError as error:
            if named and error.code == "ResourceNotFoundException":
                raise UsageError(
                    f"The secret {summary.name!r} named in consumers.secrets does not exist in "
                    f"{summary.region}.",
                    next_step="check its name and region (write region:name or the ARN) in "
                    "the answers file, then run again",
                ) from error
            # An unreadable secret may hold the key: deactivating could break it.
            self.leave(summary.name, summary.region, f"it could not be read ({error.code})")
            self.degraded = True
            return
        if version.secret_string is None:
            return
        text = version.secret_string.reveal()
        try:
            layout = detect_layout(text, self.ctx.access_key_id, summary.region)
        except LayoutError as error:
            self.leave(version.name, summary.region, str(error))
            return
        if layout is None:
            if named:
                self.leave(version.name, summary.region, "it does not contain the key ID")
            return
        register_credential(text, layout)
        self.consumers[version.arn] = Consumer(
            SECRETS_MANAGER, version.arn, version.name, summary.region, layout
        )


def _apply_legacy_versions(ctx: StepContext, search: _Search) -> None:
    """Give the consumers the consumers file marks `smtp_version: 2` a version 2 password."""
    for declaration in ctx.declared_consumers:
        version = declaration.get("smtp_version", 4)
        if version not in (2, 4):
            raise UsageError(
                f"A consumer in the consumers file has smtp_version {version!r}; use 4 or 2."
            )
        if version != 2:
            continue
        names = {
            str(declaration.get(field))
            for field in ("secret", "name", "parameter", "path", "function")
        }
        for resource, consumer in search.consumers.items():
            if names & {consumer.reference, consumer.name, consumer.resource}:
                layout = dataclasses.replace(consumer.layout, smtp_version=2)
                search.consumers[resource] = dataclasses.replace(consumer, layout=layout)
                ctx.console.warning(
                    f"{consumer.label} gets a version 2 SMTP password, as the consumers file "
                    "asks. AWS deprecated version 2: move it to a version 4 password, which is "
                    "per region, as soon as it can."
                )


def _with_smtp_region(ctx: StepContext, consumer: Consumer, search: _Search) -> Consumer | None:
    """Settle the consumer's SMTP region, asking when the secret names none.

    A guessed region would give a password that the consumer's endpoint rejects,
    so the secret's own region is never assumed. A region without an SMTP
    endpoint makes the consumer one to update by hand, before any key exists.
    """
    layout = consumer.layout
    if layout.credential != SMTP:
        return consumer
    if layout.region_source == "secret region":
        answer = ctx.ask(
            Question(
                f"{SMTP_REGION_QUESTION}.{consumer.name}",
                f"Which SES region does {consumer.name} send mail through? It names no "
                f"SMTP host or region (it is stored in {consumer.region}).",
                QuestionKind.SELECT,
                choices=tuple(
                    Choice(region, region)
                    for region in ses_regions()
                    if smtp_endpoint(region) is not SmtpEndpoint.NO
                ),
            )
        )
        layout = dataclasses.replace(layout, smtp_region=str(answer), region_source="operator")
        consumer = dataclasses.replace(consumer, layout=layout)
    region = layout.smtp_region
    if region is None or region not in ses_regions() or smtp_endpoint(region) is SmtpEndpoint.NO:
        search.leave(
            consumer.name, consumer.region, f"its SMTP region {region} has no SES SMTP endpoint"
        )
        return None
    if smtp_endpoint(region) is SmtpEndpoint.UNKNOWN:
        ctx.console.warning(
            f"{consumer.name} sends through {region}, which remediate's region table does not "
            "list; its SMTP password is derived for that region all the same."
        )
    return consumer


def _split_reference(reference: str, default_region: str) -> tuple[str, str]:
    """Accept `region:name`, an ARN (which names its region) or a bare name."""
    if reference.startswith("arn:"):
        return reference.split(":")[3], reference
    region, separator, name = reference.partition(":")
    if separator and name:
        return region, name
    return default_region, reference


def _show(ctx: StepContext, consumers: list[Consumer], left_behind: list[dict[str, str]]) -> None:
    rows = [
        [
            consumer.name,
            consumer.kind,
            consumer.region or "-",
            consumer.layout.credential,
            consumer.layout.smtp_region or "-",
        ]
        for consumer in consumers
    ]
    ctx.console.table(
        Table(
            "Consumers of the leaked key",
            ["Consumer", "Kind", "Region", "Holds", "SMTP region"],
            rows,
        )
    )
    for item in left_behind:
        ctx.console.warning(
            f"{item['name']} ({item['region']}) is not switched automatically: {item['reason']}. "
            "If it uses the leaked key, it breaks when the key is deactivated."
        )
