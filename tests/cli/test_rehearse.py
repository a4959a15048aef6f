"""`remediate rehearse --yes`: the main job, from an empty directory, and the scan for secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from remediate.aws.regions import smtp_regions
from remediate.aws.smtp import smtp_password_v2, smtp_password_v4
from remediate.cli import State, cli
from remediate.core.errors import ExitCode
from tests.helpers import SELECT_EVERY_CHOICE, USE_DEFAULT, ScriptedPrompter

ACCOUNT = "123456789012"
# The question that asks to delete the sender identity the default scenario's attacker verified.
ATTACKER_IDENTITY_QUESTION = (
    "eradicate.remove.ses-identity.ap-southeast-2.billing@notice-center.example.net"
)


@pytest.fixture
def kept_moto() -> Iterator[None]:
    """Keep moto's state after the rehearsal's own world closes, so the test can read it."""
    with mock_aws():
        yield


def run_rehearsal(tmp_path: Path, *args: str) -> tuple[int, str, Path]:
    """Run `remediate --debug --log-file debug.log rehearse --yes` in an empty directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(
            cli,
            ["--log-file", "debug.log", "--debug", "rehearse", "--yes", *args],
            catch_exceptions=False,
        )
    return result.exit_code, result.output, tmp_path


def every_secret_in_moto() -> list[str]:
    """Every secret access key moto holds, their SMTP passwords, and the consumers' values."""
    from moto.iam.models import iam_backends

    secrets: list[str] = []
    for user in iam_backends[ACCOUNT]["global"].users.values():
        for key in user.access_keys:
            secret = key.secret_access_key
            secrets.append(secret)
            secrets.append(smtp_password_v2(secret))
            secrets.extend(smtp_password_v4(secret, region) for region in smtp_regions())
    manager = boto3.client("secretsmanager", region_name="eu-west-1")
    for item in manager.list_secrets()["SecretList"]:
        value = manager.get_secret_value(SecretId=item["ARN"], VersionStage="AWSCURRENT")
        secrets.extend(
            str(field)
            for field in json.loads(value["SecretString"]).values()
            if len(str(field)) >= 40
        )
    return secrets


def test_rehearse_yes_completes(tmp_path: Path, kept_moto: None) -> None:
    code, output, cwd = run_rehearsal(tmp_path)

    assert code == ExitCode.OK, output
    incidents = list((cwd / "incidents").iterdir())
    assert len(incidents) == 1
    assert f"Incident directory: incidents/{incidents[0].name}" in output
    for heading in (
        "[1/14] Identify the key, its account and its owner",
        "[2/14] Investigate what the key did (CloudTrail, SES sending)",
        "[3/14] Apply emergency brakes, if the verdict calls for them",
        "[4/14] Revoke the sessions of a temporary key's issuer (temporary keys only)",
        "[5/14] Find the consumers that hold the key",
        "[6/14] Create the replacement key and stage it in every consumer",
        "[7/14] Switch every consumer to the new credential and read it back",
        "[8/14] Lift the sending deny now that the consumers use the new key",
        "[9/14] Watch the cut-over (last use of the old and the new key)",
        "[10/14] Deactivate the leaked key",
        "[11/14] Find and remove what the attacker left behind",
        "[12/14] Re-enable SES sending in the regions this incident paused",
        "[13/14] Delete the old key after the watch window (on a later resume)",
        "[14/14] Write the incident report",
    ):
        assert heading in output
    report = (incidents[0] / "report.md").read_text()
    assert "## Verdict: compromised" in report
    assert "is now Inactive." in report


def test_rehearsal_switches_both_consumers(tmp_path: Path, kept_moto: None) -> None:
    code, output, _ = run_rehearsal(tmp_path)
    assert code == ExitCode.OK, output

    secret = json.loads(
        boto3.client("secretsmanager", region_name="eu-west-1").get_secret_value(
            SecretId="prod/mailer/smtp", VersionStage="AWSCURRENT"
        )["SecretString"]
    )
    ssm = boto3.client("ssm", region_name="eu-west-1")
    user = ssm.get_parameter(Name="/prod/worker/smtp_user")["Parameter"]["Value"]
    password = ssm.get_parameter(Name="/prod/worker/smtp_password", WithDecryption=True)[
        "Parameter"
    ]
    assert user == secret["username"]
    assert password["Value"] == secret["password"]
    assert password["Type"] == "SecureString"
    assert password["Version"] == 2
    assert "2 consumer(s) now use " + user in output


def test_rehearsal_writes_no_secret_anywhere(tmp_path: Path, kept_moto: None) -> None:
    code, output, cwd = run_rehearsal(tmp_path)
    assert code == ExitCode.OK, output
    secrets = every_secret_in_moto()
    # The leaked key, the new key, and the consumer's SMTP password at least.
    assert len(secrets) >= 2 * (2 + len(smtp_regions()))
    artifacts = {"output": output}
    for path in cwd.rglob("*"):
        if path.is_file():
            artifacts[str(path.relative_to(cwd))] = path.read_text(
                encoding="utf-8", errors="replace"
            )
    assert "debug.log" in artifacts
    assert any(name.endswith("journal.jsonl") for name in artifacts)
    # The rehearsal writes the report in all three formats.
    for report in ("report.md", "report.html", "report.json"):
        assert any(name.endswith(report) for name in artifacts), report
    for name, text in artifacts.items():
        for secret in secrets:
            assert secret not in text, f"a secret reached {name}"


def test_rehearse_unknown_scenario(tmp_path: Path) -> None:
    code, output, _ = run_rehearsal(tmp_path, "--scenario", "nope")

    assert code == ExitCode.USAGE_ERROR
    assert "default" in output


def test_rehearse_help_names_every_scenario() -> None:
    from remediate.rehearsal.scenarios import SCENARIOS

    result = CliRunner().invoke(cli, ["rehearse", "--help"], terminal_width=200)

    assert result.exit_code == ExitCode.OK
    for name in SCENARIOS:
        assert f"{name} (" in result.output


def test_rehearse_interactive_asks_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompter = ScriptedPrompter(
        {
            "contain.actions": [],
            "consumers.secrets": "",
            "consumers.select": SELECT_EVERY_CHOICE,
            "rotate.escrow": USE_DEFAULT,
            "watch.minutes": USE_DEFAULT,
            "deactivate.confirm": True,
            "eradicate.select": [],
            ATTACKER_IDENTITY_QUESTION: True,
        }
    )
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        cli, ["rehearse"], obj=State(prompter=prompter), catch_exceptions=False
    )

    assert result.exit_code == ExitCode.OK, result.output
    assert prompter.asked == [
        "contain.actions",
        "consumers.secrets",
        "consumers.select",
        "rotate.escrow",
        "watch.minutes",
        "deactivate.confirm",
        "eradicate.select",
        ATTACKER_IDENTITY_QUESTION,
    ]
    assert "is now Inactive." in result.output


def test_rehearse_interactive_decline_keeps_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompter = ScriptedPrompter(
        {
            "contain.actions": [],
            "consumers.secrets": "",
            "consumers.select": SELECT_EVERY_CHOICE,
            "rotate.escrow": USE_DEFAULT,
            "watch.minutes": USE_DEFAULT,
            "deactivate.confirm": False,
            "eradicate.select": [],
            ATTACKER_IDENTITY_QUESTION: False,
        }
    )
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        cli, ["rehearse"], obj=State(prompter=prompter), catch_exceptions=False
    )

    assert result.exit_code == ExitCode.OK, result.output
    assert "stays Active, as the operator chose" in result.output
    report = next((tmp_path / "incidents").iterdir()) / "report.md"
    assert "- [ ] Deactivate the leaked key" in report.read_text()
