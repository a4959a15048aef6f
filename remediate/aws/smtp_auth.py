"""Check SES SMTP credentials with SMTP AUTH LOGIN, without sending mail.

The check connects, sends EHLO, starts TLS (STARTTLS, or TLS from the first byte on
ports 465 and 2465), sends EHLO again, authenticates with AUTH LOGIN and sends QUIT. It
never sends MAIL, RCPT or DATA. A 235 reply means the credentials are accepted and a 535
reply means they are rejected. Any other outcome raises SmtpCheckError, because it is no
verdict on the credentials.

The password is revealed only inside the check: to answer the server's password
challenge, and to mask it in the server's reply should a server echo it back. smtplib's
debug output, which would print the exchange, stays off.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from remediate.aws.smtp import STARTTLS_PORTS, TLS_WRAPPER_PORTS, smtp_endpoint
from remediate.core.errors import AwsCallError, UsageError
from remediate.core.secrets import MASK, SecretValue

log = logging.getLogger(__name__)

AUTH_ACCEPTED = 235
AUTH_REJECTED = 535
DEFAULT_TIMEOUT = 15.0

# SES does not check the EHLO name. A fixed name avoids smtplib's default,
# socket.getfqdn(), whose reverse DNS lookup is not bounded by the timeout and can stall.
EHLO_NAME = "localhost"

_PORT_HINT = (
    f"SES SMTP endpoints take STARTTLS on ports {', '.join(map(str, STARTTLS_PORTS))} and TLS "
    f"on ports {', '.join(map(str, TLS_WRAPPER_PORTS))}"
)
_ENDPOINT_HINT = "SES SMTP endpoints are named email-smtp.REGION.amazonaws.com"


@dataclass(frozen=True)
class SmtpCheckResult:
    """The verdict of one SMTP AUTH: whether the server accepted the credentials, and its reply."""

    accepted: bool
    username: str
    host: str
    port: int
    reply_code: int
    reply_text: str

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


class SmtpCheckError(AwsCallError):
    """An SMTP check that reached no verdict on the credentials.

    The cause is no connection, no TLS, no AUTH LOGIN, or a reply other than 235 or
    535. `code` names it: "Timeout", "TLSCertificate" or the like, or the SMTP reply
    code ("454").
    """

    def __init__(self, message: str, *, endpoint: str, code: str, next_step: str) -> None:
        super().__init__(
            message,
            service="ses",
            operation="SMTP AUTH",
            resource=endpoint,
            code=code,
            next_step=next_step,
        )


class _UnexpectedChallenge(Exception):
    """The server sent a third AUTH LOGIN challenge, after the user name and the password."""


def verify_smtp_credentials(
    username: str,
    password: SecretValue,
    *,
    host: str,
    port: int = 587,
    timeout: float = DEFAULT_TIMEOUT,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool | None = None,
) -> SmtpCheckResult:
    """Authenticate to an SMTP server with AUTH LOGIN over TLS, send QUIT, and return the verdict.

    `timeout` is in seconds and applies to the connection and to each reply.
    `implicit_tls` chooses TLS from the first byte over STARTTLS. By default it is
    chosen by the port (465 and 2465 use TLS from the first byte, any other port
    STARTTLS). Certificates are verified against the system's trust store unless
    `tls_context` is given. Raise SmtpCheckError when no verdict is reached, and
    UsageError when the user name or password is not ASCII, as AUTH LOGIN requires.
    """
    if not password.reveal():
        raise UsageError(
            f"The SMTP password for {username} is empty.",
            next_step="check the secret that holds the SMTP credentials",
        )
    if not username.isascii() or not password.reveal().isascii():
        raise UsageError(
            "The SMTP user name or password contains a non-ASCII character, which AUTH "
            "LOGIN cannot send. SES SMTP user names are access key IDs and passwords are "
            "base64.",
            next_step="check that the credentials were copied whole and unchanged",
        )
    endpoint = f"{host}:{port}"
    context = tls_context if tls_context is not None else ssl.create_default_context()
    use_implicit_tls = port in TLS_WRAPPER_PORTS if implicit_tls is None else implicit_tls
    dialogue = _Dialogue(endpoint, timeout)
    log.debug(
        "SMTP check of %s on %s (%s)",
        username,
        endpoint,
        "TLS" if use_implicit_tls else "STARTTLS",
    )
    client: smtplib.SMTP | None = None
    reply: bytes | str
    try:
        client = _connect(host, port, timeout, context, use_implicit_tls)
        client.set_debuglevel(0)
        dialogue.ehlo(client)
        if not use_implicit_tls:
            dialogue.starttls(client, context)
            dialogue.ehlo(client)
        dialogue.require_auth_login(client)
        dialogue.stage = "AUTH LOGIN"
        reply_code, reply = client.auth(
            "LOGIN", _LoginResponder(username, password), initial_response_ok=False
        )
    except smtplib.SMTPAuthenticationError as error:
        if error.smtp_code != AUTH_REJECTED:
            raise dialogue.reply_error(
                error.smtp_code, _scrub(error.smtp_error, password)
            ) from None
        reply_code, reply = error.smtp_code, error.smtp_error
    except _UnexpectedChallenge:
        raise SmtpCheckError(
            f"The SMTP server {endpoint} sent more AUTH LOGIN challenges than the user name "
            "and the password, which an SES SMTP endpoint does not do.",
            endpoint=endpoint,
            code="UnexpectedChallenge",
            next_step=f"check the host: {_ENDPOINT_HINT}",
        ) from None
    except (OSError, ValueError) as error:
        # smtplib's and ssl's errors are OSError subclasses. ssl raises ValueError for a
        # context that cannot be used, such as one that checks host names given no host.
        raise dialogue.translate(error) from error
    finally:
        _quit(client, endpoint)

    if reply_code not in (AUTH_ACCEPTED, AUTH_REJECTED):
        # smtplib returns a 503 (already authenticated) instead of raising.
        raise dialogue.reply_error(reply_code, _scrub(reply, password))
    result = SmtpCheckResult(
        accepted=reply_code == AUTH_ACCEPTED,
        username=username,
        host=host,
        port=port,
        reply_code=reply_code,
        reply_text=_scrub(reply, password),
    )
    log.info(
        "SMTP AUTH LOGIN of %s on %s: %s (%d %s)",
        username,
        endpoint,
        "accepted" if result.accepted else "rejected",
        result.reply_code,
        result.reply_text,
    )
    return result


def verify_for_region(
    username: str,
    password: SecretValue,
    region: str,
    *,
    host: str | None = None,
    port: int = 587,
    timeout: float = DEFAULT_TIMEOUT,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool | None = None,
) -> SmtpCheckResult:
    """Check SMTP credentials against the SES SMTP endpoint of a region, or against `host`.

    The region is checked even when `host` is given (a VPC endpoint, say), because a
    version 4 password is valid in its own region only. Raise NoSmtpEndpointError for a
    region without an SMTP endpoint, and otherwise as verify_smtp_credentials does.
    """
    endpoint_host = smtp_endpoint(region)
    return verify_smtp_credentials(
        username,
        password,
        host=host if host is not None else endpoint_host,
        port=port,
        timeout=timeout,
        tls_context=tls_context,
        implicit_tls=implicit_tls,
    )


def _connect(
    host: str, port: int, timeout: float, context: ssl.SSLContext, implicit_tls: bool
) -> smtplib.SMTP:
    """Connect and read the greeting. smtplib raises SMTPConnectError unless it is 220."""
    if implicit_tls:
        return smtplib.SMTP_SSL(
            host, port, local_hostname=EHLO_NAME, timeout=timeout, context=context
        )
    return smtplib.SMTP(host, port, local_hostname=EHLO_NAME, timeout=timeout)


class _LoginResponder:
    """Callback for SMTP.auth: the user name for AUTH LOGIN's first challenge, the password
    for the second."""

    def __init__(self, username: str, password: SecretValue) -> None:
        self._answers: list[Callable[[], str]] = [lambda: username, password.reveal]

    def __call__(self, challenge: bytes | None = None, /) -> str:
        if not self._answers:
            raise _UnexpectedChallenge
        return self._answers.pop(0)()


def _scrub(reply: bytes | str, password: SecretValue) -> str:
    """Decode a server reply and mask the password, in case a server echoes it back."""
    return _decode(reply).replace(password.reveal(), MASK)


def _quit(client: smtplib.SMTP | None, endpoint: str) -> None:
    """Send QUIT and close. The verdict is already known, so a failure here is only logged."""
    if client is None:
        return
    try:
        if client.sock is not None:
            client.quit()
    except (OSError, ValueError) as error:
        log.debug("QUIT on %s failed (ignored): %s", endpoint, error)
    finally:
        client.close()


class _Dialogue:
    """The stage the SMTP exchange has reached, so that a failure can name it."""

    def __init__(self, endpoint: str, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.stage = "connect"

    def ehlo(self, client: smtplib.SMTP) -> None:
        self.stage = "EHLO"
        code, reply = client.ehlo()
        if code != 250:
            raise self.reply_error(code, _decode(reply))

    def starttls(self, client: smtplib.SMTP, context: ssl.SSLContext) -> None:
        if not client.has_extn("starttls"):
            raise SmtpCheckError(
                f"The SMTP server {self.endpoint} does not offer STARTTLS, so the check "
                "stopped before sending the credentials, which would travel unencrypted.",
                endpoint=self.endpoint,
                code="NoStartTLS",
                next_step=f"check the host and port ({_PORT_HINT})",
            )
        self.stage = "STARTTLS"
        client.starttls(context=context)

    def require_auth_login(self, client: smtplib.SMTP) -> None:
        offered = client.esmtp_features.get("auth", "").upper().split()
        if "LOGIN" not in offered:
            mechanisms = ", ".join(offered) if offered else "none"
            raise SmtpCheckError(
                f"The SMTP server {self.endpoint} does not offer AUTH LOGIN after TLS "
                f"(mechanisms offered: {mechanisms}), so the credentials were not sent.",
                endpoint=self.endpoint,
                code="NoAuthLogin",
                next_step=f"check the host: {_ENDPOINT_HINT}, and they offer AUTH LOGIN",
            )

    def reply_error(self, code: int, text: str) -> SmtpCheckError:
        if 400 <= code < 500:
            next_step = "the reply is temporary: wait a minute and check again"
        else:
            next_step = f"read the server's reply, then check the host and port ({_PORT_HINT})"
        return SmtpCheckError(
            f"The SMTP server {self.endpoint} replied to {self.stage} with {code} {text}, "
            "which neither accepts nor rejects the credentials.",
            endpoint=self.endpoint,
            code=str(code),
            next_step=next_step,
        )

    def translate(self, error: OSError | ValueError) -> SmtpCheckError:
        """Turn a socket, TLS or smtplib failure into an error that names the stage and endpoint."""
        where = f"The SMTP check of {self.endpoint} failed during {self.stage}"
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply_error(error.smtp_code, _decode(error.smtp_error))
        if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
            return self._error(
                f"{where}: timed out after {self.timeout:g} seconds without a reply.",
                "Timeout",
                "check that the network lets connections out to this port (many block port "
                "25), or try port 587 or 2587",
            )
        if isinstance(error, ConnectionRefusedError):
            return self._error(
                f"{where}: the connection was refused.",
                "ConnectionRefused",
                f"check the host and port ({_PORT_HINT})",
            )
        if isinstance(error, socket.gaierror):
            return self._error(
                f"{where}: the host name could not be resolved ({error.strerror}).",
                "NameResolution",
                "check the host name and the DNS settings of this machine",
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            reason = error.verify_message or str(error)
            return self._error(
                f"{where}: the server's TLS certificate is not trusted ({reason}).",
                "TLSCertificate",
                "check that no proxy on this network intercepts TLS; remediate verifies "
                "certificates against the system's trust store",
            )
        if isinstance(error, ssl.SSLError):
            return self._error(
                f"{where}: the TLS handshake failed ({error.reason or error}).",
                "TLSHandshake",
                f"check that the port matches the TLS mode ({_PORT_HINT})",
            )
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return self._error(
                f"{where}: the server closed the connection ({error}).",
                "Disconnected",
                "check again in a minute; if it persists, check the host and port",
            )
        return self._error(
            f"{where}: {error}.",
            type(error).__name__,
            f"check the host, the port and the network ({_PORT_HINT})",
        )

    def _error(self, message: str, code: str, next_step: str) -> SmtpCheckError:
        return SmtpCheckError(message, endpoint=self.endpoint, code=code, next_step=next_step)


def _decode(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return text.replace("\n", " ").strip()
