"""Prometheus text exposition for node_exporter's textfile collector (`-o` writes it atomically).

Designed for fleets: labels are stable across runs and nodes. Every sample carries `site` (the profile's
`metadata.labels.site`, else its name) and the profile's other `metadata.labels` (names sanitised to label
names; one that would clash with a label netcheck sets gets a `label_` prefix), so a fleet query needs no
join with `netcheck_info`. A check is identified by `check` (its id with addresses and port numbers removed,
e.g. `reach.tcp`, `latency.rtt`, `firewall.local.udp`), `category`, `target` (the endpoint, path or traffic
name, e.g. `eks-api`, `responder`, `kubelet`; empty for node-local checks) and `requirement` (required or
advisory; not `severity`, which Alertmanager routes on) — never by an IP or a port number, so an ENI that
moves does not create new series. Checks that share these labels (two control plane ENIs) are folded into
one series with the worst status and figure; the JSON report keeps each address.

Per check a status state set, the kube-state-metrics way: one sample per possible status
(`netcheck_check_status{…,status="FAIL"} 1`, the four others 0), so a series never disappears when the
status flips; measured value and threshold in base units with the unit in the name, and for latency loss
ratio, jitter and 95th percentile. Plus the verdict state set, run duration, start time, counts by status
and, with `--history`, the regressions since the previous run.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime

from netcheck.history import higher_is_better, regressions
from netcheck.model import CheckResult, Report, Status, Verdict
from netcheck.render import RenderOptions
from netcheck.render.safe import for_prometheus_label
from netcheck.units import Unit


def _label(value: str) -> str:
    return for_prometheus_label(value)


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in kv.items()) + "}" if kv else ""


# Label names netcheck sets itself, and the target labels Prometheus adds on scrape: a profile label
# of the same name is exported as `label_<name>` instead of overwriting (or being overwritten by) them.
RESERVED = frozenset({"site", "check", "category", "target", "requirement", "status", "verdict", "change", "before",
                      "after", "version", "profile", "node", "phase", "instance", "job", "le", "quantile"})


def label_name(key: str) -> str:
    """A metadata.labels key as a Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*, never `__`-prefixed."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    if not name or name[0].isdigit() or name.startswith("__"):
        name = "label_" + name.lstrip("_")
    return name


def site_labels(report: Report) -> dict[str, str]:
    """`site` and the profile's other metadata.labels, sanitised: the labels every sample carries."""
    out = {"site": report.site}
    for key in sorted(report.labels):
        if key == "site":
            continue
        name = label_name(key)
        if name in RESERVED or name in out:
            name = label_name("label_" + name)
        if name not in out:
            out[name] = report.labels[key]
    return out


def _num(v: float) -> str:
    """Integers plainly; other values rounded to nine decimals, which hides float noise like 0.0382000001."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(round(float(v), 9))


def _unit(unit: str | None) -> tuple[str, float]:
    """(metric name suffix, factor to it): the unit's Prometheus base unit (netcheck/units.py); a unit a report
    read back names that netcheck does not know keeps its own name, and no unit gives `value`."""
    if not unit:
        return "value", 1.0
    known = Unit.parse(unit)
    if known is not None:
        return known.prometheus
    safe = "".join(ch if ch.isalnum() else "_" for ch in unit.strip().lower()).strip("_") or "value"
    return safe, 1.0


def _timestamp(started_at: str) -> float | None:
    try:
        t = datetime.fromisoformat(started_at)
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


class _Families:
    """Metric families in first-seen order, each written with HELP and TYPE once."""

    def __init__(self, base: dict[str, str]) -> None:
        self.base = base  # on every sample: site and the profile's other labels
        self.help: dict[str, str] = {}
        self.samples: dict[str, list[str]] = defaultdict(list)

    def add(self, name: str, help_text: str, labels: dict[str, str], value: float) -> None:
        self.help.setdefault(name, help_text)
        self.samples[name].append(f"{name}{_labels(**self.base, **labels)} {_num(value)}")

    def text(self) -> str:
        out: list[str] = []
        for name, help_text in self.help.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *self.samples[name]]
        return "\n".join(out) + "\n"


_ADDRESS = re.compile(r"\.(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:]+)(?:/\d{1,3})?(?=\.|$)")
_PORT = re.compile(r"\.(tcp|udp)-\d+(?=\.|$)")
_NAMED = {"dns", "reach", "tls", "inbound"}  # ids `<category>.<endpoint name>.<what>`


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def stable_labels(r: CheckResult) -> dict[str, str]:
    """check, category, target, requirement: nothing in them changes when an address or an ephemeral port does."""
    cid = r.check.id
    no_address = _ADDRESS.sub("", cid)
    stripped = _PORT.sub(r".\1", no_address)
    had_address, had_port = no_address != cid, stripped != no_address
    parts = stripped.split(".")
    target = ""
    if parts[0] in _NAMED and len(parts) >= 3:
        target, parts = parts[1], [parts[0], *parts[2:]]
    elif parts[0] in _NAMED and len(parts) == 2:
        target, parts = parts[1], [parts[0]]
    if had_port and not target:
        m = re.search(r"admits (.+?) traffic", r.check.title)
        target = _slug(m.group(1)) if m else ""
    if had_address and not target:
        ev = r.outcome.evidence
        label = ev.get("label") if isinstance(ev.get("label"), str) else None
        if label is None and str(ev.get("source", "")).startswith("spec.responder"):
            label = "responder"
        if label is None:
            m = re.search(r"\(([^()]+)\)", r.check.title)
            label = m.group(1) if m else ""
        target = _slug(label)
    return {"check": ".".join(parts), "category": r.check.category.value, "target": target,
            "requirement": r.check.severity.value}


def _number(v: object) -> float | None:
    return None if isinstance(v, bool) or not isinstance(v, int | float) else float(v)


def fold_worst(a: CheckResult, b: CheckResult) -> CheckResult:
    """The worse of two results folded into one series: worse status (Status.rank: FAIL above ERROR), then the
    worse figure."""
    if a.status.rank != b.status.rank:
        return a if a.status.rank > b.status.rank else b
    ma, mb = _number(a.outcome.measured), _number(b.outcome.measured)
    if ma is None or mb is None:
        return a
    higher = higher_is_better(a)
    if higher is None:
        return a
    return a if (ma < mb) == higher else b


def render(report: Report, options: RenderOptions) -> str:
    f = _Families(site_labels(report))
    f.add("netcheck_info", "netcheck run metadata; always 1.",
          {"version": report.version, "profile": report.profile_name, "node": report.node,
           **({"phase": report.phase} if report.phase else {})}, 1)
    for v in Verdict:
        f.add("netcheck_verdict", "1 for the verdict of the last run (GO, NO-GO, INCONCLUSIVE), 0 for the others.",
              {"verdict": v.value}, 1 if report.verdict is v else 0)
    f.add("netcheck_run_duration_seconds", "Wall time of the last run.", {}, round(report.duration, 3))
    ts = _timestamp(report.started_at)
    if ts is not None:
        f.add("netcheck_run_timestamp_seconds", "Start of the last run, Unix time.", {}, ts)
    f.add("netcheck_run_interrupted", "1 when the last run was interrupted before every check finished.", {},
          1 if report.interrupted else 0)
    for key, n in report.summary().items():
        f.add("netcheck_checks", "Checks in the last run by status.", {"status": key.upper()}, n)
    advisory = sum(1 for r in report.results if r.status in (Status.FAIL, Status.ERROR)
                   and not r.check.severity.required)
    f.add("netcheck_advisory_findings", "Advisory checks that failed or errored; they never change the verdict.",
          {}, advisory)
    folded: dict[tuple[str, ...], tuple[dict[str, str], CheckResult]] = {}
    for r in report.results:
        labels = stable_labels(r)
        fold_key = tuple(labels.values())
        prev = folded.get(fold_key)
        folded[fold_key] = (labels, r if prev is None else fold_worst(prev[1], r))
    for labels, r in folded.values():
        for st in Status:
            f.add("netcheck_check_status", "One series per status (PASS, WARN, FAIL, SKIP, ERROR): 1 for the check's "
                  "current status, 0 for the others; checks sharing labels are folded, worst first.",
                  {**labels, "status": st.value}, 1 if r.status is st else 0)
        o = r.outcome
        ident = {k: labels[k] for k in ("check", "category", "target")}
        for kind, value in (("measured", o.measured), ("threshold", o.threshold)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            suffix, factor = _unit(o.unit)
            f.add(f"netcheck_check_{kind}_{suffix}", f"The check's {kind} value, in {suffix.replace('_', ' ')}.",
                  ident, value * factor)
        ev = o.evidence
        for ev_key, name, factor, text in (("lossPct", "netcheck_latency_loss_ratio", 0.01, "Packet loss, 0 to 1."),
                                        ("jitterMs", "netcheck_latency_jitter_seconds", 0.001, "Jitter."),
                                        ("p95Ms", "netcheck_latency_p95_seconds", 0.001,
                                         "95th percentile round trip.")):
            figure = _number(ev.get(ev_key)) if r.check.category.value == "latency" else None
            if figure is not None:
                f.add(name, text, ident, figure * factor)
    if options.previous is not None:
        regs = regressions(options.previous, report)
        f.add("netcheck_regressions", "Checks that got worse since the previous run (status or threshold crossed).",
              {}, len(regs))
        by_id = {r.check.id: r for r in report.results}
        seen: set[tuple[str, str]] = set()
        for c in regs:
            now = by_id.get(c.id)
            ident = stable_labels(now) if now is not None else {"check": _ADDRESS.sub("", c.id), "category": "",
                                                            "target": "", "requirement": ""}
            seen_key = (ident["check"], ident["target"])
            if seen_key in seen:
                continue
            seen.add(seen_key)
            f.add("netcheck_check_regressed", "1 for each check that got worse since the previous run.",
                  {"check": ident["check"], "category": ident["category"], "target": ident["target"], "change": c.kind,
                   "before": c.before.value if c.before else "", "after": c.after.value if c.after else ""}, 1)
        prev_ts = _timestamp(options.previous.started_at)
        if prev_ts is not None:
            f.add("netcheck_previous_run_timestamp_seconds", "Start of the run compared against, Unix time.", {},
                  prev_ts)
    return f.text()
