"""The JSON report: the versioned fields that README.md documents, and hostile text kept as data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from remediate.report.evidence import read_bundle
from remediate.report.render import render_json
from remediate.report.view import build_view
from tests.report.incident_journal import KEY, NEW_KEY, REPORTED, write_incident

# The top-level fields of schema version 1, in order. Removing or renaming one
# needs a new schema_version, as README.md documents; adding one does not.
FIELDS = [
    "schema_version",
    "remediate_version",
    "incident_id",
    "generated_at",
    "endpoint",
    "mode",
    "scenario",
    "access_key_id",
    "playbook",
    "operator_arn",
    "account",
    "user_name",
    "key",
    "send_sources",
    "verdict",
    "verdict_reasons",
    "severity",
    "complete",
    "containment",
    "key_times",
    "phases",
    "findings",
    "events",
    "sending",
    "quiet_regions",
    "deferred",
    "watch",
    "contain_actions",
    "eradication",
    "actions",
    "timeline",
    "consumers",
    "left_behind",
    "gaps",
    "evidence",
    "answers",
    "follow_ups",
]
HOSTILE = '</script><b>"x"</b>\n| y |\x1b[31m\x9b31m\u202e'


def document_of(directory: Path, hostile: str = "mallory") -> tuple[str, dict[str, Any]]:
    journal = write_incident(directory, hostile)
    text = render_json(build_view(journal.records, REPORTED, read_bundle(directory / "evidence")))
    return text, json.loads(text)


def test_fields_of_version_one(tmp_path: Path) -> None:
    _, document = document_of(tmp_path)

    assert list(document) == FIELDS
    assert document["schema_version"] == 1
    assert document["access_key_id"] == KEY
    assert document["severity"] == "high"
    assert document["containment"] == {
        "leaked_key_now": "Inactive",
        "replacement": NEW_KEY,
        "new_user": "",
        "contained": "yes: the leaked key is inactive",
    }


def test_key_times_and_actions(tmp_path: Path) -> None:
    _, document = document_of(tmp_path)

    times = document["key_times"]
    assert times["containment"] == {
        "time": "2026-12-04T03:00:25Z",
        "basis": "sesv2 PutAccountSendingAttributes on ap-southeast-2 (contain step)",
    }
    assert times["time_to_contain_seconds"] == 24
    assert times["exposure_to_containment_seconds"] == 205906
    assert [action["request_id"] for action in document["actions"]] == [
        f"req-{number:04d}" for number in range(1, 9)
    ]
    assert document["actions"][0]["actor"] == "arn:aws:iam::111122223333:user/responder"


def test_sending_and_evidence(tmp_path: Path) -> None:
    _, document = document_of(tmp_path)

    sydney = document["sending"][0]
    assert sydney["region"] == "ap-southeast-2"
    assert sydney["aws_bounce_rate"] == 0.081
    assert sydney["account"]["review_status"] == "PENDING"
    assert sydney["abuse_window"] == {
        "start": "2026-12-04T01:00:00Z",
        "end": "2026-12-04T01:45:00Z",
        "delivery_attempts": 193,
    }
    assert document["quiet_regions"] == ["us-east-1"]
    evidence = document["evidence"]
    assert evidence["sealed"] is True
    assert evidence["manifest_on_disk"] == "matches"
    assert [item["name"] for item in evidence["files"]] == [
        "cloudtrail-events.json",
        "iam-state.json",
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", item["sha256"]) for item in evidence["files"])


def test_hostile_text_kept_as_data(tmp_path: Path) -> None:
    text, document = document_of(tmp_path, HOSTILE)

    assert document["user_name"] == HOSTILE
    assert document["findings"][0]["events"][0]["user_agent"] == HOSTILE
    assert document["eradication"][1]["name"] == HOSTILE
    assert text.isascii()
    assert re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text) is None
