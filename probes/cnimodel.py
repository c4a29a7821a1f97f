"""What each CNI needs from the network, by plugin and mode: the one table netcheck plans from.

For a (plugin, mode, WireGuard, Typha) it gives the node ↔ node ports and protocols (the
`cni.<peer>.*` probes and the `firewall.local.*` checks), the bytes each pod packet gains on
the wire (for `mtu.cni`), and whether pod IPs must be routable outside the node.
Defaults are each CNI's defaults for EKS Hybrid Nodes (the EKS user guide's Cilium and Calico
set-ups: Cilium VXLAN; Calico VXLAN with BGP off and the operator's Typha).
Sources (docs/reference/eks-hybrid-network-requirements.md §2 rows 11–16, §4): Cilium firewall
rules and pkg/mtu (TunnelOverhead 50, WireguardOverhead 80); Calico network requirements and
MTU guide (IP-in-IP 20, VXLAN 50, WireGuard 60; the largest enabled overhead applies).
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings validates spec.cni with this table, so no import at load time
    from netcheck.settings import Settings

DOCS_CILIUM = "https://docs.cilium.io/en/stable/operations/system_requirements/#firewall-rules"
DOCS_CALICO = "https://docs.tigera.io/calico/latest/getting-started/kubernetes/requirements#network-requirements"

PLUGINS = ("cilium", "calico")
MODES: dict[str, tuple[str, ...]] = {"cilium": ("vxlan", "geneve", "native", "bgp"),
                                     "calico": ("vxlan", "ipip", "bgp", "native")}
DEFAULT_MODE = {"cilium": "vxlan", "calico": "vxlan"}
MODE_NAMES = {"vxlan": "VXLAN", "geneve": "Geneve", "native": "native routing", "ipip": "IP-in-IP",
              "bgp": "BGP (no encapsulation)"}
# Bytes a pod packet gains between nodes, per mode.
ENCAP_OVERHEAD = {"vxlan": 50, "geneve": 50, "ipip": 20, "native": 0, "bgp": 0}
WIREGUARD_OVERHEAD = {"cilium": 80, "calico": 60}
WIREGUARD_PORT = {"cilium": 51871, "calico": 51820}


@dataclass(frozen=True)
class CniPort:
    """One thing a node must let through: `proto` tcp, udp or ipip (IP protocol 4, no port)."""

    proto: str
    port: int
    purpose: str
    required: bool
    why_optional: str = ""
    between_nodes: bool = True  # False: only with the on-prem router (local firewall check, no peer probe)

    @property
    def label(self) -> str:
        """The id part: udp-8472, tcp-179, or ipip."""
        return "ipip" if self.proto == "ipip" else f"{self.proto}-{self.port}"

    @property
    def shown(self) -> str:
        return "IP protocol 4" if self.proto == "ipip" else f"{self.proto.upper()} {self.port}"


@dataclass(frozen=True)
class CniModel:
    plugin: str
    mode: str
    wireguard: bool
    typha: bool
    ports: tuple[CniPort, ...]
    overhead: int  # bytes per pod packet between nodes
    encapsulation: str  # how overhead is made up, e.g. "VXLAN 50 + WireGuard 80"
    routable_pods: bool  # pod IPs leave the node unmasqueraded and must be routed
    docs: str

    @property
    def name(self) -> str:
        wg = " + WireGuard" if self.wireguard else ""
        return f"{self.plugin} {MODE_NAMES[self.mode]}{wg}"


class CniModeError(ValueError):
    """A plugin/mode combination the CNI does not offer."""


def model(plugin: str, mode: str | None = None, wireguard: bool = False, typha: bool | None = None) -> CniModel:
    """The model for a plugin and mode (None: the plugin's hybrid-nodes default)."""
    if plugin not in PLUGINS:
        raise CniModeError(f"no CNI model for plugin {plugin!r}")
    mode = mode or DEFAULT_MODE[plugin]
    if mode not in MODES[plugin]:
        raise CniModeError(f"{plugin} has no mode {mode!r}; choose one of {', '.join(MODES[plugin])}")
    ports: list[CniPort] = []
    if plugin == "cilium":
        if typha:
            raise CniModeError("cni.typha applies to Calico only")
        if mode == "vxlan":
            ports.append(CniPort("udp", 8472, "Cilium VXLAN", True))
        elif mode == "geneve":
            ports.append(CniPort("udp", 6081, "Cilium Geneve", True))
        elif mode == "bgp":
            ports.append(CniPort("tcp", 179, "Cilium BGP with the on-prem router", True, between_nodes=False))
        ports.append(CniPort("tcp", 4240, "cilium-health", False,
                             "Cilium documents the health checks as recommended but optional"))
        docs, typha_on = DOCS_CILIUM, False
    else:
        typha_on = True if typha is None else typha
        if mode == "vxlan":
            ports.append(CniPort("udp", 4789, "Calico VXLAN", True))
        elif mode == "ipip":
            ports.append(CniPort("ipip", 0, "Calico IP-in-IP", True))
        if mode in ("ipip", "bgp", "native"):
            ports.append(CniPort("tcp", 179, "Calico BGP", True))
        ports.append(CniPort("tcp", 5473, "Calico Typha", typha_on,
                             "" if typha_on else "Typha is not deployed (cni.typha: false)"))
        docs = DOCS_CALICO
    encap = [f"{MODE_NAMES[mode]} {ENCAP_OVERHEAD[mode]}"] if ENCAP_OVERHEAD[mode] else []
    overhead = ENCAP_OVERHEAD[mode]
    if wireguard:
        wg = WIREGUARD_OVERHEAD[plugin]
        ports.append(CniPort("udp", WIREGUARD_PORT[plugin], f"{plugin.capitalize()} WireGuard", True))
        if plugin == "cilium":  # Cilium encrypts the tunnel packet: both overheads add up
            overhead += wg
            encap.append(f"WireGuard {wg}")
        else:  # Calico sizes for the largest enabled overhead
            overhead = max(overhead, wg)
            encap = [f"WireGuard {wg}"] if wg >= ENCAP_OVERHEAD[mode] else encap
    return CniModel(plugin, mode, wireguard, typha_on, tuple(ports), overhead,
                    " + ".join(encap) or "none", mode in ("native", "bgp"), docs)


def for_settings(settings: Settings) -> CniModel | None:
    """The site's model, or None with spec.cni.plugin: none (validated when the profile loads)."""
    c = settings.spec.cni
    if c.plugin == "none":
        return None
    return model(c.plugin, c.effective_mode, c.effective_wireguard, c.typha)


def pod_routing(settings: Settings) -> tuple[bool, str]:
    """(must pod CIDRs be routed to and from the VPC?, why) for this site's CNI and webhooks."""
    m = for_settings(settings)
    if m is not None and m.routable_pods:
        return True, f"{m.name} does not masquerade pod traffic, so pod IPs must be routable"
    if settings.spec.webhook_ports:
        ports = ", ".join(str(p) for p in settings.spec.webhook_ports)
        return True, f"webhooks run on hybrid nodes (spec.webhookPorts: {ports}) and the control plane calls pod IPs"
    if m is None:
        return False, "no CNI is configured (spec.cni.plugin: none) and no webhook ports are listed"
    return False, (f"{m.name} masquerades pod traffic to the node IP and no webhook ports are listed "
                   "(spec.webhookPorts), so pod CIDR routes are needed only for webhooks or cloud ↔ hybrid pod traffic")


def table() -> list[tuple[str, str, bool, CniModel]]:
    """Every (plugin, mode, wireguard) combination, for the README and the tests."""
    return [(p, m, wg, model(p, m, wg)) for p in PLUGINS for m in MODES[p] for wg in (False, True)]


def markdown_table() -> str:
    """The README's plugin × mode table, generated from `model` (a test keeps the README equal to it)."""
    rows = ["| plugin | mode | WireGuard | required node ↔ node | advisory | overhead (bytes) | CNI MTU at 1500 "
            "| pod IPs routed |", "|---|---|---|---|---|---|---|---|"]
    for p, mode, wg, m in table():
        req = ", ".join(x.shown + ("" if x.between_nodes else " (router)") for x in m.ports if x.required)
        adv = ", ".join(x.shown for x in m.ports if not x.required) or "–"
        rows.append(f"| {p} | {mode}{' (default)' if mode == DEFAULT_MODE[p] else ''} | {'yes' if wg else 'no'} "
                    f"| {req or '–'} | {adv} | {m.overhead} | {1500 - m.overhead} | "
                    f"{'required' if m.routable_pods else 'optional'} |")
    return "\n".join(rows)
