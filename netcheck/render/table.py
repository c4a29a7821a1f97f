"""The terminal report, read at a glance: what blocks GO first, with value, threshold and fix; the other
findings with their detail; every passing check on one line; the verdict last.

Colour goes through rich (styles on rich Text, never escape codes written here); every string is
neutralised by `safe.for_terminal` in `_emit`, the one place where text leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from netcheck.history import format_value
from netcheck.model import CheckResult, Report, Status, Verdict
from netcheck.render import RenderOptions, causes
from netcheck.render.finding import Finding
from netcheck.render.safe import for_terminal
from netcheck.verdict import NO_EVIDENCE, blocking, counts_against, is_open, no_evidence

STYLES = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "cyan",
          Status.ERROR: "magenta", Verdict.GO: "bold green", Verdict.NO_GO: "bold red",
          Verdict.INCONCLUSIVE: "bold yellow"}
PASS_WIDTH = 110  # a PASS line is cut (with …) to this many characters: one line each on a usual terminal

Segment = tuple[str, str]  # (text, rich style; "" for none)
Line = list[Segment]


@dataclass(frozen=True)
class Section:
    """A group of results in reading order: `blocking`, `findings` (not blocking) or `passed`."""

    key: str
    title: str
    results: tuple[CheckResult, ...]


def blocks_go(r: CheckResult, report: Report) -> bool:
    """Does this result keep the run from GO: a required FAIL or ERROR (WARN under --strict); in a run that is not
    NO-GO also a required check left open (a SKIP that leaves the verdict open)?"""
    return counts_against(r, report.strict) or (report.verdict is not Verdict.NO_GO and r.check.severity.required
                                                and is_open(r))


def sections(report: Report) -> list[Section]:
    """The one place where results are ordered and grouped for reading (table, Markdown, HTML):
    what blocks GO first, then the other non-passing checks worst first, then the passing ones;
    report order within a group. Empty groups are left out.
    """
    first = [r for r in report.results if blocks_go(r, report)]
    ranked = sorted(((-r.status.rank, i, r) for i, r in enumerate(report.results)
                     if r.status is not Status.PASS and not blocks_go(r, report)), key=lambda t: (t[0], t[1]))
    rest = [r for _, _, r in ranked]
    passed = [r for r in report.results if r.status is Status.PASS]
    what = "must change before nodes join" if report.verdict is Verdict.NO_GO else "keep the verdict open"
    out = [Section("blocking", f"BLOCKING GO ({len(first)}) — {what}", tuple(first)),
           Section("findings", f"OTHER FINDINGS ({len(rest)}) — do not change the verdict", tuple(rest)),
           Section("passed", f"PASSED ({len(passed)})", tuple(passed))]
    return [s for s in out if s.results]


def _tag(r: CheckResult) -> Segment:
    return f"[{r.status.value}]", STYLES[r.status]


def _sev(r: CheckResult) -> str:
    return "" if r.check.severity.required else " (advisory)"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)].rstrip() + "…"


def _pass_line(r: CheckResult) -> Line:
    f = Finding.of(r)
    head = f"  [PASS] {for_terminal(f.id)}{_sev(r)}: "
    return [("  ", ""), _tag(r), (f" {f.id}{_sev(r)}: ", ""), (_cut(for_terminal(f.message), PASS_WIDTH - len(head)), "")]


def _detail_lines(r: CheckResult, root: int | None = None) -> list[Line]:
    """A finding in full; a root cause already told in the story at the top keeps only its figures here."""
    f = Finding.of(r)
    if root is not None:
        lines: list[Line] = [[("  ", ""), _tag(r), (f" {f.id}{_sev(r)}: ", "bold"),
                              (f"root cause {root} above (message and fix there)", "")]]
    else:
        lines = [[("  ", ""), _tag(r), (f" {f.id}{_sev(r)}: ", "bold"), (f.message, "")]]
    if f.has_figures:
        lines.append([(f"      └─ measured {f.measured}, threshold {f.threshold}", "")])
    where = _segments_line(r)
    if where:
        lines.append([(f"      └─ {where}", "")])
    if f.remediation and root is None:
        lines.append([("      └─ fix: ", "bold"), (f.remediation, "")])
    if f.docs and f.status in (Status.FAIL, Status.WARN):
        lines.append([(f"      └─ docs: {f.docs}", "dim")])
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
                                                   for k, v in by.items() if isinstance(v, int | float)))
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


def _verdict(report: Report) -> Line:
    note = " (interrupted)" if report.interrupted else ""
    return [("VERDICT: ", ""), (report.verdict.value, STYLES[report.verdict]),
            (f"{note} — {summary_counts(report) or 'no checks'} in {report.duration:.1f} s", "")]


def verdict_line(report: Report, color: bool = False) -> str:
    """The one-line summary (`--quiet` prints only this)."""
    return _emit([_verdict(report)], color).rstrip("\n")


def _emit(lines: list[Line], color: bool) -> str:
    """Lines to text: every segment neutralised for a terminal; styled by rich's console when `color`."""
    if not color:
        return "".join("".join(for_terminal(t) for t, _ in line) + "\n" for line in lines)
    import io

    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="standard", width=10_000, no_color=False,
                      highlight=False, emoji=False, markup=False, soft_wrap=True, legacy_windows=False)
    for line in lines:
        text = Text()
        for t, style in line:
            text.append(for_terminal(t), style=style or None)
        console.print(text)
    return buf.getvalue()


def render(report: Report, options: RenderOptions) -> str:
    lines: list[Line] = [[(f"netcheck {report.version} — site {report.profile_name or '-'} "
                           f"— node {report.node or '-'}", "")]]
    if report.phase:
        lines.append([(f"phase: {report.phase_line()}", "")])
    roots = causes.text_lines(report)  # "N root causes (fix these first)": plain lines, neutralised in _emit
    if roots:
        lines += [[], *([(line, "bold" if i == 0 else "")] for i, line in enumerate(roots) if line)]
    fold = causes.folded(report)
    told = {story.root.check.id: n for n, story in enumerate(causes.stories(report), 1)}
    for section in sections(report):
        lines += [[], [(section.title, "bold")]]
        for r in section.results:
            if r.check.id in fold:  # told under its root cause, or the same finding as an earlier one
                lines.append([("  ", ""), _tag(r), (f" {r.check.id}{_sev(r)}: {fold[r.check.id]}", "")])
            else:
                lines += [_pass_line(r)] if section.key == "passed" else _detail_lines(r, told.get(r.check.id))
    lines += [[], _verdict(report)]
    if report.verdict is Verdict.INCONCLUSIVE and no_evidence(report.results):
        lines.append([(NO_EVIDENCE, "")])
    if report.verdict is Verdict.NO_GO:
        failing = [r.check.id for r in blocking(report.results)]
        if failing:
            lines.append([("Blocking: " + ", ".join(failing), "")])
    if options.previous is not None:
        from netcheck.history import regression_lines

        lines += [[], *([(line, "")] for line in regression_lines(report, options.previous))]
    return _emit(lines, options.color)


def color_wanted(stream: object, no_color: bool = False) -> bool:
    """Colour for a stream only when rich's console would colour it: a terminal that is not TERM=dumb,
    and neither --no-color nor NO_COLOR (any non-empty value, https://no-color.org).
    """
    import os

    if no_color or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():  # decided without importing rich
        return False
    from rich.console import Console

    console = Console(file=stream)  # type: ignore[arg-type]
    return console.is_terminal and not console.is_dumb_terminal and console.color_system is not None
