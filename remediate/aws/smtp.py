"""SES SMTP credentials: the password derived from a secret access key, and the endpoints.

The SMTP user name is the access key ID; the password is derived from the
secret access key (SES Developer Guide, "Obtaining Amazon SES SMTP
credentials"). Version 4 signs per region, so each region needs its own
password. Temporary (ASIA) credentials cannot be used for SMTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from remediate.aws.regions import SmtpEndpoint, closest_region, ses_regions, smtp_regions
from remediate.aws.regions import smtp_endpoint as smtp_endpoint_status
from remediate.core.errors import UsageError
from remediate.core.secrets import SecretValue

# Fixed inputs of the derivation, as AWS documents them; they are not a real date or request.
_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION_4 = b"\x04"
_VERSION_2 = b"\x02"

STARTTLS_PORTS = (587, 25, 2587)
TLS_WRAPPER_PORTS = (465, 2465)


class NoSmtpEndpointError(UsageError):
    """The region has SES but no SMTP endpoint, or is not an SES region at all."""


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def smtp_password_v4(secret_access_key: str, region: str) -> str:
    """Derive the version 4 SMTP password for one region (44 base64 characters)."""
    require_smtp_region(region)
    signature = _sign(("AWS4" + secret_access_key).encode("utf-8"), _DATE)
    for part in (region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = _sign(signature, part)
    return base64.b64encode(_VERSION_4 + signature).decode("ascii")


def smtp_password_v2(secret_access_key: str) -> str:
    """Derive the legacy version 2 SMTP password, valid in every region.

    AWS deprecated version 2; use it only for a consumer that cannot be moved
    to a per-region version 4 password yet.
    """
    signature = _sign(secret_access_key.encode("utf-8"), _MESSAGE)
    return base64.b64encode(_VERSION_2 + signature).decode("ascii")


def derive_smtp_password(secret_access_key: SecretValue, region: str) -> SecretValue:
    return SecretValue(smtp_password_v4(secret_access_key.reveal(), region))


def smtp_endpoint(region: str) -> str:
    require_smtp_region(region)
    return f"email-smtp.{region}.amazonaws.com"


def require_smtp_region(region: str) -> SmtpEndpoint:
    """Refuse a region that is not an SES region or that the table says has no SMTP endpoint.

    Return SmtpEndpoint.UNKNOWN for an SES region the table does not list, so
    the caller can warn instead of refusing.
    """
    if region not in ses_regions():
        close = closest_region(region)
        hint = f" Did you mean {close}?" if close else ""
        raise NoSmtpEndpointError(
            f"{region!r} is not an SES region.{hint} "
            f"Regions with an SMTP endpoint: {', '.join(smtp_regions())}."
        )
    status = smtp_endpoint_status(region)
    if status is SmtpEndpoint.NO:
        raise NoSmtpEndpointError(
            f"The region {region!r} has no SES SMTP endpoint. "
            f"Regions with one: {', '.join(smtp_regions())}."
        )
    return status
