"""The investigate step over in-process moto, with the rehearsal fills for LookupEvents.

The step runs against a small StepContext double that records what the step
journals; one test runs it through the engine's runner instead.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediate.aws.gateways import AwsGateways
from remediate.core.interaction import AnswerValue, Question
from remediate.core.secrets import SecretValue
from remediate.rehearsal.moto_fills import (
    SendDataPoint,
    install_fills,
    record_cloudtrail_event,
    set_send_statistics,
)
from remediate.steps.base import StepSpec, StepStatus
from remediate.steps.investigate import InvestigateStep
from tests.evidence.trail_fixtures import (
    BUCKET,
    PREFIX,
    gzipped_log,
    log_key,
    make_bucket,
    record_s3_calls,
    ses_record,
)
from tests.helpers import FixedClock, RecordingConsole, make_context, run_step

ACCOUNT = "123456789012"
KEY = "AKIAIOSFODNN7EXAMPLE"
# A day after the last event of the 2015 sample, so that it is within LookupEvents' 90 days.
NOW = datetime(2015, 2, 5, 12, 0, tzinfo=UTC)


@dataclass
class RecordingContext:
    """A StepContext that keeps every record and gap, over real gateways."""

    aws: AwsGateways
    access_key_id: str = KEY
    regions: tuple[str, ...] = ()
    clock: datetime = NOW
    incident_id: str = "test-incident"
    step_id: str = "investigate"
    dry_run: bool = False
    console: RecordingConsole = field(default_factory=RecordingConsole)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)
    # Outputs of earlier steps, by step kind.
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def output_of(self, kind: str) -> Mapping[str, Any]:
        return self.outputs.get(kind, {})

    def ask(self, question: Question) -> AnswerValue:
        raise AssertionError(f"investigate asked {question.id}")

    def mutate(self, call: Any, action: Any, describe: Any = None) -> Any:
        raise AssertionError(f"investigate made a mutating call: {call.operation}")

    def record(self, record_type: str, **fields: Any) -> None:
        # Strict JSON, with no help for dates, as proof that the records are JSON-safe.
        json.dumps(fields)
        self.records.append((record_type, fields))

    def record_gap(
        self, source: str, reason: str, *, region: str | None = None, standing: bool = False
    ) -> None:
        self.record("gap", source=source, region=region, reason=reason, standing=standing)

    def write_evidence(self, name: str, data: Any) -> None:
        # Strict JSON here too: the bundle must hold only JSON-safe data.
        self.evidence[name] = json.loads(json.dumps(data))

    def seal_evidence(self) -> None:
        raise AssertionError("investigate never seals the bundle")

    def keep_secret(self, name: str, value: SecretValue) -> None:
        raise AssertionError("investigate keeps no secret")

    def secret(self, name: str) -> SecretValue | None:
        return None

    def write_reports(self) -> list[Path]:
        return []

    def of_type(self, record_type: str) -> list[dict[str, Any]]:
        return [fields for kind, fields in self.records if kind == record_type]


def load_records(samples_dir: Path, name: str) -> list[dict[str, Any]]:
    document = json.loads((samples_dir / "cloudtrail" / name).read_text("utf-8"))
    records: list[dict[str, Any]] = document["Records"] if isinstance(document, dict) else document
    return records


@pytest.fixture
def world(moto_session: boto3.Session) -> boto3.Session:
    install_fills()
    return moto_session


def seed_ses_sample(samples_dir: Path) -> None:
    for record in load_records(samples_dir, "ses-api-calls-aws-docs-2015.json"):
        record_cloudtrail_event(ACCOUNT, record)


def steady_with_spike(spike_time: datetime) -> list[SendDataPoint]:
    start = NOW - timedelta(days=13)
    steady = [SendDataPoint(start + timedelta(hours=6 * i), 10) for i in range(52)]
    return [*steady, SendDataPoint(spike_time, 900, bounces=60)]


def investigate(context: RecordingContext, **params: Any) -> Any:
    step = InvestigateStep(
        StepSpec(id="investigate", kind="investigate", title="Investigate", params=params)
    )
    plan = step.plan(context)
    return step.apply(context, plan)


def test_plan_is_read_only(world: boto3.Session) -> None:
    context = RecordingContext(AwsGateways(world), regions=("eu-west-1",))
    step = InvestigateStep(StepSpec(id="investigate", kind="investigate", title="Investigate"))

    plan = step.plan(context)

    assert [(c.service, c.operation) for c in plan.calls] == [
        ("cloudtrail", "LookupEvents"),
        ("ses", "GetSendStatistics"),
        ("ses", "GetSendQuota"),
        ("sesv2", "GetAccount"),
        ("cloudwatch", "GetMetricData"),
    ]
    assert not plan.mutating
    assert plan.calls[0].params["regions"] == ["us-east-1", "eu-west-1"]
    assert plan.calls[0].params["StartTime"] == NOW - timedelta(days=90)


def test_default_regions_from_table(world: boto3.Session) -> None:
    context = RecordingContext(AwsGateways(world))
    step = InvestigateStep(StepSpec(id="investigate", kind="investigate", title="Investigate"))

    regions = step.plan(context).calls[0].params["regions"]

    assert regions[0] == "us-east-1"
    assert "eu-south-1" in regions
    assert "us-gov-west-1" not in regions


def test_param_regions_used(world: boto3.Session) -> None:
    context = RecordingContext(AwsGateways(world))
    step = InvestigateStep(
        StepSpec(
            id="investigate",
            kind="investigate",
            title="Investigate",
            params={"regions": ["ap-south-1"]},
        )
    )

    assert step.plan(context).calls[0].params["regions"] == ["us-east-1", "ap-south-1"]


def test_compromised_key(world: boto3.Session, samples_dir: Path) -> None:
    seed_ses_sample(samples_dir)
    spike_time = NOW - timedelta(hours=2)
    set_send_statistics(ACCOUNT, "eu-west-1", steady_with_spike(spike_time), as_of=NOW)
    context = RecordingContext(AwsGateways(world), regions=("us-west-2", "eu-west-1"))

    result = investigate(context)

    assert result.status == StepStatus.OK
    assert result.outputs["verdict"] == "compromised"
    assert result.outputs["finding_ids"] == [
        "ses-identity-verified-then-deleted",
        "ses-sending-spike",
        "ses-identity-deleted",
        "ses-identity-verification",
        "ses-recon",
        "ses-reputation-risk",
    ]
    assert result.outputs["event_count"] == 17
    assert result.outputs["regions"] == ["us-east-1", "us-west-2", "eu-west-1"]
    assert result.outputs["suspect_regions"] == ["eu-west-1", "us-west-2"]
    assert result.summary == "verdict compromised: 6 finding(s) from 17 event(s) in 3 regions"


def test_compromised_key_journal(world: boto3.Session, samples_dir: Path) -> None:
    seed_ses_sample(samples_dir)
    set_send_statistics(
        ACCOUNT, "eu-west-1", steady_with_spike(NOW - timedelta(hours=2)), as_of=NOW
    )
    context = RecordingContext(AwsGateways(world), regions=("us-west-2", "eu-west-1"))

    investigate(context)

    events = {fields["region"]: fields for fields in context.of_type("evidence.events")}
    assert sorted(events) == ["eu-west-1", "us-east-1", "us-west-2"]
    assert events["us-west-2"]["source"] == "cloudtrail:LookupEvents"
    assert len(events["us-west-2"]["events"]) == 17
    assert events["us-east-1"]["events"] == []
    sending = {fields["region"]: fields for fields in context.of_type("evidence.sending")}
    assert [flag["kind"] for flag in sending["eu-west-1"]["flags"]] == ["spike", "bounce-rate"]
    # The spike of 900 and the four steady points of the last day.
    assert sending["eu-west-1"]["quota"] == {
        "max_24_hour_send": 200.0,
        "max_send_rate": 1.0,
        "sent_last_24_hours": 940.0,
    }
    finding = context.of_type("finding")[0]
    assert finding["id"] == "ses-identity-verified-then-deleted"
    assert finding["severity"] == "high"
    assert finding["event_ids"] == [
        "eb2e1616-2b7b-4cd2-b6dc-29f83fc1789f",
        "17bb827a-dc8c-4156-90b1-c214e1d135c9",
    ]
    gaps = context.of_type("gap")
    assert [(gap["source"], gap.get("standing")) for gap in gaps] == [
        ("ses:SMTP", True),
        ("cloudtrail:data-events", True),
        ("cloudtrail:LookupEvents", True),
    ]
    verdict = context.of_type("verdict")
    assert len(verdict) == 1
    assert verdict[0]["verdict"] == "compromised"
    assert verdict[0]["reasons"][0].startswith("SES identity verified, then deleted")


def test_console_summary(world: boto3.Session, samples_dir: Path) -> None:
    seed_ses_sample(samples_dir)
    context = RecordingContext(AwsGateways(world), regions=("us-west-2",))

    investigate(context)

    lines = context.console.lines
    assert lines[0] == "heading: Investigating AKIAIOSFODNN7EXAMPLE in 2 regions"
    assert "info: 17 CloudTrail events from 2015-02-02T21:34:50Z to 2015-02-04T01:05:33Z." in lines
    assert "table: Findings" in lines
    assert lines[-1] == (
        "error: Verdict: compromised (ses-identity-verified-then-deleted, ses-identity-deleted, "
        "ses-identity-verification, ses-recon)"
    )


def test_denied_region_degrades(world: boto3.Session, samples_dir: Path) -> None:
    seed_ses_sample(samples_dir)
    gateways = AwsGateways(world)
    denied = Stubber(gateways.clients.client("cloudtrail", "eu-west-1"))
    denied.add_client_error(
        "lookup_events",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: cloudtrail:LookupEvents",
        http_status_code=400,
    )
    context = RecordingContext(gateways, regions=("us-west-2", "eu-west-1"))

    with denied:
        result = investigate(context)

    assert result.status == StepStatus.DEGRADED
    assert result.outputs["verdict"] == "compromised"
    assert result.outputs["event_count"] == 17
    failed = [gap for gap in context.of_type("gap") if not gap.get("standing")]
    assert [(gap["source"], gap["region"]) for gap in failed] == [
        ("cloudtrail:LookupEvents", "eu-west-1")
    ]
    assert result.summary.endswith("; 1 source(s) could not be read")
    assert any(
        line.startswith("warning: Not read: cloudtrail:LookupEvents in eu-west-1")
        for line in context.console.lines
    )


def test_quiet_key_no_evidence(world: boto3.Session) -> None:
    context = RecordingContext(AwsGateways(world), regions=("eu-west-1",))

    result = investigate(context)

    assert result.status == StepStatus.OK
    assert result.outputs["verdict"] == "no-evidence"
    assert result.outputs["finding_ids"] == []
    assert result.outputs["event_count"] == 0
    assert context.of_type("verdict")[0]["limited_by_gaps"] is True
    assert (
        "info: Verdict: no-evidence; the evidence behind it is incomplete:" in context.console.lines
    )


def test_unused_region_sending(world: boto3.Session) -> None:
    points = [
        SendDataPoint(NOW - timedelta(days=10) + timedelta(hours=6 * i), 10) for i in range(20)
    ]
    set_send_statistics(ACCOUNT, "ap-south-1", points, as_of=NOW)
    context = RecordingContext(AwsGateways(world), regions=("ap-south-1",))

    result = investigate(context, unused_regions=["ap-south-1"])

    assert result.outputs["finding_ids"] == ["ses-sending-unused-region"]
    assert result.outputs["suspect_regions"] == ["ap-south-1"]
    assert result.outputs["verdict"] == "compromised"


def test_federation_token_redacted(world: boto3.Session, samples_dir: Path) -> None:
    # The Stratus Red Team sample names a region that does not exist; the events move to us-east-1.
    for record in load_records(samples_dir, "stratus-aws.persistence.sts-federation-token.json"):
        record_cloudtrail_event(ACCOUNT, dict(copy.deepcopy(record), awsRegion="us-east-1"))
    context = RecordingContext(
        AwsGateways(world),
        access_key_id="AKIA6V1GNZTT65XQH36M",
        regions=("us-east-1",),
        clock=datetime(2024, 12, 1, tzinfo=UTC),
    )

    result = investigate(context)

    journal = json.dumps(context.records)
    assert result.outputs["session_access_key_ids"] == ["ASIASTJKC5GCM7ZE6LUP"]
    assert result.outputs["event_count"] == 2
    assert result.outputs["finding_ids"] == ["iam-persistence", "derived-credential-activity"]
    assert "IQoJb3JpZ2lu" not in journal


@pytest.mark.parametrize("days", [0, "90", True])
def test_invalid_lookback_rejected(world: boto3.Session, days: object) -> None:
    from remediate.core.errors import UsageError

    context = RecordingContext(AwsGateways(world), regions=("eu-west-1",))

    with pytest.raises(UsageError, match="lookback_days"):
        investigate(context, lookback_days=days)


def test_through_engine_runner(world: boto3.Session, samples_dir: Path) -> None:
    seed_ses_sample(samples_dir)
    context = make_context(
        world, KEY, regions=("us-west-2",), clock=FixedClock(NOW), console=RecordingConsole()
    )

    result = run_step(context, "investigate")

    types = [record.type for record in context.journal.records]
    assert result.outputs["verdict"] == "compromised"
    assert types.count("finding") == 4
    assert types.count("verdict") == 1
    assert types.count("evidence.events") == 2
    assert types.count("evidence.sending") == 2


BUCKET_URL = f"s3://{BUCKET}/{PREFIX}"


def upload_log(session: boto3.Session, key: str, records: list[dict[str, Any]]) -> None:
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=gzipped_log(records))


def test_plan_reads_bucket(world: boto3.Session) -> None:
    context = RecordingContext(AwsGateways(world), regions=("eu-west-1",))
    step = InvestigateStep(
        StepSpec(
            id="investigate",
            kind="investigate",
            title="Investigate",
            params={"trail_bucket": BUCKET_URL},
        )
    )

    plan = step.plan(context)

    assert [(c.service, c.operation, c.resource) for c in plan.calls[-2:]] == [
        ("s3", "ListObjectsV2", BUCKET_URL),
        ("s3", "GetObject", BUCKET_URL),
    ]
    assert not plan.mutating


@pytest.mark.parametrize("bucket", ["org-trail-logs/trails", 42])
def test_invalid_trail_bucket_rejected(world: boto3.Session, bucket: object) -> None:
    from remediate.core.errors import UsageError

    context = RecordingContext(AwsGateways(world), regions=("eu-west-1",))

    with pytest.raises(UsageError, match="The investigate step's trail_bucket is invalid"):
        investigate(context, trail_bucket=bucket)


def test_bucket_merged_with_lookup(world: boto3.Session, samples_dir: Path) -> None:
    seed_ses_sample(samples_dir)
    records = load_records(samples_dir, "ses-api-calls-aws-docs-2015.json")
    only_in_bucket = ses_record(
        samples_dir,
        "ListIdentities",
        access_key_id=KEY,
        event_id="b0c4e7a1-0000-4000-8000-000000000001",
        event_time="2015-02-04T03:10:00Z",
        region="us-west-2",
    )
    calls = record_s3_calls(world)
    make_bucket(world)
    # Two events that LookupEvents returns as well, and one that only the bucket holds.
    upload_log(
        world,
        log_key(ACCOUNT, "us-west-2", "2015/02/04", "f_20150204T0315Z_a.json.gz"),
        [records[0], records[1], only_in_bucket],
    )
    upload_log(
        world,
        log_key("210987654321", "us-west-2", "2015/02/04", "f_20150204T0315Z_b.json.gz"),
        [only_in_bucket],
    )
    calls.clear()
    context = RecordingContext(
        AwsGateways(world),
        regions=("us-west-2",),
        outputs={"identify": {"account": ACCOUNT}},
    )

    result = investigate(context, trail_bucket=BUCKET_URL, lookback_days=4)

    assert result.status == StepStatus.OK
    assert result.outputs["event_count"] == 18
    assert result.outputs["trail_bucket"] == {
        "location": BUCKET_URL,
        "since": "2015-02-01T12:00:00Z",
        "until": "2015-02-05T12:00:00Z",
        "objects_listed": 1,
        "objects_read": 1,
    }
    # The other account's folder is not listed; the days from 2015-01-31 to 2015-02-06 are.
    listed = [target for name, target in calls if name == "ListObjectsV2"]
    assert f"{PREFIX}/AWSLogs/210987654321/" not in listed
    days = [target.rsplit("us-west-2/", 1)[1] for target in listed if "us-west-2/" in target]
    assert sorted(days) == ["2015/01/31/", *(f"2015/02/0{day}/" for day in range(1, 7))]
    events = {fields["region"]: fields for fields in context.of_type("evidence.events")}
    assert events["us-west-2"]["source"] == "cloudtrail:LookupEvents, cloudtrail:trail-bucket"
    [note] = context.of_type("note")
    assert note["source"] == "cloudtrail:trail-bucket"
    assert note["location"] == BUCKET_URL
    assert note["objects_read"] == 1
    assert note["unreadable"] == []
    assert note["skipped"] == [
        {
            "path": f"s3://{BUCKET}/{PREFIX}/AWSLogs/",
            "reason": f"1 other account folder(s) not read (210987654321), because the key "
            f"belongs to {ACCOUNT}",
        }
    ]
    assert "info: Read 1 of 1 trail log file(s) from s3://org-trail-logs/trails/prod." in (
        context.console.lines
    )


def test_denied_bucket_degrades(world: boto3.Session, samples_dir: Path) -> None:
    seed_ses_sample(samples_dir)
    gateways = AwsGateways(world)
    denied = Stubber(gateways.clients.client("s3"))
    denied.add_client_error(
        "list_objects_v2",
        service_error_code="AccessDenied",
        service_message="Access Denied",
        http_status_code=403,
    )
    context = RecordingContext(gateways, regions=("us-west-2",))

    with denied:
        result = investigate(context, trail_bucket=BUCKET_URL)

    assert result.status == StepStatus.DEGRADED
    assert result.outputs["event_count"] == 17
    failed = [gap for gap in context.of_type("gap") if not gap.get("standing")]
    assert [(gap["source"], gap["region"]) for gap in failed] == [("cloudtrail:trail-bucket", None)]
    assert failed[0]["reason"].endswith("The operator's credentials lack s3:ListBucket.")


def test_attacker_review_pending(world: boto3.Session, samples_dir: Path) -> None:
    # The attacker requests production access with sesv2 PutAccountDetails. CloudTrail
    # records the call, and GetAccount shows the review it opened.
    region = "ap-southeast-2"
    world.client("sesv2", region_name=region).put_account_details(
        MailType="MARKETING",
        WebsiteURL="https://promo-deals.example.net",
        UseCaseDescription="Newsletters",
        ProductionAccessEnabled=True,
    )
    request = ses_record(
        samples_dir,
        "GetSendQuota",
        access_key_id=KEY,
        event_id="c0ffee00-0000-4000-8000-000000000002",
        event_time="2015-02-05T09:00:00Z",
        region=region,
    )
    request.update(
        eventName="PutAccountDetails",
        readOnly=False,
        requestParameters={"mailType": "MARKETING", "productionAccessEnabled": True},
    )
    record_cloudtrail_event(ACCOUNT, request)
    context = RecordingContext(AwsGateways(world), regions=(region,))

    result = investigate(context)

    assert result.outputs["finding_ids"] == [
        "ses-sandbox-exit",
        "ses-production-review-pending",
    ]
    [review] = [f for f in context.of_type("finding") if f["id"] == "ses-production-review-pending"]
    assert review["event_ids"] == ["c0ffee00-0000-4000-8000-000000000002"]
    assert review["data_points"] == [f"{region}@GetAccount"]
    sending = {fields["region"]: fields for fields in context.of_type("evidence.sending")}
    assert sending[region]["account"]["review_status"] == "PENDING"
    assert sending[region]["cloudwatch"]["missing"] == [
        "Send",
        "Bounce",
        "Complaint",
        "Reputation.BounceRate",
        "Reputation.ComplaintRate",
    ]
