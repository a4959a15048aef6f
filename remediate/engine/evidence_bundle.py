"""The evidence bundle: what the investigation saw, kept as files with a SHA-256 manifest.

Files go under `<incident>/evidence/`. The manifest is sealed before the first
change to AWS, and its hash is journaled, so the evidence collected before
the response began can later be shown to be unaltered.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from remediate.core.files import make_private_dir, write_private_file
from remediate.core.timeutil import Clock, format_timestamp

MANIFEST_NAME = "manifest.json"
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class EvidenceBundle:
    def __init__(self, incident_path: Path, clock: Clock) -> None:
        self.directory = incident_path / "evidence"
        self._clock = clock

    def write(self, name: str, data: Any) -> tuple[Path, str]:
        """Write one evidence file as JSON and return its path and SHA-256."""
        if not _SAFE_NAME.match(name):
            raise ValueError(
                f"evidence name {name!r} must be lower-case letters, digits and hyphens"
            )
        make_private_dir(self.directory)
        content = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
        path = write_private_file(self.directory / f"{name}.json", content)
        return path, _sha256(path)

    def seal(self, *, changes_started: bool) -> tuple[dict[str, Any], str] | None:
        """Write the manifest of every evidence file; return it and its own SHA-256.

        Files already listed keep their `sealed_before_changes` flag, so a file
        added after the first change is never presented as earlier evidence.
        """
        if not self.directory.is_dir():
            return None
        manifest_path = self.directory / MANIFEST_NAME
        earlier = _read_manifest(manifest_path)
        files = {}
        for path in sorted(self.directory.glob("*.json")):
            if path.name == MANIFEST_NAME:
                continue
            before = earlier.get(path.name, {}).get("sealed_before_changes", not changes_started)
            files[path.name] = {
                "sha256": _sha256(path),
                "bytes": path.stat().st_size,
                "sealed_before_changes": before,
            }
        manifest = {
            "sealed_at": format_timestamp(self._clock()),
            "algorithm": "sha256",
            "files": files,
        }
        write_private_file(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        return manifest, _sha256(manifest_path)


def _read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    files: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")).get("files", {})
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
