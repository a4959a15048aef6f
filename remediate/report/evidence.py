"""The evidence bundle's hash manifest, as journaled, checked against the files on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediate.core.records import RecordType
from remediate.engine.evidence_bundle import MANIFEST_NAME
from remediate.engine.journal import Record

# What the file on disk shows against the hash the journal holds.
MATCHES = "matches"
CHANGED = "changed"
MISSING = "missing"
NOT_CHECKED = "not checked"
NOT_IN_MANIFEST = "not in the manifest"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class BundleOnDisk:
    """SHA-256 of each file in `<incident>/evidence/` (the manifest too), read when reporting."""

    hashes: dict[str, str | None] = field(default_factory=dict)  # None: the file is unreadable
    read: bool = False


@dataclass(frozen=True)
class EvidenceFileView:
    name: str
    sha256: str
    bytes: int | None
    sealed_before_changes: bool | None  # None when the manifest is not sealed yet
    on_disk: str  # matches, changed, missing, unreadable, not checked, or not in the manifest


@dataclass(frozen=True)
class SealView:
    time: str
    step: str
    manifest_sha256: str


@dataclass(frozen=True)
class EvidenceView:
    """The manifest of the last seal, every seal's hash, and what the disk shows now."""

    sealed: bool
    manifest_sha256: str | None  # the last journaled hash of manifest.json
    manifest_on_disk: str
    seals: list[SealView]
    files: list[EvidenceFileView]


def read_bundle(directory: Path) -> BundleOnDisk:
    """Hash every file of the evidence bundle; a missing directory gives no hash."""
    if not directory.is_dir():
        return BundleOnDisk(read=True)
    return BundleOnDisk(
        hashes={path.name: _sha256(path) for path in sorted(directory.glob("*.json"))},
        read=True,
    )


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def build_evidence(records: Sequence[Record], disk: BundleOnDisk) -> EvidenceView:
    seals = [
        SealView(record.time, str(record.step), str(record.get("manifest_sha256")))
        for record in records
        if record.type == RecordType.EVIDENCE_SEALED
    ]
    if seals:
        last = next(r for r in reversed(records) if r.type == RecordType.EVIDENCE_SEALED)
        listed: dict[str, Any] = dict(last.get("files") or {})
        files = [
            EvidenceFileView(
                name=name,
                sha256=str(entry.get("sha256")),
                bytes=entry.get("bytes"),
                sealed_before_changes=entry.get("sealed_before_changes"),
                on_disk=_compare(disk, name, str(entry.get("sha256"))),
            )
            for name, entry in sorted(listed.items())
        ]
    else:
        written: dict[str, str] = {}
        for record in records:
            if record.type == RecordType.EVIDENCE_FILE:
                written[str(record.get("name"))] = str(record.get("sha256"))
        listed = dict(written)
        files = [
            EvidenceFileView(name, digest, None, None, _compare(disk, name, digest))
            for name, digest in sorted(written.items())
        ]
    files.extend(
        EvidenceFileView(name, digest or "-", None, None, NOT_IN_MANIFEST)
        for name, digest in sorted(disk.hashes.items())
        if name != MANIFEST_NAME and name not in listed
    )
    manifest_sha256 = seals[-1].manifest_sha256 if seals else None
    return EvidenceView(
        sealed=bool(seals),
        manifest_sha256=manifest_sha256,
        manifest_on_disk=_compare(disk, MANIFEST_NAME, manifest_sha256)
        if manifest_sha256
        else NOT_CHECKED,
        seals=seals,
        files=files,
    )


def _compare(disk: BundleOnDisk, name: str, journaled: str) -> str:
    if not disk.read:
        return NOT_CHECKED
    if name not in disk.hashes:
        return MISSING
    found = disk.hashes[name]
    if found is None:
        return UNREADABLE
    return MATCHES if found == journaled else CHANGED
