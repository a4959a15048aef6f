"""Typed gateways to the AWS APIs the playbook uses, built from an injected boto3 Session."""
