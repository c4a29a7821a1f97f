"""The node interface's MTU, against the rule `nodeadm debug` applies: 68–1500 (standard Ethernet) or
8000–9001 (jumbo frames), on the interface that holds the node IP.

nodeadm: internal/network/utils.go ValidateMTU and ValidateNetworkInterfaceMTUForIP, run by
`nodeadm debug` (cmd/nodeadm/debug/debug.go:131); `nodeadm init` registers the same validator with
MTU checking off (internal/node/hybrid/hybrid.go:139), so a value outside the ranges WARNs rather than
FAILs. The measured path MTU (mtu.path.*) says what actually gets through; this check says what the
interface is set to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.settings import Settings, Thresholds
from netcheck.units import Unit
from probes import CheckKind

DOCS = "https://docs.aws.amazon.com/vpc/latest/tgw/transit-gateway-quotas.html#mtu-quotas"
RANGES = ((68, 1500), (8000, 9001))
SIOCGIFMTU = 0x8921

CHECKS: tuple[CheckKind, ...] = (
    CheckKind("mtu.interface.range", "The node interface's MTU is 68–1500 or 8000–9001 (nodeadm debug's rule)",
              Category.MTU, docs=DOCS),
)


@dataclass(frozen=True)
class Spec:
    node_ip: str | None  # None: the default-route interface's first address (the kubelet's pick)


@dataclass(frozen=True)
class Evidence:
    node_ip: str | None
    interface: str | None
    mtu: int | None
    how: str  # where the node IP came from
    error: str = ""


def plan(settings: Settings) -> list[Check]:
    return [CHECKS[0].check("mtu.interface.range", Spec(settings.spec.node.ip), probe="interface", timeout=3)]


def interface_mtu(name: str) -> int:
    """The MTU of interface `name` in this network namespace (SIOCGIFMTU); OSError when there is none."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        res = fcntl.ioctl(s.fileno(), SIOCGIFMTU, struct.pack("16si", name.encode()[:15], 0))
    return int(struct.unpack("16si", res)[1])


def collect(spec: Spec, net: Net) -> Evidence:
    ip, how = spec.node_ip, "the configured node IP"
    if ip is None:
        d = net.default_route()
        if d is None or not d.address:
            return Evidence(None, None, None, "none", "no IPv4 default route with an address, so the node IP is "
                            "not known")
        ip, how = d.address, f"the first address of {d.interface}, the default-route interface"
    owner = next((p.interface for p in net.local_prefixes() if p.kind == "address" and p.address == ip), None)
    if owner is None:
        return Evidence(ip, None, None, how, f"no interface of this host holds {ip}")
    try:
        mtu = interface_mtu(owner)
    except OSError as exc:
        return Evidence(ip, owner, None, how, f"cannot read the MTU of {owner} ({exc.strerror})")
    return Evidence(ip, owner, mtu, how)


def in_range(mtu: int) -> bool:
    return any(lo <= mtu <= hi for lo, hi in RANGES)


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    evidence: dict[str, Any] = {"nodeIp": ev.node_ip, "interface": ev.interface, "mtu": ev.mtu, "nodeIpFrom": ev.how}
    if ev.mtu is None:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"The node interface's MTU could not be read: {ev.error}.",
                            "Set spec.node.ip (or --node-ip) to the address the kubelet will use.", evidence=evidence)
    where = f"{ev.interface} (holding node IP {ev.node_ip}, {ev.how})"
    if in_range(ev.mtu):
        return Outcome(Status.PASS, f"{where} has MTU {ev.mtu}, inside nodeadm debug's ranges 68–1500 and 8000–9001.",
                       measured=ev.mtu, threshold="68–1500 or 8000–9001", unit=Unit.BYTES, evidence=evidence)
    return Outcome(Status.WARN, f"{where} has MTU {ev.mtu}, outside 68–1500 (standard) and 8000–9001 (jumbo); "
                   "nodeadm debug's network-interface check fails on it (nodeadm init does not check the MTU), and "
                   "packets that large do not cross a VPN, Direct Connect or transit gateway without fragmenting.",
                   measured=ev.mtu, threshold="68–1500 or 8000–9001", unit=Unit.BYTES,
                   remediation=f"Set the MTU of {ev.interface} to 1500 (or 9001 for jumbo frames end to end): "
                               f"ip link set dev {ev.interface} mtu 1500, and make it persistent in the network "
                               "configuration (netplan, NetworkManager).", evidence=evidence)
