"""Evidence about a leaked key: CloudTrail events, SES sending statistics, indicators, verdict.

This layer reads AWS only through the gateways in `remediate.aws` and never
changes anything in the account.
"""
