"""TCP connect with an honest classification of how it ended.

A plain connect() tells a RST and an ICMP port-unreachable apart from nothing, and
waits two minutes on a DROP. Here the socket is non-blocking with IP_RECVERR, so the
kernel's error queue names the ICMP type, code and the hop that sent it
(docs/reference/linux-probing-facts.md §4).
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

from netcheck.net import tcpinfo

IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

Outcome = Literal["connected", "refused", "timeout", "unreachable", "no-route"]

ICMP_REASONS: dict[tuple[int, int], tuple[Outcome, str]] = {
    (3, 0): ("no-route", "icmp-net-unreachable"),
    (3, 1): ("unreachable", "icmp-host-unreachable"),
    (3, 3): ("refused", "icmp-port-unreachable"),
    (3, 6): ("no-route", "icmp-net-unknown"),
    (3, 9): ("unreachable", "icmp-net-prohibited"),
    (3, 10): ("unreachable", "icmp-host-prohibited"),
    (3, 13): ("unreachable", "icmp-admin-prohibited"),
}


@dataclass(frozen=True)
class IcmpError:
    """One entry of the socket error queue."""

    errno: int
    origin: int
    type: int
    code: int
    info: int
    offender: str | None
    quoted: bytes = field(default=b"", repr=False)  # the start of the packet the ICMP error quotes (L4 header on)


@dataclass(frozen=True)
class DialResult:
    """How a TCP connect ended. `outcome` is the closed vocabulary; `reason` the detail."""

    ip: str
    port: int
    outcome: Outcome
    reason: str
    seconds: float
    rtt_ms: float | None = None  # kernel's smoothed RTT right after the handshake
    offender: str | None = None  # the hop that sent the ICMP error, when one did
    errno_name: str | None = None
    local: tuple[str, int] | None = None  # the local address:port of a connected dial
    icmp: IcmpError | None = field(default=None, repr=False)
    local_error: bool = False  # connect() failed at once in this host's own stack (no route): nothing was sent

    def to_evidence(self) -> dict[str, object]:
        ev: dict[str, object] = {"ip": self.ip, "port": self.port, "outcome": self.outcome,
                                 "reason": self.reason, "seconds": round(self.seconds, 4)}
        if self.rtt_ms is not None:
            ev["rttMs"] = round(self.rtt_ms, 3)
        if self.offender:
            ev["offender"] = self.offender
        if self.errno_name:
            ev["errno"] = self.errno_name
        if self.local:
            ev["source"] = self.local[0]
        if self.local_error:
            ev["localError"] = self.errno_name
        return ev


def read_errqueue(sock: socket.socket) -> IcmpError | None:
    """Read one sock_extended_err from MSG_ERRQUEUE, or None when empty."""
    try:
        quoted, ancdata, _, _ = sock.recvmsg(2048, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError, OSError):
        return None
    for level, ctype, data in ancdata:
        if (level, ctype) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)) \
                and len(data) >= 16:
            ee_errno, origin, ee_type, ee_code, _pad, info, _data = struct.unpack_from("=IBBBBII", data)
            offender = None
            if len(data) >= 24:
                family = struct.unpack_from("=H", data, 16)[0]
                if family == socket.AF_INET:
                    offender = socket.inet_ntop(socket.AF_INET, data[20:24])
                elif family == socket.AF_INET6 and len(data) >= 40:
                    offender = socket.inet_ntop(socket.AF_INET6, data[24:40])
            if offender in ("0.0.0.0", "::"):
                offender = None
            return IcmpError(ee_errno, origin, ee_type, ee_code, info, offender, quoted[:64])
    return None


def _tcp_rtt_ms(sock: socket.socket) -> float | None:
    us = tcpinfo.srtt_us(sock)
    return None if us is None else us / 1000.0


def _classify_errno(err: int, icmp: IcmpError | None) -> tuple[Outcome, str]:
    if icmp is not None and icmp.origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
        key = (icmp.type, icmp.code) if icmp.origin == SO_EE_ORIGIN_ICMP else (3, 1)
        if key in ICMP_REASONS:
            return ICMP_REASONS[key]
        return "unreachable", f"icmp-type-{icmp.type}-code-{icmp.code}"
    if err == errno.ECONNREFUSED:
        return "refused", "rst"
    if err == errno.ENETUNREACH:
        return "no-route", "network-unreachable"
    if err == errno.EHOSTUNREACH:
        return "unreachable", "host-unreachable"
    if err == errno.ETIMEDOUT:
        return "timeout", "kernel-timeout"
    return "unreachable", errno.errorcode.get(err, str(err)).lower()


def dial(ip: str, port: int, timeout: float, source: str | None = None) -> DialResult:
    """Connect to ip:port within `timeout` seconds and say how it ended."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    start = time.monotonic()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        if source:
            sock.bind((source, 0))
        err = sock.connect_ex((ip, port))
        if err not in (0, errno.EINPROGRESS):
            # Synchronous failure: the local routing table already said no.
            name = errno.errorcode.get(err, str(err))
            reason = {errno.EACCES: "local-prohibit-route", errno.EINVAL: "local-blackhole-route",
                      errno.EHOSTUNREACH: "local-unreachable-route",
                      errno.ENETUNREACH: "no-local-route"}.get(err, name.lower())
            # Nothing left this host and no router answered: whatever the route type, it is a local no-route.
            return DialResult(ip, port, "no-route", reason, time.monotonic() - start, errno_name=name, local_error=True)
        poller = select.poll()
        poller.register(sock, select.POLLOUT | select.POLLERR)
        while True:
            remaining = timeout - (time.monotonic() - start)
            if remaining <= 0:
                return DialResult(ip, port, "timeout", "no-answer", time.monotonic() - start)
            events = poller.poll(max(1, int(remaining * 1000)))
            if events:
                break
        elapsed = time.monotonic() - start
        so_err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if so_err == 0:
            local = sock.getsockname()
            return DialResult(ip, port, "connected", "handshake", elapsed, rtt_ms=_tcp_rtt_ms(sock),
                              local=(str(local[0]), int(local[1])))
        icmp = read_errqueue(sock)
        outcome, reason = _classify_errno(so_err, icmp)
        return DialResult(ip, port, outcome, reason, elapsed, offender=icmp.offender if icmp else None,
                          errno_name=errno.errorcode.get(so_err), icmp=icmp)
    finally:
        sock.close()
