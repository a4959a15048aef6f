"""The regions that offer SES, and which of them have an SMTP endpoint; the table is data."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

# IAM and STS events are recorded in CloudTrail in us-east-1, whatever region the call named.
GLOBAL_EVENTS_REGION = "us-east-1"


@cache
def _table() -> dict[str, dict[str, bool]]:
    text = resources.files("remediate.aws").joinpath("data/ses_regions.yaml").read_text("utf-8")
    regions: dict[str, dict[str, bool]] = yaml.safe_load(text)["regions"]
    return regions


def ses_regions() -> tuple[str, ...]:
    return tuple(_table())


def smtp_regions() -> tuple[str, ...]:
    return tuple(region for region, facts in _table().items() if facts.get("smtp"))


def has_smtp_endpoint(region: str) -> bool:
    return bool(_table().get(region, {}).get("smtp"))
