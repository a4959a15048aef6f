"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd with a throwaway TLS certificate.

Three fixtures run one server each:

- `smtp_server` requires STARTTLS and offers AUTH only after it, as the SES SMTP endpoints do
  on ports 587, 25 and 2587;
- `smtp_tls_server` speaks TLS from the first byte, as the endpoints do on ports 465 and 2465;
- `smtp_plain_server` offers neither STARTTLS nor AUTH.

Each accepts exactly the user name and password set with `LocalSmtpServer.accept`, replies
535 (or the reply set with `reject_with`) to every other pair, and rejects MAIL, RCPT and
DATA, recording that they were sent. `run_smtp_server` runs a variant in a `with` block.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"
# The name the server gives in its greeting and EHLO reply. Passing one keeps aiosmtpd
# from calling socket.getfqdn(), which may query DNS.
SERVER_NAME = "localhost"
REJECT_MAIL = "554 5.7.1 This test server accepts no mail"

# aiosmtpd logs from its own thread, sometimes between pytest's capture phases, where a
# record with no handler would go to stderr through logging.lastResort. This handler keeps
# such records off stderr, and records still reach pytest's handlers on the root logger.
SERVER_LOG = logging.getLogger("mail.log")
SERVER_LOG.addHandler(logging.NullHandler())


def unused_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on at the time of the call.

    NOTE: another process may bind the port before the caller does, and the server then
    fails to start. aiosmtpd 1.4 cannot be given port 0, because it connects to its own port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files.

    The certificate carries the extensions that ssl.VERIFY_X509_STRICT requires, which
    ssl.create_default_context() sets from Python 3.13 on.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "remediate test SMTP server")])
    now = datetime.now(UTC)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    certificate_path = directory / "smtp-server.crt"
    key_path = directory / "smtp-server.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


class _Handler:
    """aiosmtpd handler that accepts AUTH for one pair only and rejects every mail command."""

    def __init__(self) -> None:
        self.credentials: tuple[bytes, bytes] | None = None
        # Decides instead of `credentials` when set: (user name, password) -> accepted.
        self.checker: Callable[[str, str], bool] | None = None
        self.reject_reply: str | None = None
        self.logins: list[str] = []
        self.mail_commands: list[str] = []

    def authenticate(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.logins.append(f"{mechanism} {auth_data.login.decode('utf-8', 'replace')}")
        expected = self.credentials
        if self.checker is not None:
            accepted = self.checker(
                auth_data.login.decode("utf-8", "replace"),
                auth_data.password.decode("utf-8", "replace"),
            )
        else:
            accepted = (
                expected is not None
                and hmac.compare_digest(auth_data.login, expected[0])
                and hmac.compare_digest(auth_data.password, expected[1])
            )
        message = None
        if not accepted and self.reject_reply is not None:
            password = auth_data.password.decode("utf-8", "replace")
            message = self.reject_reply.replace("{password}", password)
        # Without a message, aiosmtpd replies 235 on success and 535 on failure.
        return AuthResult(
            success=accepted, handled=False, message=message, auth_data=auth_data.login
        )

    async def handle_MAIL(self, *args: Any) -> str:
        self.mail_commands.append("MAIL")
        return REJECT_MAIL

    async def handle_RCPT(self, *args: Any) -> str:
        self.mail_commands.append("RCPT")
        return REJECT_MAIL

    async def handle_DATA(self, *args: Any) -> str:
        self.mail_commands.append("DATA")
        return REJECT_MAIL


@dataclass
class LocalSmtpServer:
    """A running test server: where it listens, how to trust it, and what it received."""

    host: str
    port: int
    # A client-side context that trusts the server's certificate (None without TLS).
    tls_context: ssl.SSLContext | None
    implicit_tls: bool
    _handler: _Handler = field(repr=False)

    def accept(self, username: str, password: str) -> None:
        """Set the one user name and password pair that AUTH accepts. Any other gets 535."""
        self._handler.credentials = (username.encode("utf-8"), password.encode("utf-8"))

    def accept_when(self, checker: Callable[[str, str], bool]) -> None:
        """Accept AUTH when checker(user name, password) is true, for keys made during a test."""
        self._handler.checker = checker

    def reject_with(self, reply: str) -> None:
        """Set the reply to a failed AUTH, in which "{password}" becomes the password received."""
        self._handler.reject_reply = reply

    @property
    def logins(self) -> list[str]:
        """Each AUTH attempt as "MECHANISM username", in order."""
        return list(self._handler.logins)

    @property
    def mail_commands(self) -> list[str]:
        """The MAIL, RCPT and DATA commands received (all rejected)."""
        return list(self._handler.mail_commands)


def _quiet_connection_resets(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Log a client's connection reset at DEBUG instead of as an asyncio error.

    aiosmtpd re-raises ConnectionResetError in its per-client task, which nothing awaits,
    so asyncio reports "Task exception was never retrieved" when the task is collected.
    A client that fails a TLS handshake on purpose resets its connection.
    """
    if isinstance(context.get("exception"), ConnectionResetError):
        SERVER_LOG.debug("client reset the connection: %s", context.get("message"))
        return
    loop.default_exception_handler(context)


@contextmanager
def run_smtp_server(
    directory: Path | None, *, implicit_tls: bool = False, exclude_auth: tuple[str, ...] = ()
) -> Iterator[LocalSmtpServer]:
    """Run an aiosmtpd server on 127.0.0.1, with TLS when given a directory for its certificate.

    Without a directory, the server offers neither STARTTLS nor AUTH. `exclude_auth` names
    AUTH mechanisms (LOGIN, PLAIN) the server does not offer.

    The STARTTLS server sets `require_starttls` and `auth_require_tls`, so it offers AUTH
    only after STARTTLS and rejects other commands before it. The implicit-TLS server sets
    `auth_require_tls=False`, because aiosmtpd counts only STARTTLS as TLS, and the whole
    connection is encrypted anyway.
    """
    handler = _Handler()
    options: dict[str, Any] = {"auth_require_tls": True}
    client_context: ssl.SSLContext | None = None
    if directory is not None:
        certificate_path, key_path = write_self_signed_certificate(directory)
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(certificate_path, key_path)
        client_context = ssl.create_default_context(cafile=str(certificate_path))
        if implicit_tls:
            options.update(ssl_context=server_context, auth_require_tls=False)
        else:
            options.update(tls_context=server_context, require_starttls=True)
    controller = Controller(
        handler,
        hostname=LOOPBACK,
        port=unused_port(),
        server_hostname=SERVER_NAME,
        authenticator=handler.authenticate,
        auth_exclude_mechanism=exclude_auth,
        ready_timeout=5,
        **options,
    )
    controller.loop.set_exception_handler(_quiet_connection_resets)
    controller.start()
    try:
        yield LocalSmtpServer(LOOPBACK, controller.port, client_context, implicit_tls, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[LocalSmtpServer]:
    """An SMTP server that requires STARTTLS and offers AUTH LOGIN and PLAIN after it."""
    with run_smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def smtp_tls_server(tmp_path: Path) -> Iterator[LocalSmtpServer]:
    """An SMTP server that speaks TLS from the first byte (implicit TLS)."""
    with run_smtp_server(tmp_path, implicit_tls=True) as server:
        yield server


@pytest.fixture
def smtp_plain_server() -> Iterator[LocalSmtpServer]:
    """An SMTP server without TLS, which therefore offers neither STARTTLS nor AUTH."""
    with run_smtp_server(None) as server:
        yield server
