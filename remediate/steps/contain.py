"""Contain: emergency brakes while the rotation is under way, each journaled with its undo.

When the key is sending spam now, the minutes before the consumers are
switched matter. The operator may pause SES sending in chosen regions, deny
sending to the key's user, deactivate the leaked key at once (its consumers
break until they are switched), or deny the user's temporary sessions issued
before now.

The same kind lifts brakes later in the playbook (the `lift` parameter). The
sending deny is lifted once the consumers use the new key, because the deny is
on the user and stops the new key too. The paused regions are re-enabled once
the leaked key is off and the attacker's leftovers are removed. Every contain
step outputs all the brakes of the incident so far, with `undone` set on those
lifted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from remediate.core.errors import UsageError
from remediate.core.interaction import Choice, Question, QuestionKind
from remediate.steps.base import (
    Check,
    Plan,
    Step,
    StepContext,
    StepResult,
    StepSpec,
    StepStatus,
)
from remediate.steps.containment import (
    ACTIONS,
    DEACTIVATE_NOW,
    DENY_SENDING,
    LIFTABLE,
    PAUSE_SENDING,
    REVOKE_SESSIONS,
    Brake,
    brake_calls,
    check_brake,
    key_status,
    lift_calls,
    sending_findings,
    user_name,
)
from remediate.steps.containment_actions import apply_brake, lift_brake

ACTIONS_QUESTION = "contain.actions"
REASON_QUESTION = "contain.reason"
LIFT_QUESTION = "contain.lift"


class ContainStep(Step):
    kind = "contain"
    mutating = True
    questions = (
        ACTIONS_QUESTION,
        "contain.pause-regions",
        REASON_QUESTION,
        "contain.pause-sending",
        "contain.deny-sending",
        "contain.deactivate-now",
        "contain.revoke-sessions",
        LIFT_QUESTION,
    )
    approvals = ("pause-sending", "deny-sending", "deactivate-now", "revoke-user-sessions")
    approval_questions = (
        "contain.pause-sending",
        "contain.deny-sending",
        "contain.deactivate-now",
        "contain.revoke-sessions",
    )
    defaults: ClassVar[Mapping[str, Any]] = {
        # Brakes to lift instead of offering new ones: any of pause-sending,
        # deny-sending and revoke-sessions.
        "lift": [],
    }

    def __init__(self, spec: StepSpec) -> None:
        super().__init__(spec)
        # The brakes this run applied or lifted, for verify.
        self._changed: list[str] = []

    def skip_reason(self, ctx: StepContext) -> str | None:
        if self._lift():
            # A lift step always finishes with the incident's brakes as outputs, so
            # that the last contain step's outputs stay complete.
            return None
        investigation = ctx.output_of("investigate")
        if not investigation:
            return "the investigation has not run, so no verdict calls for an emergency brake"
        verdict = investigation.get("verdict")
        if verdict == "compromised":
            return None
        if verdict == "suspicious" and sending_findings(investigation):
            return None
        if verdict == "suspicious":
            return (
                "the verdict is suspicious, but no finding concerns sending; the rotation "
                "contains the key"
            )
        return f"the verdict is {verdict}: no emergency brake is called for"

    def plan(self, ctx: StepContext) -> Plan:
        if self._lift():
            earlier = _earlier_brakes(ctx)
            return Plan(
                calls=[
                    call
                    for brake in earlier
                    if brake.action in self._lift() and not brake.undone
                    for call in lift_calls(ctx, brake)
                ]
            )
        # The brakes are notes, not planned calls: none is made unless the operator
        # chooses it, so the permission preflight must not ask for their rights.
        return Plan(
            notes=[
                f"if chosen and approved ({approval}): {call.service} {call.operation} on "
                f"{call.resource}: {call.description}"
                for action, approval in zip(ACTIONS, self.approvals, strict=True)
                for call in brake_calls(ctx, action)
            ]
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        if self._lift():
            return self._apply_lift(ctx)
        brakes = _earlier_brakes(ctx)
        quarantine = _quarantine_note(ctx)
        if quarantine:
            ctx.console.warning(quarantine)
        chosen = ctx.ask(
            Question(
                ACTIONS_QUESTION,
                "Which emergency brakes should be applied now? Each one is journaled with its "
                "undo; none is needed for the rotation itself."
                + (f" {quarantine}" if quarantine else ""),
                QuestionKind.CHECKBOX,
                default=[],
                choices=_choices(ctx),
            )
        )
        actions = [action for action in ACTIONS if isinstance(chosen, list) and action in chosen]

        if not actions:
            return StepResult(
                StepStatus.SKIPPED,
                "No emergency brake was chosen, so none was applied.",
                _outputs(brakes),
            )
        reason = str(
            ctx.ask(
                Question(
                    REASON_QUESTION,
                    "Why are these brakes applied (for the journal and the report)?",
                    QuestionKind.TEXT,
                    default=_default_reason(ctx),
                )
            )
        )

        applied = [
            brake for action in actions if (brake := apply_brake(ctx, action, reason)) is not None
        ]
        self._changed = [brake.action for brake in applied]
        outputs = _outputs([*brakes, *applied])
        if not applied:
            return StepResult(
                StepStatus.SKIPPED,
                "No emergency brake was applied: each chosen one was declined or found "
                "nothing to do.",
                outputs,
            )
        return StepResult(
            StepStatus.OK,
            "Applied: " + "; ".join(brake.describe() for brake in applied) + ".",
            outputs,
        )

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        lifting = bool(self._lift())
        return [
            check_brake(ctx, brake, lifted=lifting)
            for brake in _brakes(result.outputs)
            if brake.action in self._changed and brake.undone == lifting
        ]

    def _lift(self) -> tuple[str, ...]:
        value = self.params.get("lift") or []
        if not isinstance(value, list) or any(item not in LIFTABLE for item in value):
            raise UsageError(
                f"The contain step's lift is {value!r}; it must list brakes among "
                f"{', '.join(LIFTABLE)}. A key deactivated at once is reactivated only by "
                "`remediate rollback`. Fix the playbook and run again."
            )
        return tuple(value)

    def _apply_lift(self, ctx: StepContext) -> StepResult:
        brakes = _earlier_brakes(ctx)
        lifted: list[str] = []
        kept: list[str] = []
        for index, brake in enumerate(brakes):
            if brake.action not in self._lift() or brake.undone:
                continue
            if lift_brake(ctx, brake):
                brakes[index] = brake.lifted()
                lifted.append(brake.action)
            else:
                kept.append(brake.describe())
        self._changed = lifted
        outputs = _outputs(brakes)
        if not lifted and not kept:
            return StepResult(
                StepStatus.SKIPPED,
                f"Nothing to lift: no {' or '.join(self._lift())} brake is in place.",
                outputs,
            )
        summary = "; ".join(
            [
                *(f"Lifted: {brake.describe()}" for brake in brakes if brake.action in lifted),
                *(f"Kept, as the operator chose: {text}" for text in kept),
            ]
        )
        return StepResult(StepStatus.OK if lifted else StepStatus.SKIPPED, summary + ".", outputs)


def _earlier_brakes(ctx: StepContext) -> list[Brake]:
    return _brakes(ctx.output_of("contain"))


def _brakes(outputs: Mapping[str, Any]) -> list[Brake]:
    return [Brake.from_record(record) for record in outputs.get("actions", [])]


def _outputs(brakes: list[Brake]) -> dict[str, Any]:
    return {"actions": [brake.to_record() for brake in brakes]}


def _choices(ctx: StepContext) -> tuple[Choice, ...]:
    identify = ctx.output_of("identify")
    investigation = ctx.output_of("investigate")
    temporary = bool(identify.get("temporary"))
    user = user_name(ctx)
    not_for_temporary = (
        "the key is temporary: the revoke-sessions step denies its issuer's sessions"
        if temporary
        else None
    )
    status = None if temporary else key_status(ctx)
    sessions = investigation.get("session_access_key_ids") or []
    return (
        Choice(
            PAUSE_SENDING,
            "pause SES sending of the whole account in chosen regions (the team's mail there "
            "stops too)",
        ),
        Choice(
            DENY_SENDING,
            f"deny ses:Send* to IAM user {user}: the new key of the same user is denied as well "
            "until the deny is lifted after the consumers are switched",
            disabled=not_for_temporary,
        ),
        Choice(
            DEACTIVATE_NOW,
            f"deactivate {ctx.access_key_id} at once: its consumers break until they are "
            "switched to the new key",
            disabled=not_for_temporary
            or (f"the key is already {status}" if status not in (None, "Active") else None),
        ),
        Choice(
            REVOKE_SESSIONS,
            f"deny the temporary sessions of {user} issued before now"
            + (f" ({len(sessions)} obtained with the leaked key)" if sessions else ""),
            disabled=not_for_temporary,
        ),
    )


def _default_reason(ctx: StepContext) -> str:
    investigation = ctx.output_of("investigate")
    findings = investigation.get("finding_ids") or []
    shown = ", ".join(findings[:5]) + (", ..." if len(findings) > 5 else "")
    return f"verdict {investigation.get('verdict')}" + (f" ({shown})" if findings else "")


def _quarantine_note(ctx: StepContext) -> str | None:
    """Say that AWS's quarantine policy, when attached, is no brake on sending, or None."""
    notes = []
    for policy in ctx.output_of("identify").get("quarantine_policies") or []:
        open_sending = [action for action in policy["leaves_open"] if action.startswith("ses:")]
        if open_sending:
            notes.append(
                f"AWS attached {policy['name']} to {user_name(ctx)}, but it does not deny "
                f"{' or '.join(open_sending)}: mail keeps flowing until a brake stops it."
            )
    if not notes:
        return None
    return " ".join(notes) + " remediate never detaches that policy; AWS Support lifts it."
