"""The terminal report: grouped by category; every problem with value, threshold, fix."""

from __future__ import annotations

from netcheck.history import format_value
from netcheck.model import Category, CheckResult, Report, Status, Verdict
from netcheck.render import RenderOptions, causes
from netcheck.verdict import NO_EVIDENCE, blocking, no_evidence

_COLORS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.SKIP: "36",
           Status.ERROR: "35", Verdict.GO: "1;32", Verdict.NO_GO: "1;31", Verdict.INCONCLUSIVE: "1;33"}


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _result_lines(r: CheckResult, color: bool) -> list[str]:
    o = r.outcome
    tag = _paint(f"[{o.status.value}]", _COLORS[o.status], color)
    sev = "" if r.check.severity.required else " (advisory)"
    lines = [f"  {tag} {r.check.id}{sev}: {o.message}"]
    if o.status is not Status.PASS:
        if o.measured is not None or o.threshold is not None:
            lines.append(f"      └─ measured {format_value(o.measured, o.unit)}, threshold {format_value(o.threshold, o.unit)}")
        where = _segments_line(r)
        if where:
            lines.append(f"      └─ {where}")
        if o.remediation:
            lines.append(f"      └─ fix: {o.remediation}")
        if r.check.docs and o.status in (Status.FAIL, Status.WARN):
            lines.append(f"      └─ docs: {r.check.docs}")
    return lines


def _segments_line(r: CheckResult) -> str:
    """'path: LAN 0.2 ms · WAN 40.1 ms · AWS 0.3 ms (192.168.50.1 › 169.254.100.2 › 10.20.1.10)' for latency."""
    path = r.outcome.evidence.get("path")
    if not isinstance(path, dict) or not isinstance(path.get("attribution"), dict):
        return ""
    names = {"lan": "LAN", "wan": "WAN", "aws": "AWS", "unplaced": "unplaced"}
    parts = []
    for metric, unit in (("rtt", "ms"), ("loss", "%")):
        att = path["attribution"].get(metric)
        by = att.get("bySegment") if isinstance(att, dict) else None
        if isinstance(by, dict) and by:
            parts.append(f"{metric} " + " · ".join(f"{names.get(k, k)} {format_value(round(v, 2), unit)}"
                                                   for k, v in by.items()))
    hops = " › ".join(str(h.get("addr") or "*") for h in path.get("hops", []) if isinstance(h, dict))
    return f"path by segment: {'; '.join(parts)} ({hops})" if parts else ""
def summary_counts(report: Report) -> str:
    """`62 pass, 1 fail (advisory)`: counts by status, saying which failures and errors do not count."""
    parts: list[str] = []
    for key, n in report.summary().items():
        if not n:
            continue
        text = f"{n} {key}"
        if key in ("fail", "warn", "error"):
            advisory = sum(1 for r in report.results
                           if r.status.value.lower() == key and not r.check.severity.required)
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
    return f"VERDICT: {verdict}{note} — {summary_counts(report) or 'no checks'} in {report.duration:.1f} s"


def render(report: Report, options: RenderOptions) -> str:
    color = options.color
    by_cat: dict[Category, list[CheckResult]] = {}
    for r in report.results:
        by_cat.setdefault(r.check.category, []).append(r)
    out = [f"netcheck {report.version} — site {report.profile_name or '-'} — node {report.node or '-'}"]
    if report.phase:
        out.append(f"phase: {report.phase_line()}")
    out.append("")
    out += causes.text_lines(report, _COLORS if color else None)
    fold = causes.folded(report)
    for cat in Category:
        if cat not in by_cat:
            continue
        out.append(_paint(cat.value.upper(), "1", color))
        for r in by_cat[cat]:
            if r.check.id in fold:  # told under its root cause, or the same finding as an earlier one
                tag = _paint(f"[{r.status.value}]", _COLORS[r.status], color)
                out.append(f"  {tag} {r.check.id}: {fold[r.check.id]}")
                continue
            out.extend(_result_lines(r, color))
        out.append("")
    out.append(verdict_line(report, color=color))
    if report.verdict is Verdict.INCONCLUSIVE and no_evidence(report.results):
        out.append(NO_EVIDENCE)
    if report.verdict is Verdict.NO_GO:
        failing = [r.check.id for r in blocking(report.results)]
        if failing:
            out.append("Blocking: " + ", ".join(failing))
    if options.previous is not None:
        from netcheck.history import regression_lines

        out += ["", *regression_lines(report, options.previous)]
    return "\n".join(out) + "\n"
