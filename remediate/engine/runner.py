"""Running a playbook: start an incident, run each unfinished step, journal everything."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remediate import __version__
from remediate.aws.gateways import AwsGateways, refuse_leaked_credentials
from remediate.core.errors import (
    IncidentDirError,
    InputRequiredError,
    InterruptedRun,
    RemediateError,
    UsageError,
    VerificationError,
)
from remediate.core.interaction import Console, Prompter
from remediate.core.timeutil import Clock, utc_now
from remediate.engine.answers import AnswerPolicy, load_answers
from remediate.engine.consumers_file import load_consumers
from remediate.engine.context import ReportWriter, RunContext
from remediate.engine.incident import (
    DEFAULT_BASE,
    IncidentDir,
    create_incident_dir,
    hold_lock,
    new_incident_id,
    open_incident_dir,
    unfinished_incidents,
)
from remediate.engine.journal import Journal, RecordType
from remediate.engine.playbook import Playbook, check_answers, load_playbook
from remediate.engine.preflight import preflight_due, run_preflight
from remediate.engine.registry import step_class
from remediate.steps.base import Plan, StepResult, StepSpec, StepStatus

if TYPE_CHECKING:
    import boto3

log = logging.getLogger(__name__)

RUN = "run"
REHEARSE = "rehearse"
# The step name of records that belong to no step: opening or reopening the incident.
INCIDENT_STEP = "incident"
# The step kinds a rollback reopens. Consumers go back to the leaked key and the key is
# active again, so the cut-over, deactivation and deletion must happen again. The rotate
# step runs again too: the rollback means the new key failed somewhere, so it is proven
# again (from the escrow, with no new key) before any consumer is switched to it.
UNDONE_BY_ROLLBACK = frozenset(
    {"rotate", "update-consumers", "watch", "deactivate", "delete-old-key"}
)


@dataclass
class IncidentRequest:
    """Everything `remediate run` or `remediate rehearse` decided before the first step."""

    access_key_id: str
    session: boto3.Session
    console: Console
    policy: AnswerPolicy
    mode: str = RUN
    playbook: str | None = None
    regions: tuple[str, ...] = ()
    incident_dir: Path | None = None
    dry_run: bool = False
    report_writer: ReportWriter | None = None
    clock: Clock = utc_now
    sleep: Callable[[float], None] = time.sleep
    # Recorded so that `remediate resume` can rebuild the same session and answers.
    profile: str | None = None
    region: str | None = None
    answers_path: Path | None = None
    consumers_path: Path | None = None
    scenario: str | None = None


@dataclass
class StepOutcome:
    step_id: str
    title: str
    status: str
    summary: str


@dataclass
class RunOutcome:
    incident: IncidentDir | None
    steps: list[StepOutcome] = field(default_factory=list)


def start_incident(request: IncidentRequest) -> RunOutcome:
    """Open a new incident for the key and run the playbook from its first step."""
    playbook = load_playbook(request.playbook)
    if request.policy.answers is not None:
        check_answers(request.policy.answers, playbook)
    declared = load_consumers(request.consumers_path) if request.consumers_path else ()
    started = request.clock()
    incident_id = new_incident_id(
        request.access_key_id, started, rehearsal=request.mode == REHEARSE
    )
    refuse_leaked_credentials(request.session, request.access_key_id)
    gateways = AwsGateways(request.session, user_agent_extra=f"incident/{incident_id}")
    # Who acts is part of the audit trail, and a credential problem is best found
    # before anything is created.
    operator = gateways.sts.get_caller_identity()
    endpoint = str(gateways.clients.client("sts").meta.endpoint_url)

    with ExitStack() as held:
        incident: IncidentDir | None = None
        if request.dry_run:
            journal = Journal.in_memory(request.clock)
        else:
            if request.mode == RUN:
                base = request.incident_dir.parent if request.incident_dir else DEFAULT_BASE
                for earlier in unfinished_incidents(base, request.access_key_id):
                    request.console.warning(
                        f"An earlier incident for {request.access_key_id} did not finish: "
                        f"{earlier}. To continue it instead, stop here and run "
                        f"`remediate resume {earlier}`."
                    )
            incident = create_incident_dir(
                request.incident_dir, incident_id, rehearsal=request.mode == REHEARSE
            )
            # Locked before the first journal line, so that two runs given the same
            # new --incident-dir at once never write one journal.
            held.enter_context(hold_lock(incident))
            if incident.journal_path.exists():
                raise IncidentDirError(
                    f"Another remediate run started an incident in {incident.path} a moment ago.",
                    next_step="pass another --incident-dir",
                )
            journal = Journal.open(incident.path, request.clock)
            request.console.info(f"Incident directory: {incident.path}")
            request.policy.resume_hint = _continue_command(request.mode, incident)

        journal.append(
            RecordType.INCIDENT_OPENED,
            incident_id=incident_id,
            access_key_id=request.access_key_id,
            mode=request.mode,
            dry_run=request.dry_run,
            scenario=request.scenario,
            playbook={
                "name": playbook.name,
                "title": playbook.title,
                "path": str(playbook.path.resolve()),
                "sha256": playbook.sha256,
                "steps": [{"id": s.id, "kind": s.kind, "title": s.title} for s in playbook.steps],
            },
            regions=list(request.regions),
            operator={
                "arn": operator.arn,
                "account": operator.account,
                "user_id": operator.user_id,
            },
            profile=request.profile,
            region=request.region or gateways.default_region,
            endpoint=endpoint,
            answers_file=str(request.answers_path.resolve()) if request.answers_path else None,
            consumers_file=str(request.consumers_path.resolve())
            if request.consumers_path
            else None,
            declared_consumers=list(declared),
            assume_yes=request.policy.assume_yes,
            tool_version=__version__,
        )
        journal_calls(journal, gateways, INCIDENT_STEP)
        context = RunContext(
            incident=incident,
            incident_id=incident_id,
            journal=journal,
            gateways=gateways,
            console=request.console,
            policy=request.policy,
            access_key_id=request.access_key_id,
            regions=request.regions,
            dry_run=request.dry_run,
            clock=request.clock,
            sleep=request.sleep,
            report_writer=request.report_writer,
            continue_command=_continue_command(request.mode, incident) if incident else None,
            declared_consumers=declared,
            simulated=request.mode == REHEARSE or _is_simulated(endpoint),
        )
        if incident is None:
            outcome = run_playbook(playbook, context)
            _show_approvals(playbook, request.policy, request.console)
            return outcome
        return _run_keeping_report(playbook, context)


def _show_approvals(playbook: Playbook, policy: AnswerPolicy, console: Console) -> None:
    """After a dry run, say which approvals a real run asks for and which the answers give."""
    approvals = [name for spec in playbook.steps for name in step_class(spec.kind).approvals]
    given = policy.answers.approve if policy.answers else frozenset()
    lines = [
        f"  {name}: " + ("approved in the answers file" if name in given else "not approved")
        for name in dict.fromkeys(approvals)
    ]
    console.heading("Approvals a real run may ask for")
    for line in lines:
        console.info(line)
    console.info(
        "Each is asked only when its step acts: a brake chosen, an item to remove, a key to "
        "deactivate. Without an approval, a real run asks at a prompt, or stops there when run "
        "with --yes or --answers."
    )


def _is_simulated(endpoint: str) -> bool:
    """Whether the calls go to an endpoint other than AWS's own (a moto server, say)."""
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return not host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


def _continue_command(mode: str, incident: IncidentDir) -> str:
    if mode == REHEARSE:
        return "remediate rehearse (a rehearsal starts over: its simulated account ended with it)"
    return f"remediate resume {incident.path}"


def resume_incident(
    path: Path,
    *,
    session_factory: Callable[[str | None, str | None], boto3.Session],
    console: Console,
    prompter: Prompter | None,
    report_writer: ReportWriter | None = None,
    answers_path: Path | None = None,
    assume_yes: bool = False,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> RunOutcome:
    """Continue an incident from its first unfinished step, with the settings it was opened with.

    The unfinished step asks its questions again. They are answered by
    `answers_path` when given, else by the answers file and --yes of the original
    run (the file is read again, so an edit takes effect), else at a prompt.
    """
    incident = open_incident_dir(path)
    # The lock comes first, because reopening the journal may repair it (a last
    # line cut short is set aside). Ctrl-C before the first step (while AWS is
    # read again, say) still leaves an incident that an earlier run changed, so
    # the operator is told how to go on.
    with hold_lock(incident), _resumable(_continue_command(RUN, incident)):
        reopened = _reopen(
            path,
            session_factory=session_factory,
            console=console,
            prompter=prompter,
            report_writer=report_writer,
            answers_path=answers_path,
            assume_yes=assume_yes,
            clock=clock,
            sleep=sleep,
        )
        context = reopened.context
        if context.policy.answers is not None:
            check_answers(context.policy.answers, reopened.playbook)
        reopened.record("resume")
        console.info(f"Resuming incident {context.incident_id} from {incident.path}")
        return _run_keeping_report(reopened.playbook, context)


@contextmanager
def _resumable(command: str) -> Iterator[None]:
    """Turn Ctrl-C into InterruptedRun, whose message names the command that continues."""
    try:
        yield
    except InterruptedRun:
        raise
    except KeyboardInterrupt:
        raise InterruptedRun(command) from None


@dataclass
class _Reopened:
    playbook: Playbook
    context: RunContext
    operator: dict[str, str]

    def record(self, action: str) -> None:
        """Journal who reopened the incident and for what, then the calls made to find out."""
        self.context.journal.append(
            RecordType.INCIDENT_RESUMED,
            action=action,
            operator=self.operator,
            tool_version=__version__,
        )
        journal_calls(self.context.journal, self.context.aws, INCIDENT_STEP)


def _reopen(
    path: Path,
    *,
    session_factory: Callable[[str | None, str | None], boto3.Session],
    console: Console,
    prompter: Prompter | None,
    report_writer: ReportWriter | None,
    answers_path: Path | None,
    assume_yes: bool,
    clock: Clock,
    sleep: Callable[[float], None],
) -> _Reopened:
    """Rebuild an incident's context from its journal, with the operator's own credentials."""
    incident = open_incident_dir(path)
    journal = Journal.open(incident.path, clock)
    opened = journal.last(RecordType.INCIDENT_OPENED)
    if opened is None:
        raise UsageError(f"The journal in {path} has no incident.opened record to resume from.")
    if opened.get("mode") == REHEARSE:
        raise UsageError(
            f"{path} is a rehearsal; its moto world ended with the process that ran it.",
            next_step="start a new rehearsal with `remediate rehearse`",
        )
    playbook = load_playbook(opened.get("playbook", {}).get("path"))
    if playbook.sha256 != opened.get("playbook", {}).get("sha256"):
        console.warning(
            f"The playbook {playbook.path} changed since the incident started; "
            "finished steps are kept and the remaining steps follow the current file."
        )
    policy = _resumed_policy(opened.fields, prompter, answers_path, assume_yes)
    policy.resume_hint = _continue_command(RUN, incident)
    access_key_id = str(opened.get("access_key_id"))
    session = session_factory(opened.get("profile"), opened.get("region"))
    refuse_leaked_credentials(session, access_key_id)
    gateways = AwsGateways(session, user_agent_extra=f"incident/{opened.get('incident_id')}")
    operator = gateways.sts.get_caller_identity()
    context = RunContext(
        incident=incident,
        incident_id=str(opened.get("incident_id")),
        journal=journal,
        gateways=gateways,
        console=console,
        policy=policy,
        access_key_id=access_key_id,
        regions=tuple(opened.get("regions") or ()),
        clock=clock,
        sleep=sleep,
        report_writer=report_writer,
        continue_command=_continue_command(RUN, incident),
        declared_consumers=tuple(opened.get("declared_consumers") or ()),
        simulated=_is_simulated(str(gateways.clients.client("sts").meta.endpoint_url)),
    )
    identity = {"arn": operator.arn, "account": operator.account, "user_id": operator.user_id}
    return _Reopened(playbook, context, identity)


def rollback_incident(
    path: Path,
    *,
    session_factory: Callable[[str | None, str | None], boto3.Session],
    console: Console,
    prompter: Prompter | None,
    report_writer: ReportWriter | None = None,
    answers_path: Path | None = None,
    assume_yes: bool = False,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> RunOutcome:
    """Reactivate the old key and restore each consumer, journaled in the incident."""
    incident = open_incident_dir(path)
    with hold_lock(incident):
        reopened = _reopen(
            path,
            session_factory=session_factory,
            console=console,
            prompter=prompter,
            report_writer=report_writer,
            answers_path=answers_path,
            assume_yes=assume_yes,
            clock=clock,
            sleep=sleep,
        )
        context = reopened.context
        spec = StepSpec(
            id=f"rollback-{len(context.journal.records)}", kind="rollback", title="Roll back"
        )
        reopened.record("rollback")
        # A refused approval names this command, not `resume`.
        context.policy.resume_hint = f"remediate rollback {incident.path}"
        context.console.heading("Roll back the rotation")
        result = run_step(spec, context)
        if result.status == StepStatus.OK:
            _reopen_undone_steps(reopened.playbook, context, incident, spec.id)
        for report in context.write_reports():
            context.console.info(f"Report: {report}")
    return RunOutcome(
        incident=context.incident,
        steps=[StepOutcome(spec.id, spec.title, result.status, result.summary)],
    )


def _reopen_undone_steps(
    playbook: Playbook, context: RunContext, incident: IncidentDir, rollback_step: str
) -> None:
    """Reopen the finished steps a rollback undid, so that `remediate resume` runs them again."""
    reopened = [
        spec
        for spec in playbook.steps
        if spec.kind in UNDONE_BY_ROLLBACK
        and (last := context.journal.last_lifecycle(spec.id)) is not None
        and last.type in (RecordType.STEP_FINISHED, RecordType.STEP_DEFERRED)
    ]
    for spec in reopened:
        context.journal.append(
            RecordType.STEP_REOPENED,
            step=spec.id,
            kind=spec.kind,
            reason=f"undone by {rollback_step}",
        )
    if reopened:
        titles = ", ".join(spec.title for spec in reopened)
        context.console.info(
            f"Reopened, to run again on `remediate resume {incident.path}`: {titles}."
        )


def _resumed_policy(
    opened: dict[str, Any], prompter: Prompter | None, answers_path: Path | None, assume_yes: bool
) -> AnswerPolicy:
    """Answer a resumed run's questions: a prompt on a terminal, else the answers, else --yes.

    A terminal is used even when the incident started with --yes, so that an
    approval the answers file lacked can be given at a prompt.
    """
    recorded = opened.get("answers_file")
    path = answers_path or (Path(recorded) if recorded else None)
    if path is not None and not path.is_file():
        raise UsageError(
            f"The answers file {path} this incident started with is gone.",
            next_step="pass it again: remediate resume DIR --answers FILE",
        )
    answers = load_answers(path) if path else None
    assume_yes = assume_yes or (prompter is None and bool(opened.get("assume_yes")))
    if prompter is None and answers is None and not assume_yes:
        raise InputRequiredError(
            "No terminal is attached and the incident was started interactively, so its "
            "remaining questions cannot be asked.",
            next_step="run `remediate resume` on a terminal, or pass --answers FILE or --yes",
        )
    return AnswerPolicy(
        answers=answers, assume_yes=assume_yes, prompter=prompter, interactive=prompter is not None
    )


def _run_keeping_report(playbook: Playbook, context: RunContext) -> RunOutcome:
    """Run the playbook; when it stops early, still write the (partial) report.

    Ctrl-C between steps, outside any step, is turned into InterruptedRun too,
    so the operator always sees the command that continues the incident.
    """
    try:
        return run_playbook(playbook, context)
    except (RemediateError, KeyboardInterrupt) as error:
        try:
            for path in context.write_reports():
                context.console.info(f"Partial report: {path}")
        except (RemediateError, OSError) as report_error:
            log.debug("the partial report could not be written: %s", report_error)
        interrupted = isinstance(error, KeyboardInterrupt) and not isinstance(error, InterruptedRun)
        if interrupted and context.continue_command is not None:
            raise InterruptedRun(context.continue_command) from None
        raise


def run_playbook(playbook: Playbook, context: RunContext) -> RunOutcome:
    outcome = RunOutcome(incident=context.incident)
    total = len(playbook.steps)
    for index, spec in enumerate(playbook.steps, start=1):
        done = context.journal.finished(spec.id)
        # A report is written again on every run, so that it shows what a resumed
        # run did (a deferred step done at last, say).
        if done is not None and spec.kind != "report":
            context.console.info(
                f"[{index}/{total}] {spec.title}: done earlier ({done.get('summary')})"
            )
            outcome.steps.append(
                StepOutcome(spec.id, spec.title, str(done.get("status")), str(done.get("summary")))
            )
            continue
        context.console.heading(f"[{index}/{total}] {spec.title}")
        later = [
            other for other in playbook.steps[index:] if context.journal.finished(other.id) is None
        ]
        result = run_step(spec, context, later=later)
        outcome.steps.append(StepOutcome(spec.id, spec.title, result.status, result.summary))
    return outcome


def run_step(
    spec: StepSpec, context: RunContext, *, later: Sequence[StepSpec] | None = None
) -> StepResult:
    """Run one step: plan, then apply and verify (or show the plan in a dry run), all journaled.

    `later` lists the playbook's steps still to run after this one. When it is
    given, the permission preflight checks them all before this process's
    first change. A step run on its own (a rollback, a test) is not checked.
    Every AWS call the step made is journaled after it, even when it fails.
    """
    try:
        return _run_step(spec, context, later)
    finally:
        journal_calls(context.journal, context.aws, spec.id)


def journal_calls(journal: Journal, gateways: AwsGateways, step: str) -> None:
    """Journal the AWS calls made since the last time, each with its request ID."""
    calls = gateways.clients.take_calls()
    if calls:
        journal.append(RecordType.AWS_CALLS, step=step, calls=calls)


def _run_step(spec: StepSpec, context: RunContext, later: Sequence[StepSpec] | None) -> StepResult:
    journal = context.journal
    context.enter_step(spec)
    journal.append(RecordType.STEP_STARTED, step=spec.id, kind=spec.kind, title=spec.title)
    log.debug("step %s (%s) started", spec.id, spec.kind)
    step = step_class(spec.kind)(spec)
    try:
        reason = step.skip_reason(context)
        if reason is not None:
            result = StepResult(StepStatus.SKIPPED, f"Not applicable: {reason}")
            journal.append(
                RecordType.STEP_FINISHED,
                step=spec.id,
                kind=spec.kind,
                status=str(result.status),
                summary=result.summary,
                outputs=result.outputs,
            )
            context.console.info(result.summary)
            return result
        plan = step.plan(context)
        if plan.calls or plan.notes:
            journal.append(
                RecordType.STEP_PLANNED,
                step=spec.id,
                calls=[call.as_record() for call in plan.calls],
                notes=plan.notes,
            )
        preflight = step.mutating and later is not None and preflight_due(journal)
        if context.dry_run and (step.mutating or plan.mutating):
            if preflight:
                run_preflight(context, (spec, plan), later or ())
            result = _show_plan(context, plan)
        else:
            if step.mutating and not context.journal.of_type(RecordType.EVIDENCE_SEALED):
                # The evidence collected so far is sealed before the first change.
                context.seal_evidence()
            if preflight:
                run_preflight(context, (spec, plan), later or ())
            result = step.apply(context, plan)
            _verify(step.verify(context, result), context)
    except RemediateError as error:
        log.debug("step %s failed: %s", spec.id, error.message)
        journal.append(RecordType.STEP_FAILED, step=spec.id, kind=spec.kind, error=error.message)
        if context.continue_command is not None:
            error.with_next_step(context.continue_command)
        raise
    except KeyboardInterrupt:
        journal.append(RecordType.NOTE, step=spec.id, text="Interrupted by the operator (Ctrl-C).")
        if context.continue_command is not None:
            raise InterruptedRun(context.continue_command) from None
        raise
    if result.status == StepStatus.DEFERRED:
        journal.append(
            RecordType.STEP_DEFERRED,
            step=spec.id,
            kind=spec.kind,
            summary=result.summary,
            due=result.due,
            outputs=result.outputs,
        )
        context.console.warning(result.summary)
        if context.continue_command:
            context.console.info(f"Next, after {result.due}: {context.continue_command}")
        return result
    journal.append(
        RecordType.STEP_FINISHED,
        step=spec.id,
        kind=spec.kind,
        status=str(result.status),
        summary=result.summary,
        outputs=result.outputs,
    )
    log.debug("step %s finished: %s", spec.id, result.status)
    _show_result(context.console, result)
    return result


def _verify(checks: list[Any], context: RunContext) -> None:
    for check in checks:
        context.record(RecordType.CHECK, name=check.name, passed=check.passed, detail=check.detail)
        if check.passed:
            context.console.success(f"Verified: {check.detail}")
        else:
            context.console.error(f"Check failed: {check.detail}")
    failed = [check for check in checks if not check.passed]
    if failed:
        raise VerificationError(
            "Verification failed after the step's changes: "
            + "; ".join(check.detail for check in failed)
        )


def _show_plan(context: RunContext, plan: Plan) -> StepResult:
    context.console.warning("Dry run: these calls would be made, and none is.")
    for call in plan.calls:
        where = f" [{call.region}]" if call.region else ""
        kind = "change" if call.mutating else "read"
        context.console.info(
            f"  {kind}: {call.service} {call.operation}{where} on {call.resource}: "
            f"{call.description}"
        )
    for note in plan.notes:
        context.console.info(f"  note: {note}")
    return StepResult(StepStatus.SKIPPED, f"dry run: {len(plan.calls)} call(s) planned, none made")


def _show_result(console: Console, result: StepResult) -> None:
    if result.status == StepStatus.OK:
        console.success(result.summary)
    elif result.status == StepStatus.DEGRADED:
        console.warning(result.summary)
    else:
        console.info(result.summary)
