"""Dotenv and properties files as consumers: in-place rewrite, backup, read-back and rollback."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest

from remediate.aws.smtp import smtp_password_v4
from remediate.core.errors import UsageError
from remediate.core.records import RecordType
from remediate.core.secrets import SecretValue
from remediate.steps.consumers import IAM_KEY, SMTP, CredentialLayout
from remediate.steps.updaters.base import NewCredential
from remediate.steps.updaters.file import FileUpdater, backup_path
from remediate.steps.updaters.file_format import (
    DOTENV,
    PROPERTIES,
    Assignment,
    FormatError,
    parse_assignments,
    rewrite_assignments,
)
from tests.helpers import (
    CONSUMER_REGION,
    SMTP_USER,
    current_secret,
    make_context,
    make_smtp_world,
    run_step,
)
from tests.steps.test_escrow import prepared

KEY = "AKIAIOSFODNN7EXAMPLE"
UPDATER = FileUpdater()

DOTENV_TEXT = (
    "# mailer settings\r\n"
    "export SMTP_HOST=email-smtp.eu-west-1.amazonaws.com\r\n"
    "\r\n"
    'SMTP_USERNAME="{user}"  # rotated by hand last year\r\n'
    "SMTP_PASSWORD='{password}'\r\n"
    "FROM=no-reply@example.com # sender\r\n"
    'TLS_CA="-----BEGIN CERTIFICATE-----\r\n'
    "SMTP_PASSWORD=not-an-assignment\r\n"
    '-----END CERTIFICATE-----"\r\n'
)

PROPERTIES_TEXT = (
    "! Spring mail settings\n"
    "spring.mail.host = email-smtp.eu-west-1.amazonaws.com\n"
    "spring.mail.username: {user}\n"
    "spring.mail.password {password}\n"
    "spring.mail.properties.list = a, \\\n"
    "    b\n"
    "# spring.mail.password=old\n"
)


def dotenv_file(tmp_path: Path, user: str, password: str, *, mode: int = 0o640) -> Path:
    path = tmp_path / "mailer.env"
    path.write_bytes(DOTENV_TEXT.format(user=user, password=password).encode())
    path.chmod(mode)
    return path


def world_and_file(session: boto3.Session, tmp_path: Path) -> tuple[Any, Path, str]:
    world = make_smtp_world(session)
    password = smtp_password_v4(world.leaked_secret, CONSUMER_REGION)
    return world, dotenv_file(tmp_path, world.leaked_key_id, password), password


def new_credential(session: boto3.Session) -> NewCredential:
    key = session.client("iam").create_access_key(UserName=SMTP_USER)["AccessKey"]
    return NewCredential(key["AccessKeyId"], SMTP_USER, SecretValue(key["SecretAccessKey"]))


def declared(context: Any, path: Path, **fields: Any) -> Any:
    return UPDATER.declare(context, {"kind": "file", "path": str(path), **fields})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def journal_text(context: Any) -> str:
    return "\n".join(json.dumps(record.fields, default=str) for record in context.journal.records)


def test_dotenv_assignments_parsed() -> None:
    text = DOTENV_TEXT.format(user=KEY, password="pa=ss")

    values = [(a.key, a.value, a.quote) for a in parse_assignments(text, DOTENV)]

    assert values == [
        ("SMTP_HOST", "email-smtp.eu-west-1.amazonaws.com", ""),
        ("SMTP_USERNAME", KEY, '"'),
        ("SMTP_PASSWORD", "pa=ss", "'"),
        ("FROM", "no-reply@example.com", ""),
        ("TLS_CA", "", '"'),
    ]


def test_dotenv_double_quote_escapes() -> None:
    assignments = parse_assignments('A="x\\"y\\\\z\\n"\nB=plain\n', DOTENV)

    assert assignments[0] == Assignment("A", 'x"y\\z\n', 0, 3, 12, '"')
    assert assignments[1].value == "plain"


def test_dotenv_rewrite_keeps_every_other_byte() -> None:
    text = DOTENV_TEXT.format(user=KEY, password="old")

    rewritten = rewrite_assignments(
        text, DOTENV, {"SMTP_USERNAME": "AKIANEWKEY0000000000", "SMTP_PASSWORD": "n+w/="}
    )

    assert rewritten == DOTENV_TEXT.format(user="AKIANEWKEY0000000000", password="n+w/=")


def test_dotenv_empty_value_before_comment() -> None:
    text = "A= # set later\n"

    assert parse_assignments(text, DOTENV)[0].value == ""
    assert rewrite_assignments(text, DOTENV, {"A": "n"}) == "A=n # set later\n"


def test_dotenv_rewrite_every_duplicate() -> None:
    text = "K=a\nOTHER=1\nexport K = b\n"

    assert rewrite_assignments(text, DOTENV, {"K": "c"}) == "K=c\nOTHER=1\nexport K = c\n"


def test_dotenv_rewrite_escapes_quotes() -> None:
    assert rewrite_assignments('K="a"\n', DOTENV, {"K": 'x"\\'}) == 'K="x\\"\\\\"\n'


def test_dotenv_rewrite_rejects_unsafe() -> None:
    with pytest.raises(FormatError, match="the new value of K would need quotes"):
        rewrite_assignments("K=a\n", DOTENV, {"K": "has space"})
    with pytest.raises(FormatError, match="the value of TLS_CA goes on over several lines"):
        rewrite_assignments(DOTENV_TEXT.format(user=KEY, password="x"), DOTENV, {"TLS_CA": "y"})
    with pytest.raises(FormatError, match="it has no key MISSING"):
        rewrite_assignments("K=a\n", DOTENV, {"MISSING": "y"})


def test_properties_assignments_parsed() -> None:
    text = PROPERTIES_TEXT.format(user=KEY, password="pa\\:ss")

    values = {a.key: a.value for a in parse_assignments(text, PROPERTIES)}

    assert values == {
        "spring.mail.host": "email-smtp.eu-west-1.amazonaws.com",
        "spring.mail.username": KEY,
        "spring.mail.password": "pa:ss",
        "spring.mail.properties.list": "a, b",
    }


def test_properties_escaped_key_and_unicode() -> None:
    assignments = parse_assignments("my\\ key\\=1=caf\\u00e9\n", PROPERTIES)

    assert [(a.key, a.value) for a in assignments] == [("my key=1", "café")]


def test_properties_rewrite_keeps_every_other_byte() -> None:
    text = PROPERTIES_TEXT.format(user=KEY, password="old")

    rewritten = rewrite_assignments(
        text,
        PROPERTIES,
        {"spring.mail.username": "AKIANEWKEY0000000000", "spring.mail.password": "n+w/="},
    )

    assert rewritten == PROPERTIES_TEXT.format(user="AKIANEWKEY0000000000", password="n+w/=")


def test_properties_rewrite_escapes_backslash() -> None:
    assert rewrite_assignments("k=v\n", PROPERTIES, {"k": "a\\b"}) == "k=a\\\\b\n"


def test_declare_detects_keys_and_region(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    context = make_context(moto_session, world.leaked_key_id)

    consumer = declared(context, path)

    assert consumer.layout == CredentialLayout(
        SMTP, "SMTP_USERNAME", "SMTP_PASSWORD", "eu-west-1", "SMTP_HOST"
    )
    assert consumer.details == {"path": str(path), "format": DOTENV}
    assert (consumer.kind, consumer.name, consumer.region) == ("file", str(path), None)


def test_declare_properties_by_suffix(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    path = tmp_path / "application.properties"
    path.write_text(PROPERTIES_TEXT.format(user=world.leaked_key_id, password="old"))
    context = make_context(moto_session, world.leaked_key_id)

    consumer = declared(context, path)

    assert consumer.details["format"] == PROPERTIES
    assert consumer.layout == CredentialLayout(
        SMTP, "spring.mail.username", "spring.mail.password", "eu-west-1", "spring.mail.host"
    )


def test_declare_named_keys(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    path = tmp_path / "worker.env"
    path.write_text(f"KEY_ID={world.leaked_key_id}\nKEY_VALUE=old-secret\nOTHER_SECRET=x\n")
    context = make_context(moto_session, world.leaked_key_id)

    consumer = declared(
        context, path, username_key="KEY_ID", secret_key="KEY_VALUE", credential="iam-key"
    )

    assert consumer.layout == CredentialLayout(IAM_KEY, "KEY_ID", "KEY_VALUE", None, "not needed")


def test_declare_needs_smtp_region(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    path = tmp_path / "app.env"
    path.write_text(f"SMTP_USER={world.leaked_key_id}\nSMTP_PASS=old\n")
    context = make_context(moto_session, world.leaked_key_id)

    with pytest.raises(UsageError) as caught:
        declared(context, path)
    consumer = declared(context, path, smtp_region="us-west-2")

    assert "names no SMTP host or region" in caught.value.message
    assert caught.value.next_step == (
        "add `smtp_region` to its entry in the consumers file, then run again"
    )
    assert (consumer.layout.smtp_region, consumer.layout.region_source) == (
        "us-west-2",
        "consumers file",
    )


def test_declare_file_without_key(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    path = tmp_path / "app.env"
    path.write_text("SMTP_USER=AKIAOTHERKEY00000000\n")
    context = make_context(moto_session, world.leaked_key_id)

    with pytest.raises(UsageError, match="does not contain the leaked key ID"):
        declared(context, path)
    with pytest.raises(UsageError, match=r"Cannot read the file .*missing\.env: No such file"):
        declared(context, tmp_path / "missing.env")


def test_switch_rewrites_in_place(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, old_password = world_and_file(moto_session, tmp_path)
    original = path.read_bytes()
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)
    credential = new_credential(moto_session)

    switched = UPDATER.switch(context, consumer, credential, {})

    password = smtp_password_v4(credential.secret_access_key.reveal(), CONSUMER_REGION)
    expected = DOTENV_TEXT.format(user=credential.access_key_id, password=password)
    assert path.read_bytes() == expected.encode()
    assert mode(path) == 0o640
    backup = backup_path(path, "test-incident")
    assert backup.read_bytes() == original
    assert mode(backup) == 0o640
    assert switched["sha256_before"] == hashlib.sha256(original).hexdigest()
    assert switched["sha256_after"] == sha256(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert old_password not in journal_text(context)
    assert password not in journal_text(context)


def test_switch_journals_paths_and_hashes(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    before = sha256(path)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)

    UPDATER.switch(context, consumer, new_credential(moto_session), {})

    backup = str(backup_path(path, "test-incident"))
    intents = context.journal.of_type(RecordType.AWS_INTENT)
    assert [(i.get("operation"), i.get("resource")) for i in intents] == [
        ("BackupFile", str(path)),
        ("WriteFile", str(path)),
    ]
    assert intents[0].get("params") == {"path": str(path), "backup_path": backup, "sha256": before}
    assert intents[1].get("params")["sha256_before"] == before
    results = context.journal.of_type(RecordType.AWS_RESULT)
    assert results[1].get("details") == {"sha256_after": sha256(path), "owner_kept": True}
    assert all(intent.get("undo") for intent in intents)


def test_switch_properties_file(moto_session: boto3.Session, tmp_path: Path) -> None:
    world = make_smtp_world(moto_session)
    path = tmp_path / "application.properties"
    path.write_text(PROPERTIES_TEXT.format(user=world.leaked_key_id, password="old"))
    path.chmod(0o600)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)
    credential = new_credential(moto_session)

    UPDATER.switch(context, consumer, credential, {})

    password = smtp_password_v4(credential.secret_access_key.reveal(), CONSUMER_REGION)
    assert path.read_text() == PROPERTIES_TEXT.format(
        user=credential.access_key_id, password=password
    )
    assert mode(path) == 0o600


def test_switch_follows_symbolic_link(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, real, _ = world_and_file(moto_session, tmp_path)
    link = tmp_path / "current.env"
    link.symlink_to(real.name)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, link)
    credential = new_credential(moto_session)

    UPDATER.switch(context, consumer, credential, {})

    assert link.is_symlink()
    assert credential.access_key_id in real.read_text()
    assert backup_path(real, "test-incident").exists()


def test_switch_warns_about_hard_links(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, old_password = world_and_file(moto_session, tmp_path)
    other = tmp_path / "copy.env"
    os.link(path, other)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)

    UPDATER.switch(context, consumer, new_credential(moto_session), {})

    assert old_password in other.read_text()
    assert (
        f"warning: {path} has 2 hard links. It is replaced by a new file, so the other names "
        "keep the leaked credential: update them by hand." in context.console.lines
    )


def test_resumed_switch_keeps_first_backup(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)
    # An interrupted run made the backup and stopped before writing the file.
    backup = backup_path(path, "test-incident")
    backup.write_bytes(b"# the backup made first\n")

    UPDATER.switch(context, consumer, new_credential(moto_session), {})

    assert backup.read_bytes() == b"# the backup made first\n"
    operations = [i.get("operation") for i in context.journal.of_type(RecordType.AWS_INTENT)]
    assert operations == ["WriteFile"]
    assert "info: Keeping the backup " + str(backup) + ", made by an earlier run." in (
        context.console.lines
    )


def test_resumed_switch_writes_nothing(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    first = make_context(moto_session, world.leaked_key_id)
    consumer = declared(first, path)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(first, consumer, credential, {})
    written = path.stat().st_mtime_ns
    resumed = make_context(moto_session, world.leaked_key_id)

    again = UPDATER.switch(resumed, consumer, credential, {})

    assert resumed.journal.of_type(RecordType.AWS_INTENT) == []
    assert path.stat().st_mtime_ns == written
    assert again["sha256_before"] == switched["sha256_before"]
    assert again["sha256_after"] == switched["sha256_after"]


def test_verify_reads_back(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, {})

    check = UPDATER.verify(context, consumer, switched, credential)

    assert check.passed is True
    assert check.detail == f"{path} (file): contains {credential.access_key_id} (read back)"


def test_verify_catches_wrong_value(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, old_password = world_and_file(moto_session, tmp_path)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)
    credential = new_credential(moto_session)
    switched = UPDATER.switch(context, consumer, credential, {})
    # A deployment writes the old file back after the switch.
    path.write_text(DOTENV_TEXT.format(user=credential.access_key_id, password=old_password))
    path.chmod(0o644)

    check = UPDATER.verify(context, consumer, switched, credential)

    assert check.passed is False
    assert check.detail == (
        f"{path} (file): SMTP_PASSWORD does not contain the new credential; "
        "its mode is 0644, not 0640 as before"
    )


def test_restore_puts_backup_back(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    original = path.read_bytes()
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)
    switched = UPDATER.switch(context, consumer, new_credential(moto_session), {})

    first = UPDATER.restore(context, consumer, switched)
    second = UPDATER.restore(context, consumer, switched)

    assert path.read_bytes() == original
    assert mode(path) == 0o640
    backup = backup_path(path, "test-incident")
    assert first == f"{path} (file) contains its previous content again (from {backup})"
    assert second == f"{path} (file) already contains its previous content"
    restores = context.journal.of_type(RecordType.AWS_INTENT)[2:]
    assert [i.get("operation") for i in restores] == ["RestoreFile"]


def test_restore_without_backup(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    context = make_context(moto_session, world.leaked_key_id)
    consumer = declared(context, path)
    switched = UPDATER.switch(context, consumer, new_credential(moto_session), {})
    os.remove(switched["backup_path"])

    with pytest.raises(UsageError, match="is missing, so the file cannot be put back"):
        UPDATER.restore(context, consumer, switched)


def test_rotation_switches_file_beside_secret(moto_session: boto3.Session, tmp_path: Path) -> None:
    world, path, _ = world_and_file(moto_session, tmp_path)
    incident = tmp_path / "incident"
    incident.mkdir()
    context = prepared(
        moto_session,
        world.leaked_key_id,
        incident_path=incident,
        declared_consumers=({"kind": "file", "path": str(path)},),
    )
    names = [record["name"] for record in context.output_of("find-consumers")["consumers"]]
    assert names == ["prod/mailer/smtp", str(path)]

    new_key = run_step(context, "rotate").outputs["new_access_key_id"]
    run_step(context, "update-consumers")

    secret = context.secret(new_key).reveal()
    password = smtp_password_v4(secret, CONSUMER_REGION)
    assert path.read_bytes() == DOTENV_TEXT.format(user=new_key, password=password).encode()
    assert current_secret(moto_session)["username"] == new_key
    checks = {r.get("name"): r.get("passed") for r in context.journal.of_type(RecordType.CHECK)}
    assert checks[f"consumer:{path}"] is True
    journal = (incident / "journal.jsonl").read_text(encoding="utf-8")
    assert password not in journal
    assert secret not in journal
    assert smtp_password_v4(world.leaked_secret, CONSUMER_REGION) not in journal
