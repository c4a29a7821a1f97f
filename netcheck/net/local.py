"""This host's own addresses and routes (pyroute2), for address-plan collisions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LocalPrefix:
    """A prefix this host already uses: an interface address or a route."""

    cidr: str
    kind: str  # "address" or "route"
    interface: str  # "" for a route without a device (blackhole, unreachable, prohibit)
    address: str = ""  # the address itself, for kind "address"
    type: str = "unicast"  # the route type (unicast, blackhole, unreachable, prohibit, local...)


_ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
                7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}


def local_prefixes() -> tuple[LocalPrefix, ...]:
    """IPv4 interface networks and non-default routes of the main table."""
    import ipaddress

    from pyroute2 import IPRoute

    out: list[LocalPrefix] = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for addr in ipr.get_addr(family=2):
            ip = addr.get_attr("IFA_ADDRESS")
            net = ipaddress.ip_network(f"{ip}/{addr['prefixlen']}", strict=False)
            if net.is_loopback:
                continue
            out.append(LocalPrefix(str(net), "address", names.get(addr["index"], "?"), str(ip)))
        for route in ipr.get_routes(family=2, table=254):
            dst = route.get_attr("RTA_DST")
            if dst is None or route["dst_len"] == 0:
                continue
            oif = route.get_attr("RTA_OIF")
            rtype = _ROUTE_TYPES.get(route["type"], str(route["type"]))
            out.append(LocalPrefix(f"{dst}/{route['dst_len']}", "route", names.get(oif, "?") if oif else "",
                                   type=rtype))
    return tuple(dict.fromkeys(out))


def source_for(ip: str) -> str | None:
    """Preferred source toward `ip`: connect() on a UDP socket does the route lookup only."""
    import socket

    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((ip, 9))
        except OSError:
            return None
        return str(s.getsockname()[0])
