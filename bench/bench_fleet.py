"""A fleet against one responder, on loopback: slot waits, verdicts and responder CPU per test.

N nodes (default 20) start `netcheck run --only 'bandwidth*'` at the same moment, each from
its own 127.0.1.N source (bench/fleet_node.py) and with its own --deadline, against
(a) one `netcheck serve` (auto capacity: 2 tests per CPU, NIC speed where known) and
(b) a stock `iperf3 -s` (one test at a time, plain busy). Per server: verdicts, bandwidth
statuses (SKIP "busy" = no slot before the deadline), the wait for a slot (p50/p95/max
over all tests, from the reports' waitedSeconds), and the server's CPU seconds per test
(from /proc/PID/stat over the whole run). `--cost` adds the per-test CPU cost at paced
rates that docs/capacity.md uses: stock `iperf3 -c -b RATE` against `netcheck serve`.

    python bench/bench_fleet.py [--nodes 20] [--seconds 2] [--deadline 90] [--max-tests 0] [--cost]

Everything runs on 127.0.0.0/8; every process is started and ended by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed import free_port  # noqa: E402

TOKEN = "bench-fleet-token"



def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def start_server(kind: str, port: int, max_tests: int, log: Path) -> subprocess.Popen[Any]:
    if kind == "netcheck":
        cmd = [sys.executable, "-m", "netcheck", "serve", "-l", "127.0.0.1", "-p", str(port), "--iperf-port", "0",
               "--token", TOKEN]
        if max_tests:
            cmd += ["--max-tests", str(max_tests)]
    else:
        cmd = ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"),
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    wait_port(port)
    return proc


def fleet(kind: str, nodes: int, seconds: float, deadline: float, max_tests: int, tmp: Path) -> dict[str, Any]:
    port = free_port()
    spec: dict[str, Any] = {"bandwidth": {"seconds": seconds, "streams": 1},
                            "thresholds": {"bandwidthMbps": 1}}
    if kind == "netcheck":
        spec["responder"] = f"127.0.0.1:{port}"
    else:
        spec["bandwidth"]["server"] = f"127.0.0.1:{port}"
    profile = tmp / f"{kind}.json"
    profile.write_text(json.dumps({"apiVersion": "netcheck/v1", "kind": "SiteProfile",
                                   "metadata": {"name": "fleet"}, "spec": spec}))
    log = tmp / f"{kind}-server.log"
    server = start_server(kind, port, max_tests, log)
    procs: list[subprocess.Popen[str]] = []
    try:
        cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        for i in range(nodes):
            procs.append(subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "fleet_node.py"), f"127.0.1.{i + 1}", "run", "-c", str(profile),
                 "--only", "bandwidth*", "--format", "json", "--token", TOKEN, "--deadline", str(deadline)],
                cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)}))
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=deadline + 30)
            outputs.append((p.returncode, out, err))
        wall = time.monotonic() - t0
        cpu = cpu_seconds(server.pid) - cpu0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        stop(server)
    verdicts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    waits: list[float] = []
    shared: list[int] = []
    mbps: list[float] = []
    busy_inconclusive = 0
    tests = 0
    for code, out, _err in outputs:
        try:
            doc = json.loads(out)
        except json.JSONDecodeError:
            verdicts[f"no report (exit {code})"] += 1
            continue
        verdicts[doc["verdict"]] += 1
        bw = [c for c in doc["checks"] if c["id"].startswith("bandwidth.")]
        if doc["verdict"] == "INCONCLUSIVE" and bw and all(
                c["status"] in ("SKIP", "ERROR") and "busy" in (c["evidence"].get("skipReason") or c["message"])
                for c in bw):
            busy_inconclusive += 1  # nothing but busy answers: the run had no bandwidth evidence
        for c in doc["checks"]:
            if not c["id"].startswith("bandwidth."):
                continue
            ev = c.get("evidence", {})
            statuses[c["status"] + (f" ({ev.get('skipReason') or ev.get('error')})" if c["status"] in ("SKIP", "ERROR")
                                    else "")] += 1
            if "mbps" in ev:
                tests += 1
                waits.append(float(ev.get("waitedSeconds", 0.0)))
                mbps.append(float(ev["mbps"]))
                if ev.get("responderConcurrentTests"):
                    shared.append(int(ev["responderConcurrentTests"]))
    served = tests
    server_tests = served
    if kind == "netcheck":
        events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        server_tests = sum(1 for e in events if e["event"] == "iperf-done")
        slots = next((e.get("max_tests") for e in events if e["event"] == "listening"), None)
        busy_answers = sum(1 for e in events if e["event"] == "iperf-busy")
    else:
        slots, busy_answers = 1, None
    return {"server": "netcheck serve" if kind == "netcheck" else "iperf3 -s", "nodes": nodes, "seconds": seconds,
            "deadline": deadline, "slots": slots, "wall": round(wall, 1), "verdicts": dict(verdicts),
            "bandwidth": dict(statuses), "inconclusive_from_busy": busy_inconclusive, "tests": server_tests,
            "busy_answers": busy_answers,
            "wait_p50": round(pct(waits, 0.5), 2), "wait_p95": round(pct(waits, 0.95), 2),
            "wait_max": round(max(waits, default=0.0), 2),
            "concurrent_max": max(shared, default=None), "concurrent_mean": round(statistics.mean(shared), 2)
            if shared else None, "mbps_median": round(statistics.median(mbps), 1) if mbps else None,
            "server_cpu_s": round(cpu, 2), "cpu_per_test_s": round(cpu / server_tests, 3) if server_tests else None}


def cost(tmp: Path, seconds: int = 5) -> list[dict[str, Any]]:
    """Responder CPU for one test at a paced rate (stock iperf3 -c -b RATE, forward: the responder receives)."""
    rows = []
    port = free_port()
    log = tmp / "cost-server.log"
    server = start_server("netcheck", port, 0, log)
    try:
        for rate in ("100M", "1G", "0"):
            for reverse in ((False, True) if rate == "0" else (False,)):
                cpu0 = cpu_seconds(server.pid)
                args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J", "--extra-data", TOKEN,
                        "-b", rate] + (["-R"] if reverse else [])
                out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30)
                cpu = cpu_seconds(server.pid) - cpu0
                try:
                    end = json.loads(out.stdout)["end"]
                    gbit = end["sum_received"]["bits_per_second"] / 1e9
                    gbytes = end["sum_received"]["bytes"] / 1e9
                except (KeyError, json.JSONDecodeError):
                    gbit = gbytes = 0.0
                rows.append({"rate": "unpaced" if rate == "0" else rate, "direction": "download" if reverse else "upload",
                             "seconds": seconds, "gbit_s": round(gbit, 3), "responder_cpu_s": round(cpu, 3),
                             "cpu_s_per_gbyte": round(cpu / gbytes, 3) if gbytes else None,
                             "cpu_share_of_core": round(cpu / seconds, 3)})
                time.sleep(0.5)
    finally:
        stop(server)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--deadline", type=float, default=90.0)
    ap.add_argument("--max-tests", type=int, default=0, help="netcheck serve --max-tests (0: automatic)")
    ap.add_argument("--servers", default="netcheck,iperf3")
    ap.add_argument("--cost", action="store_true", help="also measure responder CPU per test at paced rates")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if not 1 <= a.nodes <= 250:
        ap.error("--nodes must be 1..250")
    results: dict[str, Any] = {"fleet": [], "cost": []}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as d:
        tmp = Path(d)
        for kind in a.servers.split(","):
            results["fleet"].append(fleet(kind, a.nodes, a.seconds, a.deadline, a.max_tests, tmp))
        if a.cost:
            results["cost"] = cost(tmp)
    if a.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{a.nodes} nodes at once, `netcheck run --only 'bandwidth*'` (upload + download, {a.seconds:g} s each, "
          f"1 stream), --deadline {a.deadline:g}, loopback, {os.cpu_count()} CPUs")
    for r in results["fleet"]:
        print(f"\n{r['server']}: slots {r['slots']}, wall {r['wall']} s")
        print(f"  verdicts {r['verdicts']}; bandwidth checks {r['bandwidth']}")
        print(f"  INCONCLUSIVE because every test found the server busy: {r['inconclusive_from_busy']}")
        print(f"  tests served {r['tests']}, busy answers {r['busy_answers']}")
        print(f"  wait for a slot: p50 {r['wait_p50']} s, p95 {r['wait_p95']} s, max {r['wait_max']} s")
        print(f"  tests sharing the server: max {r['concurrent_max']}, mean {r['concurrent_mean']}; "
              f"median {r['mbps_median']} Mbit/s per test")
        print(f"  server CPU {r['server_cpu_s']} s in all, {r['cpu_per_test_s']} s per test")
    for c in results["cost"]:
        print(f"cost: {c['rate']:>8} {c['direction']:<8} {c['gbit_s']:7.3f} Gbit/s  responder CPU {c['responder_cpu_s']} s "
              f"per {c['seconds']} s test ({c['cpu_share_of_core']:.0%} of a core), {c['cpu_s_per_gbyte']} CPU-s/GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
