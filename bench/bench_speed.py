"""How long a full run takes on the namespace bed, and whether its figures still match iperf3 and ping.

Rows (issue 27): a healthy site without bandwidth (`--skip 'bandwidth.*'`), a full run with no
delay, and full runs on delayed paths (TUN delay line, testbed/delay.py; TBF shaping on the
router where a rate is given). For each row, in the same lab and the same run:

  run        `netcheck run --format json` in the node namespace: durationSeconds (the report's
             own clock), the slowest check, metadata.criticalPath when the report has it, the
             bandwidth mode (bidirectional or sequential) and steady rates, the latency median
  iperf3     stock `iperf3 -c` (then `-R`), sequential, against `iperf3 -s` in the VPC,
             `-t SECONDS -O RAMP` with the run's ramp rounded up to whole seconds
  ping       iputils ping, 20 × 50 ms, median: the RTT reference

    sudo python bench/bench_speed.py [--rows healthy-nobw,healthy,250ms] [--repeat 2] [--json out.json]

The report's durationSeconds excludes interpreter start-up; "wall" includes it. Run with
PYTHONPATH at the tree to measure (the child runs `python -m netcheck` from this tree).

Bytecode: an installed netcheck (pip, the Containerfile) runs from compiled .pyc files. A
development shell often sets PYTHONDONTWRITEBYTECODE, and then every run compiles all of netcheck
and probes from source (0.2-0.4 s on this 2-core machine). So the runs get a bytecode cache of their
own (PYTHONPYCACHEPREFIX in a temporary directory, filled before the first run; the tree itself is
left clean); `--source` measures the compile-every-run way instead. Python then reads all bytecode
from that prefix, the standard library's and the installed packages' too, so it is filled with
them as well (before 2026-12-07 it was not, and the first run of each bench compiled pydantic,
PyYAML, cryptography and the rest from source: the first run of the first row took 1.90 s where the
others took 1.46-1.60 s, healthy site without bandwidth, 2026-12-07).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Row:
    name: str
    rtt_ms: int = 0
    rate: str | None = None  # TBF rate on the router, both ways
    mtu: int = 1500
    bandwidth: bool = True


ROWS = {r.name: r for r in (
    Row("healthy-nobw", bandwidth=False),
    Row("healthy"),
    Row("150ms-300mbit", 150, "300mbit"),
    Row("250ms-mtu1400", 250, None, 1400),
    Row("250ms-nobw", 250, None, 1400, bandwidth=False),
)}
TBF = {"50mbit": ("64kb", "50ms"), "300mbit": ("256kb", "50ms"), "1gbit": ("512kb", "50ms")}
SECONDS = 3.0  # spec.bandwidth.seconds, as in the table
STREAMS = 2


def _ping(lab: Any, node: Any, ip: str) -> float | None:
    out = lab.run(node, ["ping", "-n", "-c", "20", "-i", "0.05", "-W", "2", ip], check=False, timeout=30).stdout
    rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]
    return statistics.median(rtts) if rtts else None


def _iperf3(lab: Any, node: Any, vpc: Any, ip: str, omit: int, reverse: bool) -> float | None:
    """Stock iperf3, `-t SECONDS -O omit`, receiver-side Mbit/s (end.sum_received)."""
    port = 20000 + int.from_bytes(os.urandom(2), "big") % 30000
    srv = lab.popen(vpc, ["iperf3", "-s", "-1", "-B", ip, "-p", str(port)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    try:
        lab.wait_port(vpc, ip, port)
        cmd = ["iperf3", "-c", ip, "-p", str(port), "-t", str(math.ceil(SECONDS)), "-O", str(omit),
               "-P", str(STREAMS), "-J", *(["-R"] if reverse else [])]
        out = lab.run(node, cmd, check=False, timeout=SECONDS + omit + 40)
        try:
            return float(json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6
        except (ValueError, KeyError):
            return None
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            srv.terminate()
            srv.wait(timeout=5)


def _profile(site: Any, args: list[str], directory: Path, name: str) -> None:
    """One run under `-X importtime` and one under cProfile, kept in DIRECTORY for reading set-up time."""
    directory.mkdir(parents=True, exist_ok=True)
    node = site.node
    cmd = [sys.executable, "-X", "importtime", "-m", "netcheck", *args]
    out = site.lab.run(node, cmd, check=False, cwd=str(ROOT), timeout=240)
    (directory / f"{name}.importtime").write_text(out.stderr)
    prof = directory / f"{name}.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "netcheck", *args]
    site.lab.run(node, cmd, check=False, cwd=str(ROOT), timeout=240)


def one_row(row: Row, repeat: int, profile_dir: Path | None = None) -> dict[str, Any]:
    from netcheck.protocol import RESPONDER_PORT
    from testbed.delay import add_delay
    from testbed.lab import Lab
    from testbed.services import API_IP, Site, make_ca

    rec: dict[str, Any] = {"row": row.name, "runs": []}
    with Lab(prefix="ncsp") as lab, tempfile.TemporaryDirectory() as tmp:
        node, router, vpc = lab.hybrid(mtu=row.mtu)
        lab.resolv(node, ["10.20.1.12"])
        site = Site(lab, node, router, vpc, make_ca("Lab Cluster CA"), Path(tmp))
        site.healthy()
        site.responder()
        if row.rate:
            burst, latency = TBF[row.rate]
            for ifname in router.addrs:
                lab.run(router, ["tc", "qdisc", "add", "dev", ifname, "root", "tbf", "rate", row.rate, "burst",
                                 burst, "latency", latency])
        if row.rtt_ms:
            add_delay(lab, router, row.rtt_ms)
        profile = site.profile(responder=f"{API_IP}:{RESPONDER_PORT}",
                               bandwidth={"server": f"{API_IP}:{RESPONDER_PORT}", "seconds": SECONDS,
                                          "streams": STREAMS})
        args = ["run", "-c", str(profile), "--format", "json"] + ([] if row.bandwidth else ["--skip", "bandwidth.*"])
        omit = 0.0
        if profile_dir is not None:
            _profile(site, args, profile_dir, row.name)
        for _ in range(repeat):
            out, wall = site.netcheck(*args, timeout=240)
            try:
                doc = json.loads(out.stdout)
            except ValueError:
                rec["runs"].append({"error": out.stderr[-300:]})
                continue
            checks = {c["id"]: c for c in doc["checks"]}
            slowest = max(doc["checks"], key=lambda c: c["evidence"].get("durationSeconds", 0.0))
            run: dict[str, Any] = {"duration": doc["durationSeconds"], "wall": round(wall, 2), "verdict": doc["verdict"],
                                   "slowest": f"{slowest['id']} {slowest['evidence'].get('durationSeconds', 0):.2f} s",
                                   "criticalPath": doc["metadata"].get("criticalPath"),
                                   "statuses": {k: c["status"] for k, c in checks.items()
                                                if c["status"] not in ("PASS", "SKIP")}}
            for cid, c in checks.items():
                ev = c["evidence"]
                if cid.startswith("bandwidth.") and "steadyMbps" in ev:
                    d = ev["direction"]
                    run[f"{d}Mbps"] = ev["steadyMbps"]
                    run[f"{d}Mode"] = ev.get("mode", "sequential")
                    omit = max(omit, float(ev.get("rampSeconds") or 0.0))
                if cid.startswith("latency.rtt.") and ev.get("medianMs") is not None:
                    run.setdefault("latencyMs", {})[ev.get("ip", cid)] = ev["medianMs"]
            rec["runs"].append(run)
            print(f"  {row.name:<16} {json.dumps(run)}", flush=True)
        rec["pingMs"] = _ping(lab, node, API_IP)
        if row.bandwidth:
            rec["iperf3UploadMbps"] = _iperf3(lab, node, vpc, API_IP, math.ceil(omit), False)
            rec["iperf3DownloadMbps"] = _iperf3(lab, node, vpc, API_IP, math.ceil(omit), True)
            rec["iperf3Omit"] = math.ceil(omit)
    durations = [r["duration"] for r in rec["runs"] if "duration" in r]
    rec["medianDuration"] = statistics.median(durations) if durations else None
    return rec


_WARM = """
import compileall, sys, sysconfig
from pathlib import Path
import netcheck.app, netcheck.cli, netcheck.diagnosis, netcheck.verdict, probes
for name in probes.REGISTRY:
    probes.load(name)
import cryptography.x509, dns.message, dns.resolver, pyroute2
site = Path(sysconfig.get_paths()["purelib"])
tops = {Path(m.__file__).relative_to(site).parts[0] for m in list(sys.modules.values())
        if getattr(m, "__file__", None) and Path(m.__file__).is_relative_to(site)}
ok = all(compileall.compile_dir(site / t, quiet=2, workers=0) for t in sorted(tops) if (site / t).is_dir())
sys.exit(0 if ok else 1)
"""


def _bytecode_cache(directory: str) -> None:
    """Compile into a private bytecode cache the child processes use, as an install would have it.

    With PYTHONPYCACHEPREFIX set, Python reads every module's bytecode from the prefix, the standard
    library's and the installed packages' too, not from their own __pycache__: so besides this tree,
    the cache gets the standard-library modules a run imports (written as a child imports them) and
    the installed packages they belong to (compiled whole, for what the checks import lazily).
    Without that, the first run of each bench compiled pydantic, yaml, cryptography... from source.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = directory
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(ROOT / "netcheck"), str(ROOT / "probes")],
                   check=True, timeout=300)
    subprocess.run([sys.executable, "-c", _WARM], check=True, timeout=600, cwd=str(ROOT),
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="healthy-nobw,healthy,250ms-mtu1400")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--source", action="store_true",
                    help="no bytecode cache: every run compiles netcheck from source (as with PYTHONDONTWRITEBYTECODE)")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="first run each row once under -X importtime and once under cProfile, kept in DIR")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces)")
        return
    with tempfile.TemporaryDirectory(prefix="ncsp-pyc-") as pyc:
        if not args.source:
            _bytecode_cache(pyc)
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f} (1 min), tree {ROOT}, "
              f"{'compiled from source every run' if args.source else 'bytecode cached'}", flush=True)
        recs = []
        for name in args.rows.split(","):
            rec = one_row(ROWS[name.strip()], args.repeat, args.profile)
            recs.append(rec)
            print(f"{name}: median {rec['medianDuration']} s, ping {rec['pingMs']} ms, "
                  f"iperf3 up {rec.get('iperf3UploadMbps')} down {rec.get('iperf3DownloadMbps')} "
                  f"(-O {rec.get('iperf3Omit')}), load {os.getloadavg()[0]:.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(recs, indent=1))


if __name__ == "__main__":
    main()
