"""Port states: netcheck's TCP connect classification beside nmap's connect scan, same path, same run.

Builds node — router — vpc namespaces (testbed); on the VPC host 10.20.1.10 one port
is open, one closed, and the router drops, rejects with a reset, and rejects with ICMP
admin-prohibited one port each. Prints, per port, nmap's state and reason, netcheck's
outcome and reason (with the hop that answered), and the wall time of each tool. Needs root.

    python bench/bench_ports.py
"""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netcheck.net import Net
from testbed.delay import in_netns, serve_echo
from testbed.lab import Lab

TARGET = "10.20.1.10"
PORTS = {443: "open", 444: "closed (nothing listens)", 445: "router: drop",
         446: "router: reject with tcp reset", 447: "router: reject admin-prohibited"}
RULES = """table inet bench {
  chain forward {
    type filter hook forward priority 0;
    tcp dport 445 drop
    tcp dport 446 reject with tcp reset
    tcp dport 447 reject with icmp type admin-prohibited
  }
}
"""
# What nmap's state should be for each netcheck outcome (nmap folds ICMP rejects into "filtered").
AGREES = {"connected": {"open"}, "refused": {"closed"}, "timeout": {"filtered"},
          "unreachable": {"filtered"}, "no-route": {"filtered"}}


def nmap(lab: Lab, node_ns: object, ports: list[int]) -> tuple[dict[int, tuple[str, str]], float]:
    """{port: (state, reason)} from `nmap -sT` (the unprivileged connect scan netcheck also does)."""
    t0 = time.perf_counter()
    out = lab.run(node_ns, ["nmap", "-Pn", "-n", "-sT", "--reason", "--max-retries", "1", "-p",  # type: ignore[arg-type]
                            ",".join(map(str, ports)), "-oX", "-", TARGET], timeout=120).stdout
    wall = time.perf_counter() - t0
    states = {}
    for port in ET.fromstring(out).iter("port"):
        st = port.find("state")
        if st is not None:
            states[int(port.get("portid", 0))] = (st.get("state", "?"), st.get("reason", "?"))
    return states, wall


def main() -> None:
    with Lab("ncbp") as lab:
        node, router, vpc = lab.hybrid()
        serve_echo(lab, vpc, tcp_ports=(443,), udp_port=None)
        lab.nft(router, RULES)
        ports = sorted(PORTS)
        states, nmap_wall = nmap(lab, node, ports)
        rows = []
        t0 = time.perf_counter()
        with in_netns(node):
            net = Net()
            results = {p: net.dial(TARGET, p, timeout=3.5) for p in ports}
        netcheck_wall = time.perf_counter() - t0
        agree = 0
        for p in ports:
            r = results[p]
            state, reason = states.get(p, ("?", "?"))
            ok = state in AGREES.get(r.outcome, set())
            agree += ok
            hop = f" by {r.offender}" if r.offender else ""
            rows.append((str(p), PORTS[p], f"{state} ({reason})", f"{r.outcome} ({r.reason}{hop})",
                         f"{r.seconds * 1000:.1f}", "yes" if ok else "NO"))
    headers = ("port", "set-up", "nmap -sT", "netcheck", "netcheck ms", "agree")
    widths = [max(len(x[i]) for x in [headers, *rows]) for i in range(len(headers))]
    for line in [headers, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    print(f"\nstates agree on {agree} of {len(ports)} ports; wall time for all ports: nmap {nmap_wall:.2f} s, "
          f"netcheck {netcheck_wall:.2f} s (sequential dials), ratio {netcheck_wall / nmap_wall:.2f}")
    print("netcheck tells a firewall REJECT (ICMP admin-prohibited, naming the router) from a silent DROP;"
          " nmap reports both as 'filtered'.")


if __name__ == "__main__":
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        sys.exit("bench_ports.py needs root (it builds network namespaces)")
    main()
