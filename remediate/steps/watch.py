"""Watch the cut-over: does anything still use the old key, and does the new one work?

For a window the operator chooses, GetAccessKeyLastUsed is read for both keys.
An old key used after the consumers were switched means a consumer was
missed; a new key not used yet may only mean IAM has not caught up, because
its last-used data lags real use by minutes to hours. The operator decides at
the deactivation question, which shows what was seen; the report records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from remediate.aws.iam import AccessKeyLastUsed
from remediate.core.errors import UsageError
from remediate.core.interaction import Question, QuestionKind, Table
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.steps.base import Plan, PlannedCall, Step, StepContext, StepResult, StepStatus
from remediate.steps.identify import temporary_key_reason

WATCH_QUESTION = "watch.minutes"


class WatchStep(Step):
    kind = "watch"
    questions = (WATCH_QUESTION,)
    defaults: ClassVar[Mapping[str, Any]] = {"minutes": 0, "interval_seconds": 60}

    def skip_reason(self, ctx: StepContext) -> str | None:
        if ctx.dry_run:
            return "a dry run creates no new key, so there is nothing to watch"
        return temporary_key_reason(ctx)

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(
            calls=[
                PlannedCall(
                    "iam",
                    "GetAccessKeyLastUsed",
                    "the old and the new key",
                    "see whether the old key is still used and the new one is",
                    mutating=False,
                )
            ]
        )

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        new_key = ctx.output_of("rotate").get("new_access_key_id")
        if not new_key:
            raise UsageError(
                "There is no new key to watch: the rotate step has not finished.",
                next_step="run `remediate resume` to finish the rotate step first",
            )
        switched_at = ctx.output_of("update-consumers").get("switched_at")
        minutes = self._minutes(ctx)
        end = ctx.now() + timedelta(minutes=minutes)
        interval = float(self.params["interval_seconds"])

        observations = [self._observe(ctx, str(new_key))]
        while ctx.now() < end:
            ctx.sleep(min(interval, (end - ctx.now()).total_seconds()))
            observations.append(self._observe(ctx, str(new_key)))
        last = observations[-1]

        old_used_after = _used_after(last["old"], switched_at)
        # remediate's own proof call with the new key is no consumer's use of it.
        proof_at = (ctx.output_of("rotate").get("proof") or {}).get("at")
        since = switched_at or proof_at
        new_used = (
            _used_after(last["new"], since) if since else last["new"]["last_used_date"] is not None
        )
        summary = _summary(ctx.access_key_id, str(new_key), old_used_after, new_used, minutes)
        _show(ctx, observations)
        status = StepStatus.DEGRADED if old_used_after else StepStatus.OK
        return StepResult(
            status,
            summary,
            {
                "minutes": minutes,
                "switched_at": switched_at,
                "observations": observations,
                "old_key_used_after_switch": old_used_after,
                "new_key_used": new_used,
            },
        )

    def _minutes(self, ctx: StepContext) -> int:
        answer = ctx.ask(
            Question(
                WATCH_QUESTION,
                "How many minutes should the old and the new key be watched before deactivation? "
                "IAM's last-used data lags by minutes to hours; 0 takes one look.",
                QuestionKind.TEXT,
                default=str(self.params["minutes"]),
            )
        )
        try:
            minutes = int(str(answer).strip())
        except ValueError:
            minutes = -1
        if not 0 <= minutes <= 24 * 60:
            raise UsageError(
                f"The watch window {answer!r} is not a whole number of minutes from 0 to 1440."
            )
        return minutes

    def _observe(self, ctx: StepContext, new_key: str) -> dict[str, Any]:
        old = ctx.aws.iam.get_access_key_last_used(ctx.access_key_id)
        new = ctx.aws.iam.get_access_key_last_used(new_key)
        return {"at": format_timestamp(ctx.now()), "old": _record(old), "new": _record(new)}


def _record(last: AccessKeyLastUsed) -> dict[str, Any]:
    return {
        "access_key_id": last.access_key_id,
        "last_used_date": format_timestamp(last.last_used_date) if last.last_used_date else None,
        "service": last.service_name,
        "region": last.region,
    }


def _used_after(observed: Mapping[str, Any], moment: str | None) -> bool:
    """Return whether the key was last used after the moment (False when it is unknown)."""
    used = observed.get("last_used_date")
    if not used or not moment:
        return False
    return parse_timestamp(str(used)) > parse_timestamp(moment)


def _summary(old_key: str, new_key: str, old_used_after: bool, new_used: bool, minutes: int) -> str:
    looked = f"in {minutes} minute(s) of watching" if minutes else "at one look"
    old = (
        f"{old_key} was used after the consumers were switched: something still uses it"
        if old_used_after
        else f"{old_key} shows no use since the consumers were switched"
    )
    new = (
        f"{new_key} is in use since the switch"
        if new_used
        else f"{new_key} shows no use since the switch yet"
    )
    return f"{old}; {new} ({looked}; IAM lags by minutes to hours)."


def _show(ctx: StepContext, observations: list[dict[str, Any]]) -> None:
    rows = [
        [
            item["at"],
            item["old"]["last_used_date"] or "-",
            item["new"]["last_used_date"] or "-",
        ]
        for item in observations
    ]
    ctx.console.table(Table("Last use of the keys", ["Looked at", "Old key", "New key"], rows))
