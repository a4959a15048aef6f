"""The contract between the engine and a step kind: plan, then apply, then verify."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from remediate.aws.gateways import AwsGateways
from remediate.core.interaction import AnswerValue, Console, Question
from remediate.core.secrets import SecretValue


@dataclass(frozen=True)
class PlannedCall:
    """One AWS call a step intends to make, described without any secret.

    `undo` is the call that reverses it, written as the operator would run it,
    or None when the call changes nothing or cannot be undone.
    """

    service: str
    operation: str
    resource: str
    description: str
    mutating: bool = True
    region: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    undo: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "region": self.region,
            "resource": self.resource,
            "description": self.description,
            "mutating": self.mutating,
            "params": dict(self.params),
            "undo": self.undo,
        }


@dataclass
class Plan:
    calls: list[PlannedCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def mutating(self) -> bool:
        return any(call.mutating for call in self.calls)


class StepStatus(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # done, but some evidence or check was unavailable (see gaps)
    SKIPPED = "skipped"  # nothing to do, or the operator chose not to
    # Not due yet (deleting the old key after the watch window, say). The step
    # stays unfinished, later steps run, and `remediate resume` runs it again.
    DEFERRED = "deferred"


@dataclass
class StepResult:
    """What a step produced. `outputs` is JSON data later steps read; it never holds a secret."""

    status: StepStatus
    summary: str
    outputs: dict[str, Any] = field(default_factory=dict)
    # With DEFERRED: the UTC time from which the step can run.
    due: str | None = None


@dataclass(frozen=True)
class Check:
    """One verification a step ran after applying, and what it saw."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class StepSpec:
    """A step as the playbook names it: its id, its kind and its parameters."""

    id: str
    kind: str
    title: str
    params: Mapping[str, Any] = field(default_factory=dict)
    answers: tuple[str, ...] = ()


class HasRequestId(Protocol):
    @property
    def request_id(self) -> str | None: ...


ReceiptT = TypeVar("ReceiptT", bound=HasRequestId)


class StepContext(Protocol):
    """What the engine gives a step. The engine journals everything that passes through it."""

    @property
    def incident_id(self) -> str: ...

    @property
    def access_key_id(self) -> str: ...

    @property
    def step_id(self) -> str: ...

    @property
    def dry_run(self) -> bool: ...

    @property
    def aws(self) -> AwsGateways: ...

    @property
    def console(self) -> Console: ...

    @property
    def simulated(self) -> bool:
        """Whether AWS is simulated (a rehearsal, or a drill against a local moto server)."""
        ...

    @property
    def declared_consumers(self) -> tuple[Mapping[str, Any], ...]:
        """The consumers file's entries (kind and where), or empty when none was given."""
        ...

    @property
    def regions(self) -> tuple[str, ...]:
        """Regions the operator asked for (--regions); empty when none were named."""
        ...

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...

    def output_of(self, kind: str) -> Mapping[str, Any]:
        """Outputs of the last finished step of that kind; empty when it has not run."""
        ...

    def ask(self, question: Question) -> AnswerValue: ...

    def mutate(
        self,
        call: PlannedCall,
        action: Callable[[], ReceiptT],
        describe: Callable[[ReceiptT], Mapping[str, Any]] | None = None,
    ) -> ReceiptT:
        """Journal the intent, make the call, journal its result with the request ID.

        `describe` picks the non-secret fields of the receipt the journal keeps
        (a new key's ID, a secret's version ID).
        """
        ...

    def completed_calls(self, operation: str) -> list[Mapping[str, Any]]:
        """The journaled details of this incident's successful calls of one operation, in order."""
        ...

    def unfinished_calls(self, operation: str) -> list[Mapping[str, Any]]:
        """The journaled params (plus `call_id`, `requested_at`) of calls that have no result.

        Such a call may or may not have reached AWS: the process stopped between
        the intent and the result, so the step must reconcile with what AWS holds.
        """
        ...

    def record(self, record_type: str, **fields: Any) -> None:
        """Append evidence (events, findings, statistics, checks) to the journal."""
        ...

    def record_gap(
        self, source: str, reason: str, *, region: str | None = None, standing: bool = False
    ) -> None:
        """Record evidence that could not be collected, for the report's gaps section.

        A standing gap is a limit of the source itself (SMTP sends never reach
        CloudTrail), true of every incident; the others are failures of this run.
        """
        ...

    def write_evidence(self, name: str, data: Any) -> None:
        """Keep raw evidence (events, statistics, IAM state) in the incident's evidence bundle.

        The data must hold no secret; a dry run keeps nothing.
        """
        ...

    def seal_evidence(self) -> None:
        """Write the evidence bundle's SHA-256 manifest and journal its hash."""
        ...

    def keep_secret(self, name: str, value: SecretValue) -> None:
        """Hold a new secret in memory for later steps of this process; never written."""
        ...

    def secret(self, name: str) -> SecretValue | None: ...

    def write_reports(self) -> list[Path]: ...


class Step:
    """Base of every step kind. Subclasses set `kind` and implement plan and apply."""

    kind: ClassVar[str]
    # Whether the step changes anything; a dry run shows such a step's plan and
    # never applies it, even when an earlier, planned-only step left it nothing to plan.
    mutating: ClassVar[bool] = False
    # Ids of the questions this step may ask, so the playbook loader can check an
    # answers file and a team can see what a non-interactive run must answer.
    questions: ClassVar[tuple[str, ...]] = ()
    # Names of the destructive actions the step asks approval for (`approve:` in
    # an answers file), and the ids of the questions that ask for them.
    approvals: ClassVar[tuple[str, ...]] = ()
    approval_questions: ClassVar[tuple[str, ...]] = ()
    # Parameter names and their defaults; the loader rejects unknown names.
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec
        self.params: dict[str, Any] = {**self.defaults, **spec.params}

    def skip_reason(self, ctx: StepContext) -> str | None:
        """Say why the step does not apply to this incident, or None when it does.

        For example, a temporary key is not rotated, and only a temporary key has
        sessions to revoke.
        """
        return None

    def plan(self, ctx: StepContext) -> Plan:
        return Plan()

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        raise NotImplementedError

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        return []
