"""The verdict on a key: compromised, suspicious or no evidence, with the findings behind it."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from remediate.evidence.gaps import EvidenceGap
from remediate.evidence.indicators import Finding, Severity, sort_findings


class Verdict(enum.StrEnum):
    COMPROMISED = "compromised"
    SUSPICIOUS = "suspicious"
    NO_EVIDENCE = "no-evidence"


@dataclass(frozen=True)
class VerdictResult:
    """The verdict, one plain sentence per reason, and the ids of the findings behind it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    finding_ids: tuple[str, ...]
    limited_by_gaps: bool

    def to_record(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "reasons": list(self.reasons),
            "finding_ids": list(self.finding_ids),
            "limited_by_gaps": self.limited_by_gaps,
        }


def decide_verdict(findings: Iterable[Finding], gaps: Sequence[EvidenceGap]) -> VerdictResult:
    """Decide from the most severe finding: high or critical is compromised, medium suspicious.

    Low findings are listed as reasons but decide nothing. Gaps never raise the
    verdict, and a verdict of no evidence lists the gaps that limit it.
    """
    ordered = sort_findings(findings)
    top = ordered[0].severity if ordered else None
    if top is not None and top.rank >= Severity.HIGH.rank:
        verdict = Verdict.COMPROMISED
    elif top is not None and top.rank >= Severity.MEDIUM.rank:
        verdict = Verdict.SUSPICIOUS
    else:
        verdict = Verdict.NO_EVIDENCE

    reasons = [_finding_reason(finding) for finding in ordered]
    limited = verdict == Verdict.NO_EVIDENCE and bool(gaps)
    if limited:
        reasons.extend(_gap_reasons(gaps))
    return VerdictResult(
        verdict=verdict,
        reasons=tuple(reasons),
        finding_ids=tuple(finding.id for finding in ordered),
        limited_by_gaps=limited,
    )


def _finding_reason(finding: Finding) -> str:
    reason = f"{finding.title} ({finding.id}, {finding.severity})"
    return f"{reason}: {finding.summary}" if finding.summary else reason


def _gap_reasons(gaps: Sequence[EvidenceGap]) -> list[str]:
    failed = [gap for gap in gaps if not gap.standing]
    if failed:
        places = sorted(
            {f"{gap.source} in {gap.region}" if gap.region else gap.source for gap in failed}
        )
        reasons = [
            f"No indicator matched, but this verdict is limited: {len(failed)} source(s) "
            f"could not be read ({'; '.join(places)})."
        ]
    else:
        reasons = ["No indicator matched in the evidence collected."]
    reasons.extend(f"Not covered: {gap.reason}" for gap in gaps if gap.standing)
    return reasons
