"""The rehearsal world: moto with fills for the APIs it lacks, seeded with an incident scenario.

Importing this package imports moto; the CLI imports it only for `remediate rehearse`.
"""

from remediate.rehearsal.scenarios import (
    DEFAULT_SCENARIO,
    Scenario,
    UnknownScenarioError,
    get_scenario,
    list_scenarios,
)
from remediate.rehearsal.world import World, WorldFacts, open_world, world_facts

__all__ = [
    "DEFAULT_SCENARIO",
    "Scenario",
    "UnknownScenarioError",
    "World",
    "WorldFacts",
    "get_scenario",
    "list_scenarios",
    "open_world",
    "world_facts",
]
