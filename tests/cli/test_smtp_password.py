"""`remediate smtp-password --legacy-v2`: the deprecated version 2 password, and --region rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from remediate.cli import cli
from remediate.core.errors import ExitCode

V2_WARNING = (
    "Warning: AWS deprecated version 2 SMTP passwords. Use this one only for a consumer that "
    "cannot move to a per-region version 4 password yet "
    "(remediate smtp-password --region REGION).\n"
)


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def v2_vectors(samples_dir: Path) -> list[dict[str, Any]]:
    document = json.loads((samples_dir / "smtp-password-vectors.json").read_text())
    return list(document["v2"])


def test_v2_vectors(samples_dir: Path) -> None:
    vectors = v2_vectors(samples_dir)

    assert len(vectors) == 2
    for vector in vectors:
        code, stdout, stderr = invoke("smtp-password", "--legacy-v2", input=vector["secret"])

        assert code == ExitCode.OK, stderr
        assert stdout == vector["smtp_password"] + "\n"


def test_v2_warns_on_stderr(samples_dir: Path) -> None:
    vector = v2_vectors(samples_dir)[0]

    _, stdout, stderr = invoke("smtp-password", "--legacy-v2", input=vector["secret"])

    assert stderr == (
        V2_WARNING + "Warning: IAM's secret access keys have 40 characters; this one has 15.\n"
    )
    assert vector["secret"] not in stdout + stderr


def test_v2_ignores_region(samples_dir: Path) -> None:
    vector = v2_vectors(samples_dir)[1]

    code, stdout, stderr = invoke(
        "smtp-password", "--legacy-v2", "--region", "me-south-1", input=vector["secret"]
    )

    assert code == ExitCode.OK, stderr
    assert stdout == vector["smtp_password"] + "\n"
    assert stderr.startswith(
        "Note: --region me-south-1 is ignored, because a version 2 password does not depend "
        "on the region.\n" + V2_WARNING
    )


def test_v4_needs_region() -> None:
    code, stdout, stderr = invoke("smtp-password", input="some+secret+key\n")

    assert code == ExitCode.USAGE_ERROR
    assert stdout == ""
    assert stderr == (
        "Error: Missing option --region: a version 4 SMTP password is derived for one region.\n"
        "Next: pass the region of the consumer's SMTP endpoint, for example: remediate "
        "smtp-password --region eu-west-1 < secret.txt (or --legacy-v2 for the deprecated "
        "version 2 password)\n"
    )


def test_v2_rejects_csv_line() -> None:
    code, stdout, stderr = invoke(
        "smtp-password", "--legacy-v2", input="AKIAIOSFODNN7EXAMPLE,some+secret+key\n"
    )

    assert code == ExitCode.USAGE_ERROR
    assert stdout == ""
    assert "is not a secret access key" in stderr


def test_help_explains_legacy_v2() -> None:
    code, stdout, _ = invoke("smtp-password", "--help")

    assert code == ExitCode.OK
    flattened = " ".join(stdout.split())
    assert "--legacy-v2 Print the deprecated version 2 password instead" in flattened
    assert "Required unless --legacy-v2 is given." in flattened
