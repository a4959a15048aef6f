"""SES (API version 2), per region: account state, sending switch, identities, their policies,
configuration sets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediate.aws.base import CallReceipt, ClientFactory, aws_call, request_id_of


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


@dataclass(frozen=True)
class EmailIdentity:
    """An SES identity: an email address or a domain (`identity_type` EMAIL_ADDRESS or DOMAIN)."""

    name: str
    identity_type: str | None
    region: str


class Sesv2Gateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    # SES version 2 actions are authorised under the ses: prefix, not sesv2:, so
    # each call names the permission it needs.

    def get_account(self, region: str) -> SesAccount:
        with aws_call("sesv2", "GetAccount", region, permission="ses:GetAccount"):
            response = self._clients.client("sesv2", region).get_account()
        return parse_get_account(region, response)

    def put_account_sending_attributes(self, region: str, *, enabled: bool) -> CallReceipt:
        """Pause (enabled=False) or resume the sending of the whole account in one region."""
        with aws_call(
            "sesv2",
            "PutAccountSendingAttributes",
            region,
            permission="ses:PutAccountSendingAttributes",
        ):
            response = self._clients.client("sesv2", region).put_account_sending_attributes(
                SendingEnabled=enabled
            )
        return CallReceipt(request_id=request_id_of(response))

    def list_email_identities(self, region: str) -> list[EmailIdentity]:
        client = self._clients.client("sesv2", region)
        identities: list[EmailIdentity] = []
        arguments: dict[str, Any] = {}
        with aws_call("sesv2", "ListEmailIdentities", region, permission="ses:ListEmailIdentities"):
            while True:
                response = client.list_email_identities(**arguments)
                identities += [
                    EmailIdentity(
                        name=item["IdentityName"],
                        identity_type=item.get("IdentityType"),
                        region=region,
                    )
                    for item in response.get("EmailIdentities", [])
                ]
                token = response.get("NextToken")
                if not token:
                    return identities
                arguments["NextToken"] = token

    def get_email_identity_policies(self, region: str, identity: str) -> dict[str, Any]:
        """Return the identity's sending authorization policies by name, as documents."""
        with aws_call(
            "sesv2",
            "GetEmailIdentityPolicies",
            f"{region}:{identity}",
            permission="ses:GetEmailIdentityPolicies",
        ):
            response = self._clients.client("sesv2", region).get_email_identity_policies(
                EmailIdentity=identity
            )
        return {
            name: json.loads(policy) if isinstance(policy, str) else policy
            for name, policy in (response.get("Policies") or {}).items()
        }

    def delete_email_identity_policy(
        self, region: str, identity: str, policy_name: str
    ) -> CallReceipt:
        with aws_call(
            "sesv2",
            "DeleteEmailIdentityPolicy",
            f"{region}:{identity}/{policy_name}",
            permission="ses:DeleteEmailIdentityPolicy",
        ):
            response = self._clients.client("sesv2", region).delete_email_identity_policy(
                EmailIdentity=identity, PolicyName=policy_name
            )
        return CallReceipt(request_id=request_id_of(response))

    def list_configuration_sets(self, region: str) -> list[str]:
        client = self._clients.client("sesv2", region)
        names: list[str] = []
        arguments: dict[str, Any] = {}
        with aws_call(
            "sesv2", "ListConfigurationSets", region, permission="ses:ListConfigurationSets"
        ):
            while True:
                response = client.list_configuration_sets(**arguments)
                names += [str(name) for name in response.get("ConfigurationSets", [])]
                token = response.get("NextToken")
                if not token:
                    return names
                arguments["NextToken"] = token

    def delete_configuration_set(self, region: str, name: str) -> CallReceipt:
        """Delete a configuration set with its event destinations."""
        with aws_call(
            "sesv2",
            "DeleteConfigurationSet",
            f"{region}:{name}",
            permission="ses:DeleteConfigurationSet",
        ):
            response = self._clients.client("sesv2", region).delete_configuration_set(
                ConfigurationSetName=name
            )
        return CallReceipt(request_id=request_id_of(response))

    def delete_email_identity(self, region: str, identity: str) -> CallReceipt:
        """Delete an identity; it works for identities verified with SES version 1 as well."""
        with aws_call(
            "sesv2",
            "DeleteEmailIdentity",
            f"{region}:{identity}",
            permission="ses:DeleteEmailIdentity",
        ):
            response = self._clients.client("sesv2", region).delete_email_identity(
                EmailIdentity=identity
            )
        return CallReceipt(request_id=request_id_of(response))


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
