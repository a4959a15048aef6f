"""The evidence bundle is written and sealed before the first change, and its hashes hold."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from remediate.core.records import RecordType
from remediate.engine.answers import AnswerPolicy
from remediate.engine.journal import read_journal
from remediate.engine.runner import REHEARSE, IncidentRequest, start_incident
from remediate.rehearsal.world import open_world
from tests.helpers import RecordingConsole


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One rehearsal for the whole module: the tests only read what it wrote."""
    path = tmp_path_factory.mktemp("bundle") / "incident"
    with open_world() as world:
        start_incident(
            IncidentRequest(
                access_key_id=world.leaked_access_key_id,
                session=world.session,
                console=RecordingConsole(),
                policy=AnswerPolicy(assume_yes=True, approve_all=True),
                mode=REHEARSE,
                incident_dir=path,
            )
        )
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bundle_sealed_before_first_change(incident: Path) -> None:
    records = list(read_journal(incident / "journal.jsonl"))
    first_change = next(r.seq for r in records if r.type == RecordType.AWS_INTENT)
    seals = [r for r in records if r.type == RecordType.EVIDENCE_SEALED]

    assert seals[0].seq < first_change
    assert set(seals[0].get("files")) == {
        "iam-state.json",
        "cloudtrail-events.json",
        "ses-sending.json",
        "findings.json",
    }
    for name, entry in seals[0].get("files").items():
        assert entry["sealed_before_changes"] is True
        assert entry["sha256"] == sha256(incident / "evidence" / name)


def test_final_manifest_matches_journal(incident: Path) -> None:
    records = list(read_journal(incident / "journal.jsonl"))
    last_seal = [r for r in records if r.type == RecordType.EVIDENCE_SEALED][-1]

    assert last_seal.get("manifest_sha256") == sha256(incident / "evidence" / "manifest.json")
    manifest = json.loads((incident / "evidence" / "manifest.json").read_text())
    assert manifest["algorithm"] == "sha256"
    assert manifest["files"] == last_seal.get("files")


def test_iam_state_holds_keys_and_documents(incident: Path) -> None:
    state = json.loads((incident / "evidence" / "iam-state.json").read_text())

    assert state["user_name"].startswith("ses-smtp-user.")
    assert [key["Status"] for key in state["access_keys"]] == ["Active"]
    assert state["policies"]["inline"]["AmazonSesSendingAccess"]["Statement"][0]["Action"] in (
        "ses:SendRawEmail",
        ["ses:SendRawEmail"],
    )


def test_bundle_files_are_private(incident: Path) -> None:
    evidence = incident / "evidence"

    assert stat.S_IMODE(evidence.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in evidence.iterdir()} == {0o600}


def test_bundle_holds_raw_events_and_sending(incident: Path) -> None:
    events = json.loads((incident / "evidence" / "cloudtrail-events.json").read_text())
    sending = json.loads((incident / "evidence" / "ses-sending.json").read_text())
    findings = json.loads((incident / "evidence" / "findings.json").read_text())

    names = sorted(record["eventName"] for record in events["Records"])
    assert "VerifyEmailIdentity" in names
    assert "PutAccountDetails" in names
    assert all("userIdentity" in record for record in events["Records"])
    assert {region["region"] for region in sending} >= {"eu-west-1", "ap-southeast-2"}
    assert findings["verdict"]["verdict"] == "compromised"
