"""This host's own firewall, judged from its ruleset before any packet is sent.

Check ids (stable):
  firewall.local.<proto>-<port>   the local nftables/iptables rules (also what firewalld and ufw
                                  program) let a new inbound packet reach this port: the kubelet
                                  port and webhook ports from the VPC, the CNI ports from peers

The walk over prerouting/input chains is `decide` below; a rule whose match
depends on something netcheck cannot know makes the answer WARN instead of a guess.

Pre-join, ports that `nodeadm init` opens itself through ufw or firewalld (10250/tcp,
10256/tcp, 30000-32767/tcp; aws/eks-hybrid internal/system/ports.go) are judged with that
front-end's own rules set aside: it will accept them. Raw nftables/iptables rules, CNI ports
and webhook ports are judged as they are, in both phases.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.phase import JOINED, NODEADM_PORTS, PRE_JOIN, effective
from netcheck.settings import Settings, Thresholds
from probes import CheckKind
from probes.base import MissingPrivilege, ProbeSkip
from probes.cnimodel import for_settings as cni_model

if TYPE_CHECKING:
    from netcheck.net.nft import Chain, Match, Rule, Ruleset

DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"


@dataclass(frozen=True)
class Spec:
    proto: str
    port: int
    purpose: str
    sources: tuple[str, ...]  # CIDRs the traffic comes from
    source_label: str
    phase: str = PRE_JOIN


@dataclass(frozen=True)
class Evidence:
    ruleset: dict[str, Any]


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('firewall.local.*', "This host's firewall admits a port nodes need (kubelet, webhooks, CNI)", Category.HOST,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html', phased=True),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    vpc = tuple(s.vpc.cidrs) + tuple(f"{ip}/32" for ip in s.cluster.control_plane_ips if ":" not in ip)
    peers = tuple(f"{p}/32" for p in s.peers if ":" not in p) + tuple(s.remote_network.node_cidrs)
    wanted: list[tuple[str, int, str, tuple[str, ...], str]] = [
        ("tcp", s.inbound.kubelet_port, "kubelet", vpc, "the VPC")]
    wanted += [("tcp", p, "webhook", vpc, "the VPC") for p in s.webhook_ports]
    cni = cni_model(settings)  # the CNI's ports for its mode (probes/cnimodel.py); router-only ones too
    wanted += [(p.proto, p.port, p.purpose, peers, "other nodes") for p in (cni.ports if cni else ())]
    advisory = {f"{p.proto}-{p.port}" for p in (cni.ports if cni else ()) if not p.required}
    checks, seen = [], set()
    phase = effective(settings)
    for proto, port, purpose, sources, label in wanted:
        cid = "firewall.local.ipip" if proto == "ipip" else f"firewall.local.{proto}-{port}"
        if cid in seen:
            continue
        seen.add(cid)
        checks.append(CHECKS[0].check(cid, Spec(proto, port, purpose, tuple(dict.fromkeys(sources)), label, phase),
                                      probe="firewall", title=f"This host's firewall admits {purpose} traffic on "
                                                              f"{_shown(proto, port)}",
                                      advisory=f"{proto}-{port}" in advisory, timeout=10,
                                      phases=_NOTES if _opened_by_nodeadm(proto, port) else ()))
    return checks


_NOTES = ((PRE_JOIN, "ufw/firewalld rules do not fail it: nodeadm init opens this port in them; other "
                     "nftables/iptables rules are judged as they are"),
          (JOINED, "judged from every rule as it is now"))


def _opened_by_nodeadm(proto: str, port: int) -> str | None:
    """What nodeadm opens this port for (e.g. 'kubelet'), or None."""
    return next((what for p, lo, hi, what in NODEADM_PORTS if p == proto and lo <= port <= hi), None)


def _front_end(ruleset: Ruleset) -> str | None:
    """'ufw' or 'firewalld' when that front-end is active (nodeadm only programs an active one)."""
    if ruleset.firewalld == "running":
        return "firewalld"
    if ruleset.ufw == "active":
        return "ufw"
    return None


def _without_front_end(ruleset: Ruleset, front: str) -> Ruleset:
    """The ruleset as if `front` accepted the packet: its own chains (and ufw's INPUT policy) set aside."""
    chains = []
    for c in ruleset.chains:
        if front == "firewalld" and c.table == "firewalld":
            continue
        if front == "ufw":
            if c.name.startswith(("ufw-", "ufw6-")):
                continue
            if c.table == "filter" and c.family in ("ip", "ip6") and c.name == "INPUT":
                rules = tuple(r for r in c.rules if not (r.verdict or "").split(":", 1)[-1].startswith("ufw"))
                c = replace(c, rules=rules, policy="accept")  # ufw's default-deny is this policy
        chains.append(c)
    return replace(ruleset, chains=tuple(chains))


def collect(spec: Spec, net: Net) -> Evidence:
    from netcheck.net.nft import FirewallUnreadable

    try:
        ruleset = net.firewall_ruleset()
    except FirewallUnreadable as exc:
        text = " ".join(str(exc).split())  # nft's multi-line stderr → one line
        if "Operation not permitted" in text or "Permission denied" in text:
            raise MissingPrivilege(f"The firewall ruleset is not readable: {text}",
                                   "Run netcheck as root (or with CAP_NET_ADMIN).") from None
        raise ProbeSkip(SkipReason.DEPENDENCY, f"The firewall ruleset could not be read: {text}",
                        "Check that `nft -j list ruleset` works on this host.") from None
    return Evidence(ruleset.to_evidence())


def _shown(proto: str, port: int) -> str:
    return "IP protocol 4" if proto == "ipip" else f"{proto.upper()} {port}"


def _fix(spec: Spec, ev: dict[str, Any], chain: str) -> str:
    src = spec.sources[0] if spec.sources else "<source>"
    if spec.proto == "ipip":  # a protocol, not a port
        return (f"Allow IP protocol 4 from {src}: nft insert rule {chain or 'inet filter input'} ip saddr {src} "
                "ip protocol 4 accept (iptables: -p 4; firewalld: --add-protocol=ipencap; ufw: a before.rules "
                "line with -p 4).")
    if ev.get("firewalld") == "running":
        return (f"firewall-cmd --permanent --add-port={spec.port}/{spec.proto} && firewall-cmd --reload "
                "(or add a rich rule for the source range).")
    if ev.get("ufw") == "active":
        return f"ufw allow proto {spec.proto} from {src} to any port {spec.port}"
    if ev.get("source") == "iptables":
        return f"iptables -I INPUT -p {spec.proto} -s {src} --dport {spec.port} -j ACCEPT (and persist it)"
    where = chain or "inet filter input"
    return (f"nft insert rule {where} ip saddr {src} {spec.proto} dport {spec.port} accept "
            "(before the dropping rule; persist it in /etc/nftables.conf).")


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    from netcheck.net.nft import ruleset_from_evidence

    doc = ev.ruleset
    ruleset = ruleset_from_evidence(doc)
    what = f"{spec.purpose} traffic ({_shown(spec.proto, spec.port)}) from {spec.source_label}"
    evidence = {"source": ruleset.source, "firewalld": ruleset.firewalld, "ufw": ruleset.ufw,
                "chains": [c.label for c in ruleset.chains if c.hook]}
    if ruleset.source == "none":
        return Outcome.skip(SkipReason.NOT_APPLICABLE, "Neither nft nor iptables-save is installed, so the local "
                            "firewall was not read.", remediation="Install nftables to let netcheck read the rules.",
                            evidence=evidence)
    packet = Packet(spec.proto, spec.port, spec.sources)
    verdict = decide(ruleset, packet)
    evidence.update(worst=verdict.worst.by, best=verdict.best.by, uncertain=verdict.uncertain, phase=spec.phase)
    opened_for, front = _opened_by_nodeadm(spec.proto, spec.port), _front_end(ruleset)
    if spec.phase == PRE_JOIN and opened_for and front and verdict.worst.blocked:
        later = decide(_without_front_end(ruleset, front), packet)
        evidence.update(frontEnd=front, nowDroppedBy=verdict.worst.by, afterNodeadm=later.worst.by)
        if not later.worst.blocked and not later.best.blocked:
            return Outcome(Status.PASS, f"{front} drops {what} now ({verdict.worst.by}), but nodeadm init opens "
                           f"{spec.port}/{spec.proto} ({opened_for}) in {front} itself, and no other rule drops it.",
                           measured="opened by nodeadm init", evidence=evidence)
        verdict = later  # the front-end will accept it: judge what is left
        evidence.update(worst=verdict.worst.by, best=verdict.best.by, uncertain=verdict.uncertain)
    if verdict.sure and verdict.worst.blocked:
        return Outcome(Status.FAIL, f"This host's firewall drops {what}: {verdict.worst.by}.",
                       measured="dropped", threshold="accepted", unit=None,
                       remediation=_fix(spec, doc, verdict.worst.chain), evidence=evidence)
    if not verdict.sure:
        return Outcome(Status.WARN, f"This host's firewall may drop {what}: {verdict.worst.by}, unless "
                       f"{verdict.uncertain[0] if verdict.uncertain else 'an earlier rule'} accepts it first.",
                       measured="depends on rule", threshold="accepted",
                       remediation=_fix(spec, doc, verdict.worst.chain), evidence=evidence)
    n = sum(1 for c in ruleset.chains if c.hook)
    return Outcome(Status.PASS, f"This host's firewall ({ruleset.source}, {n} input chains) admits {what}.",
                   measured="accepted", evidence=evidence)


# --- the walk over prerouting/input chains, as the kernel would for one new inbound packet ------------
# Matches it cannot judge (marks, unknown extensions) are "maybe": the walk is done once assuming each
# maybe-rule applies where that blocks, and once where it accepts, so an uncertain answer is reported
# as uncertain.

HOOK_ORDER = {"prerouting": 0, "input": 1}
MAX_DEPTH = 16


@dataclass(frozen=True)
class Packet:
    """A new inbound IPv4 packet: protocol, destination port, and the sources it may come from."""

    proto: str
    dport: int
    sources: tuple[str, ...] = ()  # CIDRs; empty = unknown source


@dataclass(frozen=True)
class Decision:
    blocked: bool
    by: str  # the rule or policy that decided, e.g. "inet filter input: tcp dport 10250 drop"
    chain: str = ""


@dataclass(frozen=True)
class Verdict:
    """Both walks: `sure` when they agree."""

    worst: Decision  # maybe-rules assumed to block
    best: Decision  # maybe-rules assumed to accept
    uncertain: list[str] = field(default_factory=list)

    @property
    def sure(self) -> bool:
        return self.worst.blocked == self.best.blocked


# --- judging a packet against the ruleset (pure) --------------------------------------------------------------------

def _in_ports(port: int, values: tuple[Any, ...]) -> bool:
    return any(lo <= port <= hi for lo, hi in values)


def _match(m: Match, pkt: Packet) -> bool | None:
    """True/False, or None when it depends on something the packet description does not fix."""
    hit: bool | None
    if m.field == "l4proto":
        names = {"tcp": ("6",), "udp": ("17",), "ipip": ("4", "ipencap")}.get(pkt.proto, ())
        hit = pkt.proto in m.values or any(n in m.values for n in names)
    elif m.field == "nfproto":
        hit = "ipv4" in m.values
    elif m.field == "dport":
        if m.proto not in ("th", pkt.proto) or pkt.proto == "ipip":  # IP-in-IP has no ports
            return False if m.op == "==" else None
        hit = _in_ports(pkt.dport, m.values)
    elif m.field == "ctstate":
        hit = "new" in m.values
    elif m.field == "iifname":
        if all(v == "lo" for v in m.values):
            hit = False  # the packet comes from the network, never from loopback
        else:
            return None
    elif m.field == "saddr":
        if not pkt.sources:
            return None
        nets = [ipaddress.ip_network(v) for v in m.values]
        inside = [any(ipaddress.ip_network(s).subnet_of(n) for n in nets if n.version == 4) for s in pkt.sources]  # type: ignore[arg-type]
        if all(inside):
            hit = True
        elif not any(inside) and not any(n.overlaps(ipaddress.ip_network(s)) for s in pkt.sources for n in nets):
            hit = False
        else:
            return None
    else:
        return None
    return hit if m.op == "==" else not hit


def _rule_applies(rule: Rule, pkt: Packet) -> bool | None:
    result: bool | None = True
    for m in rule.matches:
        got = _match(m, pkt)
        if got is False:
            return False
        if got is None:
            result = None
    return result


def _walk(chain: Chain, by_name: dict[tuple[str, str, str], Chain], pkt: Packet, pessimistic: bool,
          uncertain: list[str], depth: int = 0) -> tuple[str, str] | None:
    """('accept'|'drop', what decided) or None when the chain falls through or returns."""
    if depth > MAX_DEPTH:
        return None
    for rule in chain.rules:
        if rule.verdict is None:
            continue
        applies = _rule_applies(rule, pkt)
        if applies is False:
            continue
        if applies is None:
            uncertain.append(f"{chain.label}: {rule.text}")
            blocking = rule.verdict in ("drop", "reject")
            accepting = rule.verdict == "accept"
            if (blocking and not pessimistic) or (accepting and pessimistic) or rule.verdict == "return":
                continue
        v = rule.verdict
        if v == "accept":
            return "accept", f"{chain.label}: {rule.text}"
        if v in ("drop", "reject"):
            return "drop", f"{chain.label}: {rule.text}"
        if v == "return":
            return None
        kind, _, target = v.partition(":")
        sub = by_name.get((chain.family, chain.table, target))
        if sub is None:
            continue
        got = _walk(sub, by_name, pkt, pessimistic, uncertain, depth + 1)
        if got is not None or kind == "goto":
            return got
    return None


def _decide(ruleset: Ruleset, pkt: Packet, pessimistic: bool, uncertain: list[str]) -> Decision:
    by_name = {(c.family, c.table, c.name): c for c in ruleset.chains}
    bases = sorted((c for c in ruleset.chains if c.hook in HOOK_ORDER and c.type == "filter"),
                   key=lambda c: (HOOK_ORDER[c.hook or ""], c.priority))
    for chain in bases:
        got = _walk(chain, by_name, pkt, pessimistic, uncertain)
        if got is not None and got[0] == "drop":
            return Decision(True, got[1], chain.label)
        if got is None and chain.policy == "drop":
            return Decision(True, f"{chain.label}: policy drop", chain.label)
    return Decision(False, "no rule drops it" if bases else "no input filter chains", "")


def decide(ruleset: Ruleset, pkt: Packet) -> Verdict:
    """Would the local firewall drop this new inbound packet? Both walks, with what decided."""
    uncertain: list[str] = []
    worst = _decide(ruleset, pkt, True, uncertain)
    best = _decide(ruleset, pkt, False, [])
    return Verdict(worst, best, list(dict.fromkeys(uncertain)))
