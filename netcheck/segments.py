"""Whose side is it? Per-hop RTT, jitter and loss placed on the on-prem LAN, the WAN hop or AWS.

Pure functions over an mtr-style per-hop series (netcheck/net/trace.hop_series). Hops are
classified with the site profile: inside the VPC CIDRs → AWS; the node/pod CIDRs, the
node's gateway and further private (RFC 1918 / CGNAT) addresses up to the first
non-private hop → the on-prem LAN (its last hop is the site edge); anything after that and
before AWS (tunnel-inside 169.254/16 addresses, public DX/ISP routers) → the WAN.

A figure is placed on a *link* (the hop before → the hop where it appears), and only in
the amount that persists to the destination: a router that answers its own ICMP slowly or
rate-limits it (Linux: 1 answer/s after a burst of 6) shows RTT or loss that later hops do
not, and that is not the path's problem. The persistent value at a hop is the minimum over
it and every later hop, with the destination's figure taken from the end-to-end series.
When the hop before an increase itself looks inflated, the increase is placed on the span
back to the last hop that answered cleanly, and the report says the placement is coarse.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Segment = Literal["lan", "wan", "aws"]
Metric = Literal["rtt", "jitter", "loss"]
SEGMENT_NAMES: dict[str, str] = {"lan": "the on-prem LAN", "wan": "the WAN hop (VPN/DX)", "aws": "inside AWS"}
PLACES: dict[str, str] = {"lan": "on the on-prem LAN", "wan": "on the WAN hop (VPN/DX)", "aws": "inside AWS"}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_LINK_LOCAL = ipaddress.ip_network("169.254.0.0/16")
TOLERANCE = {"rtt": (1.0, 0.10), "jitter": (1.0, 0.25), "loss": (10.0, 0.0)}  # (absolute, relative) noise


@dataclass(frozen=True)
class HopStat:
    """One answered hop after collapsing repeats: its figures and its side of the path."""

    ttl: int
    addr: str | None
    segment: Segment | None
    sent: int
    received: int
    loss_pct: float
    median_ms: float | None
    jitter_ms: float | None

    def value(self, metric: Metric) -> float | None:
        return {"rtt": self.median_ms, "jitter": self.jitter_ms, "loss": self.loss_pct}[metric]


@dataclass(frozen=True)
class Share:
    """How much of one metric appears on one link (from → to), and whether the place is exact."""

    segment: Segment | None  # None: the span crosses segments
    from_addr: str  # "node" or a hop address
    to_addr: str
    amount: float
    exact: bool  # False: a hop in between answered inflated figures (slow ICMP, rate limit)


@dataclass(frozen=True)
class Attribution:
    metric: Metric
    total: float  # the destination's figure
    shares: tuple[Share, ...]
    by_segment: dict[str, float]

    @property
    def main(self) -> Share | None:
        """The link that carries the largest part, if any part is positive."""
        best = max(self.shares, key=lambda s: s.amount, default=None)
        return best if best is not None and best.amount > 0 else None


def _private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (ip.is_private and ip not in _LINK_LOCAL) or (ip.version == 4 and ip in _CGNAT)


def classify(addrs: Sequence[str | None], target: str, vpc: Sequence[str], site: Sequence[str],
             gateway: str | None) -> list[Segment | None]:
    """The segment of each hop address, in path order (None for a hop that never answered)."""
    vpc_nets = [ipaddress.ip_network(c, strict=False) for c in vpc]
    site_nets = [ipaddress.ip_network(c, strict=False) for c in site]
    out: list[Segment | None] = []
    on_lan = True
    for a in addrs:
        if a is None:
            out.append(None)
            continue
        ip = ipaddress.ip_address(a)
        if a == target or any(ip in n for n in vpc_nets):
            out.append("aws")
            on_lan = False
        elif on_lan and (a == gateway or any(ip in n for n in site_nets) or _private(ip)):
            out.append("lan")
        else:
            out.append("wan")
            on_lan = False
    return out


def link_segment(prev: Segment | None, here: Segment | None) -> Segment | None:
    """The segment of the link that ends at a hop: entering AWS straight from the LAN is the WAN hop."""
    if here == "aws" and prev == "lan":
        return "wan"
    return here


def hop_stats(hops: Sequence[tuple[int, str | None, Sequence[float | None]]], target: str, vpc: Sequence[str],
              site: Sequence[str], gateway: str | None) -> list[HopStat]:
    """Figures per answered hop; a router listed at two consecutive TTLs (it forwarded the probe to
    itself, e.g. through a tunnel device) is kept once, at its first TTL."""
    kept: list[tuple[int, str | None, Sequence[float | None]]] = []
    for ttl, addr, rtts in hops:
        if kept and addr is not None and kept[-1][1] == addr:
            continue
        kept.append((ttl, addr, rtts))
    segs = classify([h[1] for h in kept], target, vpc, site, gateway)
    out: list[HopStat] = []
    for (ttl, addr, rtts), seg in zip(kept, segs, strict=True):
        got = [r for r in rtts if r is not None]
        sent = len(rtts)
        loss = 100.0 * (sent - len(got)) / sent if sent else 100.0
        jitter = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(got)) if len(got) > 1 else None
        out.append(HopStat(ttl, addr, seg, sent, len(got), loss, statistics.median(got) if got else None, jitter))
    return out


def attribute(hops: Sequence[HopStat], metric: Metric, destination: float | None,
              target: str, samples: int = 0) -> Attribution | None:
    """Place the destination's figure for `metric` on the links of the path (see the module doc).

    `samples` is the size of the end-to-end series: a hop's loss counts as inflated only when
    it is above the persistent loss by more than sampling noise (2.5 standard errors, ≥ 10 points).
    """
    answered = [h for h in hops if h.addr is not None and h.value(metric) is not None]
    if destination is None or not answered:
        return None
    last = answered[-1]
    vals = [float(h.value(metric) or 0.0) for h in answered]
    if last.addr == target:  # the target itself: use the end-to-end figure
        vals[-1] = destination
    else:
        vals.append(destination)
    persistent = list(vals)
    for i in range(len(persistent) - 2, -1, -1):
        persistent[i] = min(persistent[i], persistent[i + 1])
    names = [h.addr or "?" for h in answered] + ([] if len(vals) == len(answered) else ["target"])
    segs: list[Segment | None] = [h.segment for h in answered] + ([] if len(vals) == len(answered) else ["aws"])
    absolute, relative = TOLERANCE[metric]
    shares: list[Share] = []
    by_segment: dict[str, float] = {}
    prev_p, clean_i, pending = 0.0, -1, 0.0  # clean_i: last hop whose own figure is its persistent one
    for i, p in enumerate(persistent):
        pending += p - prev_p
        prev_p = p
        tol = max(absolute, relative * p)
        if metric == "loss" and i < len(answered) and samples > 0 and answered[i].sent > 0:
            n1, n2 = answered[i].sent, samples
            pooled = (vals[i] * n1 + p * n2) / (n1 + n2) / 100.0
            tol = max(tol, 250.0 * math.sqrt(max(0.0, pooled * (1 - pooled)) * (1 / n1 + 1 / n2)))
        clean = i == len(vals) - 1 or vals[i] <= p + tol
        if not clean:
            continue  # this hop's own figure is inflated: what appears here is only known up to the next clean hop
        if pending > 0:
            start = clean_i
            span = [link_segment(segs[j - 1] if j > 0 else "lan", segs[j]) for j in range(start + 1, i + 1)]
            seg = span[0] if all(x == span[0] for x in span) else None
            shares.append(Share(seg, "node" if start < 0 else names[start], names[i], pending, start == i - 1))
            key = seg or "unplaced"
            by_segment[key] = by_segment.get(key, 0.0) + pending
        clean_i, pending = i, 0.0
    return Attribution(metric, destination, tuple(shares), by_segment)


def edge_of(hops: Sequence[HopStat]) -> str | None:
    """The site edge: the last LAN hop that answered."""
    lan = [h.addr for h in hops if h.segment == "lan" and h.addr]
    return lan[-1] if lan else None


def describe(att: Attribution, unit: str, edge: str | None) -> str:
    """'40.1 of 41.0 ms appear on the WAN hop (VPN/DX), between 192.168.50.1 (site edge) and 169.254.100.2'."""
    main = att.main
    if main is None:
        return ""
    fmt = "{:.1f}"
    what = {"rtt": "of the round trip", "jitter": "of the jitter", "loss": "of the loss"}[att.metric]

    def name(addr: str) -> str:
        return f"{addr} (site edge)" if addr == edge else addr

    where = PLACES[main.segment] if main.segment else "somewhere on a span that crosses segments"
    text = (f"{fmt.format(main.amount)} {unit} {what} ({fmt.format(att.total)} {unit}) appear {where}, "
            f"between {name(main.from_addr)} and {name(main.to_addr)}")
    if not main.exact:
        text += " (hops in between answer late or rate-limit ICMP, so the place is no more exact than that)"
    return text


def rate_limited(hops: Sequence[HopStat], destination_loss: float | None, samples: int = 0) -> list[str]:
    """Hops whose unanswered probes do not persist to the destination: ICMP rate limits, not loss."""
    if destination_loss is None:
        return []
    out = []
    for h in hops[:-1]:
        if h.addr is None or h.sent == 0:
            continue
        tol = TOLERANCE["loss"][0]
        if samples > 0:
            pooled = (h.loss_pct * h.sent + destination_loss * samples) / (h.sent + samples) / 100.0
            tol = max(tol, 250.0 * math.sqrt(max(0.0, pooled * (1 - pooled)) * (1 / h.sent + 1 / samples)))
        if h.loss_pct > destination_loss + tol:
            out.append(f"{h.addr} ({h.loss_pct:.0f} %)")
    return out
