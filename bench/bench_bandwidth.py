"""netcheck's iperf3 client beside `iperf3 -c` on the same path, in the same run.

Paths: namespace paths (node → router → vpc, testbed/lab.py) shaped with TBF to
50 Mbit/s and 1 Gbit/s on the router's egress both ways, and unshaped loopback. Server:
a stock `iperf3 -s -1` on a random free port for every single test (started and ended
by PID). Runs are interleaved (iperf3, netcheck, netcheck, iperf3, ...) so both see the
same background load; the table gives the median of each and the ratio of medians
with the range of per-round ratios. `--engines` also compares the data planes
(one thread per stream vs one asyncio loop; netcheck uses asyncio) on loopback.

    sudo python bench/bench_bandwidth.py [--rounds 3] [--seconds 5] [--streams 4] [--engines]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netcheck.net import iperf  # noqa: E402

ENGINES: dict[str, Callable[[Sequence[socket.socket], bool], iperf.Pump]] = {
    "threads": lambda socks, sending: iperf.Pump(socks, sending),
    "asyncio": lambda socks, sending: iperf.AsyncioPump(socks, sending),  # asyncio senders, threaded receivers
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wrap(ns: str | None, cmd: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd] if ns else cmd


class Path_:
    """Where the client runs (namespace or not) and where the iperf3 server listens."""

    def __init__(self, name: str, client_ns: str | None, server_ns: str | None, server_ip: str) -> None:
        self.name, self.client_ns, self.server_ns, self.server_ip = name, client_ns, server_ns, server_ip

    def server(self) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port() if self.server_ns is None else 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        proc = subprocess.Popen(wrap(self.server_ns, ["iperf3", "-s", "-1", "-B", self.server_ip, "-p", str(port)]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            out = subprocess.run(wrap(self.server_ns, ["ss", "-ltnH"]), capture_output=True, text=True).stdout
            if f"{self.server_ip}:{port} " in out:
                break
            time.sleep(0.05)
        return proc, port

    def run(self, tool: str, seconds: float, streams: int, reverse: bool, engine: str = "threads") -> float:
        """Receiver-side Mbit/s of one test by `tool` ("iperf3" or "netcheck")."""
        proc, port = self.server()
        try:
            if tool == "iperf3":
                cmd = ["iperf3", "-c", self.server_ip, "-p", str(port), "-t", str(seconds), "-P", str(streams), "-J"]
                out = subprocess.run(wrap(self.client_ns, cmd + (["-R"] if reverse else [])),
                                     capture_output=True, text=True, timeout=seconds + 30)
                return float(json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6
            cmd = [sys.executable, str(Path(__file__).resolve()), "--client", self.server_ip, str(port), str(seconds),
                   str(streams), "1" if reverse else "0", engine]
            out = subprocess.run(wrap(self.client_ns, cmd), capture_output=True, text=True, timeout=seconds + 30)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-400:])
            return float(json.loads(out.stdout)["mbps"])
        finally:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=5)


def client_main(argv: list[str]) -> None:
    """Child process: one netcheck client test, JSON on stdout."""
    host, port, seconds, streams, reverse, engine = argv
    r = iperf.run_client(host, int(port), seconds=float(seconds), streams=int(streams), reverse=reverse == "1",
                         pump_factory=ENGINES[engine], busy_retries=5)
    print(json.dumps(r.to_evidence()))


def compare(path: Path_, label: str, rounds: int, seconds: float, streams: int, reverse: bool,
            a: tuple[str, str] = ("iperf3", "threads"), b: tuple[str, str] = ("netcheck", "threads")) -> dict[str, object]:
    """Interleaved rounds of a and b; medians, ratio of medians, per-round ratio range."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(rounds):
        order = [(a, xs), (b, ys)] if i % 2 == 0 else [(b, ys), (a, xs)]
        for (tool, engine), sink in order:
            sink.append(path.run(tool, seconds, streams, reverse, engine))
    ratios = [y / x for x, y in zip(xs, ys, strict=True) if x > 0]
    mx, my = statistics.median(xs), statistics.median(ys)
    row = {"path": label, "direction": "download" if reverse else "upload", "a": mx, "b": my,
           "ratio": my / mx if mx else float("nan"), "rmin": min(ratios), "rmax": max(ratios),
           "a_runs": xs, "b_runs": ys}
    print(f"  {label:<22} {row['direction']:<9} {mx:>10.1f} {my:>10.1f} {row['ratio']:>7.3f}  "
          f"[{row['rmin']:.3f}–{row['rmax']:.3f}]", flush=True)
    return row


def shaped(rate: str, burst: str, latency: str, rounds: int, seconds: float, streams: int) -> list[dict[str, object]]:
    from testbed.lab import Lab

    rows = []
    with Lab(prefix="ncbw") as lab:
        node, router, vpc = lab.hybrid()
        for ifname in router.addrs:
            lab.run(router, ["tc", "qdisc", "add", "dev", ifname, "root", "tbf", "rate", rate, "burst", burst,
                             "latency", latency])
        p = Path_(f"tbf {rate}", node.name, vpc.name, vpc.ip)
        for reverse in (False, True):
            rows.append(compare(p, f"TBF {rate}", rounds, seconds, streams, reverse))
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--engines", action="store_true", help="also compare threads vs asyncio data planes")
    ap.add_argument("--only", choices=["tbf", "loopback"], default=None)
    args = ap.parse_args()
    rows: list[dict[str, object]] = []
    print(f"{args.rounds} interleaved rounds, {args.seconds:g} s, {args.streams} streams; Mbit/s at the receiver")
    print(f"  {'path':<22} {'direction':<9} {'iperf3':>10} {'netcheck':>10} {'ratio':>7}  [per-round ratio range]")
    if args.only in (None, "tbf"):
        if os.geteuid() != 0:
            print("  (TBF rows need root for network namespaces: skipped)")
        else:
            rows += shaped("50mbit", "64kb", "50ms", args.rounds, args.seconds, args.streams)
            rows += shaped("1gbit", "512kb", "20ms", args.rounds, args.seconds, args.streams)
    if args.only in (None, "loopback"):
        lo = Path_("loopback", None, None, "127.0.0.1")
        for reverse in (False, True):
            rows.append(compare(lo, "loopback (unshaped)", args.rounds, args.seconds, args.streams, reverse))
    if args.engines:
        lo = Path_("loopback", None, None, "127.0.0.1")
        print("\nData plane: netcheck threads (A) vs asyncio (B), loopback against iperf3 -s")
        print(f"  {'path':<22} {'direction':<9} {'threads':>10} {'asyncio':>10} {'B/A':>7}  [per-round range]")
        for n in (1, 4):
            for reverse in (False, True):
                compare(lo, f"loopback P={n}", args.rounds, args.seconds, n, reverse,
                        a=("netcheck", "threads"), b=("netcheck", "asyncio"))


if __name__ == "__main__":
    main()
