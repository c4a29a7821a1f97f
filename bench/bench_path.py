"""Path-quality accuracy: netcheck beside ping (RTT, loss) and tracepath (PMTU), same path, same run.

Builds node — router — vpc namespaces (testbed), adds a TUN delay line, random loss
or an MTU-limited hop on the router, and prints one table. Needs root.

    sudo python bench/bench_path.py [--samples 100] [--only series|full|segments] [--full-runs 10]

`full`: full `netcheck run`s on a 1400-byte hop with working PMTUD (ICMP datagram, raw ICMP,
+50 ms): runs without ERROR and every latency check beside iputils ping on the same path.
`segments`: delay or loss moved between the routers of Lab.wan_path(); the segment named.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netcheck.net import Net
from netcheck.protocol import RESPONDER_PORT
from testbed.delay import (
    REPO,
    add_delay,
    add_loss,
    block_frag_needed,
    flush_pmtu,
    in_netns,
    limit_mtu,
    serve_echo,
)
from testbed.lab import NS, Lab


def ping(lab: Lab, node: NS, ip: str, count: int, interval: float) -> tuple[float | None, float]:
    """(median RTT ms, loss %) by iputils ping."""
    out = lab.run(node, ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", "2", ip],
                  check=False, timeout=count * interval + 30).stdout
    rtts = [float(m) for m in re.findall(r"time=([\d.]+)", out)]
    loss = re.search(r"([\d.]+)% packet loss", out)
    return (statistics.median(rtts) if rtts else None), float(loss.group(1)) if loss else 100.0


def tracepath(lab: Lab, node: NS, ip: str) -> str:
    try:
        out = lab.run(node, ["tracepath", "-n", "-m", "4", ip], check=False, timeout=20).stdout
    except subprocess.TimeoutExpired:
        return "timeout"
    m = re.search(r"pmtu (\d+)", out.split("Resume:")[-1]) if "Resume:" in out else None
    if m:
        return m.group(1) + ("" if "reached" in out else " (not reached)")
    found = re.findall(r"pmtu (\d+)", out)
    return f"{found[-1]} (no resume)" if found else "none"


def loss_of(series: object) -> float:
    from probes.latency import stats

    return stats(series).loss_pct  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--loss-samples", type=int, default=400)
    parser.add_argument("--full-runs", type=int, default=10, help="full `netcheck run`s per 1400-byte scenario")
    parser.add_argument("--only", choices=["all", "series", "full", "segments"], default="all")
    args = parser.parse_args()
    if args.only in ("all", "full"):
        full_runs(args.full_runs)
    if args.only in ("all", "segments"):
        segments()
    if args.only not in ("all", "series"):
        return 0
    n, gap = args.samples, 0.02
    rows: list[tuple[str, ...]] = []
    header = ("scenario", "method", "ping median ms", "netcheck median ms", "diff ms", "ratio", "within max(1ms,3%)",
              "ping loss %", "netcheck loss %")
    for delay in (0, 50, 250):
        with Lab("bench") as lab:
            node, router, vpc = lab.hybrid()
            serve_echo(lab, vpc)
            if delay:
                add_delay(lab, router, delay)
            p_med, p_loss = ping(lab, node, vpc.ip, n, gap)
            with in_netns(node):
                series = {"icmp": Net().ping(vpc.ip, n, gap, timeout=60),
                          "tcp-443": Net().tcp_rtt(vpc.ip, 443, n, gap, timeout=120),
                          "udp-echo": Net().udp_rtt(vpc.ip, RESPONDER_PORT, n, gap, timeout=60)}
            for method, s in series.items():
                got = [r for r in s.rtts if r is not None]
                med = statistics.median(got) if got else float("nan")
                diff = med - (p_med or 0)
                ok = abs(diff) <= max(1.0, 0.03 * (p_med or 0))
                rows.append((f"delay {delay} ms", method, f"{p_med:.3f}", f"{med:.3f}", f"{diff:+.3f}",
                             f"{med / p_med:.3f}" if p_med else "-", "yes" if ok else "NO",
                             f"{p_loss:.1f}", f"{loss_of(s):.1f}"))
    with Lab("bench") as lab:
        node, router, vpc = lab.hybrid()
        serve_echo(lab, vpc)
        add_loss(lab, router, 5)
        m = args.loss_samples
        p_med, p_loss = ping(lab, node, vpc.ip, m, 0.01)
        with in_netns(node):
            s_icmp = Net().ping(vpc.ip, m, 0.01, timeout=60)
            s_udp = Net().udp_rtt(vpc.ip, RESPONDER_PORT, m, 0.01, timeout=60)
            s_tcp = Net().tcp_rtt(vpc.ip, 443, 100, 0.01, timeout=300)
            dials = [Net().dial(vpc.ip, 443, timeout=8).outcome for _ in range(20)]
        for method, s in (("icmp", s_icmp), ("udp-echo", s_udp), ("tcp-443 (SYN retrans)", s_tcp)):
            rows.append(("5 % loss each way", method, f"{p_med:.3f}", "-", "-", "-", "-", f"{p_loss:.1f}",
                         f"{loss_of(s):.1f} (diff {loss_of(s) - p_loss:+.1f})"))
        rows.append(("5 % loss each way", "tcp connect ×20", "-", "-", "-", "-", "-", "-",
                     f"{dials.count('connected')}/20 connected"))
    print_table(header, rows)

    mtu_rows: list[tuple[str, ...]] = []
    for name, hole in (("1500 path", None), ("1400 hop, ICMP allowed", False), ("1400 hop, frag-needed dropped", True)):
        with Lab("bench") as lab:
            node, router, vpc = lab.hybrid()
            serve_echo(lab, vpc)
            if hole is not None:
                limit_mtu(lab, router, 1400)
            if hole:
                block_frag_needed(lab, router)
            for method, port in (("icmp", None), ("udp-echo", RESPONDER_PORT)):
                flush_pmtu(lab, node)
                with in_netns(node):
                    t0 = time.monotonic()
                    r = Net().pmtu(vpc.ip, 30, responder_port=port)
                    took = time.monotonic() - t0
                flush_pmtu(lab, node)
                t0 = time.monotonic()
                tp = tracepath(lab, node, vpc.ip)
                tp_took = time.monotonic() - t0
                verdict = "black hole" if r.black_hole else ("ICMP from " + str(r.icmp_from) if r.icmp_mtu else "full")
                mtu_rows.append((name, method, tp, f"{tp_took:.2f}", str(r.path_mtu), f"{took:.2f}", str(r.probes),
                                 verdict))
    print()
    print_table(("scenario", "method", "tracepath pmtu", "tracepath s", "netcheck pmtu", "netcheck s", "probes",
                 "netcheck finding"), mtu_rows)
    return 0


FULL_SCENARIOS = (("1400 PMTUD, ICMP datagram", False, 0), ("1400 PMTUD, raw ICMP (root)", True, 0),
                  ("1400 PMTUD + 50 ms", False, 50))


def full_runs(count: int, scenarios: tuple[tuple[str, bool, int], ...] = ()) -> None:
    """Issue 10 defect 3: full runs (every probe at once) on a 1400-byte hop with working PMTUD.

    Each run: flush the node's PMTU cache, ping the ICMP target 40× (iputils), then a full
    `netcheck run`; its two latency checks are set beside that ping (same path, same minute).
    """
    import json
    import tempfile

    import yaml

    from testbed.services import API_IP, OTHER_IP, Site, tcp_listener

    rows: list[tuple[str, ...]] = []
    for name, raw, delay in scenarios or FULL_SCENARIOS:
        with Lab("bench") as lab, tempfile.TemporaryDirectory() as tmp:
            site = Site.build(lab, Path(tmp))
            site.healthy()
            site.responder()
            tcp_listener(lab, site.vpc, OTHER_IP, 443)
            if raw:
                lab.sysctl(site.node, "net.ipv4.ping_group_range", "1 0")
            limit_mtu(lab, site.router, 1400)
            if delay:
                add_delay(lab, site.router, delay)
            cluster = yaml.safe_load(site.profile().read_text())["spec"]["cluster"]
            profile = site.profile(cluster={**cluster, "controlPlaneIps": [API_IP, OTHER_IP]},
                                   responder=f"{API_IP}:{RESPONDER_PORT}", latency={"samples": 20},
                                   bandwidth={"server": f"{API_IP}:{RESPONDER_PORT}", "seconds": 2, "streams": 2})
            clean, walls, worst, worst_what = 0, [], -1e9, ""
            errors: dict[str, int] = {}
            diffs: list[str] = []
            for _ in range(count):
                flush_pmtu(lab, site.node)
                p_med, _ = ping(lab, site.node, OTHER_IP, 40, 0.02)
                out, wall = site.netcheck("run", "-c", str(profile), "--format", "json", timeout=120)
                walls.append(wall)
                doc = json.loads(out.stdout)
                bad = [c["id"] for c in doc["checks"] if c["status"] == "ERROR"]
                clean += not bad
                for cid in bad:
                    errors[cid] = errors.get(cid, 0) + 1
                for ip in (OTHER_IP, API_IP):
                    c = next(c for c in doc["checks"] if c["id"] == f"latency.rtt.{ip}")
                    med = c["evidence"].get("medianMs")
                    if med is None or p_med is None:
                        diffs.append("no figure")
                        continue
                    d = med - p_med
                    excess = abs(d) - max(1.0, 0.03 * p_med)
                    if excess > worst:
                        worst, worst_what = excess, f"{c['evidence']['method']} {p_med:.2f}/{med:.2f}"
                    if ip == OTHER_IP:
                        diffs.append(f"{p_med:.2f}/{med:.2f}")
            ok = "yes" if worst <= 0 else "NO"
            rows.append((name, f"{clean}/{count}", ", ".join(f"{k} ×{v}" for k, v in errors.items()) or "-",
                         " ".join(diffs[:4]) + (" …" if len(diffs) > 4 else ""), ok, worst_what,
                         f"{statistics.median(walls):.1f}"))
    print_table(("scenario", "runs without ERROR", "ERROR checks", "ping/netcheck ICMP median ms (first runs)",
                 "every latency within max(1ms,3%) of ping", "farthest from ping (method ping/netcheck)",
                 "median wall s"), rows)
    print()


def segments() -> None:
    """Build item 4: delay or loss on the site edge or on the WAN router; which segment the report names."""
    import json
    import tempfile

    profile = ("apiVersion: netcheck/v1\nkind: SiteProfile\nmetadata: {name: lab}\nspec:\n"
               "  cluster: {controlPlaneIps: [10.20.1.10]}\n  vpc: {cidrs: [10.20.0.0/16]}\n"
               "  remoteNetwork: {nodeCidrs: [192.168.50.0/24]}\n  thresholds: {rttMs: 20}\n")
    rows: list[tuple[str, ...]] = []
    for where, what, lan in (("edge", "delay", False), ("wan", "delay", False), ("edge", "loss", False),
                             ("wan", "loss", False), ("lan", "delay", True), ("none (rate-limiting routers)", "-", False)):
        with Lab("bench") as lab, tempfile.TemporaryDirectory() as tmp:
            p = lab.wan_path(lan_router=lan)
            serve_echo(lab, p.vpc)
            router = {"edge": p.edge, "wan": p.wan, "lan": p.lan}.get(where)
            if router is not None:
                for r in (p.lan, p.edge, p.wan):
                    if r is not None:
                        lab.sysctl(r, "net.ipv4.icmp_ratelimit", "0")
                if what == "delay":
                    add_delay(lab, router, 30, in_ifaces=tuple(router.addrs))
                else:
                    add_loss(lab, router, 20)
            os_tmp = Path(tmp) / "s.yaml"
            os_tmp.write_text(profile)
            t0 = time.monotonic()
            out = lab.run(p.node, [sys.executable, "-m", "netcheck", "run", "-c", str(os_tmp), "--format", "json",
                                   "--only", "latency"], check=False, cwd=str(REPO), timeout=90)
            wall = time.monotonic() - t0
            c = json.loads(out.stdout)["checks"][0]
            path = c["evidence"].get("path", {})
            att = path.get("attribution", {})
            by = {m: " ".join(f"{k}:{v:.1f}" for k, v in att.get(m, {}).get("bySegment", {}).items())
                  for m in ("rtt", "loss")}
            named = (path.get("finding") or {}).get("segment") or "-"
            rows.append((f"{what} on {where}", c["status"], named, by["rtt"], by["loss"],
                         ", ".join(path.get("rateLimited", [])) or "-", f"{path.get('seconds', 0):.2f}",
                         f"{wall:.1f}"))
    print_table(("impairment", "latency status", "segment named", "RTT ms by segment", "loss % by segment",
                 "rate-limited hops (not blamed)", "per-hop s", "run wall s"), rows)
    print()


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    raise SystemExit(main())
