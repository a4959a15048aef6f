"""SMTP password derivation against the published vectors, and the SMTP region table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediate.aws.regions import SmtpEndpoint, has_smtp_endpoint, ses_regions, smtp_regions
from remediate.aws.regions import smtp_endpoint as smtp_endpoint_status
from remediate.aws.smtp import (
    NoSmtpEndpointError,
    smtp_endpoint,
    smtp_password_v2,
    smtp_password_v4,
)


def vectors(samples_dir: Path, version: str) -> list[dict[str, Any]]:
    document = json.loads((samples_dir / "smtp-password-vectors.json").read_text())
    return list(document[version])


def test_v4_vectors(samples_dir: Path) -> None:
    cases = vectors(samples_dir, "v4")

    assert len(cases) == 4
    for case in cases:
        assert smtp_password_v4(case["secret"], case["region"]) == case["smtp_password"], case


def test_v2_vectors(samples_dir: Path) -> None:
    cases = vectors(samples_dir, "v2")

    assert len(cases) == 2
    for case in cases:
        assert smtp_password_v2(case["secret"]) == case["smtp_password"], case


def test_v4_password_differs_per_region() -> None:
    assert smtp_password_v4("some+secret+key", "eu-west-1") != smtp_password_v4(
        "some+secret+key", "eu-west-2"
    )


def test_v4_password_is_44_characters() -> None:
    assert len(smtp_password_v4("some+secret+key", "eu-west-1")) == 44


@pytest.mark.parametrize(
    "region", ["af-south-1", "ap-southeast-3", "eu-south-1", "il-central-1", "me-south-1"]
)
def test_region_without_smtp_is_refused(region: str) -> None:
    with pytest.raises(
        NoSmtpEndpointError, match=f"The region '{region}' has no SES SMTP endpoint"
    ):
        smtp_password_v4("some+secret+key", region)


def test_refusal_lists_smtp_regions() -> None:
    with pytest.raises(NoSmtpEndpointError) as caught:
        smtp_endpoint("il-central-1")

    assert caught.value.message == (
        "The region 'il-central-1' has no SES SMTP endpoint. Regions with one: "
        + ", ".join(smtp_regions())
        + "."
    )


def test_unknown_region_is_named() -> None:
    with pytest.raises(NoSmtpEndpointError) as caught:
        smtp_endpoint("EU-WEST-1")

    assert caught.value.message.startswith(
        "'EU-WEST-1' is not an SES region. Did you mean eu-west-1?"
    )


def test_ses_regions_include_botocore_regions() -> None:
    assert {"ap-south-2", "eu-central-2", "mx-central-1", "us-gov-west-1"} <= set(ses_regions())
    assert ses_regions()[0] == "us-east-1"


def test_region_outside_table_is_unknown() -> None:
    assert smtp_endpoint_status("ap-south-2") is SmtpEndpoint.UNKNOWN
    assert smtp_endpoint_status("me-south-1") is SmtpEndpoint.NO
    assert smtp_endpoint_status("eu-west-1") is SmtpEndpoint.YES


def test_endpoint_name() -> None:
    assert smtp_endpoint("eu-west-1") == "email-smtp.eu-west-1.amazonaws.com"


def test_region_table_is_consistent() -> None:
    assert set(smtp_regions()) < set(ses_regions())
    assert has_smtp_endpoint("us-east-1")
    assert not has_smtp_endpoint("me-south-1")
