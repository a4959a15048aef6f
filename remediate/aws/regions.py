"""The regions that offer SES, and which of them have an SMTP endpoint.

Which regions offer SES comes from botocore's endpoint data, which ships with
botocore and needs no network. Which of them have an SMTP endpoint comes from
the table in data/ses_regions.yaml; a region the table does not list is
"unknown", never assumed either way.
"""

from __future__ import annotations

import difflib
import enum
from functools import cache
from importlib import resources

import botocore.session
import yaml

# IAM and STS events are recorded in CloudTrail in us-east-1, whatever region the call named.
GLOBAL_EVENTS_REGION = "us-east-1"
PARTITIONS = ("aws", "aws-us-gov", "aws-cn")


class SmtpEndpoint(enum.StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


@cache
def _table() -> dict[str, dict[str, bool]]:
    text = resources.files("remediate.aws").joinpath("data/ses_regions.yaml").read_text("utf-8")
    regions: dict[str, dict[str, bool]] = yaml.safe_load(text)["regions"]
    return regions


@cache
def _botocore_regions(service: str) -> tuple[str, ...]:
    session = botocore.session.get_session()
    found: list[str] = []
    for partition in PARTITIONS:
        found += session.get_available_regions(service, partition_name=partition)
    return tuple(found)


def ses_regions() -> tuple[str, ...]:
    """Every region that offers SES, in every partition, the table's order first."""
    return tuple(dict.fromkeys([*_table(), *sorted(_botocore_regions("ses"))]))


def known_regions() -> frozenset[str]:
    """Regions where a consumer or an event may be: those of SES and Secrets Manager."""
    return frozenset(ses_regions()) | frozenset(_botocore_regions("secretsmanager"))


def smtp_regions() -> tuple[str, ...]:
    """The regions the table says have an SMTP endpoint."""
    return tuple(region for region, facts in _table().items() if facts.get("smtp"))


def smtp_endpoint(region: str) -> SmtpEndpoint:
    facts = _table().get(region)
    if facts is None:
        return SmtpEndpoint.UNKNOWN
    return SmtpEndpoint.YES if facts.get("smtp") else SmtpEndpoint.NO


def has_smtp_endpoint(region: str) -> bool:
    return smtp_endpoint(region) is SmtpEndpoint.YES


def closest_region(name: str) -> str | None:
    matches = difflib.get_close_matches(name.lower(), sorted(known_regions()), n=1)
    return matches[0] if matches else None
