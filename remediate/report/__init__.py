"""The incident report: a view model built from the journal, rendered with jinja2."""

from remediate.report.render import write_reports

__all__ = ["write_reports"]
