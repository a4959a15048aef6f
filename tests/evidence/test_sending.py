"""SES sending analysis: the CLI sample, moto's statistics, baselines, spikes and rates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from remediate.aws.gateways import AwsGateways
from remediate.aws.ses import SendDataPoint, SendQuota
from remediate.core.timeutil import utc_now
from remediate.evidence.indicators import default_catalogue
from remediate.evidence.sending import (
    FLAG_BOUNCE_RATE,
    FLAG_NEW_REGION,
    FLAG_SPIKE,
    FLAG_UNUSED_REGION,
    analyse_region,
    collect_sending,
    parse_send_statistics,
    sending_findings,
)

THRESHOLDS = default_catalogue().sending.thresholds
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def steady_points(days: int = 13, attempts: int = 10, bounces: int = 0) -> list[SendDataPoint]:
    """One data point every six hours for `days` days before NOW."""
    start = NOW - timedelta(days=days)
    return [
        SendDataPoint(start + timedelta(hours=6 * i), attempts, bounces, 0, 0)
        for i in range(days * 4)
    ]


def test_cli_sample_parsed(samples_dir: Path) -> None:
    response = json.loads(
        (samples_dir / "ses" / "get-send-statistics.aws-cli-example.json").read_text()
    )

    points = parse_send_statistics(response)

    assert points == [
        SendDataPoint(datetime(2013, 6, 12, 0, 47, tzinfo=UTC), 1, 0, 0, 0),
        SendDataPoint(datetime(2013, 6, 12, 19, 32, tzinfo=UTC), 2, 0, 0, 0),
    ]


def test_cli_sample_in_new_region(samples_dir: Path) -> None:
    response = json.loads(
        (samples_dir / "ses" / "get-send-statistics.aws-cli-example.json").read_text()
    )
    quota = json.loads((samples_dir / "ses" / "get-send-quota.aws-cli-example.json").read_text())
    now = datetime(2013, 6, 12, 20, 0, tzinfo=UTC)

    region = analyse_region(
        "us-east-1",
        parse_send_statistics(response),
        SendQuota(quota["Max24HourSend"], quota["MaxSendRate"], quota["SentLast24Hours"]),
        now=now,
        thresholds=THRESHOLDS,
    )

    assert region.delivery_attempts == 3
    assert region.bounce_rate == 0.0
    assert region.baseline is None
    assert [flag.kind for flag in region.flags] == [FLAG_NEW_REGION]
    assert region.abuse_window == (
        datetime(2013, 6, 12, 0, 47, tzinfo=UTC),
        datetime(2013, 6, 12, 19, 32, tzinfo=UTC),
    )
    assert region.to_record()["quota"] == {
        "max_24_hour_send": 200.0,
        "max_send_rate": 1.0,
        "sent_last_24_hours": 1.0,
    }


def test_cli_sample_in_old_region(samples_dir: Path) -> None:
    response = json.loads(
        (samples_dir / "ses" / "get-send-statistics.aws-cli-example.json").read_text()
    )

    region = analyse_region(
        "us-east-1", parse_send_statistics(response), None, now=NOW, thresholds=THRESHOLDS
    )

    assert region.flags == ()
    assert region.baseline is None
    assert region.abuse_window is None


def test_steady_region_has_baseline() -> None:
    region = analyse_region("eu-west-1", steady_points(), None, now=NOW, thresholds=THRESHOLDS)

    assert region.baseline == 10.0
    assert region.flags == ()


def test_spike_flagged() -> None:
    spike_time = NOW - timedelta(hours=3)
    points = [*steady_points(), SendDataPoint(spike_time, 900, 40, 2, 0)]

    region = analyse_region("eu-west-1", points, None, now=NOW, thresholds=THRESHOLDS)

    spikes = [flag for flag in region.flags if flag.kind == FLAG_SPIKE]
    assert len(spikes) == 1
    assert spikes[0].timestamps == (spike_time,)
    assert spikes[0].description == (
        "1 data points of 50 or more delivery attempts (peak 900) against a baseline of 10 "
        "per 15 minutes"
    )
    assert region.abuse_window == (spike_time, spike_time)


def test_small_rise_not_spike() -> None:
    points = [*steady_points(attempts=2), SendDataPoint(NOW - timedelta(hours=3), 40, 0, 0, 0)]

    region = analyse_region("eu-west-1", points, None, now=NOW, thresholds=THRESHOLDS)

    assert region.flags == ()


def test_bounce_rate_near_review() -> None:
    region = analyse_region(
        "eu-west-1", steady_points(bounces=1), None, now=NOW, thresholds=THRESHOLDS
    )

    assert region.bounce_rate == 0.1
    assert [flag.kind for flag in region.flags] == [FLAG_BOUNCE_RATE]
    assert region.abuse_window is None
    assert region.flags[0].description == (
        "bounce rate 10.00% over 520 delivery attempts; AWS reviews an account at 5.0%"
    )


def test_reputation_severity_by_rate() -> None:
    """Past AWS's review level the reputation finding is high; just below it, medium."""
    past = analyse_region(
        "eu-west-1", steady_points(bounces=1), None, now=NOW, thresholds=THRESHOLDS
    )
    # Old enough that the region is not new: only the rate is flagged.
    near_points = [SendDataPoint(NOW - timedelta(days=10), 200, 9, 0, 0)]
    near = analyse_region("eu-west-2", near_points, None, now=NOW, thresholds=THRESHOLDS)

    [past_finding] = sending_findings([past])
    [near_finding] = sending_findings([near])
    [both] = sending_findings([near, past])

    assert [flag.description for flag in near.flags] == [
        "bounce rate 4.50% over 200 delivery attempts; AWS reviews an account at 5.0%"
    ]
    assert past_finding.id == "ses-reputation-risk"
    assert past_finding.severity == "high"
    assert near_finding.severity == "medium"
    assert both.severity == "high"


def test_rates_need_volume() -> None:
    points = [SendDataPoint(NOW - timedelta(days=10), 20, 10, 1, 0)]

    region = analyse_region("eu-west-1", points, None, now=NOW, thresholds=THRESHOLDS)

    assert region.flags == ()


def test_unused_region_flagged() -> None:
    region = analyse_region(
        "ap-south-1", steady_points(), None, now=NOW, thresholds=THRESHOLDS, unused=True
    )

    assert [flag.kind for flag in region.flags] == [FLAG_UNUSED_REGION]


def test_findings_name_data_points() -> None:
    spike_time = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    points = [*steady_points(), SendDataPoint(spike_time, 900, 0, 0, 0)]
    region = analyse_region("eu-west-1", points, None, now=NOW, thresholds=THRESHOLDS)

    findings = sending_findings([region])

    assert [finding.id for finding in findings] == ["ses-sending-spike"]
    assert findings[0].data_points == ("eu-west-1@2026-12-04T09:00:00Z",)
    assert findings[0].event_ids == ()
    assert findings[0].regions == ("eu-west-1",)


def test_moto_statistics_read(moto_session: boto3.Session) -> None:
    ses = moto_session.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="alerts@example.com")
    ses.send_email(
        Source="alerts@example.com",
        Destination={"ToAddresses": ["oncall@example.com"]},
        Message={"Subject": {"Data": "test"}, "Body": {"Text": {"Data": "test"}}},
    )
    gateways = AwsGateways(moto_session)

    result = collect_sending(gateways.ses, ["us-east-1", "eu-west-1"], now=utc_now())

    by_region = {region.region: region for region in result.regions}
    assert result.gaps == ()
    assert sorted(by_region) == ["eu-west-1", "us-east-1"]
    assert by_region["us-east-1"].delivery_attempts == 1
    assert by_region["us-east-1"].quota == SendQuota(200.0, 1.0, 1.0)
    assert [flag.kind for flag in by_region["us-east-1"].flags] == [FLAG_NEW_REGION]
    assert by_region["eu-west-1"].delivery_attempts == 0
    assert by_region["eu-west-1"].flags == ()


def test_record_is_json() -> None:
    points = [*steady_points(), SendDataPoint(NOW - timedelta(hours=3), 900, 0, 0, 0)]
    region = analyse_region(
        "eu-west-1", points, SendQuota(50000, 14, 900), now=NOW, thresholds=THRESHOLDS
    )

    record = region.to_record()

    assert json.loads(json.dumps(record)) == record
    assert record["points"][-1] == {
        "timestamp": "2026-12-04T09:00:00Z",
        "delivery_attempts": 900,
        "bounces": 0,
        "complaints": 0,
        "rejects": 0,
    }
    assert record["flags"][0]["kind"] == "spike"
    assert record["flags"][0]["start"] == "2026-12-04T09:00:00Z"
    assert record["abuse_window"] == {
        "start": "2026-12-04T09:00:00Z",
        "end": "2026-12-04T09:00:00Z",
    }


def test_table_window_ends_with_last_point() -> None:
    """The terminal shows the abuse window as the report does: to the last point's end."""
    from remediate.evidence.investigation import build_investigation, sending_table

    first = NOW - timedelta(hours=3)
    points = [
        *steady_points(),
        SendDataPoint(first, 900, 40, 2, 0),
        SendDataPoint(first + timedelta(minutes=15), 800, 30, 1, 0),
    ]
    region = analyse_region("eu-west-1", points, None, now=NOW, thresholds=THRESHOLDS)
    investigation = build_investigation("AKIAIOSFODNN7EXAMPLE", [], sending=[region])

    [row] = sending_table(investigation).rows

    assert row[-1] == "2026-12-04T09:00:00Z to 2026-12-04T09:30:00Z"
