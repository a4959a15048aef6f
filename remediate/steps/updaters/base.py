"""The contract every consumer updater keeps: stage, switch, verify, restore.

The rotation runs in four phases, as Secrets Manager's own rotation does:
create (the key, written at once to the escrow), set (kinds that can hold a
pending value stage it), test (the new credential proven), and finish (every
consumer switched and read back). `restore` undoes a switch for a rollback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from remediate.aws.smtp import derive_smtp_password, smtp_password_v2
from remediate.core.errors import UsageError
from remediate.core.secrets import SecretValue
from remediate.steps.base import Check, PlannedCall, StepContext
from remediate.steps.consumers import SMTP, Consumer, CredentialLayout


@dataclass(frozen=True)
class NewCredential:
    """The replacement key, with its secret held in memory only for this run."""

    access_key_id: str
    user_name: str
    secret_access_key: SecretValue

    def value_for(self, layout: CredentialLayout) -> SecretValue:
        """The secret a consumer stores: the SMTP password of its region, or the key itself."""
        if layout.credential != SMTP:
            return self.secret_access_key
        if layout.smtp_version == 2:
            return SecretValue(smtp_password_v2(self.secret_access_key.reveal()))
        if layout.smtp_region is None:
            raise UsageError(
                "The consumer's SMTP region is unknown, so no password can be derived."
            )
        return self.value_for_region(layout.smtp_region)

    def value_for_region(self, region: str) -> SecretValue:
        """The version 4 SMTP password of one region."""
        return derive_smtp_password(self.secret_access_key, region)


@dataclass
class Discovery:
    """What a search for one kind of consumer found."""

    consumers: list[Consumer] = field(default_factory=list)
    left_behind: list[dict[str, str]] = field(default_factory=list)
    degraded: bool = False


class Updater(ABC):
    """Updates one kind of consumer. Every method journals its changes through ctx.mutate."""

    kind: ClassVar[str]
    # True when the kind can hold a value consumers do not read yet (Secrets
    # Manager's AWSPENDING), so it is written in the set phase, before the test.
    stages: ClassVar[bool] = False
    # True when the switch is done by hand: the operator confirms it, item by item.
    manual: ClassVar[bool] = False

    def declare(self, ctx: StepContext, declaration: Mapping[str, Any]) -> Consumer:
        """Build a consumer from its entry in a consumers file, reading it where needed."""
        raise UsageError(f"Consumers of kind {self.kind!r} cannot be listed in a consumers file.")

    def discover(self, ctx: StepContext, regions: list[str]) -> Discovery:
        """Search the regions for consumers of this kind that hold the leaked key ID."""
        return Discovery()

    def stage(
        self, ctx: StepContext, consumer: Consumer, credential: NewCredential
    ) -> dict[str, Any]:
        """Write the new credential where consumers do not read it yet; return what was staged."""
        raise NotImplementedError(f"{self.kind} consumers cannot stage a value")

    @abstractmethod
    def plan_switch(self, consumer: Consumer) -> list[PlannedCall]:
        """The calls `switch` makes, for the plan and the dry run."""

    @abstractmethod
    def switch(
        self,
        ctx: StepContext,
        consumer: Consumer,
        credential: NewCredential,
        staged: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Make the consumer use the new credential; return what `verify` and `restore` need.

        `staged` holds what `stage` returned, plus `escrow` (the escrow's label)
        and `escrow_location` (its region and name, for `keep_previous`). A switch
        that already happened (a resumed run) is recognised and not repeated. The
        record returned must hold no secret, and a `summary` for the report.
        """

    @abstractmethod
    def verify(
        self,
        ctx: StepContext,
        consumer: Consumer,
        switched: Mapping[str, Any],
        credential: NewCredential,
    ) -> Check:
        """Read the consumer back and compare it with what was written."""

    @abstractmethod
    def restore(self, ctx: StepContext, consumer: Consumer, switched: Mapping[str, Any]) -> str:
        """Put the consumer's previous value back (a rollback); return what was done."""
