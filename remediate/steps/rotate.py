"""Rotate: a new access key for the same user, kept in the escrow at once, staged, then proven.

AWS shows a new secret access key once, so the moment the key exists it is
written to the escrow (see escrow.py). Consumers that can hold a value they do
not read yet (Secrets Manager's AWSPENDING) get it next, and then the key is
proven. A resumed run recovers the key from the escrow. A key of this incident whose
secret is in no destination is deleted and created again, and the journal says why.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from remediate.aws.base import CallReceipt
from remediate.aws.iam import ACTIVE, AccessKey, CreatedAccessKey
from remediate.aws.smtp import smtp_endpoint
from remediate.aws.smtp_auth import SmtpCheckResult, verify_for_region
from remediate.aws.sts import CallerIdentity
from remediate.core.errors import AwsCallError, UsageError, VerificationError
from remediate.core.interaction import Choice, Question, QuestionKind
from remediate.core.records import RecordType
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.evidence.iam_policies import documents_of, sending_statements
from remediate.steps.base import (
    Check,
    Plan,
    PlannedCall,
    Step,
    StepContext,
    StepResult,
    StepStatus,
)
from remediate.steps.consumers import SMTP, Consumer
from remediate.steps.escrow import (
    ESCROW_QUESTION,
    EscrowLocation,
    choose_escrow,
    read_escrow,
    write_escrow,
)
from remediate.steps.identify import temporary_key_reason
from remediate.steps.updaters.base import NewCredential
from remediate.steps.updaters.registry import updater_for

SMTP_CHECK_QUESTION = "rotate.smtp-check"

# The answer to rotate.delete-key that creates a new IAM user instead of deleting a key.
NEW_USER = "new-user"
SENDING_POLICY = "SesSendingAccess"

# IAM's CreateDate and our clock may disagree by a few seconds.
CLOCK_SKEW = timedelta(seconds=60)

# Errors a brand-new key returns while IAM propagates it (seconds, sometimes longer).
NOT_YET_VALID_CODES = frozenset({"InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure"})


class RotateStep(Step):
    kind = "rotate"
    mutating = True
    questions = ("rotate.delete-key", "rotate.confirm-delete", ESCROW_QUESTION, SMTP_CHECK_QUESTION)
    approvals = ("delete-extra-key",)
    approval_questions = ("rotate.confirm-delete",)
    defaults: ClassVar[Mapping[str, Any]] = {
        "verify_attempts": 8,
        "verify_first_delay_seconds": 1.0,
        # The SMTP proof: endpoint host and port (default email-smtp.<region>:587), and a
        # CA bundle to trust, for a VPC endpoint or a test server.
        "smtp_host": None,
        "smtp_port": 587,
        "smtp_ca_file": None,
    }

    def skip_reason(self, ctx: StepContext) -> str | None:
        return temporary_key_reason(ctx)

    def plan(self, ctx: StepContext) -> Plan:
        user = _user(ctx)
        consumers = _consumers(ctx)
        plan = Plan()
        keys = ctx.aws.iam.list_access_keys(user)
        if len(keys) >= 2:
            proposal = propose_key_to_delete(keys, ctx.access_key_id, _operator_key(ctx))
            target = proposal.access_key_id if proposal else "(none can be deleted)"
            plan.calls.append(
                PlannedCall("iam", "DeleteAccessKey", target, f"make room for a new key of {user}")
            )
        plan.calls.append(
            PlannedCall(
                "iam",
                "CreateAccessKey",
                user,
                "create the replacement key",
                params={"UserName": user},
                undo=f"aws iam delete-access-key --user-name {user} --access-key-id <new key>",
            )
        )
        plan.calls.append(
            PlannedCall(
                "secretsmanager",
                "CreateSecret",
                f"remediate/{ctx.incident_id}",
                "write the new key to the escrow before anything else",
                region=ctx.aws.default_region,
            )
        )
        for consumer in consumers:
            if updater_for(consumer).stages:
                plan.calls.append(
                    PlannedCall(
                        "secretsmanager",
                        "PutSecretValue",
                        consumer.name,
                        "stage the new credential as AWSPENDING; consumers read AWSCURRENT",
                        region=consumer.region,
                    )
                )
        plan.calls.append(
            PlannedCall(
                "sts", "GetCallerIdentity", "<new key>", "prove the new key works", mutating=False
            )
        )
        return plan

    def apply(self, ctx: StepContext, plan: Plan) -> StepResult:
        user = _user(ctx)
        consumers = _consumers(ctx)
        if not consumers:
            raise UsageError(
                "No consumer was chosen to receive the new credential, so no key is created.",
                next_step="run the find-consumers step again with `consumers.secrets` answered",
            )
        escrow = choose_escrow(ctx)

        user = _created_user(ctx) or user
        credential = self._recover_or_discard(ctx, user, escrow)
        deleted = None
        if credential is None:
            deleted, user = self._make_room(ctx, user)
            credential = _create(ctx, user)
            escrow_record = write_escrow(ctx, escrow, credential, consumers)
        else:
            escrow_record = escrow.as_record()
            ctx.console.info(
                f"Continuing with {credential.access_key_id}, recovered from the escrow."
            )

        staged = {
            consumer.resource: updater_for(consumer).stage(ctx, consumer, credential)
            for consumer in consumers
            if updater_for(consumer).stages
        }
        identity = _prove(ctx, credential, _user_arn(ctx, user), self.params)
        identity_arn = identity.arn
        proof = {
            "at": format_timestamp(ctx.now()),
            "arn": identity.arn,
            "request_id": identity.request_id,
        }
        # The proof is signed with the new key, so the operator's call log does not show it.
        ctx.record(
            RecordType.NOTE,
            text=f"sts GetCallerIdentity signed with {credential.access_key_id} at "
            f"{proof['at']} returned {identity.arn} (request ID "
            f"{identity.request_id or 'unknown'})",
        )
        smtp_checks = _prove_smtp(ctx, credential, consumers, self.params)

        outputs: dict[str, Any] = {
            "user_name": user,
            "new_access_key_id": credential.access_key_id,
            "deleted_access_key_id": deleted,
            "verified_arn": identity_arn,
            # The new key's own GetCallerIdentity call, which IAM's last-used data will show.
            "proof": proof,
            "escrow": escrow_record,
            "staged": staged,
            "smtp_checks": smtp_checks,
        }
        return StepResult(
            StepStatus.OK,
            f"New key {credential.access_key_id} works (GetCallerIdentity: {identity_arn}); it is "
            f"in the escrow {escrow.label} and staged in {len(staged)} consumer(s).",
            outputs,
        )

    def verify(self, ctx: StepContext, result: StepResult) -> list[Check]:
        user = result.outputs["user_name"]
        new_key = result.outputs["new_access_key_id"]
        keys = {key.access_key_id: key for key in ctx.aws.iam.list_access_keys(user)}
        key = keys.get(new_key)
        return [
            Check(
                "new-key-active",
                key is not None and key.status == "Active",
                f"{new_key} is {key.status if key else 'missing'} in IAM",
            ),
            Check(
                "at-most-two-keys",
                len(keys) <= 2,
                f"{user} has {len(keys)} access key(s)",
            ),
        ]

    def _recover_or_discard(
        self, ctx: StepContext, user: str, escrow: EscrowLocation
    ) -> NewCredential | None:
        """Reuse a key an interrupted run of this incident created, or delete it.

        A key whose CreateAccessKey result was journaled is known by its ID. A key
        created by a call whose result never reached the journal is recognised as
        one that exists now, was not among the user's keys before that call, and
        was created after it was requested. Its secret is looked for in memory,
        then in the escrow; a key whose secret is in neither is deleted.
        """
        keys = ctx.aws.iam.list_access_keys(user)
        ours = {
            str(details.get("access_key_id")) for details in ctx.completed_calls("CreateAccessKey")
        }
        for intent in ctx.unfinished_calls("CreateAccessKey"):
            before = set(intent.get("KeysBefore") or [])
            requested = parse_timestamp(str(intent["requested_at"])) - CLOCK_SKEW
            ours |= {
                key.access_key_id
                for key in keys
                if key.access_key_id not in before and key.create_date >= requested
            }
        recovered: NewCredential | None = None
        for key in keys:
            key_id = key.access_key_id
            if key_id not in ours or key_id == ctx.access_key_id:
                continue
            secret = ctx.secret(key_id) or read_escrow(ctx, escrow, key_id)
            if secret is not None and recovered is None:
                ctx.keep_secret(key_id, secret)
                recovered = NewCredential(key_id, user, secret)
                continue
            ctx.console.warning(
                f"{key_id} was created by an interrupted run of this incident and its secret is "
                "in no destination; it is deleted and a new key is created in its place."
            )
            _delete_key(
                ctx,
                user,
                key_id,
                "delete a key created by an interrupted run, whose secret is in no destination",
            )
        return recovered

    def _make_room(self, ctx: StepContext, user: str) -> tuple[str | None, str]:
        """IAM allows two keys per user; when there are two, delete one or use a new user.

        Return the deleted key (or None) and the user the new key is for. Only an
        inactive key is proposed as the default answer: deleting an active key may
        break whatever uses it, so that key must be named explicitly. The
        alternative is a new IAM user for SMTP with the same SES sending rights,
        which leaves both keys as they are.
        """
        keys = ctx.aws.iam.list_access_keys(user)
        if len(keys) < 2:
            return None, user
        operator_key = _operator_key(ctx)
        last_used = {key.access_key_id: _last_used(ctx, key) for key in keys}
        proposal = propose_key_to_delete(keys, ctx.access_key_id, operator_key, last_used)
        deletable = [
            Choice(
                key.access_key_id,
                _describe_key(key, last_used[key.access_key_id]),
                disabled=_why_not_deletable(key, ctx.access_key_id, operator_key),
            )
            for key in keys
        ]
        new_user = Choice(
            NEW_USER, f"neither: create a new IAM user for SMTP with {user}'s SES sending rights"
        )
        choices = (*deletable, new_user)
        chosen = ctx.ask(
            Question(
                "rotate.delete-key",
                f"{user} has two access keys, the most IAM allows. Which one should be deleted?",
                QuestionKind.SELECT,
                default=proposal.access_key_id if proposal and proposal.status != ACTIVE else None,
                choices=choices,
            )
        )
        ctx.record(RecordType.NOTE, text=_choice_reason(str(chosen), proposal, keys))
        if chosen == NEW_USER:
            return None, _create_sending_user(ctx, user)
        key_id = str(chosen)
        approved = ctx.ask(
            Question(
                "rotate.confirm-delete",
                f"Delete {key_id} of {user}? A deleted key cannot be restored.",
                QuestionKind.CONFIRM,
                default=False,
                approval="delete-extra-key",
            )
        )
        if approved is not True:
            raise UsageError(
                f"A new key cannot be created while {user} has two keys, "
                f"and deleting {key_id} was declined.",
                next_step="choose another key or approve `delete-extra-key` in the answers file, "
                "then run `remediate resume`",
            )
        _delete_key(ctx, user, key_id, f"make room for a new key of {user}")
        return key_id, user


def _choice_reason(chosen: str, proposal: AccessKey | None, keys: list[AccessKey]) -> str:
    """Say why the room for a new key is made this way, for the journal and the report."""
    if chosen == NEW_USER:
        return (
            "Both keys were kept: a new IAM user with the same SES sending rights gets the new key."
        )
    key = next((key for key in keys if key.access_key_id == chosen), None)
    state = f"{key.status}, created {format_timestamp(key.create_date)}" if key else "unknown"
    if proposal is not None and chosen == proposal.access_key_id:
        why = "it is inactive" if proposal.status != ACTIVE else "it is the oldest key that may go"
        return f"{chosen} ({state}) was chosen for deletion as proposed, because {why}."
    return f"{chosen} ({state}) was chosen for deletion by the operator."


def propose_key_to_delete(
    keys: list[AccessKey],
    leaked_key_id: str,
    operator_key_id: str | None,
    last_used: Mapping[str, datetime | str | None] | None = None,
) -> AccessKey | None:
    """Propose the key to delete: inactive before active, never used before used, oldest first.

    `last_used` maps key IDs to their last use (a time, None for never, or the
    error code when it could not be read, which counts as used).

    The leaked key is never offered, because consumers still use it until they
    are switched. The operator's own key is not offered, because the run needs it.
    """
    used = last_used or {}
    candidates = [
        key for key in keys if _why_not_deletable(key, leaked_key_id, operator_key_id) is None
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda key: (
            key.status == ACTIVE,
            used.get(key.access_key_id) is not None,
            key.create_date,
        ),
    )


def _why_not_deletable(
    key: AccessKey, leaked_key_id: str, operator_key_id: str | None
) -> str | None:
    if key.access_key_id == leaked_key_id:
        return "the leaked key: consumers still use it"
    if key.access_key_id == operator_key_id:
        return "the key you are signed in with"
    return None


def _created_user(ctx: StepContext) -> str | None:
    """Return the SMTP user an earlier run of this incident created, if it chose a new user."""
    for details in reversed(ctx.completed_calls("CreateUser")):
        return str(details.get("user_name"))
    for intent in ctx.unfinished_calls("CreateUser"):
        name = str(intent.get("UserName"))
        if ctx.aws.iam.user_exists(name):
            return name
    return None


def _create_sending_user(ctx: StepContext, user: str) -> str:
    """Create an IAM user with the SES sending rights of `user`; return its name."""
    documents = documents_of(ctx.aws.iam.list_user_policies(user))
    statements = sending_statements(documents)
    if not statements:
        raise UsageError(
            f"No policy of {user} allows ses:SendRawEmail or ses:SendEmail, so there are no "
            "sending rights to give a new user.",
            next_step="choose a key to delete instead, then run `remediate resume`",
        )
    name = f"{user[:40]}-rotated-{ctx.now().strftime('%Y%m%d%H%M')}"
    created = ctx.mutate(
        PlannedCall(
            "iam",
            "CreateUser",
            name,
            f"create a new SMTP user instead of deleting a key of {user}",
            params={"UserName": name},
            undo=f"aws iam delete-user --user-name {name} (after deleting its keys and policy)",
        ),
        lambda: ctx.aws.iam.create_user(name),
        describe=lambda receipt: {"user_name": receipt.user_name, "arn": receipt.arn},
    )
    document = {"Version": "2012-10-17", "Statement": statements}
    ctx.mutate(
        PlannedCall(
            "iam",
            "PutUserPolicy",
            f"{name}/{SENDING_POLICY}",
            f"give {name} the SES sending rights of {user}",
            params={"UserName": name, "PolicyName": SENDING_POLICY},
            undo=f"aws iam delete-user-policy --user-name {name} --policy-name {SENDING_POLICY}",
        ),
        lambda: ctx.aws.iam.put_inline_policy("User", name, SENDING_POLICY, document),
    )
    ctx.console.success(f"Created {created.user_name} with the SES sending rights of {user}.")
    return created.user_name


def _delete_key(ctx: StepContext, user: str, key_id: str, description: str) -> None:
    """Delete a key; one already gone (deleted by an interrupted run) counts as deleted."""

    def delete() -> CallReceipt:
        try:
            return ctx.aws.iam.delete_access_key(user, key_id)
        except AwsCallError as error:
            if error.code == "NoSuchEntity":
                return CallReceipt(request_id=error.request_id)
            raise

    ctx.mutate(
        PlannedCall(
            "iam",
            "DeleteAccessKey",
            key_id,
            description,
            params={"UserName": user, "AccessKeyId": key_id},
            undo="none: a deleted key cannot be restored",
        ),
        delete,
    )


def _last_used(ctx: StepContext, key: AccessKey) -> datetime | str | None:
    """The key's last use as IAM reports it, or the error code when it cannot be read."""
    try:
        return ctx.aws.iam.get_access_key_last_used(key.access_key_id).last_used_date
    except AwsCallError as error:
        return error.code or "unknown"


def _describe_key(key: AccessKey, last_used: datetime | str | None) -> str:
    """Label a key with its status, age and last use, so the operator sees what deleting breaks."""
    if isinstance(last_used, datetime):
        used = f"last used {format_timestamp(last_used)}"
    elif last_used is None:
        used = "never used, as far as IAM reports"
    else:
        used = f"last use unknown ({last_used})"
    return (
        f"{key.access_key_id} ({key.status}, created {format_timestamp(key.create_date)}, {used})"
    )


def _create(ctx: StepContext, user: str) -> NewCredential:
    keys_before = [key.access_key_id for key in ctx.aws.iam.list_access_keys(user)]
    created = ctx.mutate(
        PlannedCall(
            "iam",
            "CreateAccessKey",
            user,
            "create the replacement key",
            # KeysBefore lets a resumed run recognise the key if the process
            # stops after IAM creates it but before its result is journaled.
            params={"UserName": user, "KeysBefore": keys_before},
            undo=f"aws iam delete-access-key --user-name {user} --access-key-id <new key>",
        ),
        lambda: ctx.aws.iam.create_access_key(user),
        describe=_describe_created,
    )
    ctx.keep_secret(created.access_key_id, created.secret_access_key)
    ctx.console.success(f"Created {created.access_key_id} for {user}.")
    return NewCredential(created.access_key_id, created.user_name, created.secret_access_key)


def _prove(
    ctx: StepContext, created: NewCredential, user_arn: str, params: Mapping[str, Any]
) -> CallerIdentity:
    """Call STS GetCallerIdentity with the new key, waiting while IAM propagates it."""
    attempts = int(params["verify_attempts"])
    delay = float(params["verify_first_delay_seconds"])
    last_error: AwsCallError | None = None
    for attempt in range(1, attempts + 1):
        try:
            identity = ctx.aws.sts.get_caller_identity_with(
                created.access_key_id, created.secret_access_key
            )
        except AwsCallError as error:
            if error.code not in NOT_YET_VALID_CODES:
                raise
            last_error = error
            ctx.console.info(
                f"The new key is not valid yet ({error.code}); retry {attempt} of {attempts}."
            )
            ctx.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        if identity.arn != user_arn:
            raise VerificationError(
                f"The new key {created.access_key_id} authenticates as {identity.arn}, "
                f"not as {user_arn}."
            )
        return identity
    raise VerificationError(
        f"The new key {created.access_key_id} was still rejected after {attempts} attempts "
        f"({last_error.code if last_error else 'unknown'}). No consumer reads it yet; it is in "
        "the escrow, so a resumed run proves it again without creating another key.",
        next_step="wait a minute (IAM may be slow to propagate new keys), then run "
        "`remediate resume`",
    )


def _prove_smtp(
    ctx: StepContext,
    credential: NewCredential,
    consumers: list[Consumer],
    params: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Prove the SMTP password of each region consumers send through, when the operator asks.

    Each check is STARTTLS and AUTH LOGIN, and sends no mail. A new key's SMTP
    password may be refused for a while after the key is created, so a 535 is
    retried like the STS proof.
    """
    regions = sorted(
        {
            c.layout.smtp_region
            for c in consumers
            if c.layout.credential == SMTP and c.layout.smtp_region
        }
    )
    if not regions:
        return []
    host = params.get("smtp_host")
    port = int(params["smtp_port"])
    if ctx.simulated and not host:
        # A simulated account has no SMTP endpoint, and AWS's real one must not be reached.
        ctx.console.info(
            "The SMTP check is skipped: AWS is simulated here and has no SMTP endpoint."
        )
        return []
    targets = ", ".join(f"{host or smtp_endpoint(region)}:{port}" for region in regions)
    wanted = ctx.ask(
        Question(
            SMTP_CHECK_QUESTION,
            f"Prove the new SMTP password with SMTP AUTH at {targets} (STARTTLS and AUTH LOGIN, "
            "no mail is sent)? It needs a network path to the endpoint.",
            QuestionKind.CONFIRM,
            default=False,
        )
    )
    if wanted is not True:
        return []
    context = (
        ssl.create_default_context(cafile=params["smtp_ca_file"])
        if params.get("smtp_ca_file")
        else None
    )
    results = []
    for region in regions:
        result = _smtp_attempts(ctx, credential, region, host, port, context, params)
        results.append(
            {
                "region": region,
                "endpoint": result.endpoint,
                "accepted": result.accepted,
                "reply_code": result.reply_code,
            }
        )
        ctx.console.success(
            f"SMTP AUTH with {credential.access_key_id} accepted at {result.endpoint}."
        )
    return results


def _smtp_attempts(
    ctx: StepContext,
    credential: NewCredential,
    region: str,
    host: str | None,
    port: int,
    context: ssl.SSLContext | None,
    params: Mapping[str, Any],
) -> SmtpCheckResult:
    attempts = int(params["verify_attempts"])
    delay = float(params["verify_first_delay_seconds"])
    password = credential.value_for_region(region)
    for attempt in range(1, attempts + 1):
        result = verify_for_region(
            credential.access_key_id, password, region, host=host, port=port, tls_context=context
        )
        if result.accepted:
            return result
        ctx.console.info(
            f"SMTP AUTH at {result.endpoint} refused ({result.reply_code}); "
            f"retry {attempt} of {attempts}."
        )
        ctx.sleep(delay)
        delay = min(delay * 2, 30.0)
    raise VerificationError(
        f"SMTP AUTH with {credential.access_key_id} was refused at {result.endpoint} "
        f"({result.reply_code} {result.reply_text}) after {attempts} attempts. No consumer "
        "reads the new key yet; it is in the escrow.",
        next_step="wait a few minutes (new SMTP credentials can take a while), then run "
        "`remediate resume`",
    )


def _describe_created(created: CreatedAccessKey) -> dict[str, Any]:
    return {
        "access_key_id": created.access_key_id,
        "user_name": created.user_name,
        "create_date": format_timestamp(created.create_date),
    }


def _user(ctx: StepContext) -> str:
    user = ctx.output_of("identify").get("user_name")
    if not user:
        raise UsageError("The identify step has not run, so the key's owner is unknown.")
    return str(user)


def _user_arn(ctx: StepContext, user: str) -> str:
    identify = ctx.output_of("identify")
    if user == identify.get("user_name") and identify.get("user_arn"):
        return str(identify["user_arn"])
    return ctx.aws.iam.get_user_arn(user)


def _consumers(ctx: StepContext) -> list[Consumer]:
    records = ctx.output_of("find-consumers").get("consumers", [])
    return [Consumer.from_record(record) for record in records]


def _operator_key(ctx: StepContext) -> str | None:
    credentials = ctx.aws.clients.session.get_credentials()
    return credentials.access_key if credentials is not None else None
