"""A region's SES account state (sesv2 GetAccount), and what in it points at an attacker.

An attacker who wants to send spam asks AWS to move the account out of the
sandbox (PutAccountDetails with production access), often in regions the owner
never uses; a pending review is that request waiting for AWS. AWS's enforcement
status shows whether it already put sending under review or paused it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from remediate.aws.sesv2 import SesAccount
from remediate.evidence.events import TrailEvent

FLAG_REVIEW_PENDING = "production-review-pending"
FLAG_PRODUCTION_UNUSED = "production-access-unused-region"
FLAG_ENFORCEMENT = "enforcement"
ACCOUNT_FLAGS = frozenset({FLAG_REVIEW_PENDING, FLAG_PRODUCTION_UNUSED, FLAG_ENFORCEMENT})

REVIEW_PENDING = "PENDING"
# EnforcementStatus values of GetAccount that mean AWS acted on the account's sending.
ENFORCEMENT_ACTIONS = {
    "PROBATION": "AWS placed SES sending under review (PROBATION)",
    "SHUTDOWN": "AWS paused SES sending (SHUTDOWN)",
}
PRODUCTION_REQUEST_CALLS = frozenset({"PutAccountDetails"})
# Requester text longer than this is cut in a flag's description; the record keeps it whole.
MAX_TEXT_SHOWN = 80


@dataclass(frozen=True)
class AccountConcern:
    """Something in a region's account state that a responder must look at."""

    kind: str
    description: str


def account_concerns(
    account: SesAccount, *, unused: bool = False, requested: bool = False
) -> list[AccountConcern]:
    """Return what is unusual in the account state.

    `unused` means the operator says the region sends no mail of theirs;
    `requested` means the team itself asked for production access there, so
    its pending review is expected.
    """
    concerns = []
    if account.review_status == REVIEW_PENDING and not requested:
        case = f" (case {account.review_case_id})" if account.review_case_id else ""
        concerns.append(
            AccountConcern(
                FLAG_REVIEW_PENDING,
                f"a production-access review is pending{case}, for {_request_text(account)}, "
                "and the team has not listed it as its own request",
            )
        )
    if account.production_access_enabled and unused:
        concerns.append(
            AccountConcern(
                FLAG_PRODUCTION_UNUSED,
                "the region is out of the SES sandbox although the operator says it is unused",
            )
        )
    action = ENFORCEMENT_ACTIONS.get(account.enforcement_status or "")
    if action is not None:
        concerns.append(AccountConcern(FLAG_ENFORCEMENT, action))
    return concerns


def production_request_events(events: Iterable[TrailEvent], region: str) -> list[TrailEvent]:
    """Return the PutAccountDetails calls made in the region among the key's events."""
    return [
        event
        for event in events
        if event.event_name in PRODUCTION_REQUEST_CALLS and event.aws_region == region
    ]


def account_record(account: SesAccount) -> dict[str, Any]:
    """Return the GetAccount fields the journal keeps, with GetAccount's names in snake case."""
    return {
        "sending_enabled": account.sending_enabled,
        "production_access_enabled": account.production_access_enabled,
        "enforcement_status": account.enforcement_status,
        "review_status": account.review_status,
        "review_case_id": account.review_case_id,
        "mail_type": account.mail_type,
        "website_url": account.website_url,
        "use_case_description": account.use_case_description,
        "additional_contact_email_addresses": list(account.contact_addresses),
    }


def describe_account(account: SesAccount) -> str:
    """Summarise the state in a few words, such as `sandbox, HEALTHY, review PENDING`."""
    parts = [
        "production" if account.production_access_enabled else "sandbox",
        account.enforcement_status or "enforcement unknown",
    ]
    if account.review_status:
        parts.append(f"review {account.review_status}")
    if not account.sending_enabled:
        parts.append("sending paused")
    return ", ".join(parts)


def _request_text(account: SesAccount) -> str:
    mail_type = (account.mail_type or "unknown").lower()
    website = _shorten(account.website_url) if account.website_url else "no website"
    return f"{mail_type} mail from {website}"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_TEXT_SHOWN else text[: MAX_TEXT_SHOWN - 1] + "…"
