"""Mixed mode DNS: pods on hybrid nodes that use CoreDNS running in the VPC need DNS (UDP and TCP 53)
from the pod network to it.

The EKS guide ("Configure CoreDNS for hybrid nodes", mixed mode clusters) lets CoreDNS replicas run on
cloud nodes while pods on hybrid nodes query them; DNS uses UDP 53 and falls back to TCP 53 for
large answers, so both must pass from the remote pod CIDR to the VPC (and back: the VPC must route
the remote pod CIDR to the nodes). Set spec.dns.vpcCoreDns to the CoreDNS addresses in the VPC.
Each is asked one real query (any DNS answer, even NXDOMAIN, shows the port is open), from
spec.inbound.podAddress when this host holds it, else from this node's own address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from netcheck.model import Category, Check, Outcome, Status
from netcheck.net import Net
from netcheck.net.dial import DialResult
from netcheck.net.lookup import DnsAnswer
from netcheck.settings import Settings, Thresholds
from probes import CheckKind

DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-webhooks.html"
QUERY = "kubernetes.default.svc.cluster.local"
TIMEOUT_S = 3.0

CHECKS: tuple[CheckKind, ...] = (
    CheckKind("dns.coredns.*", "CoreDNS in the VPC answers on UDP and TCP 53 from the pod network (mixed mode)",
              Category.DNS, docs=DOCS),
)


@dataclass(frozen=True)
class Spec:
    ip: str
    proto: Literal["udp", "tcp"]
    pod_address: str | None
    pod_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    source: str | None  # the source address used (None: the kernel's choice)
    source_note: str
    dns: DnsAnswer | None = None
    dial: DialResult | None = None


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    checks = []
    for ip in s.dns.vpc_core_dns:
        for proto in ("udp", "tcp"):
            checks.append(CHECKS[0].check(f"dns.coredns.{ip}.{proto}",
                                          Spec(ip, proto, s.inbound.pod_address, tuple(s.remote_network.pod_cidrs)),  # type: ignore[arg-type]
                                          probe="coredns", title=f"CoreDNS at {ip} in the VPC answers on "
                                                                 f"{proto.upper()} 53", timeout=TIMEOUT_S + 2))
    return checks


def collect(spec: Spec, net: Net) -> Evidence:
    source, note = None, "from this node's own address (no pod address on this host yet)"
    if spec.pod_address:
        held = {p.address for p in net.local_prefixes() if p.kind == "address"}
        if spec.pod_address in held:
            source, note = spec.pod_address, f"from the pod address {spec.pod_address} (spec.inbound.podAddress)"
        else:
            note = f"from this node's own address ({spec.pod_address} is not on this host)"
    if spec.proto == "tcp":
        return Evidence(source, note, dial=net.dial(spec.ip, 53, TIMEOUT_S, source))
    return Evidence(source, note, dns=net.resolve(QUERY, "A", (spec.ip,), TIMEOUT_S))


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    target = f"CoreDNS at {spec.ip}:53/{spec.proto}"
    evidence: dict[str, Any] = {"server": spec.ip, "proto": spec.proto, "source": ev.source, "sourceNote": ev.source_note,
                                "podCidrs": list(spec.pod_cidrs)}
    back = ("; the VPC must also route the remote pod CIDR " + ", ".join(spec.pod_cidrs) + " back to the nodes"
            if spec.pod_cidrs else "")
    fix = (f"Allow UDP and TCP 53 from the remote pod CIDR to {spec.ip} in the CoreDNS pods' security group and "
           f"any firewall on the way{back}.")
    if ev.dial is not None:
        d = ev.dial
        evidence["dial"] = {"outcome": d.outcome, "reason": d.reason, "seconds": round(d.seconds, 3)}
        if d.outcome == "connected":
            return Outcome(Status.PASS, f"{target} accepted a TCP connection ({ev.source_note}) in "
                           f"{d.seconds * 1000:.0f} ms.", measured=d.outcome, evidence=evidence)
        return Outcome(Status.FAIL, f"{target} did not accept TCP ({d.outcome}: {d.reason}; {ev.source_note}); pods on "
                       "hybrid nodes lose answers too large for UDP.", measured=d.outcome, threshold="connected",
                       remediation=fix, evidence=evidence)
    assert ev.dns is not None
    a = ev.dns
    answered = a.answered
    evidence["dns"] = a.to_evidence()
    if answered is not None:
        return Outcome(Status.PASS, f"{target} answered a query for {QUERY} with {answered.rcode} "
                       f"({ev.source_note}).", measured=answered.rcode, evidence=evidence)
    return Outcome(Status.FAIL, f"{target} gave no DNS answer ({a.status}: {a.detail or 'no reply'}; {ev.source_note}); "
                   "pods on hybrid nodes that use it cannot resolve names.", measured=a.status,
                   threshold="a DNS answer", remediation=fix, evidence=evidence)
