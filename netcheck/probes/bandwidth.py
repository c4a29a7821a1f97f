"""Bandwidth between this site and the VPC: iperf3 TCP tests, upload and download.

The server is `spec.bandwidth.server` (a stock `iperf3 -s` or `netcheck serve`) or else
the responder (`spec.responder`, token from --token / NETCHECK_TOKEN). Each direction is
one check, `bandwidth.upload.<host>` (node → VPC) and `bandwidth.download.<host>`
(VPC → node, iperf3 reverse mode), marked exclusive so it runs alone after the others.
The threshold is `thresholds.bandwidthMbps` (AWS recommends at least 100 Mbit/s).
When the threshold lies within the measurement's own spread (mean ± one standard
deviation of the per-interval samples) the verdict is WARN "marginal", not a guess.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.probes import CheckKind
from netcheck.probes.base import ProbeSkip
from netcheck.protocol import RESPONDER_PORT
from netcheck.settings import Settings, Thresholds, split_hostport

DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
START_SERVER = ("run `netcheck serve --token TOKEN` on an EC2 instance in the VPC and set spec.responder "
                "to its address (and pass the same --token here), or run `iperf3 -s` there and set "
                "spec.bandwidth.server to host:5201")
# Connection failures that mean the network did not carry the test (vs. the server refusing it).
NETWORK_FAILURES = {"timeout", "unreachable"}
SLOT_WAIT = 300.0  # longest a test waits for a busy server's slot; the run's --deadline usually ends it first
TEST_OVERHEAD = 4.0  # handshake and results exchange around a test's seconds


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
    checks = []
    for reverse in directions:
        later = bw.seconds + TEST_OVERHEAD if not reverse and len(directions) > 1 else 0.0
        spec = Spec(host, port or 0, reverse, bw.seconds, bw.streams, token, source, reserve=later)
        name = "Download (VPC → node)" if reverse else "Upload (node → VPC)"
        checks.append(Check(id=f"bandwidth.{spec.direction}.{subject}", category=Category.BANDWIDTH,
                            title=f"{name} TCP throughput meets the threshold", probe="bandwidth", spec=spec,
                            timeout=bw.seconds + 20.0 + SLOT_WAIT, docs=DOCS, exclusive=True))
    return checks


def collect(spec: Spec, net: Net) -> Evidence:
    if spec.host is None:
        raise ProbeSkip(SkipReason.NEEDS_PEER, "No bandwidth server is configured, so throughput to the VPC "
                        "cannot be measured.", fix=START_SERVER[:1].upper() + START_SERVER[1:] + ".")
    from netcheck.net.iperf import IperfError, ServerBusy

    try:
        result = net.throughput(spec.host, spec.port, spec.seconds, spec.streams, spec.reverse, spec.token,
                                reserve=spec.reserve)
    except ServerBusy as exc:
        return Evidence(error_kind=exc.kind, error=str(exc), busy=exc)
    except IperfError as exc:
        return Evidence(error_kind=exc.kind, error=str(exc))
    return Evidence(result=result)


def _spread(samples: tuple[float, ...]) -> float:
    return statistics.pstdev(samples) if len(samples) >= 2 else 0.0


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    limit = thresholds.bandwidth_mbps
    what = f"{spec.direction.capitalize()} {'from' if spec.reverse else 'to'} {spec.server}"
    if ev.result is None:
        return _failed(spec, ev, what, limit)
    r = ev.result
    mean = float(r.mbps)
    sd = _spread(tuple(r.intervals_mbps))
    lo, hi = mean - sd, mean + sd
    retrans = f", {r.retransmits} retransmits" if r.retransmits else ""
    shared = getattr(r, "server_concurrent", None)
    crowd = (f", the responder ran {shared} tests at once (of {r.server_slots} slots)" if shared and shared > 1
             else "")
    measured = (f"{mean:.1f} Mbit/s (±{sd:.1f} over {len(r.intervals_mbps)} intervals, {r.streams} streams"
                f"{retrans}{crowd})")
    evidence: dict[str, Any] = {**r.to_evidence(), "spreadMbps": round(sd, 2), "source": spec.source,
                                "thresholdMbps": limit}
    if r.intervals_mbps:
        evidence.update(minMbps=round(min(r.intervals_mbps), 2), maxMbps=round(max(r.intervals_mbps), 2))
    common: dict[str, Any] = {"measured": round(mean, 1), "threshold": limit, "unit": "Mbit/s", "evidence": evidence}
    fix = (f"Raise the capacity of the path between the site and the VPC (VPN tunnel, Direct Connect or "
           f"uplink), or remove the shaping or policing on it{' (retransmits point at loss)' if r.retransmits else ''}; "
           f"AWS recommends at least 100 Mbit/s. If {limit:g} Mbit/s is more than this site needs, lower "
           "spec.thresholds.bandwidthMbps.")
    if shared and shared > 1:
        fix += (f" The responder ran {shared} tests at once during this one: if they shared its link, repeat "
                "the test when it is quieter (or give the responder more capacity, docs/capacity.md) before "
                "blaming the site's path.")
    if hi < limit:
        return Outcome(Status.FAIL, f"{what} measured {measured}, below the {limit:g} Mbit/s threshold.",
                       remediation=fix, **common)
    if lo < limit:
        return Outcome(Status.WARN, f"{what} measured {measured}: marginal, the {limit:g} Mbit/s threshold lies "
                       "within the measurement's own spread.",
                       remediation="Repeat the test at a quieter time or with a longer spec.bandwidth.seconds; "
                                   + fix, **common)
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
                       measured=kind, threshold=f"{limit:g} Mbit/s", unit="Mbit/s", evidence=evidence,
                       remediation=f"Allow TCP from this node to {spec.server} (route, firewall, security group), "
                                   "and check that the server is running.")
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
