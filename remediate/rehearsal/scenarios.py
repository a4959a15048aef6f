"""Rehearsal scenarios: each one is a story and a builder that turns the world's clock into data.

A builder returns a `ScenarioPlan`, which is plain data with concrete times
and ids, and `remediate.rehearsal.seeding` applies the plan to moto. A new
scenario is a builder function and one entry in SCENARIOS.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from remediate.core.errors import UsageError
from remediate.rehearsal.moto_fills import SendDataPoint

DEFAULT_SCENARIO = "default"

# The policy the SES console attaches to the IAM user it creates for SMTP credentials.
SES_CONSOLE_POLICY_NAME = "AmazonSesSendingAccess"
SES_CONSOLE_POLICY_DOCUMENT: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}],
}

STATISTICS_INTERVAL = timedelta(minutes=15)
STATISTICS_WINDOW = timedelta(days=14)

# Documentation address ranges (RFC 5737), so that no real host is named.
ATTACKER_IP = "203.0.113.45"
SCANNER_IP = "198.51.100.23"

# TruffleHog verifies an AWS key with sts GetCallerIdentity under this user agent.
TRUFFLEHOG_USER_AGENT = "TruffleHog"
BOTO3_USER_AGENT = (
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0-18-cloud-amd64 md/arch#x86_64 "
    "lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
)


@dataclass(frozen=True)
class SmtpUserPlan:
    """The IAM user whose access key leaked, created the way the SES console creates one.

    `attached_policy_arns` are managed policies the team attached to it later.
    """

    user_name: str
    created: datetime
    policy_name: str = SES_CONSOLE_POLICY_NAME
    policy_document: Mapping[str, Any] = field(default_factory=lambda: SES_CONSOLE_POLICY_DOCUMENT)
    attached_policy_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolePlan:
    """An IAM role of the team's, as it was before the attack."""

    role_name: str
    trust_policy: Mapping[str, Any]
    description: str


@dataclass(frozen=True)
class ConsumerSecretPlan:
    """A Secrets Manager secret that contains the leaked key's SMTP credentials for one region."""

    secret_id: str
    region: str
    smtp_region: str
    port: int
    from_address: str
    description: str


@dataclass(frozen=True)
class ConsumerParametersPlan:
    """SSM parameters under one path that hold the leaked key's SMTP credentials.

    The user name and the host are String parameters; the password is a SecureString.
    """

    path: str
    region: str
    smtp_region: str


@dataclass(frozen=True)
class SesRegionPlan:
    """A region's SES account settings, and the identities the team verified there."""

    region: str
    production_access_enabled: bool
    max_24_hour_send: float
    max_send_rate: float
    verified_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiCall:
    """A boto3 call (service, method name, parameters) that the attacker makes against moto."""

    service: str
    method: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttackerCall:
    """One management call made with the leaked key: its CloudTrail record and its moto call.

    `api` is None for a call that only leaves a record, such as one AWS denied.
    `error_message` may name `{user_arn}` and `{account_id}`, and the parameters
    `{account_id}`, which seeding fills in.
    `with_key_of` names a user whose access key an earlier call of the attacker
    created: the call is made, and recorded, with that key instead of the leaked one.
    """

    event_time: datetime
    region: str
    event_source: str
    event_name: str
    read_only: bool
    source_ip: str
    user_agent: str
    event_id: str
    request_id: str
    request_parameters: Mapping[str, Any] | None = None
    api: ApiCall | None = None
    error_code: str | None = None
    error_message: str | None = None
    with_key_of: str | None = None


@dataclass(frozen=True)
class AttackerSend:
    """A message the attacker sends through moto's SES API with the leaked key."""

    region: str
    source: str
    destination: str
    subject: str
    raw: bool = False


@dataclass(frozen=True)
class ScenarioPlan:
    """Everything one scenario seeds, with concrete times, names and ids."""

    now: datetime
    smtp_user: SmtpUserPlan
    consumer: ConsumerSecretPlan
    ses_regions: tuple[SesRegionPlan, ...]
    statistics: Mapping[str, tuple[SendDataPoint, ...]]
    attacker_calls: tuple[AttackerCall, ...]
    attacker_sends: tuple[AttackerSend, ...]
    team_regions: tuple[str, ...]
    attacker_source_ips: tuple[str, ...]
    parameters: tuple[ConsumerParametersPlan, ...] = ()
    roles: tuple[RolePlan, ...] = ()

    @property
    def unused_regions(self) -> tuple[str, ...]:
        """Return the regions with attacker SES activity where the team does not use SES."""
        regions = {call.region for call in self.attacker_calls if call.event_source == SES_SOURCE}
        return tuple(sorted(regions - set(self.team_regions)))


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    story: str
    build: Callable[[datetime], ScenarioPlan]


class UnknownScenarioError(UsageError):
    """The requested scenario does not exist; the message lists the ones that do."""


SES_SOURCE = "ses.amazonaws.com"
STS_SOURCE = "sts.amazonaws.com"
IAM_SOURCE = "iam.amazonaws.com"


def _random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def floor_to_interval(moment: datetime) -> datetime:
    """Return the start of the 15-minute statistics interval that contains `moment`."""
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return moment - timedelta(minutes=moment.minute % 15)


def steady_sending_points(rng: random.Random, *, end: datetime) -> tuple[SendDataPoint, ...]:
    """Build two weeks of a small app's sending, in 15-minute points, oldest first.

    Weekdays send a few messages per interval from 07:00 to 19:59 UTC, weekends
    fewer from 09:00 to 16:59. Intervals without sends are left out, as
    GetSendStatistics leaves them out.
    """
    points: list[SendDataPoint] = []
    # The last point is the last interval that has ended by `end`.
    first = floor_to_interval(end) - STATISTICS_WINDOW
    for index in range(STATISTICS_WINDOW // STATISTICS_INTERVAL):
        moment = first + index * STATISTICS_INTERVAL
        weekend = moment.weekday() >= 5
        hours = range(9, 17) if weekend else range(7, 20)
        if moment.hour not in hours:
            continue
        attempts = rng.randint(0, 3) if weekend else rng.randint(2, 8)
        if attempts == 0:
            continue
        points.append(
            SendDataPoint(
                timestamp=moment,
                delivery_attempts=attempts,
                bounces=1 if rng.random() < 0.03 else 0,
                # A healthy mailer: well under the 0.1 % complaint rate at which AWS reviews.
                complaints=1 if rng.random() < 0.001 else 0,
            )
        )
    return tuple(points)


class _CallFactory:
    """Factory of attacker calls, with ids drawn from the scenario's seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def __call__(
        self, moment: datetime, region: str, source: str, name: str, **details: Any
    ) -> AttackerCall:
        details.setdefault("read_only", True)
        details.setdefault("source_ip", ATTACKER_IP)
        details.setdefault("user_agent", BOTO3_USER_AGENT)
        return AttackerCall(
            event_time=moment,
            region=region,
            event_source=source,
            event_name=name,
            event_id=_random_uuid(self._rng),
            request_id=_random_uuid(self._rng),
            **details,
        )


# The default scenario's places and names.
TEAM_REGION = "eu-west-1"
ATTACKER_REGION = "ap-southeast-2"
ATTACKER_SENDER = "billing@notice-center.example.net"
ATTACKER_ACCOUNT_DETAILS: Mapping[str, Any] = {
    "MailType": "MARKETING",
    "WebsiteURL": "https://notice-center.example.net",
    "ContactLanguage": "EN",
    "UseCaseDescription": "Account notices for customers who opted in.",
    "AdditionalContactEmailAddresses": ["ops@notice-center.example.net"],
    "ProductionAccessEnabled": True,
}


def _default_attacker_calls(
    call: _CallFactory, *, scan: datetime, recon: datetime, prepare: datetime
) -> tuple[AttackerCall, ...]:
    """Build the calls of the default story: validation, reconnaissance, preparation."""
    send_quota = ApiCall("ses", "get_send_quota")
    details = ATTACKER_ACCOUNT_DETAILS
    return (
        call(
            scan,
            "us-east-1",
            STS_SOURCE,
            "GetCallerIdentity",
            source_ip=SCANNER_IP,
            user_agent=TRUFFLEHOG_USER_AGENT,
            api=ApiCall("sts", "get_caller_identity"),
        ),
        call(
            recon,
            "us-east-1",
            STS_SOURCE,
            "GetCallerIdentity",
            api=ApiCall("sts", "get_caller_identity"),
        ),
        call(recon + timedelta(seconds=6), "us-east-1", SES_SOURCE, "GetSendQuota", api=send_quota),
        call(recon + timedelta(seconds=9), TEAM_REGION, SES_SOURCE, "GetSendQuota", api=send_quota),
        call(
            recon + timedelta(seconds=13), "us-west-2", SES_SOURCE, "GetSendQuota", api=send_quota
        ),
        call(
            recon + timedelta(seconds=17),
            ATTACKER_REGION,
            SES_SOURCE,
            "GetSendQuota",
            api=send_quota,
        ),
        call(
            recon + timedelta(seconds=25),
            "us-east-1",
            IAM_SOURCE,
            "ListUsers",
            error_code="AccessDenied",
            error_message=(
                "User: {user_arn} is not authorized to perform: iam:ListUsers on resource: "
                "arn:aws:iam::{account_id}:user/ because no identity-based policy allows the "
                "iam:ListUsers action"
            ),
        ),
        call(
            recon + timedelta(seconds=41),
            TEAM_REGION,
            SES_SOURCE,
            "ListIdentities",
            api=ApiCall("ses", "list_identities"),
        ),
        call(
            recon + timedelta(seconds=58),
            TEAM_REGION,
            SES_SOURCE,
            "GetAccount",
            api=ApiCall("sesv2", "get_account"),
        ),
        call(
            prepare,
            ATTACKER_REGION,
            SES_SOURCE,
            "PutAccountDetails",
            read_only=False,
            request_parameters={
                "mailType": details["MailType"],
                "websiteURL": details["WebsiteURL"],
                "contactLanguage": details["ContactLanguage"],
                "useCaseDescription": details["UseCaseDescription"],
                "additionalContactEmailAddresses": details["AdditionalContactEmailAddresses"],
                "productionAccessEnabled": True,
            },
            api=ApiCall("sesv2", "put_account_details", details),
        ),
        call(
            prepare + timedelta(minutes=2, seconds=14),
            ATTACKER_REGION,
            SES_SOURCE,
            "VerifyEmailIdentity",
            read_only=False,
            request_parameters={"emailAddress": ATTACKER_SENDER},
            api=ApiCall("ses", "verify_email_identity", {"EmailAddress": ATTACKER_SENDER}),
        ),
    )


def _default_spike(prepare: datetime) -> tuple[SendDataPoint, ...]:
    """Build the attacker's burst: 193 delivery attempts in three intervals, 28 of them bounced.

    The sends themselves are data events, so they leave no record for
    LookupEvents, only these statistics and moto's counter.
    """
    burst = floor_to_interval(prepare + timedelta(minutes=40))
    counts = [(64, 9, 1, 3), (71, 12, 0, 0), (58, 7, 2, 1)]
    return tuple(
        SendDataPoint(
            timestamp=burst + index * STATISTICS_INTERVAL,
            delivery_attempts=attempts,
            bounces=bounces,
            complaints=complaints,
            rejects=rejects,
        )
        for index, (attempts, bounces, complaints, rejects) in enumerate(counts)
    )


def _default_sends() -> tuple[AttackerSend, ...]:
    return tuple(
        AttackerSend(
            region=ATTACKER_REGION,
            source=ATTACKER_SENDER,
            destination=f"customer{number}@example.org",
            subject="Your account is on hold: confirm your payment details",
            raw=number == 5,
        )
        for number in range(1, 6)
    )


def _default_plan(now: datetime) -> ScenarioPlan:
    now = now.astimezone(UTC).replace(microsecond=0)
    rng = random.Random(DEFAULT_SCENARIO)

    created = (now - timedelta(days=400)).replace(hour=9, minute=30, second=12)
    smtp_user = SmtpUserPlan(user_name=f"ses-smtp-user.{created:%Y%m%d-%H%M%S}", created=created)
    consumer = ConsumerSecretPlan(
        secret_id="prod/mailer/smtp",
        region=TEAM_REGION,
        smtp_region=TEAM_REGION,
        port=587,
        from_address="no-reply@example.com",
        description="SMTP credentials of the mailer service",
    )
    team_ses = SesRegionPlan(
        region=TEAM_REGION,
        production_access_enabled=True,
        max_24_hour_send=50000.0,
        max_send_rate=14.0,
        verified_domains=("example.com",),
    )

    # A scanner validates the key first. The attacker's own tooling follows about
    # a day later, and the preparation to send a day and a half after that.
    prepare = now - timedelta(hours=21, minutes=37, seconds=10)
    attacker_calls = _default_attacker_calls(
        _CallFactory(rng),
        scan=now - timedelta(days=3, hours=4, minutes=12, seconds=31),
        recon=now - timedelta(days=2, hours=7, minutes=48, seconds=5),
        prepare=prepare,
    )

    return ScenarioPlan(
        now=now,
        smtp_user=smtp_user,
        consumer=consumer,
        ses_regions=(team_ses,),
        statistics={
            TEAM_REGION: steady_sending_points(rng, end=now),
            ATTACKER_REGION: _default_spike(prepare),
        },
        attacker_calls=attacker_calls,
        attacker_sends=_default_sends(),
        team_regions=(TEAM_REGION,),
        attacker_source_ips=(SCANNER_IP, ATTACKER_IP),
        parameters=(
            ConsumerParametersPlan(
                path="/prod/worker", region=TEAM_REGION, smtp_region=TEAM_REGION
            ),
        ),
    )


# The persistence scenario's places and names. 444455556666 is an account ID
# the AWS documentation uses in examples, so that no real account is named.
PERSISTENCE_SCENARIO = "persistence"
IAM_RIGHTS_POLICY_ARN = "arn:aws:iam::aws:policy/IAMFullAccess"
BACKDOOR_USER = "aws-support-ops"
BACKDOOR_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
PIPELINE_ROLE = "release-pipeline"
OUTSIDE_ACCOUNT = "444455556666"
PIPELINE_TRUST: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
BACKDOOR_TRUST: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        *PIPELINE_TRUST["Statement"],
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE_ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        },
    ],
}
# A group that lifts the leaked user to administrator, through a policy of the attacker's own.
ESCALATION_GROUP = "ops-break-glass"
ESCALATION_POLICY_NAME = "SupportOpsAccess"
ESCALATION_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# A configuration set the attacker's mail names, so that its events can go elsewhere.
ATTACKER_CONFIGURATION_SET = "delivery-tracking"
PERSISTENCE_SENDER = "notifications@account-review.example.org"
SENDER_POLICY_NAME = "partner-sending"
SENDER_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE_ACCOUNT}:root"},
            "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": "*",
        }
    ],
}


def _persistence_attacker_calls(
    call: _CallFactory,
    *,
    leaked_user: str,
    password: str,
    scan: datetime,
    persist: datetime,
    prepare: datetime,
) -> tuple[AttackerCall, ...]:
    """Build the calls of the persistence story: validation, escalation, backdoors, a sender.

    The leaked key creates the administrator user and its key. That key does the
    rest, because the leaked user has no SES rights beyond sending.
    """
    backdoor = {"with_key_of": BACKDOOR_USER}
    writes = {"read_only": False}
    trust = json.dumps(BACKDOOR_TRUST)
    policy = json.dumps(SENDER_POLICY)
    escalation = json.dumps(ESCALATION_POLICY)
    escalation_arn = f"arn:aws:iam::{{account_id}}:policy/{ESCALATION_POLICY_NAME}"
    return (
        call(
            scan,
            "us-east-1",
            STS_SOURCE,
            "GetCallerIdentity",
            source_ip=SCANNER_IP,
            user_agent=TRUFFLEHOG_USER_AGENT,
            api=ApiCall("sts", "get_caller_identity"),
        ),
        call(
            persist,
            "us-east-1",
            STS_SOURCE,
            "GetCallerIdentity",
            api=ApiCall("sts", "get_caller_identity"),
        ),
        call(
            persist + timedelta(seconds=8),
            "us-east-1",
            IAM_SOURCE,
            "ListAttachedUserPolicies",
            request_parameters={"userName": leaked_user},
            api=ApiCall("iam", "list_attached_user_policies", {"UserName": leaked_user}),
        ),
        call(
            persist + timedelta(seconds=15),
            "us-east-1",
            IAM_SOURCE,
            "ListUsers",
            api=ApiCall("iam", "list_users"),
        ),
        call(
            persist + timedelta(seconds=44),
            "us-east-1",
            IAM_SOURCE,
            "CreateUser",
            request_parameters={"userName": BACKDOOR_USER},
            api=ApiCall("iam", "create_user", {"UserName": BACKDOOR_USER}),
            **writes,
        ),
        call(
            persist + timedelta(seconds=51),
            "us-east-1",
            IAM_SOURCE,
            "AttachUserPolicy",
            request_parameters={"userName": BACKDOOR_USER, "policyArn": BACKDOOR_POLICY_ARN},
            api=ApiCall(
                "iam",
                "attach_user_policy",
                {"UserName": BACKDOOR_USER, "PolicyArn": BACKDOOR_POLICY_ARN},
            ),
            **writes,
        ),
        call(
            persist + timedelta(seconds=58),
            "us-east-1",
            IAM_SOURCE,
            "CreateLoginProfile",
            # CloudTrail never logs the password itself.
            request_parameters={"userName": BACKDOOR_USER, "passwordResetRequired": False},
            api=ApiCall(
                "iam",
                "create_login_profile",
                {"UserName": BACKDOOR_USER, "Password": password, "PasswordResetRequired": False},
            ),
            **writes,
        ),
        call(
            persist + timedelta(minutes=1, seconds=6),
            "us-east-1",
            IAM_SOURCE,
            "CreateAccessKey",
            request_parameters={"userName": BACKDOOR_USER},
            api=ApiCall("iam", "create_access_key", {"UserName": BACKDOOR_USER}),
            **writes,
        ),
        call(
            persist + timedelta(minutes=4, seconds=12),
            "us-east-1",
            IAM_SOURCE,
            "CreatePolicy",
            request_parameters={
                "policyName": ESCALATION_POLICY_NAME,
                "policyDocument": escalation,
            },
            api=ApiCall(
                "iam",
                "create_policy",
                {"PolicyName": ESCALATION_POLICY_NAME, "PolicyDocument": escalation},
            ),
            **writes,
            **backdoor,
        ),
        call(
            persist + timedelta(minutes=4, seconds=40),
            "us-east-1",
            IAM_SOURCE,
            "CreateGroup",
            request_parameters={"groupName": ESCALATION_GROUP},
            api=ApiCall("iam", "create_group", {"GroupName": ESCALATION_GROUP}),
            **writes,
            **backdoor,
        ),
        call(
            persist + timedelta(minutes=5, seconds=2),
            "us-east-1",
            IAM_SOURCE,
            "AttachGroupPolicy",
            request_parameters={"groupName": ESCALATION_GROUP, "policyArn": escalation_arn},
            api=ApiCall(
                "iam",
                "attach_group_policy",
                {"GroupName": ESCALATION_GROUP, "PolicyArn": escalation_arn},
            ),
            **writes,
            **backdoor,
        ),
        call(
            persist + timedelta(minutes=5, seconds=31),
            "us-east-1",
            IAM_SOURCE,
            "AddUserToGroup",
            request_parameters={"groupName": ESCALATION_GROUP, "userName": leaked_user},
            api=ApiCall(
                "iam",
                "add_user_to_group",
                {"GroupName": ESCALATION_GROUP, "UserName": leaked_user},
            ),
            **writes,
            **backdoor,
        ),
        call(
            persist + timedelta(minutes=7, seconds=30),
            "us-east-1",
            IAM_SOURCE,
            "UpdateAssumeRolePolicy",
            request_parameters={"roleName": PIPELINE_ROLE, "policyDocument": trust},
            api=ApiCall(
                "iam",
                "update_assume_role_policy",
                {"RoleName": PIPELINE_ROLE, "PolicyDocument": trust},
            ),
            **writes,
            **backdoor,
        ),
        call(
            prepare,
            TEAM_REGION,
            SES_SOURCE,
            "GetSendQuota",
            api=ApiCall("ses", "get_send_quota"),
            **backdoor,
        ),
        call(
            prepare + timedelta(seconds=40),
            TEAM_REGION,
            SES_SOURCE,
            "VerifyEmailIdentity",
            request_parameters={"emailAddress": PERSISTENCE_SENDER},
            api=ApiCall("ses", "verify_email_identity", {"EmailAddress": PERSISTENCE_SENDER}),
            **writes,
            **backdoor,
        ),
        call(
            prepare + timedelta(minutes=1, seconds=17),
            TEAM_REGION,
            SES_SOURCE,
            "CreateConfigurationSet",
            request_parameters={"configurationSetName": ATTACKER_CONFIGURATION_SET},
            api=ApiCall(
                "sesv2",
                "create_configuration_set",
                {"ConfigurationSetName": ATTACKER_CONFIGURATION_SET},
            ),
            **writes,
            **backdoor,
        ),
        call(
            prepare + timedelta(minutes=2, seconds=3),
            TEAM_REGION,
            SES_SOURCE,
            "CreateEmailIdentityPolicy",
            request_parameters={
                "emailIdentity": PERSISTENCE_SENDER,
                "policyName": SENDER_POLICY_NAME,
                "policy": policy,
            },
            api=ApiCall(
                "sesv2",
                "create_email_identity_policy",
                {
                    "EmailIdentity": PERSISTENCE_SENDER,
                    "PolicyName": SENDER_POLICY_NAME,
                    "Policy": policy,
                },
            ),
            **writes,
            **backdoor,
        ),
    )


def _persistence_plan(now: datetime) -> ScenarioPlan:
    now = now.astimezone(UTC).replace(microsecond=0)
    rng = random.Random(PERSISTENCE_SCENARIO)

    created = (now - timedelta(days=730)).replace(hour=14, minute=5, second=41)
    smtp_user = SmtpUserPlan(
        user_name=f"ses-smtp-user.{created:%Y%m%d-%H%M%S}",
        created=created,
        attached_policy_arns=(IAM_RIGHTS_POLICY_ARN,),
    )
    consumer = ConsumerSecretPlan(
        secret_id="prod/mailer/smtp",
        region=TEAM_REGION,
        smtp_region=TEAM_REGION,
        port=587,
        from_address="no-reply@example.com",
        description="SMTP credentials of the mailer service",
    )
    team_ses = SesRegionPlan(
        region=TEAM_REGION,
        production_access_enabled=True,
        max_24_hour_send=50000.0,
        max_send_rate=14.0,
        verified_domains=("example.com",),
    )
    # A fake console password for the attacker's user; it is not a secret of anyone's.
    password = f"Rehearsal-{rng.getrandbits(64):016x}!"
    attacker_calls = _persistence_attacker_calls(
        _CallFactory(rng),
        leaked_user=smtp_user.user_name,
        password=password,
        scan=now - timedelta(days=2, hours=6, minutes=3, seconds=12),
        persist=now - timedelta(days=1, hours=19, minutes=41, seconds=7),
        prepare=now - timedelta(hours=20, minutes=14, seconds=50),
    )
    return ScenarioPlan(
        now=now,
        smtp_user=smtp_user,
        consumer=consumer,
        ses_regions=(team_ses,),
        statistics={TEAM_REGION: steady_sending_points(rng, end=now)},
        attacker_calls=attacker_calls,
        attacker_sends=(),
        team_regions=(TEAM_REGION,),
        attacker_source_ips=(SCANNER_IP, ATTACKER_IP),
        roles=(
            RolePlan(
                role_name=PIPELINE_ROLE,
                trust_policy=PIPELINE_TRUST,
                description="Deploys the mailer service from CodeBuild",
            ),
        ),
    )


SCENARIOS: Mapping[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            name=DEFAULT_SCENARIO,
            title="SMTP key found by a scanner, used to send phishing from an unused region",
            story=(
                "The mailer service in eu-west-1 sends through SES SMTP with credentials that "
                "the SES console created a year ago, stored in the secret prod/mailer/smtp; "
                "a worker reads the same credentials from the SSM parameters under "
                "/prod/worker. The access key leaked. Three days ago a TruffleHog scan "
                "validated it; two days ago someone checked the SES quota of four regions "
                "within seconds, listed the "
                "team's identities and read the account status. Yesterday they asked for "
                "production access in ap-southeast-2, verified a sender address there and sent "
                "a burst of phishing mail with a high bounce rate. The team's own sending "
                "continues as before."
            ),
            build=_default_plan,
        ),
        Scenario(
            name=PERSISTENCE_SCENARIO,
            title="SMTP key with IAM rights, used to leave an administrator user and backdoors",
            story=(
                "The mailer service in eu-west-1 sends through SES SMTP with credentials of an "
                "IAM user that a deploy script once used as well, so the user still has "
                "IAMFullAccess. The access key leaked. Two days ago a TruffleHog scan validated "
                f"it. The next day someone used it to create the user {BACKDOOR_USER} with "
                "AdministratorAccess, a console password and an access key. With that key they "
                f"let the account {OUTSIDE_ACCOUNT} assume the team's role {PIPELINE_ROLE}, "
                f"and yesterday they verified the sender {PERSISTENCE_SENDER} in eu-west-1 and "
                "allowed that account to send as it."
            ),
            build=_persistence_plan,
        ),
    )
}


def list_scenarios() -> tuple[Scenario, ...]:
    return tuple(SCENARIOS.values())


def get_scenario(name: str) -> Scenario:
    """Return the scenario called `name`, or raise UnknownScenarioError listing the known ones."""
    scenario = SCENARIOS.get(name)
    if scenario is not None:
        return scenario
    known = "\n".join(f"  {item.name}: {item.title}" for item in list_scenarios())
    raise UnknownScenarioError(
        f"There is no rehearsal scenario named {name!r}. Known scenarios:\n{known}",
        next_step=f"remediate rehearse --scenario {DEFAULT_SCENARIO}",
    )
