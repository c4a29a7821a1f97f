"""ICMP echo without iputils: unprivileged datagram sockets, raw sockets as root.

Datagram ICMP sockets (`SOCK_DGRAM, IPPROTO_ICMP`) are gated only by the namespace's
`net.ipv4.ping_group_range` — root gets no exemption — so a raw socket is the fallback
when CAP_NET_RAW is held. Receive times are kernel timestamps (SO_TIMESTAMPNS); errors
come from the error queue (IP_RECVERR) so unreachables name the hop that sent them.
See docs/reference/linux-probing-facts.md §1–§3.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import struct
import time

from netcheck.net.dial import IcmpError
from netcheck.net.rtt import IP_RECVERR, SO_TIMESTAMPNS, RttSeries, kernel_rx_ns, paced_echo

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IP_PMTUDISC_PROBE = 3
IP_MTU = 14
ICMP_ECHO_REPLY, ICMP_ECHO = 0, 8
HEADERS = 28  # IPv4 20 + ICMP 8


class IcmpUnavailable(Exception):
    """Neither an ICMP datagram socket nor a raw socket may be opened here; `fix` says how."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


def ping_group_range() -> tuple[int, int] | None:
    """This namespace's net.ipv4.ping_group_range, or None when unreadable."""
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return None


def inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ICMP and IPv4 headers."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


class IcmpSocket:
    """One connected ICMP echo socket toward `ip` (datagram if allowed, else raw as root)."""

    def __init__(self, ip: str, ttl: int | None = None, pmtudisc: int = IP_PMTUDISC_DONT) -> None:
        self.ip = ip
        try:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            self.kind = "dgram"
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EPROTONOSUPPORT):
                raise
            try:
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                self.kind = "raw"
            except PermissionError:
                rng = ping_group_range()
                shown = f"{rng[0]} {rng[1]}" if rng else "unknown"
                raise IcmpUnavailable(
                    f"ICMP echo is not allowed for this user (net.ipv4.ping_group_range is '{shown}' "
                    f"and CAP_NET_RAW is not held)",
                    "sysctl -w net.ipv4.ping_group_range='0 2147483647' (or include this user's group), "
                    "or run netcheck as root") from None
        try:
            if self.kind == "dgram":
                self.sock.bind(("0.0.0.0", 0))
                self.ident = int(self.sock.getsockname()[1])
            else:
                self.ident = (os.getpid() ^ random.getrandbits(16)) & 0xFFFF
            self.sock.connect((ip, 0))
            self.sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, pmtudisc)
            if ttl is not None:
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    @property
    def method(self) -> str:
        return "icmp" if self.kind == "dgram" else "icmp-raw"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> IcmpSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, seq: int, size: int = 84) -> int:
        """Send one echo request whose IP packet is `size` bytes; returns the send time (ns, realtime)."""
        payload = bytes(max(0, size - HEADERS))
        header = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, self.ident, seq & 0xFFFF)
        if self.kind == "raw":
            csum = inet_checksum(header + payload)
            header = struct.pack("!BBHHH", ICMP_ECHO, 0, csum, self.ident, seq & 0xFFFF)
        sent = time.time_ns()
        self.sock.send(header + payload)
        return sent

    def ours(self, err: IcmpError) -> bool:
        """Whether an error-queue entry is about one of this socket's echo requests.

        A raw ICMP socket is told about every ICMP error toward its peer that quotes an ICMP
        packet (another probe's 'fragmentation needed', a traceroute's 'time exceeded');
        the quoted echo header's id says whose packet it was. Local errors quote nothing.
        """
        if len(err.quoted) < 8:
            return True
        icmp_type, _, _, ident = struct.unpack_from("!BBHH", err.quoted)
        return bool(icmp_type == ICMP_ECHO and ident == self.ident)

    def recv(self) -> tuple[int, int, int] | None:
        """One pending echo reply as (seq, kernel receive ns, IP length), or None if it is not ours."""
        data, anc, _, _ = self.sock.recvmsg(65535, 256)
        rx = kernel_rx_ns(anc) or time.time_ns()
        if self.kind == "raw":
            ihl = (data[0] & 0x0F) * 4 if data else 0
            data = data[ihl:]
            length = len(data) + ihl
        else:
            length = len(data) + 20
        if len(data) < 8:
            return None
        icmp_type, _, _, ident, seq = struct.unpack_from("!BBHHH", data)
        if icmp_type != ICMP_ECHO_REPLY or (self.kind == "raw" and ident != self.ident):
            return None
        return seq, rx, length


def ping(ip: str, count: int, interval: float, timeout: float, wait: float = 1.0, size: int = 84) -> RttSeries:
    """`count` echo requests, one every `interval` s; waits `wait` s after the last for stragglers.

    Raises IcmpUnavailable when this user may not send ICMP here.
    """
    with IcmpSocket(ip) as s:

        def recv() -> tuple[int, int] | None:
            got = s.recv()
            return None if got is None else (got[0], got[1])

        res = paced_echo(s.sock, count, interval, timeout, wait, lambda i: s.send(i, size), recv, s.ours)
        method = s.method
    series = tuple(res.rtts.get(i) for i in range(res.sent))
    notes: tuple[str, ...] = (f"ran out of time after {res.sent} of {count} requests",) if res.sent < count else ()
    if res.foreign:
        notes += (f"ignored {res.foreign} ICMP error(s) about other probes' packets to {ip}",)
    return RttSeries(ip, method, series, interval, notes, 0, res.offender, res.errors)
