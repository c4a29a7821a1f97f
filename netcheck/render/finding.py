"""One finding's fields as the reading formats write them (table, Markdown, HTML, JUnit, Nagios, root causes).

`Finding.of` picks a CheckResult apart once: status, id, title, message, measured value and threshold
formatted with their unit, skip reason, remediation, docs, the root cause it follows from. Each format
then only escapes and lays out these fields, so a field added or formatted differently changes in one
place. `findings` is the order in which formats without sections list them.
"""

from __future__ import annotations

from dataclasses import dataclass

from netcheck.history import format_value
from netcheck.model import CheckResult, Report, Severity, Status


@dataclass(frozen=True)
class Finding:
    """The fields of one check result as text (not yet escaped for any format)."""

    status: Status
    id: str
    title: str
    severity: Severity
    message: str
    measured: str  # with its unit, as people read it (`176.5 ms`); "-" when none
    threshold: str
    has_figures: bool  # a measured value or a threshold was given: the detailed formats show both
    skip_reason: str  # "" unless skipped with a reason
    remediation: str  # "" when none
    docs: str  # "" when none
    caused_by: str  # the root cause's check id, "" when none

    @property
    def advisory(self) -> bool:
        """True when the check never changes the verdict; the formats mark it "(advisory)"."""
        return not self.severity.required

    def details(self) -> list[tuple[str, str]]:
        """The labelled lines the detailed formats write under the message, in their order; empty ones left out."""
        rows = [("Measured", self.measured), ("Threshold", self.threshold)] if self.has_figures else []
        rows += [(label, text) for label, text in (("Skip reason", self.skip_reason),
                                                   ("Remediation", self.remediation), ("Docs", self.docs)) if text]
        return rows

    @classmethod
    def of(cls, r: CheckResult) -> Finding:
        o = r.outcome
        return cls(status=o.status, id=r.check.id, title=r.check.title, severity=r.check.severity,
                   message=o.message, measured=format_value(o.measured, o.unit),
                   threshold=format_value(o.threshold, o.unit),
                   has_figures=o.measured is not None or o.threshold is not None,
                   skip_reason=o.skip_reason.value if o.skip_reason is not None else "",
                   remediation=o.remediation or "", docs=r.check.docs or "", caused_by=r.caused_by or "")


def findings(report: Report) -> list[CheckResult]:
    """Non-passing checks, worst first (Status.rank), then in report order (Nagios' long text; the reading
    formats group them with table.sections)."""
    ranked = [(-r.status.rank, i, r) for i, r in enumerate(report.results) if r.status is not Status.PASS]
    return [r for _, _, r in sorted(ranked, key=lambda t: (t[0], t[1]))]
