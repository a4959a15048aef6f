"""The SMTP credential check against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediate.aws.smtp import NoSmtpEndpointError, smtp_password_v4
from remediate.aws.smtp_auth import (
    SmtpCheckError,
    SmtpCheckResult,
    verify_for_region,
    verify_smtp_credentials,
)
from remediate.core.errors import ExitCode, UsageError
from remediate.core.secrets import SecretValue
from tests.smtp_server import LOOPBACK, LocalSmtpServer, run_smtp_server, unused_port

USER = "AKIAIOSFODNN7EXAMPLE"
# A made-up secret access key of 40 characters; the password is derived from it as SES does.
SECRET = "made+up/secret/access+key+for+smtp+tests"
PASSWORD = smtp_password_v4(SECRET, "eu-west-1")
WRONG_PASSWORD = smtp_password_v4(SECRET, "eu-west-2")

SUCCESS_TEXT = "2.7.0 Authentication successful"
INVALID_TEXT = "5.7.8 Authentication credentials invalid"


@pytest.fixture
def server(smtp_server: LocalSmtpServer) -> LocalSmtpServer:
    smtp_server.accept(USER, PASSWORD)
    return smtp_server


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every record at DEBUG, even if a `--debug` run stopped remediate propagating."""
    remediate_logger = logging.getLogger("remediate")
    remediate_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="remediate"):
            yield caplog
    finally:
        remediate_logger.removeHandler(caplog.handler)


def check(
    server: LocalSmtpServer,
    password: str = PASSWORD,
    user: str = USER,
    implicit_tls: bool | None = None,
) -> SmtpCheckResult:
    return verify_smtp_credentials(
        user,
        SecretValue(password),
        host=server.host,
        port=server.port,
        tls_context=server.tls_context,
        timeout=5,
        implicit_tls=implicit_tls,
    )


def test_right_password_accepted(server: LocalSmtpServer) -> None:
    result = check(server)

    assert result == SmtpCheckResult(
        accepted=True,
        username=USER,
        host=LOOPBACK,
        port=server.port,
        reply_code=235,
        reply_text=SUCCESS_TEXT,
    )
    assert result.endpoint == f"{LOOPBACK}:{server.port}"
    assert server.logins == [f"LOGIN {USER}"]
    assert server.mail_commands == []


def test_wrong_password_rejected(server: LocalSmtpServer) -> None:
    result = check(server, WRONG_PASSWORD)

    assert result.accepted is False
    assert result.reply_code == 535
    assert result.reply_text == INVALID_TEXT
    assert server.logins == [f"LOGIN {USER}"]


def test_unknown_user_rejected(server: LocalSmtpServer) -> None:
    result = check(server, user="AKIAI44QH8DHBEXAMPLE")

    assert result.accepted is False
    assert result.reply_code == 535
    assert result.reply_text == INVALID_TEXT
    assert server.logins == ["LOGIN AKIAI44QH8DHBEXAMPLE"]


def test_implicit_tls_accepted(smtp_tls_server: LocalSmtpServer) -> None:
    smtp_tls_server.accept(USER, PASSWORD)

    result = check(smtp_tls_server, implicit_tls=True)

    assert result.accepted is True
    assert result.reply_code == 235
    assert smtp_tls_server.mail_commands == []


def test_region_check_with_host(server: LocalSmtpServer) -> None:
    result = verify_for_region(
        USER,
        SecretValue(PASSWORD),
        "eu-west-1",
        host=server.host,
        port=server.port,
        tls_context=server.tls_context,
    )

    assert result.accepted is True
    assert result.host == LOOPBACK


def test_region_without_smtp_endpoint() -> None:
    with pytest.raises(NoSmtpEndpointError, match="The region 'me-south-1' has no SES SMTP"):
        verify_for_region(USER, SecretValue(PASSWORD), "me-south-1", host=LOOPBACK)


def test_server_without_starttls(smtp_plain_server: LocalSmtpServer) -> None:
    smtp_plain_server.accept(USER, PASSWORD)
    endpoint = f"{LOOPBACK}:{smtp_plain_server.port}"

    with pytest.raises(SmtpCheckError) as caught:
        check(smtp_plain_server)

    assert caught.value.message == (
        f"The SMTP server {endpoint} does not offer STARTTLS, so the check stopped before "
        "sending the credentials, which would travel unencrypted."
    )
    assert caught.value.code == "NoStartTLS"
    assert caught.value.resource == endpoint
    assert caught.value.exit_code == ExitCode.AWS_CALL_FAILED
    assert caught.value.next_step == (
        "check the host and port (SES SMTP endpoints take STARTTLS on ports 587, 25, 2587 "
        "and TLS on ports 465, 2465)"
    )
    assert smtp_plain_server.logins == []


def test_server_without_auth_login(tmp_path: Path) -> None:
    with run_smtp_server(tmp_path, exclude_auth=("LOGIN",)) as plain_only:
        endpoint = f"{LOOPBACK}:{plain_only.port}"

        with pytest.raises(SmtpCheckError) as caught:
            check(plain_only)

    assert caught.value.message == (
        f"The SMTP server {endpoint} does not offer AUTH LOGIN after TLS (mechanisms "
        "offered: PLAIN), so the credentials were not sent."
    )
    assert caught.value.code == "NoAuthLogin"


def test_closed_port_names_endpoint() -> None:
    port = unused_port()

    with pytest.raises(SmtpCheckError) as caught:
        verify_smtp_credentials(USER, SecretValue(PASSWORD), host=LOOPBACK, port=port)

    assert caught.value.message == (
        f"The SMTP check of {LOOPBACK}:{port} failed during connect: the connection was refused."
    )
    assert caught.value.code == "ConnectionRefused"
    assert caught.value.resource == f"{LOOPBACK}:{port}"


def test_silent_server_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        # It listens but never accepts, so the connection opens and no greeting comes.
        listener.bind((LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]

        with pytest.raises(SmtpCheckError) as caught:
            verify_smtp_credentials(
                USER, SecretValue(PASSWORD), host=LOOPBACK, port=port, timeout=0.2
            )

    assert caught.value.message == (
        f"The SMTP check of {LOOPBACK}:{port} failed during connect: timed out after 0.2 "
        "seconds without a reply."
    )
    assert caught.value.code == "Timeout"


def test_untrusted_certificate(server: LocalSmtpServer) -> None:
    with pytest.raises(SmtpCheckError) as caught:
        verify_smtp_credentials(USER, SecretValue(PASSWORD), host=server.host, port=server.port)

    assert caught.value.message == (
        f"The SMTP check of {LOOPBACK}:{server.port} failed during STARTTLS: the server's TLS "
        "certificate is not trusted (self-signed certificate)."
    )
    assert caught.value.code == "TLSCertificate"
    assert server.logins == []


def test_tls_on_starttls_port(server: LocalSmtpServer) -> None:
    with pytest.raises(SmtpCheckError) as caught:
        check(server, implicit_tls=True)

    assert caught.value.code == "TLSHandshake"
    assert caught.value.message.startswith(
        f"The SMTP check of {LOOPBACK}:{server.port} failed during connect: the TLS "
        "handshake failed ("
    )


def test_temporary_auth_failure(server: LocalSmtpServer) -> None:
    server.reject_with("454 4.7.0 Temporary authentication failure")

    with pytest.raises(SmtpCheckError) as caught:
        check(server, WRONG_PASSWORD)

    assert caught.value.message == (
        f"The SMTP server {LOOPBACK}:{server.port} replied to AUTH LOGIN with 454 4.7.0 "
        "Temporary authentication failure, which neither accepts nor rejects the credentials."
    )
    assert caught.value.code == "454"
    assert caught.value.next_step == "the reply is temporary: wait a minute and check again"


def test_echoed_password_masked(
    server: LocalSmtpServer, debug_log: pytest.LogCaptureFixture
) -> None:
    server.reject_with("535 5.7.8 Invalid password {password}")
    rejected = check(server, WRONG_PASSWORD)
    server.reject_with("454 4.7.0 Try again {password}")
    with pytest.raises(SmtpCheckError) as caught:
        check(server, WRONG_PASSWORD)

    assert rejected.accepted is False
    assert rejected.reply_text == "5.7.8 Invalid password ****"
    assert caught.value.message == (
        f"The SMTP server {LOOPBACK}:{server.port} replied to AUTH LOGIN with 454 4.7.0 Try "
        "again ****, which neither accepts nor rejects the credentials."
    )
    # The test server logs the password it echoes, so only remediate's own records are checked.
    ours = [r.getMessage() for r in debug_log.records if r.name.startswith("remediate")]
    assert ours
    assert all(WRONG_PASSWORD not in message for message in ours)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", f"The SMTP password for {USER} is empty."),
        ("pässword+but+not+ascii", "The SMTP user name or password contains a non-ASCII character"),
    ],
)
def test_unusable_password(password: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        verify_smtp_credentials(USER, SecretValue(password), host=LOOPBACK, port=unused_port())


def test_password_never_shown(
    server: LocalSmtpServer,
    smtp_plain_server: LocalSmtpServer,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    accepted = check(server)
    rejected = check(server, WRONG_PASSWORD)
    smtp_plain_server.accept(USER, PASSWORD)
    with pytest.raises(SmtpCheckError) as no_tls:
        check(smtp_plain_server)
    server.reject_with("454 4.7.0 Temporary authentication failure")
    with pytest.raises(SmtpCheckError) as temporary:
        check(server, WRONG_PASSWORD)

    outputs = {
        "accepted repr": repr(accepted),
        "rejected repr": repr(rejected),
        "no-TLS error": f"{no_tls.value} {no_tls.value.next_step}",
        "temporary error": f"{temporary.value} {temporary.value.next_step}",
        "log": debug_log.text,
    }
    for where, text in outputs.items():
        assert PASSWORD not in text, where
        assert WRONG_PASSWORD not in text, where
    ours = [r.getMessage() for r in debug_log.records if r.name == "remediate.aws.smtp_auth"]
    assert (
        f"SMTP AUTH LOGIN of {USER} on {LOOPBACK}:{server.port}: accepted (235 {SUCCESS_TEXT})"
        in ours
    )
