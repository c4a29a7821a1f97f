"""Formats of `netcheck fleet`: table, json (schemas/fleet.schema.json), markdown, html (one page, no assets).

Each takes a finished Fleet (netcheck/fleet.py) and returns text; nothing here reads a file.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from netcheck.fleet import VERDICT_RANK, Fleet, Site

FORMATS = ("table", "json", "markdown", "html")
MAX_LISTED = 5  # blocking checks and regressions named per row in the text formats; json has them all


def age_text(seconds: float) -> str:
    """`45s`, `12m`, `3h05m`, `2d04h`: short enough for a table column."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _num(v: float | None, unit: str, digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:.0f} {unit}" if v >= 1000 or digits == 0 else f"{v:.{digits}f} {unit}"


def _figures(s: Site) -> list[str]:
    return [_num(s.rtt_ms, "ms"), _num(s.loss_pct, "%"), _num(s.bandwidth_mbps, "Mbit/s"),
            _num(s.pmtu_bytes, "B", 0)]


def _blocking_text(s: Site) -> str:
    parts = []
    for b in s.blocking[:MAX_LISTED]:
        text = b.id + (f" (root cause of {b.dependents})" if b.root_cause and b.dependents else "")
        text += f" [{b.status}]" if b.status != "FAIL" else ""
        parts.append(text + (f" on {b.nodes}/{s.nodes}" if s.nodes > 1 else ""))
    more = len(s.blocking) - MAX_LISTED
    return ", ".join(parts) + (f", and {more} more" if more > 0 else "") if parts else "-"


def _regressed_text(s: Site) -> str:
    ids = sorted({g.id for g in s.regressions})
    more = len(ids) - MAX_LISTED
    return ", ".join(ids[:MAX_LISTED]) + (f", and {more} more" if more > 0 else "") if ids else "-"


def _age(s: Site) -> str:
    text = age_text(s.age) + (" STALE" if s.stale else "")
    return text + (f" ({s.stale_nodes} stale nodes)" if not s.stale and s.stale_nodes else "")


HEAD = ["SITE", "VERDICT", "NODES", "AGE", "RTT", "LOSS", "BANDWIDTH", "PMTU", "BLOCKING", "REGRESSED"]


def _rows(fleet: Fleet) -> list[list[str]]:
    return [[s.site, s.verdict.value, str(s.nodes), _age(s), *_figures(s), _blocking_text(s), _regressed_text(s)]
            for s in fleet.sites]


def _footer(fleet: Fleet) -> str:
    counts = {v: sum(1 for s in fleet.sites if s.verdict is v) for v in VERDICT_RANK}
    stale = sum(1 for s in fleet.sites if s.stale)
    return (f"{len(fleet.sites)} sites: " + ", ".join(f"{n} {v.value}" for v, n in counts.items())
            + f"; {stale} stale (no report for {age_text(fleet.stale_after)}); {fleet.files_read} files read"
            + (f", {len(fleet.skipped)} skipped" if fleet.skipped else "") + f". FLEET: {fleet.verdict.value}")


def table(fleet: Fleet) -> str:
    rows = [HEAD, *_rows(fleet)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n" + _footer(fleet) + "\n"


def as_json(fleet: Fleet) -> dict[str, Any]:
    """The fleet as JSON (schemas/fleet.schema.json): one object per site, worst first."""
    return {
        "apiVersion": "netcheck/v1",
        "kind": "FleetSummary",
        "verdict": fleet.verdict.value,
        "generatedAt": fleet.generated_at.isoformat(timespec="seconds"),
        "staleAfterSeconds": fleet.stale_after,
        "filesRead": fleet.files_read,
        "skipped": list(fleet.skipped),
        "sites": [{
            "site": s.site,
            "verdict": s.verdict.value,
            "nodes": s.nodes,
            "ageSeconds": round(s.age, 1),
            "stale": s.stale,
            "staleNodes": s.stale_nodes,
            "blocking": [{"id": b.id, "status": b.status, "nodes": b.nodes, "rootCause": b.root_cause,
                          "dependents": b.dependents, "causedBy": b.caused_by or None} for b in s.blocking],
            "figures": {"rttMs": s.rtt_ms, "lossPct": s.loss_pct, "bandwidthMbps": s.bandwidth_mbps,
                        "pmtuBytes": s.pmtu_bytes},
            "regressions": [{"node": g.node, "id": g.id, "change": g.change, "before": g.before or None,
                             "after": g.after or None, "description": g.text} for g in s.regressions],
            "labels": dict(s.labels),
            "reports": [{"node": r.node, "verdict": r.verdict.value, "startedAt": r.started_at,
                         "ageSeconds": round(r.age, 1), "stale": r.stale, "path": str(r.path)} for r in s.reports],
        } for s in fleet.sites],
    }


def json_text(fleet: Fleet) -> str:
    return json.dumps(as_json(fleet), indent=2) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(fleet: Fleet) -> str:
    lines = ["# netcheck fleet", "", f"**{fleet.verdict.value}** over {len(fleet.sites)} sites, "
             f"{fleet.generated_at.isoformat(timespec='seconds')}.", "",
             "| " + " | ".join(h.title() for h in HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _rows(fleet)]
    lines += ["", _footer(fleet)]
    if fleet.skipped:
        lines += ["", "Skipped:", *[f"- {_md(m)}" for m in fleet.skipped]]
    return "\n".join(lines) + "\n"


def _href(path: Path) -> str:
    return path.as_uri() if path.is_absolute() else "/".join(html.escape(p, quote=True) for p in path.parts)


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}th{cursor:pointer;background:#f4f4f4;user-select:none}th:after{content:" \\2195";color:#999}
.v{font-weight:bold;color:#fff;padding:1px 6px;border-radius:3px}.GO{background:#2e7d32}
.NO-GO{background:#c62828}.INCONCLUSIVE{background:#e0a000}.stale{color:#c62828;font-weight:bold}
td.n{text-align:right;white-space:nowrap}small{color:#666}"""

# Sort by a column on click (numbers by data-k, the verdict by badness); a second click reverses.
JS = """document.querySelectorAll("th").forEach(function(th,i){th.addEventListener("click",function(){
var tb=document.querySelector("tbody"),rows=Array.prototype.slice.call(tb.rows),d=th.dataset.d==="1"?-1:1;
th.dataset.d=d===1?"1":"0";rows.sort(function(a,b){var x=a.cells[i].dataset.k||a.cells[i].textContent,
y=b.cells[i].dataset.k||b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);
if(!isNaN(nx)&&!isNaN(ny))return d*(nx-ny);return d*x.localeCompare(y);});
rows.forEach(function(r){tb.appendChild(r);});});});"""


def page(fleet: Fleet) -> str:
    """One self-contained HTML page: sites worst first, sortable by any column (verdict by badness)."""
    e = html.escape
    body = []
    for s, row in zip(fleet.sites, _rows(fleet), strict=True):
        links = " ".join(f'<a href="{_href(r.path)}" title="{e(r.started_at)}">{e(r.node)}</a>' for r in s.reports)
        keys = ["", str(-VERDICT_RANK[s.verdict]), str(s.nodes), f"{s.age:.0f}",
                *(f"{v:.6g}" if v is not None else "" for v in (s.rtt_ms, s.loss_pct, s.bandwidth_mbps,
                                                                s.pmtu_bytes)), "", ""]
        cells = [f"<b>{e(s.site)}</b><br><small>{links}</small>",
                 f'<span class="v {e(s.verdict.value)}">{e(s.verdict.value)}</span>', e(row[2]),
                 f'<span class="stale">{e(row[3])}</span>' if s.stale else e(row[3]), *map(e, row[4:8]),
                 e(row[8]), e(row[9])]
        tds = "".join(f'<td{" data-k=" + chr(34) + k + chr(34) if k else ""}'
                      f'{" class=" + chr(34) + "n" + chr(34) if 2 <= i <= 7 else ""}>{c}</td>'
                      for i, (c, k) in enumerate(zip(cells, keys, strict=True)))
        body.append(f"<tr>{tds}</tr>")
    skipped = "".join(f"<li>{e(m)}</li>" for m in fleet.skipped)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>netcheck fleet: {e(fleet.verdict.value)}</title><style>{CSS}</style></head><body>"
            f"<h1>netcheck fleet <span class=\"v {e(fleet.verdict.value)}\">{e(fleet.verdict.value)}</span></h1>"
            f"<p>{e(_footer(fleet))} Generated {e(fleet.generated_at.isoformat(timespec='seconds'))}. "
            "Click a column to sort; each node links to its own report.</p>"
            "<table><thead><tr>" + "".join(f"<th>{e(h.title())}</th>" for h in HEAD) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>"
            + (f"<h2>Skipped files</h2><ul>{skipped}</ul>" if skipped else "")
            + f"<script>{JS}</script></body></html>\n")


def render(fmt: str, fleet: Fleet) -> str:
    return {"table": table, "json": json_text, "markdown": markdown, "html": page}[fmt](fleet)
