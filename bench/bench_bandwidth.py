"""netcheck's iperf3 client beside stock iperf3 on the same namespace path, in the same run.

The matrix (default): namespace paths node → router → vpc (testbed/lab.py) with
an RTT of 0/50/150/250 ms from the TUN delay line (testbed/delay.py, node → VPC
direction; no netem here) × a TBF rate of 50 Mbit/s, 300 Mbit/s, 1 Gbit/s or none on
the router's egress both ways, plus a 1 % loss row (nftables numgen, both directions).
For each row and direction, one after the other on the same path:

  netcheck   the client as a run uses it (RTT measured, ramp omitted): steady rate, and
             the mean over the whole test including the ramp
  same       iperf3 -c / -R for the same whole duration (ramp included, as iperf3 reports)
  omit       iperf3 -t SECONDS -O RAMP with netcheck's ramp rounded up to whole seconds
  steady     iperf3 -t 8 -O 2: the last 8 s of a 10 s run, the reference steady state
  nc→serve   (--responder) netcheck's client against `netcheck serve` instead of iperf3 -s:
             both ends as deployed (the responder sends the download)
  bidir      (--bidir) netcheck's client, both directions in one iperf3 --bidir test against
             iperf3 -s (as a run measures them), with the share of each direction's path the
             other direction's ACKs took; `bidir/10s` is its ratio to iperf3's sequential steady state;
             `i3 bidir` is stock iperf3 --bidir -t 8 -O 2 on the same path (can the bed carry both at once?)
  reported   (--bidir) what a run reports for the direction: the bidir figure where the rules in
             probes/bandwidth.py keep it (ACK share, queue, the CPU bound), else netcheck's sequential
             figure from the same round; `r/10s` is its ratio to iperf3's steady state (the issue-27
             target: within 10 % on every row), `kept` how many rounds the bidir figure stood

Ratios: netcheck steady / iperf3 steady (the goal: within 10 %), netcheck steady / iperf3
--omit, netcheck whole-test mean / iperf3 same duration. "ceiling" is the TCP payload a
TBF rate can carry (rate × 1448/1514): the objective upper bound of a shaped row. Server: a stock `iperf3 -s -1` on
a random port for every test (started and ended by PID). `--quick` runs a subset;
`--rows` picks rows by label. `--only loopback` and `--engines` keep the older loopback
comparisons (interleaved rounds, ratio of medians; thread-per-stream vs loop sender).

    sudo python bench/bench_bandwidth.py [--quick] [--seconds 3] [--streams 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netcheck.net import iperf  # noqa: E402
from netcheck.net import iperfpump as pumps  # noqa: E402
from testbed import free_port  # noqa: E402

ENGINES: dict[str, Callable[[Sequence[socket.socket], bool, int], pumps.Pump]] = {
    "threads": lambda socks, sending, block: pumps.Pump(socks, sending, block),  # a blocking sender per stream
    "loop": lambda socks, sending, block: pumps.LoopPump(socks, sending, block),  # iperf3's loop (the default)
}



def wrap(ns: str | None, cmd: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd] if ns else cmd


class Path_:
    """Where the client runs (namespace or not) and where the iperf3 server listens."""

    def __init__(self, name: str, client_ns: str | None, server_ns: str | None, server_ip: str) -> None:
        self.name, self.client_ns, self.server_ns, self.server_ip = name, client_ns, server_ns, server_ip

    def server(self, kind: str = "iperf3") -> tuple[subprocess.Popen[bytes], int]:
        """A stock `iperf3 -s -1`, or `netcheck serve` (kind "netcheck", ended by _end)."""
        port = free_port() if self.server_ns is None else 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        cmd = (["iperf3", "-s", "-1", "-B", self.server_ip, "-p", str(port)] if kind == "iperf3" else
               [sys.executable, "-m", "netcheck", "serve", "--no-auth", "-l", self.server_ip, "-p", str(port),
                "--iperf-port", "0"])
        proc = subprocess.Popen(wrap(self.server_ns, cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, cwd=ROOT)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            out = subprocess.run(wrap(self.server_ns, ["ss", "-ltnH"]), capture_output=True, text=True).stdout
            if f"{self.server_ip}:{port} " in out:
                break
            time.sleep(0.05)
        return proc, port

    def run(self, tool: str, seconds: float, streams: int, reverse: bool, engine: str = "threads") -> float:
        """Receiver-side Mbit/s of one test by `tool` ("iperf3" or "netcheck"), whole test."""
        if tool == "iperf3":
            return self.iperf3(seconds, 0, streams, reverse)
        return float(self.netcheck(seconds, streams, reverse, engine)["wholeMbps"])

    def iperf3(self, seconds: float, omit: int, streams: int, reverse: bool) -> float:
        """Stock iperf3 client: receiver-side Mbit/s after `omit` seconds (end.sum_received)."""
        proc, port = self.server()
        try:
            cmd = ["iperf3", "-c", self.server_ip, "-p", str(port), "-t", str(max(1, math.ceil(seconds))),
                   "-O", str(omit), "-P", str(streams), "-J"]
            out = subprocess.run(wrap(self.client_ns, cmd + (["-R"] if reverse else [])),
                                 capture_output=True, text=True, timeout=seconds + omit + 30)
            return float(json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6
        finally:
            self._end(proc)

    def iperf3_bidir(self, seconds: float, omit: int, streams: int) -> tuple[float, float]:
        """Stock iperf3 --bidir: (upload, download) receiver-side Mbit/s after `omit` seconds."""
        proc, port = self.server()
        try:
            cmd = ["iperf3", "-c", self.server_ip, "-p", str(port), "-t", str(max(1, math.ceil(seconds))),
                   "-O", str(omit), "-P", str(streams), "-J", "--bidir"]
            out = subprocess.run(wrap(self.client_ns, cmd), capture_output=True, text=True, timeout=seconds + omit + 30)
            end = json.loads(out.stdout)["end"]
            return (float(end["sum_received"]["bits_per_second"]) / 1e6,
                    float(end["sum_received_bidir_reverse"]["bits_per_second"]) / 1e6)
        finally:
            self._end(proc)

    def netcheck(self, seconds: float, streams: int, reverse: bool | None, engine: str = "loop",
                 server: str = "iperf3") -> dict[str, Any]:
        """netcheck's client in a child process (against iperf3 -s or netcheck serve): its evidence.

        `reverse` None: one bidirectional test, {"upload": evidence, "download": evidence}.
        """
        proc, port = self.server(server)
        try:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--client", self.server_ip, str(port), str(seconds),
                   str(streams), "b" if reverse is None else "1" if reverse else "0", engine]
            out = subprocess.run(wrap(self.client_ns, cmd), capture_output=True, text=True, timeout=seconds + 40)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-400:])
            doc: dict[str, Any] = json.loads(out.stdout)
            return doc
        finally:
            self._end(proc, wait=5 if server == "iperf3" else 0)

    @staticmethod
    def _end(proc: subprocess.Popen[bytes], wait: float = 5) -> None:
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=5)


def client_main(argv: list[str]) -> None:
    """Child process: one netcheck client test, JSON on stdout."""
    host, port, seconds, streams, reverse, engine = argv
    if reverse == "b":
        pair = iperf.run_bidir(host, int(port), seconds=float(seconds), streams=int(streams),
                               pump_factory=ENGINES[engine], busy_retries=5)
        print(json.dumps({r.direction: {**r.to_evidence(), "omit": r.omit, "wholeMbps": r.mbps} for r in pair}))
        return
    r = iperf.run_client(host, int(port), seconds=float(seconds), streams=int(streams), reverse=reverse == "1",
                         pump_factory=ENGINES[engine], busy_retries=5)
    print(json.dumps({**r.to_evidence(), "omit": r.omit, "wholeMbps": r.mbps}))


def compare(path: Path_, label: str, rounds: int, seconds: float, streams: int, reverse: bool,
            a: tuple[str, str] = ("iperf3", "threads"), b: tuple[str, str] = ("netcheck", "loop")) -> dict[str, object]:
    """Interleaved rounds of a and b; medians, ratio of medians, per-round ratio range."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(rounds):
        order = [(a, xs), (b, ys)] if i % 2 == 0 else [(b, ys), (a, xs)]
        for (tool, engine), sink in order:
            sink.append(path.run(tool, seconds, streams, reverse, engine))
    ratios = [y / x for x, y in zip(xs, ys, strict=True) if x > 0]
    mx, my = statistics.median(xs), statistics.median(ys)
    row: dict[str, object] = {"path": label, "direction": "download" if reverse else "upload", "a": mx, "b": my,
           "ratio": my / mx if mx else float("nan"), "rmin": min(ratios), "rmax": max(ratios),
           "a_runs": xs, "b_runs": ys}
    print(f"  {label:<22} {row['direction']:<9} {mx:>10.1f} {my:>10.1f} {row['ratio']:>7.3f}  "
          f"[{row['rmin']:.3f}–{row['rmax']:.3f}]", flush=True)
    return row


@dataclass(frozen=True)
class Row:
    rtt_ms: int
    rate: str | None  # TBF rate, None: unshaped
    loss_pct: int = 0

    @property
    def label(self) -> str:
        loss = f" {self.loss_pct}% loss" if self.loss_pct else ""
        return f"{self.rtt_ms}ms/{self.rate or 'unshaped'}{loss}"

    @property
    def rate_mbps(self) -> float | None:
        if self.rate is None:
            return None
        return float(self.rate.removesuffix("mbit")) if self.rate.endswith("mbit") else float(
            self.rate.removesuffix("gbit")) * 1000


TBF = {"50mbit": ("64kb", "50ms"), "300mbit": ("256kb", "50ms"), "1gbit": ("512kb", "50ms")}
MATRIX = [Row(rtt, rate) for rtt in (0, 50, 150, 250) for rate in ("50mbit", "300mbit", "1gbit", None)]
MATRIX.append(Row(50, "300mbit", 1))
QUICK = [Row(0, None), Row(50, "50mbit"), Row(150, "300mbit"), Row(250, None), Row(50, "300mbit", 1)]
# The delay line (Python, userspace, with TCP segmentation offload) carries every node → VPC
# packet: upload data, download ACKs. Measured on this 2-core machine with iperf3 -P 2,
# unshaped: 5.3 Gbit/s of upload at 1 ms, 2.8 Gbit/s at 20 ms (4 MiB tcp_wmem allows 3.3).
# Rows whose other limits are above this measure the bed.
DELAY_LINE_UPLOAD_MBPS = 2800.0


def build(lab: Any, row: Row) -> Path_:
    from testbed.delay import add_delay, add_loss

    node, router, vpc = lab.hybrid()
    if row.rate:
        burst, latency = TBF[row.rate]
        for ifname in router.addrs:
            lab.run(router, ["tc", "qdisc", "add", "dev", ifname, "root", "tbf", "rate", row.rate, "burst", burst,
                             "latency", latency])
    if row.rtt_ms:
        add_delay(lab, router, row.rtt_ms)
    if row.loss_pct:
        add_loss(lab, router, row.loss_pct)
    return Path_(row.label, node.name, vpc.name, vpc.ip)


def measure_row(row: Row, seconds: float, streams: int, rounds: int = 1, responder: bool = False,
                bidir: bool = False) -> list[dict[str, Any]]:
    """Both directions of one row: netcheck, iperf3 same duration, --omit, 10 s steady state.

    With several rounds the order of the four alternates (netcheck first, then last but
    one) so a change in the background load does not always hit the same tool; each
    column is then a median.
    """
    from testbed.lab import Lab

    out = []
    with Lab(prefix="ncbw") as lab:
        path = build(lab, row)
        both: list[dict[str, Any]] = [path.netcheck(seconds, streams, None) for _ in range(rounds)] if bidir else []
        i3_both = [path.iperf3_bidir(8, 2, streams) for _ in range(rounds)] if bidir else []
        for reverse in (False, True):
            cols: dict[str, list[float]] = {k: [] for k in (*STEPS, "serve", "whole", "ramp", "omit", "rtt", "retrans")}
            for i in range(rounds):
                steps = STEPS if i % 2 == 0 else ("ref", "withOmit", "steady", "same")
                for step in (*steps, "serve") if responder else steps:
                    run_step(path, step, cols, seconds, streams, reverse)
            med = {k: statistics.median(v) if v else math.nan for k, v in cols.items()}
            steady, ref, with_omit, same = med["steady"], med["ref"], med["withOmit"], med["same"]
            direction = "download" if reverse else "upload"
            rec = {"row": row.label, "rttMs": row.rtt_ms, "rate": row.rate or "unshaped", "lossPct": row.loss_pct,
                   "direction": "download" if reverse else "upload", "seconds": seconds, "streams": streams,
                   "rounds": rounds, "netcheckSteady": steady, "netcheckWhole": med["whole"],
                   "netcheckRamp": med["ramp"], "omit": med["omit"], "measuredRttMs": med["rtt"],
                   "retransmits": med["retrans"], "iperf3Same": same, "iperf3Omit": with_omit, "iperf3Steady": ref,
                   "vsSteady": steady / ref if ref else math.nan, "vsOmit": steady / with_omit if with_omit else math.nan,
                   "wholeVsSame": med["whole"] / same if same else math.nan,
                   "ceiling": round(row.rate_mbps * GOODPUT, 1) if row.rate_mbps else None,
                   "netcheckServe": med["serve"], "serveVsSteady": med["serve"] / ref if ref else math.nan,
                   "netcheckBidir": _median([b[direction]["steadyMbps"] for b in both]),
                   "bidirAckSharePct": _median([b[direction].get("reverseAckSharePct") for b in both]),
                   "iperf3BidirSteady": _median([b[1 if reverse else 0] for b in i3_both]),
                   "bidirQueueMs": _median([b[direction].get("queueDelayMs") for b in both]),
                   "netcheckReported": _median([reported(b[direction], reverse, cols["steady"][min(i, len(cols["steady"]) - 1)])
                                                for i, b in enumerate(both)] if cols["steady"] else []),
                   "bidirKept": sum(reported(b[direction], reverse, None) is not None for b in both),
                   "runs": cols, "note": bed_note(row, reverse, ref, streams)}
            out.append(rec)
            print(format_row(rec), flush=True)
    return out


STEPS = ("steady", "same", "withOmit", "ref")


def reported(bidir_ev: dict[str, Any], reverse: bool, sequential: float | None,
             threshold_mbps: float = 100.0) -> float | None:
    """What a run reports for this direction: the bidir figure where probes/bandwidth.py's rules keep it,
    else the direction measured alone (`sequential`; None when not given)."""
    from types import SimpleNamespace

    from probes import bandwidth

    share, queue, rtt = (bidir_ev.get(k) for k in ("reverseAckSharePct", "queueDelayMs", "rttMs"))
    result = SimpleNamespace(ack_share=None if share is None else share / 100,
                             queue_delay=None if queue is None else queue / 1000,
                             rtt=None if rtt is None else rtt / 1000, steady_mbps=bidir_ev["steadyMbps"],
                             intervals_mbps=bidir_ev.get("intervalsMbps", []))
    spec = bandwidth.Spec("bench", 0, reverse, 3, 2, threshold_mbps=threshold_mbps)
    return float(bidir_ev["steadyMbps"]) if bandwidth._bidir_doubt(spec, result) is None else sequential


def _median(values: Sequence[Any]) -> float:
    got = [float(v) for v in values if v is not None]
    return statistics.median(got) if got else math.nan


def run_step(path: Path_, step: str, cols: dict[str, list[float]], seconds: float, streams: int,
             reverse: bool) -> None:
    """One measurement into `cols`: netcheck ("steady", with its ramp figures) or an iperf3 variant."""
    omit = cols["omit"][-1] if cols["omit"] else 0.0
    if step == "serve":  # netcheck's client against netcheck serve: both ends of a real deployment
        cols[step].append(float(path.netcheck(seconds, streams, reverse, server="netcheck")["steadyMbps"]))
    elif step == "steady":
        ev = path.netcheck(seconds, streams, reverse)
        for k, key in (("steady", "steadyMbps"), ("whole", "wholeMbps"), ("ramp", "rampMbps"), ("omit", "omit"),
                       ("rtt", "rttMs"), ("retrans", "retransmits")):
            if ev.get(key) is not None:
                cols[k].append(float(ev[key]))
    elif step == "same":
        cols[step].append(path.iperf3(seconds + omit, 0, streams, reverse))
    elif step == "withOmit":
        cols[step].append(path.iperf3(seconds, math.ceil(omit), streams, reverse))
    else:
        cols[step].append(path.iperf3(8, 2, streams, reverse))


def wmem_max() -> int:
    """tcp_wmem max; a new namespace copies it from the initial one."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return 4 << 20


def bed_note(row: Row, reverse: bool, steady: float, streams: int) -> str:
    """Where the test bed rather than the tool bounds the row (said, not hidden)."""
    notes = []
    cap = row.rate_mbps
    if row.rtt_ms:
        ceiling = streams * wmem_max() * 8 / (row.rtt_ms / 1000) / 1e6  # the sender's buffers, all streams
        if not reverse and min(cap or math.inf, ceiling) > DELAY_LINE_UPLOAD_MBPS:
            notes.append("delay line bounds upload")
        if cap is None or ceiling < cap * 1.25:
            notes.append(f"tcp_wmem ceiling {ceiling:.0f}")
    if cap and steady < 0.85 * cap and not notes:
        notes.append("below TBF rate")
    return "; ".join(notes)


HEADER = (f"  {'row':<26} {'dir':<8} {'ramp s':>6} {'nc steady':>9} {'nc whole':>8} {'i3 same':>8} {'i3 -O':>8} "
          f"{'i3 10s':>8} {'ceiling':>7} {'nc/10s':>6} {'nc/-O':>6} {'whole/same':>10}")
# TCP payload a TBF rate carries: 1448 bytes of every 1514 on the wire (IPv4, TCP timestamps, Ethernet)
GOODPUT = 1448 / 1514


def format_row(r: dict[str, Any]) -> str:
    return (f"  {r['row']:<26} {r['direction']:<8} {r['omit']:>6.2f} {r['netcheckSteady']:>9.1f} "
            f"{r['netcheckWhole']:>8.1f} {r['iperf3Same']:>8.1f} {r['iperf3Omit']:>8.1f} {r['iperf3Steady']:>8.1f} "
            f"{r['ceiling'] or '-':>7} "
            f"{r['vsSteady']:>6.3f} {r['vsOmit']:>6.3f} {r['wholeVsSame']:>10.3f}"
            + (f" {r['netcheckServe']:>8.1f} {r['serveVsSteady']:>6.3f}" if not math.isnan(r["netcheckServe"]) else "")
            + (f" {r['netcheckBidir']:>8.1f} {r['netcheckBidir'] / r['iperf3Steady']:>6.3f} {r['bidirAckSharePct']:>5.1f}%"
               if not math.isnan(r["netcheckBidir"]) and r["iperf3Steady"] else "")
            + (f" q{r['bidirQueueMs']:>5.0f}ms" if not math.isnan(r.get("bidirQueueMs", math.nan)) else "")
            + (f" {r['iperf3BidirSteady']:>8.1f} {r['iperf3BidirSteady'] / r['iperf3Steady']:>6.3f}"
               if not math.isnan(r.get("iperf3BidirSteady", math.nan)) and r["iperf3Steady"] else "")
            + (f" {r['netcheckReported']:>8.1f} {r['netcheckReported'] / r['iperf3Steady']:>6.3f}"
               f" kept {r['bidirKept']}/{r['rounds']}"
               if not math.isnan(r.get("netcheckReported", math.nan)) and r["iperf3Steady"] else "")
            + f"  {r['note']}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3, help="netcheck's measured seconds (after its ramp)")
    ap.add_argument("--streams", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="a subset: " + ", ".join(r.label for r in QUICK).replace("%", "%%"))
    ap.add_argument("--rows", default="", help="comma-separated row labels to run, e.g. 150ms/300mbit,250ms/unshaped")
    ap.add_argument("--responder", action="store_true",
                    help="also run netcheck's client against netcheck serve (columns nc→serve, serve/10s)")
    ap.add_argument("--bidir", action="store_true",
                    help="also run both directions in one --bidir test (columns bidir, bidir/10s, ACK share)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    ap.add_argument("--only", choices=["matrix", "loopback"], default="matrix")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds per row, medians (matrix default 1; loopback/engines default 3)")
    ap.add_argument("--engines", action="store_true", help="also compare thread-per-stream vs loop senders (loopback)")
    args = ap.parse_args()
    if args.only == "matrix":
        if os.geteuid() != 0:
            print("  (namespace rows need root: skipped)")
            return
        rows = QUICK if args.quick else MATRIX
        if args.rows:
            wanted = {x.strip() for x in args.rows.split(",")}
            rows = [r for r in MATRIX if r.label in wanted]
        print(f"{len(rows)} rows × {args.rounds or 1} round(s), netcheck {args.seconds:g} s after its ramp, "
              f"{args.streams} streams; Mbit/s at the receiver; {time.strftime('%Y-%m-%d %H:%M')}")
        print(HEADER + (f" {'nc→serve':>8} {'s/10s':>6}" if args.responder else "")
              + (f" {'bidir':>8} {'b/10s':>6} {'acks':>6} {'i3 bidir':>8} {'ib/10s':>6} {'reported':>8} {'r/10s':>6}"
                 if args.bidir else "")
              + "  note", flush=True)
        t0 = time.monotonic()
        records: list[dict[str, Any]] = []
        for row in rows:
            try:
                records += measure_row(row, args.seconds, args.streams, args.rounds or 1, args.responder, args.bidir)
            except (RuntimeError, subprocess.SubprocessError, ValueError, KeyError) as exc:
                print(f"  {row.label:<26} failed: {type(exc).__name__}: {str(exc)[-200:]}", flush=True)
        both = [r for r in records if not math.isnan(r["vsSteady"])]
        within = sum(1 for r in both if abs(r["vsSteady"] - 1) <= 0.10)
        print(f"\nnetcheck steady within 10 % of iperf3's 10 s steady state: {within} of {len(both)} "
              f"(row, direction) pairs; {time.monotonic() - t0:.0f} s")
        rep = [r for r in records if not math.isnan(r.get("netcheckReported", math.nan)) and r["iperf3Steady"]]
        if rep:
            ok = sum(abs(r["netcheckReported"] / r["iperf3Steady"] - 1) <= 0.10 for r in rep)
            print(f"what a run reports (bidir where kept, else alone) within 10 %: {ok} of {len(rep)}")
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
        return
    args.rounds = args.rounds or 3
    print(f"{args.rounds} interleaved rounds, {args.seconds:g} s, {args.streams} streams; Mbit/s at the receiver")
    print(f"  {'path':<22} {'direction':<9} {'iperf3':>10} {'netcheck':>10} {'ratio':>7}  [per-round ratio range]")
    lo = Path_("loopback", None, None, "127.0.0.1")
    for reverse in (False, True):
        compare(lo, "loopback (unshaped)", args.rounds, args.seconds, args.streams, reverse)
    if args.engines:
        print("\nData plane: netcheck threads (A) vs loop (B), loopback against iperf3 -s")
        print(f"  {'path':<22} {'direction':<9} {'threads':>10} {'loop':>10} {'B/A':>7}  [per-round range]")
        for n in (1, 4):
            for reverse in (False, True):
                compare(lo, f"loopback P={n}", args.rounds, args.seconds, n, reverse,
                        a=("netcheck", "threads"), b=("netcheck", "loop"))


if __name__ == "__main__":
    main()
