"""Evaluation of IAM policies for the actions an incident cares about.

This reads Allow and Deny statements with Action or NotAction and IAM's wildcards
(`*`, `?`), case-insensitively. It does not evaluate Resource or Condition
elements, so "grants" means "a statement could allow it": the right reading for
an incident, where an over-estimate is safer than a miss.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from remediate.aws.iam import UserPolicies

SES_SEND_ACTIONS = ("ses:SendRawEmail", "ses:SendEmail")
QUARANTINE_POLICY_PREFIX = "AWSCompromisedKeyQuarantine"
# Actions an incident responder would want a quarantine policy to stop, shown
# when AWS's policy leaves them open.
SENDING_AND_KEY_ACTIONS = (
    "ses:SendRawEmail",
    "ses:SendEmail",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:CreateUser",
    "sts:GetSessionToken",
    "sts:GetFederationToken",
)


@dataclass(frozen=True)
class NamedDocument:
    """A policy document and where it comes from (for example `group mailers: SesSend`)."""

    source: str
    document: dict[str, Any]


def documents_of(policies: UserPolicies) -> list[NamedDocument]:
    """List every policy document that applies to the user, named by where it is attached."""
    named = [NamedDocument(f"inline {policy.name}", policy.document) for policy in policies.inline]
    named += [
        NamedDocument(f"attached {policy.name}", policy.document)
        for policy in policies.attached
        if policy.document is not None
    ]
    for group in policies.groups:
        named += [
            NamedDocument(f"group {group.name}: inline {p.name}", p.document) for p in group.inline
        ]
        named += [
            NamedDocument(f"group {group.name}: attached {p.name}", p.document)
            for p in group.attached
            if p.document is not None
        ]
    return named


def sources_allowing(documents: Iterable[NamedDocument], action: str) -> list[str]:
    return [
        named.source for named in documents if statement_effect(named.document, action) == "Allow"
    ]


def statement_effect(document: dict[str, Any], action: str) -> str | None:
    """Return "Deny" if any statement denies the action, "Allow" if one allows it, else None."""
    effects = {
        statement.get("Effect") for statement in _statements(document) if _covers(statement, action)
    }
    if "Deny" in effects:
        return "Deny"
    if "Allow" in effects:
        return "Allow"
    return None


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if isinstance(statement, dict):
            yield statement


def _covers(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not _matches_any(_as_list(statement["NotAction"]), action)
    return _matches_any(_as_list(statement.get("Action", [])), action)


def _matches_any(patterns: list[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(pattern).lower()) for pattern in patterns)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value or []]


def rights_beyond_sending(documents: Iterable[NamedDocument]) -> list[dict[str, Any]]:
    """List the policies whose Allow statements grant more than SES sending, with those actions.

    An action pattern counts as sending when it starts with `ses:Send` (`ses:SendRawEmail`,
    `ses:Send*`). Every other pattern, and any NotAction, is more than an SMTP user needs, so
    the new key would inherit it.
    """
    found: list[dict[str, Any]] = []
    for named in documents:
        actions: list[str] = []
        for statement in _statements(named.document):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                actions.append("NotAction " + ", ".join(_as_list(statement["NotAction"])))
                continue
            actions += [
                action
                for action in _as_list(statement.get("Action", []))
                if not action.lower().startswith("ses:send") and action not in actions
            ]
        if actions:
            found.append({"source": named.source, "actions": actions})
    return found


def describe_extra_rights(extra: list[dict[str, Any]]) -> str:
    """Name each policy that grants more than sending, with at most three of its actions."""
    parts = []
    for item in extra:
        actions = list(item["actions"])
        listed = ", ".join(actions[:3])
        if len(actions) > 3:
            listed += f" and {len(actions) - 3} more"
        parts.append(f"{item['source']} ({listed})")
    return "; ".join(parts)


def sending_statements(documents: Iterable[NamedDocument]) -> list[dict[str, Any]]:
    """Return the Allow statements that let the user send mail, narrowed to the sending actions.

    Their Resource and Condition elements are kept, so a new user given these
    statements may send exactly what the old one could.
    """
    statements = []
    for named in documents:
        for statement in _statements(named.document):
            if statement.get("Effect") != "Allow":
                continue
            allowed = [action for action in SES_SEND_ACTIONS if _covers(statement, action)]
            if not allowed:
                continue
            narrowed = {
                key: value
                for key, value in statement.items()
                if key not in {"Action", "NotAction", "Sid"}
            }
            narrowed["Action"] = allowed
            if narrowed not in statements:
                statements.append(narrowed)
    return statements
