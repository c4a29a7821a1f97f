"""DNS lookups through dnspython that keep NXDOMAIN, SERVFAIL, REFUSED, timeout and no-answer apart.

With no explicit servers the system resolver is used, as the kubelet would: /etc/hosts
first (a common override for private API endpoints), then the resolv.conf nameservers.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import dns.resolver

DnsStatus = Literal["ok", "nxdomain", "servfail", "refused", "timeout", "no-answer", "unreachable",
                    "no-resolver", "error"]
HOSTS_FILE = Path("/etc/hosts")


@dataclass(frozen=True)
class DnsAnswer:
    name: str
    rdtype: str
    status: DnsStatus
    addresses: tuple[str, ...] = ()
    seconds: float = 0.0
    servers: tuple[str, ...] = ()
    detail: str = ""
    cnames: tuple[str, ...] = field(default=())
    source: str = "dns"  # "dns" or the hosts file that answered

    def to_evidence(self) -> dict[str, object]:
        ev: dict[str, object] = {"name": self.name, "type": self.rdtype, "status": self.status,
                                 "addresses": list(self.addresses), "resolverMs": round(self.seconds * 1000, 2),
                                 "servers": list(self.servers), "detail": self.detail, "source": self.source}
        if self.cnames:
            ev["cnames"] = list(self.cnames)
        return ev


def split_server(server: str) -> tuple[str, int]:
    """'ip', 'ip:port', '[v6]:port' or 'name:port' → (host, port); port 53 by default."""
    server = server.strip()
    if server.startswith("["):
        host, _, port = server[1:].partition("]")
        port = port.removeprefix(":")
        return host, int(port or 53)
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53


def is_ip(text: str) -> bool:
    """True for an IPv4 or IPv6 address literal, False for a host name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hosts_file_lookup(name: str, rdtype: str, path: Path = HOSTS_FILE) -> tuple[str, ...]:
    """Addresses for `name` in a hosts file (A → IPv4, AAAA → IPv6); empty when absent."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ()
    want = name.rstrip(".").lower()
    found: list[str] = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2 or want not in (p.rstrip(".").lower() for p in parts[1:]):
            continue
        ip = parts[0]
        if is_ip(ip) and (":" in ip) == (rdtype == "AAAA") and ip not in found:
            found.append(ip)
    return tuple(found)


def _nameserver_ips(servers: tuple[str, ...], timeout: float) -> list[tuple[str, int]]:
    """Turn configured servers into (ip, port); a server given by name is resolved by the system."""
    import dns.resolver

    out: list[tuple[str, int]] = []
    for server in servers:
        host, port = split_server(server)
        if is_ip(host):
            out.append((host, port))
            continue
        ans = dns.resolver.Resolver().resolve(host, "A", search=False, lifetime=timeout)
        out.extend((rr.to_text(), port) for rr in ans)
    return out


def _failure_status(errors: list[tuple[object, ...]]) -> tuple[DnsStatus, str]:
    """Classify dnspython's per-server error list (server, tcp, port, error, response)."""
    def server(raw: object) -> str:  # dnspython names a server "Do53:10.0.0.2@53"
        return str(raw).removeprefix("Do53:").replace("@", ":")

    texts = [f"{server(e[0])} answered {e[3]}" if isinstance(e[3], str) else f"{server(e[0])}: {e[3]}"
             for e in errors]
    rcodes = [e[3] for e in errors if isinstance(e[3], str)]
    if "SERVFAIL" in rcodes:
        status: DnsStatus = "servfail"
    elif "REFUSED" in rcodes:
        status = "refused"
    elif any(isinstance(e[3], OSError) for e in errors):
        status = "unreachable"
    else:
        status = "error"
    return status, "; ".join(texts) or "all nameservers failed"


def resolve(name: str, rdtype: str = "A", servers: tuple[str, ...] = (), timeout: float = 2.0,
            hosts_file: Path | None = HOSTS_FILE) -> DnsAnswer:
    """Resolve `name` via `servers` (ip, ip:port), or /etc/hosts then the system resolver when empty."""
    import dns.exception
    import dns.resolver

    start = time.monotonic()

    def took() -> float:
        return time.monotonic() - start

    if not servers and hosts_file is not None:
        found = hosts_file_lookup(name, rdtype, hosts_file)
        if found:
            return DnsAnswer(name, rdtype, "ok", found, took(), (), f"answered by {hosts_file}",
                             source=str(hosts_file))
    resolver: dns.resolver.Resolver
    try:
        if servers:
            resolver = dns.resolver.Resolver(configure=False)
            hosts = _nameserver_ips(servers, timeout)
            resolver.nameservers = [h for h, _ in hosts]
            resolver.nameserver_ports = {h: p for h, p in hosts}
        else:
            resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return DnsAnswer(name, rdtype, "no-resolver", seconds=took(), detail="no nameserver in /etc/resolv.conf")
    except dns.exception.DNSException as exc:
        return DnsAnswer(name, rdtype, "error", seconds=took(), servers=servers,
                         detail=f"cannot resolve the configured DNS server name: {exc}")
    if not resolver.nameservers:
        return DnsAnswer(name, rdtype, "no-resolver", seconds=took(), detail="no nameserver configured")
    used = tuple(f"{ns}:{resolver.nameserver_ports.get(str(ns), resolver.port)}" for ns in resolver.nameservers)
    remaining = max(0.05, timeout - took())
    resolver.lifetime = remaining
    # Give every server a fair share of the budget before the next one is tried.
    resolver.timeout = max(0.2, remaining / len(resolver.nameservers))
    resolver.cache = None
    try:
        ans = resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return DnsAnswer(name, rdtype, "nxdomain", seconds=took(), servers=used,
                         detail="the name does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return DnsAnswer(name, rdtype, "no-answer", seconds=took(), servers=used,
                         detail=f"the name exists but has no {rdtype} record (NOERROR, empty answer)")
    except dns.resolver.NoNameservers as exc:
        status, detail = _failure_status(list(exc.kwargs.get("errors") or []))
        return DnsAnswer(name, rdtype, status, seconds=took(), servers=used, detail=detail)
    except dns.exception.Timeout:
        return DnsAnswer(name, rdtype, "timeout", seconds=took(), servers=used,
                         detail=f"no answer within {timeout:g} s")
    except dns.exception.DNSException as exc:
        return DnsAnswer(name, rdtype, "error", seconds=took(), servers=used, detail=str(exc))
    addresses = tuple(sorted({rr.to_text() for rr in ans}))
    cnames = tuple(str(rrset.name) for rrset in ans.response.answer if rrset.rdtype == 5)
    return DnsAnswer(name, rdtype, "ok", addresses, took(), used, cnames=cnames)
