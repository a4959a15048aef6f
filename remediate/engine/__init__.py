"""Playbook loading, the runner, the incident journal and the step registry."""
