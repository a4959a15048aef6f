"""`remediate investigate`: a read-only investigation, from local trail files or from AWS."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from remediate.core.errors import UsageError
from remediate.core.interaction import Console, Table
from remediate.core.timeutil import format_timestamp, parse_timestamp, utc_now
from remediate.evidence.investigation import (
    Investigation,
    investigate_account,
    investigate_files,
    render_text,
)


@dataclass(frozen=True)
class InvestigateRequest:
    access_key_id: str
    log_paths: Sequence[Path] = ()
    since: str | None = None
    until: str | None = None
    profile: str | None = None
    region: str | None = None
    regions: Sequence[str] = ()


def run_investigation(
    request: InvestigateRequest, *, console: Console, as_json: bool
) -> str | None:
    """Investigate, show the result on the console, and return the JSON document when asked."""
    since = _parse_time(request.since, "--since")
    until = _parse_time(request.until, "--until")
    if since and until and since >= until:
        raise UsageError(
            f"--since ({request.since}) must be earlier than --until ({request.until})."
        )

    if request.log_paths:
        investigation = investigate_files(request.log_paths, request.access_key_id, since, until)
    else:
        investigation = _investigate_in_aws(request, since, until)

    if as_json:
        return json.dumps(investigation.to_json_dict(), indent=2, ensure_ascii=False)
    _show(console, investigation)
    return None


def _investigate_in_aws(
    request: InvestigateRequest, since: datetime | None, until: datetime | None
) -> Investigation:
    from remediate.aws.gateways import AwsGateways, make_session

    gateways = AwsGateways(
        make_session(request.profile, request.region), user_agent_extra="investigate"
    )
    regions = list(request.regions) or list(gateways.ses.available_regions())
    return investigate_account(
        gateways.cloudtrail,
        gateways.ses,
        request.access_key_id,
        regions,
        now=utc_now(),
        since=since,
        until=until,
    )


def _show(console: Console, investigation: Investigation) -> None:
    if investigation.events:
        rows = [
            [
                format_timestamp(event.event_time),
                event.event_name or "",
                event.aws_region or "",
                event.source_ip or "",
                event.user_agent or "",
                event.error_code or "",
            ]
            for event in investigation.events
        ]
        console.table(
            Table(
                f"Events of {investigation.access_key_id}",
                ["Time (UTC)", "Event", "Region", "Source IP", "User agent", "Error"],
                rows,
            )
        )
    for line in render_text(investigation):
        console.info(line)


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a valid time; use ISO 8601, "
            "for example 2026-12-01T00:00:00Z."
        ) from None
