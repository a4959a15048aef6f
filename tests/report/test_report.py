"""The report view and its Markdown: built from the journal, safe with hostile text, honest."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from remediate.cli import cli
from remediate.core.errors import ExitCode
from remediate.core.records import RecordType
from remediate.engine.journal import Journal, Record, read_journal
from remediate.report.evidence import read_bundle
from remediate.report.follow_ups import FollowUpFacts, build_follow_ups
from remediate.report.render import render_markdown, write_reports
from remediate.report.response import ContainActionView, CreatedBy, EradicationItemView
from remediate.report.view import ReportView, build_view
from tests.helpers import FixedClock
from tests.report.incident_journal import KEY, REPORTED, write_incident

HOSTILE = [
    "<script>alert(1)</script>",
    "# Incident closed, nothing to see",
    "[click here](https://attacker.example/)",
    "![pixel](https://attacker.example/p.png)",
    "a | b | c",
    "line one\n## injected heading",
    "- [ ] fake follow-up",
    "\x1b[31mred\x1b[0m \x9b31m",
    "`code` ** bold ** _under_",
    "<!-- hide the rest",
]
PARTIAL_STEPS = [
    {"id": "identify", "kind": "identify", "title": "Identify"},
    {"id": "investigate", "kind": "investigate", "title": "Investigate"},
    {"id": "rotate", "kind": "rotate", "title": "Rotate"},
    {"id": "deactivate", "kind": "deactivate", "title": "Deactivate"},
    {"id": "delete-old-key", "kind": "delete-old-key", "title": "Delete"},
    {"id": "report", "kind": "report", "title": "Report"},
]


def view_of(directory: Path, hostile: str = "mallory") -> ReportView:
    journal = write_incident(directory, hostile)
    return build_view(journal.records, REPORTED, read_bundle(directory / "evidence"))


def outside_code(markdown: str) -> str:
    """Drop inline code spans, whose text Markdown shows literally."""
    return re.sub(r"(`+).*?\1", "", markdown)


def shape(markdown: str) -> list[tuple[str, int]]:
    """Each line's Markdown structure: how it starts, and its unescaped table pipes."""
    return [
        (line[:2] if line[:1] in "#-|>" else "text", len(re.findall(r"(?<!\\)\|", line)))
        for line in markdown.splitlines()
    ]


def test_hostile_text_adds_no_structure(tmp_path: Path) -> None:
    baseline = shape(render_markdown(view_of(tmp_path / "plain")))

    for index, hostile in enumerate(HOSTILE):
        markdown = render_markdown(view_of(tmp_path / str(index), hostile))

        assert shape(markdown) == baseline, hostile
        assert "<" not in outside_code(markdown), hostile
        assert not re.search(r"(?<!\\)\]\(", outside_code(markdown)), hostile
        assert "\x1b" not in markdown, hostile
        assert "\x9b" not in markdown, hostile


def test_hostile_user_agent_stays_visible(tmp_path: Path) -> None:
    markdown = render_markdown(view_of(tmp_path, "<b>x</b> | y"))

    assert "| 2026-12-04T00:40:00Z | CreateUser | us-east-1 | 203.0.113.45 | " in markdown
    assert "userName=&lt;b&gt;x&lt;/b&gt; \\| y | &lt;b&gt;x&lt;/b&gt; \\| y |" in markdown


def test_key_times(tmp_path: Path) -> None:
    times = view_of(tmp_path).key_times

    assert (times.exposure.time, times.exposure.basis) == (
        "2026-12-01T17:48:39Z",
        "GetCallerIdentity in us-east-1 (scanner-user-agent)",
    )
    assert (times.detection.time, times.detection.basis) == (
        "2026-12-04T03:00:01Z",
        "the incident was opened in remediate",
    )
    assert (times.containment.time, times.containment.basis) == (
        "2026-12-04T03:00:25Z",
        "sesv2 PutAccountSendingAttributes on ap-southeast-2 (contain step)",
    )
    assert times.rotation.time == "2026-12-04T03:00:34Z"
    assert times.deactivation.time == "2026-12-04T03:00:48Z"
    assert times.time_to_contain_seconds == 24
    assert times.time_to_contain == "24 s"
    assert times.exposure_to_containment == "2 d 9 h"


def test_containment_and_eradication(tmp_path: Path) -> None:
    view = view_of(tmp_path)

    assert view.contain_actions == [
        ContainActionView(
            action="pause-sending",
            target="SES account 111122223333",
            regions=["ap-southeast-2"],
            reason="the abuse window is in ap-southeast-2, a region the team never uses",
            undo="aws sesv2 put-account-sending-attributes --region ap-southeast-2 "
            "--sending-enabled",
            undone=False,
        )
    ]
    assert [(item.kind, item.action) for item in view.eradication] == [
        ("login-profile", "removed"),
        ("iam-user", "removed"),
        ("ses-identity", "kept"),
    ]
    assert view.eradication[1] == EradicationItemView(
        step="eradicate",
        kind="iam-user",
        name="mallory",
        region=None,
        created_by=CreatedBy("e-4", "CreateUser", "2026-12-04T00:40:00Z"),
        action="removed",
        undo="aws iam create-user --user-name mallory",
    )


def test_follow_ups_of_kept_items(tmp_path: Path) -> None:
    """One follow-up per pending request, and none for what the listing alone found."""
    view = view_of(tmp_path)
    request = CreatedBy("e-9", "PutAccountDetails", "2026-12-04T00:50:00Z")

    def kept(kind: str, name: str, region: str, created_by: CreatedBy | None) -> Any:
        return EradicationItemView("eradicate", kind, name, region, created_by, "kept", None)

    facts = FollowUpFacts(
        access_key_id=KEY,
        user_name=view.user_name,
        rehearsal=False,
        verdict=view.verdict,
        leaked_key_now="Inactive",
        temporary=False,
        delete_due=None,
        outputs={},
        phases=view.phases,
        sending=view.sending,
        finding_ids=[],
        consumers=[],
        left_behind=[],
        contain_actions=[],
        eradication=[
            kept("production-access-request", "111122223333", "ap-southeast-2", request),
            kept("production-access-request", "111122223333", "eu-central-1", request),
            kept("ses-identity", "example.com", "eu-west-1", None),
        ],
    )

    follow_ups = build_follow_ups(facts)

    requests = [item for item in follow_ups if "production-access request" in item]
    assert requests == [
        "A production-access request is pending in ap-southeast-2 (case 5786355069): if the "
        "team did not make it, ask AWS Support to withdraw it.",
        "Ask AWS Support to withdraw the production-access request in eu-central-1 (created by "
        "PutAccountDetails at 2026-12-04T00:50:00Z); no API withdraws it.",
    ]
    assert not any("example.com" in item for item in follow_ups)


def test_lifted_brake_shown_once(tmp_path: Path) -> None:
    journal = write_incident(tmp_path)
    brake = view_of(tmp_path / "first").contain_actions[0]
    lifted = {**dataclasses.asdict(brake), "undone": True}
    journal.append(
        RecordType.STEP_FINISHED,
        step="lift-sending-pause",
        kind="contain",
        status="ok",
        summary="Lifted the pause.",
        outputs={"actions": [lifted]},
    )

    view = build_view(journal.records, REPORTED)

    assert view.contain_actions == [dataclasses.replace(brake, undone=True)]
    assert [item for item in view.follow_ups if item.startswith("Release")] == []
    assert view.containment["contained"] == "yes: the leaked key is inactive"


def test_exposure_from_abuse_window(tmp_path: Path) -> None:
    journal = write_incident(tmp_path)
    records = [record for record in journal.records if record.type != RecordType.FINDING]

    view = build_view(records, REPORTED)

    assert view.key_times.exposure.time == "2026-12-04T01:00:00Z"
    assert view.key_times.exposure.basis == "suspected abuse window in ap-southeast-2"


def test_chart_marks_abuse_window(tmp_path: Path) -> None:
    chart = view_of(tmp_path).chart

    assert chart is not None
    assert (chart.start, chart.end) == ("2026-11-20T04:00:00Z", "2026-12-04T04:00:00Z")
    assert [(panel.region, panel.peak, panel.delivery_attempts) for panel in chart.panels] == [
        ("ap-southeast-2", 193, 193),
        ("eu-west-1", 22, 2000),
    ]
    window = chart.panels[0].windows[0]
    assert (window.x, window.width) == (932.9, 4.0)
    assert (window.start, window.end) == ("2026-12-04T01:00:00Z", "2026-12-04T01:45:00Z")
    assert chart.panels[1].windows == []


def test_evidence_change_is_shown(tmp_path: Path) -> None:
    write_incident(tmp_path)
    (tmp_path / "evidence" / "iam-state.json").write_text("{}\n")
    (tmp_path / "evidence" / "extra.json").write_text("{}\n")

    [path] = write_reports(tmp_path, ("md",), clock=FixedClock(REPORTED))

    markdown = path.read_text()
    assert "| 70 | yes | changed |" in markdown
    assert "| `cloudtrail-events.json` | " in markdown
    assert (
        "| `extra.json` | `ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356` | - "
        in markdown
    )
    assert "the file on disk matches it." in markdown


def test_unreadable_evidence_file(tmp_path: Path) -> None:
    write_incident(tmp_path)
    (tmp_path / "evidence" / "iam-state.json").unlink()
    (tmp_path / "evidence" / "iam-state.json").mkdir()

    view = build_view(read_journal_of(tmp_path), REPORTED, read_bundle(tmp_path / "evidence"))

    assert [(item.name, item.on_disk) for item in view.evidence.files] == [
        ("cloudtrail-events.json", "matches"),
        ("iam-state.json", "unreadable"),
    ]


def read_journal_of(directory: Path) -> list[Record]:
    return list(read_journal(directory / "journal.jsonl"))


def write_partial(directory: Path) -> Journal:
    """An incident stopped in the middle: rotate failed, deactivate started, delete deferred."""
    directory.mkdir(exist_ok=True)
    journal = Journal.open(directory, FixedClock())
    journal.append(
        RecordType.INCIDENT_OPENED,
        incident_id="incident-1",
        access_key_id=KEY,
        mode="run",
        scenario=None,
        playbook={"name": "ses-key-leak", "steps": PARTIAL_STEPS},
        operator={"arn": "arn:aws:iam::111122223333:user/responder", "account": "111122223333"},
    )
    journal.append(RecordType.STEP_STARTED, step="identify", kind="identify", title="Identify")
    journal.append(
        RecordType.STEP_FINISHED,
        step="identify",
        kind="identify",
        status="ok",
        summary="found",
        outputs={"user_name": "mailer"},
    )
    journal.append(RecordType.STEP_STARTED, step="rotate", kind="rotate", title="Rotate")
    journal.append(RecordType.STEP_FAILED, step="rotate", kind="rotate", error="AccessDenied")
    journal.append(
        RecordType.STEP_STARTED, step="deactivate", kind="deactivate", title="Deactivate"
    )
    journal.append(
        RecordType.STEP_DEFERRED,
        step="delete-old-key",
        kind="delete-old-key",
        summary="due later",
        due="2026-12-11T03:00:00Z",
        outputs={},
    )
    return journal


def test_partial_report_names_open_steps(tmp_path: Path) -> None:
    view = build_view(write_partial(tmp_path).records, REPORTED)
    markdown = render_markdown(view)

    assert view.complete is False
    assert [(phase.step_id, phase.status) for phase in view.phases] == [
        ("identify", "ok"),
        ("investigate", "open"),
        ("rotate", "failed"),
        ("deactivate", "started"),
        ("delete-old-key", "deferred"),
    ]
    assert (
        "> **Partial report.** Not finished: Investigate (open), Rotate (failed), "
        "Deactivate (started), Delete (deferred)."
    ) in markdown
    assert "- **Investigate**: open. not run yet" in markdown
    assert "- **Rotate**: failed. AccessDenied" in markdown
    assert "- **Deactivate**: started. started at 2026-12-04T03:00:00Z, not finished" in markdown
    assert "| Containment | - | not contained yet: no containment action and no deactivation |" in (
        markdown
    )
    assert "Report" not in "\n".join(
        line for line in markdown.splitlines() if line.startswith("- **")
    )


def test_report_command_writes_every_format(tmp_path: Path) -> None:
    write_incident(tmp_path)

    result = CliRunner().invoke(
        cli, ["report", str(tmp_path), "--format", "md", "--format", "html", "--format", "json"]
    )

    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.splitlines() == [
        str(tmp_path / "report.md"),
        str(tmp_path / "report.html"),
        str(tmp_path / "report.json"),
    ]
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["schema_version"] == 1
    assert document["verdict"] == "compromised"
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>\n")
    for name in ("report.md", "report.html", "report.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_report_command_rejects_unknown_format(tmp_path: Path) -> None:
    write_incident(tmp_path)

    result = CliRunner().invoke(cli, ["report", str(tmp_path), "--format", "pdf"])

    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "'pdf' is not one of 'md', 'html', 'json'" in result.output


def test_report_uses_journal_only(tmp_path: Path) -> None:
    write_incident(tmp_path)

    paths = write_reports(tmp_path, ("md",), clock=FixedClock(REPORTED))

    records = list(read_journal(tmp_path / "journal.jsonl"))
    view = build_view(records, REPORTED, read_bundle(tmp_path / "evidence"))
    assert paths == [tmp_path / "report.md"]
    assert paths[0].read_text() == render_markdown(view)
    assert "| Report generated | 2026-12-04T04:00:00Z |" in paths[0].read_text()
