"""IAM policy simulation: which actions a principal's policies allow, before any is called."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from remediate.aws.base import ClientFactory, aws_call
from remediate.core.errors import AwsCallError

ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"


@dataclass(frozen=True)
class ActionDecision:
    """IAM's decision for one action on one resource (`*` when no resource was named)."""

    action: str
    resource: str
    decision: str  # allowed, explicitDeny or implicitDeny
    # False when an SCP of the organization denies it, None when IAM did not report it.
    allowed_by_organizations: bool | None = None
    # False when the principal's permissions boundary denies it, None when it has none.
    allowed_by_boundary: bool | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED


class IamSimulationGateway:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    @property
    def _iam(self) -> Any:
        return self._clients.client("iam")

    def simulate_principal_policy(
        self, principal_arn: str, actions: Sequence[str], resource_arns: Sequence[str] = ()
    ) -> list[ActionDecision]:
        """Evaluate the principal's identity-based policies for each action and resource.

        IAM evaluates the principal's own policies, its groups', its permissions
        boundary and the organization's SCPs. It does not see resource policies
        or a session's own policy.
        """
        arguments: dict[str, Any] = {"PolicySourceArn": principal_arn, "ActionNames": list(actions)}
        if resource_arns:
            arguments["ResourceArns"] = list(resource_arns)
        try:
            with aws_call("iam", "SimulatePrincipalPolicy", principal_arn):
                paginator = self._iam.get_paginator("simulate_principal_policy")
                results = [
                    result
                    for page in paginator.paginate(**arguments)
                    for result in page.get("EvaluationResults", [])
                ]
        except NotImplementedError as error:
            # moto in process (a rehearsal) raises this for an API it does not implement.
            raise AwsCallError(
                f"iam SimulatePrincipalPolicy on {principal_arn} is not implemented by this "
                "endpoint.",
                service="iam",
                operation="SimulatePrincipalPolicy",
                resource=principal_arn,
                code="NotImplemented",
            ) from error
        return [decision for result in results for decision in _decisions(result)]

    def role_arn(self, role_name: str) -> str | None:
        """Return the role's ARN with its path, or None when GetRole fails."""
        try:
            with aws_call("iam", "GetRole", role_name):
                response = self._iam.get_role(RoleName=role_name)
        except AwsCallError:
            return None
        return str(response["Role"]["Arn"])


def _decisions(result: dict[str, Any]) -> list[ActionDecision]:
    """Return one decision per resource IAM reports for an action, else one for the action."""
    action = str(result["EvalActionName"])
    specific = result.get("ResourceSpecificResults") or []
    if specific:
        return [
            ActionDecision(
                action,
                str(item.get("EvalResourceName", "*")),
                str(item["EvalResourceDecision"]),
                _organizations(result),
                _boundary(item) if "PermissionsBoundaryDecisionDetail" in item else None,
            )
            for item in specific
        ]
    return [
        ActionDecision(
            action,
            str(result.get("EvalResourceName", "*")),
            str(result["EvalDecision"]),
            _organizations(result),
            _boundary(result) if "PermissionsBoundaryDecisionDetail" in result else None,
        )
    ]


def _organizations(result: dict[str, Any]) -> bool | None:
    detail = result.get("OrganizationsDecisionDetail")
    return bool(detail["AllowedByOrganizations"]) if detail else None


def _boundary(result: dict[str, Any]) -> bool:
    return bool(result["PermissionsBoundaryDecisionDetail"].get("AllowedByPermissionsBoundary"))
