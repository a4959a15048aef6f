"""The updater of each consumer kind."""

from __future__ import annotations

from remediate.core.errors import UsageError
from remediate.steps.consumers import Consumer
from remediate.steps.updaters.base import Updater
from remediate.steps.updaters.file import FileUpdater
from remediate.steps.updaters.lambda_env import LambdaUpdater
from remediate.steps.updaters.manual import ManualUpdater
from remediate.steps.updaters.secretsmanager import SecretsManagerUpdater
from remediate.steps.updaters.ssm import SsmUpdater

UPDATERS: dict[str, Updater] = {
    updater.kind: updater
    for updater in (
        SecretsManagerUpdater(),
        ManualUpdater(),
        SsmUpdater(),
        FileUpdater(),
        LambdaUpdater(),
    )
}


def updater_for(consumer: Consumer) -> Updater:
    try:
        return UPDATERS[consumer.kind]
    except KeyError:
        raise UsageError(
            f"No updater handles consumers of kind {consumer.kind!r} ({consumer.name}). "
            f"Known kinds: {', '.join(sorted(UPDATERS))}."
        ) from None
