"""Node ↔ node CNI ports: can this node reach each peer on the ports its CNI uses?

Check ids (stable), per peer in spec.peers, from the CNI model (probes/cnimodel.py) of
spec.cni (plugin, mode, wireguard, typha): cni.<peer>.<proto>-<port>, e.g. udp-8472 (Cilium
VXLAN), udp-6081 (Geneve), tcp-179 (Calico BGP), udp-51871/udp-51820 (WireGuard), and
cni.<peer>.ipip (IP protocol 4). Optional ones (cilium-health, Typha when absent) are advisory.

TCP: a handshake PASSes; a reset WARNs (the peer was reached but nothing listens yet, or a
firewall resets); silence or an ICMP error FAILs. UDP needs an echo on the peer
(`netcheck serve --extra-udp <port>`): an echo PASSes; without one the check SKIPs saying so.
IP-in-IP wraps an echo request to the peer in protocol 4 (netcheck/net/ipip.py): a decapsulated
answer PASSes, an ICMP unreachable from the peer WARNs (protocol 4 arrives, nothing decapsulates
yet), silence while the peer answers ping FAILs (filtered).
UDP is judged on any answer: up to UDP_PROBES probes, and an echo of any of them counts, so
one lost datagram on a lossy path is a note on a PASS, not a filtered port. When nothing at
all comes back (no echo, no TCP answer from the responder's port, no ICMP echo), the path is
the problem, and the check says so instead of blaming the port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.protocol import RESPONDER_PORT
from netcheck.settings import Settings, Thresholds, split_hostport
from probes import CheckKind, kind_in
from probes.base import LOSS_HINT, MissingPrivilege, probe_path
from probes.cnimodel import for_settings

UDP_PROBES, UDP_WAIT_S = 5, 3.0  # echo probes (one every 0.5 s) and the time they get in all
# A neighbour that never answers ARP is reported (ICMP host unreachable, from this host or the
# last router) after 3 solicitations 1 s apart: wait past that, or a missing peer reads as a
# filtered port on one run and as unreachable on the next.
ARP_WAIT_S = 3.5


@dataclass(frozen=True)
class Spec:
    peer: str
    proto: str
    port: int
    purpose: str
    responder_port: int = RESPONDER_PORT
    token: str | None = field(default=None, repr=False)  # the peer's hello lists its ports only to a token


@dataclass(frozen=True)
class Evidence:
    result: dict[str, Any]
    hello: dict[str, Any] | None = None  # UDP: does the peer run netcheck serve?
    path: dict[str, Any] | None = None  # UDP: ICMP echo to the peer when neither echo nor hello answered


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('cni.*.udp-*', 'A peer node is reachable on a CNI UDP port (VXLAN, Geneve, ...)', Category.REACHABILITY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-cni.html'),
    CheckKind('cni.*.tcp-*', 'A peer node is reachable on a CNI TCP port (health, BGP, Typha)', Category.REACHABILITY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-cni.html'),
    CheckKind('cni.*.ipip', 'A peer node is reachable with IP-in-IP (protocol 4)', Category.REACHABILITY,
              docs='https://docs.tigera.io/calico/latest/getting-started/kubernetes/requirements#network-requirements'),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    rport = RESPONDER_PORT
    if s.responder:
        rport = split_hostport(s.responder, RESPONDER_PORT)[1] or RESPONDER_PORT
    m = for_settings(settings)
    if m is None:
        return []
    return [kind_in(CHECKS, f"cni.{peer}.{p.label}").check(
                f"cni.{peer}.{p.label}", Spec(peer, p.proto, p.port, p.purpose, rport, settings.token), probe="cniports",
                title=f"Peer {peer} is reachable on {p.shown} ({p.purpose})"
                      + (f"; advisory: {p.why_optional}" if not p.required else ""),
                advisory=not p.required, timeout=10)
            for peer in s.peers for p in m.ports if p.between_nodes]


def collect(spec: Spec, net: Net) -> Evidence:
    if spec.proto == "ipip":
        from netcheck.net.ipip import RawUnavailable

        try:
            return Evidence(net.ipip_echo(spec.peer, count=3, timeout=3.0).to_evidence())
        except RawUnavailable as exc:
            raise MissingPrivilege(f"IP-in-IP toward {spec.peer} needs raw sockets: {exc}.",
                                   "Run netcheck as root (or with CAP_NET_RAW).") from None
    if spec.proto == "tcp":  # the run's one dial of peer:port (Net.tcp_target), long enough to see ARP fail
        return Evidence(net.tcp_target(spec.peer, spec.port, ARP_WAIT_S))
    echo = net.udp_echo(spec.peer, spec.port, count=UDP_PROBES, timeout=UDP_WAIT_S)
    hello = path = None
    if echo.outcome == "timeout":
        ask: dict[str, object] = {"op": "hello", **({"token": spec.token} if spec.token else {})}
        hello = net.responder_request(spec.peer, spec.responder_port, ask, timeout=ARP_WAIT_S).to_evidence()
        if hello.get("control") == "timeout":  # the responder's TCP port is silent too: is anything alive?
            path = probe_path(net, spec.peer, (), 1.5).to_evidence()
    return Evidence(echo.to_evidence(), hello, path)


def _serve_fix(spec: Spec) -> str:
    return (f"On {spec.peer} run `netcheck serve --token <TOKEN> --extra-udp {spec.port}` for the duration of the "
            "check (before the CNI is installed there), then run netcheck again.")


def _ipip(spec: Spec, ev: Evidence) -> Outcome:
    r = ev.result
    outcome, reason, offender = r.get("outcome"), r.get("reason", ""), r.get("offender")
    what = f"IP protocol 4 ({spec.purpose}) to {spec.peer}"
    fix = (f"Allow IP protocol 4 (IP-in-IP) between the hybrid nodes on every firewall in between and on "
           f"{spec.peer} itself (nft: ip protocol 4 accept; iptables: -p 4 -j ACCEPT; firewalld: "
           "--add-protocol=ipencap; AWS security groups: protocol 4).")
    if outcome == "connected":
        return Outcome(Status.PASS, f"{what} is let through and decapsulated: the wrapped echo was answered in "
                       f"{r.get('seconds', 0) * 1000:.1f} ms.", measured="connected", evidence=r)
    if outcome == "refused":
        return Outcome(Status.WARN, f"{what} arrives, but {spec.peer} answered {reason}: nothing decapsulates "
                       "IP-in-IP there yet (normal before Calico runs), or its firewall rejects protocol 4.",
                       measured=f"refused ({reason})", threshold="connected",
                       remediation=f"For a definitive answer run `modprobe ipip && ip link set tunl0 up` on "
                                   f"{spec.peer} during the check.", evidence=r)
    if outcome == "unreachable":
        by = f" by {offender}" if offender else ""
        return Outcome(Status.FAIL, f"{what} is rejected{by} ({reason}).", measured=f"unreachable ({reason})",
                       threshold="connected", remediation=fix, evidence=r)
    if r.get("peer_pings"):
        return Outcome(Status.FAIL, f"{what} vanishes although {spec.peer} answers ping: a firewall drops IP "
                       "protocol 4 (filtered).", measured="timeout (filtered)", threshold="connected",
                       remediation=fix, evidence=r)
    return Outcome.skip(SkipReason.NEEDS_PEER, f"Neither {what} nor a plain ping of {spec.peer} was answered, so a "
                        "drop of protocol 4 cannot be told from a peer that answers nothing.",
                        remediation=f"Allow ICMP echo to {spec.peer} (or run the check once it is up) and run "
                                    "netcheck again.", evidence=r)


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    if spec.proto == "ipip":
        return _ipip(spec, ev)
    r = ev.result
    outcome, reason, offender = r.get("outcome"), r.get("reason", ""), r.get("offender")
    what = f"{spec.proto.upper()} {spec.port} ({spec.purpose}) on {spec.peer}"
    evidence = dict(r)
    if ev.hello is not None:
        evidence["peerResponder"] = ev.hello
    if ev.path is not None:
        evidence["path"] = ev.path
    fix_fw = (f"Allow {spec.proto.upper()} {spec.port} between the hybrid nodes (node CIDRs) on every firewall in "
              f"between and on {spec.peer} itself (see firewall.local.{spec.proto}-{spec.port} there).")
    if outcome == "connected":
        detail = "echoed" if spec.proto == "udp" else "handshake completed"
        lost = int(r.get("lost") or 0)
        note = (f" {lost} of the {lost + 1} probes sent until then got no echo: the path drops packets "
                f"({LOSS_HINT}); the CNI's own traffic would see the same loss." if lost else "")
        return Outcome(Status.PASS, f"{what} is reachable ({detail} in {r.get('seconds', 0) * 1000:.1f} ms).{note}",
                       measured="connected", evidence=evidence)
    if outcome == "refused" and (offender in (None, spec.peer)):
        if spec.proto == "tcp":
            return Outcome(Status.WARN, f"{spec.peer} answered {what} with a reset: the path is open but nothing "
                           "listens yet (normal before the CNI runs), or a firewall resets the port.",
                           measured="refused (reset)", threshold="connected",
                           remediation=f"For a definitive answer run `netcheck serve --token <TOKEN> --extra-tcp "
                                       f"{spec.port}` on {spec.peer} during the check.", evidence=evidence)
        return Outcome.skip(SkipReason.NEEDS_PEER, f"Datagrams to {what} reached the peer (it answered port "
                            "unreachable), but no echo service listens there, so the port cannot be confirmed open.",
                            remediation=_serve_fix(spec), evidence=evidence)
    if outcome == "refused":
        return Outcome(Status.FAIL, f"{what} is rejected by {offender} ({reason}) on the way to the peer.",
                       measured=f"refused by {offender}", threshold="connected", remediation=fix_fw,
                       evidence=evidence)
    if r.get("localError"):
        from netcheck.net.localerr import describe_route

        return Outcome(Status.FAIL, f"This host has no route to the peer {spec.peer} (route lookup: "
                       f"{describe_route(r.get('route'))}), so {what} was never tried.", measured="no-route",
                       threshold="connected", remediation=f"Route the node CIDRs between the hybrid nodes: add a "
                       f"route toward {spec.peer} on this host (ip route replace <peer CIDR> via <router-ip>).",
                       evidence=evidence)
    hello = (ev.hello or {}) if spec.proto == "udp" and outcome == "timeout" else {}
    if outcome in ("unreachable", "no-route") or hello.get("control") in ("unreachable", "no-route"):
        if outcome not in ("unreachable", "no-route"):  # the echo was silent; the peer's TCP port said why
            outcome, reason, offender = hello["control"], hello.get("controlReason", ""), hello.get("offender")
        by = (f" (reported by {offender}: the peer is down, its address does not exist — nothing answers ARP "
              "for it — or a firewall REJECT sends this type)" if offender else "")
        return Outcome(Status.FAIL, f"{what} is not reachable: {outcome} ({reason}){by}.",
                       measured=f"{outcome} ({reason})", threshold="connected",
                       remediation=f"Route the node CIDRs between the hybrid nodes and check {fix_fw[0].lower()}"
                                   f"{fix_fw[1:]}", evidence=evidence)
    if spec.proto == "udp" and ev.path is not None and ev.path.get("down"):
        return Outcome(Status.FAIL, f"Nothing at all comes back from {spec.peer}: no echo on UDP {spec.port} "
                       f"({r.get('sent', 0)} probes), no answer on TCP {spec.responder_port} (netcheck serve) and "
                       f"no ICMP echo reply: the path to the peer is down or drops everything, which is a network "
                       "path problem, not a CNI port one.", measured="path down", threshold="echoed",
                       remediation=f"Restore node-to-node connectivity to {spec.peer} (routes and firewalls between "
                                   "the node CIDRs; check the peer is up), then run netcheck again.",
                       evidence=evidence)
    if spec.proto == "udp":
        hello = ((ev.hello or {}).get("reply") or {})
        ports = hello.get("udpPorts") or []
        if hello.get("ok") and spec.port in ports:
            return Outcome(Status.FAIL, f"No echo came back from {what} although netcheck serve listens there: a "
                           "firewall drops it (filtered).", measured="timeout (filtered)", threshold="echoed",
                           remediation=fix_fw, evidence=evidence)
        running = "runs netcheck serve but did not say it echoes that port" if hello.get("ok") else \
            "does not run netcheck serve"
        return Outcome.skip(SkipReason.NEEDS_PEER, f"No echo came back from {what}, and the peer {running}, so "
                            "a drop cannot be told from a missing echo service.", remediation=_serve_fix(spec),
                            evidence=evidence)
    return Outcome(Status.FAIL, f"{what} did not answer within {r.get('seconds', 0):.1f} s: a firewall drops it "
                   "(filtered).", measured="timeout (filtered)", threshold="connected", remediation=fix_fw,
                   evidence=evidence)
