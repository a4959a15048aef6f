"""CloudWatch AWS/SES metrics per region, from data points put into moto's CloudWatch first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
from botocore.stub import Stubber

from remediate.aws.gateways import AwsGateways
from remediate.aws.ses import SendDataPoint
from remediate.evidence.gaps import SES_METRICS, EvidenceGap
from remediate.evidence.indicators import default_catalogue
from remediate.evidence.sending import FLAG_BOUNCE_RATE, analyse_region, collect_sending
from remediate.evidence.ses_metrics import read_ses_metrics

REGION = "eu-west-1"
NOW = datetime(2026, 12, 4, 12, 20, tzinfo=UTC)
THRESHOLDS = default_catalogue().sending.thresholds


def put_ses_metrics(session: boto3.Session, region: str = REGION) -> None:
    """Three hours of sending with rising bounces, as SES would publish them."""
    cloudwatch = session.client("cloudwatch", region_name=region)
    hours = [NOW.replace(minute=0) - timedelta(hours=offset) for offset in (3, 2, 1)]
    data = []
    for moment, sends, bounces, rate in zip(
        hours, (40, 60, 80), (1, 3, 5), (0.021, 0.034, 0.047), strict=True
    ):
        data += [
            {"MetricName": "Send", "Timestamp": moment, "Value": sends, "Unit": "Count"},
            {"MetricName": "Bounce", "Timestamp": moment, "Value": bounces, "Unit": "Count"},
            {"MetricName": "Reputation.BounceRate", "Timestamp": moment, "Value": rate},
        ]
    cloudwatch.put_metric_data(Namespace="AWS/SES", MetricData=data)


def test_metrics_read(moto_session: boto3.Session) -> None:
    put_ses_metrics(moto_session)

    metrics = read_ses_metrics(AwsGateways(moto_session).cloudwatch, REGION, now=NOW)

    assert metrics.start == datetime(2026, 11, 20, 13, tzinfo=UTC)
    assert metrics.end == datetime(2026, 12, 4, 13, tzinfo=UTC)
    assert metrics.total("Send") == 180.0
    assert metrics.total("Bounce") == 9.0
    assert metrics.latest("Reputation.BounceRate") == (
        datetime(2026, 12, 4, 11, tzinfo=UTC),
        0.047,
    )
    assert metrics.missing == ("Complaint", "Reputation.ComplaintRate")
    record = metrics.to_record()
    assert json.loads(json.dumps(record)) == record
    assert record["period_seconds"] == 3600
    assert record["missing"] == ["Complaint", "Reputation.ComplaintRate"]
    assert record["missing_note"].startswith("CloudWatch returned no data point of these metrics")
    assert record["metrics"]["Send"]["total"] == 180.0
    assert record["metrics"]["Send"]["points"] == [
        ["2026-12-04T09:00:00Z", 40.0],
        ["2026-12-04T10:00:00Z", 60.0],
        ["2026-12-04T11:00:00Z", 80.0],
    ]
    assert record["metrics"]["Reputation.BounceRate"]["total"] is None
    assert record["metrics"]["Reputation.BounceRate"]["peak"] == {
        "timestamp": "2026-12-04T11:00:00Z",
        "value": 0.047,
    }
    assert record["metrics"]["Complaint"]["points"] == []


def test_no_metrics_is_not_gap(moto_session: boto3.Session) -> None:
    gateways = AwsGateways(moto_session)

    result = collect_sending(gateways.ses, [REGION], now=NOW, cloudwatch=gateways.cloudwatch)

    region = result.regions[0]
    assert result.gaps == ()
    assert region.metrics is not None
    assert region.metrics.missing == (
        "Send",
        "Bounce",
        "Complaint",
        "Reputation.BounceRate",
        "Reputation.ComplaintRate",
    )
    assert region.aws_bounce_rate is None


def test_aws_rate_next_to_statistics(moto_session: boto3.Session) -> None:
    put_ses_metrics(moto_session)
    gateways = AwsGateways(moto_session)

    result = collect_sending(gateways.ses, [REGION], now=NOW, cloudwatch=gateways.cloudwatch)

    record = result.regions[0].to_record()
    assert record["aws_reputation"] == {"bounce_rate": 0.047, "complaint_rate": None}
    assert record["totals"]["bounce_rate"] is None


def test_aws_rate_flags_low_volume(moto_session: boto3.Session) -> None:
    # Twenty attempts are too few for the statistics' rate to count, but AWS's
    # own rate counts at any volume.
    put_ses_metrics(moto_session)
    metrics = read_ses_metrics(AwsGateways(moto_session).cloudwatch, REGION, now=NOW)
    points = [SendDataPoint(NOW - timedelta(hours=1), 20, 1, 0, 0)]

    region = analyse_region(REGION, points, None, now=NOW, thresholds=THRESHOLDS, metrics=metrics)

    bounce = [flag for flag in region.flags if flag.kind == FLAG_BOUNCE_RATE]
    assert len(bounce) == 1
    assert bounce[0].description == (
        "AWS's own Reputation.BounceRate reached 4.70% at 2026-12-04T11:00:00Z; "
        "AWS reviews an account at 5.0%"
    )
    assert bounce[0].timestamps == (datetime(2026, 12, 4, 11, tzinfo=UTC),)


def test_both_rates_in_one_flag(moto_session: boto3.Session) -> None:
    put_ses_metrics(moto_session)
    metrics = read_ses_metrics(AwsGateways(moto_session).cloudwatch, REGION, now=NOW)
    points = [SendDataPoint(NOW - timedelta(hours=2), 200, 12, 0, 0)]

    region = analyse_region(REGION, points, None, now=NOW, thresholds=THRESHOLDS, metrics=metrics)

    bounce = [flag for flag in region.flags if flag.kind == FLAG_BOUNCE_RATE]
    assert bounce[0].description == (
        "bounce rate 6.00% over 200 delivery attempts; AWS's own Reputation.BounceRate "
        "reached 4.70% at 2026-12-04T11:00:00Z; AWS reviews an account at 5.0%"
    )
    assert bounce[0].timestamps == (
        datetime(2026, 12, 4, 10, 20, tzinfo=UTC),
        datetime(2026, 12, 4, 11, tzinfo=UTC),
    )


def test_denied_metrics_is_gap(moto_session: boto3.Session) -> None:
    gateways = AwsGateways(moto_session)
    denied = Stubber(gateways.clients.client("cloudwatch", REGION))
    denied.add_client_error(
        "get_metric_data",
        service_error_code="AccessDenied",
        service_message="User is not authorized to perform: cloudwatch:GetMetricData",
        http_status_code=403,
    )

    with denied:
        result = collect_sending(gateways.ses, [REGION], now=NOW, cloudwatch=gateways.cloudwatch)

    assert result.gaps == (
        EvidenceGap(
            SES_METRICS,
            f"cloudwatch GetMetricData on AWS/SES in {REGION} failed: AccessDenied: User is not "
            "authorized to perform: cloudwatch:GetMetricData. The operator's credentials lack "
            "cloudwatch:GetMetricData.",
            region=REGION,
        ),
    )
    assert result.regions[0].metrics is None
