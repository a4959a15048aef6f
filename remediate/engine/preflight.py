"""The permission preflight: before the first change, ask IAM whether the operator may make it.

The calls come from the plans of the steps still to run. IAM's
SimulatePrincipalPolicy evaluates the operator's policies for each one, so a
missing permission is found before a key exists rather than halfway through
the rotation. When the simulation itself is denied or unavailable, the check
is skipped and recorded as a gap; it never stops the run on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from remediate.aws.iam_simulation import EXPLICIT_DENY, ActionDecision, IamSimulationGateway
from remediate.core.errors import AwsCallError, ExitCode, RemediateError
from remediate.core.interaction import AnswerValue, Question, QuestionKind, Table
from remediate.core.records import RecordType
from remediate.engine.context import RunContext
from remediate.engine.journal import Journal
from remediate.engine.registry import step_class
from remediate.steps.base import Plan, PlannedCall, ReceiptT, StepSpec

log = logging.getLogger(__name__)

PREFLIGHT_QUESTION = "preflight.proceed"
GAP_SOURCE = "IAM SimulatePrincipalPolicy"

# Calls that need no permission of the operator: GetCallerIdentity is always
# allowed, and the rotate step makes it with the new key, not the operator's.
NO_PERMISSION_NEEDED = frozenset({("sts", "GetCallerIdentity")})
# IAM action names that are not `service:Operation`.
ACTION_NAMES = {("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "HeadObject"): "s3:GetObject"}
# IAM action prefixes that are not the boto3 service name.
ACTION_PREFIXES = {"sesv2": "ses"}
# IAM access key actions, whose resource is the user that owns the key.
ACCESS_KEY_OPERATIONS = frozenset(
    {
        "CreateAccessKey",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
    }
)
# Secrets Manager ends a secret's ARN with a dash and six random characters. An
# ARN with this stand-in matches the patterns policies use for a secret
# (`name-??????`, `name-*`, `name*`), so a secret not created yet can be simulated.
SECRET_ARN_SUFFIX_STAND_IN = "-AbCdEf"  # noqa: S105 - part of an ARN, not a password


class PermissionsMissingError(RemediateError):
    """The operator lacks permissions the remaining steps need, and chose to stop."""

    exit_code = ExitCode.AWS_CALL_FAILED


@dataclass(frozen=True)
class NeededAction:
    """An IAM action a remaining step calls, on the resource IAM evaluates it for."""

    action: str
    resource: str  # the ARN simulated, or `*`
    grant: str  # the ARN, or ARN pattern, a policy that grants it names
    mutating: bool
    uses: tuple[str, ...]  # `step: what the call does`, for each call that needs it


def preflight_due(journal: Journal) -> bool:
    """Return whether this run or resume has not checked permissions yet.

    Each process checks once, before its first change, because a resumed run
    may act with other credentials than the run it continues.
    """
    for record in reversed(journal.records):
        if record.type == RecordType.PREFLIGHT:
            return False
        if record.type in (RecordType.INCIDENT_OPENED, RecordType.INCIDENT_RESUMED):
            return True
    return True


def run_preflight(
    context: RunContext,
    current: tuple[StepSpec, Plan],
    later: Sequence[StepSpec],
) -> None:
    """Simulate the remaining steps' calls; ask whether to go on when a change is denied.

    In a dry run the result is only shown. Otherwise a denied change asks
    `preflight.proceed`, whose default stops the run before anything changes.
    """
    needed = needed_actions(_planned_calls(context, current, later), context)
    if not needed:
        return
    operator = _operator_arn(context.journal)
    principal, reason = simulation_principal(operator, IamSimulationGateway(context.aws.clients))
    if principal is None:
        # The root user needs no check, but any other principal IAM cannot simulate is a gap.
        _skip(context, needed, operator, reason, gap=not reason.startswith("the root user"))
        return

    try:
        decisions = simulate(IamSimulationGateway(context.aws.clients), principal, needed)
    except AwsCallError as error:
        _skip(context, needed, principal, _failure_reason(error), gap=True)
        return

    denied = [(item, decisions[item.action, item.resource]) for item in needed]
    denied = [(item, decision) for item, decision in denied if not decision.allowed]
    policy = grant_policy([item for item, decision in denied if decision.decision != EXPLICIT_DENY])
    context.record(
        RecordType.PREFLIGHT,
        principal=principal,
        checked=[_as_record(item, decisions[item.action, item.resource]) for item in needed],
        denied=[_as_record(item, decision) for item, decision in denied],
        policy=policy,
        skipped=None,
    )
    _show(context, principal, needed, denied, policy)
    changes = [item for item, _ in denied if item.mutating]
    if changes and not context.dry_run:
        _ask_to_proceed(context, principal, changes)


def _planned_calls(
    context: RunContext, current: tuple[StepSpec, Plan], later: Sequence[StepSpec]
) -> list[tuple[StepSpec, PlannedCall]]:
    """List the current step's planned calls, then those of each later step that applies."""
    spec, plan = current
    calls = [(spec, call) for call in plan.calls]
    planning = _PlanningContext(context)
    for later_spec in later:
        step = step_class(later_spec.kind)(later_spec)
        try:
            if step.skip_reason(planning) is not None:
                continue
            calls += [(later_spec, call) for call in step.plan(planning).calls]
        except RemediateError as error:
            # A later step may need outputs that do not exist yet. The preflight of
            # the run that reaches it checks it then.
            log.debug("preflight: step %s cannot be planned yet: %s", later_spec.id, error.message)
    return calls


class _PlanningContext(RunContext):
    """The run's context for planning later steps early, which reads AWS and writes nothing.

    A step's plan may read AWS and record what it could not read. Those records
    belong to the step's own run, so here they are dropped, and so is its output.
    NOTE: a plan that reads much (the eradicate step's sweep) is read once more here.
    """

    def __init__(self, context: RunContext) -> None:
        # A copy of the run's state, so RunContext.__init__ is not called.
        self.__dict__.update(context.__dict__)
        self._console = _SilentConsole()

    def ask(self, question: Question) -> AnswerValue:
        raise RemediateError(f"planning early would ask {question.id}")

    def mutate(
        self,
        call: PlannedCall,
        action: Callable[[], ReceiptT],
        describe: Callable[[ReceiptT], Mapping[str, Any]] | None = None,
    ) -> ReceiptT:
        raise RemediateError(f"planning early would call {call.service} {call.operation}")

    def record(self, record_type: str, **fields: Any) -> None:
        return None

    def record_gap(
        self, source: str, reason: str, *, region: str | None = None, standing: bool = False
    ) -> None:
        return None

    def write_evidence(self, name: str, data: Any) -> None:
        return None


class _SilentConsole:
    """A console that shows nothing, for steps planned early."""

    def heading(self, text: str) -> None: ...

    def info(self, text: str) -> None: ...

    def success(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...

    def table(self, table: Table) -> None: ...


def iam_action(call: PlannedCall) -> str | None:
    """Return the IAM action a call needs, or None when it needs none."""
    if (call.service, call.operation) in NO_PERMISSION_NEEDED:
        return None
    named = ACTION_NAMES.get((call.service, call.operation))
    if named is not None:
        return named
    return f"{ACTION_PREFIXES.get(call.service, call.service)}:{call.operation}"


def needed_actions(
    calls: Sequence[tuple[StepSpec, PlannedCall]], context: RunContext
) -> list[NeededAction]:
    """Turn planned calls into IAM actions and resources, one entry per pair."""
    account = str(context.output_of("identify").get("account") or _operator_account(context))
    found: dict[tuple[str, str], NeededAction] = {}
    for spec, call in calls:
        action = iam_action(call)
        if action is None:
            continue
        resource, grant = resource_arns(call, account, context)
        use = f"{spec.id}: {call.description}"
        known = found.get((action, resource))
        if known is None:
            found[action, resource] = NeededAction(action, resource, grant, call.mutating, (use,))
        elif use not in known.uses:
            found[action, resource] = NeededAction(
                action, resource, grant, known.mutating or call.mutating, (*known.uses, use)
            )
    return list(found.values())


def resource_arns(call: PlannedCall, account: str, context: RunContext) -> tuple[str, str]:
    """Return the ARN to simulate a call on and the ARN a grant names; `*` when not known."""
    params: Mapping[str, Any] = call.params
    region = call.region or context.aws.default_region
    if call.service == "iam":
        return _iam_resource(call, account, context)
    name = str(params.get("SecretId") or params.get("Name") or call.resource)
    if not _is_name(name):
        return "*", "*"
    if name.startswith("arn:"):
        return name, name
    if call.service == "secretsmanager":
        known = _consumer_secret_arns(context).get((region, name))
        if known is not None:
            return known, known
        base = f"arn:aws:secretsmanager:{region}:{account}:secret:{name}"
        return base + SECRET_ARN_SUFFIX_STAND_IN, base + "-*"
    if call.service == "ssm":
        arn = f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
        return arn, arn
    if call.service == "lambda":
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        return arn, arn
    return "*", "*"


def _iam_resource(call: PlannedCall, account: str, context: RunContext) -> tuple[str, str]:
    """Return the IAM user or role a call acts on as (ARN, ARN), or `*` when not known."""
    identify = context.output_of("identify")
    user = call.params.get("UserName")
    if user is None and call.operation in ("CreateAccessKey", "CreateUser"):
        user = call.resource
    if user is None and call.operation in ACCESS_KEY_OPERATIONS:
        user = identify.get("user_name")
    if user and user == identify.get("user_name") and identify.get("user_arn"):
        return str(identify["user_arn"]), str(identify["user_arn"])
    if user and _is_name(str(user)):
        arn = f"arn:aws:iam::{account}:user/{user}"
        return arn, arn
    role = call.params.get("RoleName")
    if role and _is_name(str(role)):
        arn = f"arn:aws:iam::{account}:role/{role}"
        return arn, arn
    return "*", "*"


def _consumer_secret_arns(context: RunContext) -> dict[tuple[str | None, str], str]:
    """Map the consumer secrets found, by region and name, to their ARNs."""
    consumers = context.output_of("find-consumers").get("consumers") or []
    return {
        (consumer.get("region"), str(consumer.get("name"))): str(consumer.get("resource"))
        for consumer in consumers
        if consumer.get("kind") == "secretsmanager"
    }


def _is_name(value: str) -> bool:
    """Return whether a planned call's resource is a name, not a placeholder like `<new key>`."""
    return bool(value) and "<" not in value and " " not in value


def simulation_principal(
    operator_arn: str | None, gateway: IamSimulationGateway
) -> tuple[str | None, str]:
    """Return the IAM principal to simulate for the operator, or None and the reason why not.

    A role session (`sts::...:assumed-role/ROLE/SESSION`) is simulated as its
    role; GetRole supplies the role's path, which the session ARN leaves out.
    """
    if not operator_arn:
        return None, "the journal does not name the operator"
    parts = operator_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None, f"{operator_arn} is not an ARN"
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    if service == "iam" and resource == "root":
        return None, "the root user acts here, and IAM policies do not limit it"
    if service == "iam" and resource.startswith(("user/", "role/")):
        return operator_arn, ""
    if service == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return gateway.role_arn(role) or f"arn:{partition}:iam::{account}:role/{role}", ""
    return None, f"{operator_arn} is neither an IAM user nor a role session, which IAM can simulate"


def simulate(
    gateway: IamSimulationGateway, principal: str, needed: Sequence[NeededAction]
) -> dict[tuple[str, str], ActionDecision]:
    """Simulate each resource's actions in one call; return the decision by (action, resource)."""
    by_resource: dict[str, list[str]] = {}
    for item in needed:
        by_resource.setdefault(item.resource, []).append(item.action)
    decisions: dict[tuple[str, str], ActionDecision] = {}
    for resource, actions in by_resource.items():
        arns = () if resource == "*" else (resource,)
        for decision in gateway.simulate_principal_policy(principal, actions, arns):
            decisions[decision.action, resource] = decision
    missing = [item.action for item in needed if (item.action, item.resource) not in decisions]
    if missing:
        raise AwsCallError(
            f"iam SimulatePrincipalPolicy returned no decision for {', '.join(missing)}.",
            service="iam",
            operation="SimulatePrincipalPolicy",
            resource=principal,
            code="IncompleteResult",
        )
    return decisions


def grant_policy(denied: Sequence[NeededAction]) -> dict[str, Any]:
    """Build an IAM policy that allows the denied actions, one statement per set of actions."""
    resources_by_action: dict[str, set[str]] = {}
    for item in denied:
        resources_by_action.setdefault(item.action, set()).add(item.grant)
    actions_by_resources: dict[tuple[str, ...], list[str]] = {}
    for action, resources in sorted(resources_by_action.items()):
        actions_by_resources.setdefault(tuple(sorted(resources)), []).append(action)
    statements = [
        {
            "Sid": f"RemediateIncidentResponse{number}",
            "Effect": "Allow",
            "Action": actions,
            "Resource": list(resources) if len(resources) > 1 else resources[0],
        }
        for number, (resources, actions) in enumerate(sorted(actions_by_resources.items()), 1)
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _show(
    context: RunContext,
    principal: str,
    needed: Sequence[NeededAction],
    denied: Sequence[tuple[NeededAction, ActionDecision]],
    policy: Mapping[str, Any],
) -> None:
    console = context.console
    console.info(
        f"Permission preflight: IAM SimulatePrincipalPolicy for {principal} on the "
        f"{len(needed)} action(s) the remaining steps call."
    )
    if not denied:
        console.success(f"All {len(needed)} action(s) are allowed.")
        return
    console.warning(f"{len(denied)} of {len(needed)} action(s) are denied:")
    for item, decision in denied:
        console.info(
            f"  {item.action} on {item.resource}: {_why_denied(decision)}; "
            f"needed by {'; '.join(item.uses)}"
        )
    if policy["Statement"]:
        console.info(f"A policy that grants them, to attach to {principal}:")
        console.info(json.dumps(policy, indent=2))
    if any(decision.decision == EXPLICIT_DENY for _, decision in denied):
        console.warning(
            "An explicit Deny (in a policy, a permissions boundary or an SCP) cannot be "
            "overridden by an Allow; it must be lifted where it is written."
        )
    console.info(
        "IAM simulates only identity-based policies: a resource policy or a session policy "
        "can still change the outcome."
    )


def _why_denied(decision: ActionDecision) -> str:
    if decision.allowed_by_organizations is False:
        return "denied by an SCP of the organization"
    if decision.allowed_by_boundary is False:
        return "denied by the permissions boundary"
    if decision.decision == EXPLICIT_DENY:
        return "explicitly denied"
    return "not allowed by any policy"


def _ask_to_proceed(context: RunContext, principal: str, changes: Sequence[NeededAction]) -> None:
    actions = ", ".join(dict.fromkeys(item.action for item in changes))
    proceed = context.ask(
        Question(
            PREFLIGHT_QUESTION,
            f"{principal} may not call {actions}, which the remaining steps need to change AWS. "
            "Go on anyway? The step that needs a denied action stops when it reaches it.",
            QuestionKind.CONFIRM,
            default=False,
        )
    )
    if proceed is True:
        context.console.warning("Going on without the denied permissions, as answered.")
        return
    resume = context.continue_command or "remediate resume INCIDENT_DIR"
    raise PermissionsMissingError(
        f"Stopped before any change in this run: {principal} may not call {actions}, which the "
        "remaining steps need.",
        next_step=f"attach the policy printed above to {principal}, then run `{resume}`; or, to "
        f"go on anyway, answer `{PREFLIGHT_QUESTION}: true` in the answers file (or yes at the "
        "prompt)",
    )


def _skip(
    context: RunContext,
    needed: Sequence[NeededAction],
    principal: str | None,
    reason: str,
    *,
    gap: bool,
) -> None:
    """Record and show that the preflight did not run, and record a gap when it should have."""
    context.record(
        RecordType.PREFLIGHT,
        principal=principal,
        checked=[],
        denied=[],
        policy=None,
        skipped=reason,
        actions=sorted({item.action for item in needed}),
    )
    if gap:
        context.record_gap(GAP_SOURCE, f"The permission preflight was skipped: {reason}.")
        context.console.warning(
            f"Permission preflight skipped: {reason}. A missing permission stops the step "
            "that needs it."
        )
    else:
        context.console.info(f"Permission preflight skipped: {reason}.")


def _failure_reason(error: AwsCallError) -> str:
    if error.code in ("AccessDenied", "AccessDeniedException"):
        return "the operator may not call iam:SimulatePrincipalPolicy"
    return f"iam SimulatePrincipalPolicy failed ({error.code or 'unknown error'})"


def _as_record(item: NeededAction, decision: ActionDecision) -> dict[str, Any]:
    return {
        "action": item.action,
        "resource": item.resource,
        "decision": decision.decision,
        "mutating": item.mutating,
        "uses": list(item.uses),
    }


def _operator_arn(journal: Journal) -> str | None:
    """Return the ARN of the operator who opened or last resumed the incident, who acts now."""
    for record in reversed(journal.records):
        if record.type in (RecordType.INCIDENT_OPENED, RecordType.INCIDENT_RESUMED):
            operator = record.get("operator") or {}
            return str(operator.get("arn")) if operator.get("arn") else None
    return None


def _operator_account(context: RunContext) -> str:
    arn = _operator_arn(context.journal) or ""
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""
