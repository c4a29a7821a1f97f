"""Errors raised by this host's own stack, told as local facts in plain words.

A send that fails at once with ENETUNREACH, EHOSTUNREACH or EADDRNOTAVAIL (or EACCES/EINVAL
from a prohibit/blackhole route) never left this host: no router answered and no remote
service, firewall or port is involved. The kernel's route lookup says why, and that is
what the report shows: "this host has no route to 10.20.1.10 (route lookup: no route in
table main)". An ICMP error sent by a router is a different fact and names the router
(netcheck/net/dial.py). Every other OS error is mapped to plain words here, so no message
shows a raw exception (docs/probe-truth.md).
"""

from __future__ import annotations

import errno
import os
from typing import Any


class DeadlineExceeded(Exception):
    """The run's deadline passed before this call could start (re-exported as netcheck.net.DeadlineExceeded)."""

# errnos a local send can fail with before anything leaves; the route lookup decides which are routing
ROUTE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EACCES, errno.EINVAL})

_ROUTE_WORDS = {
    "no-route": "no route",
    "unreachable": "an 'unreachable' route",
    "prohibit": "a 'prohibit' route",
    "blackhole": "a 'blackhole' route",
}

PLAIN: dict[int, tuple[str, str]] = {  # errno → (what happened, what to do)
    errno.ENETUNREACH: ("the network is unreachable", "Check this host's routes toward the target (ip route get <ip>)."),
    errno.EHOSTUNREACH: ("the host is unreachable", "Check that the target exists and that the path to it is routed."),
    errno.EADDRNOTAVAIL: ("the source address is not configured on this host",
                          "Use a source address this host holds (ip -br addr), or add it to an interface."),
    errno.ECONNREFUSED: ("the connection was refused", "Check that the service listens on that address and port."),
    errno.ECONNRESET: ("the connection was reset by the other end", "Check the service and any firewall that "
                                                                    "resets connections in between."),
    errno.ETIMEDOUT: ("the operation timed out", "Check the path to the target: routes, firewalls, security groups."),
    errno.EACCES: ("this host did not allow it (permission denied: a missing privilege or a local firewall rule)",
                   "Run netcheck as root, or look for a rule in this host's own firewall that rejects the traffic "
                   "(nft list ruleset)."),
    errno.EPERM: ("this host did not allow it (operation not permitted: a local firewall rule or a missing "
                  "privilege)", "Look for a reject rule in this host's own firewall (nft list ruleset), or run "
                                "netcheck as root."),
    errno.ENETDOWN: ("the network interface is down", "Bring the interface up (ip link set <interface> up)."),
    errno.EMSGSIZE: ("a packet was larger than the interface or path allows",
                     "Check the interface MTU and the mtu checks of this report."),
    errno.ENOBUFS: ("this host ran out of socket buffer space", "Run again with fewer checks at once (--only), "
                                                                 "or raise net.core.wmem_max."),
    errno.EMFILE: ("netcheck ran out of file descriptors", "Raise the open-file limit (ulimit -n 4096) and run again."),
    errno.ENFILE: ("this host ran out of file descriptors", "Close idle programs or raise fs.file-max, then run again."),
    errno.EADDRINUSE: ("the local address or port is already in use", "Stop the program that holds it, or run "
                                                                       "again later."),
}

RERUN_FIX = ("Run the check again; if it repeats, report it to the netcheck maintainers with this check's "
             "evidence (it holds the details).")


def errno_name(code: int | None) -> str:
    """'ENETUNREACH' for 101; 'unknown' when there is no code."""
    return errno.errorcode.get(code or 0, "unknown") if code else "unknown"


def plain(exc: BaseException) -> tuple[str, str]:
    """(what happened, what to do) for an exception, in words a network engineer reads; no raw exception text."""
    if isinstance(exc, NoRouteError):
        return exc.sentence(), exc.fix()
    if isinstance(exc, OSError) and exc.errno is not None:
        what, fix = PLAIN.get(exc.errno, ((os.strerror(exc.errno) or "a system call failed").lower(), RERUN_FIX))
        return f"{what} ({errno_name(exc.errno)})", fix
    if isinstance(exc, TimeoutError):
        return "the operation timed out", PLAIN[errno.ETIMEDOUT][1]
    return "an unexpected internal fault stopped the probe (not a network finding)", RERUN_FIX


def describe_route(route: dict[str, Any] | None) -> str:
    """'no route in table main (ENETUNREACH)' or 'via 192.168.50.1 on eth0 (route 0.0.0.0/0)'."""
    if not route:
        return "not available"
    result = str(route.get("result", "no-route"))
    err = f" ({route['error']})" if route.get("error") else ""
    if result in _ROUTE_WORDS:
        return f"{_ROUTE_WORDS[result]}{err}"
    via = f"via {route['gateway']} " if route.get("gateway") else "directly "
    return f"{result} {via}on {route.get('interface', '?')} (route {route.get('prefix', '?')})"


class NoRouteError(OSError):
    """This host's stack refused to send toward `dst` (no route, an unreachable/prohibit/blackhole
    route, or a source address it does not hold); `route` is the kernel's route lookup evidence."""

    def __init__(self, dst: str, code: int, route: dict[str, Any] | None = None, source: str | None = None) -> None:
        super().__init__(code, os.strerror(code))
        self.dst, self.route, self.source = dst, route, source

    def __str__(self) -> str:
        return self.sentence()

    @property
    def name(self) -> str:
        return errno_name(self.errno)

    def sentence(self) -> str:
        """'This host has no route to 10.20.1.10 (route lookup: no route (ENETUNREACH)); nothing was sent.'"""
        if self.errno == errno.EADDRNOTAVAIL:
            src = f" {self.source}" if self.source else ""
            return (f"This host cannot send to {self.dst} from the source address{src}: the address is not "
                    f"configured on this host ({self.name}); nothing was sent.")
        return (f"This host has no route to {self.dst} (route lookup: {describe_route(self.route)}): the send "
                "failed in this host's own stack, so nothing left it and no router or remote service is involved.")

    def fix(self) -> str:
        if self.errno == errno.EADDRNOTAVAIL:
            return PLAIN[errno.EADDRNOTAVAIL][1]
        return (f"Add a route toward {self.dst} on this host through the on-prem router that reaches it "
                f"(ip route replace <VPC CIDR> via <router-ip>; persist it in netplan or NetworkManager), and "
                "remove any unreachable/prohibit/blackhole route that covers it.")

    def to_evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"outcome": "no-route", "localError": self.name, "target": self.dst}
        if self.route is not None:
            ev["route"] = self.route
        if self.source:
            ev["source"] = self.source
        return ev


def local_route_error(dst: str, code: int | None, source: str | None = None) -> NoRouteError | None:
    """A NoRouteError when `code` came from this host's own routing toward `dst`, else None.

    EADDRNOTAVAIL is always local. ENETUNREACH/EHOSTUNREACH/EACCES/EINVAL are local when the
    kernel's route lookup for `dst` finds no usable route; with a usable route they came from
    elsewhere (an ICMP error reported on the socket, ARP, a privilege) and are not claimed here.
    """
    if code not in ROUTE_ERRNOS:
        return None
    route = lookup(dst, source)
    if code == errno.EADDRNOTAVAIL:
        return NoRouteError(dst, code, route, source)
    if route is not None and route.get("result") in ("unicast", "local"):
        return None
    return NoRouteError(dst, code, route, source)


def lookup(dst: str, source: str | None = None) -> dict[str, Any] | None:
    """The kernel's route lookup toward `dst` as evidence; None when it cannot be asked."""
    from netcheck.net.routes import route_lookup

    try:
        return route_lookup(dst, source).to_evidence()
    except Exception:  # netlink unavailable (restricted container): the error is still local
        return None
