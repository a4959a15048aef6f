"""SES (API version 2) GetAccount: sending, enforcement, sandbox and review status, per region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediate.aws.base import ClientFactory, aws_call


@dataclass(frozen=True)
class SesAccount:
    """One region's sesv2 GetAccount.

    `review_status` is the status of the latest production-access request
    (`Details.ReviewDetails.Status`: PENDING, GRANTED, DENIED or FAILED), or
    None when the region has no request. The details (mail type, website, use
    case, contact addresses) are what the requester typed, so they may be an
    attacker's text.
    """

    region: str
    sending_enabled: bool
    production_access_enabled: bool
    enforcement_status: str | None
    review_status: str | None = None
    review_case_id: str | None = None
    mail_type: str | None = None
    website_url: str | None = None
    use_case_description: str | None = None
    contact_addresses: tuple[str, ...] = ()


class Sesv2Gateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def get_account(self, region: str) -> SesAccount:
        # SES version 2 actions are authorised under the ses: prefix, not sesv2:.
        with aws_call("sesv2", "GetAccount", region, permission="ses:GetAccount"):
            response = self._clients.client("sesv2", region).get_account()
        return parse_get_account(region, response)


def parse_get_account(region: str, response: Mapping[str, Any]) -> SesAccount:
    """Read a GetAccount response, as the API or `aws sesv2 get-account` returns it."""
    details = response.get("Details") or {}
    review = details.get("ReviewDetails") or {}
    return SesAccount(
        region=region,
        sending_enabled=bool(response.get("SendingEnabled", False)),
        production_access_enabled=bool(response.get("ProductionAccessEnabled", False)),
        enforcement_status=_text(response.get("EnforcementStatus")),
        review_status=_text(review.get("Status")),
        review_case_id=_text(review.get("CaseId")),
        mail_type=_text(details.get("MailType")),
        website_url=_text(details.get("WebsiteURL")),
        use_case_description=_text(details.get("UseCaseDescription")),
        contact_addresses=tuple(
            str(address) for address in details.get("AdditionalContactEmailAddresses") or ()
        ),
    )


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
