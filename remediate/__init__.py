"""remediate: an incident-response playbook for a leaked AWS SES credential."""

__version__ = "0.1.0"
