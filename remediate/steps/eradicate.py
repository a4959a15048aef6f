"""Eradicate: find what the attacker left in the account and remove it with the operator.

The sweep (remediate.evidence.persistence_sweep) ties items to the attacker by
the CloudTrail events that created them, and lists the account for what no
event shows. Each tied item is removed or reverted only when the operator
approves it by name. A listed item that no event ties is kept unless the
operator selects it. The responder's own principal, the leaked key's user, the
leaked key and the new key are never touched. What is removed is journaled
with its undo, and the documents it held are kept in the evidence bundle first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from remediate.aws.iam import PolicyEntities
from remediate.aws.regions import GLOBAL_EVENTS_REGION
from remediate.core.errors import UsageError
from remediate.core.interaction import Choice, Question, QuestionKind, Table
from remediate.core.records import RecordType
from remediate.evidence.persistence import (
    CONFIGURATION_SET,
    IAM_GROUP,
    IAM_ROLE,
    IAM_USER,
    IDENTITY_POLICY,
    MANAGED_POLICY,
    POLICY_VERSION,
    PRODUCTION_ACCESS,
    SES_IDENTITY,
    PersistenceItem,
    role_trust_item,
)
from remediate.evidence.persistence_sweep import (
    PolicyDependents,
    Protected,
    SweepItem,
    SweepResult,
    SweepScope,
    group_dependents,
    policy_dependents,
    role_dependents,
    still_present,
    sweep,
    user_dependents,
)
from remediate.steps.base import (
    Check,
    Plan,
    Step,
    StepContext,
    StepResult,
    StepSpec,
    StepStatus,
)
from remediate.steps.eradication import (
    APPROVALS,
    EVIDENCE_NAME,
    KEPT,
    REMOVALS,
    REMOVED,
    REVERTED,
    Call,
    group_deletion_calls,
    label,
    make_call,
    policy_deletion_calls,
    removal_calls,
    role_deletion_calls,
    undo_of,
    user_deletion_calls,
)

SELECT_QUESTION = "eradicate.select"
REMOVE_QUESTION = "eradicate.remove"
MAX_LOOKBACK_DAYS = 90

# Operations whose journaled results name the item they removed, for a resumed run.
REMOVAL_OPERATIONS = (
    "DeleteUser",
    "DeleteAccessKey",
    "DeleteLoginProfile",
    "DetachUserPolicy",
    "DetachGroupPolicy",
    "DetachRolePolicy",
    "DeleteUserPolicy",
    "DeleteGroupPolicy",
    "DeleteRolePolicy",
    "RemoveUserFromGroup",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "DeleteEmailIdentity",
    "DeleteEmailIdentityPolicy",
    "PutAccountSendingAttributes",
    "DeleteGroup",
    "DeletePolicy",
    "DeletePolicyVersion",
    "DeleteConfigurationSet",
)


class EradicateStep(Step):
    kind = "eradicate"
    mutating = True
    questions = (SELECT_QUESTION, REMOVE_QUESTION)
    approvals = APPROVALS
    approval_questions = (REMOVE_QUESTION,)
    defaults: ClassVar[Mapping[str, Any]] = {
        # Days of CloudTrail events to read again, at most 90 (LookupEvents' limit). A
        # listed user, key or console password younger than that is offered too.
        "lookback_days": 90,
    }

    def __init__(self, spec: StepSpec) -> None:
        super().__init__(spec)
        # The sweep is read once, in plan, and used again in apply and verify.
        self._scope: SweepScope | None = None
        self._result: SweepResult | None = None
        self._changed: list[PersistenceItem] = []

    def skip_reason(self, ctx: StepContext) -> str | None:
        if not ctx.output_of("identify").get("account"):
            return (
                "the identify step has not run, so the account and the principals that must "
                "never be touched are unknown"
            )
        return None

    def plan(self, ctx: StepContext) -> Plan:
        result = self._sweep(ctx)
        scope = self._scope_of(ctx)
        planned = {
            (call.planned.operation, call.planned.resource, call.planned.description): call.planned
            for found in sorted(result.items, key=lambda entry: _KIND_ORDER.index(entry.item.kind))
            if found.tied and found.protected is None and found.item.kind in REMOVALS
            for call in _calls_of(ctx, found, result, scope.account_id)
        }
        calls = list(planned.values())
        offered = [found for found in result.items if _offered(found)]
        return Plan(
            calls=calls,
            notes=[
                f"{len(calls)} call(s) remove the items an event ties to the attacker, each "
                "item asked and approved by name",
                f"{len(offered)} item(s) found by listing the account only, removed only when "
                "the operator selects them",
            ],
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        result = self._sweep(ctx)
        scope = self._scope_of(ctx)
        _keep_evidence(ctx, result)
        _show(ctx, result)
        selected = _select(ctx, result)

        run = _Eradication(ctx, result, scope, selected)
        records = run.run()
        self._changed = run.changed
        counts = {action: 0 for action in ("removed", "reverted", KEPT)}
        for record in records:
            counts[record["action"]] += 1
        tied = sum(1 for record in records if record["created_by"] is not None)
        if not records:
            summary = "No persistence found: no event ties an item to the attacker"
            summary += ", and the account listing shows nothing to offer."
        else:
            summary = (
                f"{counts['removed']} removed, {counts['reverted']} reverted and "
                f"{counts[KEPT]} kept of {len(records)} item(s); {tied} tied to the attacker "
                "by an event."
            )
        status = StepStatus.DEGRADED if result.gaps else StepStatus.OK
        return StepResult(status, summary, {"items": records})

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        if not self._changed:
            return []
        present = still_present(ctx.aws, self._scope_of(ctx), self._changed)
        if present:
            detail = "still in the account: " + "; ".join(label(item) for item in present)
        else:
            detail = (
                f"the {len(self._changed)} item(s) acted on read back as gone; what a deleted "
                "user, group, role or policy held went with it"
            )
        return [Check("persistence-removed", not present, detail)]

    def _sweep(self, ctx: StepContext) -> SweepResult:
        if self._result is None:
            self._result = sweep(ctx.aws, self._scope_of(ctx), sleep=ctx.sleep)
            for gap in self._result.gaps:
                ctx.record_gap(gap.source, gap.reason, region=gap.region)
        return self._result

    def _scope_of(self, ctx: StepContext) -> SweepScope:
        if self._scope is None:
            self._scope = _scope(ctx, self._lookback_days())
        return self._scope

    def _lookback_days(self) -> int:
        days = self.params.get("lookback_days")
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise UsageError(
                f"The eradicate step's lookback_days is {days!r}; it must be a whole number of "
                f"days from 1 to {MAX_LOOKBACK_DAYS}. Fix the playbook and run again."
            )
        return min(days, MAX_LOOKBACK_DAYS)


class _Eradication:
    """Asks about each item in dependency order and removes what the operator approves."""

    def __init__(
        self, ctx: StepContext, result: SweepResult, scope: SweepScope, selected: set[str]
    ) -> None:
        self.ctx = ctx
        self.result = result
        self.scope = scope
        self.selected = selected
        self.records: dict[str, dict[str, Any]] = {}
        self.changed: list[PersistenceItem] = []

    def run(self) -> list[dict[str, Any]]:
        self._record_earlier_removals()
        ordered = sorted(self.result.items, key=lambda found: _KIND_ORDER.index(found.item.kind))
        for found in ordered:
            if found.item.key in self.records:
                continue
            self._decide(found)
        return list(self.records.values())

    def _decide(self, found: SweepItem) -> None:
        item = found.item
        if found.protected is not None:
            self.ctx.console.warning(
                f"{label(item)} is tied to the attacker, but it is kept: {found.protected}."
            )
            self._record(item, KEPT)
            return
        if not (found.tied or item.key in self.selected):
            self._record(item, KEPT)
            return
        if item.kind == PRODUCTION_ACCESS:
            self.ctx.console.warning(
                f"The attacker asked for SES production access in {item.region}. No API "
                "withdraws the request: ask AWS Support to close it, or to return the region "
                "to the sandbox."
            )
            self._record(item, KEPT)
            return
        if (
            item.kind == POLICY_VERSION
            and found.state.get("default")
            and not (found.state.get("restore"))
        ):
            self.ctx.console.warning(
                f"{label(item)} is the policy's only version, so it cannot be deleted: "
                "delete the policy, or create a version to replace it."
            )
            self._record(item, KEPT)
            return
        if item.kind == IAM_USER:
            self._delete_user(found)
        elif item.kind == IAM_ROLE:
            self._delete_role(found)
        elif item.kind == IAM_GROUP:
            self._delete_group(found)
        elif item.kind == MANAGED_POLICY:
            self._delete_policy(found)
        elif item.kind == POLICY_VERSION and "unreadable" in found.state:
            # Whether it is the default, and what to restore, is unknown.
            self._unreadable(item)
        elif item.kind == POLICY_VERSION:
            restore = found.state.get("restore")
            restored = (
                f"First, version {restore} (created {found.state.get('restore_created')}) becomes "
                "the default again; check that it is the one the team had in force. "
                if restore
                else ""
            )
            if self._approved(found, restored + REMOVALS[item.kind].consequence):
                calls = removal_calls(self.ctx, item, found.state, **self._account())
                self._remove(item, calls)
            else:
                self._record(item, KEPT)
        elif self._approved(found, REMOVALS[item.kind].consequence):
            self._remove(found.item, removal_calls(self.ctx, item, found.state, **self._account()))
        else:
            self._record(item, KEPT)

    def _delete_user(self, found: SweepItem) -> None:
        user = found.item.name
        attachments = self.result.user_attachments.get(user)
        if attachments is None:
            attachments = self.ctx.aws.iam.list_user_attachments(user)
        dependents = user_dependents(user, attachments)
        held = (
            f"Deleting it first removes {len(attachments.access_keys)} access key(s), "
            f"{'its console password' if attachments.login_profile else 'no console password'}, "
            f"{len(attachments.attached_policies) + len(attachments.inline_policies)} "
            f"policy(ies) and {len(attachments.groups)} group membership(s)."
        )
        if not self._approved(found, held + " " + REMOVALS[IAM_USER].consequence):
            self._record(found.item, KEPT)
            return
        calls = user_deletion_calls(self.ctx, user, attachments, **self._account())
        self._remove(found.item, calls, dependents=dependents)

    def _delete_role(self, found: SweepItem) -> None:
        role = found.item.name
        dependents = self.result.role_dependents.get(role)
        if dependents is None:
            self._record(found.item, KEPT)
            return
        policies = role_dependents(role, dependents)
        held = (
            f"Deleting it first removes {len(policies)} policy(ies) and takes it out of "
            f"{len(dependents.instance_profiles)} instance profile(s)."
        )
        if not self._approved(found, held + " " + REMOVALS[IAM_ROLE].consequence):
            self._record(found.item, KEPT)
            return
        calls = role_deletion_calls(self.ctx, role, found.state, dependents, **self._account())
        self._remove(found.item, calls, dependents=policies)
        trust = self.result.find(role_trust_item(role).key)
        if trust is not None:
            self._record(trust.item, REMOVED, undo=f"none: removed with {label(found.item)}")

    def _delete_group(self, found: SweepItem) -> None:
        group = found.item.name
        dependents = self.result.group_dependents.get(group)
        if dependents is None:
            self._unreadable(found.item)
            return
        removed = group_dependents(group, dependents)
        if self._touches_protected(found.item, removed):
            return
        members = ", ".join(dependents.members) or "none"
        holdings = (
            f"Deleting it first removes its members ({members}) from it and "
            f"{len(dependents.attached_policies) + len(dependents.inline_policies)} "
            "policy(ies)."
        )
        if not self._approved(found, holdings + " " + REMOVALS[IAM_GROUP].consequence):
            self._record(found.item, KEPT)
            return
        calls = group_deletion_calls(self.ctx, group, dependents, **self._account())
        self._remove(found.item, calls, dependents=removed)

    def _delete_policy(self, found: SweepItem) -> None:
        policy_arn = found.item.name
        dependents = self.result.policy_dependents.get(policy_arn)
        if dependents is None:
            self._unreadable(found.item)
            return
        # A user, group or role deleted a moment ago has the policy attached no more.
        entities = dependents.entities
        entities = PolicyEntities(
            users=tuple(name for name in entities.users if not self._removed(IAM_USER, name)),
            groups=tuple(name for name in entities.groups if not self._removed(IAM_GROUP, name)),
            roles=tuple(name for name in entities.roles if not self._removed(IAM_ROLE, name)),
        )
        dependents = PolicyDependents(entities, dependents.versions)
        removed = policy_dependents(policy_arn, dependents)
        if self._touches_protected(found.item, removed):
            return

        attached = [
            *(f"user {name}" for name in entities.users),
            *(f"group {name}" for name in entities.groups),
            *(f"role {name}" for name in entities.roles),
        ]

        versions = f"{len(dependents.versions)} older version(s)"
        if attached:
            holdings = (
                f"Deleting it first detaches it from {', '.join(attached)} and deletes {versions}."
            )
        else:
            holdings = f"It is attached to nothing now; deleting it first deletes {versions}."
        if not self._approved(found, holdings + " " + REMOVALS[MANAGED_POLICY].consequence):
            self._record(found.item, KEPT)
            return
        calls = policy_deletion_calls(self.ctx, policy_arn, dependents, **self._account())
        self._remove(found.item, calls, dependents=removed)

    def _removed(self, kind: str, name: str) -> bool:
        return self.records.get(f"{kind}.{name}", {}).get("action") == REMOVED

    def _unreadable(self, item: PersistenceItem) -> None:
        """Keep an item whose state could not be read, because removing it safely needs it."""
        self.ctx.console.warning(
            f"{label(item)} is kept: its state could not be read (see the evidence gaps), so "
            "it cannot be removed safely."
        )
        self._record(item, KEPT)

    def _touches_protected(self, item: PersistenceItem, removed: list[PersistenceItem]) -> bool:
        """Keep the item, with a warning, when removing it would change a protected principal."""
        for dependent in removed:
            reason = self.scope.protected.reason(dependent)
            if reason is not None:
                self.ctx.console.warning(
                    f"{label(item)} is kept: deleting it would also remove {label(dependent)}, "
                    f"and {reason}. Remove that by hand if it must go."
                )
                self._record(item, KEPT)
                return True
        return False

    def _approved(self, found: SweepItem, consequence: str) -> bool:
        item = found.item
        removal = REMOVALS[item.kind]
        if item.created_by is not None:
            tie = f", made by {item.created_by.describe()} with an attacker's key"
        else:
            tie = ", found by listing the account (no event ties it to the attacker)"
        answer = self.ctx.ask(
            Question(
                f"{REMOVE_QUESTION}.{item.key}",
                f"{removal.verb} {label(item)}{tie}? {consequence}",
                QuestionKind.CONFIRM,
                default=False,
                approval=removal.approval,
            )
        )
        return answer is True

    def _remove(
        self,
        item: PersistenceItem,
        calls: list[Call],
        *,
        dependents: list[PersistenceItem] | None = None,
    ) -> None:
        for call in calls:
            make_call(self.ctx, call)
        # What goes with a deleted user or role cannot be put back on it. A dependent
        # already removed with something else keeps that record.
        for dependent in dependents or []:
            if self.records.get(dependent.key, {}).get("action") in (REMOVED, REVERTED):
                continue
            undo = f"none: removed with {label(item)}"
            self._record(dependent, REMOVALS[dependent.kind].action, undo=undo)
        self._record(item, REMOVALS[item.kind].action)
        self.changed.append(item)
        if item.kind == SES_IDENTITY:
            # Deleting an identity deletes its policies, even those the operator kept.
            for key, record in self.records.items():
                policy = self.result.find(key)
                if (
                    policy
                    and policy.item.kind == IDENTITY_POLICY
                    and policy.item.subject == item.name
                    and policy.item.region == item.region
                    and record["action"] == KEPT
                ):
                    record.update(action=REMOVED, undo=f"none: removed with identity {item.name}")

    def _record(self, item: PersistenceItem, action: str, *, undo: str | None = None) -> None:
        found = self.result.find(item.key)
        created_by = item.created_by or (found.item.created_by if found else None)
        self.records[item.key] = {
            "kind": item.kind,
            "name": item.name,
            "region": item.region,
            "created_by": created_by.to_record() if created_by else None,
            "action": action,
            "undo": None if action == KEPT else undo or undo_of(item),
        }

    def _record_earlier_removals(self) -> None:
        """List the tied items a stopped run of this incident already removed."""
        done = {
            str(details.get("item"))
            for operation in REMOVAL_OPERATIONS
            for details in self.ctx.completed_calls(operation)
            if details.get("item")
        }
        for item in self.result.gone:
            if item.key in done and item.kind in REMOVALS:
                self._record(item, REMOVALS[item.kind].action)
            else:
                made = item.created_by.describe() if item.created_by else "an unknown event"
                self.ctx.record(
                    RecordType.NOTE,
                    text=f"{label(item)}, made by {made}, is no longer in the account.",
                )

    def _account(self) -> dict[str, str]:
        return {"account_id": self.scope.account_id}


# The order in which items are decided: a user or role before what it holds, and
# an identity's policies before the identity.
_KIND_ORDER = (
    IAM_USER,
    IAM_GROUP,
    IAM_ROLE,
    MANAGED_POLICY,
    POLICY_VERSION,
    "access-key",
    "login-profile",
    "policy-attachment",
    "inline-policy",
    "group-membership",
    "role-trust",
    "identity-policy",
    "ses-identity",
    CONFIGURATION_SET,
    "account-sending",
    PRODUCTION_ACCESS,
)


def _calls_of(
    ctx: StepContext, found: SweepItem, result: SweepResult, account_id: str
) -> list[Call]:
    """List the calls that remove one item, with what a user's or role's deletion needs first."""
    item = found.item
    attachments = result.user_attachments.get(item.name) if item.kind == IAM_USER else None
    if attachments is not None:
        return user_deletion_calls(ctx, item.name, attachments, account_id=account_id)
    dependents = result.role_dependents.get(item.name) if item.kind == IAM_ROLE else None
    if dependents is not None:
        return role_deletion_calls(ctx, item.name, found.state, dependents, account_id=account_id)
    group = result.group_dependents.get(item.name) if item.kind == IAM_GROUP else None
    if group is not None:
        return group_deletion_calls(ctx, item.name, group, account_id=account_id)
    policy = result.policy_dependents.get(item.name) if item.kind == MANAGED_POLICY else None
    if policy is not None:
        return policy_deletion_calls(ctx, item.name, policy, account_id=account_id)
    return removal_calls(ctx, item, found.state, account_id=account_id)


def _offered(found: SweepItem) -> bool:
    """Return whether the selection question offers the item: listed only, not protected."""
    return not found.tied and found.protected is None and found.item.kind in REMOVALS


def _select(ctx: StepContext, result: SweepResult) -> set[str]:
    offered = [found for found in result.items if _offered(found)]
    if not offered:
        return set()
    answer = ctx.ask(
        Question(
            SELECT_QUESTION,
            f"{len(offered)} item(s) are in the account but no event ties them to the attacker "
            "(they may be the team's own). Select any that should be removed as well; each is "
            "asked again before it is removed.",
            QuestionKind.CHECKBOX,
            default=[],
            choices=tuple(Choice(found.item.key, label(found.item)) for found in offered),
        )
    )
    return set(answer) if isinstance(answer, list) else set()


def _scope(ctx: StepContext, lookback_days: int) -> SweepScope:
    identify = ctx.output_of("identify")
    investigation = ctx.output_of("investigate")
    rotate = ctx.output_of("rotate")
    now = ctx.now()
    derived = [
        str(credential["access_key_id"])
        for credential in investigation.get("derived_credentials") or []
        if credential.get("access_key_id")
    ]
    regions = {
        *(investigation.get("suspect_regions") or []),
        *(investigation.get("sending_regions") or []),
        *ctx.regions,
    }
    created_users = {str(details.get("user_name")) for details in ctx.completed_calls("CreateUser")}
    credentials = ctx.aws.clients.session.get_credentials()
    keys = {
        ctx.access_key_id,
        rotate.get("new_access_key_id"),
        credentials.access_key if credentials else None,
    }
    operator_kind, operator_name = _principal_of(str(identify.get("operator_arn") or ""))
    return SweepScope(
        account_id=str(identify["account"]),
        key_ids=tuple(dict.fromkeys([ctx.access_key_id, *derived])),
        regions=tuple(sorted(regions)) or (ctx.aws.default_region or GLOBAL_EVENTS_REGION,),
        since=now - timedelta(days=lookback_days),
        until=now,
        protected=Protected(
            users=frozenset(
                name
                for name in (identify.get("user_name"), rotate.get("user_name"), *created_users)
                if name
            ),
            access_keys=frozenset(key for key in keys if key),
            operator_kind=operator_kind,
            operator_name=operator_name,
        ),
    )


def _principal_of(arn: str) -> tuple[str | None, str | None]:
    """Name the IAM user or role behind an ARN (an assumed-role session's role), or neither."""
    resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    parts = resource.split("/")
    if parts[0] == "user" and len(parts) > 1:
        return "User", parts[-1]
    if parts[0] == "assumed-role" and len(parts) > 1:
        return "Role", parts[1]
    if parts[0] == "role" and len(parts) > 1:
        return "Role", parts[-1]
    return None, None


def _keep_evidence(ctx: StepContext, result: SweepResult) -> None:
    """Keep what each item contains before any change, because the undo of a removal needs it."""
    ctx.write_evidence(
        EVIDENCE_NAME,
        {
            "events_read": result.events_read,
            "items": [
                {
                    "kind": found.item.kind,
                    "name": found.item.name,
                    "region": found.item.region,
                    "created_by": found.item.created_by.to_record()
                    if found.item.created_by
                    else None,
                    "tied": found.tied,
                    "protected": found.protected,
                    "state": found.state,
                }
                for found in result.items
            ],
            "gone": [
                {
                    "kind": item.kind,
                    "name": item.name,
                    "region": item.region,
                    "created_by": item.created_by.to_record() if item.created_by else None,
                }
                for item in result.gone
            ],
        },
    )


def _show(ctx: StepContext, result: SweepResult) -> None:
    ctx.console.info(
        f"Read {result.events_read} CloudTrail event(s) of the leaked key and the keys it "
        "obtained, and listed the account."
    )
    if not result.items:
        return
    rows = []
    for found in sorted(result.items, key=lambda entry: _KIND_ORDER.index(entry.item.kind)):
        item = found.item
        if found.protected is not None:
            status = f"protected: {found.protected}"
        elif found.tied:
            status = "tied to the attacker"
        else:
            status = "listed only"
        rows.append(
            (
                label(item),
                item.created_by.describe() if item.created_by else "-",
                status,
            )
        )
    ctx.console.table(Table("Persistence sweep", ("Item", "Created by", "Status"), rows))
