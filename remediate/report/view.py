"""The report's view model, built from the journal records alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from remediate.core.errors import IncidentDirError
from remediate.core.records import RecordType
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.engine.journal import Record

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


@dataclass(frozen=True)
class PhaseView:
    step_id: str
    title: str
    status: str  # ok, degraded, skipped, failed, open
    summary: str


@dataclass(frozen=True)
class EventView:
    event_id: str
    time: str
    name: str
    source: str
    region: str
    source_ip: str
    user_agent: str
    error_code: str
    details: str  # the request parameters that name what the call touched


@dataclass(frozen=True)
class FindingView:
    id: str
    severity: str
    title: str
    description: str
    source: str
    events: list[EventView]


@dataclass(frozen=True)
class ActionView:
    time: str
    step: str
    operation: str
    region: str
    resource: str
    description: str
    outcome: str
    request_id: str
    undo: str
    actor: str


@dataclass(frozen=True)
class TimelineEntry:
    time: str
    source: str  # "CloudTrail", "SES statistics", "remediate"
    text: str


@dataclass(frozen=True)
class SendingView:
    region: str
    delivery_attempts: int
    bounces: int
    complaints: int
    rejects: int
    flags: list[str]

    @property
    def quiet(self) -> bool:
        return not self.delivery_attempts and not self.flags


@dataclass
class ReportView:
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
    complete: bool
    containment: dict[str, str]
    phases: list[PhaseView] = field(default_factory=list)
    findings: list[FindingView] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    sending: list[SendingView] = field(default_factory=list)
    quiet_regions: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # step id -> due time
    watch: dict[str, Any] = field(default_factory=dict)
    actions: list[ActionView] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    consumers: list[dict[str, Any]] = field(default_factory=list)
    left_behind: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[str] = field(default_factory=list)


def build_view(records: Sequence[Record], generated_at: datetime) -> ReportView:
    opened = _last(records, RecordType.INCIDENT_OPENED)
    if opened is None:
        raise IncidentDirError(
            "The journal has no incident.opened record, so there is no incident to report on.",
            next_step="pass the directory that `remediate run` printed when it started",
        )
    outputs = _outputs_by_kind(records)
    identify = outputs.get("identify", {})
    verdict = _last(records, RecordType.VERDICT)
    events = _events(records)
    events_by_id = {event.event_id: event for event in events}
    phases = _phases(records, opened)
    actions = _actions(records, opened)
    sending = _sending(records)

    view = ReportView(
        incident_id=str(opened.get("incident_id")),
        generated_at=format_timestamp(generated_at),
        endpoint=_non_aws_endpoint(opened.get("endpoint")),
        mode=str(opened.get("mode")),
        scenario=opened.get("scenario"),
        access_key_id=str(opened.get("access_key_id")),
        playbook=str((opened.get("playbook") or {}).get("name", "")),
        operator_arn=str((opened.get("operator") or {}).get("arn", "")),
        account=str(identify.get("account") or (opened.get("operator") or {}).get("account", "")),
        user_name=str(identify.get("user_name", "unknown")),
        key=dict(identify.get("access_key") or {}),
        send_sources=list(identify.get("ses_send_sources") or []),
        verdict=str(verdict.get("verdict")) if verdict else "not assessed",
        verdict_reasons=[str(reason) for reason in (verdict.get("reasons") or [])]
        if verdict
        else [],
        complete=all(phase.status not in {"open", "failed"} for phase in phases),
        containment=_containment(outputs, identify),
        phases=phases,
        findings=_findings(records, events_by_id),
        events=events,
        sending=[region for region in sending if not region.quiet],
        quiet_regions=[region.region for region in sending if region.quiet],
        actions=actions,
        consumers=[
            {
                "name": record["consumer"]["name"],
                "kind": record["consumer"]["kind"],
                "region": record["consumer"].get("region") or "-",
                "summary": record.get("summary", ""),
            }
            for record in outputs.get("update-consumers", {}).get("consumers", [])
        ],
        left_behind=list(outputs.get("find-consumers", {}).get("left_behind", [])),
        gaps=[dict(record.fields) for record in records if record.type == RecordType.GAP],
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
    )
    view.deferred = _deferred(records)
    view.watch = dict(outputs.get("watch") or {})
    view.timeline = _timeline(view, records)
    view.follow_ups = _follow_ups(view, outputs)
    return view


def _deferred(records: Sequence[Record]) -> dict[str, str]:
    """Steps whose last record is a deferral, with the time they are due."""
    due: dict[str, str] = {}
    for record in records:
        if record.type == RecordType.STEP_DEFERRED and record.step:
            due[record.step] = str(record.get("due"))
        elif record.type == RecordType.STEP_FINISHED and record.step:
            due.pop(record.step, None)
    return due


def _containment(outputs: dict[str, dict[str, Any]], identify: dict[str, Any]) -> dict[str, str]:
    """Summarise the incident now: the leaked key's status, its replacement, contained or not."""
    revoked = outputs.get("revoke-sessions", {})
    if identify.get("temporary"):
        contained = "yes: older sessions denied" if revoked.get("revoked") else "no"
        return {
            "leaked_key_now": "temporary key",
            "replacement": "none (not rotated)",
            "contained": contained,
        }
    status = outputs.get("deactivate", {}).get("status") or (identify.get("access_key") or {}).get(
        "status"
    )
    if outputs.get("delete-old-key", {}).get("deleted"):
        status = "Deleted"
    if outputs.get("rollback", {}).get("restored") is not None:
        status = "Active (rolled back)"
    new_key = outputs.get("rotate", {}).get("new_access_key_id")
    is_contained = status in {"Inactive", "Deleted"}
    return {
        "leaked_key_now": str(status or "unknown"),
        "replacement": str(new_key or "not created yet"),
        "new_user": str(outputs.get("rotate", {}).get("user_name") or ""),
        "contained": "yes: the leaked key is " + str(status).lower()
        if is_contained
        else "no: the leaked key is active",
    }


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


def _last(records: Sequence[Record], record_type: str) -> Record | None:
    for record in reversed(records):
        if record.type == record_type:
            return record
    return None


def _outputs_by_kind(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.type == RecordType.STEP_FINISHED and isinstance(record.get("outputs"), dict):
            outputs[str(record.get("kind"))] = record.get("outputs")
    return outputs


def _phases(records: Sequence[Record], opened: Record) -> list[PhaseView]:
    planned = (opened.get("playbook") or {}).get("steps") or []
    phases = []
    for step in planned:
        step_id = step["id"]
        finished = _last([r for r in records if r.step == step_id], RecordType.STEP_FINISHED)
        failed = _last([r for r in records if r.step == step_id], RecordType.STEP_FAILED)
        if step["kind"] == "report":
            continue
        if finished is not None:
            phases.append(
                PhaseView(
                    step_id,
                    step["title"],
                    str(finished.get("status")),
                    str(finished.get("summary")),
                )
            )
        elif failed is not None:
            phases.append(PhaseView(step_id, step["title"], "failed", str(failed.get("error"))))
        elif (
            deferred := _last([r for r in records if r.step == step_id], RecordType.STEP_DEFERRED)
        ) is not None:
            phases.append(
                PhaseView(step_id, step["title"], "deferred", str(deferred.get("summary")))
            )
        elif any(r.type == RecordType.STEP_STARTED and r.step == step_id for r in records):
            phases.append(PhaseView(step_id, step["title"], "open", "started, not finished"))
        else:
            phases.append(PhaseView(step_id, step["title"], "open", "not run yet"))
    return phases


def _event_view(raw: dict[str, Any]) -> EventView:
    return EventView(
        event_id=str(raw.get("eventID") or ""),
        time=str(raw.get("eventTime", "")),
        name=str(raw.get("eventName", "")),
        source=str(raw.get("eventSource", "")),
        region=str(raw.get("awsRegion", "")),
        source_ip=str(raw.get("sourceIPAddress", "")),
        user_agent=str(raw.get("userAgent", "")),
        error_code=str(raw.get("errorCode") or ""),
        details=_request_details(raw.get("requestParameters")),
    )


# Request parameters worth showing: what a call created, verified, attached or deleted.
DETAIL_PARAMETERS = (
    "emailAddress",
    "identity",
    "emailIdentity",
    "domain",
    "userName",
    "roleName",
    "policyArn",
    "policyName",
    "groupName",
    "websiteURL",
    "additionalContactEmailAddresses",
    "productionAccessEnabled",
)


def _request_details(parameters: Any) -> str:
    if not isinstance(parameters, dict):
        return ""
    shown = [f"{name}={parameters[name]}" for name in DETAIL_PARAMETERS if name in parameters]
    return "; ".join(shown)


def _events(records: Sequence[Record]) -> list[EventView]:
    seen: dict[str, EventView] = {}
    for record in records:
        if record.type == RecordType.EVENTS:
            for raw in record.get("events") or []:
                event = _event_view(raw)
                seen.setdefault(event.event_id, event)
    return sorted(seen.values(), key=lambda event: event.time)


def _findings(records: Sequence[Record], events_by_id: dict[str, EventView]) -> list[FindingView]:
    findings = [
        FindingView(
            id=str(record.get("id")),
            severity=str(record.get("severity")),
            title=str(record.get("title")),
            description=str(record.get("description", "")),
            source=str(record.get("source", "")),
            events=[events_by_id[e] for e in record.get("event_ids") or [] if e in events_by_id],
        )
        for record in records
        if record.type == RecordType.FINDING
    ]
    return sorted(
        findings, key=lambda finding: (SEVERITY_ORDER.get(finding.severity, 9), finding.id)
    )


def _sending(records: Sequence[Record]) -> list[SendingView]:
    views = []
    for record in records:
        if record.type != RecordType.SENDING:
            continue
        points = record.get("points") or []
        views.append(
            SendingView(
                region=str(record.get("region")),
                delivery_attempts=sum(int(p.get("delivery_attempts", 0)) for p in points),
                bounces=sum(int(p.get("bounces", 0)) for p in points),
                complaints=sum(int(p.get("complaints", 0)) for p in points),
                rejects=sum(int(p.get("rejects", 0)) for p in points),
                flags=[_flag_text(flag) for flag in record.get("flags") or []],
            )
        )
    return sorted(views, key=lambda view: view.region)


def _flag_text(flag: Any) -> str:
    if isinstance(flag, dict):
        return str(flag.get("description") or flag.get("kind") or flag)
    return str(flag)


def _actions(records: Sequence[Record], opened: Record) -> list[ActionView]:
    """List every change made to AWS, attributed to the operator of the run that made it."""
    results = {
        record.get("call_id"): record for record in records if record.type == RecordType.AWS_RESULT
    }
    actor = str((opened.get("operator") or {}).get("arn", ""))
    actions = []
    for record in records:
        if record.type == RecordType.INCIDENT_RESUMED:
            actor = str((record.get("operator") or {}).get("arn", actor))
        if record.type != RecordType.AWS_INTENT:
            continue
        result = results.get(record.get("call_id"))
        undo = str(record.get("undo") or "")
        created = ((result.get("details") if result else None) or {}).get("access_key_id")
        if created:
            undo = undo.replace("<new key>", str(created))
        if result is None:
            outcome = "no result recorded (interrupted)"
        elif result.get("ok"):
            outcome = "succeeded"
        else:
            outcome = f"failed: {result.get('error_code')}"
        actions.append(
            ActionView(
                time=record.time,
                step=str(record.step),
                operation=f"{record.get('service')} {record.get('operation')}",
                region=str(
                    record.get("region")
                    or ("local" if record.get("service") == "file" else "global")
                ),
                resource=str(record.get("resource")),
                description=str(record.get("description")),
                outcome=outcome,
                request_id=str(result.get("request_id") or "-") if result else "-",
                undo=undo,
                actor=actor,
            )
        )
    return actions


def _timeline(view: ReportView, records: Sequence[Record]) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            event.time,
            "CloudTrail",
            f"{event.name} ({event.source}) in {event.region} from {event.source_ip}"
            + (f", failed: {event.error_code}" if event.error_code else ""),
        )
        for event in view.events
    ]
    for record in records:
        if record.type != RecordType.SENDING:
            continue
        for flag in record.get("flags") or []:
            if isinstance(flag, dict) and flag.get("start"):
                entries.append(
                    TimelineEntry(
                        str(flag["start"]),
                        "SES statistics",
                        f"{record.get('region')}: {_flag_text(flag)}",
                    )
                )
    entries.extend(
        TimelineEntry(
            action.time, "remediate", f"{action.operation} on {action.resource}: {action.outcome}"
        )
        for action in view.actions
    )
    entries.extend(
        TimelineEntry(record.time, "remediate", str(record.get("text")))
        for record in records
        if record.type == RecordType.NOTE and record.get("text")
    )
    return sorted(entries, key=lambda entry: _sortable(entry.time))


def _sortable(time: str) -> datetime:
    try:
        return parse_timestamp(time)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


def _follow_ups(view: ReportView, outputs: dict[str, dict[str, Any]]) -> list[str]:
    items = []
    key_id = view.access_key_id
    deferred = view.deferred.get("delete-old-key")
    leaked_now = view.containment["leaked_key_now"]
    if leaked_now.startswith("Active") and not outputs.get("identify", {}).get("temporary"):
        items.append(
            f"Deactivate the leaked key {key_id}, which is still active: aws iam "
            f"update-access-key --user-name {view.user_name} --access-key-id {key_id} "
            "--status Inactive"
        )
    elif deferred:
        items.append(
            f"After {deferred}, delete the old key {key_id} if nothing broke: "
            "remediate resume <this incident's directory>"
        )
    elif leaked_now == "Inactive":
        items.append(
            f"Delete the old key {key_id} after a watch window (for example 7 days) in which its "
            f"last-used date does not move: aws iam delete-access-key --user-name {view.user_name} "
            f"--access-key-id {key_id}"
        )
    escrow = outputs.get("rotate", {}).get("escrow")
    if escrow:
        items.append(
            f"The new key's secret is kept in the Secrets Manager secret {escrow['region']}:"
            f"{escrow['name']}, its only copy: restrict who can read it, and keep it for "
            "deriving SMTP passwords of other regions."
        )
    identify = outputs.get("identify", {})
    for policy in identify.get("quarantine_policies", []):
        items.append(
            f"AWS attached {policy['name']} to {view.user_name}: open an AWS Support case to have "
            "it lifted once the rotation is done. It does not stop SES sending."
        )
    if identify.get("temporary"):
        issuer = identify.get("issuer") or {}
        items.append(
            "Find how the attacker obtained the temporary key: the long-term credentials of "
            f"{issuer.get('arn') or 'the principal that issued it'} may have leaked too."
        )
    for item in view.left_behind:
        items.append(
            f"Check {item.get('name')} ({item.get('region')}), which was not switched "
            f"({item.get('reason')}): update it by hand if it used the leaked key."
        )
    flagged = [sending.region for sending in view.sending if sending.flags]
    if flagged:
        items.append(
            "Review SES reputation (bounce and complaint rates, account status) in "
            + ", ".join(flagged)
            + "; AWS reviews accounts at about 5 % bounces or 0.1 % complaints."
        )
    if any(f.id.startswith("ses-identity") for f in view.findings):
        items.append(
            "Remove the SES identities the attacker verified, and check their identity policies."
        )
    if view.verdict == "compromised":
        items.append(
            "Look for persistence the attacker may have left: IAM users, keys, login profiles, "
            "role trusts."
        )
    return items
