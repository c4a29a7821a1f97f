"""What probes share: the exceptions collect() raises to mean SKIP, small helpers, and the path probe
that tells a silent UDP service from a path that carries nothing."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netcheck.model import SkipReason

if TYPE_CHECKING:
    from netcheck.net import Net


class ProbeSkip(Exception):
    """Raised by collect() when the check cannot run here; becomes a SKIP result."""

    def __init__(self, reason: SkipReason, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.fix = reason, message, fix


class MissingPrivilege(ProbeSkip):
    """A capability or sysctl is missing; says which and how to grant it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(SkipReason.PRIVILEGE, message, fix)


def matches(check_id: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Glob match over check ids; a bare prefix like 'mtu' or 'reach.eks-api' also matches."""
    for pat in patterns:
        if fnmatch.fnmatchcase(check_id, pat) or check_id == pat or check_id.startswith(pat + "."):
            return True
    return False


# --- "is it the service or the path?" after a UDP service gave no answer at all -------------

LOSS_HINT = "see the latency.rtt checks for the path's loss"


@dataclass(frozen=True)
class PathProbe:
    """Other traffic to the same host after its UDP service stayed silent: TCP connects and ICMP echo.

    `alive` means something came back (a handshake, a reset, an echo reply), so the path
    carries traffic and the silence is the service's (or a filter on its port). Nothing at
    all coming back means the path is down or drops everything: not the service's fault.
    """

    ip: str
    tcp: tuple[tuple[int, str], ...] = ()  # (port, connected | refused | timeout | unreachable | ...)
    icmp: str = "not tried"  # answered | lost | unavailable | not tried

    @property
    def alive(self) -> bool:
        return self.icmp == "answered" or any(o in ("connected", "refused") for _, o in self.tcp)

    @property
    def down(self) -> bool:
        """Nothing came back although ICMP echo was sent too: the path, not the service."""
        return not self.alive and self.icmp == "lost"

    def summary(self) -> str:
        parts = [f"TCP {p} {o}" for p, o in self.tcp] + ([f"ICMP echo {self.icmp}"] if self.icmp != "not tried" else [])
        return ", ".join(parts)

    def to_evidence(self) -> dict[str, Any]:
        return {"ip": self.ip, "alive": self.alive, "down": self.down, "tcp": {str(p): o for p, o in self.tcp},
                "icmp": self.icmp, "summary": self.summary()}


def probe_path(net: Net, ip: str, tcp_ports: tuple[int, ...] = (), timeout: float = 2.0) -> PathProbe:
    """Does anything reach `ip` and come back? TCP connects to `tcp_ports`, then ICMP echo if none answered.

    Bounded by `timeout` per step and by the check's deadline; a step without time left is reported as such.
    """
    from netcheck.net import DeadlineExceeded
    from netcheck.net.icmp import IcmpUnavailable

    tcp: list[tuple[int, str]] = []
    try:
        for port in tcp_ports:
            tcp.append((port, net.dial(ip, port, timeout=timeout).outcome))
            if tcp[-1][1] in ("connected", "refused"):
                return PathProbe(ip, tuple(tcp))
        try:
            series = net.ping(ip, count=3, interval=0.2, timeout=timeout, wait=min(1.0, timeout))
            icmp = "answered" if series.received else "lost"
        except IcmpUnavailable:
            icmp = "unavailable"
    except DeadlineExceeded:
        return PathProbe(ip, tuple(tcp), "not tried (no time left)")
    return PathProbe(ip, tuple(tcp), icmp)
