"""Which policies grant a key's user more than SES sending."""

from __future__ import annotations

from typing import Any

from remediate.evidence.iam_policies import (
    NamedDocument,
    describe_extra_rights,
    rights_beyond_sending,
)


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": "*"}


def test_sending_only_grants_nothing_more() -> None:
    documents = [
        NamedDocument("inline AmazonSesSendingAccess", policy(allow("ses:SendRawEmail"))),
        NamedDocument("attached SesSend", policy(allow(["ses:Send*", "SES:SendEmail"]))),
    ]

    assert rights_beyond_sending(documents) == []


def test_wider_grants_listed_by_policy() -> None:
    documents = [
        NamedDocument(
            "attached IAMFullAccess",
            policy(allow("iam:*"), allow(["organizations:DescribeAccount", "iam:*"])),
        ),
        NamedDocument("inline mailer", policy(allow(["ses:SendRawEmail", "ses:GetSendQuota"]))),
        NamedDocument(
            "group ops: inline everything-else",
            policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        ),
        NamedDocument("inline guard", policy({"Effect": "Deny", "Action": "*", "Resource": "*"})),
    ]

    assert rights_beyond_sending(documents) == [
        {"source": "attached IAMFullAccess", "actions": ["iam:*", "organizations:DescribeAccount"]},
        {"source": "inline mailer", "actions": ["ses:GetSendQuota"]},
        {"source": "group ops: inline everything-else", "actions": ["NotAction iam:*"]},
    ]


def test_description_shows_three_actions() -> None:
    extra = [
        {"source": "attached PowerUser", "actions": ["ec2:*", "s3:*", "sqs:*", "sns:*", "kms:*"]},
        {"source": "inline reader", "actions": ["ses:Get*"]},
    ]

    assert describe_extra_rights(extra) == (
        "attached PowerUser (ec2:*, s3:*, sqs:* and 2 more); inline reader (ses:Get*)"
    )
