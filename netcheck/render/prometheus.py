"""Prometheus text exposition for node_exporter's textfile collector (`-o` writes it atomically).

A state set per check (`netcheck_check_status{id,status}` is 1 for the current status, 0 for the
others), measured values and thresholds as gauges in base units with the unit in the name, the
verdict, run duration, start time and, with `--history`, the regressions since the previous run.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from netcheck.history import regressions
from netcheck.model import Report, Status, Verdict
from netcheck.render import RenderOptions

# probe unit → (metric suffix in Prometheus base units, factor); promtool wants bytes, not bits
UNITS: dict[str, tuple[str, float]] = {
    "ms": ("seconds", 0.001), "s": ("seconds", 1.0), "seconds": ("seconds", 1.0), "us": ("seconds", 1e-6),
    "bytes": ("bytes", 1.0), "b": ("bytes", 1.0),
    "mbps": ("bytes_per_second", 125_000.0), "mbit/s": ("bytes_per_second", 125_000.0),
    "gbps": ("bytes_per_second", 125_000_000.0), "bps": ("bytes_per_second", 0.125), "bits/s": ("bytes_per_second", 0.125),
    "%": ("ratio", 0.01), "pct": ("ratio", 0.01), "percent": ("ratio", 0.01),
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in kv.items()) + "}"


def _num(v: float) -> str:
    """Integers plainly; other values rounded to nine decimals, which hides float noise like 0.0382000001."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(round(float(v), 9))


def _unit(unit: str | None) -> tuple[str, float]:
    if not unit:
        return "value", 1.0
    key = unit.strip().lower()
    if key in UNITS:
        return UNITS[key]
    safe = "".join(ch if ch.isalnum() else "_" for ch in key).strip("_") or "value"
    return safe, 1.0


def _timestamp(started_at: str) -> float | None:
    try:
        t = datetime.fromisoformat(started_at)
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


class _Families:
    """Metric families in first-seen order, each written with HELP and TYPE once."""

    def __init__(self) -> None:
        self.help: dict[str, str] = {}
        self.samples: dict[str, list[str]] = defaultdict(list)

    def add(self, name: str, help_text: str, labels: str, value: float) -> None:
        self.help.setdefault(name, help_text)
        self.samples[name].append(f"{name}{labels} {_num(value)}")

    def text(self) -> str:
        out: list[str] = []
        for name, help_text in self.help.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *self.samples[name]]
        return "\n".join(out) + "\n"


def render(report: Report, options: RenderOptions) -> str:
    f = _Families()
    f.add("netcheck_info", "netcheck run metadata; always 1.",
          _labels(version=report.version, profile=report.profile_name, node=report.node,
                  **({"phase": report.phase} if report.phase else {})), 1)
    for v in Verdict:
        f.add("netcheck_verdict", "1 for the verdict of the last run (GO, NO-GO, INCONCLUSIVE), 0 for the others.",
              _labels(verdict=v.value), 1 if report.verdict is v else 0)
    f.add("netcheck_run_duration_seconds", "Wall time of the last run.", "", round(report.duration, 3))
    ts = _timestamp(report.started_at)
    if ts is not None:
        f.add("netcheck_run_timestamp_seconds", "Start of the last run, Unix time.", "", ts)
    f.add("netcheck_run_interrupted", "1 when the last run was interrupted before every check finished.", "",
          1 if report.interrupted else 0)
    for key, n in report.summary().items():
        f.add("netcheck_checks", "Checks in the last run by status.", _labels(status=key.upper()), n)
    for r in report.results:
        base = {"id": r.check.id, "category": r.check.category.value, "severity": r.check.severity.value}
        for st in Status:
            f.add("netcheck_check_status", "1 for the check's current status, 0 for the other statuses.",
                  _labels(**base, status=st.value), 1 if r.status is st else 0)
        o = r.outcome
        for kind, value in (("measured", o.measured), ("threshold", o.threshold)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            suffix, factor = _unit(o.unit)
            f.add(f"netcheck_check_{kind}_{suffix}", f"The check's {kind} value, in {suffix.replace('_', ' ')}.",
                  _labels(id=r.check.id, category=r.check.category.value), value * factor)
    if options.previous is not None:
        regs = regressions(options.previous, report)
        f.add("netcheck_regressions", "Checks that got worse since the previous run (status or threshold crossed).",
              "", len(regs))
        for c in regs:
            f.add("netcheck_check_regressed", "1 for each check that got worse since the previous run.",
                  _labels(id=c.id, change=c.kind, before=c.before.value if c.before else "",
                          after=c.after.value if c.after else ""), 1)
        prev_ts = _timestamp(options.previous.started_at)
        if prev_ts is not None:
            f.add("netcheck_previous_run_timestamp_seconds", "Start of the run compared against, Unix time.", "",
                  prev_ts)
    return f.text()
