"""Kernel route lookups, policy rules and routing sysctls through pyroute2 (no `ip` binary).

`route get` is asked with RTM_F_LOOKUP_TABLE so RTA_TABLE names the table really used,
and the matching prefix and policy rule are recovered from the table and rule dumps
(docs/reference/linux-probing-facts.md §6). Sysctls are read in the caller's namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RTM_F_LOOKUP_TABLE = 0x1000
RTM_F_CLONED = 0x200  # a route-cache entry (PMTU exception, redirect), not a configured route
TABLE_NAMES = {253: "default", 254: "main", 255: "local"}
RTN_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
             7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
# NetlinkError.code of a failed lookup → what the kernel found (§6).
LOOKUP_ERRORS = {errno.ENETUNREACH: "no-route", errno.EHOSTUNREACH: "unreachable", errno.EACCES: "prohibit",
                 errno.EINVAL: "blackhole"}
PROC_SYS = Path("/proc/sys")


@dataclass(frozen=True)
class RouteLookup:
    """What the kernel would do with a packet to `dst`: the route, table, rule, interface, source."""

    dst: str
    result: str  # unicast | local | no-route | unreachable | prohibit | blackhole | <rtn type>
    table: int | None = None
    prefix: str | None = None  # the route that matched, e.g. 10.20.0.0/16 or 0.0.0.0/0
    rule: str | None = None  # the policy rule that selected the table, e.g. "32766: from all lookup main"
    interface: str | None = None
    gateway: str | None = None
    source: str | None = None  # preferred source address
    error: str | None = None  # errno name when the lookup failed

    @property
    def ok(self) -> bool:
        return self.result in ("unicast", "local")

    @property
    def table_name(self) -> str:
        return TABLE_NAMES.get(self.table, str(self.table)) if self.table is not None else "?"

    def to_evidence(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class InputCheck:
    """A simulated reception: would a packet from `src` to `dst` arriving on `interface` be accepted?"""

    interface: str
    src: str
    dst: str
    accepted: bool
    error: str | None = None


def _rule_text(rule: Any) -> str:
    prio = rule.get_attr("FRA_PRIORITY") or 0
    src = rule.get_attr("FRA_SRC")
    dst = rule.get_attr("FRA_DST")
    table = rule.get_attr("FRA_TABLE") or rule["table"]
    parts = [f"{prio}:", f"from {src}/{rule['src_len']}" if src else "from all"]
    if dst:
        parts.append(f"to {dst}/{rule['dst_len']}")
    parts.append(f"lookup {TABLE_NAMES.get(table, table)}")
    return " ".join(parts)


def _in(addr: str | None, net: str | None, plen: int) -> bool:
    if net is None or plen == 0:
        return True
    if addr is None:
        return False
    return ipaddress.ip_address(addr) in ipaddress.ip_network(f"{net}/{plen}", strict=False)


def _matching_rule(rules: list[Any], table: int, dst: str, src: str | None) -> str | None:
    """The first rule (by priority) that selects `table` and whose from/to selectors fit."""
    for rule in sorted(rules, key=lambda r: r.get_attr("FRA_PRIORITY") or 0):
        if rule["action"] != 1 or (rule.get_attr("FRA_TABLE") or rule["table"]) != table:
            continue
        if rule.get_attr("FRA_IIFNAME") or rule.get_attr("FRA_FWMARK"):
            continue  # selects by incoming interface or mark; not what a locally sent packet matches
        if _in(dst, rule.get_attr("FRA_DST"), rule["dst_len"]) and _in(src, rule.get_attr("FRA_SRC"), rule["src_len"]):
            return _rule_text(rule)
    return None


def _matching_prefix(routes: list[Any], dst: str) -> str | None:
    """Longest prefix of `routes` that contains dst (what `route get` does not report).

    Route-cache entries are skipped: after a PMTU search or an ICMP redirect the kernel keeps
    an exception for the destination (`ip route get` shows `cache … mtu 1400`), and some
    kernels list it in table dumps as a /32; it is not a route anybody configured, and
    counting it made the same network look routed on the second run and not on the first.
    """
    best: tuple[int, str] | None = None
    addr = ipaddress.ip_address(dst)
    for r in routes:
        if r["flags"] & RTM_F_CLONED:
            continue
        net = r.get_attr("RTA_DST") or "0.0.0.0"
        plen = r["dst_len"]
        if addr in ipaddress.ip_network(f"{net}/{plen}", strict=False) and (best is None or plen > best[0]):
            best = (plen, f"{net}/{plen}")
    return best[1] if best else None


def route_lookup(dst: str, src: str | None = None) -> RouteLookup:
    """Ask the kernel how it would route a packet to `dst` (from `src` when given). Nothing is sent."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with IPRoute() as ipr:
        kw: dict[str, Any] = {"dst": dst, "flags": RTM_F_LOOKUP_TABLE}
        if src:
            kw["src"] = src
        try:
            msg = ipr.route("get", **kw)[0]
        except NetlinkError as exc:
            return RouteLookup(dst, LOOKUP_ERRORS.get(exc.code, "no-route"),
                               error=errno.errorcode.get(exc.code, str(exc.code)))
        table = msg.get_attr("RTA_TABLE") or msg["table"]
        rtype = RTN_TYPES.get(msg["type"], str(msg["type"]))
        oif = msg.get_attr("RTA_OIF")
        ifname = None
        if oif:
            links = ipr.link("get", index=oif)
            ifname = links[0].get_attr("IFLA_IFNAME") if links else None
        prefix = _matching_prefix(ipr.get_routes(family=family, table=table), dst) if rtype != "local" else f"{dst}/32"
        rule = _matching_rule(list(ipr.get_rules(family=family)), table, dst, src or msg.get_attr("RTA_PREFSRC"))
        return RouteLookup(dst, rtype, table=table, prefix=prefix, rule=rule, interface=ifname,
                           gateway=msg.get_attr("RTA_GATEWAY"), source=src or msg.get_attr("RTA_PREFSRC"))


def input_check(interface: str, src: str, dst: str) -> InputCheck:
    """Simulate a packet from `src` to local `dst` arriving on `interface` (rp_filter is applied).

    The kernel answers EINVAL when the reverse-path filter would drop it; nothing is sent.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=interface)
        if not idx:
            return InputCheck(interface, src, dst, False, "no-such-interface")
        try:
            ipr.route("get", dst=dst, src=src, iif=idx[0])
        except NetlinkError as exc:
            return InputCheck(interface, src, dst, False, errno.errorcode.get(exc.code, str(exc.code)))
    return InputCheck(interface, src, dst, True)


def interfaces() -> dict[str, list[str]]:
    """Up, non-loopback interfaces with their IPv4 addresses (name → ['192.0.2.1/24', ...])."""
    from pyroute2 import IPRoute

    out: dict[str, list[str]] = {}
    with IPRoute() as ipr:
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            if name == "lo" or not link["flags"] & 1:  # IFF_UP
                continue
            out[name] = []
        for addr in ipr.get_addr(family=socket.AF_INET):
            idx_links = ipr.link("get", index=addr["index"])
            name = idx_links[0].get_attr("IFLA_IFNAME") if idx_links else None
            if name in out:
                out[name].append(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}")
    return out


def sysctl(key: str) -> str | None:
    """Read a sysctl in this thread's network namespace; None when absent.

    `key` is dotted (net.ipv4.ip_forward) or a path below /proc/sys (for names with dots).
    """
    path = PROC_SYS / (key if "/" in key else key.replace(".", "/"))
    try:
        return path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


def rp_filter(interface: str) -> tuple[int, int, int]:
    """(conf.all, conf.<interface>, effective) rp_filter; effective is the larger of the two (§6)."""
    all_v = int(sysctl("net.ipv4.conf.all.rp_filter") or 0)
    one = sysctl(f"net/ipv4/conf/{interface}/rp_filter")
    if_v = int(one) if one is not None else 0
    return all_v, if_v, max(all_v, if_v)


def netstat_counter(name: str) -> int | None:
    """A TcpExt/IpExt counter from /proc/net/netstat (per namespace), e.g. IPReversePathFilter."""
    try:  # thread-self: /proc/net follows the main thread's namespace, not this thread's
        lines = Path("/proc/thread-self/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        keys, vals = head.split()[1:], values.split()[1:]
        if name in keys:
            return int(vals[keys.index(name)])
    return None
