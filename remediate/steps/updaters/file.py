"""Files on disk as consumers: a dotenv file or a Java properties file, listed in a consumers file.

A switch rewrites only the values of the two credential keys and keeps every
other byte: lines, comments, ordering, quotes, `export` and line endings. It
first keeps a copy beside the file (`<path>.remediate-<incident id>.bak`, created
once), then replaces the file atomically with its mode kept, and its owner
where the process may set it. The journal records paths and SHA-256 hashes of
the file, never its content.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediate.core.errors import UsageError
from remediate.core.secrets import SecretValue
from remediate.steps.base import Check, PlannedCall, StepContext
from remediate.steps.consumers import IAM_KEY, SMTP, Consumer, CredentialLayout, LayoutError
from remediate.steps.consumers import detect_layout as detect_json_layout
from remediate.steps.updaters.base import NewCredential, Updater
from remediate.steps.updaters.file_format import (
    DOTENV,
    FORMATS,
    PROPERTIES,
    FormatError,
    parse_assignments,
    rewrite_assignments,
)

FILE = "file"
# The region source detect_layout reports when the document names no SMTP host
# or region. A file has no region of its own to fall back on, so this is an error.
_NO_REGION_FOUND = "secret region"


@dataclass(frozen=True)
class FileReceipt:
    """Result of a file change, for the journal: the SHA-256 of the bytes written.

    Files have no request ID, so `request_id` stays None.
    """

    sha256: str
    owner_kept: bool = True
    request_id: str | None = None


class FileUpdater(Updater):
    kind = FILE

    def declare(self, ctx: StepContext, declaration: Mapping[str, Any]) -> Consumer:
        raw = str(declaration.get("path") or "").strip()
        if not raw:
            raise UsageError("A file consumer in the consumers file needs a `path`.")
        # Absolute, so that `remediate resume` from another directory finds it;
        # symbolic links are followed only when the file is written.
        path = Path(os.path.abspath(Path(raw).expanduser()))
        file_format = str(
            declaration.get("format") or (PROPERTIES if path.suffix == ".properties" else DOTENV)
        )
        if file_format not in FORMATS:
            raise UsageError(
                f"The file consumer {path} has format {file_format!r}; use {' or '.join(FORMATS)}."
            )
        values = _values(_read_text(path), file_format, path)
        layout = _file_layout(declaration, values, ctx.access_key_id, path)
        # The current secret is the leaked credential: registered, no output can show it.
        SecretValue(values[layout.secret_field])
        return Consumer(
            FILE, str(path), str(path), None, layout, {"path": str(path), "format": file_format}
        )

    def plan_switch(self, consumer: Consumer) -> list[PlannedCall]:
        path = Path(consumer.details["path"])
        backup = "<path>.remediate-<incident id>.bak"
        return [
            PlannedCall(
                "file",
                "BackupFile",
                str(path),
                f"keep a copy of the file beside it ({backup}), once",
                undo=_backup_undo(backup),
            ),
            PlannedCall(
                "file",
                "WriteFile",
                str(path),
                f"write {consumer.layout.username_field} and {consumer.layout.secret_field}, "
                "keeping every other line, and replace the file atomically",
                params={"path": str(path)},
                undo=f"copy {backup} back over {path}",
            ),
        ]

    def switch(
        self,
        ctx: StepContext,
        consumer: Consumer,
        credential: NewCredential,
        staged: Mapping[str, Any],
    ) -> dict[str, Any]:
        target = _target(consumer)
        backup = backup_path(target, ctx.incident_id)
        data = _read_bytes(target)
        text = _decode(data, target)

        new_secret = credential.value_for(consumer.layout)
        if _holds_new(text, consumer, credential.access_key_id, new_secret):
            # A resumed run: this switch already happened.
            ctx.console.info(f"{consumer.label} already contains {credential.access_key_id}.")
            return _record(consumer, target, backup, _sha256_of(backup), _sha256(data))

        new_text = _rewrite(text, consumer, target, credential.access_key_id, new_secret)
        status = target.stat()
        if status.st_nlink > 1:
            ctx.console.warning(
                f"{target} has {status.st_nlink} hard links. It is replaced by a new file, so "
                "the other names keep the leaked credential: update them by hand."
            )
        before = _sha256(data)
        if backup.exists():
            ctx.console.info(f"Keeping the backup {backup}, made by an earlier run.")
        else:
            _back_up(ctx, target, backup, data, status)
        receipt = _write(ctx, consumer, target, backup, new_text, status, before)

        if not receipt.owner_kept:
            ctx.console.warning(
                f"{target} could not be given back to its owner (uid {status.st_uid}, gid "
                f"{status.st_gid}); it is now owned by this process's user. If the application "
                f"reads it as that owner, run `chown {status.st_uid}:{status.st_gid} {target}`."
            )
        ctx.console.success(f"{consumer.label} now contains the new credential.")
        return _record(consumer, target, backup, before, receipt.sha256)

    def verify(
        self,
        ctx: StepContext,
        consumer: Consumer,
        switched: Mapping[str, Any],
        credential: NewCredential,
    ) -> Check:
        layout = consumer.layout
        target = _target(consumer)
        backup = Path(switched["backup_path"])
        values = _values(_decode(_read_bytes(target), target), consumer.details["format"], target)
        problems = []
        if values.get(layout.username_field) != credential.access_key_id:
            problems.append(f"{layout.username_field} does not contain {credential.access_key_id}")
        stored = values.get(layout.secret_field)
        if stored is None or not credential.value_for(layout).matches(stored):
            problems.append(f"{layout.secret_field} does not contain the new credential")
        if backup.exists():
            mode, expected = _mode(target), _mode(backup)
            if mode != expected:
                problems.append(f"its mode is {mode:04o}, not {expected:04o} as before")
        detail = "; ".join(problems) or f"contains {credential.access_key_id} (read back)"
        return Check(f"consumer:{consumer.name}", not problems, f"{consumer.label}: {detail}")

    def restore(self, ctx: StepContext, consumer: Consumer, switched: Mapping[str, Any]) -> str:
        target = _target(consumer)
        backup = Path(switched["backup_path"])
        if not backup.exists():
            raise UsageError(
                f"The backup {backup} of {target} is missing, so the file cannot be put back.",
                next_step="put the previous credential in the file by hand",
            )
        data = _read_bytes(backup)
        current = _sha256_of(target)
        if current == _sha256(data):
            return f"{consumer.label} already contains its previous content"
        status = backup.stat()
        ctx.mutate(
            PlannedCall(
                "file",
                "RestoreFile",
                str(target),
                "put the copy made before the switch back (rollback)",
                params={
                    "path": str(target),
                    "backup_path": str(backup),
                    "sha256_before": current,
                },
                undo=f"run `remediate resume` to switch {target} to the new credential again",
            ),
            _guarded(target, lambda: _replace_file(target, data, status)),
            describe=lambda receipt: {"sha256_after": receipt.sha256},
        )
        return f"{consumer.label} contains its previous content again (from {backup})"


def _rewrite(
    text: str, consumer: Consumer, target: Path, access_key_id: str, secret: SecretValue
) -> str:
    layout = consumer.layout
    try:
        return rewrite_assignments(
            text,
            consumer.details["format"],
            {layout.username_field: access_key_id, layout.secret_field: secret.reveal()},
        )
    except FormatError as error:
        raise UsageError(
            f"The file {target} cannot be updated: {error}.",
            next_step="update it by hand (a manual entry in the consumers file), then run "
            "`remediate resume`",
        ) from error


def _back_up(
    ctx: StepContext, target: Path, backup: Path, data: bytes, status: os.stat_result
) -> None:
    before = _sha256(data)
    ctx.mutate(
        PlannedCall(
            "file",
            "BackupFile",
            str(target),
            "keep a copy of the file beside it before changing it",
            params={"path": str(target), "backup_path": str(backup), "sha256": before},
            undo=_backup_undo(str(backup)),
        ),
        _guarded(target, lambda: _create_backup(backup, data, status)),
        describe=lambda receipt: {"backup_path": str(backup), "sha256": receipt.sha256},
    )


def _write(
    ctx: StepContext,
    consumer: Consumer,
    target: Path,
    backup: Path,
    text: str,
    status: os.stat_result,
    before: str,
) -> FileReceipt:
    layout = consumer.layout
    return ctx.mutate(
        PlannedCall(
            "file",
            "WriteFile",
            str(target),
            f"write {layout.username_field} and {layout.secret_field}, keeping every other "
            "line, and replace the file atomically",
            params={
                "path": str(target),
                "backup_path": str(backup),
                "sha256_before": before,
                "keys": [layout.username_field, layout.secret_field],
            },
            undo=f"copy {backup} back over {target}, keeping its mode",
        ),
        _guarded(target, lambda: _replace_file(target, text.encode("utf-8"), status)),
        describe=lambda receipt: {
            "sha256_after": receipt.sha256,
            "owner_kept": receipt.owner_kept,
        },
    )


def backup_path(target: Path, incident_id: str) -> Path:
    """Return the path of the copy kept beside a file before its switch."""
    return target.with_name(f"{target.name}.remediate-{incident_id}.bak")


def _file_layout(
    declaration: Mapping[str, Any], values: Mapping[str, str], access_key_id: str, path: Path
) -> CredentialLayout:
    """Find the keys that hold the credential, as in a JSON secret; the entry's keys win."""
    try:
        detected = detect_json_layout(json.dumps(dict(values)), access_key_id, "")
        reason = None
    except LayoutError as error:
        detected, reason = None, str(error)
    if detected is None and reason is None:
        raise UsageError(
            f"The file {path} does not contain the leaked key ID {access_key_id}.",
            next_step="check the entry's `path` in the consumers file, then run again",
        )

    username_key = str(declaration.get("username_key") or "") or (
        detected.username_field if detected else None
    )
    secret_key = str(declaration.get("secret_key") or "") or (
        detected.secret_field if detected else None
    )
    if not username_key or not secret_key:
        raise UsageError(
            f"The file {path} cannot be updated: {reason}.",
            next_step="set `username_key` and `secret_key` in its entry in the consumers file, "
            "then run again",
        )
    if values.get(username_key) != access_key_id:
        raise UsageError(
            f"{username_key} in {path} does not contain the leaked key ID {access_key_id}.",
            next_step="check `username_key` in its entry in the consumers file, then run again",
        )
    if secret_key not in values:
        raise UsageError(
            f"The file {path} has no key {secret_key}.",
            next_step="check `secret_key` in its entry in the consumers file, then run again",
        )

    credential = _credential_kind(declaration, detected, username_key, secret_key, path)
    if credential == IAM_KEY:
        return CredentialLayout(IAM_KEY, username_key, secret_key, None, "not needed")

    if declaration.get("smtp_region"):
        region, source = str(declaration["smtp_region"]), "consumers file"
    elif detected and detected.credential == SMTP and detected.region_source != _NO_REGION_FOUND:
        region, source = str(detected.smtp_region), detected.region_source
    else:
        raise UsageError(
            f"The file {path} names no SMTP host or region, so the region its SMTP password is "
            "for is unknown.",
            next_step="add `smtp_region` to its entry in the consumers file, then run again",
        )
    return CredentialLayout(SMTP, username_key, secret_key, region, source)


def _credential_kind(
    declaration: Mapping[str, Any],
    detected: CredentialLayout | None,
    username_key: str,
    secret_key: str,
    path: Path,
) -> str:
    named = declaration.get("credential")
    if named is not None:
        if named not in (SMTP, IAM_KEY):
            raise UsageError(
                f"The file consumer {path} has credential {named!r}; use {SMTP} or {IAM_KEY}."
            )
        return str(named)
    if detected is not None and detected.secret_field == secret_key:
        return detected.credential
    try:
        alone = detect_json_layout(
            json.dumps({username_key: "key", secret_key: ""}), "key", "no-region"
        )
    except LayoutError:
        alone = None
    if alone is None:
        raise UsageError(
            f"The name {secret_key} in {path} does not say whether it contains an SMTP password or "
            "a secret access key.",
            next_step=f"set `credential: {SMTP}` or `credential: {IAM_KEY}` in its entry, "
            "then run again",
        )
    return alone.credential


def _values(text: str, file_format: str, path: Path) -> dict[str, str]:
    """Map each key to its value; the last assignment wins, as in the loaders of both formats."""
    try:
        assignments = parse_assignments(text, file_format)
    except FormatError as error:
        raise UsageError(f"The file {path} cannot be read as {file_format}: {error}.") from error
    return {assignment.key: assignment.value for assignment in assignments}


def _holds_new(text: str, consumer: Consumer, access_key_id: str, secret: SecretValue) -> bool:
    values = _values(text, consumer.details["format"], Path(consumer.details["path"]))
    stored = values.get(consumer.layout.secret_field)
    return (
        values.get(consumer.layout.username_field) == access_key_id
        and stored is not None
        and secret.matches(stored)
    )


def _record(
    consumer: Consumer, target: Path, backup: Path, before: str | None, after: str
) -> dict[str, Any]:
    return {
        "path": str(target),
        "backup_path": str(backup),
        "sha256_before": before,
        "sha256_after": after,
        "summary": f"{consumer.layout.username_field} and {consumer.layout.secret_field} "
        f"rewritten in {target}; the file as it was is kept in {backup}, which holds the leaked "
        "credential: delete it once the old key is deactivated",
    }


def _target(consumer: Consumer) -> Path:
    """Return the file to change: the declared path, following symbolic links to the real file.

    Replacing a symbolic link itself would cut the link; the real file is
    replaced instead, and its backup sits beside it.
    """
    return Path(consumer.details["path"]).resolve()


def _read_text(path: Path) -> str:
    return _decode(_read_bytes(path), path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UsageError(
            f"Cannot read the file {path}: {error.strerror}.",
            next_step="check the path and that this user may read it, then run again",
        ) from error


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"The file {path} is not UTF-8 text ({error.reason}).") from error


def _guarded(target: Path, action: Callable[[], FileReceipt]) -> Callable[[], FileReceipt]:
    """Turn a failed write into an error that names the file and the way forward."""

    def run() -> FileReceipt:
        try:
            return action()
        except OSError as error:
            raise UsageError(
                f"Cannot write {target} or its backup: {error.strerror} ({error.filename}).",
                next_step="run remediate as a user that may write in that directory, then "
                "`remediate resume`",
            ) from error

    return run


def _create_backup(backup: Path, data: bytes, status: os.stat_result) -> FileReceipt:
    """Write the backup once: an existing backup is the file as it was first, and is kept."""
    temporary, owner_kept = _write_temporary(backup, data, status)
    try:
        # A hard link appears whole and never replaces an existing file.
        os.link(temporary, backup)
    except FileExistsError:
        pass
    except OSError:
        # A file system without hard links: replace, which is atomic, but only if still absent.
        if not backup.exists():
            os.replace(temporary, backup)
    finally:
        Path(temporary).unlink(missing_ok=True)
    _fsync_directory(backup.parent)
    return FileReceipt(sha256=_sha256(data), owner_kept=owner_kept)


def _replace_file(target: Path, data: bytes, status: os.stat_result) -> FileReceipt:
    """Replace the file atomically: a reader sees the old content or the new, never a mix."""
    temporary, owner_kept = _write_temporary(target, data, status)
    try:
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)
    return FileReceipt(sha256=_sha256(data), owner_kept=owner_kept)


def _write_temporary(beside: Path, data: bytes, status: os.stat_result) -> tuple[str, bool]:
    """Write data to a new file in the same directory, with the mode and owner of `status`."""
    descriptor, temporary = tempfile.mkstemp(
        dir=beside.parent, prefix=f".{beside.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(status.st_mode))
        owner_kept = _keep_owner(temporary, status)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary, owner_kept


def _keep_owner(path: str, status: os.stat_result) -> bool:
    """Give the file the owner and group of `status`; False when this process may not."""
    current = os.stat(path)
    if (current.st_uid, current.st_gid) == (status.st_uid, status.st_gid):
        return True
    try:
        os.chown(path, status.st_uid, status.st_gid)
    except PermissionError:
        return False
    return True


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _backup_undo(backup: str) -> str:
    return f"delete {backup} once the old key is deactivated (it holds the leaked credential)"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_of(path: Path) -> str | None:
    try:
        return _sha256(path.read_bytes())
    except FileNotFoundError:
        return None


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
