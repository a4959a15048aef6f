"""Test-wide safety: fake AWS credentials, no instance metadata, loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import FAKE_AWS_ENVIRONMENT

# Real public inputs (CloudTrail files, SES outputs, SMTP password vectors); their sources and
# licences are in tests/data/samples/SOURCES.md.
SAMPLES_DIR = Path(__file__).resolve().parent / "data" / "samples"


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def forget_registered_secrets() -> None:
    from remediate.core.secrets import registry

    registry.forget_all()


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES_DIR


@pytest.fixture
def moto_session(fake_aws_environment: None):  # type: ignore[no-untyped-def]
    """An in-process moto account and the responder's boto3 session in us-east-1."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.Session(region_name="us-east-1")
