"""Control plane → node paths, tested from the VPC side with the responder's connect-back.

Check ids (stable):
  inbound.kubelet.tcp-<port>     the VPC can open TCP to this node's kubelet port (10250)
  inbound.webhook.tcp-<port>     ... and to each configured webhook port on this node
  inbound.pod-network            the VPC can reach an address of the remote pod network
                                 (spec.inbound.podAddress, assigned on this node)
  inbound.nat                    the VPC sees this node by its own address: the responder's `hello`
                                 reports the source it saw (clientAddr); another address means NAT
                                 between the site and the VPC, and the other inbound checks follow from it

For each, netcheck holds a temporary listener on the port (or uses the kubelet already
listening there) and asks `netcheck serve` in the VPC to connect back to the address the
request came from. For the pod network the request's source is bound to the pod address:
if that request gets no answer while one from the node IP does, the VPC has no route back
to the pod CIDR ("no route back"); if it is answered but the connect-back is not, a
firewall filters the port ("filtered"). Without a responder every check SKIPs with the
command that starts one. Wire protocol: docs/responder-protocol.md.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field, replace
from typing import Any

from netcheck.model import Category, Check, Outcome, Severity, SkipReason, Status
from netcheck.net import Net
from netcheck.protocol import RESPONDER_PORT
from netcheck.settings import Settings, Thresholds, split_hostport
from probes import CheckKind, kind_in
from probes.base import ProbeSkip
from probes.cnimodel import pod_routing

DOCS_NET = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
DOCS_WEBHOOKS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-webhooks.html"
DEFAULT_RESPONDER_PORT = RESPONDER_PORT
SERVE_CMD = "netcheck serve --token <TOKEN>"


@dataclass(frozen=True)
class Spec:
    rule: str  # kubelet | webhook | pod | nat
    port: int
    responder: str | None  # host:port
    token: str | None = None
    timeout: float = 5.0
    pod_address: str | None = None
    pod_cidrs: tuple[str, ...] = ()
    vpc_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    listener: str  # temporary | existing
    reply: dict[str, Any] = field(default_factory=dict)  # ControlReply.to_evidence() of the connect-back
    accepted: tuple[str, ...] = ()  # peers our temporary listener accepted
    baseline: dict[str, Any] | None = None  # pod check: hello from the node's own address
    node_address: str | None = None  # nat check: this node's source toward the responder (route lookup)


# --- plan --------------------------------------------------------------------------

CHECKS: tuple[CheckKind, ...] = (
    CheckKind('inbound.kubelet.tcp-*', "The VPC can reach this node's kubelet", Category.INBOUND,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
    CheckKind('inbound.webhook.tcp-*', 'The VPC can reach a webhook port on this node', Category.INBOUND,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-webhooks.html'),
    CheckKind('inbound.pod-network', 'The VPC can reach an address of the remote pod network', Category.INBOUND,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-webhooks.html'),
    CheckKind('inbound.nat', 'The VPC sees this node by its own address (no NAT between the site and the VPC)',
              Category.INBOUND, docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    common = {"responder": s.responder, "token": settings.token, "timeout": float(s.inbound.listen_timeout),
              "pod_address": s.inbound.pod_address, "pod_cidrs": tuple(s.remote_network.pod_cidrs),
              "vpc_cidrs": tuple(s.vpc.cidrs)}
    timeout = float(s.inbound.listen_timeout) * 2 + 10

    def mk(cid: str, title: str, **kw: Any) -> Check:
        return kind_in(CHECKS, cid).check(cid, Spec(**{**common, **kw}), probe="inbound", title=title, timeout=timeout)

    kport = s.inbound.kubelet_port
    checks = [mk("inbound.nat", "The VPC sees this node by its own address (no NAT between the site and the VPC)",
                 rule="nat", port=kport)]
    checks += [mk(f"inbound.kubelet.tcp-{kport}", f"The VPC can reach this node's kubelet on TCP {kport}",
                 rule="kubelet", port=kport)]
    for port in s.webhook_ports:
        if port != kport:
            checks.append(mk(f"inbound.webhook.tcp-{port}", f"The VPC can reach webhook port TCP {port} on this node",
                             rule="webhook", port=port))
    pod_port = s.webhook_ports[0] if s.webhook_ports else 443
    need, why = pod_routing(settings)  # the CNI mode and webhooks decide whether pod IPs must be reachable
    pod = mk("inbound.pod-network", "The VPC can reach an address of the remote pod network"
             + ("" if need else f" (advisory: {why.split(',')[0]})"), rule="pod", port=pod_port)
    checks.append(pod if need else replace(pod, severity=Severity.ADVISORY))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def _responder(spec: Spec) -> tuple[str, int]:
    if not spec.responder:
        raise ProbeSkip(SkipReason.NEEDS_PEER, "No responder is configured, so the control plane → node "
                        "direction cannot be tested.",
                        f"On a host in the cluster's VPC subnets (with the cluster security group), run "
                        f"`{SERVE_CMD}`; then set spec.responder: <its-ip>:{DEFAULT_RESPONDER_PORT} and run "
                        "netcheck with --token <TOKEN> (or NETCHECK_TOKEN).")
    host, port = split_hostport(spec.responder, DEFAULT_RESPONDER_PORT)
    return host, port or DEFAULT_RESPONDER_PORT


def _wait_accept(peers: list[str], seconds: float = 1.0) -> None:
    end = time.monotonic() + seconds
    while not peers and time.monotonic() < end:
        time.sleep(0.02)


def collect(spec: Spec, net: Net) -> Evidence:
    host, rport = _responder(spec)
    if spec.rule == "pod":
        return _collect_pod(spec, net, host, rport)
    if spec.rule == "nat":
        hello = net.responder_request(host, rport, {"op": "hello"}, timeout=spec.timeout)
        return Evidence("none", hello.to_evidence(), node_address=net.source_for(host))
    # Listen only on the address the responder will dial (our source toward it), not on every interface.
    listener = net.listen_tcp(net.source_for(host) or "0.0.0.0", spec.port)
    try:
        reply = net.connect_back(host, rport, spec.token, spec.port, spec.timeout)
        if listener is not None and reply.reply and reply.reply.get("outcome") == "connected":
            _wait_accept(listener.peers)
        return Evidence("existing" if listener is None else "temporary", reply.to_evidence(),
                        tuple(listener.peers) if listener else ())
    finally:
        if listener is not None:
            listener.close()


def _collect_pod(spec: Spec, net: Net, host: str, rport: int) -> Evidence:
    pod = spec.pod_address
    if not pod:
        raise ProbeSkip(SkipReason.NOT_APPLICABLE, "No pod address is configured, so the VPC → pod network path "
                        "was not tested.",
                        "Pick a free address from this node's pod CIDR slice (e.g. the first address of "
                        f"{spec.pod_cidrs[0] if spec.pod_cidrs else 'the pod CIDR'}), assign it for the run "
                        "(ip addr add <ip>/32 dev lo), set spec.inbound.podAddress: <ip>, and remove it afterwards.")
    try:
        listener = net.listen_tcp(pod, spec.port)
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ProbeSkip(SkipReason.NOT_APPLICABLE, f"Pod address {pod} is not assigned to this host, so "
                            "netcheck cannot listen on it.",
                            f"Assign it for the run: ip addr add {pod}/32 dev lo (and ip addr del {pod}/32 dev lo "
                            "afterwards); the on-prem router must route the pod CIDR to this node.") from None
        raise
    try:
        reply = net.connect_back(host, rport, spec.token, spec.port, spec.timeout, source=pod)
        baseline = None
        if reply.control != "connected":
            baseline = net.responder_request(host, rport, {"op": "hello"}, timeout=spec.timeout).to_evidence()
        elif listener is not None and reply.reply and reply.reply.get("outcome") == "connected":
            _wait_accept(listener.peers)
        return Evidence("existing" if listener is None else "temporary", reply.to_evidence(),
                        tuple(listener.peers) if listener else (), baseline)
    finally:
        if listener is not None:
            listener.close()


# --- evaluate (pure) -----------------------------------------------------------------

def _responder_problem(spec: Spec, ev: Evidence) -> Outcome | None:
    """SKIP/ERROR when the responder could not be asked; None when it answered the request."""
    r = ev.reply
    evidence = {"responder": spec.responder, **r}
    if r.get("control") != "connected":
        return Outcome.skip(SkipReason.NEEDS_PEER, f"The responder at {spec.responder} could not be reached "
                            f"({r.get('control')}, {r.get('controlReason')}), so connect-back was not tested.",
                            remediation=f"Start `{SERVE_CMD}` on that host and allow TCP "
                                        f"{(spec.responder or '').rsplit(':', 1)[-1]} to it; the reachability "
                                        "checks show why it cannot be reached.", evidence=evidence)
    if r.get("error"):
        return Outcome(Status.ERROR, f"The responder at {spec.responder} did not answer properly: {r['error']}.",
                       remediation="Check that spec.responder points at `netcheck serve`.", evidence=evidence)
    reply = r.get("reply") or {}
    if not reply.get("ok"):
        err = str(reply.get("error", "unknown error"))
        if err == "unauthorized":
            why = ("the token does not match" if spec.token else
                   "it requires a token and none was given (--token, NETCHECK_TOKEN or --token-file)")
            return Outcome.skip(SkipReason.NEEDS_PEER, f"The responder at {spec.responder} refused connect-back: "
                                f"{why}.",
                                remediation="Run netcheck with --token (or NETCHECK_TOKEN) equal to the responder's "
                                            "token.", evidence=evidence)
        if err == "rate limited":
            return Outcome.skip(SkipReason.NEEDS_PEER, "The responder rate-limited this node.",
                                remediation="Run again in a few seconds.", evidence=evidence)
        return Outcome(Status.ERROR, f"The responder rejected connect-back: {err}.",
                       remediation="Upgrade `netcheck serve` in the VPC to this netcheck's version.",
                       evidence=evidence)
    return None


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    if spec.rule == "pod":
        return _pod(spec, ev)
    if spec.rule == "nat":
        return _nat(spec, ev)
    if (problem := _responder_problem(spec, ev)) is not None:
        return problem
    return _judge(spec, ev, f"TCP {spec.port} on this node", None)


def _plain(addr: object) -> str:
    """'10.20.0.1' from '10.20.0.1:10250', '[fd00::1]:10250' or an address alone."""
    text = str(addr or "")
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


NAT_FIX = ("Remove the translation for traffic between the node and pod CIDRs and the VPC (exempt them from "
           "masquerade/source NAT on the site router or firewall), or route the node CIDR to the VPC without NAT "
           "(VPN/Direct Connect routes and the VPC route tables toward the TGW/VGW); hybrid nodes need routable "
           "node and pod addresses.")


def _nat(spec: Spec, ev: Evidence) -> Outcome:
    """Does the responder see the address this node sends from? Another address is NAT on the way."""
    r = ev.reply
    reply = r.get("reply") or {}
    local = _plain(r.get("source")) or ev.node_address or ""
    seen = _plain(reply.get("clientAddr"))
    evidence = {"responder": spec.responder, "nodeAddress": local, "seenAs": seen or None,
                "routeSource": ev.node_address, **r}
    if r.get("control") != "connected":
        return Outcome.skip(SkipReason.NEEDS_PEER, f"The responder at {spec.responder} could not be reached "
                            f"({r.get('control')}, {r.get('controlReason')}), so the address the VPC sees for "
                            "this node is unknown.",
                            remediation=f"Start `{SERVE_CMD}` on that host and allow TCP "
                                        f"{(spec.responder or '').rsplit(':', 1)[-1]} to it; the reachability "
                                        "checks show why it cannot be reached.", evidence=evidence)
    if not reply.get("ok") or not seen:
        why = r.get("error") or reply.get("error") or "no clientAddr in its hello answer"
        return Outcome(Status.ERROR, f"The responder at {spec.responder} did not say which address it sees for "
                       f"this node ({why}).", remediation="Check that spec.responder points at `netcheck serve`.",
                       evidence=evidence)
    if local and seen != local:
        return Outcome(Status.FAIL, f"The VPC sees this node as {seen}, not {local}: NAT between the site and the "
                       "VPC. Hybrid nodes need routable node and pod addresses: the control plane dials the node "
                       "and pod IPs it is told about, and translated traffic never reaches them.",
                       measured=seen, threshold=local, remediation=NAT_FIX, evidence=evidence)
    return Outcome(Status.PASS, f"The VPC (responder {spec.responder}) sees this node by its own address {seen}: "
                   "no NAT on the way.", measured=seen, evidence=evidence)


def _judge(spec: Spec, ev: Evidence, what: str, pod_cidr: str | None) -> Outcome:
    reply = ev.reply.get("reply") or {}
    outcome, reason = reply.get("outcome"), reply.get("reason", "")
    target, src = reply.get("target", "?"), reply.get("source", "?")
    listener = ("netcheck's temporary listener" if ev.listener == "temporary"
                else "the service already listening there")
    evidence = {"responder": spec.responder, "listener": ev.listener, "accepted": list(ev.accepted), **ev.reply}
    seconds = reply.get("seconds")
    purpose = {"kubelet": "kubectl logs/exec and metrics will fail",
               "webhook": "webhooks served from this node will time out",
               "pod": "webhooks and other control plane → pod calls will fail"}[spec.rule]
    if outcome == "connected":
        if ev.listener == "temporary" and not ev.accepted:
            return Outcome(Status.WARN, f"The responder ({src}) reports a connection to {target}, but netcheck's "
                           "listener never saw it: something on the path answers in the node's place.",
                           measured="connected elsewhere", threshold="reaches this node",
                           remediation="Look for NAT or a proxy between the VPC and this node.", evidence=evidence)
        return Outcome(Status.PASS, f"The VPC ({src}) connected to {target} ({listener}) in "
                       f"{(seconds or 0) * 1000:.1f} ms.", measured="connected", evidence=evidence)
    local = _plain(ev.reply.get("source"))
    if outcome is not None and local and _plain(target) not in (local, "?"):
        return Outcome(Status.FAIL, f"The VPC ({src}) dialled {target}, the address it sees for this node, but this "
                       f"node sent from {local}: NAT between the site and the VPC (see inbound.nat), so the VPC "
                       f"cannot reach {what} ({outcome}, {reason}); {purpose}.",
                       measured=f"NAT: seen as {_plain(target)}", threshold=f"reaches {local}",
                       remediation=f"Fix inbound.nat first: {NAT_FIX}", evidence=evidence)
    fix_fw = (f"Allow TCP {spec.port} from the VPC CIDRs ({', '.join(spec.vpc_cidrs) or 'the VPC'}) to "
              f"{target.rsplit(':', 1)[0]}: cluster security group egress, on-prem firewalls, and this host's "
              "firewall (see firewall.local.*).")
    if outcome == "timeout":
        return Outcome(Status.FAIL, f"The VPC ({src}) got no answer from {target} within {seconds}s: a firewall on "
                       f"the way drops {what} (filtered); {purpose}.", measured="timeout (filtered)",
                       threshold="connected", remediation=fix_fw, evidence=evidence)
    if outcome == "refused":
        by = "a TCP reset" if reason == "rst" else f"ICMP ({reason})"
        return Outcome(Status.FAIL, f"The VPC ({src}) was refused by {target} with {by} although {listener} "
                       f"accepts: a firewall rejects {what}; {purpose}.", measured=f"refused ({reason})",
                       threshold="connected", remediation=fix_fw, evidence=evidence)
    route_fix = (f"Route {pod_cidr or target.rsplit(':', 1)[0]} back from the VPC: add it to every VPC route table "
                 "of the cluster's subnets toward the TGW/VGW (see vpc.routes.*), and on the on-prem router toward "
                 "this node.")
    return Outcome(Status.FAIL, f"The VPC ({src}) cannot reach {target}: {outcome} ({reason}); there is no route "
                   f"back from the VPC to this address; {purpose}.", measured=f"{outcome} ({reason})",
                   threshold="connected", remediation=route_fix, evidence=evidence)


def _pod(spec: Spec, ev: Evidence) -> Outcome:
    r = ev.reply
    cidr = next((c for c in spec.pod_cidrs if _inside(spec.pod_address or "", c)), None)
    cidr_txt = cidr or "the pod CIDR"
    if r.get("control") != "connected" and (ev.baseline or {}).get("control") == "connected":
        return Outcome(Status.FAIL, f"Requests from pod address {spec.pod_address} to the responder "
                       f"{spec.responder} got no answer ({r.get('control')}, {r.get('controlReason')}) while "
                       f"the same request from the node IP was answered: the VPC has no route back to pod CIDR "
                       f"{cidr_txt} (no route back).", measured=f"no route back to {cidr_txt}",
                       threshold="replies reach the pod CIDR",
                       remediation=f"Add a route for {cidr_txt} in every VPC route table of the cluster's subnets "
                                   "toward the TGW/VGW, and have the on-prem router route it to this node "
                                   "(static route or BGP).",
                       evidence={"responder": spec.responder, "podAddress": spec.pod_address, **r,
                                 "baseline": ev.baseline})
    if (problem := _responder_problem(spec, ev)) is not None:
        return problem
    return _judge(spec, ev, f"TCP {spec.port} to the pod address {spec.pod_address}", cidr)


def _inside(ip: str, cidr: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
    except ValueError:
        return False
