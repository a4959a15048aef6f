"""The report's view model, built from the journal records and the evidence bundle alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.core.errors import IncidentDirError
from remediate.core.records import RecordType
from remediate.core.timeutil import format_timestamp
from remediate.engine.journal import Record
from remediate.report.chart import SendingChart, build_chart
from remediate.report.evidence import BundleOnDisk, EvidenceView, build_evidence
from remediate.report.findings import (
    EventView,
    FindingView,
    build_events,
    build_findings,
    highest_severity,
)
from remediate.report.follow_ups import FollowUpFacts, build_follow_ups
from remediate.report.phases import (
    DEFERRED,
    OPTIONAL_KINDS,
    UNFINISHED,
    PhaseView,
    build_phases,
)
from remediate.report.records import last_of, outputs_by_kind
from remediate.report.response import (
    ActionView,
    ConsumerView,
    ContainActionView,
    EradicationItemView,
    build_actions,
    build_consumers,
    build_contain_actions,
    build_eradication,
)
from remediate.report.sending import SendingView, build_sending
from remediate.report.timeline import TimelineEntry, build_timeline
from remediate.report.times import KeyTimes, build_key_times


@dataclass(frozen=True)
class ReportView:
    """Everything a report shows. The JSON report is this object, less the chart's geometry."""

    incident_id: str
    generated_at: str
    endpoint: str | None  # set when the calls went to an endpoint other than AWS's own
    mode: str
    scenario: str | None
    access_key_id: str
    playbook: str
    operator_arn: str
    account: str
    user_name: str
    key: dict[str, Any]
    send_sources: list[str]
    verdict: str
    verdict_reasons: list[str]
    severity: str  # the most severe finding's severity, or "none"
    complete: bool
    containment: dict[str, str]
    key_times: KeyTimes
    phases: list[PhaseView]
    findings: list[FindingView]
    events: list[EventView]
    sending: list[SendingView]
    quiet_regions: list[str]
    chart: SendingChart | None
    deferred: dict[str, str]  # step id -> the time it is due
    watch: dict[str, Any]
    contain_actions: list[ContainActionView]
    eradication: list[EradicationItemView]
    actions: list[ActionView]
    timeline: list[TimelineEntry]
    consumers: list[ConsumerView]
    left_behind: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    evidence: EvidenceView
    answers: list[dict[str, Any]]
    follow_ups: list[str]

    @property
    def unfinished(self) -> list[str]:
        """The steps that are open, started, failed or deferred, as `title (state)`."""
        return [
            f"{phase.title} ({phase.status})"
            for phase in self.phases
            if (phase.status in UNFINISHED or phase.status == DEFERRED)
            and phase.kind not in OPTIONAL_KINDS
        ]


def build_view(
    records: Sequence[Record], generated_at: datetime, bundle: BundleOnDisk | None = None
) -> ReportView:
    """Build the view of an incident at any point; `bundle` is the evidence found on disk."""
    opened = last_of(records, RecordType.INCIDENT_OPENED)
    if opened is None:
        raise IncidentDirError(
            "The journal has no incident.opened record, so there is no incident to report on.",
            next_step="pass the directory that `remediate run` printed when it started",
        )
    outputs = outputs_by_kind(records)
    identify = outputs.get("identify", {})
    operator = opened.get("operator") or {}
    access_key_id = str(opened.get("access_key_id"))
    user_name = str(identify.get("user_name", "unknown"))
    verdict = last_of(records, RecordType.VERDICT)
    verdict_text = str(verdict.get("verdict")) if verdict else "not assessed"

    events = build_events(records)
    findings = build_findings(records, {event.event_id: event for event in events})
    phases = build_phases(records, opened)
    actions = build_actions(records, opened)
    sending = build_sending(records)
    contain_actions = build_contain_actions(records)
    eradication = build_eradication(records)
    consumers = build_consumers(records)
    left_behind = list(outputs.get("find-consumers", {}).get("left_behind", []))
    containment = _containment(outputs, identify, contain_actions, _last_key_change(records))
    deferred = _deferred(records)

    follow_ups = build_follow_ups(
        FollowUpFacts(
            access_key_id=access_key_id,
            user_name=user_name,
            rehearsal=opened.get("mode") == "rehearse",
            verdict=verdict_text,
            leaked_key_now=containment["leaked_key_now"],
            temporary=bool(identify.get("temporary")),
            delete_due=next(
                (
                    deferred[phase.step_id]
                    for phase in phases
                    if phase.kind == "delete-old-key" and phase.status == DEFERRED
                ),
                None,
            ),
            outputs=outputs,
            phases=phases,
            sending=sending,
            finding_ids=[finding.id for finding in findings],
            consumers=consumers,
            left_behind=left_behind,
            contain_actions=contain_actions,
            eradication=eradication,
        )
    )
    return ReportView(
        incident_id=str(opened.get("incident_id")),
        generated_at=format_timestamp(generated_at),
        endpoint=_non_aws_endpoint(opened.get("endpoint")),
        mode=str(opened.get("mode")),
        scenario=opened.get("scenario"),
        access_key_id=access_key_id,
        playbook=str((opened.get("playbook") or {}).get("name", "")),
        operator_arn=str(operator.get("arn", "")),
        account=str(identify.get("account") or operator.get("account", "")),
        user_name=user_name,
        key=dict(identify.get("access_key") or {}),
        send_sources=list(identify.get("ses_send_sources") or []),
        verdict=verdict_text,
        verdict_reasons=[str(reason) for reason in (verdict.get("reasons") or [])]
        if verdict
        else [],
        severity=highest_severity(findings),
        complete=not any(
            phase.status in UNFINISHED and phase.kind not in OPTIONAL_KINDS for phase in phases
        ),
        containment=containment,
        key_times=build_key_times(records, opened, access_key_id, findings, sending),
        phases=phases,
        findings=findings,
        events=events,
        sending=[region for region in sending if not region.quiet],
        quiet_regions=[region.region for region in sending if region.quiet],
        chart=build_chart(records, sending),
        deferred=deferred,
        watch=dict(outputs.get("watch") or {}),
        contain_actions=contain_actions,
        eradication=eradication,
        actions=actions,
        timeline=build_timeline(records, opened, events, findings, sending, actions),
        consumers=consumers,
        left_behind=left_behind,
        gaps=_distinct_gaps(records),
        evidence=build_evidence(records, bundle or BundleOnDisk()),
        answers=[
            {
                "time": record.time,
                "question": record.get("question"),
                "value": _answer_text(record.get("value")),
                "source": record.get("source"),
            }
            for record in records
            if record.type == RecordType.ANSWER
        ],
        follow_ups=follow_ups,
    )


def _distinct_gaps(records: Sequence[Record]) -> list[dict[str, Any]]:
    """List each gap once: a resume records again what an earlier run found missing."""
    seen: set[tuple[Any, ...]] = set()
    gaps = []
    for record in records:
        if record.type != RecordType.GAP:
            continue
        key = (record.get("source"), record.get("region"), record.get("reason"))
        if key not in seen:
            seen.add(key)
            gaps.append(dict(record.fields))
    return gaps


def _deferred(records: Sequence[Record]) -> dict[str, str]:
    """Steps whose last record is a deferral, with the time they are due."""
    due: dict[str, str] = {}
    for record in records:
        if record.type == RecordType.STEP_DEFERRED and record.step:
            due[record.step] = str(record.get("due"))
        elif (
            record.type
            in {RecordType.STEP_FINISHED, RecordType.STEP_FAILED, RecordType.STEP_REOPENED}
            and record.step
        ):
            due.pop(record.step, None)
    return due


def _last_key_change(records: Sequence[Record]) -> str | None:
    """Return the kind of the last step that changed the leaked key's status (a rollback, say)."""
    for record in reversed(records):
        kind = record.get("kind")
        if (
            record.type == RecordType.STEP_FINISHED
            and record.get("status") == "ok"
            and kind in {"deactivate", "rollback", "delete-old-key"}
        ):
            return str(kind)
    return None


def _containment(
    outputs: dict[str, dict[str, Any]],
    identify: dict[str, Any],
    contain_actions: Sequence[ContainActionView],
    last_key_change: str | None,
) -> dict[str, str]:
    """Summarise the incident now: the leaked key's status, its replacement, contained or not."""
    brakes = [
        f"{action.action} ({', '.join(action.regions) or action.target})"
        for action in contain_actions
        if not action.undone and action.action in {"pause-sending", "deny-sending"}
    ]
    revoked = outputs.get("revoke-sessions", {}).get("revoked") or any(
        action.action == "revoke-sessions" and not action.undone for action in contain_actions
    )
    if identify.get("temporary"):
        return {
            "leaked_key_now": "temporary key",
            "replacement": "none (not rotated)",
            "new_user": "",
            "contained": "yes: older sessions denied" if revoked else _partly(brakes, "no"),
        }
    status = outputs.get("deactivate", {}).get("status") or (identify.get("access_key") or {}).get(
        "status"
    )
    if any(action.action == "deactivate-now" and not action.undone for action in contain_actions):
        status = "Inactive"
    if outputs.get("delete-old-key", {}).get("deleted"):
        status = "Deleted"
    if last_key_change == "rollback":
        status = "Active (rolled back)"
    new_key = outputs.get("rotate", {}).get("new_access_key_id")
    rotated_user = str(outputs.get("rotate", {}).get("user_name") or "")
    return {
        "leaked_key_now": str(status or "unknown"),
        "replacement": str(new_key or "not created yet"),
        # Set only when the rotation moved the credential to a new IAM user.
        "new_user": "" if rotated_user == identify.get("user_name") else rotated_user,
        "contained": "yes: the leaked key is " + str(status).lower()
        if status in {"Inactive", "Deleted"}
        else _partly(brakes, "no: the leaked key is active"),
    }


def _partly(brakes: list[str], otherwise: str) -> str:
    if not brakes:
        return otherwise
    return f"partly: {'; '.join(brakes)} in force, but the leaked key is still usable"


def _non_aws_endpoint(endpoint: Any) -> str | None:
    if not isinstance(endpoint, str) or not endpoint:
        return None
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return None if host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws")) else endpoint


def _answer_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "(none)"
    return str(value) if value not in (None, "") else "(empty)"
