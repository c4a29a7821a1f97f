"""Is the cluster's Region the closest one to this site? Advisory: latency.region.closest.

AWS's advice for EKS Hybrid Nodes is the Region closest to the site. This check measures the round trip
from this host to the public EKS endpoint of every candidate Region (spec.latency.regions, else every
Region of the cluster's partition) with netcheck/regions.py, the same measurement as `netcheck regions`,
and WARNs when one answers markedly faster than the cluster's Region (regions.RATIO times and
regions.MARGIN_MS lower, both). It never changes the verdict: the public path it measures is not the
VPN/Direct Connect path nodes use to a private endpoint, whose round trip is latency.rtt.*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netcheck import regions as rg
from netcheck.model import Category, Check, Outcome, Severity, SkipReason, Status
from netcheck.net import Net
from netcheck.settings import Settings, Thresholds
from netcheck.units import Unit
from probes import CheckKind

DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
CHECK_ID = "latency.region.closest"

CHECKS: tuple[CheckKind, ...] = (
    CheckKind(CHECK_ID, "No other Region answers markedly faster than the cluster's (public endpoints)",
              Category.LATENCY, Severity.ADVISORY, docs=DOCS),
)


@dataclass(frozen=True)
class Spec:
    region: str  # the cluster's
    candidates: tuple[rg.Candidate, ...]
    samples: int = rg.SAMPLES
    dns_servers: tuple[str, ...] = ()
    dns_timeout: float = rg.DNS_S
    private: bool = False  # the nodes reach the cluster over a private path (VPN/DX): say so
    domain: str | None = None  # spec.aws.domain: names under a lab or stand-in domain, not the public ones


@dataclass(frozen=True)
class Evidence:
    results: tuple[rg.RegionRtt, ...]


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    region = s.cluster.region
    if not region:
        return []  # no cluster Region, nothing to compare with (`netcheck regions` still ranks them)
    cands = tuple(rg.candidates(settings))
    private = s.cluster.endpoint_access == "private" or bool(s.cluster.control_plane_ips)
    spec = Spec(region, cands, rg.SAMPLES, tuple(str(x) for x in s.dns.servers), min(rg.DNS_S, s.dns.timeout),
                private, s.aws.domain)
    timeout = rg.DNS_S + max(rg.TCP_S + rg.ICMP_S + 1.0, rg.SAMPLES * (rg.CONNECT_S + rg.INTERVAL_S)) + 2.0
    return [Check(CHECK_ID, Category.LATENCY, f"No other Region answers markedly faster than {region} "
                  f"({len(cands)} candidates, public endpoints)", "region", spec, severity=Severity.ADVISORY,
                  timeout=timeout, docs=DOCS)]


def collect(spec: Spec, net: Net) -> Evidence:
    return Evidence(tuple(rg.measure(spec.candidates, net, spec.samples, spec.dns_servers, spec.dns_timeout)))


def _path(spec: Spec, results: tuple[rg.RegionRtt, ...]) -> str:
    proxies = sorted({r.proxy for r in results if r.proxy})
    how = (f"CONNECT set-up through the proxy {', '.join(proxies)}" if proxies
           else "TCP handshakes from this host")
    icmp = [r.region for r in results if r.method.startswith("icmp") and r.median is not None]
    if icmp:
        how += f" (ICMP echo for {', '.join(icmp)}, where TCP did not answer)"
    where = f"EKS endpoint name under {spec.domain} (spec.aws.domain)" if spec.domain else "public EKS endpoint"
    text = f"Measured by {how} to each Region's {where}"
    if spec.private:
        return text + (", not over the VPN/Direct Connect path the nodes use to this cluster's private endpoint "
                       "(that round trip is latency.rtt.*)")
    return text + " (the nodes' own path may differ, e.g. over VPN/Direct Connect; see latency.rtt.*)"


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    results = ev.results
    comp = rg.compare(results, spec.region)
    order = rg.ranked(results)
    evidence: dict[str, Any] = {
        "clusterRegion": spec.region, "ratio": rg.RATIO, "marginMs": rg.MARGIN_MS,
        "closest": next((r.region for r in order if r.median is not None), None),
        "fasterThanCluster": [r.region for r in comp.faster],
        "regions": [r.to_json() for r in order]}
    path = _path(spec, results)
    states: dict[str, list[str]] = {}
    for r in results:
        if r.median is None:
            states.setdefault(rg.STATE_TEXT[r.state], []).append(r.region)
    missing = "; ".join(f"{len(v)} {k} ({', '.join(v[:6])}{', ...' if len(v) > 6 else ''})"
                        for k, v in states.items())
    tail = f" {path}." + (f" Not measured: {missing}." if missing else "")
    if comp.verdict == "nothing":
        return Outcome.skip(SkipReason.NOT_APPLICABLE,
                            f"No candidate Region's public EKS endpoint could be measured from this host "
                            f"(an air-gapped site, or egress only through a path netcheck was not told about): "
                            f"{missing}.", "Nothing to do for a site that reaches AWS only privately; to compare "
                            "Regions, run `netcheck regions` from a host with internet access at the site.",
                            evidence)
    if comp.verdict in ("no-cluster", "alone"):
        why = (f"the cluster's Region {spec.region} could not be measured" if comp.verdict == "no-cluster"
               else "no other candidate Region answered")
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"Nothing to compare: {why}.{tail}",
                            "Check egress to the Regions' public endpoints (a firewall allow-list for the "
                            "cluster's Region only is common), or run `netcheck regions` where they are reachable.",
                            evidence)
    cluster = comp.cluster
    assert cluster is not None and cluster.median is not None and comp.best is not None
    assert comp.best.median is not None
    head = rg.summary(comp, thresholds.rtt_ms)
    if comp.verdict == "closer":
        best = comp.faster[0]
        assert best.median is not None
        return Outcome(Status.WARN, f"{head}{tail}", measured=round(cluster.median, 3),
                       threshold=_limit(best.median), unit=Unit.MS,
                       remediation=(f"Consider {best.region} for this site's cluster (AWS recommends the Region "
                                    "closest to the site). Before moving, measure the path the nodes will really "
                                    "use (VPN/Direct Connect to that Region) and weigh what else ties the cluster to "
                                    f"{spec.region}; `netcheck regions` ranks every candidate."),
                       evidence=evidence)
    return Outcome(Status.PASS, f"{head}{tail}", measured=round(cluster.median, 3),
                   threshold=_limit(comp.best.median), unit=Unit.MS, evidence=evidence)


def _limit(best_ms: float) -> float:
    """The cluster Region's median at which `best_ms` counts as markedly faster (ratio and margin both)."""
    return round(max(best_ms * rg.RATIO, best_ms + rg.MARGIN_MS), 3)
