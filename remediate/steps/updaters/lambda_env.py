"""Lambda functions as consumers: the credential in a function's environment variables.

Discovery lists the functions of each region and compares their variables with
the key ID in memory. A switch replaces the environment of $LATEST with every
variable kept but the two credential ones, passes the function's KMS key again,
and waits until Lambda reports the update Successful. Lambda keeps no history
of environment variables, so the previous values are first kept beside the
escrow (`keep_previous`) for a rollback.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from remediate.aws.awslambda import (
    FAILED,
    IN_PROGRESS,
    SUCCESSFUL,
    FunctionConfiguration,
    UpdateFunctionReceipt,
)
from remediate.core.errors import AwsCallError, UsageError, VerificationError
from remediate.core.secrets import SecretValue
from remediate.steps.base import Check, PlannedCall, StepContext
from remediate.steps.consumers import SMTP, Consumer, LayoutError, detect_layout
from remediate.steps.escrow import EscrowLocation, keep_previous, previous_location, read_previous
from remediate.steps.updaters.base import Discovery, NewCredential, Updater

LAMBDA = "lambda"
# As botocore's FunctionUpdated waiter: a poll every 5 seconds, at most 60 polls.
UPDATE_POLL_SECONDS = 5.0
UPDATE_POLLS = 60


class LambdaUpdater(Updater):
    kind = LAMBDA

    def declare(self, ctx: StepContext, declaration: Mapping[str, Any]) -> Consumer:
        name = str(declaration.get("function") or "").strip()
        if not name:
            raise UsageError("A lambda consumer in the consumers file needs a `function`.")
        region = str(declaration.get("region") or ctx.aws.default_region)
        try:
            configuration = ctx.aws.awslambda.get_function_configuration(region, name)
        except AwsCallError as error:
            if error.code != "ResourceNotFoundException":
                raise
            raise UsageError(
                f"The Lambda function {name} in {region}, named in the consumers file, "
                "does not exist.",
                next_step="check the entry's `function` and `region`, then run again",
            ) from error
        if configuration.environment_error:
            raise UsageError(
                f"The environment of the Lambda function {name} ({region}) could not be "
                f"decrypted: {configuration.environment_error}.",
                next_step="grant kms:Decrypt on the function's KMS key, then run again",
            )
        try:
            consumer = _consumer(configuration, ctx.access_key_id)
        except LayoutError as error:
            raise UsageError(
                f"The Lambda function {name} ({region}) cannot be updated: {error}.",
                next_step="update it by hand (a manual entry in the consumers file), then run "
                "again",
            ) from error
        if consumer is None:
            raise UsageError(
                f"No environment variable of the Lambda function {name} ({region}) contains the "
                f"leaked key ID {ctx.access_key_id}.",
                next_step="check the entry in the consumers file, then run again",
            )
        smtp_region = declaration.get("smtp_region")
        if smtp_region and consumer.layout.credential == SMTP:
            layout = dataclasses.replace(
                consumer.layout, smtp_region=str(smtp_region), region_source="consumers file"
            )
            consumer = dataclasses.replace(consumer, layout=layout)
        return consumer

    def discover(self, ctx: StepContext, regions: list[str]) -> Discovery:
        found = Discovery()
        for region in regions:
            try:
                functions = list(ctx.aws.awslambda.list_functions(region))
            except AwsCallError as error:
                ctx.record_gap(
                    "lambda", f"functions could not be listed: {error.message}", region=region
                )
                found.degraded = True
                continue
            for configuration in functions:
                if configuration.environment_error:
                    # Variables that cannot be decrypted may hold the key.
                    found.left_behind.append(
                        {
                            "name": configuration.name,
                            "region": region,
                            "reason": "its environment could not be decrypted "
                            f"({configuration.environment_error})",
                        }
                    )
                    found.degraded = True
                    continue
                try:
                    consumer = _consumer(configuration, ctx.access_key_id)
                except LayoutError as error:
                    found.left_behind.append(
                        {"name": configuration.name, "region": region, "reason": str(error)}
                    )
                    continue
                if consumer is not None:
                    found.consumers.append(consumer)
        return found

    def plan_switch(self, consumer: Consumer) -> list[PlannedCall]:
        previous = "<escrow>/previous"
        return [
            PlannedCall(
                "secretsmanager",
                "PutSecretValue",
                previous,
                f"keep the previous credential of {consumer.name} for a rollback",
                undo="none needed: the secret only keeps values",
            ),
            _update_call(
                consumer,
                "replace the two credential variables, keeping the others and the KMS key",
                params={"FunctionName": consumer.name},
                undo=_undo(consumer, previous),
            ),
        ]

    def switch(
        self,
        ctx: StepContext,
        consumer: Consumer,
        credential: NewCredential,
        staged: Mapping[str, Any],
    ) -> dict[str, Any]:
        layout = consumer.layout
        location = _escrow_location(consumer, staged)
        configuration = _wait_for_update(ctx, consumer, fail_on_failed=False)
        variables = _variables(configuration, consumer)

        new_secret = credential.value_for(layout)
        if _holds_new(variables, consumer, credential.access_key_id, new_secret):
            ctx.console.info(f"{consumer.label} already contains {credential.access_key_id}.")
        else:
            previous = {
                layout.username_field: variables[layout.username_field].reveal(),
                layout.secret_field: variables[layout.secret_field].reveal(),
            }
            keep_previous(ctx, location, consumer, previous)
            replaced = {
                **variables,
                layout.username_field: SecretValue(credential.access_key_id, register=False),
                layout.secret_field: new_secret,
            }
            _update(
                ctx,
                consumer,
                configuration,
                replaced,
                description="replace the two credential variables, keeping the others and the "
                "KMS key",
                undo=_undo(consumer, previous_location(location).label),
            )

        settled = _wait_for_update(ctx, consumer, fail_on_failed=True)
        ctx.console.success(f"{consumer.label} now contains the new credential.")
        kept = previous_location(location).label
        return {
            "function": consumer.name,
            "kms_key_arn": configuration.kms_key_arn,
            "revision_id": settled.revision_id,
            "escrow_location": location.as_record(),
            "summary": f"{layout.username_field} and {layout.secret_field} replaced, "
            f"{len(variables) - 2} other variable(s) kept; the previous values are kept in "
            f"{kept} for a rollback",
        }

    def verify(
        self,
        ctx: StepContext,
        consumer: Consumer,
        switched: Mapping[str, Any],
        credential: NewCredential,
    ) -> Check:
        layout = consumer.layout
        configuration = ctx.aws.awslambda.get_function_configuration(
            _region(consumer), consumer.name
        )
        variables = configuration.variables
        problems = []
        if configuration.environment_error:
            problems.append(
                f"its environment could not be read ({configuration.environment_error})"
            )
        user = variables.get(layout.username_field)
        if user is None or user.reveal() != credential.access_key_id:
            problems.append(f"{layout.username_field} does not contain {credential.access_key_id}")
        stored = variables.get(layout.secret_field)
        if stored is None or not credential.value_for(layout).matches(stored.reveal()):
            problems.append(f"{layout.secret_field} does not contain the new credential")
        if configuration.kms_key_arn != switched["kms_key_arn"]:
            problems.append(
                f"its KMS key is {_key_label(configuration.kms_key_arn)}, not "
                f"{_key_label(switched['kms_key_arn'])}"
            )
        if configuration.last_update_status not in (None, SUCCESSFUL):
            problems.append(f"its last update is {configuration.last_update_status}")
        detail = "; ".join(problems) or f"contains {credential.access_key_id} (read back)"
        return Check(f"consumer:{consumer.name}", not problems, f"{consumer.label}: {detail}")

    def restore(self, ctx: StepContext, consumer: Consumer, switched: Mapping[str, Any]) -> str:
        location = EscrowLocation(**switched["escrow_location"])
        previous = read_previous(ctx, location, consumer)
        if previous is None:
            raise UsageError(
                f"The previous credential of {consumer.label} is not in "
                f"{previous_location(location).label}, so it cannot be put back.",
                next_step="put the previous credential in the function's variables by hand",
            )
        configuration = _wait_for_update(ctx, consumer, fail_on_failed=False)
        variables = _variables(configuration, consumer)
        if all(
            key in variables and variables[key].matches(value.reveal())
            for key, value in previous.items()
        ):
            return f"{consumer.label} already contains its previous credential"
        _update(
            ctx,
            consumer,
            configuration,
            {**variables, **previous},
            description="put the previous credential variables back (rollback)",
            undo="run `remediate resume` to switch the function to the new credential again",
        )
        _wait_for_update(ctx, consumer, fail_on_failed=True)
        return f"{consumer.label} contains its previous credential again"


def _consumer(configuration: FunctionConfiguration, access_key_id: str) -> Consumer | None:
    """Read the variables as the fields of a JSON secret; None when none contains the key ID.

    Raises LayoutError when a variable contains the key ID in a shape that
    cannot be updated.
    """
    document = {key: value.reveal() for key, value in configuration.variables.items()}
    layout = detect_layout(json.dumps(document), access_key_id, configuration.region)
    if layout is None:
        return None
    # The current secret is the leaked credential: registered, no output can show it.
    SecretValue(document[layout.secret_field])
    return Consumer(
        LAMBDA,
        configuration.arn,
        configuration.name,
        configuration.region,
        layout,
        {"function": configuration.name},
    )


def _escrow_location(consumer: Consumer, staged: Mapping[str, Any]) -> EscrowLocation:
    record = staged.get("escrow_location")
    if not record:
        raise UsageError(
            f"{consumer.label} cannot be switched: the rotate step recorded no escrow to "
            "keep its previous values in, so the switch could not be rolled back.",
            next_step="run `remediate resume` to finish the rotate step first",
        )
    return EscrowLocation(str(record["region"]), str(record["name"]))


def _update(
    ctx: StepContext,
    consumer: Consumer,
    configuration: FunctionConfiguration,
    variables: Mapping[str, SecretValue],
    *,
    description: str,
    undo: str,
) -> None:
    """Replace the function's whole environment with `variables`, journaled without values."""
    ctx.mutate(
        _update_call(
            consumer,
            description,
            params=_update_params(consumer, configuration, len(variables)),
            undo=undo,
        ),
        lambda: ctx.aws.awslambda.update_environment(
            _region(consumer),
            consumer.name,
            variables,
            kms_key_arn=configuration.kms_key_arn,
            revision_id=configuration.revision_id,
        ),
        describe=_describe_update,
    )


def _wait_for_update(
    ctx: StepContext, consumer: Consumer, *, fail_on_failed: bool
) -> FunctionConfiguration:
    """Poll the function until no update is in progress; return its configuration then.

    With `fail_on_failed`, an update that Lambda reports Failed raises, because
    it is the one this run made.
    """
    region, name = _region(consumer), consumer.name
    for _ in range(UPDATE_POLLS):
        configuration = ctx.aws.awslambda.get_function_configuration(region, name)
        status = configuration.last_update_status
        if status == FAILED and fail_on_failed:
            raise VerificationError(
                f"Lambda reports that the update of {consumer.label} failed: "
                f"{configuration.last_update_status_reason or 'no reason given'}.",
                next_step="fix the cause Lambda names, then run `remediate resume`",
            )
        if status != IN_PROGRESS:
            return configuration
        ctx.sleep(UPDATE_POLL_SECONDS)
    raise VerificationError(
        f"An update of {consumer.label} was still in progress after "
        f"{UPDATE_POLLS * UPDATE_POLL_SECONDS:.0f} seconds.",
        next_step="run `remediate resume` once `aws lambda get-function-configuration` reports "
        "LastUpdateStatus Successful",
    )


def _variables(configuration: FunctionConfiguration, consumer: Consumer) -> dict[str, SecretValue]:
    layout = consumer.layout
    if configuration.environment_error:
        raise UsageError(
            f"The environment of {consumer.label} could not be decrypted: "
            f"{configuration.environment_error}.",
            next_step="grant kms:Decrypt on the function's KMS key, then run `remediate resume`",
        )
    missing = [
        key
        for key in (layout.username_field, layout.secret_field)
        if key not in configuration.variables
    ]
    if missing:
        raise UsageError(
            f"{consumer.label} no longer has the variable {', '.join(missing)}.",
            next_step="check the function's configuration, update it by hand if needed, then "
            "run `remediate resume`",
        )
    return dict(configuration.variables)


def _holds_new(
    variables: Mapping[str, SecretValue],
    consumer: Consumer,
    access_key_id: str,
    secret: SecretValue,
) -> bool:
    layout = consumer.layout
    return variables[layout.username_field].reveal() == access_key_id and secret.matches(
        variables[layout.secret_field].reveal()
    )


def _update_params(
    consumer: Consumer, configuration: FunctionConfiguration, count: int
) -> dict[str, Any]:
    """Describe an update for the journal: variable names and counts, never values."""
    return {
        "FunctionName": consumer.name,
        "ChangedVariables": [consumer.layout.username_field, consumer.layout.secret_field],
        "KeptVariables": count - 2,
        "KMSKeyArn": configuration.kms_key_arn,
        "RevisionId": configuration.revision_id,
    }


def _update_call(
    consumer: Consumer, description: str, *, params: Mapping[str, Any], undo: str
) -> PlannedCall:
    return PlannedCall(
        "lambda",
        "UpdateFunctionConfiguration",
        consumer.name,
        description,
        region=consumer.region,
        params=params,
        undo=undo,
    )


def _undo(consumer: Consumer, previous: str) -> str:
    layout = consumer.layout
    return (
        f"set {layout.username_field} and {layout.secret_field} back to the values kept under "
        f"{consumer.reference!r} in the secret {previous}, with `aws lambda "
        f"update-function-configuration --region {consumer.region} --function-name "
        f"{consumer.name} --environment ...` listing every variable"
    )


def _describe_update(receipt: UpdateFunctionReceipt) -> dict[str, Any]:
    return {"revision_id": receipt.revision_id, "last_update_status": receipt.last_update_status}


def _key_label(kms_key_arn: str | None) -> str:
    return kms_key_arn or "the AWS managed key"


def _region(consumer: Consumer) -> str:
    if consumer.region is None:
        raise UsageError(f"The Lambda function {consumer.name} has no region.")
    return consumer.region
