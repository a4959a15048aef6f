"""The set of gateways a run uses, all sharing one session and client cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from remediate.aws.awslambda import LambdaGateway
from remediate.aws.base import ClientFactory
from remediate.aws.cloudtrail import CloudTrailGateway
from remediate.aws.cloudwatch import CloudWatchGateway
from remediate.aws.iam import IamGateway
from remediate.aws.s3 import S3Gateway
from remediate.aws.secretsmanager import SecretsManagerGateway
from remediate.aws.ses import SesGateway
from remediate.aws.sesv2 import Sesv2Gateway
from remediate.aws.ssm import SsmGateway
from remediate.aws.sts import StsGateway
from remediate.core.errors import UsageError

if TYPE_CHECKING:
    import boto3


class AwsGateways:
    def __init__(
        self,
        session: boto3.Session,
        *,
        user_agent_extra: str = "",
        credential_session: Callable[..., boto3.Session] | None = None,
    ) -> None:
        """Build every gateway on one session.

        `credential_session` builds the session that signs with a new key to prove
        it. Tests pass one whose events inject the errors of a key that IAM has not
        propagated yet.
        """
        self.clients = ClientFactory(session, user_agent_extra=user_agent_extra)
        self.iam = IamGateway(self.clients)
        self.sts = StsGateway(self.clients, credential_session=credential_session)
        self.ses = SesGateway(self.clients)
        self.secretsmanager = SecretsManagerGateway(self.clients)
        self.cloudtrail = CloudTrailGateway(self.clients)
        self.sesv2 = Sesv2Gateway(self.clients)
        self.cloudwatch = CloudWatchGateway(self.clients)
        self.s3 = S3Gateway(self.clients)
        self.ssm = SsmGateway(self.clients)
        self.awslambda = LambdaGateway(self.clients)

    @property
    def default_region(self) -> str:
        return self.clients.default_region


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """Build the operator's session from boto3's own configuration (profiles, SSO, env)."""
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)


def refuse_leaked_credentials(session: boto3.Session, access_key_id: str) -> None:
    """Stop before any call when the session would sign with the leaked key itself.

    Calls signed with the leaked key would add the responder's own events to
    the attacker's in CloudTrail and muddy the evidence.
    """
    credentials = session.get_credentials()
    if credentials is not None and credentials.access_key == access_key_id:
        raise UsageError(
            f"Your AWS credentials are the leaked key {access_key_id} itself; remediate never "
            "acts with it.",
            next_step="sign in as a responder (another user, role or SSO profile) "
            "and pass --profile",
        )
