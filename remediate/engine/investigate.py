"""`remediate investigate`: a read-only investigation, from trail log files or from AWS.

With local files (--cloudtrail-logs) it makes no AWS call, unless a trail bucket
is named too: then it calls only S3, and STS GetAccessKeyInfo to find the key's
account. Otherwise it reads LookupEvents, SES, sesv2 and CloudWatch in every
region, and the trail bucket when named.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from remediate.core.errors import AwsCallError, UsageError
from remediate.core.interaction import Console, Table
from remediate.core.timeutil import format_timestamp, parse_timestamp, utc_now
from remediate.evidence.investigation import (
    Investigation,
    investigate_account,
    investigate_files,
    render_text,
)
from remediate.evidence.lookup import lookup_regions
from remediate.evidence.trail_bucket import (
    TrailBucketLocation,
    TrailBucketReader,
    parse_trail_bucket_url,
    trail_window,
)

if TYPE_CHECKING:
    import boto3

    from remediate.aws.gateways import AwsGateways

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvestigateRequest:
    """The options of `remediate investigate`. `trail_bucket` is `s3://BUCKET/PREFIX`."""

    access_key_id: str
    log_paths: Sequence[Path] = ()
    since: str | None = None
    until: str | None = None
    profile: str | None = None
    region: str | None = None
    regions: Sequence[str] = ()
    trail_bucket: str | None = None


def run_investigation(
    request: InvestigateRequest,
    *,
    console: Console,
    as_json: bool,
    session: boto3.Session | None = None,
    now: datetime | None = None,
) -> str | None:
    """Investigate, show the result on the console, and return the JSON document when asked.

    `session` replaces the one built from the request's profile and region, and
    `now` the clock; tests pass both.
    """
    since = _parse_time(request.since, "--since")
    until = _parse_time(request.until, "--until")
    if since and until and since >= until:
        raise UsageError(
            f"--since ({request.since}) must be earlier than --until ({request.until})."
        )
    location = _parse_bucket(request.trail_bucket)
    now = now or utc_now()

    gateways = None
    if location is not None or not request.log_paths:
        gateways = _gateways(request, session)
    reader = None
    if location is not None and gateways is not None:
        reader = _bucket_reader(request, gateways, location, now, since, until)

    if request.log_paths:
        investigation = investigate_files(
            request.log_paths, request.access_key_id, since, until, trail_bucket=reader
        )
    else:
        assert gateways is not None
        investigation = _investigate_in_aws(request, gateways, reader, now, since, until)

    if as_json:
        return json.dumps(investigation.to_json_dict(), indent=2, ensure_ascii=False)
    _show(console, investigation)
    return None


def _gateways(request: InvestigateRequest, session: boto3.Session | None) -> AwsGateways:
    from remediate.aws.gateways import AwsGateways, make_session, refuse_leaked_credentials

    session = session or make_session(request.profile, request.region)
    refuse_leaked_credentials(session, request.access_key_id)
    return AwsGateways(session, user_agent_extra="investigate")


def _investigate_in_aws(
    request: InvestigateRequest,
    gateways: AwsGateways,
    reader: TrailBucketReader | None,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
) -> Investigation:
    regions = list(request.regions) or list(gateways.ses.available_regions())
    return investigate_account(
        gateways.cloudtrail,
        gateways.ses,
        request.access_key_id,
        regions,
        now=now,
        since=since,
        until=until,
        sesv2=gateways.sesv2,
        cloudwatch=gateways.cloudwatch,
        trail_bucket=reader,
    )


def _bucket_reader(
    request: InvestigateRequest,
    gateways: AwsGateways,
    location: TrailBucketLocation,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
) -> TrailBucketReader:
    """Read the key's account only, because an organization trail logs every account.

    When GetAccessKeyInfo fails, every account's folder is read instead.
    """
    try:
        accounts = [gateways.sts.get_access_key_info(request.access_key_id)]
    except AwsCallError as error:
        logger.warning(
            "The account of %s is unknown (%s); reading the trail logs of every account",
            request.access_key_id,
            error.message,
        )
        accounts = []
    start, end = trail_window(now, since, until)
    return TrailBucketReader(
        gateways.s3,
        location,
        since=start,
        until=end,
        account_ids=accounts,
        regions=lookup_regions(request.regions) if request.regions else [],
    )


def _parse_bucket(value: str | None) -> TrailBucketLocation | None:
    if value is None:
        return None
    try:
        return parse_trail_bucket_url(value)
    except ValueError as error:
        raise UsageError(f"--trail-bucket is invalid: {error}") from None


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
