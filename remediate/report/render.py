"""Render the report view with the jinja2 templates shipped in `templates/`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from remediate.core.errors import UsageError
from remediate.core.files import write_private_file
from remediate.core.resources import data_dir
from remediate.core.timeutil import Clock, utc_now
from remediate.engine.incident import open_incident_dir
from remediate.engine.journal import read_journal
from remediate.report.escape import markdown_code, markdown_text
from remediate.report.view import ReportView, build_view

REPORT_SCHEMA_VERSION = 1
FORMATS = ("md", "json")


def write_reports(
    incident_path: Path, formats: Sequence[str] = ("md",), clock: Clock = utc_now
) -> list[Path]:
    """Render the report of an incident in each format and write it beside the journal."""
    incident = open_incident_dir(incident_path)
    view = build_view(list(read_journal(incident.journal_path)), clock())
    paths = []
    for report_format in formats:
        if report_format == "md":
            content = render_markdown(view)
        elif report_format == "json":
            content = render_json(view)
        else:
            raise UsageError(
                f"Unknown report format {report_format!r}; choose one of {', '.join(FORMATS)}."
            )
        paths.append(write_private_file(incident.report_path(report_format), content))
    return paths


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        # Markdown, not HTML: every value passes through the md or code filter instead.
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["md"] = markdown_text
    environment.filters["code"] = markdown_code
    return environment


def render_markdown(view: ReportView) -> str:
    return _environment().get_template("report.md.j2").render(report=view)


def render_json(view: ReportView) -> str:
    document: dict[str, Any] = {"schema_version": REPORT_SCHEMA_VERSION, **dataclasses.asdict(view)}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
