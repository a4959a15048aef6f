"""Moto servers on 127.0.0.1 and the installed `remediate` command, for end-to-end runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import FAKE_AWS_ENVIRONMENT

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen[bytes]
    facts: dict[str, Any]

    def session(self) -> boto3.Session:
        return boto3.Session(region_name="us-east-1")

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint)


def remediate_command() -> list[str]:
    """The installed console script, beside the interpreter running the tests."""
    script = Path(sys.executable).parent / "remediate"
    found = str(script) if script.exists() else shutil.which("remediate")
    if found is None:
        pytest.fail("the `remediate` command is not installed; run `pip install .[test]`")
    return [found]


def command_environment(endpoint: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(FAKE_AWS_ENVIRONMENT)
    environment["AWS_ENDPOINT_URL"] = endpoint
    environment["NO_PROXY"] = LOOPBACK
    return environment


def _wait_for_http(endpoint: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the moto server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the moto server at {endpoint} did not answer within {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def plain_moto_server(tmp_path: Path) -> Iterator[MotoServer]:
    """moto's own server, with none of the rehearsal fills (so LookupEvents is missing)."""
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    log = (tmp_path / "moto-server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=command_environment(endpoint),
    )
    try:
        _wait_for_http(endpoint, process)
        yield MotoServer(endpoint, process, {})
    finally:
        _stop(process)
        log.close()


@pytest.fixture
def rehearsal_server(tmp_path: Path) -> Iterator[MotoServer]:
    """A moto server with the rehearsal fills, seeded with the default scenario."""
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    facts_path = tmp_path / "facts.json"
    log = (tmp_path / "rehearsal-server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "remediate.rehearsal.server",
            "--port",
            str(port),
            "--facts",
            str(facts_path),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=command_environment(endpoint),
    )
    try:
        deadline = time.monotonic() + 60
        while not facts_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the rehearsal server did not start; see {tmp_path / 'rehearsal-server.log'}"
                )
            time.sleep(0.1)
        yield MotoServer(endpoint, process, json.loads(facts_path.read_text()))
    finally:
        _stop(process)
        log.close()
