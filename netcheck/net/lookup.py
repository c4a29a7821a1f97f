"""DNS lookups through dnspython that keep NXDOMAIN, SERVFAIL, timeout and no-answer apart."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

DnsStatus = Literal["ok", "nxdomain", "servfail", "refused", "timeout", "no-answer", "no-resolver", "error"]


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

    def to_evidence(self) -> dict[str, object]:
        return {"name": self.name, "type": self.rdtype, "status": self.status,
                "addresses": list(self.addresses), "resolverMs": round(self.seconds * 1000, 2),
                "servers": list(self.servers), "detail": self.detail}


def _split(server: str) -> tuple[str, int]:
    if server.startswith("["):
        host, _, port = server[1:].partition("]:")
        return host, int(port or 53)
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53


def resolve(name: str, rdtype: str = "A", servers: tuple[str, ...] = (), timeout: float = 2.0) -> DnsAnswer:
    """Resolve `name` via `servers` (ip or ip:port), or the system resolver when empty."""
    import dns.exception
    import dns.resolver

    start = time.monotonic()
    try:
        if servers:
            resolver = dns.resolver.Resolver(configure=False)
            hosts = [_split(s) for s in servers]
            resolver.nameservers = [h for h, _ in hosts]
            resolver.nameserver_ports = {h: p for h, p in hosts}
        else:
            resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return DnsAnswer(name, rdtype, "no-resolver", detail="no nameserver in /etc/resolv.conf")
    used = tuple(f"{ns}:{resolver.nameserver_ports.get(str(ns), resolver.port)}"
                 for ns in resolver.nameservers)
    resolver.lifetime = timeout
    resolver.timeout = timeout
    try:
        ans = resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return DnsAnswer(name, rdtype, "nxdomain", seconds=time.monotonic() - start, servers=used,
                         detail="the name does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return DnsAnswer(name, rdtype, "no-answer", seconds=time.monotonic() - start, servers=used,
                         detail=f"the name exists but has no {rdtype} record")
    except dns.resolver.NoNameservers as exc:
        text = str(exc)
        status: DnsStatus = "refused" if "REFUSED" in text else "servfail"
        return DnsAnswer(name, rdtype, status, seconds=time.monotonic() - start, servers=used,
                         detail=text)
    except dns.exception.Timeout:
        return DnsAnswer(name, rdtype, "timeout", seconds=time.monotonic() - start, servers=used,
                         detail=f"no answer within {timeout:g} s")
    except dns.exception.DNSException as exc:
        return DnsAnswer(name, rdtype, "error", seconds=time.monotonic() - start, servers=used,
                         detail=str(exc))
    addresses = tuple(sorted({rr.to_text() for rr in ans}))
    cnames = tuple(str(rrset.name) for rrset in ans.response.answer if rrset.rdtype == 5)
    return DnsAnswer(name, rdtype, "ok", addresses, time.monotonic() - start, used, cnames=cnames)
