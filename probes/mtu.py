"""Path MTU toward the VPC, PMTU black holes, and the CNI MTU that fits the path.

`mtu.path.<target>` searches the largest DF packet that reaches each target (exact to the
byte) and tells a working PMTU discovery (ICMP "fragmentation needed" comes back) from a
black hole (large packets vanish in silence: FAIL). `mtu.cni` turns the smallest path MTU
into the CNI MTU: path MTU − the overhead of the site's CNI mode (probes/cnimodel.py: VXLAN and
Geneve 50, IP-in-IP 20, Cilium WireGuard +80, Calico WireGuard 60). Encapsulated traffic crosses
the node-to-node path, so `mtu.cni` measures toward the peers (spec.peers) when they are known,
else toward the VPC, and says which.
One search per target and network namespace is shared by both checks (memo below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.net.pmtu import PmtuResult
from netcheck.protocol import RESPONDER_PORT
from netcheck.settings import Settings, Thresholds, split_hostport
from netcheck.units import Unit
from probes import CheckKind
from probes.base import MissingPrivilege, ProbeSkip
from probes.cnimodel import for_settings as cni_model

DOCS = "https://docs.aws.amazon.com/vpn/latest/s2svpn/cgw-best-practice.html"
DOCS_CNI = "https://docs.tigera.io/calico/latest/networking/configuring/mtu"
OVERHEAD = {"vxlan": 50, "geneve": 50, "ipip": 20, "wireguard": 60, "none": 0}
DEFAULT_ENCAP = {"cilium": "vxlan", "calico": "ipip"}
ENCAP_NAMES = {"vxlan": "VXLAN", "geneve": "Geneve", "ipip": "IP-in-IP", "wireguard": "WireGuard",
               "none": "no encapsulation"}
SEARCH_TIMEOUT = 20.0
MAX_PEERS = 3  # peer nodes searched for mtu.cni


@dataclass(frozen=True)
class Target:
    host: str
    label: str
    udp_port: int | None = None  # responder UDP echo (mode 1), when the target is the responder


@dataclass(frozen=True)
class Spec:
    kind: str  # "path" or "cni"
    targets: tuple[Target, ...]
    ceiling: int = 9001
    plugin: str = "cilium"
    encapsulation: str | None = None  # how the overhead is made up, e.g. "VXLAN 50"
    dns_servers: tuple[str, ...] = ()
    overhead_bytes: int | None = None  # from the CNI model; None: no CNI
    peers: tuple[str, ...] = ()  # mtu.cni: targets that are peer nodes (node-to-node path)


@dataclass(frozen=True)
class Evidence:
    results: tuple[PmtuResult, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()  # (target, why it could not be measured)
    no_route: tuple[dict[str, Any], ...] = ()  # targets this host has no route to (NoRouteError.to_evidence())


# --- plan ----------------------------------------------------------------------------

def mtu_targets(settings: Settings) -> tuple[Target, ...]:
    """spec.mtu.targets when set; otherwise the control-plane IPs and the responder."""
    s = settings.spec
    out: dict[str, Target] = {}
    if s.mtu.targets:
        for host in s.mtu.targets:
            out.setdefault(host, Target(host, "MTU target"))
    else:
        for ip in s.cluster.control_plane_ips:
            out.setdefault(ip, Target(ip, "EKS control plane ENI"))
    if s.responder:
        host, port = split_hostport(s.responder, RESPONDER_PORT)
        if host in out or not s.mtu.targets:
            out[host] = Target(host, "responder", port)
    return tuple(out.values())


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('mtu.path.*', 'Path MTU to a target and PMTU discovery', Category.MTU,
              docs='https://docs.aws.amazon.com/vpn/latest/s2svpn/cgw-best-practice.html'),
    CheckKind('mtu.cni', 'CNI MTU fits the path between the nodes', Category.MTU,
              docs='https://docs.tigera.io/calico/latest/networking/configuring/mtu'),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    targets = mtu_targets(settings)
    dns = tuple(str(x) for x in s.dns.servers)
    m = cni_model(settings)
    common = dict(ceiling=s.mtu.max, plugin=s.cni.plugin, encapsulation=m.encapsulation if m else None,
                  dns_servers=dns, overhead_bytes=m.overhead if m else None)
    path_kind, cni_kind = CHECKS
    checks = [path_kind.check(f"mtu.path.{t.host}", Spec("path", (t,), **common),  # type: ignore[arg-type]
                              probe="mtu", title=f"Path MTU to {t.host} ({t.label}) and PMTU discovery",
                              timeout=SEARCH_TIMEOUT + 5) for t in targets]
    peers = tuple(Target(p, "peer node") for p in s.peers[:MAX_PEERS] if ":" not in p)
    if targets or peers:
        cni_targets = peers + tuple(t for t in targets if t.host not in s.peers)
        what = "between the nodes" if peers else "to the VPC"
        checks.append(cni_kind.check("mtu.cni", Spec("cni", cni_targets, peers=tuple(t.host for t in peers),
                                                     **common),  # type: ignore[arg-type]
                                     probe="mtu", title=f"CNI MTU fits the path {what}",
                                     timeout=SEARCH_TIMEOUT * len(cni_targets) + 5))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def _search(target: Target, ip: str, ceiling: int, net: Net) -> PmtuResult:
    """One PMTU search per (namespace, target) and run, shared by concurrent checks (Net.once)."""
    return net.once(("pmtu", net.namespace_id(), ip, target.udp_port, ceiling),
                    lambda: _search_now(target, ip, ceiling, net))


def _search_now(target: Target, ip: str, ceiling: int, net: Net) -> PmtuResult:
    result = None
    if target.udp_port:
        result = net.pmtu(ip, SEARCH_TIMEOUT, ceiling, responder_port=target.udp_port)
    if result is None or not result.reachable:
        udp = result
        result = net.pmtu(ip, SEARCH_TIMEOUT, ceiling)  # ICMP (raises IcmpUnavailable)
        if not result.reachable and udp is not None:
            result = udp
    return result


def _resolve(host: str, spec: Spec, net: Net) -> str:
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        answer = net.resolve(host, "A", spec.dns_servers)
        if not answer.addresses:
            raise ProbeSkip(SkipReason.DEPENDENCY, f"{host} did not resolve ({answer.status}).",
                            "Fix name resolution first (see the dns checks).") from None
        return answer.addresses[0]


def collect(spec: Spec, net: Net) -> Evidence:
    from netcheck.net.icmp import IcmpUnavailable
    from netcheck.net.localerr import NoRouteError

    results: list[PmtuResult] = []
    problems: list[tuple[str, str]] = []
    no_route: list[dict[str, Any]] = []
    for t in spec.targets:
        try:
            results.append(_search(t, _resolve(t.host, spec, net), spec.ceiling, net))
        except IcmpUnavailable as exc:
            if spec.kind == "path":
                raise MissingPrivilege(f"Path MTU to {t.host} needs ICMP echo or a responder: {exc.message}.",
                                       f"{exc.fix}; or run `netcheck serve` in the VPC and set spec.responder "
                                       "(UDP echo needs no privilege).") from None
            problems.append((t.host, exc.message))
        except ProbeSkip as exc:
            if spec.kind == "path":
                raise
            problems.append((t.host, exc.message))
        except NoRouteError as exc:  # this host's own routing: mtu.path says so as FAIL (runner)
            if spec.kind == "path":
                raise
            problems.append((t.host, exc.sentence()))
            no_route.append(exc.to_evidence())
    return Evidence(tuple(results), tuple(problems), tuple(no_route))


# --- evaluate (pure) -----------------------------------------------------------------

def overhead(spec: Spec) -> tuple[str, int]:
    """(encapsulation, bytes) the CNI adds to each pod packet (probes/cnimodel.py via plan)."""
    if spec.overhead_bytes is not None:
        return spec.encapsulation or "none", spec.overhead_bytes
    encap = spec.encapsulation or DEFAULT_ENCAP.get(spec.plugin, "vxlan")
    return encap, OVERHEAD.get(encap, 50)


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    return _path(spec, ev) if spec.kind == "path" else _cni(spec, ev)


def _encap_label(encap: str, extra: int) -> str:
    """'VXLAN' (its size is said beside it), 'VXLAN 50 + WireGuard 80' (sizes inside), 'no encapsulation'."""
    label = ENCAP_NAMES.get(encap, encap)
    return label if " + " in label else label.removesuffix(f" {extra}")


def _iface(r: PmtuResult) -> str:
    return f"{r.interface} ({r.interface_mtu})" if r.interface else f"({r.interface_mtu})"


def _path(spec: Spec, ev: Evidence) -> Outcome:
    target = spec.targets[0]
    if not ev.results:
        why = ev.problems[0][1] if ev.problems else "no result"
        return Outcome.skip(SkipReason.PRIVILEGE, f"Path MTU to {target.host} was not measured: {why}.")
    r = ev.results[0]
    evidence = r.to_evidence()
    encap, extra = overhead(spec)
    if not r.reachable:
        return Outcome.skip(SkipReason.NEEDS_PEER,
                            f"{target.host} answered no small probe by {r.method}, so its path MTU cannot be "
                            "measured (ICMP echo filtered, or the host is unreachable).",
                            remediation="Run `netcheck serve` in the VPC and set spec.responder (UDP echo), or "
                                        f"allow ICMP echo to {target.host} from the node subnet.", evidence=evidence)
    assert r.path_mtu is not None
    pmtu = r.path_mtu
    dev = r.interface or "the node interface"
    if_mtu = r.interface_mtu or r.ceiling
    # The threshold is what the search could confirm at most: the interface MTU, or the
    # configured maximum (spec.mtu.max) when that is lower (lo's 65536 is never searched).
    top = min(if_mtu, r.ceiling)
    capped = r.ceiling < if_mtu
    top_words = (f"the configured search maximum (spec.mtu.max {r.ceiling}; {dev} has MTU {if_mtu})" if capped
                 else f"the {if_mtu}-byte MTU of {dev}")
    if r.black_hole:
        mss = pmtu - 40
        return Outcome(Status.FAIL,
                       f"Path MTU to {target.host} is {pmtu} bytes; {dev} sends {if_mtu} and ICMP 'fragmentation "
                       f"needed' never came back (DF packets of {r.smallest_silent}+ bytes vanish): a PMTU black hole.",
                       measured=pmtu, threshold=top, unit=Unit.BYTES,
                       remediation=f"Allow ICMP type 3 code 4 (fragmentation needed) back to the node on every "
                                   f"firewall and router of the path; or clamp TCP MSS to {mss} on the VPN/DX gateway "
                                   f"(iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS "
                                   f"--set-mss {mss}); or lower the interface MTU to {pmtu} "
                                   f"(ip link set dev {dev} mtu {pmtu}) and set the CNI MTU to {pmtu - extra}.",
                       evidence=evidence)
    if pmtu < if_mtu and pmtu < r.ceiling:
        who = f" ({r.icmp_from} sends 'fragmentation needed' with MTU {r.icmp_mtu})" if r.icmp_from else ""
        return Outcome(Status.WARN,
                       f"Path MTU to {target.host} is {pmtu} bytes, below {top_words}; "
                       f"PMTU discovery works{who}, but encapsulated pod traffic must fit the path.",
                       measured=pmtu, threshold=top, unit=Unit.BYTES,
                       remediation=f"Set the CNI MTU to {pmtu - extra} ({_encap_label(encap, extra)} adds {extra} bytes), "
                                   f"or lower the MTU of {dev} to {pmtu}; clamping TCP MSS to {pmtu - 40} on the "
                                   "gateway avoids relying on PMTU discovery.", evidence=evidence)
    reached = (f"{top_words}, as far as the search goes" if capped else f"the full MTU of {dev}")
    return Outcome(Status.PASS, f"Path MTU to {target.host} is {pmtu} bytes, {reached}, "
                   f"found with {r.probes} DF probes by {r.method}.", measured=pmtu, threshold=top, unit=Unit.BYTES,
                   evidence=evidence)


def _cni(spec: Spec, ev: Evidence) -> Outcome:
    if spec.plugin == "none":
        return Outcome.skip(SkipReason.NOT_APPLICABLE, "No CNI is configured (spec.cni.plugin: none).")
    usable = [r for r in ev.results if r.reachable and r.path_mtu is not None]
    between = [r for r in usable if r.target in spec.peers]
    measured = between or usable
    basis = ("the node-to-node path" if between else
             "the path toward the VPC (no peer node answered)" if spec.peers else
             "the path toward the VPC (no peers in spec.peers)")
    encap, extra = overhead(spec)
    evidence: dict[str, Any] = {"plugin": spec.plugin, "encapsulation": encap, "overhead": extra,
                                "basis": "node-to-node" if between else "toward-vpc",
                                "paths": {r.target: r.path_mtu for r in usable},
                                "problems": [list(p) for p in ev.problems]}
    if not measured and ev.no_route and len(ev.no_route) == len(ev.problems):
        evidence.update(localError=ev.no_route[0]["localError"], route=ev.no_route[0].get("route"))
        targets = ", ".join(str(n["target"]) for n in ev.no_route)
        return Outcome.skip(SkipReason.DEPENDENCY, f"No path MTU was measured, so no CNI MTU can be advised: this "
                            f"host has no route to {targets}.",
                            remediation=f"Add a route toward {targets} on this host (see the routing checks), then "
                                        "run netcheck again.", evidence=evidence)
    if not measured:
        why = "; ".join(f"{h}: {w}" for h, w in ev.problems) or "no target answered a small probe"
        return Outcome.skip(SkipReason.NEEDS_PEER if not ev.problems else SkipReason.PRIVILEGE,
                            f"No path MTU was measured, so no CNI MTU can be advised ({why}).",
                            remediation="Set spec.responder to a `netcheck serve` in the VPC, or allow ICMP echo "
                                        "(net.ipv4.ping_group_range) for this user.", evidence=evidence)
    worst = min(measured, key=lambda r: r.path_mtu or 0)
    pmtu = worst.path_mtu or 0
    if_mtu = worst.interface_mtu or worst.ceiling
    advice = pmtu - extra
    auto = if_mtu - extra
    evidence.update(pathMtu=pmtu, interfaceMtu=if_mtu, advisedCniMtu=advice, autoCniMtu=auto)
    how = {"cilium": f"Cilium: helm upgrade cilium … --set MTU={advice}",
           "calico": f"Calico: kubectl patch installation default --type merge -p "
                     f"'{{\"spec\":{{\"calicoNetwork\":{{\"mtu\":{advice}}}}}}}'"}.get(spec.plugin, "")
    name = f"{spec.plugin} with {_encap_label(encap, extra)}" + (f" ({extra} bytes)" if extra else "")
    if pmtu < if_mtu and pmtu < worst.ceiling:
        hole = " (through a PMTU black hole: oversized pod packets would vanish)" if worst.black_hole else ""
        return Outcome(Status.WARN, f"The CNI MTU must be at most {advice} bytes (measured: the {pmtu}-byte path MTU "
                       f"to {worst.target}{hole}, judged on {basis}, less {extra} for {name}), but the CNI would "
                       f"derive {auto} bytes (threshold) from the {if_mtu}-byte interface.",
                       measured=advice, threshold=auto, unit=Unit.BYTES,
                       remediation=f"Set the CNI MTU to {advice}. {how}".strip(), evidence=evidence)
    return Outcome(Status.PASS, f"Judged on {basis}: it carries the full {pmtu}-byte interface MTU; {name} can use "
                   f"a CNI MTU of {advice}.", measured=advice, unit=Unit.BYTES, evidence=evidence)
