"""The step kinds a playbook may name, and the class that implements each."""

from __future__ import annotations

from remediate.steps.base import Step
from remediate.steps.contain import ContainStep
from remediate.steps.deactivate import DeactivateStep
from remediate.steps.delete_old_key import DeleteOldKeyStep
from remediate.steps.eradicate import EradicateStep
from remediate.steps.find_consumers import FindConsumersStep
from remediate.steps.identify import IdentifyStep
from remediate.steps.investigate import InvestigateStep
from remediate.steps.report import ReportStep
from remediate.steps.revoke_sessions import RevokeSessionsStep
from remediate.steps.rollback import RollbackStep
from remediate.steps.rotate import RotateStep
from remediate.steps.update_consumers import UpdateConsumersStep
from remediate.steps.watch import WatchStep

STEP_KINDS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (
        IdentifyStep,
        InvestigateStep,
        ContainStep,
        RevokeSessionsStep,
        FindConsumersStep,
        RotateStep,
        UpdateConsumersStep,
        WatchStep,
        DeactivateStep,
        EradicateStep,
        DeleteOldKeyStep,
        ReportStep,
        RollbackStep,
    )
}


def step_class(kind: str) -> type[Step]:
    try:
        return STEP_KINDS[kind]
    except KeyError:
        raise KeyError(f"Known kinds: {', '.join(sorted(STEP_KINDS))}.") from None
