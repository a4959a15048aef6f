"""SSM Parameter Store consumers: a JSON parameter, or a user-name parameter beside a password one.

Discovery reads every parameter of a region, decrypted, and compares it with
the key ID in memory; no value is kept. When no SMTP host or region parameter
sits beside a password parameter, find-consumers asks for the SMTP region. A
switch writes new versions with PutParameter, keeping each parameter's type,
KMS key and tier. SSM keeps the previous versions itself, so a rollback writes
the previous version's value back as a newer version. The journal records
version numbers, never values.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from remediate.aws.ssm import (
    GET_PARAMETERS_LIMIT,
    Parameter,
    ParameterVersion,
    PutParameterReceipt,
    SsmGateway,
)
from remediate.core.errors import AwsCallError, UsageError
from remediate.core.secrets import SecretValue
from remediate.evidence.lookup import THROTTLING_CODES
from remediate.steps.base import Check, PlannedCall, StepContext
from remediate.steps.consumers import (
    SMTP,
    Consumer,
    CredentialLayout,
    LayoutError,
    detect_layout,
    register_credential,
    rewrite_secret,
)
from remediate.steps.updaters.base import Discovery, NewCredential, Updater

SSM = "ssm"
# Attempts of one GetParameters batch that SSM throttles, after botocore's own
# retries inside each attempt; the wait doubles from the first delay.
THROTTLED_ATTEMPTS = 4
THROTTLED_FIRST_DELAY_SECONDS = 1.0


class SsmUpdater(Updater):
    kind = SSM

    def declare(self, ctx: StepContext, declaration: Mapping[str, Any]) -> Consumer:
        name = str(declaration.get("parameter") or "").strip()
        if not name:
            raise UsageError("An ssm consumer in the consumers file needs a `parameter`.")
        region = str(declaration.get("region") or ctx.aws.default_region)
        username_name = str(declaration.get("username_parameter") or "").strip() or None

        wanted = [name, *([username_name] if username_name else [])]
        parameters, failures = _read_parameters(ctx.aws.ssm, region, wanted, ctx.sleep)
        missing = [item for item in wanted if item not in parameters]
        if missing:
            reason = (
                f"could not be read ({failures[missing[0]]})"
                if missing[0] in failures
                else "does not exist"
            )
            raise UsageError(
                f"The SSM parameter {missing[0]} in {region}, named in the consumers file, "
                f"{reason}.",
                next_step="check the entry's `parameter`, `username_parameter` and `region`, "
                "then run again",
            )

        siblings = _siblings(ctx.aws.ssm, region, name, ctx.sleep)
        consumer = _declared_consumer(
            ctx.access_key_id,
            region,
            parameters[name],
            siblings,
            parameters[username_name] if username_name else None,
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
                names = [summary.name for summary in ctx.aws.ssm.describe_parameters(region)]
            except AwsCallError as error:
                ctx.record_gap(
                    "ssm", f"parameters could not be listed: {error.message}", region=region
                )
                found.degraded = True
                continue
            parameters, failures = _read_parameters(ctx.aws.ssm, region, names, ctx.sleep)
            for name, code in failures.items():
                # An unreadable parameter may hold the key: deactivating could break it.
                found.left_behind.append(
                    {"name": name, "region": region, "reason": f"it could not be read ({code})"}
                )
                found.degraded = True
            for parameter in parameters.values():
                if ctx.access_key_id not in parameter.value.reveal():
                    continue
                try:
                    consumer = _found_consumer(ctx.access_key_id, region, parameter, parameters)
                except LayoutError as error:
                    found.left_behind.append(
                        {"name": parameter.name, "region": region, "reason": str(error)}
                    )
                    continue
                found.consumers.append(consumer)
        return found

    def plan_switch(self, consumer: Consumer) -> list[PlannedCall]:
        return [
            _put_call(
                consumer,
                name,
                "write the new credential as a new version, keeping the type and KMS key",
                params={"Name": name, "Overwrite": True},
                undo=_undo(consumer, name, "<previous version>"),
            )
            for name in _parameter_names(consumer)
        ]

    def switch(
        self,
        ctx: StepContext,
        consumer: Consumer,
        credential: NewCredential,
        staged: Mapping[str, Any],
    ) -> dict[str, Any]:
        names = _parameter_names(consumer)
        current = _read_all(ctx.aws.ssm, _region(consumer), names, consumer)
        records = [_switch_parameter(ctx, consumer, current[name], credential) for name in names]
        ctx.console.success(f"{consumer.label} now contains the new credential.")
        versions = ", ".join(
            f"{record['name']} version {record['version']} (previous version "
            f"{record['previous_version']})"
            for record in records
        )
        return {"parameters": records, "summary": f"new versions: {versions}"}

    def verify(
        self,
        ctx: StepContext,
        consumer: Consumer,
        switched: Mapping[str, Any],
        credential: NewCredential,
    ) -> Check:
        region = _region(consumer)
        names = [str(record["name"]) for record in switched["parameters"]]
        current, _ = _read_parameters(ctx.aws.ssm, region, names, ctx.sleep)
        problems = []
        for record in switched["parameters"]:
            name = str(record["name"])
            parameter = current.get(name)
            if parameter is None:
                problems.append(f"{name} could not be read back")
                continue
            if not _reader(consumer, name, credential)(parameter.value):
                problems.append(_wrong_value(consumer, name, credential))
            if parameter.type != record["type"]:
                problems.append(f"{name} is a {parameter.type}, not a {record['type']}")
            summary = ctx.aws.ssm.describe_parameter(region, name)
            key_id = summary.key_id if summary else None
            if key_id != record["key_id"]:
                problems.append(f"{name} is encrypted with {key_id}, not {record['key_id']}")
        detail = "; ".join(problems) or (
            f"{', '.join(names)} contain {credential.access_key_id} (read back)"
        )
        return Check(f"consumer:{consumer.name}", not problems, f"{consumer.label}: {detail}")

    def restore(self, ctx: StepContext, consumer: Consumer, switched: Mapping[str, Any]) -> str:
        region = _region(consumer)
        gateway = ctx.aws.ssm
        restored = []
        for record in switched["parameters"]:
            name = str(record["name"])
            previous = record.get("previous_version")
            if previous is None:
                raise UsageError(
                    f"The version of the SSM parameter {name} ({region}) before the switch is not "
                    "known: its history contains the new credential only.",
                    next_step="put the previous credential in the parameter by hand",
                )
            old = _history_version(gateway.parameter_history(region, name), previous)
            if old is None:
                raise UsageError(
                    f"Version {previous} of the SSM parameter {name} ({region}) is not in its "
                    "history any more (SSM keeps the last 100 versions), so it cannot be put back.",
                    next_step="put the previous credential in the parameter by hand",
                )
            _register_previous(consumer, name, old.value)
            current = _read_all(gateway, region, [name], consumer)[name]
            if current.value.matches(old.value.reveal()):
                continue
            summary = gateway.describe_parameter(region, name)
            ctx.mutate(
                _put_call(
                    consumer,
                    name,
                    f"write the value of version {previous} back as a new version (rollback)",
                    params={
                        "Name": name,
                        "Type": old.type,
                        "KeyId": old.key_id,
                        "Overwrite": True,
                        "RestoredVersion": previous,
                    },
                    undo=_undo(consumer, name, str(record["version"])),
                ),
                _put(
                    gateway,
                    region,
                    name,
                    old.value,
                    old.type,
                    old.key_id,
                    summary.tier if summary else None,
                ),
                describe=_describe_put,
            )
            restored.append(f"{name} (version {previous})")
        if not restored:
            return f"{consumer.label} already contains its previous values"
        return f"{consumer.label} contains its previous values again: {', '.join(restored)}"


def _switch_parameter(
    ctx: StepContext, consumer: Consumer, parameter: Parameter, credential: NewCredential
) -> dict[str, Any]:
    """Write one parameter's new value, unless an interrupted run already did; return its record."""
    region, name = _region(consumer), parameter.name
    gateway = ctx.aws.ssm
    summary = gateway.describe_parameter(region, name)
    key_id = summary.key_id if summary else None
    tier = summary.tier if summary else None

    reads_new = _reader(consumer, name, credential)
    if reads_new(parameter.value):
        # An interrupted run wrote this version; the one before it is the previous.
        previous = _previous_version(gateway.parameter_history(region, name), reads_new)
        version = parameter.version
    else:
        previous = parameter.version
        value = _new_value(consumer, name, parameter, credential)
        receipt = ctx.mutate(
            _put_call(
                consumer,
                name,
                "write the new credential as a new version, keeping the type and KMS key",
                params={
                    "Name": name,
                    "Type": parameter.type,
                    "KeyId": key_id,
                    "Tier": tier,
                    "Overwrite": True,
                    "PreviousVersion": previous,
                },
                undo=_undo(consumer, name, str(previous)),
            ),
            _put(gateway, region, name, value, parameter.type, key_id, tier),
            describe=_describe_put,
        )
        version = receipt.version
    return {
        "name": name,
        "type": parameter.type,
        "key_id": key_id,
        "previous_version": previous,
        "version": version,
    }


def _declared_consumer(
    access_key_id: str,
    region: str,
    parameter: Parameter,
    siblings: Mapping[str, Parameter],
    username_parameter: Parameter | None,
) -> Consumer:
    """Build the consumer a consumers-file entry names, in whichever shape it has."""
    text = parameter.value.reveal()
    try:
        if username_parameter is not None:
            if username_parameter.value.reveal().strip() != access_key_id:
                raise UsageError(
                    f"The SSM parameter {username_parameter.name} ({region}), the entry's "
                    f"`username_parameter`, does not contain the leaked key ID {access_key_id}.",
                    next_step="check the entry in the consumers file, then run again",
                )
            return _split_consumer(access_key_id, region, username_parameter, parameter, siblings)
        if text.strip() == access_key_id:
            return _split_consumer(access_key_id, region, parameter, None, siblings)
        if access_key_id in text:
            return _json_consumer(access_key_id, region, parameter)
        user = next(
            (
                sibling
                for sibling in siblings.values()
                if sibling.value.reveal().strip() == access_key_id
            ),
            None,
        )
        if user is None:
            raise UsageError(
                f"Neither the SSM parameter {parameter.name} ({region}) nor a parameter beside "
                f"it contains the leaked key ID {access_key_id}.",
                next_step="name the parameter that holds the key ID as `username_parameter`, "
                "or remove the entry from the consumers file, then run again",
            )
        return _split_consumer(access_key_id, region, user, parameter, siblings)
    except LayoutError as error:
        raise UsageError(
            f"The SSM parameter {parameter.name} ({region}) cannot be updated: {error}.",
            next_step="set `username_parameter` in its entry, or update it by hand (a manual "
            "entry) and run again",
        ) from error


def _found_consumer(
    access_key_id: str, region: str, parameter: Parameter, parameters: Mapping[str, Parameter]
) -> Consumer:
    """Build the consumer of a parameter that contains the key ID; raise LayoutError if none."""
    if parameter.value.reveal().strip() == access_key_id:
        siblings = {
            name: other
            for name, other in parameters.items()
            if _parent(name) == _parent(parameter.name)
        }
        return _split_consumer(access_key_id, region, parameter, None, siblings)
    return _json_consumer(access_key_id, region, parameter)


def _json_consumer(access_key_id: str, region: str, parameter: Parameter) -> Consumer:
    text = parameter.value.reveal()
    layout = detect_layout(text, access_key_id, region)
    if layout is None:
        raise LayoutError("it does not contain the key ID")
    register_credential(text, layout)
    return Consumer(
        SSM, parameter.arn, parameter.name, region, layout, {"parameter": parameter.name}
    )


def _split_consumer(
    access_key_id: str,
    region: str,
    user: Parameter,
    secret: Parameter | None,
    siblings: Mapping[str, Parameter],
) -> Consumer:
    """Pair a parameter that holds the key ID with the password or secret-key parameter beside it.

    The parameters under one path are read as the fields of one JSON secret,
    by their last name segment, so detection picks the password and the SMTP
    host or region exactly as it does in a secret. `secret` forces the choice.
    """
    leaves = {
        _leaf(name): parameter
        for name, parameter in siblings.items()
        if name not in (user.name, secret.name if secret else None)
        and parameter.value.reveal().strip() != access_key_id
    }
    if secret is not None:
        leaves = {_leaf(secret.name): secret, **leaves}
    document = {
        _leaf(user.name): access_key_id,
        **{leaf: parameter.value.reveal() for leaf, parameter in leaves.items()},
    }
    try:
        layout = detect_layout(json.dumps(document), access_key_id, region)
    except LayoutError:
        raise LayoutError(
            "it contains the key ID, but no parameter under the same path is named like a "
            "password or a secret access key"
        ) from None
    if layout is None:
        raise LayoutError("it does not contain the key ID")
    if secret is not None and layout.secret_field != _leaf(secret.name):
        # Detection preferred another sibling: classify the named parameter on its own.
        alone = detect_layout(
            json.dumps({_leaf(user.name): access_key_id, _leaf(secret.name): ""}),
            access_key_id,
            region,
        )
        if alone is None:
            raise LayoutError("it does not contain the key ID")
        if alone.credential == SMTP and layout.credential == SMTP:
            alone = dataclasses.replace(
                alone, smtp_region=layout.smtp_region, region_source=layout.region_source
            )
        layout = alone
    chosen = leaves.get(layout.secret_field)
    if chosen is None:
        raise LayoutError("it contains the key ID, but no parameter beside it contains the secret")
    source = leaves.get(layout.region_source)
    layout = CredentialLayout(
        layout.credential,
        user.name,
        chosen.name,
        layout.smtp_region,
        source.name if source else layout.region_source,
    )
    # The current secret is the leaked credential: registered, no output can show it.
    SecretValue(chosen.value.reveal())
    return Consumer(
        SSM,
        chosen.arn,
        chosen.name,
        region,
        layout,
        {"parameter": chosen.name, "username_parameter": user.name},
    )


def _siblings(
    gateway: SsmGateway, region: str, name: str, pause: Callable[[float], None]
) -> dict[str, Parameter]:
    """Read the parameters one level under the same path as `name` (declared entries only)."""
    parent = _parent(name)
    names = [
        summary.name
        for summary in gateway.describe_parameters(region, path=parent or None)
        if _parent(summary.name) == parent and summary.name != name
    ]
    parameters, _ = _read_parameters(gateway, region, names, pause)
    return parameters


def _read_parameters(
    gateway: SsmGateway, region: str, names: Sequence[str], pause: Callable[[float], None]
) -> tuple[dict[str, Parameter], dict[str, str]]:
    """Read parameters ten at a time; return them by name, and the error code of each unreadable."""
    parameters: dict[str, Parameter] = {}
    failures: dict[str, str] = {}
    for start in range(0, len(names), GET_PARAMETERS_LIMIT):
        batch = list(names[start : start + GET_PARAMETERS_LIMIT])
        found = _read_batch(gateway, region, batch, failures, pause)
        parameters.update((parameter.name, parameter) for parameter in found)
    return parameters, failures


def _read_batch(
    gateway: SsmGateway,
    region: str,
    batch: list[str],
    failures: dict[str, str],
    pause: Callable[[float], None],
) -> list[Parameter]:
    """Read one batch, waiting out throttling; record in `failures` what cannot be read.

    A batch that fails otherwise (a KMS key the operator may not use, for one)
    is read again one name at a time, so that only the unreadable parameters
    are left out.
    """
    delay = THROTTLED_FIRST_DELAY_SECONDS
    for attempt in range(1, THROTTLED_ATTEMPTS + 1):
        try:
            return gateway.get_parameters(region, batch)[0]
        except AwsCallError as error:
            if error.code in THROTTLING_CODES and attempt < THROTTLED_ATTEMPTS:
                pause(delay)
                delay *= 2
                continue
            if len(batch) == 1:
                failures[batch[0]] = error.code or "unknown error"
                return []
            break
    found = []
    for name in batch:
        found += _read_batch(gateway, region, [name], failures, pause)
    return found


def _read_all(
    gateway: SsmGateway, region: str, names: Sequence[str], consumer: Consumer
) -> dict[str, Parameter]:
    """Read the consumer's parameters; every one must exist."""
    found, missing = gateway.get_parameters(region, names)
    if missing:
        raise UsageError(
            f"The SSM parameter {', '.join(missing)} of {consumer.label} no longer exists.",
            next_step="recreate it or update the consumer by hand, then run `remediate resume`",
        )
    return {parameter.name: parameter for parameter in found}


def _parameter_names(consumer: Consumer) -> list[str]:
    """List the parameters a switch writes: the user name, then the secret, or the JSON one."""
    username = consumer.details.get("username_parameter")
    parameter = consumer.details.get("parameter", consumer.name)
    return [username, parameter] if username else [parameter]


def _reader(
    consumer: Consumer, name: str, credential: NewCredential
) -> Callable[[SecretValue], bool]:
    """Return a test of whether a value of `name` holds the new credential."""
    layout = consumer.layout
    if name == consumer.details.get("username_parameter"):
        return lambda value: value.reveal().strip() == credential.access_key_id
    if consumer.details.get("username_parameter"):
        return lambda value: credential.value_for(layout).matches(value.reveal())

    def holds_new(value: SecretValue) -> bool:
        try:
            document = json.loads(value.reveal())
        except json.JSONDecodeError:
            return False
        if not isinstance(document, dict):
            return False
        stored = document.get(layout.secret_field)
        return (
            document.get(layout.username_field) == credential.access_key_id
            and isinstance(stored, str)
            and credential.value_for(layout).matches(stored)
        )

    return holds_new


def _wrong_value(consumer: Consumer, name: str, credential: NewCredential) -> str:
    layout = consumer.layout
    if name == consumer.details.get("username_parameter"):
        return f"{name} does not contain {credential.access_key_id}"
    if consumer.details.get("username_parameter"):
        return f"{name} does not contain the new credential"
    return (
        f"{name} does not contain {credential.access_key_id} in {layout.username_field} and the "
        f"new credential in {layout.secret_field}"
    )


def _new_value(
    consumer: Consumer, name: str, parameter: Parameter, credential: NewCredential
) -> SecretValue:
    layout = consumer.layout
    if name == consumer.details.get("username_parameter"):
        return SecretValue(credential.access_key_id, register=False)
    if consumer.details.get("username_parameter"):
        return credential.value_for(layout)
    return SecretValue(
        rewrite_secret(
            parameter.value.reveal(),
            layout,
            credential.access_key_id,
            credential.value_for(layout).reveal(),
        )
    )


def _register_previous(consumer: Consumer, name: str, value: SecretValue) -> None:
    """Register a previous (leaked) credential before it is written back, so no output shows it."""
    if name == consumer.details.get("username_parameter"):
        return
    if consumer.details.get("username_parameter"):
        SecretValue(value.reveal())
        return
    try:
        register_credential(value.reveal(), consumer.layout)
    except (json.JSONDecodeError, AttributeError):
        SecretValue(value.reveal())


def _previous_version(
    history: Iterable[ParameterVersion], reads_new: Callable[[SecretValue], bool]
) -> int | None:
    """Return the newest version without the new credential: the one before the switch."""
    for version in sorted(history, key=lambda item: item.version, reverse=True):
        if not reads_new(version.value):
            return version.version
    return None


def _history_version(history: Iterable[ParameterVersion], version: Any) -> ParameterVersion | None:
    return next((item for item in history if item.version == version), None)


def _put(
    gateway: SsmGateway,
    region: str,
    name: str,
    value: SecretValue,
    parameter_type: str,
    key_id: str | None,
    tier: str | None,
) -> Callable[[], PutParameterReceipt]:
    return lambda: gateway.put_parameter(
        region, name, value, parameter_type=parameter_type, key_id=key_id, tier=tier
    )


def _put_call(
    consumer: Consumer,
    name: str,
    description: str,
    *,
    params: Mapping[str, Any],
    undo: str,
) -> PlannedCall:
    return PlannedCall(
        "ssm", "PutParameter", name, description, region=consumer.region, params=params, undo=undo
    )


def _undo(consumer: Consumer, name: str, version: str) -> str:
    return (
        f"write version {version} back: read it with `aws ssm get-parameter --region "
        f"{consumer.region} --name '{name}:{version}' --with-decryption`, then write it with "
        f"`aws ssm put-parameter --region {consumer.region} --name '{name}' --overwrite` and "
        "the same --type and --key-id"
    )


def _describe_put(receipt: PutParameterReceipt) -> dict[str, Any]:
    return {"name": receipt.name, "version": receipt.version}


def _region(consumer: Consumer) -> str:
    if consumer.region is None:
        raise UsageError(f"The SSM parameter {consumer.name} has no region.")
    return consumer.region


def _parent(name: str) -> str:
    """Return the path a parameter sits under: `/prod/mailer` for `/prod/mailer/smtp_user`."""
    return name.rpartition("/")[0]


def _leaf(name: str) -> str:
    return name.rpartition("/")[2]
