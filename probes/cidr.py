"""Address plan: RFC 1918 and size rules, overlaps, node IP, collisions with this host.

Rules from docs/reference/eks-hybrid-network-requirements.md §1. Overlaps are found with one
sorted sweep over integer ranges, so 100,000 prefixes take well under a second.

Over 500 lines on purpose: one rule table (RFC 1918, prefix lengths, overlaps, node IP, host
collisions) with its messages and remediations, planned, collected and evaluated together.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from netaddr import IPNetwork, IPSet

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.phase import JOINED, PRE_JOIN, cni_of_device, effective
from netcheck.settings import DEFAULT_SERVICE_CIDRS, Settings, Thresholds
from probes import CheckKind, kind_in

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
    node_name: str | None = None  # IAM Roles Anywhere node name the kubelet resolves when --node-ip is unset
    cni: str = "none"  # the configured CNI plugin
    pod_address: str | None = None  # spec.inbound.podAddress: netcheck's own address in the pod CIDR
    phase: str = PRE_JOIN


@dataclass(frozen=True)
class Evidence:
    spec: Spec
    local: tuple[tuple[str, ...], ...] = ()  # (cidr, kind, interface[, address, route type])
    node_ip: str | None = None
    node_ip_source: str = ""
    links: tuple[str, ...] = ()  # every interface of this namespace (CNI devices among them)
    host_ips: dict[str, str] = field(default_factory=dict)  # this host's IPv4 addresses → interface
    node_interface: str | None = None  # the interface holding the kubelet's node IP
    vpc: dict[str, Any] = field(default_factory=dict)  # route toward the VPC: source, interface, target
    how: str = ""  # configured | resolved | default-route | none


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


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('cidr.node.rfc1918', 'Remote node CIDRs are IPv4 RFC 1918', Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/APIReference/API_RemoteNodeNetwork.html'),
    CheckKind('cidr.pod.rfc1918', 'Remote pod CIDRs are IPv4 RFC 1918', Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/APIReference/API_RemoteNodeNetwork.html'),
    CheckKind('cidr.node.prefix-length', 'Remote node CIDRs are between /8 and /32', Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/APIReference/API_RemoteNodeNetwork.html'),
    CheckKind('cidr.pod.prefix-length', 'Remote pod CIDRs are between /8 and /32', Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/APIReference/API_RemoteNodeNetwork.html'),
    CheckKind('cidr.service.range', 'Service CIDR is RFC 1918, /12 to /24, outside the VPC', Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/APIReference/API_KubernetesNetworkConfigRequest.html'),
    CheckKind('cidr.overlap.*', 'Node, pod, service and VPC CIDRs do not overlap (one check per pair)', Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
    CheckKind('cidr.node-ip.in-node-cidr', "The kubelet's node IP is inside a remote node CIDR and faces the VPC", Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html', phased=True),
    CheckKind('cidr.pod.host-collision', "Pod CIDRs do not collide with this host's addresses and routes", Category.CIDR,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html', phased=True),
)


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

    def mk(cid: str, title: str, spec: Spec) -> Check:
        return kind_in(CHECKS, cid).check(cid, spec, probe="cidr", title=title, timeout=5)

    checks = [
        mk("cidr.node.rfc1918", "Remote node CIDRs are IPv4 RFC 1918", Spec("rfc1918", {"node": groups["node"]})),
        mk("cidr.pod.rfc1918", "Remote pod CIDRs are IPv4 RFC 1918", Spec("rfc1918", {"pod": groups["pod"]})),
        mk("cidr.node.prefix-length", "Remote node CIDRs are between /8 and /32",
           Spec("size", {"node": groups["node"]})),
        mk("cidr.pod.prefix-length", "Remote pod CIDRs are between /8 and /32",
           Spec("size", {"pod": groups["pod"]})),
    ]
    if service_known:
        checks.append(mk("cidr.service.range", "Service CIDR is RFC 1918, /12 to /24, outside the VPC",
                         Spec("service-range", {"service": groups["service"], "vpc": groups["vpc"]})))
    for a, b in _OVERLAPS:
        cid = f"cidr.overlap.{a}-{b}" if a != b else f"cidr.overlap.{a}s"
        title = (f"{_cap(GROUP_NAMES[a])}s do not overlap {GROUP_NAMES[b]}s" if a != b
                 else f"{_cap(GROUP_NAMES[a])}s do not overlap each other")
        # Every overlap check carries the whole plan so one cached sweep answers all seven.
        checks.append(mk(cid, title, Spec("overlap", dict(groups), pair=(a, b),
                                          service_known=service_known, predicted_service=predicted)))
    phase = effective(settings)
    checks.append(replace(
        mk("cidr.node-ip.in-node-cidr", "The kubelet's node IP is inside a remote node CIDR and is the address "
                                         "this host uses toward the VPC",
           Spec("node-ip", {"node": groups["node"]}, node_ip=s.node.ip, route_toward=toward, node_name=s.node.name,
                phase=phase, node_ip_origin=settings.origins.get("node.ip", ""))),
        phases=((PRE_JOIN, "the IP nodeadm init will validate: --node-ip, else the IAM Roles Anywhere node name "
                           "resolved, else the default-route interface's first address"),
                (JOINED, "the same choice the running kubelet made"))))
    checks.append(replace(
        mk("cidr.pod.host-collision", "Pod CIDRs do not collide with this host's addresses and routes",
           Spec("host-collision", {"pod": groups["pod"]}, cni=s.cni.plugin, pod_address=s.inbound.pod_address,
                phase=phase)),
        phases=((PRE_JOIN, "anything in the pod CIDR is a collision except spec.inbound.podAddress (and a CNI's "
                           "own devices, should one already be there)"),
                (JOINED, "the CNI's own devices, addresses and routes (and spec.inbound.podAddress) are not "
                         "collisions; the report says what the CNI holds"))))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> Evidence:
    if spec.rule == "host-collision":
        local = tuple((p.cidr, p.kind, p.interface, p.address, p.type) for p in net.local_prefixes())
        return Evidence(spec, local=local, links=tuple(net.link_names()))
    if spec.rule == "node-ip":
        return _collect_node_ip(spec, net)
    return Evidence(spec)


def _usable(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return a.version == 4 and not (a.is_loopback or a.is_link_local or a.is_multicast or a.is_unspecified)


def _collect_node_ip(spec: Spec, net: Net) -> Evidence:
    """The node IP as nodeadm's GetNodeIP (the kubelet's order) picks it, and the source toward the VPC."""
    host_ips = {p.address: p.interface for p in net.local_prefixes() if p.kind == "address" and p.address}
    vpc: dict[str, Any] = {}
    if spec.route_toward:
        r = net.route_lookup(spec.route_toward)
        vpc = {"target": spec.route_toward, "result": r.result, "source": r.source, "interface": r.interface,
               "gateway": r.gateway}
    ip, how, source = None, "none", ""
    if spec.node_ip:
        ip, how = spec.node_ip, "configured"
        source = (f"from {spec.node_ip_origin}" if spec.node_ip_origin else
                  "--node-ip: NodeConfig kubelet flags, netcheck's --node-ip or spec.node.ip")
    else:
        if spec.node_name:
            resolved = net.lookup_host(spec.node_name)
            vpc["nodeNameResolved"] = list(resolved)
            hit = next((a for a in resolved if _usable(a) and a in host_ips), None)
            if hit:
                ip, how, source = hit, "resolved", f"node name {spec.node_name} resolved (IAM Roles Anywhere)"
        if ip is None:
            d = net.default_route()
            if d is not None:
                vpc["defaultRoute"] = {"interface": d.interface, "gateway": d.gateway, "addresses": list(d.addresses)}
                if d.address:
                    ip, how = d.address, "default-route"
                    source = f"first global address of {d.interface}, the default-route interface"
    return Evidence(spec, node_ip=ip, node_ip_source=source, host_ips=host_ips,
                    node_interface=host_ips.get(ip) if ip else None, vpc=vpc, how=how)


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
    vpc_src, vpc_if = ev.vpc.get("source"), ev.vpc.get("interface")
    lab = spec.route_toward is not None and ipaddress.ip_address(spec.route_toward).is_loopback
    evidence: dict[str, Any] = {"nodeIp": ip, "source": ev.node_ip_source, "nodeCidrs": list(cidrs),
                                "nodeInterface": ev.node_interface, "towardVpc": ev.vpc, "chosenBy": ev.how}
    fix_flag = "add --node-ip=<address> to spec.kubelet.flags in the NodeConfig"
    if ip is None:
        default = ev.vpc.get("defaultRoute")
        why = ("there is no --node-ip, " + ("the node name does not resolve to an address of this host, "
                                             if spec.node_name else "")
               + (f"and the default-route interface {default['interface']} has no global IPv4 address"
                  if default else "and no IPv4 default route"))
        return Outcome(Status.FAIL, f"The kubelet cannot pick a node IP: {why}; nodeadm init stops with "
                       "\"couldn't get ip address of node\".", measured="none", threshold=_listing(list(cidrs)),
                       remediation=f"Set the node IP explicitly: {fix_flag.replace('<address>', '<ip in ' + cidrs[0] + '>')} "
                                   "(or spec.node.ip / --node-ip for netcheck).", evidence=evidence)
    at = _range(ip + "/32")[1] if ":" not in ip else -1
    inside = next((c for c in cidrs if ":" not in c and _range(c)[1] <= at <= _range(c)[2]), None)
    if not inside:
        better = next((a for a in ev.host_ips if ":" not in a and any(
            _range(c)[1] <= _range(a + "/32")[1] <= _range(c)[2] for c in cidrs if ":" not in c)), None)
        if vpc_src and vpc_src != ip and not lab and any(_range(c)[1] <= _range(vpc_src + "/32")[1] <= _range(c)[2]
                                                         for c in cidrs if ":" not in c):
            better = vpc_src
        hint = f"--node-ip={better}" if better else f"--node-ip=<this host's address in {cidrs[0]}>"
        on = f" on {ev.node_interface}" if ev.node_interface else ""
        toward = (f" This host reaches the VPC from {vpc_src} on {vpc_if or '?'}." if vpc_src and vpc_src != ip
                  and not lab else "")
        return Outcome(Status.FAIL, f"Node IP {ip}{on} ({ev.node_ip_source}) is outside every remote node CIDR "
                       f"({_listing(list(cidrs))}); nodeadm init stops with \"node IP {ip} is not in any of the "
                       f"remote network CIDR blocks\", and CSRs would stay Pending.{toward}",
                       measured=ip, threshold=_listing(list(cidrs)),
                       remediation=f"In the NodeConfig's spec.kubelet.flags add {hint}, or add this host's subnet "
                                   "to the cluster's RemoteNodeNetworks.", evidence=evidence)
    if lab:
        return Outcome(Status.PASS, f"Node IP {ip} ({ev.node_ip_source}) is inside remote node CIDR {inside}; the "
                       f"VPC target {spec.route_toward} is a loopback address (demo or lab profile), so the source "
                       "toward the VPC is not compared.", measured=ip, evidence=evidence)
    if ev.how == "configured" and ev.host_ips and ip not in ev.host_ips:
        return Outcome(Status.FAIL, f"Node IP {ip} ({ev.node_ip_source}) is not an address of this host "
                       f"({_listing(sorted(ev.host_ips))}); the kubelet refuses a node IP it does not hold.",
                       measured=ip, threshold="an address of this host",
                       remediation=f"Assign {ip} to the node's interface, or correct --node-ip in the NodeConfig's "
                                   "spec.kubelet.flags (run netcheck on the node itself).", evidence=evidence)
    if vpc_src and vpc_src != ip:
        where = f"{ev.node_interface}" if ev.node_interface else "an interface of this host"
        return Outcome(Status.FAIL, f"The kubelet will report node IP {ip} on {where} ({ev.node_ip_source}), but "
                       f"this host reaches the VPC from {vpc_src} on {vpc_if or '?'}: the control plane would "
                       f"talk to {ip} while the node's own traffic comes from {vpc_src}, so kubelet logs/exec, "
                       "webhooks and the CNI's node address do not match the path to the VPC.",
                       measured=f"{ip} ≠ {vpc_src}", threshold=f"{vpc_src} (source toward {spec.route_toward})",
                       remediation=f"Either {fix_flag.replace('<address>', vpc_src)} (the VPC-side address on "
                                   f"{vpc_if or '?'}), or route the VPC CIDRs out of {where} with source {ip} "
                                   f"(ip route replace <vpc-cidr> via <router> dev {ev.node_interface or '<if>'} "
                                   f"src {ip}).", evidence=evidence)
    via = f" on {ev.node_interface}" if ev.node_interface else ""
    same = (f"; it is also the source toward the VPC ({spec.route_toward} via {vpc_if})" if vpc_src else "")
    return Outcome(Status.PASS, f"Node IP {ip}{via} ({ev.node_ip_source}) is inside remote node CIDR {inside}"
                   f"{same}.", measured=ip, evidence=evidence)


_CNI_NAMES = {"cilium": "Cilium", "calico": "Calico"}


def _owner(spec: Spec, row: tuple[str, ...], cnis: set[str]) -> str | None:
    """Who owns a local prefix in the pod CIDR ('cilium', 'calico', 'netcheck'), or None for a collision."""
    kind, iface = row[1], row[2]
    address = row[3] if len(row) > 3 else ""
    rtype = row[4] if len(row) > 4 else "unicast"
    if spec.pod_address and kind == "address" and (address or row[0].split("/")[0]) == spec.pod_address:
        return "netcheck"
    cni = cni_of_device(iface) if iface else None
    if cni and cni in cnis:
        return cni
    if kind == "route" and not iface and rtype == "blackhole" and "calico" in cnis:
        return "calico"  # the blackhole route felix keeps for each IPAM block this node owns
    return None


def _slices(owned: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """This node's pod-CIDR slice: Calico's blackhole block routes; Cilium's route holding cilium_host's address."""
    out = [r[0] for who, r in owned if who == "calico" and r[1] == "route" and not r[2]]
    host_ips = [r[3] for who, r in owned if who == "cilium" and r[1] == "address" and r[2] == "cilium_host" and r[3]]
    for who, r in owned:
        if who == "cilium" and r[1] == "route" and r[2] == "cilium_host" and not r[0].endswith("/32") and any(
                _range(r[0])[1] <= _range(a + "/32")[1] <= _range(r[0])[2] for a in host_ips) and r[0] not in out:
            out.append(r[0])
    return out


def _holds(owned: list[tuple[str, tuple[str, ...]]]) -> str:
    """' Cilium holds ...' / ' netcheck's podAddress ...': what the exempt prefixes are."""
    parts = []
    for who in ("cilium", "calico"):
        mine = [r for w, r in owned if w == who]
        if not mine:
            continue
        devices = list(dict.fromkeys(r[2] for r in mine if r[2]))
        slices = _slices([(who, r) for r in mine])
        addrs = [f"{r[3]} on {r[2]}" for r in mine if r[1] == "address" and len(r) > 3 and r[3]]
        text = f"{_CNI_NAMES[who]} holds {len(mine)} of them as expected"
        if slices:
            text += f": this node's pod-CIDR slice {_listing(slices)}"
        if addrs:
            text += f"{',' if slices else ':'} address {_listing(addrs)}"
        text += f", on devices {_listing(devices)}" if devices else ""
        parts.append(text)
    ours = [r[3] or r[0] for w, r in owned if w == "netcheck"]
    if ours:
        parts.append(f"{ours[0]} is netcheck's own spec.inbound.podAddress")
    return (" " + "; ".join(parts) + ".") if parts else ""


def _host_collision(spec: Spec, ev: Evidence) -> Outcome:
    if (skip := _empty(spec)) is not None:
        return skip
    # The CNI is the configured one, plus any whose devices exist here.
    cnis = {c for c in (cni_of_device(n) for n in ev.links) if c}
    if spec.cni in _CNI_NAMES:
        cnis.add(spec.cni)
    by_cidr: dict[str, list[tuple[str, ...]]] = {}
    for r in dict.fromkeys(ev.local):
        by_cidr.setdefault(r[0], []).append(r)
    pods = spec.groups["pod"]
    owned: list[tuple[str, tuple[str, ...]]] = []
    bad: list[tuple[str, tuple[str, ...]]] = []
    pod_ranges = [(c, _range(c)) for c in pods]
    for mine, group in sorted(by_cidr.items(), key=lambda kv: _range(kv[0])):
        ver, lo, hi = _range(mine)
        pod = next((c for c, (v, a, b) in pod_ranges if v == ver and a <= hi and lo <= b), None)
        if pod is None:
            continue
        for r in group:
            who = _owner(spec, r, cnis)
            if who:
                owned.append((who, r))
            else:
                bad.append((pod, r))
    evidence: dict[str, Any] = {"cni": sorted(cnis), "phase": spec.phase, "localPrefixes": sorted(by_cidr),
                                "owned": [{"owner": w, "cidr": r[0], "kind": r[1], "interface": r[2],
                                           **({"type": r[4]} if len(r) > 4 else {})} for w, r in owned]}
    if bad:
        pod, r = bad[0]
        kind, mine, iface = r[1], r[0], r[2] or (f"a {r[4]} route" if len(r) > 4 else "?")
        more = f" ({len(bad)} collisions in all)" if len(bad) > 1 else ""
        evidence["collisions"] = [[p, x[0], x[2]] for p, x in bad[:MAX_LISTED]]
        evidence["count"] = len(bad)
        return Outcome(Status.FAIL, f"Pod CIDR {pod} collides with this host's {kind} {mine} on {iface}{more}; "
                       "pod traffic would be routed to that interface.",
                       measured=f"{pod} ∩ {mine}", threshold="no overlap",
                       remediation=f"Move {iface} off {mine} (e.g. docker's bip / default-address-pools, or the "
                                   "bridge's/VPN's address) or choose a pod CIDR outside it.",
                       evidence=evidence)
    tail = _holds(owned)
    if not owned and spec.phase == JOINED and cnis:
        tail = (f" No {', '.join(_CNI_NAMES[c] for c in sorted(cnis))} address or route inside the pod CIDRs was "
                "found on this joined node.")
    return Outcome(Status.PASS, f"Pod CIDRs do not collide with this host's {len(by_cidr)} addresses and routes."
                   + tail, evidence=evidence)


_RULES = {"rfc1918": _rfc1918, "size": _size, "service-range": _service_range, "overlap": _overlap,
          "node-ip": _node_ip, "host-collision": _host_collision}
