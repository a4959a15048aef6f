"""The verdict: decided by the most severe finding, limited but never raised by gaps."""

from __future__ import annotations

from remediate.evidence.gaps import LOOKUP_EVENTS, EvidenceGap, standing_gaps
from remediate.evidence.indicators import Finding, Severity
from remediate.evidence.verdict import Verdict, decide_verdict

DENIED = EvidenceGap(LOOKUP_EVENTS, "AccessDenied", region="eu-west-1")


def finding(identifier: str, severity: Severity) -> Finding:
    return Finding(
        id=identifier,
        title=identifier.replace("-", " "),
        severity=severity,
        description="",
        source="test",
        summary="1 call at 2015-02-04T01:03:27Z in us-west-2.",
    )


def test_high_finding_is_compromised() -> None:
    result = decide_verdict(
        [finding("ses-recon", Severity.MEDIUM), finding("iam-persistence", Severity.HIGH)], []
    )

    assert result.verdict == Verdict.COMPROMISED
    assert result.finding_ids == ("iam-persistence", "ses-recon")
    assert result.reasons[0] == (
        "iam persistence (iam-persistence, high): 1 call at 2015-02-04T01:03:27Z in us-west-2."
    )


def test_critical_finding_is_compromised() -> None:
    result = decide_verdict([finding("iam-admin-policy-attached", Severity.CRITICAL)], [])

    assert result.verdict == Verdict.COMPROMISED


def test_medium_finding_is_suspicious() -> None:
    result = decide_verdict([finding("ses-recon", Severity.MEDIUM)], [DENIED])

    assert result.verdict == Verdict.SUSPICIOUS
    assert result.limited_by_gaps is False


def test_low_finding_decides_nothing() -> None:
    result = decide_verdict([finding("note", Severity.LOW)], [])

    assert result.verdict == Verdict.NO_EVIDENCE
    assert result.finding_ids == ("note",)


def test_no_evidence_without_gaps() -> None:
    result = decide_verdict([], [])

    assert result.verdict == Verdict.NO_EVIDENCE
    assert result.reasons == ()
    assert result.limited_by_gaps is False


def test_gaps_do_not_raise_verdict() -> None:
    result = decide_verdict([], [DENIED, *standing_gaps(lookup_events=True)])

    assert result.verdict == Verdict.NO_EVIDENCE


def test_no_evidence_names_limiting_gaps() -> None:
    gaps = [DENIED, *standing_gaps(lookup_events=False)]

    result = decide_verdict([], gaps)

    assert result.limited_by_gaps is True
    assert result.reasons[0] == (
        "No indicator matched, but this verdict is limited: 1 source(s) could not be read "
        "(cloudtrail:LookupEvents in eu-west-1)."
    )
    assert result.reasons[1].startswith("Not covered: Mail sent through the SES SMTP interface")
    assert len(result.reasons) == 3


def test_standing_gaps_alone_limit_verdict() -> None:
    result = decide_verdict([], standing_gaps(lookup_events=True))

    assert result.limited_by_gaps is True
    assert result.reasons[0] == "No indicator matched in the evidence collected."
    assert result.reasons[3].startswith("Not covered: LookupEvents returns management events")
