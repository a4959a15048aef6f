"""Report: write the incident report from the journal."""

from __future__ import annotations

from remediate.steps.base import Plan, Step, StepContext, StepResult, StepStatus


class ReportStep(Step):
    kind = "report"

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(notes=["render the report from the journal; no AWS call"])

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        if ctx.dry_run:
            return StepResult(StepStatus.SKIPPED, "A dry run writes no report.")
        # Evidence collected after the first change joins the manifest, marked as later.
        ctx.seal_evidence()
        paths = ctx.write_reports()
        for path in paths:
            ctx.console.info(f"Report: {path}")
        return StepResult(
            StepStatus.OK, f"Wrote {len(paths)} report file(s).", {"paths": [str(p) for p in paths]}
        )
