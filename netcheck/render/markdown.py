"""Markdown report for a change ticket: verdict, summary, what changed since the last run,
every non-passing check with measured value, threshold and remediation, and the environment.
"""

from __future__ import annotations

import re

from netcheck.history import diff, verdict_line
from netcheck.model import Category, CheckResult, Report, Verdict
from netcheck.render import RenderOptions, causes
from netcheck.render.finding import Finding
from netcheck.render.safe import for_markdown, for_markdown_code, neutral
from netcheck.render.table import sections, summary_counts
from netcheck.verdict import NO_EVIDENCE, no_evidence

VERDICT_TEXT = {
    Verdict.GO: "GO — the network meets every required check.",
    Verdict.NO_GO: "NO-GO — at least one required check failed; the changes below are needed before nodes join.",
    Verdict.INCONCLUSIVE: "INCONCLUSIVE — a required check could not be evaluated; see why below.",
}


_URL = re.compile(r"https?://[^\s<>`\\\x00-\x1f\x7f-\x9f]+")


def cell(text: object) -> str:
    """Plain text safe inline and inside a table cell (see safe.for_markdown)."""
    return for_markdown(text)


def code(text: object) -> str:
    """Inline code that survives backticks in the text (see safe.for_markdown_code)."""
    return for_markdown_code(text)


def _finding(r: CheckResult) -> list[str]:
    f = Finding.of(r)
    sev = " (advisory)" if f.advisory else ""
    out = [f"### {f.status.value} {code(f.id)}{sev} — {cell(f.title)}", "", cell(f.message), ""]
    for label, text in f.details():  # Docs: an autolink only when a plain URL (a report read back may carry anything)
        shown = f"<{text}>" if label == "Docs" and _URL.fullmatch(text) else cell(text)
        out.append(f"- **{label}:** {shown}")
    out.append("")
    return out


def render(report: Report, options: RenderOptions) -> str:
    s = report.summary()
    out = [f"# netcheck report: {report.verdict.value}", "",
           f"**Verdict: {VERDICT_TEXT[report.verdict]}**" + (" The run was interrupted." if report.interrupted else "")
           + (f" {NO_EVIDENCE}" if report.verdict is Verdict.INCONCLUSIVE and no_evidence(report.results) else ""),
           "", f"Summary: {cell(summary_counts(report))}. Advisory findings never change the verdict.", "",
           "| pass | warn | fail | skip | error | duration |", "|---:|---:|---:|---:|---:|---:|",
           f"| {s['pass']} | {s['warn']} | {s['fail']} | {s['skip']} | {s['error']} | {report.duration:.1f} s |", ""]
    out += causes.markdown_lines(report)
    if options.previous is not None:
        out += ["## Changes since the previous run", "", cell(verdict_line(options.previous, report)), ""]
        changes = diff(options.previous, report)
        out += [f"- {cell(c.describe())}" for c in changes] or ["- No check changed status and no figure crossed its threshold."]
        out.append("")
    groups = [s for s in sections(report) if s.key != "passed"]
    fold = causes.folded(report)
    if groups:
        for group in groups:
            title = "Blocking GO" if group.key == "blocking" else "Other findings"
            note = ("these must change before nodes join" if report.verdict is Verdict.NO_GO
                    else "these keep the verdict open") if group.key == "blocking" else "these do not change the verdict"
            out += [f"## {title} ({len(group.results)})", "", f"_{note.capitalize()}._", ""]
            for r in group.results:
                out += [] if r.check.id in fold else _finding(r)
        out += causes.folded_lines(report, [r for g in groups for r in g.results], "markdown")
    else:
        out += ["## Findings", "", "Every check passed.", ""]
    out += ["## All checks", "", "| status | check | category | measured | threshold |", "|---|---|---|---:|---:|"]
    for cat in Category:
        for f in (Finding.of(r) for r in report.results if r.check.category is cat):
            out.append(f"| {f.status.value} | {code(f.id)} | {cat.value} | {cell(f.measured)} | {cell(f.threshold)} |")
    out += ["", "## Environment", "",
            f"- **Site profile:** {cell(report.profile_name or '-')}",
            f"- **Node:** {cell(report.node or '-')}",
            *([f"- **Phase:** {cell(report.phase_line())}"] if report.phase else []),
            f"- **Started:** {cell(report.started_at)}",
            f"- **Duration:** {report.duration:.1f} s",
            f"- **netcheck version:** {cell(report.version or '-')}",
            f"- **Strict mode:** {'yes' if report.strict else 'no'}", ""]
    return "\n".join(neutral(line) for line in out)  # no line of the report carries a control character
