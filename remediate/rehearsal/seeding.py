"""Apply a scenario plan to moto: with boto3 where moto has the API, else through the fills' stores.

The same code seeds the in-process world (`mock_aws`) and a moto server in this
process. Only the endpoint differs. The leaked key's secret exists only while
`seed_scenario` runs: the attacker simulation signs its calls with it, and the
consumer secret is derived from it. It is registered with the secret registry,
so that no output can carry it, and no value returned from here contains it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import boto3
from botocore.config import Config

from remediate.aws.smtp import smtp_endpoint, smtp_password_v4
from remediate.core.secrets import SecretValue
from remediate.core.timeutil import format_timestamp
from remediate.rehearsal import moto_fills
from remediate.rehearsal.scenarios import (
    AttackerCall,
    AttackerSend,
    ConsumerParametersPlan,
    ConsumerSecretPlan,
    RolePlan,
    Scenario,
    ScenarioPlan,
    SesRegionPlan,
    SmtpUserPlan,
)

RESPONDER_REGION = "us-east-1"

# Credentials of the administrator who set the account up before the incident.
# moto accepts any key it does not know and maps it to its default account.
SETUP_ACCESS_KEY_ID = "seeding"
SETUP_SECRET_ACCESS_KEY = "seeding"

# Credentials the rehearsal sets for its duration when the environment has none.
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"

# boto3 would follow these to a real endpoint or a real profile, which a rehearsal must never use.
_ENVIRONMENT_TO_CLEAR = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")
_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"

AWS_MANAGED_POLICY_PREFIX = "arn:aws:iam::aws:policy/"

_CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"})


@dataclass(frozen=True)
class WorldFacts:
    """The names and ids of a seeded world that a rehearsal may show; no secret among them."""

    scenario: str
    title: str
    description: str
    now: datetime
    account_id: str
    leaked_access_key_id: str
    smtp_user_name: str
    consumer_secret_id: str
    consumer_secret_region: str
    team_regions: tuple[str, ...]
    unused_regions: tuple[str, ...]
    attacker_source_ips: tuple[str, ...]


def world_facts(facts: WorldFacts) -> dict[str, Any]:
    """Return the facts as a JSON-safe dict, for the facts file of the rehearsal server."""
    return {
        "scenario": facts.scenario,
        "title": facts.title,
        "description": facts.description,
        "now": format_timestamp(facts.now),
        "account_id": facts.account_id,
        "leaked_access_key_id": facts.leaked_access_key_id,
        "smtp_user_name": facts.smtp_user_name,
        "consumer_secret_id": facts.consumer_secret_id,
        "consumer_secret_region": facts.consumer_secret_region,
        "team_regions": list(facts.team_regions),
        "unused_regions": list(facts.unused_regions),
        "attacker_source_ips": list(facts.attacker_source_ips),
    }


@contextmanager
def rehearsal_environment() -> Iterator[None]:
    """Set fake credentials if none are set, hide real endpoints and profiles, restore on exit."""
    cleared = [
        name
        for name in os.environ
        if name in _ENVIRONMENT_TO_CLEAR or name.startswith(_ENDPOINT_PREFIX)
    ]
    changes: dict[str, str | None] = dict.fromkeys(cleared)
    if "AWS_ACCESS_KEY_ID" not in os.environ or "AWS_SECRET_ACCESS_KEY" not in os.environ:
        changes["AWS_ACCESS_KEY_ID"] = FAKE_ACCESS_KEY_ID
        changes["AWS_SECRET_ACCESS_KEY"] = FAKE_SECRET_ACCESS_KEY
        changes["AWS_SESSION_TOKEN"] = None
    changes["AWS_EC2_METADATA_DISABLED"] = "true"

    saved = {name: os.environ.get(name) for name in changes}
    try:
        _apply_environment(changes)
        yield
    finally:
        _apply_environment(saved)


def _apply_environment(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class _AwsTarget:
    """The destination of the seeding calls: moto in-process (no endpoint) or a moto server.

    Clients share one session, so botocore loads each service model once. Each
    client carries its own credentials, the administrator's or the leaked key's.
    """

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._session = boto3.Session()
        self._clients: dict[tuple[str, str, str], Any] = {}

    def client(self, service: str, region: str, access_key_id: str, secret_access_key: str) -> Any:
        key = (service, region, access_key_id)
        if key not in self._clients:
            # boto3-stubs types client() for literal service names, but this one is a variable.
            self._clients[key] = self._session.client(  # type: ignore[call-overload]
                service,
                region_name=region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=_CLIENT_CONFIG,
            )
        return self._clients[key]

    def setup_client(self, service: str, region: str) -> Any:
        return self.client(service, region, SETUP_ACCESS_KEY_ID, SETUP_SECRET_ACCESS_KEY)


@dataclass(frozen=True)
class _LeakedKey:
    user_name: str
    user_id: str
    user_arn: str
    access_key_id: str
    secret_access_key: SecretValue


def seed_scenario(
    scenario: Scenario, plan: ScenarioPlan, *, endpoint_url: str | None = None
) -> WorldFacts:
    """Create the scenario's account state in moto and return its facts.

    Without `endpoint_url` the calls go to moto in-process, so `mock_aws` must be active.
    """
    target = _AwsTarget(endpoint_url)
    account_id = target.setup_client("sts", RESPONDER_REGION).get_caller_identity()["Account"]
    moto_fills.add_aws_managed_policies(account_id, _aws_managed_policies(plan))
    leaked = _create_smtp_user(plan.smtp_user, target)
    moto_fills.backdate_iam_user(account_id, leaked.user_name, plan.smtp_user.created)

    for region_plan in plan.ses_regions:
        _configure_ses_region(account_id, region_plan, target)
    for region, points in plan.statistics.items():
        moto_fills.set_send_statistics(account_id, region, points, as_of=plan.now)
    _create_consumer_secret(plan.consumer, leaked, target)
    for parameters in plan.parameters:
        _create_consumer_parameters(parameters, leaked, target)
    for role in plan.roles:
        _create_role(role, target)

    attacker = _Attacker(account_id, leaked, target)
    for call in sorted(plan.attacker_calls, key=lambda item: item.event_time):
        attacker.perform(call)
    for message in plan.attacker_sends:
        attacker.send(message)

    return WorldFacts(
        scenario=scenario.name,
        title=scenario.title,
        description=scenario.story,
        now=plan.now,
        account_id=account_id,
        leaked_access_key_id=leaked.access_key_id,
        smtp_user_name=leaked.user_name,
        consumer_secret_id=plan.consumer.secret_id,
        consumer_secret_region=plan.consumer.region,
        team_regions=plan.team_regions,
        unused_regions=plan.unused_regions,
        attacker_source_ips=plan.attacker_source_ips,
    )


def _aws_managed_policies(plan: ScenarioPlan) -> list[str]:
    """Name the AWS managed policies that the scenario and its attacker attach."""
    arns = [
        *plan.smtp_user.attached_policy_arns,
        *(
            str(call.api.parameters.get("PolicyArn", ""))
            for call in plan.attacker_calls
            if call.api
        ),
    ]
    return [
        arn.removeprefix(AWS_MANAGED_POLICY_PREFIX)
        for arn in arns
        if arn.startswith(AWS_MANAGED_POLICY_PREFIX)
    ]


def _create_smtp_user(plan: SmtpUserPlan, target: _AwsTarget) -> _LeakedKey:
    iam = target.setup_client("iam", RESPONDER_REGION)
    user = iam.create_user(UserName=plan.user_name)["User"]
    iam.put_user_policy(
        UserName=plan.user_name,
        PolicyName=plan.policy_name,
        PolicyDocument=json.dumps(plan.policy_document),
    )
    for policy_arn in plan.attached_policy_arns:
        iam.attach_user_policy(UserName=plan.user_name, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=plan.user_name)["AccessKey"]
    return _LeakedKey(
        user_name=plan.user_name,
        user_id=user["UserId"],
        user_arn=user["Arn"],
        access_key_id=key["AccessKeyId"],
        secret_access_key=SecretValue(key["SecretAccessKey"]),
    )


def _create_role(plan: RolePlan, target: _AwsTarget) -> None:
    target.setup_client("iam", RESPONDER_REGION).create_role(
        RoleName=plan.role_name,
        AssumeRolePolicyDocument=json.dumps(plan.trust_policy),
        Description=plan.description,
    )


def _configure_ses_region(account_id: str, plan: SesRegionPlan, target: _AwsTarget) -> None:
    moto_fills.set_ses_account_state(
        account_id,
        plan.region,
        moto_fills.SesAccountState(
            production_access_enabled=plan.production_access_enabled,
            max_24_hour_send=plan.max_24_hour_send,
            max_send_rate=plan.max_send_rate,
        ),
    )
    ses = target.setup_client("ses", plan.region)
    for domain in plan.verified_domains:
        ses.verify_domain_identity(Domain=domain)


def _create_consumer_secret(
    plan: ConsumerSecretPlan, leaked: _LeakedKey, target: _AwsTarget
) -> None:
    password = SecretValue(smtp_password_v4(leaked.secret_access_key.reveal(), plan.smtp_region))
    value = {
        "host": smtp_endpoint(plan.smtp_region),
        "port": plan.port,
        "username": leaked.access_key_id,
        "password": password.reveal(),
        "from": plan.from_address,
    }
    target.setup_client("secretsmanager", plan.region).create_secret(
        Name=plan.secret_id, Description=plan.description, SecretString=json.dumps(value)
    )


def _create_consumer_parameters(
    plan: ConsumerParametersPlan, leaked: _LeakedKey, target: _AwsTarget
) -> None:
    password = SecretValue(smtp_password_v4(leaked.secret_access_key.reveal(), plan.smtp_region))
    ssm = target.setup_client("ssm", plan.region)
    ssm.put_parameter(
        Name=f"{plan.path}/smtp_host", Value=smtp_endpoint(plan.smtp_region), Type="String"
    )
    ssm.put_parameter(Name=f"{plan.path}/smtp_user", Value=leaked.access_key_id, Type="String")
    ssm.put_parameter(
        Name=f"{plan.path}/smtp_password", Value=password.reveal(), Type="SecureString"
    )


class _Attacker:
    """Attacker simulation: calls made with the leaked key, and the CloudTrail record of each.

    An access key the attacker creates for another user is kept, so that later
    calls can be made, and recorded, with it.
    """

    def __init__(self, account_id: str, leaked: _LeakedKey, target: _AwsTarget) -> None:
        self._account_id = account_id
        self._leaked = leaked
        self._target = target
        self._created_keys: dict[str, _LeakedKey] = {}

    def _key(self, call: AttackerCall) -> _LeakedKey:
        return self._created_keys[call.with_key_of] if call.with_key_of else self._leaked

    def perform(self, call: AttackerCall) -> None:
        response: dict[str, Any] | None = None
        if call.api is not None:
            key = self._key(call)
            client = self._target.client(
                call.api.service,
                call.region,
                key.access_key_id,
                key.secret_access_key.reveal(),
            )
            parameters = _with_account(call.api.parameters, self._account_id)
            response = getattr(client, call.api.method)(**parameters)
        moto_fills.record_cloudtrail_event(
            self._account_id, self._record(call, _response_elements(call, response))
        )
        if call.event_name == "CreateUser" and response is not None:
            moto_fills.backdate_iam_user(
                self._account_id, response["User"]["UserName"], call.event_time
            )
        if call.event_name == "CreateAccessKey" and response is not None:
            self._keep_key(response["AccessKey"])

    def _keep_key(self, created: Mapping[str, Any]) -> None:
        user = self._target.setup_client("iam", RESPONDER_REGION).get_user(
            UserName=created["UserName"]
        )["User"]
        self._created_keys[created["UserName"]] = _LeakedKey(
            user_name=created["UserName"],
            user_id=user["UserId"],
            user_arn=user["Arn"],
            access_key_id=created["AccessKeyId"],
            secret_access_key=SecretValue(created["SecretAccessKey"]),
        )

    def _client(self, service: str, region: str) -> Any:
        return self._target.client(
            service, region, self._leaked.access_key_id, self._leaked.secret_access_key.reveal()
        )

    def send(self, message: AttackerSend) -> None:
        ses = self._client("ses", message.region)
        if message.raw:
            mime = EmailMessage()
            mime["From"] = message.source
            mime["To"] = message.destination
            mime["Subject"] = message.subject
            mime.set_content("Confirm your payment details within 24 hours.")
            # The recipients come from the To header, as when Destinations is left out.
            ses.send_raw_email(Source=message.source, RawMessage={"Data": mime.as_bytes()})
            return
        ses.send_email(
            Source=message.source,
            Destination={"ToAddresses": [message.destination]},
            Message={
                "Subject": {"Data": message.subject},
                "Body": {"Text": {"Data": "Confirm your payment details within 24 hours."}},
            },
        )

    def _record(
        self, call: AttackerCall, response_elements: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Build the record as CloudTrail writes it for a call by an IAM user's access key."""
        key = self._key(call)
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": key.user_id,
                "arn": key.user_arn,
                "accountId": self._account_id,
                "accessKeyId": key.access_key_id,
                "userName": key.user_name,
            },
            "eventTime": format_timestamp(call.event_time),
            "eventSource": call.event_source,
            "eventName": call.event_name,
            "awsRegion": call.region,
            "sourceIPAddress": call.source_ip,
            "userAgent": call.user_agent,
        }
        if call.error_code is not None:
            record["errorCode"] = call.error_code
            record["errorMessage"] = (call.error_message or "").format(
                user_arn=key.user_arn, account_id=self._account_id
            )
        record.update(
            {
                "requestParameters": _json_safe(
                    _with_account(call.request_parameters, self._account_id)
                    if call.request_parameters is not None
                    else None
                ),
                "responseElements": response_elements,
                "requestID": call.request_id,
                "eventID": call.event_id,
                "readOnly": call.read_only,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": self._account_id,
                "eventCategory": "Management",
                "tlsDetails": {
                    "tlsVersion": "TLSv1.3",
                    "cipherSuite": "TLS_AES_128_GCM_SHA256",
                    "clientProvidedHostHeader": _api_host(call),
                },
            }
        )
        return record


def _response_elements(
    call: AttackerCall, response: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """Build responseElements as CloudTrail logs them for the calls that create IAM entities.

    CloudTrail writes IAM dates as `Dec 3, 2026 7:18:52 AM` and never logs a
    secret access key or a password. Every other call of the scenarios logs none.
    """
    if response is None:
        return None
    if call.event_name == "CreateUser":
        user = response["User"]
        return {
            "user": {
                "path": user["Path"],
                "userName": user["UserName"],
                "userId": user["UserId"],
                "arn": user["Arn"],
                "createDate": _cloudtrail_iam_date(call.event_time),
            }
        }
    if call.event_name == "CreateAccessKey":
        key = response["AccessKey"]
        return {
            "accessKey": {
                "userName": key["UserName"],
                "accessKeyId": key["AccessKeyId"],
                "status": key["Status"],
                "createDate": _cloudtrail_iam_date(call.event_time),
            }
        }
    if call.event_name == "CreatePolicy":
        policy = response["Policy"]
        return {
            "policy": {
                "policyName": policy["PolicyName"],
                "policyId": policy["PolicyId"],
                "arn": policy["Arn"],
                "path": policy["Path"],
                "defaultVersionId": policy["DefaultVersionId"],
                "attachmentCount": 0,
                "isAttachable": True,
                "createDate": _cloudtrail_iam_date(call.event_time),
                "updateDate": _cloudtrail_iam_date(call.event_time),
            }
        }
    if call.event_name == "CreateGroup":
        group = response["Group"]
        return {
            "group": {
                "path": group["Path"],
                "groupName": group["GroupName"],
                "groupId": group["GroupId"],
                "arn": group["Arn"],
                "createDate": _cloudtrail_iam_date(call.event_time),
            }
        }
    if call.event_name == "CreateLoginProfile":
        profile = response["LoginProfile"]
        return {
            "loginProfile": {
                "userName": profile["UserName"],
                "createDate": _cloudtrail_iam_date(call.event_time),
                "passwordResetRequired": bool(profile.get("PasswordResetRequired", False)),
            }
        }
    return None


def _with_account(parameters: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """Return the parameters with `{account_id}` in their text replaced by the account's ID."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{account_id}", account_id)
        if isinstance(value, Mapping):
            return {key: fill(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [fill(item) for item in value]
        return value

    return {key: fill(value) for key, value in parameters.items()}


def _cloudtrail_iam_date(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{moment:%b} {moment.day}, {moment.year} {hour}:{moment:%M:%S %p}"


def _api_host(call: AttackerCall) -> str:
    service = call.event_source.removesuffix(".amazonaws.com")
    if service in ("iam", "sts"):
        return f"{service}.amazonaws.com"
    if service == "ses":
        return f"email.{call.region}.amazonaws.com"
    return f"{service}.{call.region}.amazonaws.com"


def _json_safe(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else json.loads(json.dumps(value))
