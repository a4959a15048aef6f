"""LookupEvents across regions: paging, pacing, throttling, and regions that fail.

The rehearsal fills give moto a LookupEvents for the paging tests. botocore's
Stubber supplies what moto cannot: throttling and AccessDenied.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from remediate.aws.base import ClientFactory
from remediate.aws.cloudtrail import CloudTrailGateway
from remediate.evidence.gaps import LOOKUP_EVENTS, EvidenceGap
from remediate.evidence.lookup import RateLimiter, backoff_seconds, lookup_events, lookup_regions
from remediate.rehearsal.moto_fills import install_fills, record_cloudtrail_event

KEY = "AKIAIOSFODNN7EXAMPLE"
ACCOUNT = "123456789012"
ATTRIBUTES = [{"AttributeKey": "AccessKeyId", "AttributeValue": KEY}]


class FakeTime:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def sample_records(samples_dir: Path) -> list[dict[str, Any]]:
    path = samples_dir / "cloudtrail" / "ses-api-calls-aws-docs-2015.json"
    records: list[dict[str, Any]] = json.loads(path.read_text("utf-8"))["Records"]
    return records


def lookup_item(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "EventTime": datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")),
        "EventSource": record["eventSource"],
        "AccessKeyId": KEY,
        "CloudTrailEvent": json.dumps(record),
    }


@pytest.fixture
def stubbed() -> Iterator[tuple[CloudTrailGateway, dict[str, Stubber]]]:
    """A gateway whose cloudtrail clients in us-east-1 and us-west-2 return stubbed responses."""
    factory = ClientFactory(boto3.Session(region_name="us-east-1"))
    stubs = {
        region: Stubber(factory.client("cloudtrail", region))
        for region in ("us-east-1", "us-west-2")
    }
    for stub in stubs.values():
        stub.activate()
    yield CloudTrailGateway(factory), stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def expected(token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"LookupAttributes": ATTRIBUTES, "MaxResults": 50}
    if token is not None:
        params["NextToken"] = token
    return params


def test_regions_start_with_us_east_1() -> None:
    assert lookup_regions(["eu-west-1", "us-east-1", " eu-west-1 ", ""]) == (
        "us-east-1",
        "eu-west-1",
    )


def test_rate_limiter_spaces_calls() -> None:
    clock = FakeTime()
    limiter = RateLimiter(2.0, monotonic=clock.monotonic, sleep=clock.sleep)

    for _ in range(4):
        limiter.wait()

    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_rate_limiter_no_wait_when_late() -> None:
    clock = FakeTime()
    limiter = RateLimiter(2.0, monotonic=clock.monotonic, sleep=clock.sleep)

    limiter.wait()
    clock.now += 3.0
    limiter.wait()

    assert clock.sleeps == []


def test_backoff_doubles_to_cap() -> None:
    assert [backoff_seconds(attempt) for attempt in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 16.0]


def test_pages_with_moto_fills(moto_session: boto3.Session, samples_dir: Path) -> None:
    install_fills()
    base = sample_records(samples_dir)[0]
    start = datetime(2015, 2, 2, 21, 34, 50, tzinfo=UTC)
    for number in range(120):
        record = dict(base, eventID=f"0ffa308d-1467-4259-8be3-{number:012d}")
        record["eventTime"] = (start + timedelta(minutes=number)).strftime("%Y-%m-%dT%H:%M:%SZ")
        record_cloudtrail_event(ACCOUNT, record)
    clock = FakeTime()
    gateway = CloudTrailGateway(ClientFactory(moto_session))

    result = lookup_events(
        gateway, KEY, ["us-west-2"], monotonic=clock.monotonic, sleep=clock.sleep
    )

    assert result.regions == ("us-east-1", "us-west-2")
    assert result.event_counts == {"us-east-1": 0, "us-west-2": 120}
    assert len(result.events) == 120
    assert result.events[0].event_time == start
    assert result.gaps == ()


def test_pages_paced_per_region(stubbed: Any, samples_dir: Path) -> None:
    gateway, stubs = stubbed
    records = sample_records(samples_dir)
    stubs["us-east-1"].add_response("lookup_events", {"Events": []}, expected())
    stubs["us-west-2"].add_response(
        "lookup_events", {"Events": [lookup_item(records[0])], "NextToken": "page-2"}, expected()
    )
    stubs["us-west-2"].add_response(
        "lookup_events",
        {"Events": [lookup_item(records[1])], "NextToken": "page-3"},
        expected("page-2"),
    )
    stubs["us-west-2"].add_response(
        "lookup_events", {"Events": [lookup_item(records[2])]}, expected("page-3")
    )
    clock = FakeTime()

    result = lookup_events(
        gateway, KEY, ["us-west-2"], monotonic=clock.monotonic, sleep=clock.sleep, max_workers=1
    )

    # Oldest first; the first two share a time and are ordered by eventID.
    assert [event.event_id for event in result.events] == [
        "0b311e38-b5c6-43b3-9a39-5fbf0c2d0d99",
        "0ffa308d-1467-4259-8be3-c749753be325",
        "17bb827a-dc8c-4156-90b1-c214e1d135c9",
    ]
    assert result.event_counts == {"us-east-1": 0, "us-west-2": 3}
    assert clock.sleeps == [0.5, 0.5]


def test_throttling_retried(stubbed: Any, samples_dir: Path) -> None:
    gateway, stubs = stubbed
    record = sample_records(samples_dir)[0]
    for _ in range(2):
        stubs["us-east-1"].add_client_error(
            "lookup_events",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
            expected_params=expected(),
        )
    stubs["us-east-1"].add_response("lookup_events", {"Events": [lookup_item(record)]}, expected())
    clock = FakeTime()

    result = lookup_events(gateway, KEY, [], monotonic=clock.monotonic, sleep=clock.sleep)

    assert [event.event_id for event in result.events] == [record["eventID"]]
    assert clock.sleeps == [1.0, 2.0]
    assert result.gaps == ()


def test_throttling_exhausted_becomes_gap(stubbed: Any) -> None:
    gateway, stubs = stubbed
    for _ in range(5):
        stubs["us-east-1"].add_client_error(
            "lookup_events",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
    clock = FakeTime()

    result = lookup_events(gateway, KEY, [], monotonic=clock.monotonic, sleep=clock.sleep)

    assert result.events == ()
    assert result.gaps == (
        EvidenceGap(
            LOOKUP_EVENTS,
            f"cloudtrail LookupEvents on {KEY} in us-east-1 failed: ThrottlingException: "
            "Rate exceeded",
            region="us-east-1",
        ),
    )
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]


def test_denied_region_is_gap(stubbed: Any, samples_dir: Path) -> None:
    gateway, stubs = stubbed
    record = sample_records(samples_dir)[0]
    stubs["us-east-1"].add_response("lookup_events", {"Events": []}, expected())
    stubs["us-west-2"].add_response(
        "lookup_events", {"Events": [lookup_item(record)], "NextToken": "page-2"}, expected()
    )
    stubs["us-west-2"].add_client_error(
        "lookup_events",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: cloudtrail:LookupEvents",
        http_status_code=400,
        expected_params=expected("page-2"),
    )
    clock = FakeTime()

    result = lookup_events(
        gateway, KEY, ["us-west-2"], monotonic=clock.monotonic, sleep=clock.sleep
    )

    assert [event.event_id for event in result.events] == [record["eventID"]]
    assert len(result.gaps) == 1
    assert result.gaps[0].region == "us-west-2"
    assert result.gaps[0].reason == (
        f"cloudtrail LookupEvents on {KEY} in us-west-2 failed: AccessDeniedException: User is not "
        "authorized to perform: cloudtrail:LookupEvents. The operator's credentials lack "
        "cloudtrail:LookupEvents. (1 events were read before that)"
    )


def test_disabled_region_reason(stubbed: Any) -> None:
    gateway, stubs = stubbed
    stubs["us-east-1"].add_response("lookup_events", {"Events": []}, expected())
    stubs["us-west-2"].add_client_error(
        "lookup_events",
        service_error_code="UnrecognizedClientException",
        service_message="The security token included in the request is invalid.",
        http_status_code=400,
    )
    clock = FakeTime()

    result = lookup_events(
        gateway, KEY, ["us-west-2"], monotonic=clock.monotonic, sleep=clock.sleep
    )

    assert result.gaps[0].reason.endswith("The region may not be enabled for this account.")


def test_page_limit_becomes_gap(stubbed: Any, samples_dir: Path) -> None:
    gateway, stubs = stubbed
    records = sample_records(samples_dir)
    stubs["us-east-1"].add_response(
        "lookup_events", {"Events": [lookup_item(records[0])], "NextToken": "page-2"}, expected()
    )
    stubs["us-east-1"].add_response(
        "lookup_events",
        {"Events": [lookup_item(records[1])], "NextToken": "page-3"},
        expected("page-2"),
    )
    clock = FakeTime()

    result = lookup_events(
        gateway, KEY, [], monotonic=clock.monotonic, sleep=clock.sleep, max_pages=2
    )

    assert len(result.events) == 2
    assert result.gaps == (
        EvidenceGap(
            LOOKUP_EVENTS,
            "stopped after 2 pages; older events were not read (2 events were read before that)",
            region="us-east-1",
        ),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def plain_moto_server() -> Iterator[str]:
    """A moto server without remediate's fills, which does not implement LookupEvents."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("the moto server did not start on 127.0.0.1")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_plain_moto_server_is_gap(plain_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", plain_moto_server)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    gateway = CloudTrailGateway(ClientFactory(boto3.Session(region_name="us-east-1")))

    result = lookup_events(gateway, KEY, ["eu-west-1"])

    assert result.events == ()
    assert [gap.region for gap in result.gaps] == ["us-east-1", "eu-west-1"]
    assert result.gaps[0].reason == (
        "cloudtrail LookupEvents failed: the endpoint answered HTTP 500 with no AWS error code, "
        "as an endpoint that does not implement LookupEvents does (a plain moto server, for one)."
    )
