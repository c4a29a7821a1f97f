"""Nagios plugin output: one status line with perfdata, then long text with each problem.

This format alone overrides netcheck's exit codes with the plugin API's: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (see `exit_code`).
"""

from __future__ import annotations

import enum
import re

from netcheck.history import higher_is_better, regressions
from netcheck.model import CheckResult, Report, Status, Verdict
from netcheck.render import RenderOptions
from netcheck.render.finding import Finding, findings
from netcheck.render.prometheus import _ADDRESS, _PORT, fold_worst, stable_labels
from netcheck.render.safe import for_nagios, neutral
from netcheck.units import Unit
from netcheck.verdict import blocking, left_open, no_evidence

_LABEL_BAD = re.compile(r"[\s='|]")
FIRST_LINE_MAX = 1024  # NRPE and many agents cut the first line at 1 KiB
class NagiosState(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def state(report: Report) -> NagiosState:
    """NO-GO → CRITICAL; INCONCLUSIVE or interrupted → UNKNOWN; GO with warnings → WARNING; else OK."""
    if report.verdict is Verdict.NO_GO:
        return NagiosState.CRITICAL
    if report.verdict is Verdict.INCONCLUSIVE or report.interrupted:
        return NagiosState.UNKNOWN
    if any(r.status is Status.WARN for r in report.results):
        return NagiosState.WARNING
    return NagiosState.OK


def exit_code(report: Report) -> int:
    return int(state(report))


def _n(v: float) -> str:
    return f"{v:.6g}"


def _range(r: CheckResult, value: float, threshold: float) -> str | None:
    """The plugin-guideline range (alert when OUTSIDE it) for the check's own threshold, or None.

    A range is only given when its verdict on the value agrees with the check's status (outside the range
    exactly when the check failed), so a grapher or a second evaluator never contradicts the status line.
    """
    direction = higher_is_better(r)
    if direction is True:
        rng, inside = f"{_n(threshold)}:", value >= threshold
    elif value < 0 or threshold < 0 or "offset" in r.check.id:  # a signed figure judged by its magnitude
        t = abs(threshold)
        rng, inside = f"{_n(-t)}:{_n(t)}", -t <= value <= t
    else:
        rng, inside = f"~:{_n(threshold)}", value <= threshold
    failed = r.status is Status.FAIL
    if r.status not in (Status.PASS, Status.WARN, Status.FAIL) or inside == failed:
        return None
    return rng


def _perf(r: CheckResult) -> str | None:
    """`label=value[UOM];warn;crit;min;` with a required check's threshold as the critical range (failing it
    makes the run NO-GO → CRITICAL). Advisory checks never change the plugin state, so their figures carry no
    range; WARN comes from probe-specific margins, not from one threshold, so the warning range stays empty.
    min is 0 only for figures that cannot be negative.
    """
    o = r.outcome
    if isinstance(o.measured, bool) or not isinstance(o.measured, int | float):
        return None
    unit = (o.unit or "").strip()
    known = Unit.parse(unit)
    uom = known.uom if known is not None else ""  # the guidelines know s, ms, us, %, B, KB, MB, TB and c only
    label = _LABEL_BAD.sub("_", neutral(perf_label(r)))
    if unit and not uom:  # a figure in any other unit (Mbit/s, hops) carries its unit in the label
        label += "_" + re.sub(r"[^A-Za-z0-9]+", "_", unit).strip("_")
    value = o.measured
    crit = ""
    if (isinstance(o.threshold, int | float) and not isinstance(o.threshold, bool)
            and r.check.severity.required):
        crit = _range(r, value, o.threshold) or ""
    minimum = "0" if value >= 0 and known is not None and known.non_negative else ""
    return f"{label}={_n(value)}{uom};;{crit};{minimum};"


def perf_label(r: CheckResult) -> str:
    """The check's id without addresses or port numbers, as its Prometheus labels are: `reach.eks-api.tcp`,
    `latency.rtt.responder`, `firewall.local.tcp.kubelet`. A moved ENI or a new port keeps the perfdata series."""
    stable = stable_labels(r)
    label = _PORT.sub(r".\1", _ADDRESS.sub("", r.check.id))
    target = stable["target"]
    return f"{label}.{target}" if target and target not in label.split(".") else label


def _perf_items(report: Report) -> list[str]:
    """One perfdata item per label; checks that share a label (two control plane ENIs) fold to the worst."""
    folded: dict[str, CheckResult] = {}
    for r in report.results:
        key = perf_label(r)
        folded[key] = r if key not in folded else fold_worst(folded[key], r)
    return [p for p in (_perf(r) for r in folded.values()) if p]


def _first_line(head: str, tail: list[str], perf: str) -> str:
    """`head; tail…` cut (with "and N more") so that the line with its perfdata stays within 1 KiB."""
    room = FIRST_LINE_MAX - len(head) - len(" | " + perf) - 1
    text = head
    for i, part in enumerate(tail):
        more = f" and {len(tail) - i} more" if i < len(tail) else ""
        if len(text) + len(part) + 2 + 24 > room + len(head):
            return f"{text}{more} (see below) | {perf}"[:FIRST_LINE_MAX]
        text += ("; " if i == 0 else ", ") + part
    return f"{text} | {perf}"[:FIRST_LINE_MAX]


def render(report: Report, options: RenderOptions) -> str:
    """Plugin output: status line with the run's perfdata; long text, one line per finding; the checks'
    perfdata after the long text (`| …` on the last text line, then one item per line), as the guidelines allow.
    """
    st = state(report)
    s = report.summary()

    failed = [for_nagios(r.check.id) for r in blocking(report.results)]
    open_ = [for_nagios(r.check.id) for r in left_open(report.results)]
    advisory = [for_nagios(r.check.id) for r in report.results
                if r.status is Status.FAIL and not r.check.severity.required]
    counts = f"{s['pass']} pass, {s['warn']} warn, {s['fail']} fail"
    if advisory:
        counts += " (advisory)" if len(advisory) == s["fail"] else f" ({len(advisory)} advisory)"
    phase = f" ({for_nagios(report.phase)})" if report.phase else ""
    head = f"NETCHECK {st.name} - {report.verdict.value}{phase}: {counts}, {s['skip']} skip, {s['error']} error " \
           f"in {report.duration:.1f} s"
    tail: list[str] = []
    if failed:
        tail = ["failed " + failed[0], *failed[1:]]
    elif open_:
        tail = ["not evaluated " + open_[0], *open_[1:]]
    elif report.verdict is Verdict.INCONCLUSIVE and no_evidence(report.results):
        tail = ["no required check was evaluated"]
    elif s["warn"]:
        warns = [for_nagios(r.check.id) for r in report.results if r.status is Status.WARN]
        tail = ["warnings " + warns[0], *warns[1:]]
    elif advisory:
        tail = ["advisory failures " + advisory[0], *advisory[1:]]
    if options.previous is not None:
        regs = regressions(options.previous, report)
        if regs:
            head += f"; {len(regs)} regressed since {for_nagios(options.previous.started_at)}"
    run_perf = f"duration={_n(report.duration)}s;;;0; failed={s['fail']};;;0; warnings={s['warn']};;;0;"
    lines = [_first_line(head, tail, run_perf)]
    if report.phase:
        lines.append(f"phase: {for_nagios(report.phase_line())}")
    for f in map(Finding.of, findings(report)):
        fix = f" Fix: {f.remediation}" if f.remediation and f.status is not Status.SKIP else ""
        sev = " (advisory)" if f.advisory else ""
        lines.append(for_nagios(f"[{f.status.value}] {f.id}{sev}: {f.message}{fix}"))
    perf = _perf_items(report)
    if perf:
        if len(lines) == 1:
            lines.append(f"{len(perf)} figures follow as performance data")
        lines[-1] += " | " + perf[0]
        lines += perf[1:]
    return "\n".join(neutral(line) for line in lines) + "\n"  # each line one line, whatever a string held
