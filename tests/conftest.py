"""Test-wide safety: fake AWS credentials, no instance metadata, loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import FAKE_AWS_ENVIRONMENT
from tests.smtp_server import smtp_plain_server, smtp_server, smtp_tls_server  # noqa: F401

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


@pytest.fixture(scope="session")
def botocore_loader():  # type: ignore[no-untyped-def]
    """One botocore data loader for the whole run: loading service models is the slow part."""
    import botocore.loaders

    return botocore.loaders.create_loader()


@pytest.fixture
def moto_session(fake_aws_environment: None, botocore_loader):  # type: ignore[no-untyped-def]
    """An in-process moto account and the responder's boto3 session in us-east-1."""
    import boto3
    import botocore.session
    from moto import mock_aws

    with mock_aws():
        core = botocore.session.get_session()
        core.register_component("data_loader", botocore_loader)
        yield boto3.Session(botocore_session=core, region_name="us-east-1")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to resolve or reach an address other than loopback."""
    import socket

    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if host not in LOOPBACK_HOSTS:
                raise OSError(f"a test tried to reach {address!r}; tests reach loopback only")
        real_connect(self, address)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in LOOPBACK_HOSTS and host is not None:
            raise OSError(f"a test tried to resolve {host!r}; tests reach loopback only")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
