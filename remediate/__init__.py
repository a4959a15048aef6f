"""remediate: an incident-response playbook for a leaked AWS SES credential."""

import logging

__version__ = "0.1.0"

# The debug log is off unless --debug or --log-file adds a handler; without this,
# Python's last-resort handler would print warnings on stderr.
logging.getLogger("remediate").addHandler(logging.NullHandler())
