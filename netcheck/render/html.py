"""Self-contained HTML report for a change ticket: no external assets, inline CSS and SVG.

Besides the Markdown content it draws the path node → on-prem gateway → VPC targets, each segment
with the RTT, path MTU and throughput the checks measured, coloured by status, and a small
latency histogram from the samples a latency check kept in its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netcheck.history import diff, format_value, verdict_line
from netcheck.model import Category, CheckResult, Report, Status, Verdict
from netcheck.render import RenderOptions, causes
from netcheck.render.finding import Finding
from netcheck.render.markdown import VERDICT_TEXT
from netcheck.render.safe import for_html as escape  # every report string in the page goes through it
from netcheck.render.table import sections, summary_counts
from netcheck.verdict import NO_EVIDENCE, no_evidence, worst

COLORS = {Status.PASS: "#2e7d32", Status.WARN: "#e0a000", Status.FAIL: "#c62828",
          Status.ERROR: "#7b1fa2", Status.SKIP: "#78909c"}
VERDICT_COLORS = {"GO": "#2e7d32", "NO-GO": "#c62828", "INCONCLUSIVE": "#e0a000"}
NOT_MEASURED = "#b0bec5"
_SAMPLE_KEYS = ("samplesMs", "rttSamplesMs", "samples")
MAX_TARGETS = 6

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:980px;color:#212121;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.verdict{display:inline-block;color:#fff;padding:.3em .8em;border-radius:4px;font-weight:700;font-size:1.3em}
table{border-collapse:collapse;margin:.6em 0;width:100%}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;white-space:nowrap}
.st{font-weight:700;color:#fff;padding:.05em .4em;border-radius:3px;font-size:.85em}
.finding{border-left:5px solid #ccc;padding:.4em .8em;margin:.8em 0;background:#fafafa}
.finding h3{margin:.1em 0 .3em 0;font-size:1.05em}code{background:#eee;padding:0 .2em;border-radius:2px}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:.4em 0}dt{font-weight:600}dd{margin:0}
.reg{color:#c62828;font-weight:700}.imp{color:#2e7d32}.muted{color:#757575}
svg text{font-family:system-ui,sans-serif}svg{max-width:100%;height:auto}
td,th,dd,p,li,h3{overflow-wrap:anywhere}code{overflow-wrap:anywhere;word-break:break-word}
table#checks{table-layout:fixed}#checks col.c-st{width:4.5em}#checks col.c-id{width:27%}#checks col.c-cat{width:7.5em}
#checks col.c-num{width:7.5em}td.num{white-space:normal}.summary-note{margin:.3em 0}
th{overflow-wrap:normal}
@page{size:A4;margin:12mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:8.5pt;line-height:1.25;color:#000}
 .verdict,.st{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 h1{font-size:15pt}h2{font-size:11pt;margin:.8em 0 .3em;break-after:avoid}h3{font-size:9pt}p{margin:.3em 0}
 .finding{padding:.15em .5em;margin:.35em 0;break-inside:avoid}.finding h3{margin:0 0 .15em;font-size:9pt}
 dl{margin:.15em 0;gap:0 .8em}tr,svg,dl{break-inside:avoid}thead{display:table-header-group}
 table{font-size:7.5pt;margin:.3em 0}th,td{padding:.1em .3em}.st{font-size:.8em}
 #checks col.c-st{width:4.6em}#checks col.c-id{width:25%}#checks col.c-cat{width:5.5em}#checks col.c-num{width:6.4em}
 svg#path{max-height:62mm}svg.latency{max-height:38mm}}
"""


def _worst(statuses: list[Status]) -> Status | None:
    return worst(statuses)


def _badge(status: Status) -> str:
    return f'<span class="st" style="background:{COLORS[status]}">{status.value}</span>'


# --- the path picture ---------------------------------------------------------------

@dataclass
class Target:
    """One VPC-side destination and what the checks measured on the way to it."""

    name: str
    aliases: list[str] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    rtt: str = ""
    mtu: str = ""
    throughput: list[str] = field(default_factory=list)
    segments: str = ""  # where the RTT appears: "LAN 0.2 · WAN 40.1 · AWS 0.3 ms"
    culprit: str = ""  # the segment a latency/jitter/loss finding was placed on

    @property
    def status(self) -> Status | None:
        return _worst(self.statuses)


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_address(r: CheckResult) -> dict[str, Any]:
    """The first dialled address of a reachability check (`evidence.addresses[0]`), if any."""
    addrs = r.outcome.evidence.get("addresses")
    if isinstance(addrs, list) and addrs and isinstance(addrs[0], dict):
        return addrs[0]
    return {}


def _on_path(r: CheckResult) -> bool:
    """Checks that describe the node → VPC path (route lookups, RTT, path MTU, throughput, reachability)."""
    cid = r.check.id
    return (cid.startswith(("routing.vpc.", "routing.control-plane", "mtu.path.", "latency.rtt.", "bandwidth."))
            or r.check.category is Category.REACHABILITY)


def _subject(r: CheckResult) -> str:
    """The target a check is about: its evidence address, else the id after `<area>.<kind>.`."""
    ev = r.outcome.evidence
    first = _first_address(r)
    if isinstance(first.get("ip"), str):
        return str(first["ip"])
    for key in ("ip", "address", "target"):
        if isinstance(ev.get(key), str) and ev[key]:
            return str(ev[key])
    parts = r.check.id.split(".", 2)
    return parts[2] if len(parts) == 3 else parts[-1]


SEGMENT_LABELS = {"lan": "LAN", "wan": "WAN", "aws": "AWS", "unplaced": "unplaced"}


def _segments(r: CheckResult) -> tuple[str, str]:
    """('RTT by segment: LAN 0.2 · WAN 40.1 · AWS 0.3 ms', culprit) from a latency check's evidence.path."""
    path = r.outcome.evidence.get("path")
    if not isinstance(path, dict) or not isinstance(path.get("attribution"), dict):
        return "", ""
    att = path["attribution"]
    rtt = att.get("rtt", {}).get("bySegment", {}) if isinstance(att.get("rtt"), dict) else {}
    text = " · ".join(f"{SEGMENT_LABELS.get(k, k)} {v:.3g}" for k, v in rtt.items()
                      if isinstance(v, int | float) and v >= 0.05)
    culprit = ""
    finding = path.get("finding")
    if r.status in (Status.WARN, Status.FAIL) and isinstance(finding, dict) and finding.get("segment"):
        main = str(finding["segment"])
        culprit = f"{finding.get('metric')} {'inside' if main == 'aws' else 'on'} {SEGMENT_LABELS.get(main, main)}"
    return (f"RTT by segment: {text} ms" if text else ""), culprit


def path_model(report: Report) -> tuple[str, str, str, Status | None, list[Target]]:
    """(node, its source address, gateway, gateway-segment status, targets) from checks and evidence."""
    gateway, source = "", ""
    routing: list[Status] = []
    for r in report.results:
        if not _on_path(r):
            continue
        ev = r.outcome.evidence
        if r.check.category is Category.ROUTING:
            routing.append(r.status)
            if not gateway and isinstance(ev.get("gateway"), str):
                gateway = str(ev["gateway"])
        src = ev.get("source") if r.check.category is Category.ROUTING else _first_address(r).get("source")
        if not source and isinstance(src, str):
            source = src
    targets: dict[str, Target] = {}
    for r in report.results:
        cat = r.check.category
        if cat is Category.ROUTING or not _on_path(r):
            continue
        name = _subject(r)
        t = targets.setdefault(name, Target(name))
        t.statuses.append(r.status)
        o = r.outcome
        if cat is Category.REACHABILITY:
            alias = r.check.id.split(".")[1]
            if alias != name and alias not in t.aliases:
                t.aliases.append(alias)
            rtt = _first_address(r).get("rttMs", o.evidence.get("rttMs"))
            if not t.rtt and o.status is Status.PASS and isinstance(rtt, int | float):
                t.rtt = f"connect {rtt:.4g} ms"
        elif cat is Category.LATENCY and o.measured is not None:
            t.rtt = "RTT " + format_value(o.measured, o.unit)
            t.segments, t.culprit = _segments(r)
        elif cat is Category.MTU and o.measured is not None:
            t.mtu = "MTU " + format_value(o.measured, o.unit)
        elif cat is Category.BANDWIDTH and o.measured is not None:
            direction = r.check.id.split(".")[1]
            t.throughput.append(f"{direction} {format_value(o.measured, o.unit)}")
    if not gateway:  # no route check ran: the per-hop series names the node's gateway too
        for r in report.results:
            path = r.outcome.evidence.get("path") if r.check.category is Category.LATENCY else None
            if isinstance(path, dict) and isinstance(path.get("gateway") or path.get("siteEdge"), str):
                gateway = str(path.get("gateway") or path.get("siteEdge"))
                break
    # Targets with path figures first (they are the picture's point), then plain reachability ones.
    ordered = sorted(targets.values(), key=lambda t: (not (t.rtt or t.mtu or t.throughput), list(targets).index(t.name)))
    return (report.node or "node"), source, gateway, _worst(routing), ordered


def path_svg(report: Report) -> str:
    node, source, gateway, gw_status, targets = path_model(report)
    shown = targets[:MAX_TARGETS]
    row = 78
    height = max(140, 40 + row * max(1, len(shown)))
    mid = height // 2
    parts = [f'<svg id="path" xmlns="http://www.w3.org/2000/svg" width="100%" height="{height}" '
             f'viewBox="0 0 940 {height}" role="img" aria-label="Network path from the node to the VPC">',
             '<title>Path: node → on-prem gateway → VPC targets</title>']

    def box(x: int, y: int, w: int, label: str, sub: str, color: str) -> None:
        parts.append(f'<rect x="{x}" y="{y - 24}" width="{w}" height="48" rx="6" fill="#fff" stroke="{color}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{x + w // 2}" y="{y - 4}" text-anchor="middle" font-size="13" font-weight="600">'
                     f'{escape(label)}</text>')
        parts.append(f'<text x="{x + w // 2}" y="{y + 13}" text-anchor="middle" font-size="11" fill="#555">'
                     f'{escape(sub)}</text>')

    gw_color = COLORS[gw_status] if gw_status else NOT_MEASURED
    parts.append(f'<line x1="190" y1="{mid}" x2="280" y2="{mid}" stroke="{gw_color}" stroke-width="4"/>')
    box(10, mid, 180, _short(node, 24), "hybrid node" + (f" · {source}" if source else ""), "#455a64")
    box(280, mid, 170, _short(gateway, 22) if gateway else "gateway", "on-prem gateway" if gateway
        else "on-prem, not reported", gw_color)
    # The 90-unit gap between the two boxes holds the route's word: above the line, or "route" above and
    # "not checked" below it; drawn after the boxes so that neither covers it.
    above, below = (gw_status.value, "") if gw_status else ("route", "not checked")
    for y, word in ((mid - 8, above), (mid + 17, below)):
        if word:
            parts.append(f'<text class="gw" x="235" y="{y}" text-anchor="middle" font-size="10" fill="{gw_color}">'
                         f'{escape(word)}</text>')
    for i, t in enumerate(shown):
        y = 20 + row // 2 + i * row if len(shown) > 1 else mid
        status = t.status
        color = COLORS[status] if status else NOT_MEASURED
        dash = ' stroke-dasharray="6 4"' if status in (Status.SKIP, Status.ERROR, None) else ""
        parts.append(f'<path d="M450 {mid} C 520 {mid}, 560 {y}, 690 {y}" fill="none" stroke="{color}" '
                     f'stroke-width="4"{dash}/>')
        figures = " · ".join(x for x in (t.rtt, t.mtu, *t.throughput) if x) or "no figure measured"
        parts.append(f'<text x="690" y="{y - 28}" text-anchor="end" font-size="11" fill="#333">{escape(figures)}</text>')
        if t.segments or t.culprit:
            seg = escape(t.segments) + (f' · <tspan font-weight="700" fill="{color}">{escape(t.culprit)}</tspan>'
                                        if t.culprit else "")
            parts.append(f'<text class="segments" x="690" y="{y + 38}" text-anchor="end" font-size="10" '
                         f'fill="#555">{seg}</text>')
        aliases = ", ".join(t.aliases[:2]) + (f" +{len(t.aliases) - 2}" if len(t.aliases) > 2 else "")
        label = _short(t.name + (f" ({aliases})" if aliases else ""), 28)
        box(690, y, 240, label, f"VPC target · {status.value if status else 'not measured'}", color)
    if len(targets) > len(shown):
        parts.append(f'<text x="930" y="{height - 4}" text-anchor="end" font-size="11" fill="#555">'
                     f'+{len(targets) - len(shown)} more targets in the table below</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# --- latency distribution -------------------------------------------------------------

def _samples(r: CheckResult) -> list[float]:
    """RTT samples from the evidence; lost probes (None) are left out."""
    for key in _SAMPLE_KEYS:
        v = r.outcome.evidence.get(key)
        if isinstance(v, list):
            nums = [float(x) for x in v if isinstance(x, int | float) and not isinstance(x, bool)]
            if nums:
                return nums
    return []


def latency_svg(r: CheckResult, bins: int = 12) -> str:
    """A histogram of RTT samples with the threshold marked; empty when there are no samples."""
    data = _samples(r)
    if not data:
        return ""
    threshold = r.outcome.threshold if isinstance(r.outcome.threshold, int | float) else None
    lo, hi = min(data), max(data)
    if threshold is not None and threshold <= hi * 1.5:
        hi = max(hi, float(threshold))
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for x in data:
        counts[min(bins - 1, int((x - lo) / width))] += 1
    w, h, left, bottom = 420, 150, 40, 30
    bar = (w - left - 10) / bins
    top = max(counts)
    color = COLORS[r.status]
    parts = [f'<svg class="latency" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
             f'role="img" aria-label="RTT distribution for {escape(r.check.id)}">',
             f'<title>RTT distribution, {len(data)} samples</title>',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="#999"/>']
    for i, c in enumerate(counts):
        bh = (h - bottom - 20) * c / top
        parts.append(f'<rect x="{left + i * bar + 1:.1f}" y="{h - bottom - bh:.1f}" width="{bar - 2:.1f}" '
                     f'height="{bh:.1f}" fill="{color}"><title>{lo + i * width:.1f}–{lo + (i + 1) * width:.1f} ms: '
                     f'{c}</title></rect>')
    parts.append(f'<text x="{left}" y="{h - 12}" font-size="10">{lo:.1f} ms</text>')
    parts.append(f'<text x="{w - 10}" y="{h - 12}" font-size="10" text-anchor="end">{hi:.1f} ms</text>')
    parts.append(f'<text x="{left}" y="12" font-size="11">{escape(r.check.id)}: {len(data)} samples</text>')
    if threshold is not None and lo <= threshold <= hi:
        x = left + (threshold - lo) / width * bar
        parts.append(f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="{h - bottom}" stroke="#c62828" '
                     'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x - 3:.1f}" y="26" font-size="10" text-anchor="end" fill="#c62828">'
                     f'limit {threshold:g} ms</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def hops_table(report: Report) -> list[str]:
    """Per-hop RTT and loss (mtr-style) for each latency target that has a per-hop series."""
    out: list[str] = []
    for r in report.results:
        path = r.outcome.evidence.get("path") if r.check.category is Category.LATENCY else None
        if not isinstance(path, dict) or not isinstance(path.get("hops"), list):
            continue
        edge = path.get("siteEdge")
        out.append(f"<h3><code>{escape(r.check.id)}</code> — per-hop by {escape(str(path.get('method')))}, "
                   f"{escape(str(path.get('rounds')))} rounds</h3>")
        out.append('<table class="hops"><tr><th>hop</th><th>address</th><th>segment</th><th>loss</th>'
                   "<th>median</th><th>jitter</th></tr>")
        for h in path["hops"]:
            if not isinstance(h, dict):
                continue
            addr = str(h.get("addr") or "no answer") + (" (site edge)" if h.get("addr") and h.get("addr") == edge else "")
            seg = SEGMENT_LABELS.get(str(h.get("segment")), "-") if h.get("segment") else "-"
            out.append(f'<tr><td class="num">{escape(str(h.get("ttl")))}</td><td>{escape(addr)}</td>'
                       f"<td>{escape(seg)}</td><td class=\"num\">{escape(format_value(h.get('lossPct'), '%'))}</td>"
                       f"<td class=\"num\">{escape(format_value(h.get('medianMs'), 'ms'))}</td>"
                       f"<td class=\"num\">{escape(format_value(h.get('jitterMs'), 'ms'))}</td></tr>")
        out.append("</table>")
        if path.get("rateLimited"):
            out.append('<p class="muted">Unanswered probes at ' + escape(", ".join(map(str, path["rateLimited"])))
                       + " do not persist to the target: those routers rate-limit ICMP; not the culprit.</p>")
    return (['<h2>Per-hop (whose side is it?)</h2>', '<div id="hops">', *out, "</div>"]) if out else []


# --- the page -------------------------------------------------------------------------

def _finding(r: CheckResult) -> str:
    f = Finding.of(r)
    sev = ' <span class="muted">(advisory)</span>' if f.advisory else ""
    rows = [f'<dt>{label}</dt><dd><a href="{escape(text)}">{escape(text)}</a></dd>' if label == "Docs"
            else f"<dt>{label}</dt><dd>{escape(text)}</dd>" for label, text in f.details()]
    return (f'<div class="finding" id="finding-{escape(f.id)}" style="border-left-color:{COLORS[f.status]}">'
            f"<h3>{_badge(f.status)} <code>{escape(f.id)}</code>{sev} — {escape(f.title)}</h3>"
            f"<p>{escape(f.message)}</p><dl>{''.join(rows)}</dl></div>")


def _changes(report: Report, options: RenderOptions) -> list[str]:
    if options.previous is None:
        return []
    items = diff(options.previous, report)
    lis = [f'<li class="{"reg" if c.regression else "imp"}">{escape(c.describe())}</li>' for c in items]
    return ['<h2>Changes since the previous run</h2>', f"<p>{escape(verdict_line(options.previous, report))}</p>",
            f'<ul id="changes">{"".join(lis)}</ul>' if lis
            else "<p>No check changed status and no figure crossed its threshold.</p>"]


def render(report: Report, options: RenderOptions) -> str:
    s = report.summary()
    v = report.verdict.value
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>netcheck {escape(v)} — {escape(report.profile_name or '-')}</title>",
           f"<style>{CSS}</style></head><body>",
           f'<h1>netcheck report <span class="verdict" id="verdict" style="background:{VERDICT_COLORS[v]}">'
           f"{escape(v)}</span></h1>",
           f"<p><strong>{escape(VERDICT_TEXT[report.verdict])}</strong>"
           + (" The run was interrupted." if report.interrupted else "")
           + (f" {NO_EVIDENCE}" if report.verdict is Verdict.INCONCLUSIVE and no_evidence(report.results) else "")
           + "</p>",
           *([f'<p id="phase">Phase: <strong>{escape(report.phase)}</strong>'
              + (f" {escape(report.phase_line().partition(' ')[2])}" if report.phase_evidence else "") + "</p>"]
             if report.phase else []),
           '<table id="summary"><tr><th>pass</th><th>warn</th><th>fail</th><th>skip</th><th>error</th><th>duration</th>'
           f'</tr><tr><td class="num">{s["pass"]}</td><td class="num">{s["warn"]}</td><td class="num">{s["fail"]}</td>'
           f'<td class="num">{s["skip"]}</td><td class="num">{s["error"]}</td><td class="num">{report.duration:.1f} s</td>'
           "</tr></table>",
           f'<p class="summary-note" id="summary-note">{escape(summary_counts(report))}. '
           "Advisory findings never change the verdict.</p>"]
    out += causes.html_lines(report)
    out += _changes(report, options)
    out += ["<h2>Path</h2>", path_svg(report)]
    out += hops_table(report)
    charts = [c for c in (latency_svg(r) for r in report.results if r.check.category is Category.LATENCY) if c]
    if charts:
        out += ["<h2>Latency distribution</h2>", '<div id="latency">', *charts[:4], "</div>"]
    groups = [g for g in sections(report) if g.key != "passed"]  # the reading order: what blocks GO first
    fold = causes.folded(report)
    for g in groups:
        title = "Blocking GO" if g.key == "blocking" else "Other findings"
        note = (("These must change before nodes join." if report.verdict is Verdict.NO_GO
                 else "These keep the verdict open.") if g.key == "blocking" else "These do not change the verdict.")
        out += [f'<h2 id="{g.key}">{title} ({len(g.results)})</h2>', f'<p class="muted">{note}</p>',
                *(_finding(r) for r in g.results if r.check.id not in fold)]
    out += causes.folded_lines(report, [r for g in groups for r in g.results], "html")
    if not groups:
        out += ["<h2>Findings</h2>", "<p>Every check passed.</p>"]
    out += ["<h2>All checks</h2>", '<table id="checks"><colgroup><col class="c-st"><col class="c-id">'
            '<col class="c-cat"><col class="c-num"><col class="c-num"><col class="c-msg"></colgroup>'
            "<thead><tr><th>status</th><th>check</th><th>category</th>"
            "<th>measured</th><th>threshold</th><th>message</th></tr></thead>"]
    for cat in Category:
        for f in (Finding.of(r) for r in report.results if r.check.category is cat):
            sev = ' <span class="muted">(advisory)</span>' if f.advisory else ""
            out.append(f"<tr><td>{_badge(f.status)}</td><td><code title=\"{escape(f.title)}\">"
                       f"{escape(f.id)}</code>{sev}</td><td>{cat.value}</td>"
                       f'<td class="num">{escape(f.measured)}</td>'
                       f'<td class="num">{escape(f.threshold)}</td><td>{escape(f.message)}</td></tr>')
    out += ["</table>", "<h2>Environment</h2>", '<dl id="environment">',
            f"<dt>Site profile</dt><dd>{escape(report.profile_name or '-')}</dd>",
            f"<dt>Node</dt><dd>{escape(report.node or '-')}</dd>",
            *([f"<dt>Phase</dt><dd>{escape(report.phase_line())}</dd>"] if report.phase else []),
            f"<dt>Started</dt><dd>{escape(report.started_at)}</dd>",
            f"<dt>Duration</dt><dd>{report.duration:.1f} s</dd>",
            f"<dt>netcheck version</dt><dd>{escape(report.version or '-')}</dd>",
            f"<dt>Strict mode</dt><dd>{'yes' if report.strict else 'no'}</dd>", "</dl>", "</body></html>"]
    return "\n".join(out) + "\n"
