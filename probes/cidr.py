"""Address plan: RFC 1918 and size rules, overlaps, node IP, collisions with this host.

Rules from reference/eks-hybrid-network-requirements.md §1. Overlaps are found with one
sorted sweep over integer ranges, so 100,000 prefixes take well under a second.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netaddr import IPNetwork, IPSet

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.settings import DEFAULT_SERVICE_CIDRS, Settings, Thresholds

DOCS_REMOTE = "https://docs.aws.amazon.com/eks/latest/APIReference/API_RemoteNodeNetwork.html"
DOCS_NET = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
DOCS_SVC = "https://docs.aws.amazon.com/eks/latest/APIReference/API_KubernetesNetworkConfigRequest.html"
RFC1918 = IPSet(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
MAX_LISTED = 5

GROUP_NAMES = {"node": "remote node CIDR", "pod": "remote pod CIDR", "vpc": "VPC CIDR",
               "service": "service CIDR"}


@dataclass(frozen=True)
class Spec:
    rule: str  # see _RULES
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pair: tuple[str, str] = ("", "")
    node_ip: str | None = None
    route_toward: str | None = None  # where to look up the node's source address
    node_ip_origin: str = ""  # where the configured node IP came from (flag, env, profile, NodeConfig)
    service_known: bool = True
    predicted_service: str | None = None


@dataclass(frozen=True)
class Evidence:
    spec: Spec
    local: tuple[tuple[str, str, str], ...] = ()  # (cidr, kind, interface)
    node_ip: str | None = None
    node_ip_source: str = ""


# --- pure helpers --------------------------------------------------------------------

@functools.lru_cache(maxsize=1 << 17)
def _range(cidr: str) -> tuple[int, int, int]:
    """(version, first, last) as integers; fast path for IPv4 text; cached, as every rule reads the same CIDRs."""
    if ":" not in cidr:
        addr, _, plen = cidr.partition("/")
        first = int.from_bytes(socket.inet_aton(addr), "big")
        return 4, first, first + (1 << (32 - (int(plen) if plen else 32))) - 1
    net = ipaddress.ip_network(cidr, strict=False)
    return 6, int(net.network_address), int(net.broadcast_address)


_RFC1918_RANGES = tuple(_range(c)[1:] for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_V6 = 1 << 129  # added to IPv6 positions so one integer order puts every IPv4 range first, never overlapping


def is_rfc1918(cidr: str) -> bool:
    """True when the whole IPv4 prefix lies inside one RFC 1918 block (integer compare, no netaddr)."""
    if ":" in cidr:
        return False
    _, first, last = _range(cidr)
    return any(lo <= first and last <= hi for lo, hi in _RFC1918_RANGES)


@functools.lru_cache(maxsize=16)
def _group_items(group: str, cidrs: tuple[str, ...]) -> list[tuple[int, int, str, str]]:
    """(first, last, group, cidr) sorted; cached because several rules sweep the same group."""
    out = []
    for c in cidrs:
        ver, first, last = _range(c)
        off = _V6 if ver == 6 else 0
        out.append((first + off, last + off, group, c))
    out.sort()
    return out


def sweep(groups: dict[str, tuple[str, ...]], pairs: Iterable[tuple[str, str]],
          limit: int = MAX_LISTED) -> dict[tuple[str, str], tuple[list[tuple[str, str]], int]]:
    """For each (a, b) in `pairs`: overlapping ranges as (a-side, b-side) examples and a count.

    One sorted sweep serves every pair, O(n log n): an item overlaps a paired group when
    that group's furthest-reaching earlier range ends at or after the item's start. The
    count is the number of items that overlap an earlier item of a paired group.
    """
    pairs = set(pairs)
    # Each group is already sorted, so this sort only merges the runs.
    items = sorted(itertools.chain.from_iterable(_group_items(g, tuple(c)) for g, c in groups.items()))
    partners = {g: [(h, (h, g) in pairs, (h, g) if (h, g) in pairs else (g, h)) for h in groups
                    if (g, h) in pairs or (h, g) in pairs] for g in groups}
    examples: dict[tuple[str, str], list[tuple[str, str]]] = {p: [] for p in pairs}
    counts = dict.fromkeys(pairs, 0)
    active: dict[str, tuple[int, str]] = {}  # group → (last, cidr) of its range reaching furthest so far
    for first, last, g, cidr in items:
        for h, earlier_first, pair in partners[g]:
            act = active.get(h)
            if act is not None and act[0] >= first:
                counts[pair] += 1
                found = examples[pair]
                if len(found) < limit:
                    found.append((act[1], cidr) if earlier_first else (cidr, act[1]))
        cur = active.get(g)
        if cur is None or last > cur[0]:
            active[g] = (last, cidr)
    return {p: (examples[p], counts[p]) for p in pairs}


def find_overlaps(groups: dict[str, tuple[str, ...]], pairs: set[tuple[str, str]],
                  limit: int = MAX_LISTED) -> tuple[list[tuple[str, str]], int]:
    """Overlaps for all `pairs` together: up to `limit` examples and the total count."""
    found = sweep(groups, pairs, limit)
    examples = [e for p in sorted(found) for e in found[p][0]][:limit]
    return examples, sum(n for _, n in found.values())


@functools.lru_cache(maxsize=8)
def _plan_overlaps(groups: tuple[tuple[str, tuple[str, ...]], ...]
                   ) -> dict[tuple[str, str], tuple[list[tuple[str, str]], int]]:
    """Every overlap rule of one address plan in one sweep, shared by the seven overlap checks."""
    return sweep(dict(groups), _OVERLAPS)


def outside_rfc1918(cidrs: tuple[str, ...]) -> list[str]:
    """The prefixes not wholly inside one RFC 1918 block (IPv6 included), in input order."""
    (a0, a1), (b0, b1), (c0, c1) = _RFC1918_RANGES
    bad = []
    for c in cidrs:
        if ":" in c:
            bad.append(c)
            continue
        _, first, last = _range(c)
        if not ((a0 <= first and last <= a1) or (b0 <= first and last <= b1) or (c0 <= first and last <= c1)):
            bad.append(c)
    return bad


def predicted_service_cidr(vpc_cidrs: tuple[str, ...]) -> str:
    """EKS's pick when no service CIDR is set: 172.20/16 when a VPC CIDR is in 10/8 (inferred)."""
    return "172.20.0.0/16" if any(c.startswith("10.") for c in vpc_cidrs) else "10.100.0.0/16"


# --- plan --------------------------------------------------------------------------

_OVERLAPS = [("node", "pod"), ("node", "vpc"), ("pod", "vpc"), ("node", "service"),
             ("pod", "service"), ("node", "node"), ("pod", "pod")]


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    rn = s.remote_network
    groups = {"node": tuple(rn.node_cidrs), "pod": tuple(rn.pod_cidrs), "vpc": tuple(s.vpc.cidrs)}
    svc = s.cluster.service_cidr
    service_known = svc is not None
    groups["service"] = (svc,) if svc else DEFAULT_SERVICE_CIDRS
    predicted = None if svc else predicted_service_cidr(groups["vpc"])
    toward = (s.cluster.control_plane_ips[0] if s.cluster.control_plane_ips
              else str(IPNetwork(s.vpc.cidrs[0]).ip + 1) if s.vpc.cidrs else None)

    def mk(cid: str, title: str, spec: Spec, docs: str = DOCS_NET) -> Check:
        return Check(id=cid, category=Category.CIDR, title=title, probe="cidr", spec=spec, timeout=5, docs=docs)

    checks = [
        mk("cidr.node.rfc1918", "Remote node CIDRs are IPv4 RFC 1918", Spec("rfc1918", {"node": groups["node"]}), DOCS_REMOTE),
        mk("cidr.pod.rfc1918", "Remote pod CIDRs are IPv4 RFC 1918", Spec("rfc1918", {"pod": groups["pod"]}), DOCS_REMOTE),
        mk("cidr.node.prefix-length", "Remote node CIDRs are between /8 and /32",
           Spec("size", {"node": groups["node"]}), DOCS_REMOTE),
        mk("cidr.pod.prefix-length", "Remote pod CIDRs are between /8 and /32",
           Spec("size", {"pod": groups["pod"]}), DOCS_REMOTE),
    ]
    if service_known:
        checks.append(mk("cidr.service.range", "Service CIDR is RFC 1918, /12 to /24, outside the VPC",
                         Spec("service-range", {"service": groups["service"], "vpc": groups["vpc"]}), DOCS_SVC))
    for a, b in _OVERLAPS:
        cid = f"cidr.overlap.{a}-{b}" if a != b else f"cidr.overlap.{a}s"
        title = (f"{_cap(GROUP_NAMES[a])}s do not overlap {GROUP_NAMES[b]}s" if a != b
                 else f"{_cap(GROUP_NAMES[a])}s do not overlap each other")
        # Every overlap check carries the whole plan so one cached sweep answers all seven.
        checks.append(mk(cid, title, Spec("overlap", dict(groups), pair=(a, b),
                                          service_known=service_known, predicted_service=predicted)))
    checks.append(mk("cidr.node-ip.in-node-cidr", "The node's IP is inside a remote node CIDR",
                     Spec("node-ip", {"node": groups["node"]}, node_ip=s.node.ip, route_toward=toward,
                          node_ip_origin=settings.origins.get("node.ip", "")),
                     "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html"))
    checks.append(mk("cidr.pod.host-collision", "Pod CIDRs do not collide with this host's addresses and routes",
                     Spec("host-collision", {"pod": groups["pod"]})))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> Evidence:
    if spec.rule == "host-collision":
        return Evidence(spec, local=tuple((p.cidr, p.kind, p.interface) for p in net.local_prefixes()))
    if spec.rule == "node-ip":
        if spec.node_ip:
            return Evidence(spec, node_ip=spec.node_ip, node_ip_source=f"from {spec.node_ip_origin or 'the site profile'}")
        if spec.route_toward:
            return Evidence(spec, node_ip=net.source_for(spec.route_toward),
                            node_ip_source=f"source address of the route toward {spec.route_toward}")
        return Evidence(spec, node_ip=net.source_for("192.0.2.1"), node_ip_source="source address of the default route")
    return Evidence(spec)


# --- evaluate (pure) -----------------------------------------------------------------

def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _listing(items: list[str]) -> str:
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    return _RULES[spec.rule](spec, ev)


def _empty(spec: Spec) -> Outcome | None:
    group, cidrs = next(iter(spec.groups.items()))
    if not cidrs:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"No {GROUP_NAMES[group]}s are configured.",
                            remediation=f"Set spec.remoteNetwork.{group}Cidrs in the site profile to check them.")
    return None


def _rfc1918(spec: Spec, ev: Evidence) -> Outcome:
    if (skip := _empty(spec)) is not None:
        return skip
    group, cidrs = next(iter(spec.groups.items()))
    bad = outside_rfc1918(tuple(cidrs))
    name = GROUP_NAMES[group]
    if bad:
        return Outcome(Status.FAIL, f"{_cap(name)} {_listing(bad)} is not inside an IPv4 RFC 1918 range "
                       "(10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16); EKS rejects it.",
                       measured=bad[0], threshold="RFC 1918",
                       remediation=f"Renumber the {name} into 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 "
                                   "(public, CGNAT 100.64.0.0/10 and IPv6 ranges are not supported).",
                       evidence={"offending": bad, "cidrs": list(cidrs)})
    return Outcome(Status.PASS, f"All {len(cidrs)} {name}s are IPv4 RFC 1918: {_listing(list(cidrs))}.",
                   evidence={"cidrs": list(cidrs)})


def _size(spec: Spec, ev: Evidence) -> Outcome:
    if (skip := _empty(spec)) is not None:
        return skip
    group, cidrs = next(iter(spec.groups.items()))
    name = GROUP_NAMES[group]
    bad = [c for c in cidrs if ":" not in c and int(c.split("/")[1]) < 8]
    if bad:
        return Outcome(Status.FAIL, f"{_cap(name)} {_listing(bad)} is larger than /8, the largest block EKS accepts.",
                       measured=f"/{bad[0].split('/')[1]}", threshold="/8 to /32",
                       remediation=f"Split {bad[0]} into /8 (or smaller) blocks, e.g. "
                                   f"{', '.join(str(s) for s in list(IPNetwork(bad[0]).subnet(8))[:2])}.",
                       evidence={"offending": bad})
    return Outcome(Status.PASS, f"All {len(cidrs)} {name}s are between /8 and /32.")


def _service_range(spec: Spec, ev: Evidence) -> Outcome:
    svc = spec.groups["service"][0]
    problems = []
    plen = int(svc.split("/")[1])
    if not is_rfc1918(svc):
        problems.append("is not inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    if not 12 <= plen <= 24:
        problems.append(f"is /{plen}, outside /12 to /24")
    examples, _ = find_overlaps({"service": (svc,), "vpc": spec.groups["vpc"]}, {("service", "vpc")})
    if examples:
        problems.append(f"overlaps VPC CIDR {examples[0][1]}")
    if problems:
        return Outcome(
            Status.FAIL, f"Service CIDR {svc} " + "; ".join(problems) + ".", measured=svc,
            threshold="RFC 1918, /12–/24, outside the VPC",
            remediation="The service CIDR is fixed at cluster creation: create the cluster with a "
                        "kubernetesNetworkConfig.serviceIpv4Cidr that meets the rules, or correct spec.cluster.serviceCidr.")
    return Outcome(Status.PASS, f"Service CIDR {svc} is RFC 1918, /{plen}, outside the VPC.")


def _overlap(spec: Spec, ev: Evidence) -> Outcome:
    a, b = spec.pair
    if not spec.groups.get(a) or not spec.groups.get(b):
        missing = a if not spec.groups.get(a) else b
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"No {GROUP_NAMES[missing]}s are configured.")
    examples, count = _plan_overlaps(tuple(sorted(spec.groups.items())))[(a, b)]
    na, nb = GROUP_NAMES[a], GROUP_NAMES[b]
    evidence: dict[str, Any] = {"overlaps": [list(p) for p in examples], "count": count}
    if b == "service" and not spec.service_known:
        predicted = spec.predicted_service
        hit = [p for p in examples if p[1] == predicted]
        other = [p for p in examples if p[1] != predicted]
        evidence["predictedServiceCidr"] = predicted
        if hit:
            return Outcome(Status.FAIL, f"{_cap(na)} {hit[0][0]} overlaps {predicted}, the service CIDR "
                           "EKS picks by default for this VPC (the service CIDR is not set in the profile).",
                           measured=hit[0][0], threshold=f"no overlap with {predicted}",
                           remediation=f"Renumber {hit[0][0]}, or create the cluster with an explicit service CIDR "
                                       "that avoids it, and set spec.cluster.serviceCidr.", evidence=evidence)
        if other:
            return Outcome(Status.WARN, f"{_cap(na)} {other[0][0]} overlaps the EKS default service CIDR "
                           f"{other[0][1]}; EKS would most likely pick {predicted} for this VPC, but that is not "
                           "documented.", measured=other[0][0], threshold="no overlap",
                           remediation="Set spec.cluster.serviceCidr to the cluster's real service CIDR "
                                       "(aws eks describe-cluster … kubernetesNetworkConfig.serviceIpv4Cidr).",
                           evidence=evidence)
        return Outcome(Status.PASS, f"No {na} overlaps either EKS default service CIDR "
                       f"({', '.join(DEFAULT_SERVICE_CIDRS)}); EKS would pick {predicted}.", evidence=evidence)
    if examples:
        first = examples[0]
        rest = f" ({count} overlaps in all)" if count > 1 else ""
        what = f"{_cap(na)} {first[0]} overlaps {nb} {first[1]}{rest}."
        if a == b:
            what = f"{_cap(na)}s {first[0]} and {first[1]} overlap{rest}."
        fix = {"vpc": "Renumber the on-prem range so it lies outside every VPC CIDR; routing cannot tell them apart.",
               "service": "Renumber the on-prem range so it lies outside the service CIDR, or recreate the cluster "
                          "with another service CIDR.",
               "pod": "Give nodes and pods disjoint ranges.", "node": "Remove or merge the duplicate ranges."}[b]
        return Outcome(Status.FAIL, what, measured=f"{first[0]} ∩ {first[1]}", threshold="no overlap",
                       remediation=fix, evidence=evidence)
    if a == b:
        return Outcome(Status.PASS, f"The {len(spec.groups[a])} {na}s do not overlap each other.", evidence=evidence)
    return Outcome(Status.PASS, f"{_cap(na)}s and {nb}s do not overlap "
                   f"({len(spec.groups[a])} and {len(spec.groups[b])} ranges).", evidence=evidence)


def _node_ip(spec: Spec, ev: Evidence) -> Outcome:
    if (skip := _empty(spec)) is not None:
        return skip
    cidrs = spec.groups["node"]
    ip = ev.node_ip
    if ip is None:
        return Outcome(Status.FAIL, "This host has no route toward the VPC, so it has no node IP to report.",
                       measured="no route", threshold=_listing(list(cidrs)),
                       remediation="Add a route toward the VPC CIDRs, or set spec.node.ip (kubelet --node-ip).",
                       evidence={"source": ev.node_ip_source})
    at = _range(ip + "/32")[1] if ":" not in ip else -1
    inside = next((c for c in cidrs if ":" not in c and _range(c)[1] <= at <= _range(c)[2]), None)
    evidence = {"nodeIp": ip, "source": ev.node_ip_source, "nodeCidrs": list(cidrs)}
    if inside:
        return Outcome(Status.PASS, f"Node IP {ip} ({ev.node_ip_source}) is inside remote node CIDR {inside}.",
                       measured=ip, evidence=evidence)
    return Outcome(Status.FAIL, f"Node IP {ip} ({ev.node_ip_source}) is outside every remote node CIDR "
                   f"({_listing(list(cidrs))}); CSRs will stay Pending and kubectl logs/exec will fail.",
                   measured=ip, threshold=_listing(list(cidrs)),
                   remediation=f"Set kubelet --node-ip to this host's address inside {cidrs[0]} "
                               "(spec.kubelet.flags in the NodeConfig), or add this host's subnet to "
                               "RemoteNodeNetworks.", evidence=evidence)


def _host_collision(spec: Spec, ev: Evidence) -> Outcome:
    if (skip := _empty(spec)) is not None:
        return skip
    local = {c: (kind, iface) for c, kind, iface in ev.local}
    examples, count = find_overlaps({"pod": spec.groups["pod"], "local": tuple(local)}, {("pod", "local")})
    if examples:
        pod, mine = examples[0]
        kind, iface = local[mine]
        return Outcome(Status.FAIL, f"Pod CIDR {pod} collides with this host's {kind} {mine} on {iface}; "
                       "pod traffic would be routed to that interface.",
                       measured=f"{pod} ∩ {mine}", threshold="no overlap",
                       remediation=f"Move {iface} off {mine} (e.g. docker's bip / default-address-pools) "
                                   f"or choose a pod CIDR outside it.",
                       evidence={"collisions": [list(p) for p in examples], "count": count})
    return Outcome(Status.PASS, f"Pod CIDRs do not collide with this host's {len(local)} addresses and routes.",
                   evidence={"localPrefixes": sorted(local)})


_RULES = {"rfc1918": _rfc1918, "size": _size, "service-range": _service_range, "overlap": _overlap,
          "node-ip": _node_ip, "host-collision": _host_collision}
