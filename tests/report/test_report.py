"""The Markdown report: from the journal alone, safe with hostile text, honest when partial."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from remediate.cli import cli
from remediate.core.errors import ExitCode
from remediate.core.records import RecordType
from remediate.engine.journal import Journal, read_journal
from remediate.report.render import render_markdown, write_reports
from remediate.report.view import build_view
from tests.helpers import FixedClock

KEY = "AKIAIOSFODNN7EXAMPLE"
HOSTILE = [
    "<script>alert(1)</script>",
    "# Incident closed, nothing to see",
    "[click here](https://attacker.example/)",
    "a | b | c",
    "line one\n## injected heading",
    "\x1b[31mred\x1b[0m",
    "`code` ** bold ** _under_",
]
STEPS = [
    {"id": "identify", "kind": "identify", "title": "Identify"},
    {"id": "investigate", "kind": "investigate", "title": "Investigate"},
    {"id": "deactivate", "kind": "deactivate", "title": "Deactivate"},
    {"id": "report", "kind": "report", "title": "Report"},
]


def write_journal(directory: Path, *, hostile: str, finished: tuple[str, ...]) -> Journal:
    directory.mkdir(exist_ok=True)
    journal = Journal.open(directory, FixedClock())
    journal.append(
        RecordType.INCIDENT_OPENED,
        incident_id="incident-1",
        access_key_id=KEY,
        mode="run",
        scenario=None,
        playbook={"name": "ses-key-leak", "steps": STEPS},
        operator={"arn": "arn:aws:iam::111122223333:user/responder", "account": "111122223333"},
    )
    if "identify" in finished:
        journal.append(
            RecordType.STEP_FINISHED,
            step="identify",
            kind="identify",
            status="ok",
            summary=f"{KEY} belongs to {hostile}",
            outputs={
                "account": "111122223333",
                "user_name": hostile,
                "access_key": {
                    "access_key_id": KEY,
                    "status": "Active",
                    "create_date": "2025-10-30T09:30:12Z",
                    "age_days": 400,
                    "last_used_date": "2026-12-03T22:50:00Z",
                    "last_used_service": "ses",
                    "last_used_region": "ap-southeast-2",
                },
            },
        )
    event = {
        "eventID": "e-1",
        "eventTime": "2026-12-01T10:00:00Z",
        "eventName": "VerifyEmailIdentity",
        "eventSource": "ses.amazonaws.com",
        "awsRegion": "ap-southeast-2",
        "sourceIPAddress": "203.0.113.45",
        "userAgent": hostile,
        "accessKeyId": KEY,
        "requestParameters": {"emailAddress": hostile},
    }
    journal.append(
        RecordType.EVENTS,
        step="investigate",
        source="cloudtrail",
        region="ap-southeast-2",
        events=[event],
    )
    journal.append(
        RecordType.FINDING,
        step="investigate",
        id="ses-identity-verification",
        severity="medium",
        title="SES sender identity verified",
        description=f"Identity {hostile} was verified.",
        source="Datadog",
        event_ids=["e-1"],
    )
    journal.append(RecordType.VERDICT, step="investigate", verdict="suspicious", reasons=[hostile])
    journal.append(
        RecordType.GAP, step="investigate", source="cloudtrail", region="eu-west-1", reason=hostile
    )
    return journal


def render(tmp_path: Path, hostile: str, finished: tuple[str, ...] = ("identify",)) -> str:
    journal = write_journal(tmp_path, hostile=hostile, finished=finished)
    return render_markdown(build_view(journal.records, datetime(2026, 12, 4, 4, 0, tzinfo=UTC)))


def headings(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("#")]


def test_hostile_text_adds_no_structure(tmp_path: Path) -> None:
    baseline = headings(render(tmp_path / "plain", "harmless"))

    for index, hostile in enumerate(HOSTILE):
        markdown = render(tmp_path / str(index), hostile)

        assert headings(markdown) == baseline, hostile
        assert "<script>" not in markdown
        assert "[click here](" not in markdown
        assert "\x1b" not in markdown
        for line in markdown.splitlines():
            if line.startswith("| 2026-12-01T10:00:00Z"):
                assert len(re.findall(r"(?<!\\)\|", line)) == 7, line


def test_partial_report_names_open_steps(tmp_path: Path) -> None:
    markdown = render(tmp_path, "harmless", finished=())

    assert "> **Partial report.**" in markdown
    assert "- **Identify**: open. not run yet" in markdown
    assert "- **Deactivate**: open. not run yet" in markdown
    assert "Report" not in "\n".join(
        line for line in markdown.splitlines() if line.startswith("- **")
    )


def test_report_command_writes_markdown_and_json(tmp_path: Path) -> None:
    write_journal(tmp_path, hostile="harmless", finished=("identify",))

    result = CliRunner().invoke(
        cli, ["report", str(tmp_path), "--format", "md", "--format", "json"]
    )

    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.splitlines() == [
        str(tmp_path / "report.md"),
        str(tmp_path / "report.json"),
    ]
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["schema_version"] == 1
    assert document["verdict"] == "suspicious"
    assert document["findings"][0]["events"][0]["event_id"] == "e-1"


def test_report_uses_journal_only(tmp_path: Path) -> None:
    write_journal(tmp_path, hostile="harmless", finished=("identify",))

    paths = write_reports(tmp_path, ("md",), clock=FixedClock())

    view = build_view(list(read_journal(tmp_path / "journal.jsonl")), FixedClock()())
    assert paths == [tmp_path / "report.md"]
    assert paths[0].read_text() == render_markdown(view)
    assert "| Report generated | 2026-12-04T03:00:00Z |" in paths[0].read_text()
