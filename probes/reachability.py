"""TCP reachability: the API endpoint, every control-plane ENI, each AWS and extra endpoint.

Each address is dialled directly with a short timeout, once per run however many checks
name it (Net.tcp_target); the dial's outcome (connected, refused, timeout, unreachable,
no-route) and the hop that sent any ICMP error tell a silent DROP from an active REJECT,
which need different fixes, and a connect refused by this host's own routing from both. Targets that go through
an HTTPS proxy are not dialled here: the proxy probe tests them (proxy.<subject>.connect).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.net.lookup import DnsAnswer, is_ip
from netcheck.net.proxyenv import proxy_for
from netcheck.settings import Settings, Thresholds
from netcheck.units import Unit
from probes import CheckKind, kind_in
from probes.endpoints import Target, api_endpoint, aws_targets, extra_targets

DIAL_TIMEOUT_S = 3.5  # just over the ~3.1 s a router takes to report a host whose ARP fails
MAX_ADDRESSES = 8  # a name with more A records than this is dialled on its first eight


@dataclass(frozen=True)
class Spec:
    subject: str  # eks-api, control-plane.10.20.1.10, ssm, endpoint.registry.example.internal, ...
    host: str
    port: int
    required: bool = True
    why: str = ""
    ips: tuple[str, ...] = ()  # dial these instead of resolving the host (ENI IPs, IP hosts)
    servers: tuple[str, ...] = ()
    dns_timeout: float = 5.0
    dial_timeout: float = DIAL_TIMEOUT_S
    proxy: str | None = None  # HTTPS proxy the node would use for this target (credentials removed)
    node_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    dials: tuple[dict[str, Any], ...] = ()  # DialResult.to_evidence() per address
    dns: DnsAnswer | None = None  # the lookup, when the host had to be resolved
    proxied: bool = False


def proxy_route(target: Target, env: Mapping[str, str]) -> str | None:
    """The HTTPS proxy a client would use for `target`, with any user:password removed."""
    url = proxy_for(target.host, target.port, env)
    if url is None:
        return None
    parts = urlsplit(url if "://" in url else "http://" + url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --- plan --------------------------------------------------------------------------

CHECKS: tuple[CheckKind, ...] = (
    CheckKind('reach.control-plane.*.tcp-*', 'TCP to a control-plane ENI', Category.REACHABILITY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
    CheckKind('reach.*.tcp-*', 'TCP to an endpoint (AWS service endpoints, the API server, spec.endpoints)', Category.REACHABILITY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html', phased=True),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    timeout = s.dns.timeout + DIAL_TIMEOUT_S + 5  # + a traceroute when the dial fails
    checks: list[Check] = []
    seen: set[str] = set()

    def add(cid: str, title: str, t: Target, proxy: str | None) -> None:
        if cid in seen:
            return
        seen.add(cid)
        spec = Spec(t.subject, t.host, t.port, t.required, t.why, ips=(t.host,) if is_ip(t.host) else (),
                    servers=tuple(s.dns.servers), dns_timeout=s.dns.timeout, proxy=proxy,
                    node_cidrs=tuple(s.remote_network.node_cidrs))
        checks.append(kind_in(CHECKS, cid).check(cid, spec, probe="reachability", title=title,
                                                 advisory=not t.required, timeout=timeout))

    api = api_endpoint(settings)
    if api is not None:
        add(f"reach.eks-api.tcp-{api.port}", f"TCP {api.port} to the Kubernetes API endpoint {api.host}",
            api, proxy_route(api, settings.environ))
    eni_port = api.port if api is not None else 443  # EKS ENIs serve the endpoint's port: 443
    for ip in s.cluster.control_plane_ips:
        # nodeadm and the kube-apiserver → kubelet path use the ENIs directly, never a proxy.
        eni = Target(f"control-plane.{ip}", ip, eni_port, True, "EKS control-plane ENI (API server, kubelet callbacks)")
        add(f"reach.control-plane.{ip}.tcp-{eni_port}", f"TCP {eni_port} to control-plane ENI {ip}", eni, None)
    for t in aws_targets(settings) + extra_targets(settings):
        add(f"reach.{t.subject}.tcp-{t.port}", f"TCP {t.port} to {t.host}", t, proxy_route(t, settings.environ))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> Evidence:
    if spec.proxy is not None:
        return Evidence(proxied=True)
    answer: DnsAnswer | None = None
    ips = spec.ips
    if not ips:
        answer = net.resolve(spec.host, "A", spec.servers, spec.dns_timeout)
        if answer.status != "ok":
            return Evidence(dns=answer)
        ips = answer.addresses[:MAX_ADDRESSES]
    # One dial (and traceroute) per address:port and run, shared with every other check of it
    # (Net.tcp_target): ten endpoints on one address get one story, not ten rate-limited ones.
    with ThreadPoolExecutor(max_workers=len(ips), thread_name_prefix="netcheck-dial") as pool:
        dials = tuple(pool.map(lambda ip: net.tcp_target(ip, spec.port, spec.dial_timeout), ips))
    return Evidence(dials=dials, dns=answer)


# --- evaluate (pure) -----------------------------------------------------------------

def _name(spec: Spec) -> str:
    return spec.host if is_ip(spec.host) else f"{spec.host} ({spec.subject})"


def _ms(d: Mapping[str, Any]) -> float:
    return round(float(d.get("seconds", 0.0)) * 1000, 1)


_ICMP = {"icmp-admin-prohibited": "admin-prohibited", "icmp-host-prohibited": "host-prohibited",
         "icmp-net-prohibited": "net-prohibited", "icmp-port-unreachable": "port-unreachable",
         "icmp-host-unreachable": "host-unreachable", "icmp-net-unreachable": "net-unreachable",
         "icmp-net-unknown": "net-unknown"}


def _local(d: Mapping[str, Any]) -> tuple[str, str] | None:
    """A connect that failed in this host's own stack: told as a local routing fact, never as a remote one."""
    ip, port = d["ip"], d["port"]
    if not d.get("localError") and not str(d.get("reason", "")).startswith(("local-", "no-local")):
        return None
    from netcheck.net.localerr import describe_route

    return (f"This host has no route to {ip} (route lookup: {describe_route(d.get('route'))}): the connect "
            f"to TCP {port} failed at once in this host's own stack, so nothing was sent and nothing is known "
            f"about {ip} or its port",
            f"Add a route toward {ip} on this host through the on-prem router that reaches the VPC "
            "(ip route replace <VPC CIDR> via <router-ip>; persist it in netplan or NetworkManager), "
            "and remove any unreachable/prohibit/blackhole route that covers it.")


def describe_failure(d: Mapping[str, Any], node_cidr: str) -> tuple[str, str]:
    """(what happened, what to change) for one failed dial; DROP and REJECT read differently."""
    ip, port, outcome, reason = d["ip"], d["port"], d["outcome"], str(d.get("reason", ""))
    hop = d.get("offender")
    src = f"from {node_cidr} " if node_cidr else ""
    local = _local(d)
    if local is not None:
        return local
    if outcome == "timeout":
        return (f"TCP {port} to {ip} timed out after {float(d.get('seconds', 0)):.1f} s: packets are silently "
                "dropped — a firewall or security group DROP, or no route back",
                f"Allow TCP {port} {src}to {ip} on every on-prem firewall and in the target's security group "
                f"(for EKS ENIs the cluster security group), and check that the VPC route tables send "
                f"{node_cidr or 'the node CIDR'} back through the transit or virtual private gateway.")
    icmp = _ICMP.get(reason)
    if outcome == "refused" and reason == "rst":
        return (f"TCP {port} to {ip} was refused with a TCP reset: {ip} answered but nothing accepts port {port}, "
                "or a firewall REJECT rule sends resets",
                f"Check that the service listens on {ip}:{port}; if it does, remove the firewall rule that "
                f"rejects TCP {port} with a reset between the node and {ip}.")
    if hop and icmp and (icmp.endswith("prohibited") or (icmp == "port-unreachable" and hop != ip)):
        return (f"TCP {port} to {ip} was refused by {hop} with ICMP {icmp} — a firewall REJECT rule",
                f"Allow TCP {port} {src}to {ip} on the firewall at {hop}; it actively rejects the connection.")
    if outcome == "refused":
        return (f"TCP {port} to {ip} was refused ({icmp or reason}): nothing listens on port {port} there",
                f"Check that the service listens on {ip}:{port}.")
    if outcome == "no-route" and hop:
        return (f"TCP {port} to {ip} failed: router {hop} has no route to it (ICMP {icmp or reason}, "
                "or a firewall REJECT that sends this type)",
                f"Add a route toward {ip}'s VPC CIDR on {hop} (via the VPN, Direct Connect or transit gateway), "
                f"and advertise {node_cidr or 'the node CIDR'} back.")
    if outcome == "unreachable" and hop:
        return (f"TCP {port} to {ip} failed: {hop} reported it unreachable (ICMP {icmp or reason}), "
                "so the host is down, the last router cannot deliver to it, or a firewall REJECT sends this type",
                f"Check that {ip} exists and is up, and that {hop} routes and resolves ARP toward it.")
    return (f"TCP {port} to {ip} failed: {outcome} ({reason})",
            f"Check the path {src}to {ip}:{port}: routes, firewalls and security groups.")


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    if ev.proxied:
        return Outcome.skip(
            SkipReason.NOT_APPLICABLE,
            f"Connections to {spec.host}:{spec.port} go through the HTTPS proxy {spec.proxy}, so it is not "
            f"dialled directly; proxy.{spec.subject}.connect tests the path through the proxy.",
            evidence={"proxy": spec.proxy, "host": spec.host, "port": spec.port})
    if ev.dns is not None and ev.dns.status != "ok":
        return Outcome.skip(SkipReason.DEPENDENCY,
                            f"{spec.host} did not resolve ({ev.dns.status}), so there is nothing to dial; "
                            f"see dns.{spec.subject}.resolve.", evidence={"dns": ev.dns.to_evidence()})
    evidence: dict[str, Any] = {"addresses": list(ev.dials)}
    if ev.dns is not None:
        evidence["dns"] = ev.dns.to_evidence()
        if len(ev.dns.addresses) > len(ev.dials):
            evidence["notDialled"] = list(ev.dns.addresses[len(ev.dials):])
    if not ev.dials:
        return Outcome(Status.ERROR, f"No address of {spec.host} was dialled.", evidence=evidence)
    failed = [d for d in ev.dials if d["outcome"] != "connected"]
    n = len(ev.dials)
    if not failed:
        slowest = max(_ms(d) for d in ev.dials)
        ips = ", ".join(str(d["ip"]) for d in ev.dials)
        where = f"on all {n} addresses ({ips})" if n > 1 else f"at {ips}" if ips != spec.host else ""
        return Outcome(Status.PASS, f"TCP {spec.port} to {_name(spec)} connected {where} in {slowest:g} ms."
                       .replace("  ", " "), measured=slowest, unit=Unit.MS, evidence=evidence)
    node_cidr = spec.node_cidrs[0] if spec.node_cidrs else ""
    what, fix = describe_failure(failed[0], node_cidr)
    rest = ""
    if n > 1:
        others = ", ".join(f"{d['ip']} {d['outcome']}" for d in failed[1:])
        rest = (f" {len(failed)} of {n} addresses of {spec.host} failed" + (f" (also {others})" if others else "")
                + "; every address must connect, because clients pick any of them.")
    where = f" {failed[0]['traceSummary']}." if failed[0].get("traceSummary") else ""
    if failed[0].get("reconciled"):
        where += f" The answer is reconciled: {failed[0]['reconciled']}."
    return Outcome(Status.FAIL, what + "." + where + rest, measured=str(failed[0]["outcome"]), threshold="connected",
                   remediation=fix, evidence=evidence)
