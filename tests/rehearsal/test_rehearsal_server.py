"""The rehearsal server: a moto server on 127.0.0.1 that serves the seeded default scenario."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    facts_path: Path
    log_path: Path
    facts: dict[str, Any]

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.Session(region_name=region).client(  # type: ignore[call-overload]
            service, region_name=region, endpoint_url=self.facts["endpoint_url"]
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")


def start_server(tmp_path: Path, *arguments: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    facts_path = tmp_path / "facts.json"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "remediate.rehearsal.server",
                "--facts",
                str(facts_path),
                *arguments,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, facts_path, log_path


def wait_for_facts(
    process: subprocess.Popen[bytes], facts_path: Path, log_path: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if facts_path.exists():
            facts: dict[str, Any] = json.loads(facts_path.read_text(encoding="utf-8"))
            return facts
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(
        f"the server wrote no facts within {START_TIMEOUT_SECONDS} s:\n{log_path.read_text()}"
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    process, facts_path, log_path = start_server(tmp_path, "--port", "0")
    try:
        facts = wait_for_facts(process, facts_path, log_path)
        yield RunningServer(process, facts_path, log_path, facts)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)


def test_server_writes_facts_without_secrets(server: RunningServer) -> None:
    facts = dict(server.facts)
    port = facts.pop("port")

    assert facts.pop("endpoint_url") == f"http://127.0.0.1:{port}"
    assert facts.pop("pid") == server.process.pid
    assert facts.pop("now").endswith("Z")
    assert facts.pop("leaked_access_key_id").startswith("AKIA")
    assert facts.pop("smtp_user_name").startswith("ses-smtp-user.")
    assert facts == {
        "scenario": "default",
        "title": "SMTP key found by a scanner, used to send phishing from an unused region",
        "description": facts["description"],
        "account_id": "123456789012",
        "consumer_secret_id": "prod/mailer/smtp",
        "consumer_secret_region": "eu-west-1",
        "team_regions": ["eu-west-1"],
        "unused_regions": ["ap-southeast-2", "us-east-1", "us-west-2"],
        "attacker_source_ips": ["198.51.100.23", "203.0.113.45"],
    }
    assert sorted(server.facts) == sorted(
        [
            "scenario",
            "title",
            "description",
            "now",
            "account_id",
            "leaked_access_key_id",
            "smtp_user_name",
            "consumer_secret_id",
            "consumer_secret_region",
            "team_regions",
            "unused_regions",
            "attacker_source_ips",
            "endpoint_url",
            "port",
            "pid",
        ]
    )


def test_server_facts_file_is_private(server: RunningServer) -> None:
    assert server.facts_path.stat().st_mode & 0o777 == 0o600


def test_server_listens_on_loopback_only(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.facts["port"]), timeout=5):
        pass

    assert server.facts["endpoint_url"].startswith("http://127.0.0.1:")


def test_server_serves_seeded_user_and_key(server: RunningServer) -> None:
    iam = server.client("iam")
    user = server.facts["smtp_user_name"]

    [key] = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    policies = iam.list_user_policies(UserName=user)["PolicyNames"]
    last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]

    assert key["AccessKeyId"] == server.facts["leaked_access_key_id"]
    assert key["Status"] == "Active"
    assert policies == ["AmazonSesSendingAccess"]
    assert (last_used["ServiceName"], last_used["Region"]) == ("ses", "ap-southeast-2")


def test_server_serves_lookup_events(server: RunningServer) -> None:
    names = {}
    for region in ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"):
        response = server.client("cloudtrail", region).lookup_events(
            LookupAttributes=[
                {
                    "AttributeKey": "AccessKeyId",
                    "AttributeValue": server.facts["leaked_access_key_id"],
                }
            ]
        )
        names[region] = [event["EventName"] for event in response["Events"]]

    assert names == {
        "us-east-1": ["ListUsers", "GetSendQuota", "GetCallerIdentity", "GetCallerIdentity"],
        "eu-west-1": ["GetAccount", "ListIdentities", "GetSendQuota"],
        "us-west-2": ["GetSendQuota"],
        "ap-southeast-2": ["VerifyEmailIdentity", "PutAccountDetails", "GetSendQuota"],
    }


def test_server_serves_sesv2_account_fills(server: RunningServer) -> None:
    sesv2 = server.client("sesv2", "eu-west-1")

    sesv2.put_account_sending_attributes(SendingEnabled=False)
    account = sesv2.get_account()
    enabled = server.client("ses", "eu-west-1").get_account_sending_enabled()["Enabled"]

    assert account["ProductionAccessEnabled"] is True
    assert account["SendingEnabled"] is False
    assert enabled is False


def test_server_serves_statistics(server: RunningServer) -> None:
    points = server.client("ses", "ap-southeast-2").get_send_statistics()["SendDataPoints"]

    assert [point["DeliveryAttempts"] for point in points] == [64, 71, 58]


def test_server_stops_on_sigterm(server: RunningServer) -> None:
    port = server.facts["port"]

    server.process.send_signal(signal.SIGTERM)
    returncode = server.process.wait(STOP_TIMEOUT_SECONDS)

    assert returncode == 0
    assert not server.facts_path.exists()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass
    assert "Received SIGTERM, stopping" in server.log()


def test_server_stops_on_sigint(server: RunningServer) -> None:
    server.process.send_signal(signal.SIGINT)

    assert server.process.wait(STOP_TIMEOUT_SECONDS) == 0
    assert not server.facts_path.exists()


def test_server_rejects_unknown_scenario(tmp_path: Path) -> None:
    process, facts_path, log_path = start_server(
        tmp_path, "--port", "0", "--scenario", "nonexistent"
    )

    returncode = process.wait(STOP_TIMEOUT_SECONDS)

    assert returncode == 2
    assert "There is no rehearsal scenario named 'nonexistent'" in log_path.read_text()
    assert not facts_path.exists()


def test_server_rejects_busy_port(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        process, facts_path, log_path = start_server(tmp_path, "--port", str(port))

        returncode = process.wait(STOP_TIMEOUT_SECONDS)

    assert returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in log_path.read_text()
    assert not facts_path.exists()
