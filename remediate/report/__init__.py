"""The incident report: a view model of the journal and evidence bundle, rendered with jinja2."""

from remediate.report.render import write_reports

__all__ = ["write_reports"]
