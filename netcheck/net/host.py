"""Host facts that say where a node is in its life: files under a host root, listeners, links.

Files are read below a root directory (`/` by default; `NETCHECK_HOST_ROOT` points it at a
mounted host filesystem such as `/host` in a DaemonSet, or at a test's own directory).
Listeners, links and the default route belong to the current network namespace, never to
the root directory.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

MAX_FILE = 1 << 20  # sysctl and kubelet files are small; never slurp something huge


def host_path(root: str, path: str) -> Path:
    """`path` (absolute, as on the host) below `root`."""
    return Path(root) / path.lstrip("/")


def read_text(root: str, path: str) -> str | None:
    """The text of a host file, or None when it is absent, unreadable, not a regular file or over 1 MiB."""
    from netcheck.safeio import read_optional

    return read_optional(host_path(root, path), MAX_FILE, "host file")


def list_dir(root: str, path: str) -> list[str]:
    """Names in a host directory, sorted; [] when it is absent or unreadable."""
    try:
        return sorted(os.listdir(host_path(root, path)))
    except OSError:
        return []


def tcp_listening(port: int) -> bool:
    """Whether a TCP socket of this network namespace listens on `port` (/proc/net/tcp, tcp6)."""
    want = f"{port:04X}"
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A" and parts[1].rsplit(":", 1)[-1] == want:
                return True
    return False


def link_names() -> list[str]:
    """Every network interface of this namespace, up or down.

    libc's if_nameindex asks the kernel over netlink from this thread (so a namespace the
    thread entered is the one listed), without the cost of importing pyroute2 before the
    first check can start.
    """
    import socket

    return [name for _, name in socket.if_nameindex()]


@dataclass(frozen=True)
class DefaultRoute:
    """The interface the kubelet would take its address from, and that address."""

    interface: str
    gateway: str | None
    address: str | None  # first global IPv4 address of the interface, in kernel order
    addresses: tuple[str, ...] = ()


def _global(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return not (a.is_loopback or a.is_link_local or a.is_multicast or a.is_unspecified)


def default_route() -> DefaultRoute | None:
    """The main table's IPv4 default route as kubelet's ChooseHostInterface takes it.

    Default routes are tried by metric; the first whose interface has a global IPv4 address
    wins (apimachinery ResolveBindAddress). None when there is no default route at all.
    """
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        names = {link["index"]: str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()}
        defaults: list[tuple[int, int, str | None]] = []
        for route in ipr.get_routes(family=2, table=254):
            if route["dst_len"] != 0 or route["type"] != 1:  # unicast default only
                continue
            oif = route.get_attr("RTA_OIF")
            if oif is not None:
                defaults.append((route.get_attr("RTA_PRIORITY") or 0, oif, route.get_attr("RTA_GATEWAY")))
        found: DefaultRoute | None = None
        for _, oif, gateway in sorted(defaults, key=lambda d: d[0]):
            addrs = tuple(str(a.get_attr("IFA_ADDRESS")) for a in ipr.get_addr(family=2, index=oif))
            first = next((a for a in addrs if _global(a)), None)
            if first is not None:
                return DefaultRoute(names.get(oif, "?"), gateway, first, addrs)
            found = found or DefaultRoute(names.get(oif, "?"), gateway, None, addrs)
    return found


def lookup_host(name: str) -> tuple[str, ...]:
    """IPv4 addresses for `name` the way libc resolves it (hosts file, then DNS), like Go's net.LookupIP."""
    import socket

    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(str(i[4][0]) for i in infos))
