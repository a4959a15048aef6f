"""The command line: fast help, exit codes by meaning, and no traceback without --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from remediate.cli import NO_TERMINAL_MESSAGE, cli
from remediate.core.errors import ExitCode


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_help_imports_neither_boto3_nor_moto() -> None:
    code = (
        "import sys\n"
        "from remediate.cli import main\n"
        "sys.argv = ['remediate', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'boto3', 'botocore', 'moto'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert "Usage: remediate" in completed.stdout
    assert "LOADED []" in completed.stderr


def test_python_dash_m_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "remediate", "--version"], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "remediate, version 0.1.0"


def test_run_without_terminal_names_both_options() -> None:
    code, _, stderr = invoke("run", "--access-key-id", "AKIAIOSFODNN7EXAMPLE")

    assert code == ExitCode.INPUT_REQUIRED
    assert NO_TERMINAL_MESSAGE in stderr
    assert "--yes" in NO_TERMINAL_MESSAGE
    assert "--answers FILE" in NO_TERMINAL_MESSAGE


def test_rehearse_without_terminal_names_both_options() -> None:
    code, _, stderr = invoke("rehearse")

    assert code == ExitCode.INPUT_REQUIRED
    assert NO_TERMINAL_MESSAGE in stderr


def test_invalid_key_id_is_usage_error() -> None:
    code, _, stderr = invoke("run", "--access-key-id", "not-a-key", "--yes")

    assert code == ExitCode.USAGE_ERROR
    assert "'not-a-key' is not an AWS access key ID" in stderr
    assert "Traceback" not in stderr


def test_smtp_password_from_stdin(samples_dir: Path) -> None:
    vectors = json.loads((samples_dir / "smtp-password-vectors.json").read_text())["v4"]

    for vector in vectors:
        code, stdout, stderr = invoke(
            "smtp-password", "--region", vector["region"], input=vector["secret"] + "\n"
        )

        assert code == ExitCode.OK, stderr
        assert stdout == vector["smtp_password"] + "\n"


def test_smtp_password_region_without_endpoint() -> None:
    code, stdout, stderr = invoke(
        "smtp-password", "--region", "me-south-1", input="some+secret+key\n"
    )

    assert code == ExitCode.USAGE_ERROR
    assert stdout == ""
    assert "The region 'me-south-1' has no SES SMTP endpoint. Regions with one: us-east-1" in stderr


def test_smtp_password_empty_stdin() -> None:
    code, _, stderr = invoke("smtp-password", "--region", "eu-west-1", input="")

    assert code == ExitCode.USAGE_ERROR
    assert "No secret access key was read on stdin." in stderr


def test_resume_of_missing_directory(tmp_path: Path) -> None:
    code, _, stderr = invoke("resume", str(tmp_path / "nowhere"))

    assert code == ExitCode.INCIDENT_DIR_ERROR
    assert "is not an incident directory: it has no journal.jsonl" in stderr


@pytest.mark.parametrize(
    "command", ["run", "resume", "rehearse", "investigate", "report", "smtp-password"]
)
def test_every_command_has_help(command: str) -> None:
    code, stdout, _ = invoke(command, "--help")

    assert code == ExitCode.OK
    assert stdout.startswith(f"Usage: cli {command}") or stdout.startswith(
        f"Usage: remediate {command}"
    )


def test_smtp_password_rejects_csv_line() -> None:
    code, stdout, stderr = invoke(
        "smtp-password", "--region", "eu-west-1", input="AKIAIOSFODNN7EXAMPLE,some+secret+key\n"
    )

    assert code == ExitCode.USAGE_ERROR
    assert stdout == ""
    assert "is not a secret access key" in stderr


def test_smtp_password_rejects_several_lines() -> None:
    code, stdout, stderr = invoke("smtp-password", "--region", "eu-west-1", input="a+b\nc+d\n")

    assert code == ExitCode.USAGE_ERROR
    assert stdout == ""
    assert "2 lines were read on stdin; expected the secret access key alone." in stderr


def test_smtp_password_warns_on_short_secret() -> None:
    code, stdout, stderr = invoke(
        "smtp-password", "--region", "eu-west-1", input="some+secret+key\n"
    )

    assert code == ExitCode.OK
    assert len(stdout.strip()) == 44
    assert "IAM's secret access keys have 40 characters; this one has 15." in stderr


def test_lowercase_key_id_is_upper_cased() -> None:
    from remediate.cli import _validate_key_id

    assert _validate_key_id(" akiaiosfodnn7example ") == "AKIAIOSFODNN7EXAMPLE"


def test_misspelt_region_is_usage_error() -> None:
    code, _, stderr = invoke(
        "run", "--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--yes", "--regions", "eu-west1"
    )

    assert code == ExitCode.USAGE_ERROR
    assert (
        "--regions names 'eu-west1', which is not an AWS region where SES or Secrets Manager "
        "runs; did you mean eu-west-1?" in stderr
    )


def test_smtp_password_warns_on_region_outside_table() -> None:
    code, stdout, stderr = invoke(
        "smtp-password", "--region", "ap-south-2", input="some+secret+key\n"
    )

    assert code == ExitCode.OK
    assert len(stdout.strip()) == 44
    assert "does not say whether ap-south-2 has an SMTP endpoint" in stderr
