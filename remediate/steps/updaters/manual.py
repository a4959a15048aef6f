"""Manual consumers: a place remediate cannot reach, switched by the operator, item by item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediate.core.errors import UsageError
from remediate.core.interaction import Question, QuestionKind
from remediate.steps.base import Check, PlannedCall, StepContext
from remediate.steps.consumers import IAM_KEY, MANUAL, SMTP, Consumer, CredentialLayout
from remediate.steps.updaters.base import NewCredential, Updater

MANUAL_QUESTION = "consumers.manual"


class ManualUpdater(Updater):
    kind = MANUAL
    manual = True

    def declare(self, ctx: StepContext, declaration: Mapping[str, Any]) -> Consumer:
        name = str(declaration.get("name") or "").strip()
        if not name:
            raise UsageError("A manual consumer in the consumers file needs a `name`.")
        credential = str(declaration.get("credential") or SMTP)
        if credential not in {SMTP, IAM_KEY}:
            raise UsageError(
                f"The manual consumer {name} has credential {credential!r}; "
                f"use {SMTP} or {IAM_KEY}."
            )
        region = declaration.get("smtp_region")
        if credential == SMTP and not region:
            raise UsageError(
                f"The manual consumer {name} needs `smtp_region`: "
                "the region its SMTP password is for."
            )
        layout = CredentialLayout(
            credential, "user name", "password", str(region) if region else None, "consumers file"
        )
        instructions = str(declaration.get("instructions") or "update it by hand")
        return Consumer(
            MANUAL, f"manual:{name}", name, None, layout, {"instructions": instructions}
        )

    def plan_switch(self, consumer: Consumer) -> list[PlannedCall]:
        return []

    def switch(
        self,
        ctx: StepContext,
        consumer: Consumer,
        credential: NewCredential,
        staged: Mapping[str, Any],
    ) -> dict[str, Any]:
        escrow = staged.get("escrow", "the escrow secret")
        layout = consumer.layout
        what = (
            f"user name {credential.access_key_id} and the SMTP password for "
            f"{layout.smtp_region} (SmtpPasswords.{layout.smtp_region} in {escrow})"
            if layout.credential == SMTP
            else f"access key ID {credential.access_key_id} and its secret "
            f"(SecretAccessKey in {escrow})"
        )
        instructions = consumer.details.get("instructions") or "update it by hand"
        answer = ctx.ask(
            Question(
                f"{MANUAL_QUESTION}.{consumer.name}",
                f"{consumer.name}: {instructions}. Put in the {what}. Is it done?",
                QuestionKind.CONFIRM,
            )
        )
        done = answer is True
        if done:
            ctx.console.success(
                f"{consumer.label} was switched by hand, as the operator confirmed."
            )
        return {
            "confirmed": done,
            "summary": "switched by hand, confirmed by the operator"
            if done
            else "not switched: the operator did not confirm it",
        }

    def verify(
        self,
        ctx: StepContext,
        consumer: Consumer,
        switched: Mapping[str, Any],
        credential: NewCredential,
    ) -> Check:
        confirmed = bool(switched.get("confirmed"))
        detail = "confirmed by the operator" if confirmed else "the operator did not confirm it"
        return Check(f"consumer:{consumer.name}", confirmed, f"{consumer.label}: {detail}")

    def restore(self, ctx: StepContext, consumer: Consumer, switched: Mapping[str, Any]) -> str:
        ctx.console.warning(
            f"{consumer.label} was switched by hand: put its previous credential back by hand."
        )
        return f"{consumer.label}: to be restored by hand"
