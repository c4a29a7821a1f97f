"""Path MTU by binary search with DF set, exact to the byte, and black-hole detection.

Probes are ICMP echoes (datagram socket, or raw as root) or, when a responder is given,
UDP mode-1 echoes (docs/responder-protocol.md). Sockets use IP_PMTUDISC_PROBE: every probe leaves
with DF at its real size and the kernel's cached PMTU (shared by the namespace for
10 min) is ignored, so a black hole is seen afresh each run. ICMP "fragmentation needed"
still reaches the error queue (IP_RECVERR) with the hop's MTU. Each size is sent up to
`copies` times, so random loss is not mistaken for a size limit.
See docs/reference/linux-probing-facts.md §3.
"""

from __future__ import annotations

import errno
import select
import socket
import statistics
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

from netcheck.net.dial import IcmpError
from netcheck.net.icmp import IP_MTU_DISCOVER, IP_PMTUDISC_PROBE, IcmpSocket

SO_EE_ORIGIN_LOCAL, SO_EE_ORIGIN_ICMP = 1, 2
MIN_PROBE = 68 + 60  # small enough for any IPv4 path; checks the target answers at all
Answer = Literal["ok", "silent", "frag"]


@dataclass(frozen=True)
class PmtuResult:
    """What the search found. `path_mtu` is the largest size that got an answer."""

    target: str
    method: str  # icmp | icmp-raw | udp-echo
    interface: str | None
    interface_mtu: int | None
    ceiling: int  # largest size tried (interface MTU, or the configured maximum)
    reachable: bool  # the small probe was answered
    path_mtu: int | None = None
    icmp_mtu: int | None = None  # MTU announced by an ICMP "fragmentation needed", if one came
    icmp_from: str | None = None  # the hop that sent it
    smallest_silent: int | None = None  # smallest size that vanished without any ICMP
    route_mtu: int | None = None  # the namespace's cached PMTU exception / route MTU before we began
    probes: int = 0
    rtt_ms: float | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    steps: tuple[tuple[int, str], ...] = field(default=(), repr=False)  # (size, answer) in order

    @property
    def black_hole(self) -> bool:
        """Large DF packets vanished with no ICMP while smaller ones got through."""
        return (self.reachable and self.smallest_silent is not None and self.icmp_mtu is None
                and self.path_mtu is not None and self.path_mtu < self.ceiling)

    def to_evidence(self) -> dict[str, object]:
        ev: dict[str, object] = {
            "target": self.target, "method": self.method, "interface": self.interface,
            "interfaceMtu": self.interface_mtu, "ceiling": self.ceiling, "reachable": self.reachable,
            "pathMtu": self.path_mtu, "icmpMtu": self.icmp_mtu, "icmpFrom": self.icmp_from,
            "smallestSilent": self.smallest_silent, "blackHole": self.black_hole, "probes": self.probes,
            "seconds": round(self.seconds, 3), "steps": [list(s) for s in self.steps]}
        if self.route_mtu is not None:
            ev["cachedRouteMtu"] = self.route_mtu
        if self.rtt_ms is not None:
            ev["rttMs"] = round(self.rtt_ms, 3)
        if self.notes:
            ev["notes"] = list(self.notes)
        return ev


def route_info(ip: str) -> tuple[str | None, int | None, int | None]:
    """(interface, interface MTU, route/exception MTU) toward `ip`, from a route lookup."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute() as ipr:
            msg = ipr.route("get", dst=ip)[0]
            oif = msg.get_attr("RTA_OIF")
            metrics = msg.get_attr("RTA_METRICS")
            route_mtu = metrics.get_attr("RTAX_MTU") if metrics is not None else None
            if oif is None:
                return None, None, route_mtu
            link = ipr.link("get", index=oif)[0]
            return link.get_attr("IFLA_IFNAME"), link.get_attr("IFLA_MTU"), route_mtu
    except NetlinkError:
        return None, None, None


class _Prober(Protocol):
    method: str
    sock: socket.socket

    def send(self, seq: int, size: int) -> None: ...

    def recv(self) -> tuple[int, int] | None: ...  # (seq, size it answers for)

    def ours(self, err: IcmpError) -> bool: ...  # the error is about this prober's packet

    def close(self) -> None: ...


class _IcmpProber:
    def __init__(self, ip: str) -> None:
        self.icmp = IcmpSocket(ip, pmtudisc=IP_PMTUDISC_PROBE)
        self.sock, self.method = self.icmp.sock, self.icmp.method

    def send(self, seq: int, size: int) -> None:
        self.icmp.send(seq, size)

    def recv(self) -> tuple[int, int] | None:
        got = self.icmp.recv()
        return (got[0], got[2]) if got else None

    def ours(self, err: IcmpError) -> bool:
        return self.icmp.ours(err)

    def close(self) -> None:
        self.icmp.close()


class _UdpProber:
    method = "udp-echo"

    def __init__(self, ip: str, port: int) -> None:
        from netcheck.net.udpecho import open_socket

        self.sock = open_socket(ip, port)
        self.sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)

    def send(self, seq: int, size: int) -> None:
        from netcheck.net.udpecho import datagram

        self.sock.send(datagram(1, seq, size))

    def recv(self) -> tuple[int, int] | None:
        from netcheck.net.udpecho import UDP_HEADERS, parse_reply

        try:
            got = parse_reply(self.sock.recv(2048))
        except ConnectionRefusedError:
            return None
        if got is None or got[0] != 1 or got[2] is None:
            return None
        return got[1], got[2] + UDP_HEADERS

    def ours(self, err: IcmpError) -> bool:
        return True  # UDP errors are demultiplexed by port: only this socket's packets

    def close(self) -> None:
        self.sock.close()


class _Search:
    """Sends sized probes and classifies each size as ok, silent or frag (ICMP said too big)."""

    def __init__(self, prober: _Prober, end: float, copies: int) -> None:
        self.p, self.end, self.copies = prober, end, copies
        self.seq = 0
        self.probes = 0
        self.window = 0.3
        self.icmp_mtu: int | None = None
        self.icmp_from: str | None = None
        self.rtts: list[float] = []
        self.other_errors: dict[str, int] = {}
        self.foreign = 0  # errors about other probes' packets (raw ICMP sockets see them): ignored
        self.steps: list[tuple[int, str]] = []
        self.poller = select.poll()
        self.poller.register(prober.sock, select.POLLIN | select.POLLERR)

    def _errqueue(self) -> int | None:
        """Drain the error queue; return the MTU an ICMP 'fragmentation needed' announced, if any."""
        from netcheck.net.dial import read_errqueue

        frag = None
        for _ in range(16):
            e = read_errqueue(self.p.sock)
            if e is None:
                break
            if not self.p.ours(e):
                self.foreign += 1
                continue
            if e.errno == errno.EMSGSIZE and e.info:
                frag = e.info
                if e.origin == SO_EE_ORIGIN_ICMP:
                    self.icmp_mtu = e.info if self.icmp_mtu is None else min(self.icmp_mtu, e.info)
                    self.icmp_from = e.offender or self.icmp_from
            else:
                name = errno.errorcode.get(e.errno, str(e.errno)).lower()
                self.other_errors[name] = self.other_errors.get(name, 0) + 1
        return frag

    def _send(self, size: int) -> None:
        """Send one probe. A pending socket error fails the first send even when it is about
        another probe's packet; the queue is read then and the send tried once more, so only a
        size this socket really may not send (local EMSGSIZE) is reported."""
        try:
            self.p.send(self.seq, size)
        except BlockingIOError:
            raise
        except OSError:
            self._errqueue()
            self.p.send(self.seq, size)

    def test(self, size: int) -> tuple[Answer, int | None]:
        """Send `size` up to `copies` times, spaced; answer ok / silent / (frag, announced MTU)."""
        mine: dict[int, float] = {}
        spacing = min(0.05, self.window / self.copies)
        sent = 0
        next_send = time.monotonic()
        last = next_send
        while True:
            now = time.monotonic()
            if now >= self.end:
                raise TimeoutError("path MTU search ran out of time")
            if sent < self.copies and now >= next_send:
                self.seq += 1
                try:
                    self._send(size)
                except OSError as exc:
                    if exc.errno == errno.EMSGSIZE:
                        frag = self._errqueue()
                        self.steps.append((size, "frag"))
                        return "frag", frag
                    raise
                mine[self.seq] = now
                self.probes += 1
                sent += 1
                last = now
                next_send = now + spacing
                continue
            until = next_send if sent < self.copies else last + self.window
            if sent >= self.copies and now >= until:
                self.steps.append((size, "silent"))
                return "silent", None
            for _, ev in self.poller.poll(max(0, int((min(until, self.end) - now) * 1000) + 1)):
                if ev & select.POLLERR:
                    frag = self._errqueue()
                    if frag is not None and frag < size:
                        self.steps.append((size, "frag"))
                        return "frag", frag
                if ev & select.POLLIN:
                    try:
                        got = self.p.recv()
                    except BlockingIOError:
                        continue
                    except OSError:  # a pending ICMP error (maybe another probe's) surfaced on recv
                        self._errqueue()
                        continue
                    if got is not None and got[0] in mine and got[1] >= size:
                        self.rtts.append((time.monotonic() - mine[got[0]]) * 1000.0)
                        self.steps.append((size, "ok"))
                        return "ok", None


def discover(ip: str, timeout: float, ceiling: int | None = None, responder_port: int | None = None,
             copies: int = 3) -> PmtuResult:
    """Largest DF packet that reaches `ip` and is answered, searching MIN_PROBE..ceiling.

    Uses UDP echo (mode 1) toward `responder_port` when given, otherwise ICMP echo;
    raises IcmpUnavailable when ICMP is needed but not allowed.
    """
    start = time.monotonic()
    iface, if_mtu, route_mtu = route_info(ip)
    top = min(x for x in (if_mtu or 1500, ceiling or 65535))
    prober: _Prober = _UdpProber(ip, responder_port) if responder_port else _IcmpProber(ip)
    notes: list[str] = []
    try:
        s = _Search(prober, start + timeout, copies)
        base = dict(target=ip, method=prober.method, interface=iface, interface_mtu=if_mtu, ceiling=top,
                    route_mtu=route_mtu)
        if s.test(MIN_PROBE)[0] != "ok":
            return PmtuResult(**base, reachable=False, probes=s.probes,  # type: ignore[arg-type]
                              seconds=time.monotonic() - start, steps=tuple(s.steps),
                              notes=tuple(f"{k}: {v}" for k, v in s.other_errors.items()))
        rtt = statistics.median(s.rtts)
        s.window = min(1.5, max(0.25, 2 * rtt / 1000.0 + 0.1))
        lo, hi = MIN_PROBE, top + 1  # lo answered; hi is the smallest size known not to pass
        smallest_silent: int | None = None
        candidate: int | None = top  # try the most likely sizes first: the ceiling, then an announced MTU
        for _ in range(64):  # bounded: binary search over 68..65535 needs < 17 rounds
            if hi - lo <= 1:
                break
            size = candidate if candidate is not None and lo < candidate < hi else (lo + hi) // 2
            candidate = None
            answer, announced = s.test(size)
            if answer == "ok":
                lo = size
                if size == s.icmp_mtu:  # the hop's announced MTU passes: one more byte settles it
                    candidate = size + 1
            elif answer == "frag":
                hi = size
                if announced is not None and lo < announced < hi:
                    candidate = announced
            else:
                hi = size
                smallest_silent = size if smallest_silent is None else min(smallest_silent, size)
        if s.other_errors:
            notes.append("errors seen: " + ", ".join(f"{k} ×{v}" for k, v in s.other_errors.items()))
        if s.foreign:
            notes.append(f"ignored {s.foreign} ICMP error(s) about other probes' packets to {ip}")
        return PmtuResult(**base, reachable=True, path_mtu=lo, icmp_mtu=s.icmp_mtu,  # type: ignore[arg-type]
                          icmp_from=s.icmp_from, smallest_silent=smallest_silent, probes=s.probes,
                          rtt_ms=rtt, seconds=time.monotonic() - start, notes=tuple(notes),
                          steps=tuple(s.steps))
    finally:
        prober.close()
