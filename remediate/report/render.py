"""Render the report view as Markdown, HTML or JSON, with the jinja2 templates in `templates/`."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from remediate import __version__
from remediate.core.errors import UsageError
from remediate.core.files import write_private_file
from remediate.core.resources import data_dir
from remediate.core.timeutil import Clock, utc_now
from remediate.engine.incident import open_incident_dir
from remediate.engine.journal import read_journal
from remediate.report.escape import html_text, markdown_code, markdown_text
from remediate.report.evidence import read_bundle
from remediate.report.view import ReportView, build_view

# Version 1 of the JSON report, documented in README.md. A change that removes or
# renames a field, or changes its meaning, needs a new version; added fields do not.
REPORT_SCHEMA_VERSION = 1
FORMATS = ("md", "html", "json")


def write_reports(
    incident_path: Path, formats: Sequence[str] = ("md",), clock: Clock = utc_now
) -> list[Path]:
    """Render the report of an incident in each format and write it beside the journal."""
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise UsageError(
            f"Unknown report format {unknown[0]!r}; choose one of {', '.join(FORMATS)}."
        )
    incident = open_incident_dir(incident_path)
    view = build_view(
        list(read_journal(incident.journal_path)),
        clock(),
        read_bundle(incident.path / "evidence"),
    )
    renderers = {"md": render_markdown, "html": render_html, "json": render_json}
    return [
        write_private_file(incident.report_path(name), renderers[name](view)) for name in formats
    ]


def percent(rate: float | None) -> str:
    """Format a rate (0.0512) as `5.12 %`, or `-` when there is no data."""
    return "-" if rate is None else f"{rate * 100:.2f} %"


def number(value: float | None) -> str:
    """Format a count or a quota: `50000`, `1.5`, or `-` when there is no data."""
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else str(value)


def _loader() -> jinja2.FileSystemLoader:
    return jinja2.FileSystemLoader(str(data_dir("templates")))


# One environment of each kind per process, so that each template is compiled once.
@functools.cache
def _markdown_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=_loader(),
        undefined=jinja2.StrictUndefined,
        # Markdown, not HTML: every value passes through the md or code filter instead.
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["md"] = markdown_text
    environment.filters["code"] = markdown_code
    environment.filters["percent"] = percent
    environment.filters["number"] = number
    return environment


@functools.cache
def _html_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=_loader(),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        # Runs on every value before escaping, so no value can carry a control character.
        finalize=html_text,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = percent
    environment.filters["number"] = number
    return environment


def render_markdown(view: ReportView) -> str:
    return _markdown_environment().get_template("report.md.j2").render(report=view)


def render_html(view: ReportView) -> str:
    return _html_environment().get_template("report.html.j2").render(report=view)


def report_document(view: ReportView) -> dict[str, Any]:
    """Build the JSON report: the view's data, without the chart's drawing geometry."""
    data = dataclasses.asdict(view)
    del data["chart"]
    return {"schema_version": REPORT_SCHEMA_VERSION, "remediate_version": __version__, **data}


def render_json(view: ReportView) -> str:
    # ASCII only: names from the attacker reach the file as \u escapes, so that no
    # control character (C0 or C1) can act on a terminal that prints it.
    return json.dumps(report_document(view), indent=2, ensure_ascii=True) + "\n"
