"""Kill `remediate run` before and after every mutating AWS call; `remediate resume` must finish.

GIVEN a moto server on 127.0.0.1 with an SMTP user, its leaked key and two
consumers of different kinds (a Secrets Manager secret and SSM parameters),
WHEN `remediate run` is killed with SIGKILL just before the Nth mutating call
is sent, or just after its response arrives, and `remediate resume` follows,
THEN AWS ends as after an uninterrupted run: the new key is the user's only
active key, the leaked one is inactive, every consumer holds the new key's
SMTP password, no write was repeated, and the report is complete.

The kill points are enumerated from the calls an uninterrupted run makes (the
subprocess hook in instrument/ logs them), not listed by hand.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from remediate.engine.journal import read_journal
from tests.e2e.moto_world import (
    FinalState,
    Server,
    final_state,
    moto_server,
    remediate,
    seed,
    start,
    unanswered_intents,
)

pytestmark = pytest.mark.e2e

# Kill points run two at a time, each on its own server: a kill point is two
# `remediate` processes that mostly wait on each other and on the server.
PARALLEL_KILL_POINTS = 2


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Plain moto servers for the module; every kill point resets one and seeds it again."""
    logs = tmp_path_factory.mktemp("moto")
    with ExitStack() as stack:
        yield [
            stack.enter_context(moto_server(logs / f"server-{number}.log"))
            for number in range(PARALLEL_KILL_POINTS)
        ]


@dataclass(frozen=True)
class Baseline:
    calls: list[str]
    journaled: list[str]
    state: FinalState
    seconds: float


@pytest.fixture(scope="module")
def baseline(servers: list[Server], tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """Run once without a kill, logging every mutating call the run makes."""
    server = servers[0]
    workdir = tmp_path_factory.mktemp("baseline")
    key_id = seed(server)
    call_log = workdir / "calls.jsonl"
    began = time.monotonic()

    completed = start(
        server, workdir, key_id, workdir / "incident", {"REMEDIATE_TEST_CALL_LOG": str(call_log)}
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    calls = [json.loads(line) for line in call_log.read_text().splitlines()]
    journal = list(read_journal(workdir / "incident" / "journal.jsonl"))
    state, problems = final_state(server, key_id, workdir / "incident")
    assert problems == []
    return Baseline(
        calls=[f"{call['service']} {call['operation']}" for call in calls],
        journaled=[
            f"{record.get('service')} {record.get('operation')}"
            for record in journal
            if record.type == "aws.intent"
        ],
        state=state,
        seconds=time.monotonic() - began,
    )


def test_every_mutating_call_is_journaled(baseline: Baseline) -> None:
    assert baseline.journaled == baseline.calls
    assert baseline.calls == [
        "iam CreateAccessKey",
        "secretsmanager CreateSecret",
        "secretsmanager PutSecretValue",
        "secretsmanager UpdateSecretVersionStage",
        "secretsmanager UpdateSecretVersionStage",
        "ssm PutParameter",
        "ssm PutParameter",
        "iam UpdateAccessKey",
    ]


def check_kill_point(
    server: Server, baseline: Baseline, workdir: Path, point: KillPoint
) -> list[str]:
    """Kill a run at one point, resume it, and list every way the end differs from the baseline."""
    workdir.mkdir()
    incident = workdir / "incident"
    key_id = seed(server)

    killed = start(server, workdir, key_id, incident, {"REMEDIATE_TEST_KILL": point.hook})
    if killed.returncode != -signal.SIGKILL:
        return [f"the run exited {killed.returncode} instead of being killed\n{killed.stderr}"]
    stranded = unanswered_intents(incident)
    resumed = remediate(server, workdir, "resume", str(incident), "--answers", "answers.yaml")
    if resumed.returncode != 0:
        return [f"resume exited {resumed.returncode}\n{resumed.stdout}\n{resumed.stderr}"]

    state, problems = final_state(server, key_id, incident)
    if stranded != [point.operation]:
        problems.append(f"unanswered intents after the kill: {stranded}")
    for field in dataclasses.fields(FinalState):
        found, expected = getattr(state, field.name), getattr(baseline.state, field.name)
        if found != expected:
            problems.append(f"{field.name} is {found}; an uninterrupted run leaves {expected}")
    return problems


@dataclass(frozen=True)
class KillPoint:
    moment: str  # before or after
    number: int  # the mutating call's position in the run, from 1
    call: str  # service and operation

    @property
    def hook(self) -> str:
        return f"{self.moment}:{self.number}"

    @property
    def operation(self) -> str:
        return self.call.split(" ", 1)[1]

    def __str__(self) -> str:
        return f"{self.moment} call {self.number} ({self.call})"


def test_resume_after_every_kill_point(
    servers: list[Server], baseline: Baseline, tmp_path: Path
) -> None:
    points = [
        KillPoint(moment, number, call)
        for number, call in enumerate(baseline.calls, start=1)
        for moment in ("before", "after")
    ]
    idle: queue.Queue[Server] = queue.Queue()
    for server in servers:
        idle.put(server)

    def check(point: KillPoint) -> list[str]:
        server = idle.get()
        try:
            workdir = tmp_path / f"{point.moment}-{point.number}"
            return [
                f"{point}: {problem}"
                for problem in check_kill_point(server, baseline, workdir, point)
            ]
        finally:
            idle.put(server)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        failures = [problem for problems in pool.map(check, points) for problem in problems]

    print(
        f"{len(points)} kill points (before and after each of {len(baseline.calls)} mutating "
        f"calls) covered in {time.monotonic() - began:.0f} s; an uninterrupted run takes "
        f"{baseline.seconds:.1f} s"
    )
    assert failures == []


def test_ctrl_c_during_call_then_resume(servers: list[Server], tmp_path: Path) -> None:
    """SIGINT, as Ctrl-C sends, arrives just after IAM's response to CreateAccessKey."""
    server = servers[0]
    key_id = seed(server)
    incident = tmp_path / "incident"

    interrupted = start(server, tmp_path, key_id, incident, {"REMEDIATE_TEST_KILL": "interrupt:1"})

    assert interrupted.returncode == 130, interrupted.stdout + interrupted.stderr
    assert interrupted.stderr.splitlines()[-2:] == [
        "Interrupted. The journal holds everything done so far.",
        f"Next: remediate resume {incident}",
    ]
    assert "Traceback" not in interrupted.stdout + interrupted.stderr
    assert unanswered_intents(incident) == ["CreateAccessKey"]

    resumed = remediate(server, tmp_path, "resume", str(incident), "--answers", "answers.yaml")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final_state(server, key_id, incident)[1] == []
