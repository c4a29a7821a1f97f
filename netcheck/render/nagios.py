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
from netcheck.render.markdown import findings
from netcheck.verdict import blocking, left_open, no_evidence

# probe unit → (Nagios UOM, factor); Nagios knows s, ms, us, %, B, KB, MB, TB, c and nothing else.
UOM: dict[str, tuple[str, float]] = {"ms": ("ms", 1.0), "s": ("s", 1.0), "seconds": ("s", 1.0), "us": ("us", 1.0),
                                     "%": ("%", 1.0), "pct": ("%", 1.0), "percent": ("%", 1.0),
                                     "bytes": ("B", 1.0), "b": ("B", 1.0)}
_LABEL_BAD = re.compile(r"[\s='|]")


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


def _perf(r: CheckResult) -> str | None:
    """`'id'=value[UOM];warn;crit;min;max` with the threshold as the warning range, like `rtt=143ms;200;;0;`."""
    o = r.outcome
    if isinstance(o.measured, bool) or not isinstance(o.measured, int | float):
        return None
    uom, factor = UOM.get((o.unit or "").strip().lower(), ("", 1.0))
    label = _LABEL_BAD.sub("_", r.check.id)
    warn = ""
    if isinstance(o.threshold, int | float) and not isinstance(o.threshold, bool):
        t = _n(o.threshold * factor)
        warn = f"{t}:" if higher_is_better(r) else t  # `N:` alerts below N (throughput, MTU)
    return f"{label}={_n(o.measured * factor)}{uom};{warn};;0;"


def render(report: Report, options: RenderOptions) -> str:
    st = state(report)
    s = report.summary()
    failed = [r.check.id for r in blocking(report.results)]
    open_ = [r.check.id for r in left_open(report.results)]
    phase = f" ({report.phase})" if report.phase else ""
    parts = [f"{report.verdict.value}{phase}: {s['pass']} pass, {s['warn']} warn, {s['fail']} fail, {s['skip']} skip, "
             f"{s['error']} error in {report.duration:.1f} s"]
    if failed:
        parts.append("failed " + ", ".join(failed))
    elif open_:
        parts.append("not evaluated " + ", ".join(open_))
    elif report.verdict is Verdict.INCONCLUSIVE and no_evidence(report.results):
        parts.append("no required check was evaluated")
    elif s["warn"]:
        parts.append("warnings " + ", ".join(r.check.id for r in report.results if r.status is Status.WARN))
    if options.previous is not None:
        regs = regressions(options.previous, report)
        if regs:
            parts.append(f"{len(regs)} regressed since {options.previous.started_at}")
    perf = [p for p in (_perf(r) for r in report.results) if p]
    perf += [f"duration={_n(report.duration)}s;;;0;", f"failed={s['fail']};;;0;", f"warnings={s['warn']};;;0;"]
    lines = [f"NETCHECK {st.name} - " + "; ".join(parts) + " | " + " ".join(perf)]
    if report.phase:
        lines.append(f"phase: {report.phase_line()}".replace("|", "/"))
    for r in findings(report):
        fix = f" Fix: {r.outcome.remediation}" if r.outcome.remediation and r.status is not Status.SKIP else ""
        lines.append(f"[{r.status.value}] {r.check.id}: {r.outcome.message}{fix}".replace("|", "/"))
    return "\n".join(lines) + "\n"
