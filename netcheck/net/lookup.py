"""DNS lookups that keep NXDOMAIN, SERVFAIL, REFUSED, timeout and no-answer apart, and retry as the node does.

With no explicit servers the system resolver is used, as the kubelet would: /etc/hosts
first (a common override for private API endpoints), then the resolv.conf nameservers.

A lost datagram must not read as a dead resolver. The node's resolver (glibc, and Go's,
which kubelet, containerd and nodeadm use) sends each query up to `attempts` times to each
nameserver in turn, waiting `timeout` seconds for each (resolv.conf(5): defaults 5 s and 2).
netcheck reads those options from the node's resolv.conf and sends its queries in the same
order, but retransmits every min(timeout, RETRY_S) seconds and keeps listening for a late
answer to any earlier query, until an answer comes or the lookup's budget ends. The tries
are kept as evidence, so a probe can tell "answered after lost queries, as the node would
be" from "the node's resolver would have given up first" from "no answer at all". A
truncated answer is asked again over TCP, as glibc does.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DnsStatus = Literal["ok", "nxdomain", "servfail", "refused", "timeout", "no-answer", "unreachable",
                    "no-route", "no-resolver", "error"]
HOSTS_FILE = Path("/etc/hosts")
RESOLV_CONF = Path("/etc/resolv.conf")
GLIBC_TIMEOUT_S, GLIBC_ATTEMPTS = 5, 2  # resolv.conf(5) defaults: RES_TIMEOUT, RES_DFLRETRY
MAX_TIMEOUT_S, MAX_ATTEMPTS, MAX_NAMESERVERS = 30, 5, 3  # glibc's caps: RES_MAXRETRANS, RES_MAXRETRY, MAXNS
RETRY_S = 1.0  # netcheck retransmits at least this often; a late answer to an earlier query still counts


@dataclass(frozen=True)
class ResolverOptions:
    """What the node's resolver does on a lost query: resolv.conf `options timeout:N attempts:M rotate`."""

    timeout: int = GLIBC_TIMEOUT_S
    attempts: int = GLIBC_ATTEMPTS
    rotate: bool = False
    source: str = "glibc's defaults"  # the file (and RES_OPTIONS) they came from

    def to_evidence(self) -> dict[str, object]:
        return {"timeout": self.timeout, "attempts": self.attempts, "rotate": self.rotate, "source": self.source}

    def describe(self) -> str:
        """'timeout:1 attempts:3 from /etc/resolv.conf': how a message names the node's retry policy."""
        source = self.source if self.source.startswith("glibc") else f"from {self.source}"
        return f"timeout:{self.timeout} attempts:{self.attempts}{' rotate' if self.rotate else ''}, {source}"


@dataclass(frozen=True)
class DnsTry:
    """One query datagram: to whom, when (s after the lookup began), and what came back (None: nothing)."""

    server: str  # ip:port
    sent: float
    rtt: float | None = None
    rcode: str | None = None  # NOERROR, NXDOMAIN, SERVFAIL, ... when answered
    tcp: bool = False  # the answer was truncated and asked again over TCP
    error: str = ""  # a local send error (no route, ...)
    local: dict[str, Any] | None = None  # this host's routing refused the send: NoRouteError.to_evidence()

    def to_evidence(self) -> dict[str, object]:
        ev: dict[str, object] = {"server": self.server, "sentMs": round(self.sent * 1000, 1),
                                 "rttMs": None if self.rtt is None else round(self.rtt * 1000, 2)}
        if self.rcode:
            ev["rcode"] = self.rcode
        if self.tcp:
            ev["tcp"] = True
        if self.error:
            ev["error"] = self.error
        if self.local:
            ev["localError"] = self.local.get("localError")
        return ev


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
    tries: tuple[DnsTry, ...] = ()  # every query sent, in order
    options: ResolverOptions | None = None  # the node's retry policy the tries were judged against
    path: dict[str, Any] | None = None  # other traffic to the servers, probed after no answer at all
    local: dict[str, Any] | None = None  # status no-route: this host's own routing refused every query


    @property
    def answered(self) -> DnsTry | None:
        """The query whose answer settled the lookup: NOERROR or NXDOMAIN, else the first answer at all."""
        return next((t for t in self.tries if t.rcode in ("NOERROR", "NXDOMAIN")),
                    next((t for t in self.tries if t.rcode is not None), None))

    @property
    def lost(self) -> int:
        """Queries that got no answer at all before the one that settled it (or in all, when none did)."""
        done = self.answered
        upto = self.tries.index(done) if done is not None else len(self.tries)
        return sum(1 for t in self.tries[:upto] if t.rtt is None and not t.error)

    @property
    def node_queries(self) -> int:
        """How many queries the node's resolver sends before it gives up: attempts × nameservers."""
        opts = self.options or ResolverOptions()
        return opts.attempts * max(1, len(self.servers))

    @property
    def node_copes(self) -> bool:
        """The node's resolver, sending the same queries in the same order, would have got this answer."""
        done = self.answered
        return done is not None and self.tries.index(done) < self.node_queries

    @property
    def answer_seconds(self) -> float:
        """How long the server took to answer the query that settled the lookup (else the whole lookup)."""
        done = self.answered
        return done.rtt if done is not None and done.rtt is not None else self.seconds

    def to_evidence(self) -> dict[str, object]:
        ev: dict[str, object] = {"name": self.name, "type": self.rdtype, "status": self.status,
                                 "addresses": list(self.addresses), "resolverMs": round(self.seconds * 1000, 2),
                                 "servers": list(self.servers), "detail": self.detail, "source": self.source}
        if self.cnames:
            ev["cnames"] = list(self.cnames)
        if self.tries:
            ev["queries"] = [t.to_evidence() for t in self.tries]
            ev["lostQueries"] = self.lost
            ev["answerMs"] = round(self.answer_seconds * 1000, 2)
            ev["nodeQueries"] = self.node_queries
        if self.options is not None:
            ev["resolvConf"] = self.options.to_evidence()
        if self.path is not None:
            ev["path"] = self.path
        if self.local is not None:
            ev["localError"] = self.local.get("localError")
            ev["route"] = self.local.get("route")
        return ev


def read_resolv_conf(path: Path = RESOLV_CONF, env: dict[str, str] | None = None) -> ResolverOptions:
    """The node's retry policy: `options timeout: attempts: rotate` from `path`, then RES_OPTIONS, as glibc reads them.

    dnspython reads the nameservers but not `attempts`, and its default timeout (2 s) is not
    glibc's (5 s), so the options line is read here; later words win, values are capped as glibc caps them.
    """
    words: list[str] = []
    sources: list[str] = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split(";", 1)[0].split()
        if parts and parts[0] == "options" and len(parts) > 1:
            words += parts[1:]
            if str(path) not in sources:
                sources.append(str(path))
    res_options = (os.environ if env is None else env).get("RES_OPTIONS", "").split()
    if res_options:
        words += res_options
        sources.append("RES_OPTIONS")
    opts: dict[str, Any] = {}
    for word in words:
        key, _, value = word.partition(":")
        if key in ("timeout", "attempts") and value.isdigit():
            cap = MAX_TIMEOUT_S if key == "timeout" else MAX_ATTEMPTS
            opts[key] = max(1, min(int(value), cap))
        elif key == "rotate":
            opts["rotate"] = True
    source = " + ".join(sources) if ("timeout" in opts or "attempts" in opts) else (
        f"glibc's defaults, as {path} sets neither" if text else f"glibc's defaults, as there is no {path}")
    return ResolverOptions(source=source, **opts)


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


def _failure(tries: list[DnsTry]) -> tuple[DnsStatus, str]:
    """Classify a lookup that got no usable answer from the servers' answers and send errors."""
    rcodes = [t.rcode for t in tries if t.rcode]
    texts = list(dict.fromkeys(f"{t.server} answered {t.rcode}" for t in tries if t.rcode))
    texts += list(dict.fromkeys(f"{t.server}: {t.error}" for t in tries if t.error))
    status: DnsStatus
    if "SERVFAIL" in rcodes:
        status = "servfail"
    elif "REFUSED" in rcodes:
        status = "refused"
    elif rcodes:
        status = "error"
    elif tries and all(t.local for t in tries):
        status = "no-route"  # nothing left this host: its own routing refused every query
    elif any(t.error for t in tries):
        status = "unreachable"
    else:
        status = "timeout"
    return status, "; ".join(texts) or "all nameservers failed"


def _order(servers: list[tuple[str, int]], opts: ResolverOptions) -> list[tuple[str, int]]:
    """Nameservers in the order the node tries them; `rotate` starts each lookup at another one."""
    if not opts.rotate or len(servers) < 2:
        return servers
    first = int.from_bytes(os.urandom(1), "big") % len(servers)
    return servers[first:] + servers[:first]


def _exchange(qname: str, rdtype: str, servers: list[tuple[str, int]], opts: ResolverOptions,
              budget: float) -> tuple[Any, list[DnsTry], float]:
    """Query the servers in turn until one answers usefully or `budget` s pass; (response, tries, seconds).

    Each query gets a fresh ID, so an answer is matched to the query it answers and a late
    answer to an earlier query still counts. A server that answered SERVFAIL or REFUSED (or
    could not be sent to) is not asked again; the others are, every `interval` seconds.
    """
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode

    start = time.monotonic()
    end = start + budget
    interval = min(float(opts.timeout), RETRY_S)
    live = list(servers)
    tries: list[DnsTry] = []
    pending: dict[int, tuple[int, Any, tuple[str, int]]] = {}  # query id → (try index, query, server)
    socks = {family: socket.socket(family, socket.SOCK_DGRAM)
             for family in {socket.AF_INET6 if ":" in ip else socket.AF_INET for ip, _ in servers}}
    turn = 0
    next_send = start
    try:
        for s in socks.values():
            s.setblocking(False)
        while True:
            now = time.monotonic()
            if now >= end or not live:
                return None, tries, now - start
            if now >= next_send:
                ip, port = live[turn % len(live)]
                turn += 1
                q = dns.message.make_query(qname, rdtype)
                while q.id in pending:
                    q.id = (q.id + 1) & 0xFFFF
                sock = socks[socket.AF_INET6 if ":" in ip else socket.AF_INET]
                try:
                    sock.sendto(q.to_wire(), (ip, port))
                except OSError as exc:
                    from netcheck.net.localerr import local_route_error, plain

                    local = local_route_error(ip, exc.errno)
                    tries.append(DnsTry(f"{ip}:{port}", now - start, error=plain(exc)[0],
                                        local=local.to_evidence() if local else None))
                    live.remove((ip, port))
                    next_send = now
                    continue
                pending[q.id] = (len(tries), q, (ip, port))
                tries.append(DnsTry(f"{ip}:{port}", now - start))
                next_send = now + interval
                continue
            ready, _, _ = select.select(list(socks.values()), [], [], max(0.0, min(next_send, end) - now))
            for sock in ready:
                try:
                    wire, peer = sock.recvfrom(65535)
                except OSError:  # e.g. ECONNREFUSED queued by an ICMP error: the query stays unanswered
                    continue
                try:
                    r = dns.message.from_wire(wire, ignore_trailing=True)
                except Exception:  # garbage on the socket is not an answer
                    continue
                got = pending.get(r.id)
                if got is None or peer[1] != got[2][1] or not got[1].is_response(r):
                    continue
                if ipaddress.ip_address(peer[0].split("%")[0]) != ipaddress.ip_address(got[2][0]):
                    continue  # same id and question from another host: not our server's answer
                index, q, (ip, port) = got
                del pending[r.id]
                arrived = time.monotonic()
                used_tcp = False
                if r.flags & dns.flags.TC:  # truncated: ask the same server over TCP, as glibc does
                    try:
                        r = dns.query.tcp(q, ip, timeout=max(0.1, end - arrived), port=port)
                        used_tcp = True
                        arrived = time.monotonic()
                    except Exception:  # the truncated UDP answer is still an answer
                        pass
                rcode = dns.rcode.to_text(r.rcode())
                t = tries[index]
                tries[index] = DnsTry(t.server, t.sent, arrived - start - t.sent, rcode, used_tcp)
                if r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    return r, tries, arrived - start
                if (ip, port) in live:  # SERVFAIL, REFUSED, ...: this server has spoken; ask the next
                    live.remove((ip, port))
                    next_send = min(next_send, arrived)
    finally:
        for s in socks.values():
            s.close()


def resolve(name: str, rdtype: str = "A", servers: tuple[str, ...] = (), timeout: float = 5.0,
            hosts_file: Path | None = HOSTS_FILE, resolv_conf: Path = RESOLV_CONF) -> DnsAnswer:
    """Resolve `name` via `servers` (ip, ip:port), or /etc/hosts then the system resolver when empty.

    `timeout` is the lookup's whole budget; the node's retry policy comes from `resolv_conf`.
    """
    import dns.exception
    import dns.message
    import dns.resolver

    start = time.monotonic()

    def took() -> float:
        return time.monotonic() - start

    if not servers and hosts_file is not None:
        found = hosts_file_lookup(name, rdtype, hosts_file)
        if found:
            return DnsAnswer(name, rdtype, "ok", found, took(), (), f"answered by {hosts_file}",
                             source=str(hosts_file))
    opts = read_resolv_conf(resolv_conf)
    hosts: list[tuple[str, int]]
    try:
        if servers:
            hosts = _nameserver_ips(servers, timeout)
        else:
            system = dns.resolver.Resolver(filename=str(resolv_conf))
            hosts = [(str(ns), system.nameserver_ports.get(str(ns), system.port)) for ns in system.nameservers]
    except dns.resolver.NoResolverConfiguration:
        return DnsAnswer(name, rdtype, "no-resolver", seconds=took(), detail=f"no nameserver in {resolv_conf}",
                         options=opts)
    except dns.exception.DNSException as exc:
        return DnsAnswer(name, rdtype, "error", seconds=took(), servers=servers,
                         detail=f"cannot resolve the configured DNS server name: {exc}", options=opts)
    hosts = _order(hosts[:MAX_NAMESERVERS] if not servers else hosts, opts)
    if not hosts:
        return DnsAnswer(name, rdtype, "no-resolver", seconds=took(), detail="no nameserver configured",
                         options=opts)
    used = tuple(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in hosts)
    qname = name if name.endswith(".") else name + "."
    response, tries, _ = _exchange(qname, rdtype, hosts, opts, max(0.05, timeout - took()))
    common: dict[str, Any] = {"servers": used, "tries": tuple(tries), "options": opts}
    if response is None:
        status, detail = _failure(tries)
        if status == "timeout":
            detail = f"no answer within {timeout:g} s ({len(tries)} queries)"
        local = next((t.local for t in tries if t.local), None) if status == "no-route" else None
        return DnsAnswer(name, rdtype, status, seconds=took(), detail=detail, local=local, **common)
    if response.rcode() == 3:  # NXDOMAIN
        return DnsAnswer(name, rdtype, "nxdomain", seconds=took(), detail="the name does not exist (NXDOMAIN)",
                         **common)
    try:
        chain = response.resolve_chaining()
    except dns.exception.DNSException as exc:
        return DnsAnswer(name, rdtype, "error", seconds=took(), detail=str(exc), **common)
    cnames = tuple(str(rrset.name) for rrset in chain.cnames)
    if chain.answer is None:
        return DnsAnswer(name, rdtype, "no-answer", seconds=took(), cnames=cnames,
                         detail=f"the name exists but has no {rdtype} record (NOERROR, empty answer)", **common)
    addresses = tuple(sorted({rr.to_text() for rr in chain.answer}))
    return DnsAnswer(name, rdtype, "ok", addresses, took(), cnames=cnames, **common)
