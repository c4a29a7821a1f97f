"""Bandwidth between this site and the VPC: iperf3 TCP tests, upload and download.

The server is `spec.bandwidth.server` (a stock `iperf3 -s` or `netcheck serve`) or else
the responder (`spec.responder`, token from --token / NETCHECK_TOKEN). Each direction is
one check, `bandwidth.upload.<host>` (node → VPC) and `bandwidth.download.<host>`
(VPC → node, iperf3 reverse mode), marked exclusive so it runs alone after the others.
The threshold is `thresholds.bandwidthMbps` (AWS recommends at least 100 Mbit/s).

Both directions are measured at once (one iperf3 --bidir test, shared by the two checks
through `Pair`) where that gives the same answer as one at a time: a direction whose
path carried more than ACK_TOLERANCE of the other direction's ACKs during the bidir
test (a narrow uplink under a wide downlink) is measured again alone, and so is every
direction when the server does not run bidir tests. The evidence's `mode` says which.

The verdict judges the steady state: the client measures the RTT first and leaves TCP's
ramp (slow start, sized from the RTT) out of the judged rate, as iperf3's --omit does;
ramp and steady rate are both in the evidence. When the threshold lies within the
measurement's own spread (steady mean ± one standard deviation of its intervals) the
verdict is WARN "marginal", not a guess; so is a rate still rising at the end of the
test that reached the threshold. This host's TCP buffer ceiling (net.ipv4.tcp_rmem max
for a download, tcp_wmem max for an upload) caps one connection at max / RTT; when that
is below the threshold the report says so, with the sysctl to change.
"""

from __future__ import annotations

import math
import statistics
import threading
from dataclasses import dataclass, field
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.protocol import RESPONDER_PORT
from netcheck.settings import Settings, Thresholds, split_hostport
from netcheck.units import Unit
from probes import CheckKind, kind_in
from probes.base import ProbeSkip

DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
START_SERVER = ("run `netcheck serve --token TOKEN` on an EC2 instance in the VPC and set spec.responder "
                "to its address (and pass the same --token here), or run `iperf3 -s` there and set "
                "spec.bandwidth.server to host:5201")
# Connection failures that mean the network did not carry the test (vs. the server refusing it).
NETWORK_FAILURES = {"timeout", "unreachable"}
SLOT_WAIT = 300.0  # longest a test waits for a busy server's slot; the run's --deadline usually ends it first
TEST_OVERHEAD = 4.0  # handshake and results exchange around a test's seconds
# A bidir answer stands for a direction when the other direction's ACKs took at most this share
# of its path (measured from TCP_INFO segment counts; about 2 % with delayed ACKs on a symmetric path).
ACK_TOLERANCE = 0.03
# ... and when the queue the bidir test built stayed under max(QUEUE_FLOOR, QUEUE_SHARE × RTT): each
# direction's ACKs wait in the other's queue. Measured on the bed (bench/README.md): 50 Mbit/s up /
# 1 Gbit/s down at 20 ms built 26 ms and held the download at 99 Mbit/s (957 alone); 300 Mbit/s both
# ways at 150 ms built 46 ms (31 % of the RTT) and held both directions 15-30 % under the sequential
# answer in two matrix runs (iperf3's own --bidir as low), while 13 ms at 250 ms (5 %) and up to 9 ms at
# 0-50 ms stayed within 1-2 %; 1 Gbit/s at 0 ms built 5 ms. A queue q in the ACKs' way stretches the
# round trip by q: a window-limited direction loses about q / (RTT + q) (250 ms / 300 Mbit/s: 23 ms of
# queue, 8 % low, as that predicts), so the queue may take at most 5 % of the RTT.
QUEUE_FLOOR = 0.010
QUEUE_SHARE = 0.05
# ... and when a direction carried at most BIDIR_CPU_MBPS: above it, one Python process moving both
# directions fell 15 % short on the 2-core bed (50 ms / 1 Gbit/s: 810 against 956 alone; iperf3 --bidir
# 920). Above LOWER_BOUND_FACTOR × the threshold the bidir figure stands as a lower bound instead (the
# verdict cannot change; a multi-Gbit/s path measures this host's CPU either way).
BIDIR_CPU_MBPS = 500.0
LOWER_BOUND_FACTOR = 10.0
# A bidir figure that would FAIL or WARN (its mean less one spread under the threshold) is measured again
# alone before it becomes a verdict: seen in CI on a CPU-starved 2-core bed (37 Mbit/s both ways at once on a
# 300 Mbit/s, 150 ms path), a false NO-GO the sequential test would not have given.
# Errors of a server that did not run a bidir test (no support, or a server that misread it): sequential.
BIDIR_UNSUPPORTED = {"server-error", "protocol", "closed"}


@dataclass(eq=False)
class Pair:
    """The upload and download checks of one server: the first to run measures both (--bidir).

    The second finds its direction's result here. `note` says why there is none (the
    server refused or misread the bidir test), and each check then measures alone.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    tried: bool = False
    results: dict[bool, Any] = field(default_factory=dict)  # reverse -> IperfResult
    note: str | None = None

    def result(self, spec: Spec, net: Net) -> Any:
        """This direction's bidir result, or None (measure alone); IperfError for a failed test."""
        from netcheck.net.iperf import IperfError

        assert spec.host is not None
        with self.lock:
            if not self.tried:
                self.tried = True
                try:
                    up, down = net.throughput_bidir(spec.host, spec.port, spec.seconds, spec.streams, spec.token)
                    self.results = {False: up, True: down}
                except IperfError as exc:
                    if exc.kind == "stalled":
                        # the server was reached but the bidir test stalled (a narrow, shallow-queued link can
                        # starve the control connection with both directions full): measure each alone
                        self.note = f"the bidirectional test did not complete ({exc})"
                    elif exc.kind not in BIDIR_UNSUPPORTED:
                        raise
                    else:
                        self.note = f"the server did not run a bidirectional test ({exc})"
            return self.results.get(spec.reverse)


@dataclass(frozen=True)
class Spec:
    host: str | None  # None: no server configured
    port: int
    reverse: bool  # True: download (VPC → node)
    seconds: float
    streams: int
    token: str | None = None
    source: str = ""  # which setting named the server
    reserve: float = 0.0  # seconds kept free before the deadline for the test that runs after this one
    pair: Pair | None = None  # shared by both directions' checks: one bidirectional test for both
    threshold_mbps: float = 100.0  # thresholds.bandwidthMbps, for the bidir lower-bound rule

    @property
    def direction(self) -> str:
        return "download" if self.reverse else "upload"

    @property
    def server(self) -> str:
        return f"[{self.host}]:{self.port}" if self.host and ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Evidence:
    result: Any = None  # netcheck.net.iperf.IperfResult when the test ran
    error_kind: str | None = None
    error: str | None = None
    busy: Any = None  # netcheck.net.iperf.ServerBusy when no test slot came free in time
    tcp_buffer: str | None = None  # this host's tcp_rmem (download) or tcp_wmem (upload): "min default max"
    bidir: Any = None  # the bidirectional result set aside when this direction was measured again alone
    mode_note: str | None = None  # why this direction was measured alone (or why its bidir figure is a lower bound)
    lower_bound: bool = False  # the bidir figure stands as "at least" (see BIDIR_CPU_MBPS)


def buffer_sysctl(reverse: bool) -> str:
    """The sysctl whose max caps one connection's window on this host: receive for a download."""
    return "net.ipv4.tcp_rmem" if reverse else "net.ipv4.tcp_wmem"


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('bandwidth.upload.*', 'Upload (node → VPC) TCP throughput meets the threshold', Category.BANDWIDTH,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
    CheckKind('bandwidth.download.*', 'Download (VPC → node) TCP throughput meets the threshold', Category.BANDWIDTH,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    bw = s.bandwidth
    token = None
    if bw.server:
        host, port = split_hostport(bw.server, 5201)
        source = "spec.bandwidth.server"
        token = settings.token  # a responder named here still wants the token; iperf3 -s ignores it
    elif s.responder:
        host, port = split_hostport(s.responder, RESPONDER_PORT)
        source, token = "spec.responder", settings.token
    else:
        host, port, source = None, 0, ""
    subject = (host or "no-server").replace(":", "-")
    directions = (False, True) if bw.reverse else (False,)
    pair = Pair() if len(directions) > 1 and host else None
    checks = []
    for reverse in directions:
        later = bw.seconds + TEST_OVERHEAD if not reverse and len(directions) > 1 else 0.0
        spec = Spec(host, port or 0, reverse, bw.seconds, bw.streams, token, source, reserve=later, pair=pair,
                    threshold_mbps=s.thresholds.bandwidth_mbps)
        name = "Download (VPC → node)" if reverse else "Upload (node → VPC)"
        checks.append(kind_in(CHECKS, f"bandwidth.{spec.direction}.{subject}").check(
            f"bandwidth.{spec.direction}.{subject}", spec, probe="bandwidth",
            title=f"{name} TCP throughput meets the threshold", timeout=bw.seconds + 20.0 + SLOT_WAIT, exclusive=True))
    return checks


def collect(spec: Spec, net: Net) -> Evidence:
    if spec.host is None:
        raise ProbeSkip(SkipReason.NEEDS_PEER, "No bandwidth server is configured, so throughput to the VPC "
                        "cannot be measured.", fix=START_SERVER[:1].upper() + START_SERVER[1:] + ".")
    from netcheck.net.iperf import IperfError, ServerBusy

    bidir, note = None, None
    try:
        if spec.pair is not None:
            bidir = spec.pair.result(spec, net)
            note = spec.pair.note
            note = note or (None if bidir is None else _bidir_doubt(spec, bidir))
            if bidir is not None and note is None:
                bound = bidir.steady_mbps > BIDIR_CPU_MBPS
                return Evidence(result=bidir, tcp_buffer=net.sysctl(buffer_sysctl(spec.reverse)), lower_bound=bound,
                                mode_note=(f"both directions at once above {BIDIR_CPU_MBPS:g} Mbit/s share this "
                                           "host's CPU: the figure is a lower bound, over "
                                           f"{LOWER_BOUND_FACTOR:g} × the threshold, so it was not measured again "
                                           "alone") if bound else None)
        result = net.throughput(spec.host, spec.port, spec.seconds, spec.streams, spec.reverse, spec.token,
                                reserve=spec.reserve if bidir is None else 0.0)
    except ServerBusy as exc:
        return Evidence(error_kind=exc.kind, error=str(exc), busy=exc)
    except IperfError as exc:
        return Evidence(error_kind=exc.kind, error=str(exc))
    return Evidence(result=result, tcp_buffer=net.sysctl(buffer_sysctl(spec.reverse)), bidir=bidir, mode_note=note)


def _bidir_doubt(spec: Spec, bidir: Any) -> str | None:
    """Why this direction's bidir figure may not be what it carries alone (then it is measured alone)."""
    other = "upload" if spec.reverse else "download"
    share, queue, rtt = bidir.ack_share, bidir.queue_delay, bidir.rtt or 0.0
    if share is not None and share > ACK_TOLERANCE:
        return (f"during the bidirectional test the {other}'s ACKs took {share * 100:.1f} % of this direction's "
                f"path (more than {ACK_TOLERANCE * 100:g} %), so it was measured again alone")
    limit = max(QUEUE_FLOOR, QUEUE_SHARE * rtt)
    if queue is not None and queue > limit:
        return (f"the bidirectional test built {queue * 1000:.0f} ms of queue (more than {limit * 1000:.0f} ms) and "
                f"this direction's ACKs waited in it behind the {other}, so it was measured again alone")
    rate = float(bidir.steady_mbps)
    if BIDIR_CPU_MBPS < rate < LOWER_BOUND_FACTOR * spec.threshold_mbps:
        return (f"{rate:.0f} Mbit/s in the bidirectional test is more than this client carries both ways as well as "
                f"one ({BIDIR_CPU_MBPS:g} Mbit/s), so it was measured again alone")
    if rate - _spread(tuple(bidir.intervals_mbps)) < spec.threshold_mbps:
        return (f"{rate:.1f} Mbit/s in the bidirectional test is below or near the {spec.threshold_mbps:g} Mbit/s "
                "threshold: a figure that would fail or warn is confirmed with this direction alone, so the other "
                "direction's traffic (and this host's CPU moving both) cannot have lowered it")
    return None


def _spread(samples: tuple[float, ...]) -> float:
    return statistics.pstdev(samples) if len(samples) >= 2 else 0.0


def _still_rising(samples: tuple[float, ...]) -> bool:
    """The steady window's second half clearly above its first: TCP was still opening up."""
    if len(samples) < 2:
        return False
    half = len(samples) // 2
    first, second = statistics.fmean(samples[:half]), statistics.fmean(samples[len(samples) - half:])
    return second > first * 1.15 and samples[-1] > samples[0] * 1.2


@dataclass(frozen=True)
class BufferCeiling:
    """What this host's TCP buffers allow one connection over this RTT."""

    sysctl: str
    values: tuple[int, ...]  # min default max
    rtt: float  # s

    @property
    def max_bytes(self) -> int:
        return self.values[-1]

    @property
    def mbps(self) -> float:
        return self.max_bytes * 8 / self.rtt / 1e6

    def needed(self, mbps: float) -> int:
        """A max that lets one connection carry `mbps`: twice the bandwidth-delay product (the
        kernel counts buffer overhead against it), rounded up to whole MiB."""
        return math.ceil(mbps * 1e6 / 8 * self.rtt * 2 / (1 << 20)) * (1 << 20)

    def command(self, mbps: float) -> str:
        lo, default = self.values[:2] if len(self.values) >= 3 else (4096, 131072)
        return f'sysctl -w {self.sysctl}="{lo} {default} {self.needed(mbps)}"'

    def to_evidence(self) -> dict[str, Any]:
        return {"sysctl": self.sysctl, "value": " ".join(map(str, self.values)), "maxBytes": self.max_bytes,
                "rttMs": round(self.rtt * 1000, 2), "oneConnectionMaxMbps": round(self.mbps, 1)}


def _ceiling(spec: Spec, ev: Evidence, rtt: float | None) -> BufferCeiling | None:
    if not ev.tcp_buffer or not rtt or rtt <= 0:
        return None
    try:
        values = tuple(int(x) for x in ev.tcp_buffer.split())
    except ValueError:
        return None
    return BufferCeiling(buffer_sysctl(spec.reverse), values, rtt) if values and values[-1] > 0 else None


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    limit = thresholds.bandwidth_mbps
    what = f"{spec.direction.capitalize()} {'from' if spec.reverse else 'to'} {spec.server}"
    if ev.result is None:
        return _failed(spec, ev, what, limit)
    r = ev.result
    mean = float(r.steady_mbps)
    samples = tuple(r.intervals_mbps)
    sd = _spread(samples)
    lo, hi = mean - sd, mean + sd
    retrans = f", {r.retransmits} retransmits" if r.retransmits else ""
    shared = getattr(r, "server_concurrent", None)
    crowd = (f", the responder ran {shared} tests at once (of {r.server_slots} slots)" if shared and shared > 1
             else "")
    rtt = f", RTT {r.rtt * 1000:.0f} ms" if r.rtt else ""
    ramp = (f" after a {r.ramp_seconds:.1f} s ramp at {r.ramp_mbps:.1f} Mbit/s" if r.ramp_mbps is not None else "")
    streams = f"{r.streams} stream{'s' if r.streams != 1 else ''}"
    if getattr(r, "mode", "") == "bidirectional":
        streams += ", both directions at once"
    measured = f"{'at least ' if ev.lower_bound else ''}{mean:.1f} Mbit/s (±{sd:.1f} over {len(samples)} intervals{ramp}, {streams}{rtt}{retrans}{crowd})"
    evidence: dict[str, Any] = {**r.to_evidence(), "spreadMbps": round(sd, 2), "source": spec.source,
                                "thresholdMbps": limit}
    if ev.mode_note:
        evidence["modeNote"] = ev.mode_note
    if ev.lower_bound:
        evidence["lowerBound"] = True
    if ev.bidir is not None:
        evidence["bidirectional"] = {"steadyMbps": round(float(ev.bidir.steady_mbps), 2),
                                     "reverseAckSharePct": None if ev.bidir.ack_share is None
                                     else round(ev.bidir.ack_share * 100, 2)}
    if samples:
        evidence.update(minMbps=round(min(samples), 2), maxMbps=round(max(samples), 2))
    ceiling = _ceiling(spec, ev, r.rtt)
    if ceiling:
        evidence["tcpBuffer"] = ceiling.to_evidence()
    common: dict[str, Any] = {"measured": round(mean, 1), "threshold": limit, "unit": "Mbit/s", "evidence": evidence}
    fix = (f"Raise the capacity of the path between the site and the VPC (VPN tunnel, Direct Connect or "
           f"uplink), or remove the shaping or policing on it{' (retransmits point at loss)' if r.retransmits else ''}; "
           f"AWS recommends at least 100 Mbit/s. If {limit:g} Mbit/s is more than this site needs, lower "
           "spec.thresholds.bandwidthMbps.")
    if shared and shared > 1:
        fix += (f" The responder ran {shared} tests at once during this one: if they shared its link, repeat "
                "the test when it is quieter (or give the responder more capacity, docs/capacity.md) before "
                "blaming the site's path.")
    one_short = ceiling is not None and ceiling.mbps < limit
    buffers = ""
    buffer_fix = ""
    if ceiling is not None and one_short:
        buffers = (f" This host's TCP buffers cap one connection at {ceiling.mbps:.1f} Mbit/s ({ceiling.sysctl} max "
                   f"{ceiling.max_bytes} bytes / RTT {ceiling.rtt * 1000:.0f} ms), below the threshold: a single "
                   "TCP transfer (one image layer, say) cannot fill this path whatever the link carries.")
        buffer_fix = (f"Raise this host's buffer ceiling so one connection can reach {limit:g} Mbit/s over "
                      f"{ceiling.rtt * 1000:.0f} ms: `{ceiling.command(limit)}` (persist it in /etc/sysctl.d/).")
    host_cap = ceiling.mbps * r.streams if ceiling is not None else None  # all streams together
    if hi < limit:
        if samples and max(samples) >= limit and (_still_rising(samples) or r.sizing_note):
            why = ("was still rising at the end of the test" if _still_rising(samples)
                   else f"had too little time to get past TCP's ramp ({r.sizing_note})")
            return Outcome(Status.WARN, f"{what} measured {measured}: marginal, the rate {why} and reached "
                           f"{max(samples):.1f} Mbit/s in its best interval.{buffers}",
                           remediation=(buffer_fix + " " if buffer_fix else "")
                           + "Repeat with a longer spec.bandwidth.seconds (and --deadline) to see the steady rate.",
                           **common)
        if host_cap is not None and host_cap < limit:
            return Outcome(Status.FAIL, f"{what} measured {measured}, below the {limit:g} Mbit/s threshold.{buffers} "
                           f"With {streams} they allow at most {host_cap:.1f} Mbit/s, so "
                           "this host, not the link, is the limit found.",
                           remediation=buffer_fix + " Then run the test again to measure the link.", **common)
        return Outcome(Status.FAIL, f"{what} measured {measured}, below the {limit:g} Mbit/s threshold.{buffers}",
                       remediation=(buffer_fix + " " if buffer_fix else "") + fix, **common)
    if lo < limit:
        return Outcome(Status.WARN, f"{what} measured {measured}: marginal, the {limit:g} Mbit/s threshold lies "
                       f"within the measurement's own spread.{buffers}",
                       remediation=(buffer_fix + " " if buffer_fix else "")
                       + "Repeat the test at a quieter time or with a longer spec.bandwidth.seconds; " + fix, **common)
    if one_short:
        return Outcome(Status.WARN, f"{what} measured {measured}, above the {limit:g} Mbit/s threshold with "
                       f"{streams}, but not for one connection.{buffers}", remediation=buffer_fix, **common)
    return Outcome(Status.PASS, f"{what} measured {measured}, above the {limit:g} Mbit/s threshold.", **common)


def _failed(spec: Spec, ev: Evidence, what: str, limit: float) -> Outcome:
    kind, err = ev.error_kind or "error", ev.error or "unknown error"
    evidence: dict[str, Any] = {"server": spec.server, "direction": spec.direction, "error": kind, "detail": err,
                                "source": spec.source}
    if kind == "busy":  # the server never had a free slot before the deadline: nothing was measured
        b = ev.busy
        if b is not None:
            evidence.update(attempts=b.attempts, waitedSeconds=round(b.waited, 2), retryAfter=b.retry_after,
                            responderRunningTests=b.running, responderSlots=b.slots)
        return Outcome.skip(SkipReason.BUSY, f"{what} was not measured: {err}. The verdict rests on the other "
                            "checks.", evidence=evidence,
                            remediation="Spread the fleet's bandwidth tests (the schedules in examples/ add a "
                                        "random delay and run bandwidth hourly), raise --deadline so a test can "
                                        "wait for a slot, or give the responder more capacity (netcheck serve "
                                        "--max-tests, docs/capacity.md).")
    if kind in NETWORK_FAILURES:
        evidence["outcome"] = kind
        return Outcome(Status.FAIL, f"{what}: the test could not reach the server ({err}).",
                       measured=kind, threshold=f"{limit:g} Mbit/s", unit=Unit.MBIT_S, evidence=evidence,
                       remediation=f"Allow TCP from this node to {spec.server} (route, firewall, security group), "
                                   "and check that the server is running.")
    if kind == "stalled":  # the server answered, then the test stopped: nothing was measured, nor refused
        return Outcome(Status.ERROR, f"{what} could not be measured: the server answered, then the test stalled "
                       f"({err}).", evidence=evidence,
                       remediation="Run the test again; if it stalls again, look for loss or a saturated link on the "
                                   f"path to {spec.server} (retransmits, a policer), or a firewall that lets the "
                                   "control connection through but holds the data streams (same port, more "
                                   "connections).")
    fixes = {
        "unauthorized": "Pass the responder's token with --token or NETCHECK_TOKEN (the responder was started "
                        "with --token, NETCHECK_TOKEN or --token-file).",
        "refused": "Start the server: " + START_SERVER + ".",
    }
    if kind == "refused":
        evidence["outcome"] = "refused"
    return Outcome(Status.ERROR, f"{what} could not be measured: {err}.",
                   remediation=fixes.get(kind, "Check that the server is a working iperf3 3.x or `netcheck serve`, "
                                               "then run the test again."), evidence=evidence)
