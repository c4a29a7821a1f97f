"""On-prem routing toward the VPC, read from the kernel with pyroute2 (nothing is sent).

Check ids (stable):
  routing.vpc.<cidr>             route toward each VPC CIDR: table, policy rule, interface, gateway, source
  routing.control-plane.<ip>     the same toward each EKS control-plane ENI IP
  routing.host.ip-forward        net.ipv4.ip_forward is on (pod traffic is forwarded by the host); pre-join,
                                 as `nodeadm init` will leave it (it writes /etc/sysctl.d/99-nodeadm.conf)
  routing.host.rp-filter         no interface with strict rp_filter would drop VPC traffic arriving on it

A route FAILs when there is none (or it is unreachable/prohibit/blackhole) and when its source
address lies outside the remote node CIDRs (the VPC could not answer it); it WARNs when only
the default route serves a private address. Pod-CIDR collisions with host routes are
`cidr.pod.host-collision`. Facts: docs/reference/linux-probing-facts.md §6.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.phase import JOINED, NODEADM_SYSCTL, PRE_JOIN, effective, sysctl_evidence, sysctl_files
from netcheck.settings import Settings, Thresholds
from probes import CheckKind, kind_in

DOCS_NET = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
DOCS_RP = "https://docs.kernel.org/networking/ip-sysctl.html"
FAILED_ROUTE = {"no-route": "there is no route", "unreachable": "the route is of type unreachable",
                "prohibit": "the route is of type prohibit", "blackhole": "the route is a blackhole"}


@dataclass(frozen=True)
class Spec:
    rule: str  # route | ip-forward | rp-filter
    target: str = ""  # address looked up
    label: str = ""  # what the target stands for, e.g. "VPC CIDR 10.20.0.0/16"
    cidr: str = ""  # the destination range it represents
    private: bool = True
    node_cidrs: tuple[str, ...] = ()
    phase: str = "pre-join"


@dataclass(frozen=True)
class Evidence:
    route: dict[str, Any] = field(default_factory=dict)
    value: str | None = None  # a sysctl value
    interfaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # rp-filter per interface
    egress: str | None = None
    source: str | None = None
    rp_drops: int | None = None
    sysctl: dict[str, Any] = field(default_factory=dict)  # netcheck.phase.sysctl_evidence for ip_forward


# --- plan --------------------------------------------------------------------------

def _representative(cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 1) if net.num_addresses > 2 else str(net.network_address)


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('routing.host.ip-forward', 'IPv4 forwarding is on (pod traffic passes through the host)', Category.ROUTING,
              docs='https://docs.kernel.org/networking/ip-sysctl.html', phased=True),
    CheckKind('routing.host.rp-filter', 'Strict reverse-path filtering does not drop VPC traffic', Category.ROUTING,
              docs='https://docs.kernel.org/networking/ip-sysctl.html'),
    CheckKind('routing.vpc.*', 'This host routes a VPC CIDR toward the VPC', Category.ROUTING,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
    CheckKind('routing.control-plane.*', 'This host routes a control-plane IP toward the VPC', Category.ROUTING,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    node_cidrs = tuple(s.remote_network.node_cidrs)
    private_endpoint = s.cluster.endpoint_access in (None, "private", "public-and-private")
    checks: list[Check] = []

    def mk(cid: str, title: str, spec: Spec) -> Check:
        return kind_in(CHECKS, cid).check(cid, spec, probe="routing", title=title, timeout=5)

    for cidr in s.vpc.cidrs:
        if ":" in cidr:
            continue
        checks.append(mk(f"routing.vpc.{cidr}", f"This host routes VPC CIDR {cidr} toward the VPC",
                         Spec("route", _representative(cidr), f"VPC CIDR {cidr}", cidr, True, node_cidrs)))
    for ip in s.cluster.control_plane_ips:
        if ":" in ip:
            continue
        checks.append(mk(f"routing.control-plane.{ip}", f"This host routes control-plane IP {ip} toward the VPC",
                         Spec("route", ip, f"control-plane IP {ip}", f"{ip}/32", private_endpoint, node_cidrs)))
    checks.append(replace(mk("routing.host.ip-forward", "IPv4 forwarding is on (pod traffic passes through the host)",
                             Spec("ip-forward", phase=effective(settings))),
                          phases=((PRE_JOIN, "PASS when nodeadm init will leave it at 1 (it writes "
                                             f"{NODEADM_SYSCTL} and runs sysctl --system); FAIL only when a sysctl "
                                             "file applied after that one sets it back to 0"),
                                  (JOINED, "FAIL unless net.ipv4.ip_forward is 1 now; WARN when a sysctl file "
                                           "would turn it off at the next boot"))))
    toward = next(iter(s.cluster.control_plane_ips), None) or (_representative(s.vpc.cidrs[0]) if s.vpc.cidrs else "")
    checks.append(mk("routing.host.rp-filter", "Strict reverse-path filtering does not drop VPC traffic",
                     Spec("rp-filter", toward, f"VPC address {toward}" if toward else "")))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> Evidence:
    if spec.rule == "route":
        return Evidence(route=net.route_lookup(spec.target).to_evidence())
    if spec.rule == "ip-forward":
        return Evidence(value=net.sysctl("net.ipv4.ip_forward"),
                        sysctl=sysctl_evidence(sysctl_files(net), "net.ipv4.ip_forward"))
    if not spec.target:
        return Evidence()
    route = net.route_lookup(spec.target)
    per_if: dict[str, dict[str, Any]] = {}
    all_v = int(net.sysctl("net.ipv4.conf.all.rp_filter") or 0)
    for name in net.interfaces():
        one = net.sysctl(f"net/ipv4/conf/{name}/rp_filter")
        if_v = int(one) if one is not None else 0
        row: dict[str, Any] = {"all": all_v, "interface": if_v, "effective": max(all_v, if_v)}
        if max(all_v, if_v) == 1 and route.ok and route.source and name != route.interface:
            check = net.input_check(name, spec.target, route.source)
            row["acceptsFromTarget"] = check.accepted
            if check.error:
                row["error"] = check.error
        per_if[name] = row
    return Evidence(route=route.to_evidence(), interfaces=per_if, egress=route.interface, source=route.source,
                    rp_drops=net.netstat_counter("IPReversePathFilter"))


# --- evaluate (pure) -----------------------------------------------------------------

def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    if spec.rule == "route":
        return _route(spec, ev.route)
    if spec.rule == "ip-forward":
        return _ip_forward(ev.value, spec.phase, ev.sysctl)
    return _rp_filter(spec, ev)


def _in_any(ip: str, cidrs: tuple[str, ...]) -> str | None:
    addr = ipaddress.ip_address(ip)
    return next((c for c in cidrs if addr in ipaddress.ip_network(c)), None)


def _describe(r: dict[str, Any]) -> str:
    via = f"via {r['gateway']} " if r.get("gateway") else "directly "
    table = {253: "default", 254: "main", 255: "local"}.get(r.get("table", 0), str(r.get("table")))
    rule = f", rule '{r['rule']}'" if r.get("rule") else ""
    return (f"{via}on {r.get('interface', '?')} (route {r.get('prefix', '?')}, table {table}{rule}), "
            f"source {r.get('source', '?')}")


def _route(spec: Spec, r: dict[str, Any]) -> Outcome:
    result = r.get("result", "no-route")
    evidence = dict(r)
    if ipaddress.ip_address(spec.target).is_loopback:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"{spec.label} is a loopback address (demo or lab "
                            "profile); there is no route toward a VPC to check.", evidence=evidence)
    if result in FAILED_ROUTE or result not in ("unicast", "local"):
        what = FAILED_ROUTE.get(result, f"the route is of type {result}")
        return Outcome(Status.FAIL, f"This host cannot send to {spec.label}: toward {spec.target} {what}"
                       f"{' (' + r['error'] + ')' if r.get('error') else ''}.",
                       measured=result, threshold="a unicast route",
                       remediation=f"Add a route for {spec.cidr} via the on-prem router that reaches the VPC "
                                   f"(ip route replace {spec.cidr} via <router-ip>; persist it in netplan or "
                                   "NetworkManager), and remove any unreachable/prohibit/blackhole route covering it.",
                       evidence=evidence)
    if result == "local":
        return Outcome(Status.FAIL, f"{spec.label} is local to this host: {spec.target} is one of its own addresses, "
                       "so the VPC range collides with the on-prem addressing.", measured="local",
                       threshold="a unicast route toward the VPC",
                       remediation=f"Remove {spec.target} from this host or renumber so {spec.cidr} is only in the VPC.",
                       evidence=evidence)
    source = r.get("source")
    if source and spec.node_cidrs and not _in_any(source, spec.node_cidrs):
        return Outcome(Status.FAIL, f"Traffic to {spec.label} leaves {_describe(r)}; {source} is outside the remote "
                       f"node CIDRs ({', '.join(spec.node_cidrs)}), so the VPC will not route replies back to it.",
                       measured=source, threshold=", ".join(spec.node_cidrs),
                       remediation=f"Route {spec.cidr} out of the interface that holds the node IP (ip route replace "
                                   f"{spec.cidr} via <router> dev <node-interface> src <node-ip>), or add this host's "
                                   "subnet to the cluster's remote node networks.", evidence=evidence)
    if r.get("prefix") in ("0.0.0.0/0", None) and spec.private:
        return Outcome(Status.WARN, f"{spec.label} is reached only through the default route {_describe(r)}; "
                       "that works only if the default gateway forwards private VPC traffic over the VPN/Direct "
                       "Connect.", measured=r.get("prefix") or "default", threshold=f"a route for {spec.cidr}",
                       remediation=f"Add an explicit route: ip route replace {spec.cidr} via "
                                   f"{r.get('gateway') or '<router-ip>'} dev {r.get('interface', '<if>')}, so VPC "
                                   "traffic cannot follow an internet default route.", evidence=evidence)
    return Outcome(Status.PASS, f"{spec.label} is routed {_describe(r)}.", measured=r.get("prefix"), evidence=evidence)


def _last(assigned: list[Any]) -> tuple[str, str] | None:
    return (str(assigned[-1][0]), str(assigned[-1][1]).strip()) if assigned else None


def _ip_forward(value: str | None, phase: str, files: dict[str, Any]) -> Outcome:
    now = value.strip() if value is not None else None
    evidence: dict[str, Any] = {"net.ipv4.ip_forward": now, "phase": phase, **files}
    measured: int | str | None = int(now) if now is not None and now.isdigit() else now
    fix_file = ("Remove net.ipv4.ip_forward from {f}, or set it to 1 there; files are applied in file-name "
                "order across /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, "
                "/lib/sysctl.d, then /etc/sysctl.conf, and the last value wins.")
    if phase == PRE_JOIN and files:
        after = _last(files.get("afterNodeadm", []))
        if after is not None and after[1] != "1":
            return Outcome(Status.FAIL, f"{after[0]} sets net.ipv4.ip_forward = {after[1]} and is applied after "
                           f"{NODEADM_SYSCTL}: nodeadm init sets forwarding to 1 and runs sysctl --system, which "
                           f"turns it off again (now {now if now is not None else 'unreadable'}).",
                           measured=after[1], threshold=1, remediation=fix_file.format(f=after[0]),
                           evidence=evidence)
        state = f"is {now} now" if now is not None else "is not readable now"
        return Outcome(Status.PASS, f"net.ipv4.ip_forward {state}; nodeadm init sets it to 1 ({NODEADM_SYSCTL}, "
                       "applied with sysctl --system) and no sysctl file applied after that one turns it off.",
                       measured=measured, threshold=1, evidence=evidence)
    if now is None:
        return Outcome.skip(SkipReason.PRIVILEGE, "/proc/sys/net/ipv4/ip_forward is not readable here.",
                            remediation="Run netcheck on the host (not in a restricted container).")
    persisted = _last(files.get("assignments", [])) if files else None
    if now != "1":
        where = (f"; {persisted[0]} sets it to {persisted[1]}" if persisted else "")
        return Outcome(Status.FAIL, f"net.ipv4.ip_forward is {now} on this joined node{where}: the host will not "
                       "forward pod traffic between the network and its pods.", measured=measured, threshold=1,
                       remediation="sysctl -w net.ipv4.ip_forward=1, and persist it: nodeadm init writes "
                                   f"{NODEADM_SYSCTL}; make sure no file applied after it sets 0"
                                   + (f" ({persisted[0]})." if persisted and persisted[1] != "1" else "."),
                       evidence=evidence)
    if persisted is not None and persisted[1] != "1":
        return Outcome(Status.WARN, f"net.ipv4.ip_forward is 1 now, but {persisted[0]} sets it to {persisted[1]} "
                       "and is applied last: forwarding goes off at the next boot or sysctl --system.",
                       measured=1, threshold=1, remediation=fix_file.format(f=persisted[0]), evidence=evidence)
    return Outcome(Status.PASS, "net.ipv4.ip_forward is 1.", measured=1, evidence=evidence)


def _rp_filter(spec: Spec, ev: Evidence) -> Outcome:
    if not spec.target:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, "No VPC CIDR or control-plane IP is configured to test "
                            "reverse-path filtering against.",
                            remediation="Set spec.vpc.cidrs or spec.cluster.controlPlaneIps.")
    if ev.route.get("result") != "unicast":
        return Outcome.skip(SkipReason.DEPENDENCY, f"There is no usable route toward {spec.target} "
                            f"({ev.route.get('result', 'no-route')}), so the return path cannot be judged.",
                            remediation="Fix the routing.vpc / routing.control-plane findings first.",
                            evidence={"route": ev.route})
    evidence: dict[str, Any] = {"target": spec.target, "egress": ev.egress, "source": ev.source,
                                "interfaces": ev.interfaces, "IPReversePathFilter": ev.rp_drops}
    bad = {n: row for n, row in ev.interfaces.items() if row.get("acceptsFromTarget") is False}
    strict = sorted(n for n, row in ev.interfaces.items() if row.get("effective") == 1)
    if bad:
        name, row = next(iter(bad.items()))
        sysctls = f"net.ipv4.conf.{name}.rp_filter={row['interface']}, net.ipv4.conf.all.rp_filter={row['all']}"
        drops = ev.rp_drops or 0
        status = Status.FAIL if drops > 0 else Status.WARN
        tail = (f"; the kernel has already dropped {drops} packets for failing the reverse-path check"
                if drops else "; this matters when VPC traffic arrives there (asymmetric routing)")
        fix_all = " and net.ipv4.conf.all.rp_filter=2" if row["all"] == 1 else ""
        return Outcome(status, f"Packets from {spec.target} arriving on {name} would be dropped by strict rp_filter "
                       f"({sysctls}), because the route back leaves via {ev.egress}{tail}.",
                       measured=f"{name}: rp_filter {row['effective']}", threshold="0 or 2 (loose) on that interface",
                       remediation=f"sysctl -w net.ipv4.conf.{name}.rp_filter=2{fix_all} (loose mode), persisted in "
                                   "/etc/sysctl.d/; or make the return route symmetric.", evidence=evidence)
    if not ev.interfaces:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, "This host has no interface that is up.", evidence=evidence)
    detail = f"strict on {', '.join(strict)}" if strict else "no interface uses strict mode"
    return Outcome(Status.PASS, f"Reverse-path filtering accepts traffic from {spec.target} on every interface "
                   f"({detail}; replies leave via {ev.egress}).", evidence=evidence)
