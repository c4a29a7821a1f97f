"""`netcheck fleet` over 10,000 JSON reports: wall time and peak memory of the real CLI.

One real report comes from `netcheck demo -f json` (every probe against loopback stand-ins; about 120 KiB
of JSON, as a full run on a node writes), or from --report FILE. It is copied into SITES x NODES history
directories with REPORTS runs each (default 40 x 25 x 10 = 10,000 files), every copy with its own site
label, node name and start time; every fifth site turns NO-GO in its newest run (a required check flipped
to FAIL), so regressions are computed too. Then `netcheck fleet DIR -f json` runs ROUNDS times as a
subprocess; the figures are its wall time (start-up included) and peak RSS.

    python bench/bench_fleet_view.py [--sites 40] [--nodes 25] [--reports 10] [--rounds 3] [--report FILE]

Nothing leaves the machine (the demo's stand-ins listen on 127.20.0.0/16).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
NOW = datetime.now(UTC).replace(microsecond=0)


def demo_report(path: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "netcheck", "demo", "-q", "-f", "json", "-o", str(path)],
                          capture_output=True, text=True, timeout=300, env=ENV, check=False)
    if proc.returncode not in (0, 3, 4):
        sys.exit(f"netcheck demo failed ({proc.returncode}): {proc.stderr}")
    doc: dict[str, object] = json.loads(path.read_text())
    return doc


def templates(doc: dict[str, object]) -> tuple[str, str]:
    """The report as text with placeholders for site, node and start; a GO and a NO-GO variant."""
    def text(d: dict[str, object]) -> str:
        d = json.loads(json.dumps(d))
        d["startedAt"] = "@@STARTED@@"
        meta = d["metadata"]
        assert isinstance(meta, dict)
        meta.update(node="@@NODE@@", labels={"site": "@@SITE@@", "link": "vpn"})
        return json.dumps(d, indent=2) + "\n"

    bad = json.loads(json.dumps(doc))
    check = next(c for c in bad["checks"] if c["severity"] == "required" and c["status"] == "PASS")
    check["status"] = "FAIL"
    bad["verdict"] = "NO-GO"
    return text(doc), text(bad)


def build(out: Path, doc: dict[str, object], sites: int, nodes: int, reports: int) -> int:
    good, bad = templates(doc)
    n = 0
    for s in range(sites):
        for k in range(nodes):
            d = out / f"site-{s:02d}" / f"node-{k:02d}"
            d.mkdir(parents=True)
            for r in range(reports):
                started = NOW - timedelta(minutes=15 * (reports - 1 - r), seconds=k)
                newest_bad = r == reports - 1 and s % 5 == 0
                text = (bad if newest_bad else good).replace("@@SITE@@", f"site-{s:02d}").replace(
                    "@@NODE@@", f"site-{s:02d}-node-{k:02d}").replace("@@STARTED@@", started.isoformat())
                (d / f"netcheck-{started.strftime('%Y%m%dT%H%M%SZ')}-000.json").write_text(text)
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=40)
    ap.add_argument("--nodes", type=int, default=25)
    ap.add_argument("--reports", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--report", type=Path, help="a JSON report to copy instead of a fresh `netcheck demo` one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="netcheck-fleet-view-") as tmp:
        base = Path(tmp)
        doc = json.loads(args.report.read_text()) if args.report else demo_report(base / "demo.json")
        t0 = time.monotonic()
        n = build(base / "reports", doc, args.sites, args.nodes, args.reports)
        size = sum(p.stat().st_size for p in (base / "reports").rglob("*.json"))
        print(f"{n} reports ({size / 2**20:.0f} MiB, {size / n / 1024:.0f} KiB each) written in "
              f"{time.monotonic() - t0:.1f} s")
        for i in range(args.rounds):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "netcheck", "fleet", str(base / "reports"), "-f", "json"],
                                  capture_output=True, text=True, timeout=600, env=ENV, check=False)
            wall = time.monotonic() - t
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = json.loads(proc.stdout)
            verdicts: dict[str, int] = {}
            for s in out["sites"]:
                verdicts[s["verdict"]] = verdicts.get(s["verdict"], 0) + 1
            regressed = sum(1 for s in out["sites"] if s["regressions"])
            print(f"round {i + 1}: exit {proc.returncode}, wall {wall:.2f} s, CPU "
                  f"{usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime:.2f} s, peak RSS "
                  f"{usage.ru_maxrss / 1024:.0f} MiB; {len(out['sites'])} sites {verdicts}, {regressed} with "
                  f"regressions, {out['filesRead']} files, {len(out['skipped'])} skipped")


if __name__ == "__main__":
    main()
