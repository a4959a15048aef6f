"""Run the playbook against a rehearsal world, exactly as `remediate run` runs it against AWS."""

from __future__ import annotations

from pathlib import Path

from remediate.core.interaction import Console
from remediate.engine.answers import AnswerPolicy
from remediate.engine.context import ReportWriter
from remediate.engine.runner import REHEARSE, IncidentRequest, RunOutcome, start_incident
from remediate.rehearsal.world import open_world


def run_rehearsal(
    scenario: str,
    *,
    console: Console,
    policy: AnswerPolicy,
    incident_dir: Path | None = None,
    report_writer: ReportWriter | None = None,
    answers_path: Path | None = None,
    playbook: str | None = None,
) -> RunOutcome:
    with open_world(scenario) as world:
        console.heading(f"Rehearsal: scenario {world.scenario}")
        console.info(world.description)
        console.info(
            f"The leaked key is {world.leaked_access_key_id}. Everything below runs against a "
            "simulated AWS account (moto); no real AWS call is made."
        )
        return start_incident(
            IncidentRequest(
                access_key_id=world.leaked_access_key_id,
                session=world.session,
                console=console,
                policy=policy,
                mode=REHEARSE,
                playbook=playbook,
                incident_dir=incident_dir,
                report_writer=report_writer,
                answers_path=answers_path,
                scenario=world.scenario,
            )
        )
