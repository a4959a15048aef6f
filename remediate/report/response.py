"""The responders' work: AWS changes, containment, eradication and the consumers switched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from remediate.core.records import RecordType
from remediate.engine.journal import Record
from remediate.report.records import finished_outputs, outputs_by_kind, text_or_none


@dataclass(frozen=True)
class ActionView:
    """One change made to AWS (or a file), from its intent and result records."""

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
class ContainActionView:
    """An emergency brake from a `contain` step, and how to release it."""

    action: str  # pause-sending, deny-sending, deactivate-now or revoke-sessions
    target: str
    regions: list[str]
    reason: str
    undo: str
    undone: bool


@dataclass(frozen=True)
class CreatedBy:
    """The CloudTrail event that created what the attacker left behind."""

    event_id: str
    event_name: str
    event_time: str


@dataclass(frozen=True)
class EradicationItemView:
    """Something an attacker created, and what an `eradicate` step did with it."""

    step: str
    kind: str  # iam-user, access-key, login-profile, policy-attachment, role-trust, ...
    name: str
    region: str | None
    created_by: CreatedBy | None
    action: str  # removed, reverted or kept
    undo: str | None


@dataclass(frozen=True)
class ConsumerView:
    name: str
    kind: str
    region: str | None  # "local" for a file
    summary: str
    verified: bool | None  # None when no check was recorded
    verification: str


def build_actions(records: Sequence[Record], opened: Record) -> list[ActionView]:
    """List every change made, attributed to the operator of the run that made it."""
    results = {
        record.get("call_id"): record for record in records if record.type == RecordType.AWS_RESULT
    }
    actor = str((opened.get("operator") or {}).get("arn", ""))
    actions = []
    for record in records:
        if record.type == RecordType.INCIDENT_RESUMED:
            actor = str((record.get("operator") or {}).get("arn", actor))
        if record.type == RecordType.AWS_INTENT:
            actions.append(_action(record, results.get(record.get("call_id")), actor))
    return actions


def _action(intent: Record, result: Record | None, actor: str) -> ActionView:
    undo = str(intent.get("undo") or "")
    created = ((result.get("details") if result else None) or {}).get("access_key_id")
    if created:
        undo = undo.replace("<new key>", str(created))
    if result is None:
        outcome = "no result recorded (interrupted)"
    elif (result.get("details") or {}).get("already_gone"):
        outcome = f"nothing to do: already gone ({result.get('details', {}).get('already_gone')})"
    elif result.get("ok"):
        outcome = "succeeded"
    else:
        outcome = f"failed: {result.get('error_code')}"
    service = intent.get("service")
    return ActionView(
        time=intent.time,
        step=str(intent.step),
        operation=f"{service} {intent.get('operation')}",
        region=str(intent.get("region") or ("local" if service == "file" else "global")),
        resource=str(intent.get("resource")),
        description=str(intent.get("description")),
        outcome=outcome,
        request_id=str(result.get("request_id") or "-") if result else "-",
        undo=undo,
        actor=actor,
    )


def build_contain_actions(records: Sequence[Record]) -> list[ContainActionView]:
    """List the brakes of the incident, each once, as the last contain step to list it left it.

    A contain step may list only its own brakes, or all of the incident's so
    far with `undone` set on those a later step lifted. Either way, the last
    mention of a brake is its state now.
    """
    brakes: dict[tuple[str, str, tuple[str, ...]], ContainActionView] = {}
    for _, outputs in finished_outputs(records, "contain"):
        for item in outputs.get("actions") or []:
            if not isinstance(item, dict):
                continue
            brake = ContainActionView(
                action=str(item.get("action") or ""),
                target=str(item.get("target") or ""),
                regions=[str(region) for region in item.get("regions") or []],
                reason=str(item.get("reason") or ""),
                undo=str(item.get("undo") or ""),
                undone=item.get("undone") is True,
            )
            brakes[(brake.action, brake.target, tuple(brake.regions))] = brake
    return list(brakes.values())


def build_eradication(records: Sequence[Record]) -> list[EradicationItemView]:
    items = []
    for finished, outputs in finished_outputs(records, "eradicate"):
        for item in outputs.get("items") or []:
            if isinstance(item, dict):
                items.append(
                    EradicationItemView(
                        step=str(finished.step),
                        kind=str(item.get("kind") or ""),
                        name=str(item.get("name") or ""),
                        region=text_or_none(item.get("region")),
                        created_by=_created_by(item.get("created_by")),
                        action=str(item.get("action") or ""),
                        undo=text_or_none(item.get("undo")),
                    )
                )
    return items


def _created_by(event: Any) -> CreatedBy | None:
    if not isinstance(event, dict):
        return None
    return CreatedBy(
        event_id=str(event.get("eventID") or ""),
        event_name=str(event.get("eventName") or ""),
        event_time=str(event.get("eventTime") or ""),
    )


def build_consumers(records: Sequence[Record]) -> list[ConsumerView]:
    """List the consumers switched, each with the read-back check that verified it."""
    checks = {
        str(record.get("name")): record
        for record in records
        if record.type == RecordType.CHECK and str(record.get("name", "")).startswith("consumer:")
    }
    rolled_back = _rolled_back_after_switch(records)
    consumers = []
    for item in outputs_by_kind(records).get("update-consumers", {}).get("consumers", []):
        consumer = item.get("consumer") or {}
        check = checks.get(f"consumer:{consumer.get('name')}")
        summary = str(item.get("summary", ""))
        verified = bool(check.get("passed")) if check else None
        verification = _check_detail(check, str(consumer.get("name")))
        if rolled_back is not None:
            summary = (
                f"put back on its previous credential by the rollback at {rolled_back.time}; "
                "a resume switches it again"
            )
            verified = None
            verification = f"the rollback restored it ({rolled_back.step}); not switched now"
        consumers.append(
            ConsumerView(
                name=str(consumer.get("name")),
                kind=str(consumer.get("kind")),
                region=text_or_none(consumer.get("region"))
                or ("local" if consumer.get("kind") == "file" else None),
                summary=summary,
                verified=verified,
                verification=verification,
            )
        )
    return consumers


def _rolled_back_after_switch(records: Sequence[Record]) -> Record | None:
    """Return the successful rollback that came after the last switch of the consumers, if any."""
    for record in reversed(records):
        if record.type != RecordType.STEP_FINISHED or record.get("status") != "ok":
            continue
        if record.get("kind") == "update-consumers":
            return None
        if record.get("kind") == "rollback":
            return record
    return None


def _check_detail(check: Record | None, name: str) -> str:
    """Return the check's detail without the consumer's label that starts it."""
    if check is None:
        return "no check was recorded"
    detail = str(check.get("detail"))
    label, separator, rest = detail.partition(": ")
    return rest if separator and label.startswith(name) else detail
