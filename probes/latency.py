"""Latency, loss and jitter toward the VPC: one check per target carrying all three figures.

A paced series by the best method available: UDP echo through the responder, ICMP echo
(datagram socket where ping_group_range allows, raw as root), else TCP handshakes to
443 (the kernel's SYN/SYN-ACK RTT), which works where EKS ENIs ignore ping. The median
is judged against thresholds.rttMs, loss against lossPct, jitter (mean absolute
difference of consecutive samples) against jitterMs; an uncertain call is a WARN.
An mtr-style per-hop series (netcheck/net/trace.hop_series) runs beside the paced series, on
its own thread and at its own pace toward the routers (HOP_INTERVAL per TTL, as when it ran
after it); when the target answered it places RTT, jitter and loss on the on-prem LAN, the
WAN hop or inside AWS (netcheck/segments.py).
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.net.rtt import RttSeries
from netcheck.net.trace import HopSeries
from netcheck.protocol import RESPONDER_PORT
from netcheck.settings import Settings, Thresholds, split_hostport
from netcheck.units import Unit
from probes import CheckKind
from probes.base import ProbeSkip

DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
METHOD_NAMES = {"icmp": "ICMP echo", "icmp-raw": "ICMP echo (raw socket)", "udp-echo": "UDP echo via the responder"}
GIVE_UP_TCP = 3  # handshakes that all time out before the TCP series stops early
HOP_ROUNDS = 40  # per-hop probes per TTL, HOP_INTERVAL s apart: ~1 s plus stragglers, bounded by HOP_SECONDS
HOP_INTERVAL = 0.025
HOP_SECONDS = 6.0
HOP_MAX = 16
SEGMENT_FIX = {
    "lan": "It is on the site's side: look at the LAN up to the site edge router (switch ports and errors, "
           "congested uplinks, Wi-Fi, the edge router's CPU).",
    "wan": "It is on the WAN hop: look at the VPN/DX link (tunnel or port utilisation and errors, the ISP path, "
           "the edge router's encryption load); raise it with the carrier or the AWS Direct Connect partner.",
    "aws": "It appears inside AWS: look at the target (instance/ENI load, security group, Transit Gateway or "
           "virtual private gateway attachment); raise an AWS support case with this report.",
}


@dataclass(frozen=True)
class Spec:
    target: str  # IP or host name
    label: str  # what it is: control plane, responder, latency target
    samples: int = 20
    interval: float = 0.05
    tcp_port: int = 443
    udp_port: int | None = None  # the responder's UDP echo, when the target is the responder
    dns_servers: tuple[str, ...] = ()
    vpc_cidrs: tuple[str, ...] = ()  # hops inside these are AWS (segment attribution)
    site_cidrs: tuple[str, ...] = ()  # node and pod CIDRs: hops inside are the on-prem LAN
    hop_rounds: int = HOP_ROUNDS  # per-hop (mtr-style) probes per TTL; 0 turns the per-hop series off


@dataclass(frozen=True)
class Evidence:
    ip: str
    series: RttSeries
    tried: tuple[tuple[str, str], ...] = ()  # (method, why it was not used) before `series`
    icmp_fix: str | None = None  # how to enable ICMP when it was not allowed
    extra: dict[str, Any] = field(default_factory=dict)
    hops: HopSeries | None = None  # per-hop series toward ip (segment attribution)
    gateway: str | None = None  # the node's next hop toward ip
    hop_note: str | None = None  # why there is no per-hop series


@dataclass(frozen=True)
class Stats:
    sent: int
    received: int
    loss_pct: float
    min: float | None = None
    median: float | None = None
    p95: float | None = None
    max: float | None = None
    jitter: float | None = None


# --- plan ----------------------------------------------------------------------------

def targets(settings: Settings) -> list[tuple[str, str, int | None, int]]:
    """(host, label, responder UDP port, TCP port) for every latency target, deduplicated, in order."""
    s = settings.spec
    out: dict[str, tuple[str, str, int | None, int]] = {}
    if s.responder:
        host, port = split_hostport(s.responder, RESPONDER_PORT)
        out[host] = (host, "responder", port, port or RESPONDER_PORT)
    for ip in s.cluster.control_plane_ips:
        out.setdefault(ip, (ip, "EKS control plane ENI", None, 443))
    for host in s.latency.targets:
        out.setdefault(host, (host, "latency target", None, 443))
    return list(out.values())


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('latency.rtt.*', 'Round trip, loss and jitter to a target, and whose side they are on', Category.LATENCY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
)


def plan(settings: Settings) -> list[Check]:
    lat = settings.spec.latency
    s = settings.spec
    checks = []
    for host, label, udp, tcp in targets(settings):
        spec = Spec(host, label, lat.samples, lat.interval, tcp, udp,
                    tuple(str(x) for x in settings.spec.dns.servers), tuple(str(c) for c in s.vpc.cidrs),
                    tuple(str(c) for c in (*s.remote_network.node_cidrs, *s.remote_network.pod_cidrs)))
        # Worst case: a full ICMP or UDP series, then a TCP series at one handshake per RTT, then per-hop.
        timeout = 6.0 + 2 * lat.samples * lat.interval + lat.samples * 0.3 + GIVE_UP_TCP * 3.5 + HOP_SECONDS
        checks.append(CHECKS[0].check(f"latency.rtt.{host}", spec, probe="latency",
                                      title=f"Round trip, loss and jitter to {host} ({label})",
                                      timeout=min(120.0, timeout)))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def _address(spec: Spec, net: Net) -> str:
    try:
        ipaddress.ip_address(spec.target)
        return spec.target
    except ValueError:
        pass
    answer = net.resolve(spec.target, "A", spec.dns_servers)
    if not answer.addresses:
        raise ProbeSkip(SkipReason.DEPENDENCY, f"{spec.target} did not resolve ({answer.status}), so its latency "
                        "cannot be measured.", "Fix name resolution first (see the dns checks).")
    return answer.addresses[0]


def collect(spec: Spec, net: Net) -> Evidence:
    import dataclasses
    import threading

    ip = _address(spec, net)
    if spec.hop_rounds <= 0:
        return _series(spec, net, ip)
    box: list[tuple[HopSeries | None, str | None, str | None]] = []
    side = threading.Thread(target=lambda: box.append(_hops(spec, net, ip)), daemon=True, name="latency-hops")
    side.start()  # beside the paced series: neither waits for the other
    try:
        ev = _series(spec, net, ip)
    finally:
        side.join(HOP_SECONDS + 1.0)
    if not ev.series.received or not box:  # a silent target: the series is the finding, as before
        return ev
    hops, gateway, note = box[0]
    return dataclasses.replace(ev, hops=hops, gateway=gateway, hop_note=None if hops else note)


def _hops(spec: Spec, net: Net, ip: str) -> tuple[HopSeries | None, str | None, str | None]:
    """(per-hop series by ICMP echo, else UDP; the node's gateway toward ip; why there is no series).

    Bounded by HOP_SECONDS; the series stops as soon as every probe is answered (else a
    second after its last round), so it ends about when the paced series does.
    """
    timeout = min(HOP_SECONDS, spec.hop_rounds * HOP_INTERVAL + 1.5)
    from netcheck.net import DeadlineExceeded

    hops, note, gateway = None, None, None
    for proto in ("icmp", "udp"):
        try:
            hops = net.hop_series(ip, proto, max_hops=HOP_MAX, rounds=spec.hop_rounds,
                                  interval=HOP_INTERVAL, timeout=timeout)
            gateway = net.route_lookup(ip).gateway  # after: its first use loads pyroute2, which takes a while
            break
        except DeadlineExceeded:  # the series above is the finding; the per-hop view is extra
            note = "no time left before the deadline for the per-hop series"
            break
        except PermissionError:
            note = "ICMP echo sockets are not allowed here (ping_group_range); per-hop series by UDP"
            continue
        except OSError as exc:
            note = f"per-hop series failed: {exc.strerror or exc}"
            break
    return hops, gateway, note


def _series(spec: Spec, net: Net, ip: str) -> Evidence:
    from netcheck.net.icmp import IcmpUnavailable

    n, gap = spec.samples, spec.interval
    tried: list[tuple[str, str]] = []
    icmp_fix = None
    if spec.udp_port:
        s = net.udp_rtt(ip, spec.udp_port, n, gap, timeout=n * gap + 3.0)
        if s.received:
            return Evidence(ip, s)
        why = s.notes[0] if s.notes else f"no UDP echo reply from {ip}:{spec.udp_port}"
        tried.append(("udp-echo", why))
    try:
        s = net.ping(ip, n, gap, timeout=n * gap + 3.0)
        if s.received:
            return Evidence(ip, s, tuple(tried))
        tried.append((s.method, f"no ICMP echo reply from {ip} in {s.sent} requests (ICMP filtered?)"))
    except IcmpUnavailable as exc:
        tried.append(("icmp", exc.message))
        icmp_fix = exc.fix
    s = net.tcp_rtt(ip, spec.tcp_port, n, gap, timeout=n * (gap + 0.3) + GIVE_UP_TCP * 3.5)
    return Evidence(ip, s, tuple(tried), icmp_fix)


# --- evaluate (pure) -----------------------------------------------------------------

def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def stats(series: RttSeries) -> Stats:
    """min/median/p95/max, jitter and loss of one series; TCP loss counts SYN retransmissions."""
    got = [r for r in series.rtts if r is not None]
    lost = series.sent - len(got) + (series.retransmitted if series.method.startswith("tcp") else 0)
    loss = 100.0 * lost / series.sent if series.sent else 100.0
    if not got:
        return Stats(series.sent, 0, loss)
    jitter = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(got)) if len(got) > 1 else 0.0
    return Stats(series.sent, len(got), loss, min(got), statistics.median(got), percentile(got, 95), max(got), jitter)


def wilson_low(lost: int, n: int, z: float = 1.96) -> float:
    """Lower bound (percent) of the 95 % Wilson interval for a loss of lost/n."""
    if n == 0:
        return 0.0
    p = lost / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, 100.0 * (centre - margin) / (1 + z * z / n))


def _method(ev: Evidence) -> str:
    m = ev.series.method
    if m.startswith("tcp-"):
        return f"TCP {m[4:]} handshake"
    return METHOD_NAMES.get(m, m)


def path_segments(spec: Spec, ev: Evidence, st: Stats) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(evidence.path, {metric: where it appears}) from the per-hop series; (None, {}) without one."""
    from netcheck import segments as sg

    if ev.hops is None or not ev.hops.hops:
        return None, {}
    hops = sg.hop_stats(ev.hops.hops, ev.ip, spec.vpc_cidrs, spec.site_cidrs, ev.gateway)
    direct = len(hops) == 1 and hops[0].addr == ev.ip  # on-link target (a lab, loopback): no segments to tell apart
    edge = sg.edge_of(hops)
    dest = {"rtt": st.median, "jitter": st.jitter, "loss": st.loss_pct}
    units = {"rtt": "ms", "jitter": "ms", "loss": "%"}
    where: dict[str, str] = {}
    attributions: dict[str, Any] = {}
    for metric in () if direct else ("rtt", "jitter", "loss"):
        att = sg.attribute(hops, metric, dest[metric], ev.ip, st.sent)  # type: ignore[arg-type]
        if att is None:
            continue
        main = att.main
        attributions[metric] = {
            "totalAtTarget": round(att.total, 3),
            "bySegment": {k: round(v, 3) for k, v in att.by_segment.items()},
            "links": [{"from": x.from_addr, "to": x.to_addr, "segment": x.segment, "amount": round(x.amount, 3),
                       "exact": x.exact} for x in att.shares],
            "mainSegment": main.segment if main else None}
        text = sg.describe(att, units[metric], edge)
        if text:
            where[metric] = text
    limited = sg.rate_limited(hops, st.loss_pct, st.sent)
    path: dict[str, Any] = {
        "method": ev.hops.proto, "rounds": ev.hops.rounds, "reached": ev.hops.reached, "gateway": ev.gateway,
        "siteEdge": edge, "seconds": round(ev.hops.seconds, 3),
        "hops": [{"ttl": h.ttl, "addr": h.addr, "segment": h.segment, "sent": h.sent, "received": h.received,
                  "lossPct": round(h.loss_pct, 1),
                  "medianMs": None if h.median_ms is None else round(h.median_ms, 3),
                  "jitterMs": None if h.jitter_ms is None else round(h.jitter_ms, 3)} for h in hops],
        "attribution": attributions}
    if limited:
        path["rateLimited"] = limited
        where["rate-limit"] = ("unanswered probes at " + ", ".join(limited) + " do not persist to the target: "
                               "those routers rate-limit ICMP and are not the culprit")
    notes = list(ev.hops.notes)
    if direct:
        notes.append(f"{ev.ip} is the first hop (on-link): there is no router in between to place figures on")
    if notes:
        path["notes"] = notes
    return path, where


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    st = stats(ev.series)
    method = _method(ev)
    fallback = "; ".join(f"{METHOD_NAMES.get(m, m)} not used: {why}" for m, why in ev.tried)
    evidence: dict[str, Any] = {**ev.series.to_evidence(), "ip": ev.ip, "label": spec.label,
                                "methodUsed": method, "lossPct": round(st.loss_pct, 2)}
    if ev.tried:
        evidence["fallbacks"] = [{"method": m, "reason": why} for m, why in ev.tried]
    path, where = path_segments(spec, ev, st)
    if path is not None:
        evidence["path"] = path
    elif ev.hop_note:
        evidence["pathNote"] = ev.hop_note
    for key in ("min", "median", "p95", "max", "jitter"):
        val = getattr(st, key)
        evidence[f"{key}Ms"] = None if val is None else round(val, 3)
    via = f" by {method}" + (f" ({fallback})" if fallback else "")
    target_text = f"{spec.target}" + (f" ({ev.ip})" if ev.ip != spec.target else "")

    if st.received == 0:
        return Outcome(Status.FAIL, f"No reply from {target_text} to {st.sent} probes{via}; latency cannot be measured.",
                       measured=100.0, threshold=thresholds.loss_pct, unit=Unit.PERCENT,
                       remediation=f"Check the reachability checks for {ev.ip}: allow TCP {spec.tcp_port} "
                                   "(and ICMP echo) from the node subnet through the firewall, VPN/DX and "
                                   "security group." + (f" To measure with ICMP: {ev.icmp_fix}." if ev.icmp_fix else ""),
                       evidence=evidence)
    assert st.median is not None and st.p95 is not None and st.min is not None and st.jitter is not None
    figures = (f"median {st.median:.1f} ms (min {st.min:.1f}, p95 {st.p95:.1f}, max {st.max:.1f}), "
               f"jitter {st.jitter:.1f} ms, loss {st.loss_pct:.1f} % of {st.sent}")
    loss_word = " (SYN retransmissions)" if ev.series.method.startswith("tcp") else ""
    verdicts: list[tuple[Status, str, float, float, str, str]] = []  # status, why, measured, threshold, unit, fix
    rtt_limit = thresholds.rtt_ms
    rtt_fix = (f"Bring the round trip under {rtt_limit:g} ms: create the cluster in the Region closest to the site, "
               "or use a lower-latency link (Direct Connect instead of a VPN over the internet).")
    few = st.received < max(3, math.ceil(st.sent / 2))
    if few:
        verdicts.append((Status.WARN, f"only {st.received} of {st.sent} probes answered, too few to judge the RTT",
                         st.median, rtt_limit, "ms", "Re-run with more samples (spec.latency.samples) once loss is fixed."))
    elif st.median > rtt_limit:
        verdicts.append((Status.FAIL, f"the median is over the {rtt_limit:g} ms limit", st.median, rtt_limit, "ms", rtt_fix))
    elif st.p95 > rtt_limit:
        verdicts.append((Status.WARN, f"the median is under the {rtt_limit:g} ms limit but p95 ({st.p95:.1f} ms) is "
                         "over it, so the path straddles the limit", st.p95, rtt_limit, "ms", rtt_fix))
    lost = round(st.loss_pct * st.sent / 100.0)
    loss_fix = (f"Find the lossy hop (e.g. mtr -T -P {spec.tcp_port} {ev.ip}); check interface errors, VPN/DX "
                "utilisation and policers on the path.")
    if st.loss_pct > thresholds.loss_pct:
        low = wilson_low(lost, st.sent)
        if low > thresholds.loss_pct:
            verdicts.append((Status.FAIL, f"loss{loss_word} is over the {thresholds.loss_pct:g} % limit",
                             st.loss_pct, thresholds.loss_pct, "%", loss_fix))
        else:
            verdicts.append((Status.WARN, f"loss{loss_word} is over the {thresholds.loss_pct:g} % limit, but "
                             f"{lost} of {st.sent} is too few to be sure (95 % bound {low:.1f} %)",
                             st.loss_pct, thresholds.loss_pct, "%",
                             loss_fix + " Re-run with more samples (spec.latency.samples) to confirm."))
    if st.jitter > thresholds.jitter_ms:
        verdicts.append((Status.WARN, f"jitter is over the {thresholds.jitter_ms:g} ms limit", st.jitter,
                         thresholds.jitter_ms, "ms", "Look for congestion or bufferbloat on the path; give "
                         "control-plane traffic priority (QoS) on the VPN/DX link."))
    if not verdicts:
        return Outcome(Status.PASS, f"Round trip to {target_text}{via}: {figures}; within the {rtt_limit:g} ms, "
                       f"{thresholds.loss_pct:g} % and {thresholds.jitter_ms:g} ms limits.",
                       measured=round(st.median, 3), threshold=rtt_limit, unit=Unit.MS, evidence=evidence)
    worst = max(verdicts, key=lambda v: v[0].rank)
    reasons = "; ".join(v[1] for v in verdicts)
    fixes = " ".join(dict.fromkeys(v[5] for v in verdicts))
    found = {"ms": "jitter" if worst[1].startswith("jitter") else "rtt", "%": "loss"}[worst[4]]
    placed = [where[m] for m in dict.fromkeys((found, *(("loss",) if st.loss_pct > thresholds.loss_pct else ()),
                                                *(("jitter",) if st.jitter > thresholds.jitter_ms else ())))
              if m in where]
    if "rate-limit" in where and found == "loss":
        placed.append(where["rate-limit"])
    if placed:
        reasons += ". Where: " + "; ".join(placed)
    if path is not None:
        main = path["attribution"].get(found, {}).get("mainSegment")
        path["finding"] = {"metric": found, "segment": main}
        if main in SEGMENT_FIX:
            fixes = SEGMENT_FIX[main] + " " + fixes
    return Outcome(worst[0], f"Round trip to {target_text}{via}: {figures}; {reasons}.",
                   measured=round(worst[2], 3), threshold=worst[3], unit=Unit.PERCENT if worst[4] == "%" else Unit.MS, remediation=fixes,
                   evidence=evidence)
