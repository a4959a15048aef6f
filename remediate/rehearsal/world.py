"""The in-process rehearsal world: moto's mock_aws, the fills, and one seeded scenario."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime

import boto3
from moto import mock_aws

from remediate.core.timeutil import parse_timestamp, utc_now
from remediate.rehearsal.moto_fills import install_fills
from remediate.rehearsal.scenarios import DEFAULT_SCENARIO, get_scenario
from remediate.rehearsal.seeding import (
    RESPONDER_REGION,
    WorldFacts,
    rehearsal_environment,
    seed_scenario,
    world_facts,
)

__all__ = ["World", "WorldFacts", "open_world", "world_facts"]


@dataclass(frozen=True)
class World(WorldFacts):
    """A seeded rehearsal world and the responder's session into it.

    `session` signs with the operator's own (fake) credentials, never with the
    leaked key. No field contains the leaked key's secret.
    """

    session: boto3.Session


@contextmanager
def open_world(scenario: str = DEFAULT_SCENARIO, *, now: datetime | None = None) -> Iterator[World]:
    """Start moto in this process, seed `scenario` at the clock `now`, and yield the world.

    Raises UnknownScenarioError, before starting moto, for a scenario that does
    not exist. On exit the environment is restored, and moto stops and drops its
    state unless the caller's own `mock_aws` is still active.
    """
    definition = get_scenario(scenario)
    plan = definition.build(parse_timestamp(now) if now is not None else utc_now())
    install_fills()

    with rehearsal_environment(), mock_aws():
        facts = seed_scenario(definition, plan)
        # The session keeps the credentials it was built with, so it does not
        # depend on the environment that moto and rehearsal_environment change.
        session = boto3.Session(
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            region_name=RESPONDER_REGION,
        )
        values = {field.name: getattr(facts, field.name) for field in fields(WorldFacts)}
        yield World(**values, session=session)
