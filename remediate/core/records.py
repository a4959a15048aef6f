"""The journal's record types, shared by the steps that write records and the engine."""

from __future__ import annotations


class RecordType:
    """The record types, one constant each, so readers and writers agree on spelling."""

    INCIDENT_OPENED = "incident.opened"
    INCIDENT_RESUMED = "incident.resumed"
    STEP_STARTED = "step.started"
    STEP_PLANNED = "step.planned"
    STEP_FINISHED = "step.finished"
    STEP_FAILED = "step.failed"
    STEP_DEFERRED = "step.deferred"
    # A finished step that must run again, because a rollback undid what it did.
    STEP_REOPENED = "step.reopened"
    ANSWER = "answer"
    AWS_INTENT = "aws.intent"
    AWS_RESULT = "aws.result"
    # Every AWS call of a step (reads too), with its HTTP status and request ID.
    AWS_CALLS = "aws.calls"
    EVENTS = "evidence.events"
    SENDING = "evidence.sending"
    FINDING = "finding"
    VERDICT = "verdict"
    GAP = "gap"
    CHECK = "check"
    NOTE = "note"
    REPORT_WRITTEN = "report.written"
    EVIDENCE_FILE = "evidence.file"
    EVIDENCE_SEALED = "evidence.sealed"
    PREFLIGHT = "preflight"


# The records that move a step from one state to another; the last one decides its state.
STEP_LIFECYCLE = frozenset(
    {
        RecordType.STEP_STARTED,
        RecordType.STEP_FINISHED,
        RecordType.STEP_FAILED,
        RecordType.STEP_DEFERRED,
        RecordType.STEP_REOPENED,
    }
)
