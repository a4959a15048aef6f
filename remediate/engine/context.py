"""The engine's implementation of StepContext: every question, call and result is journaled."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from remediate.aws.gateways import AwsGateways
from remediate.core.errors import AwsCallError
from remediate.core.interaction import AnswerValue, Console, Question
from remediate.core.secrets import SecretValue
from remediate.core.timeutil import Clock
from remediate.engine.answers import AnswerPolicy, AnswerSource
from remediate.engine.evidence_bundle import EvidenceBundle
from remediate.engine.incident import IncidentDir
from remediate.engine.journal import Journal, RecordType
from remediate.steps.base import PlannedCall, ReceiptT, StepSpec

ReportWriter = Callable[[Path], list[Path]]

log = logging.getLogger(__name__)


class RunContext:
    def __init__(
        self,
        *,
        incident: IncidentDir | None,
        incident_id: str,
        journal: Journal,
        gateways: AwsGateways,
        console: Console,
        policy: AnswerPolicy,
        access_key_id: str,
        regions: tuple[str, ...] = (),
        dry_run: bool = False,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        report_writer: ReportWriter | None = None,
        continue_command: str | None = None,
        declared_consumers: tuple[Mapping[str, Any], ...] = (),
        simulated: bool = False,
    ) -> None:
        self._declared_consumers = declared_consumers
        self._simulated = simulated
        self.incident = incident
        # What the operator runs to carry on after a stop; None in a dry run.
        self.continue_command = continue_command
        self._incident_id = incident_id
        self.journal = journal
        self._gateways = gateways
        self._console = console
        self.policy = policy
        self._access_key_id = access_key_id
        self._regions = regions
        self._dry_run = dry_run
        self._clock = clock
        self._sleep = sleep
        self._report_writer = report_writer
        self._secrets: dict[str, SecretValue] = {}
        self._spec: StepSpec | None = None

    # Properties of the StepContext protocol.

    @property
    def incident_id(self) -> str:
        return self._incident_id

    @property
    def access_key_id(self) -> str:
        return self._access_key_id

    @property
    def step_id(self) -> str:
        return self._spec.id if self._spec else "incident"

    @property
    def dry_run(self) -> bool:
        return self._dry_run

    @property
    def aws(self) -> AwsGateways:
        return self._gateways

    @property
    def console(self) -> Console:
        return self._console

    @property
    def declared_consumers(self) -> tuple[Mapping[str, Any], ...]:
        return self._declared_consumers

    @property
    def simulated(self) -> bool:
        return self._simulated

    @property
    def regions(self) -> tuple[str, ...]:
        return self._regions

    def enter_step(self, spec: StepSpec) -> None:
        self._spec = spec

    def now(self) -> datetime:
        return self._clock()

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def output_of(self, kind: str) -> Mapping[str, Any]:
        record = self.journal.last(RecordType.STEP_FINISHED, kind=kind)
        outputs = record.get("outputs") if record else None
        return outputs if isinstance(outputs, dict) else {}

    def ask(self, question: Question) -> AnswerValue:
        # Earlier answers are not replayed: only a step that did not finish runs
        # again, and what it found may have changed, so it asks again (the answers
        # file, possibly edited since, answers first).
        value, source = self.policy.resolve(question)
        if source != AnswerSource.PROMPT:
            self._console.info(f"{question.message} {_show(value)} ({source})")
        self.journal.append(
            RecordType.ANSWER, step=self.step_id, question=question.id, value=value, source=source
        )
        return value

    def mutate(
        self,
        call: PlannedCall,
        action: Callable[[], ReceiptT],
        describe: Callable[[ReceiptT], Mapping[str, Any]] | None = None,
    ) -> ReceiptT:
        if self._dry_run:
            raise RuntimeError(
                f"a dry run reached a mutating call: {call.service} {call.operation}"
            )
        step = self.step_id
        call_id = f"{step}#{len(self.journal.of_type(RecordType.AWS_INTENT)) + 1}"
        self.journal.append(RecordType.AWS_INTENT, step=step, call_id=call_id, **call.as_record())
        log.debug("call %s: %s %s on %s", call_id, call.service, call.operation, call.resource)
        try:
            receipt = action()
        except AwsCallError as error:
            log.debug("call %s failed: %s (request ID %s)", call_id, error.code, error.request_id)
            self.journal.append(
                RecordType.AWS_RESULT,
                step=step,
                call_id=call_id,
                ok=False,
                request_id=error.request_id,
                error_code=error.code,
                error=error.message,
            )
            raise
        details = dict(describe(receipt)) if describe else {}
        log.debug("call %s succeeded (request ID %s)", call_id, receipt.request_id)
        self.journal.append(
            RecordType.AWS_RESULT,
            step=step,
            call_id=call_id,
            ok=True,
            request_id=receipt.request_id,
            details=details,
        )
        return receipt

    def completed_calls(self, operation: str) -> list[Mapping[str, Any]]:
        intents = {
            record.get("call_id"): record
            for record in self.journal.of_type(RecordType.AWS_INTENT)
            if record.get("operation") == operation
        }
        return [
            {**(record.get("details") or {}), "call_id": record.get("call_id")}
            for record in self.journal.of_type(RecordType.AWS_RESULT)
            if record.get("ok") and record.get("call_id") in intents
        ]

    def unfinished_calls(self, operation: str) -> list[Mapping[str, Any]]:
        answered = {record.get("call_id") for record in self.journal.of_type(RecordType.AWS_RESULT)}
        return [
            {
                **(record.get("params") or {}),
                "call_id": record.get("call_id"),
                "requested_at": record.time,
            }
            for record in self.journal.of_type(RecordType.AWS_INTENT)
            if record.get("operation") == operation and record.get("call_id") not in answered
        ]

    def record(self, record_type: str, **fields: Any) -> None:
        self.journal.append(record_type, step=self.step_id, **fields)

    def record_gap(
        self, source: str, reason: str, *, region: str | None = None, standing: bool = False
    ) -> None:
        self.journal.append(
            RecordType.GAP,
            step=self.step_id,
            source=source,
            region=region,
            reason=reason,
            standing=standing,
        )

    def write_evidence(self, name: str, data: Any) -> None:
        if self.incident is None:
            return
        path, digest = EvidenceBundle(self.incident.path, self._clock).write(name, data)
        self.journal.append(
            RecordType.EVIDENCE_FILE, step=self.step_id, name=path.name, sha256=digest
        )

    def seal_evidence(self) -> None:
        """Seal the evidence bundle's manifest and journal its hash (once, before any change)."""
        if self.incident is None:
            return
        changes_started = bool(self.journal.of_type(RecordType.AWS_INTENT))
        sealed = EvidenceBundle(self.incident.path, self._clock).seal(
            changes_started=changes_started
        )
        if sealed is not None:
            manifest, digest = sealed
            self.journal.append(
                RecordType.EVIDENCE_SEALED,
                step=self.step_id,
                manifest_sha256=digest,
                files=manifest["files"],
            )

    def keep_secret(self, name: str, value: SecretValue) -> None:
        self._secrets[name] = value

    def secret(self, name: str) -> SecretValue | None:
        return self._secrets.get(name)

    def write_reports(self) -> list[Path]:
        if self.incident is None or self._report_writer is None:
            return []
        return self._report_writer(self.incident.path)


def _show(value: AnswerValue) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    return value
