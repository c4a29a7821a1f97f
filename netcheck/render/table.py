"""The terminal report: grouped by category; every problem with value, threshold, fix."""

from __future__ import annotations

from netcheck.history import format_value
from netcheck.model import Category, CheckResult, Report, Status, Verdict
from netcheck.render import RenderOptions

_COLORS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.SKIP: "36",
           Status.ERROR: "35", Verdict.GO: "1;32", Verdict.NO_GO: "1;31", Verdict.INCONCLUSIVE: "1;33"}


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _result_lines(r: CheckResult, color: bool) -> list[str]:
    o = r.outcome
    tag = _paint(f"[{o.status.value}]", _COLORS[o.status], color)
    sev = "" if r.check.severity.value == "required" else " (advisory)"
    lines = [f"  {tag} {r.check.id}{sev}: {o.message}"]
    if o.status is not Status.PASS:
        if o.measured is not None or o.threshold is not None:
            lines.append(f"      └─ measured {format_value(o.measured, o.unit)}, threshold {format_value(o.threshold, o.unit)}")
        if o.remediation:
            lines.append(f"      └─ fix: {o.remediation}")
        if r.check.docs and o.status in (Status.FAIL, Status.WARN):
            lines.append(f"      └─ docs: {r.check.docs}")
    return lines


def summary_counts(report: Report) -> str:
    """`62 pass, 1 fail (advisory)`: counts by status, saying which failures and errors do not count."""
    parts: list[str] = []
    for key, n in report.summary().items():
        if not n:
            continue
        text = f"{n} {key}"
        if key in ("fail", "warn", "error"):
            advisory = sum(1 for r in report.results
                           if r.status.value.lower() == key and r.check.severity.value != "required")
            if advisory == n:
                text += " (advisory)"
            elif advisory:
                text += f" ({advisory} advisory)"
        parts.append(text)
    return ", ".join(parts)


def verdict_line(report: Report, color: bool = False) -> str:
    """The one-line summary (`--quiet` prints only this)."""
    verdict = _paint(report.verdict.value, _COLORS[report.verdict], color)
    note = " (interrupted)" if report.interrupted else ""
    return f"VERDICT: {verdict}{note} — {summary_counts(report)} in {report.duration:.1f} s"


def render(report: Report, options: RenderOptions) -> str:
    color = options.color
    by_cat: dict[Category, list[CheckResult]] = {}
    for r in report.results:
        by_cat.setdefault(r.check.category, []).append(r)
    out = [f"netcheck {report.version} — site {report.profile_name or '-'} — node {report.node or '-'}", ""]
    for cat in Category:
        if cat not in by_cat:
            continue
        out.append(_paint(cat.value.upper(), "1", color))
        for r in by_cat[cat]:
            out.extend(_result_lines(r, color))
        out.append("")
    out.append(verdict_line(report, color=color))
    if report.verdict is Verdict.NO_GO:
        failing = [r.check.id for r in report.results
                   if r.status is Status.FAIL and r.check.severity.value == "required"]
        if failing:
            out.append("Blocking: " + ", ".join(failing))
    if options.previous is not None:
        from netcheck.history import regression_lines

        out += ["", *regression_lines(report, options.previous)]
    return "\n".join(out) + "\n"
