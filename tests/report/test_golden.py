"""The Markdown report of a fixed incident, compared byte for byte with golden/report.md.

After an intended change to the report, regenerate the golden file and review its diff:

    REMEDIATE_UPDATE_GOLDEN=1 python -m pytest tests/report/test_golden.py

The variable is refused when CI is set, so CI always compares.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remediate.report.render import write_reports
from tests.helpers import FixedClock
from tests.report.incident_journal import REPORTED, write_incident

GOLDEN = Path(__file__).resolve().parent / "golden" / "report.md"
UPDATE_VARIABLE = "REMEDIATE_UPDATE_GOLDEN"


def test_markdown_matches_golden(tmp_path: Path) -> None:
    write_incident(tmp_path)

    [path] = write_reports(tmp_path, ("md",), clock=FixedClock(REPORTED))
    markdown = path.read_text(encoding="utf-8")

    if os.environ.get(UPDATE_VARIABLE) == "1":
        if os.environ.get("CI"):
            pytest.fail(f"{UPDATE_VARIABLE} is set in CI, which must compare, not regenerate")
        GOLDEN.write_text(markdown, encoding="utf-8")
    assert markdown == GOLDEN.read_text(encoding="utf-8")
