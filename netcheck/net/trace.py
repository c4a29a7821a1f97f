"""Failure localisation: a TCP/UDP/ICMP traceroute that names the last hop that answered.

All TTLs are probed at once, each on its own socket with IP_TTL set and IP_RECVERR on:
a hop's ICMP "time exceeded" lands in that socket's error queue with the hop's address,
so no privilege is needed (TCP connect, UDP datagram, or an ICMP datagram socket where
ping_group_range allows). As root, scapy is used for ICMP when datagram sockets are closed.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Literal

from netcheck.net.rtt import IP_RECVERR

Proto = Literal["tcp", "udp", "icmp"]
ICMP_TIME_EXCEEDED = 11
AT_TARGET = ("reached", "refused", "port-unreachable")  # kinds that mean the target itself answered


@dataclass(frozen=True)
class Hop:
    """One TTL: who answered (None = nobody) and how."""

    ttl: int
    addr: str | None
    rtt_ms: float | None
    kind: str  # time-exceeded | reached | refused | port-unreachable | unreachable (ICMP 3/n) | no-answer


@dataclass(frozen=True)
class TraceResult:
    target: str
    port: int | None
    proto: str
    method: str  # socket | scapy
    hops: tuple[Hop, ...]
    reached: bool

    @property
    def last_answered(self) -> Hop | None:
        """The farthest hop that answered anything."""
        answered = [h for h in self.hops if h.addr is not None]
        return answered[-1] if answered else None

    def summary(self) -> str:
        """One sentence, e.g. 'TCP 443 to 10.20.1.10 stops after hop 2 (192.168.50.1)'."""
        what = f"{self.proto.upper()} {self.port} to {self.target}" if self.port else f"ICMP to {self.target}"
        last = self.last_answered
        if self.reached and last is not None:
            how = {"reached": "echo reply" if self.proto == "icmp" else "connected", "refused": "port closed: RST",
                   "port-unreachable": "port closed: ICMP port unreachable"}.get(last.kind, last.kind)
            return f"{what} reaches the target at hop {last.ttl} ({how})"
        if last is None:
            return f"{what} gets no answer from any hop (nothing came back for TTL 1–{len(self.hops)})"
        tail = f" ({last.kind})" if last.kind not in ("time-exceeded",) else ""
        return f"{what} stops after hop {last.ttl} ({last.addr}){tail}"

    def to_evidence(self) -> dict[str, object]:
        last = self.last_answered
        return {"target": self.target, "port": self.port, "proto": self.proto, "method": self.method,
                "reached": self.reached, "lastHop": None if last is None else {"ttl": last.ttl, "addr": last.addr},
                "hops": [{"ttl": h.ttl, "addr": h.addr, "kind": h.kind,
                          "rttMs": None if h.rtt_ms is None else round(h.rtt_ms, 3)} for h in self.hops],
                "summary": self.summary()}


def _open(ip: str, port: int, proto: Proto, ttl: int) -> socket.socket:
    if proto == "tcp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif proto == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    if proto == "tcp":
        err = sock.connect_ex((ip, port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(err, os.strerror(err))
    else:
        sock.connect((ip, port if proto == "udp" else 0))
        payload = b"\x08\x00\x00\x00\x00\x00" + struct.pack("!H", ttl) if proto == "icmp" else b"netcheck-trace"
        sock.send(payload)
    return sock


def _classify(sock: socket.socket, proto: Proto, target: str) -> tuple[str | None, str] | None:
    """(hop address, kind) once a socket has an event, or None if nothing decisive yet."""
    from netcheck.net.dial import read_errqueue

    icmp = read_errqueue(sock)
    if icmp is not None:
        if icmp.type == ICMP_TIME_EXCEEDED:
            return icmp.offender, "time-exceeded"
        if icmp.type == 3 and icmp.code == 3 and icmp.offender == target:
            return target, "port-unreachable"  # the target itself answered: port closed
        return icmp.offender, f"unreachable (ICMP 3/{icmp.code})"
    if proto == "tcp":
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            return target, "reached"
        if err == errno.ECONNREFUSED:
            return target, "refused"  # a RST from the target: it answered, port closed
        return None, errno.errorcode.get(err, str(err)).lower()
    try:
        sock.recv(2048)
        return target, "reached"
    except BlockingIOError:
        return None
    except OSError:
        return None


def trace_socket(ip: str, port: int, proto: Proto, max_hops: int, timeout: float) -> TraceResult:
    """Probe TTL 1..max_hops in parallel with plain sockets; wait up to `timeout` for answers."""
    start = time.monotonic()
    socks: dict[int, socket.socket] = {}
    answers: dict[int, tuple[str | None, str, float]] = {}
    poller = select.poll()
    try:
        for ttl in range(1, max_hops + 1):
            s = _open(ip, port, proto, ttl)
            socks[ttl] = s
            poller.register(s, select.POLLIN | select.POLLERR | (select.POLLOUT if proto == "tcp" else 0))
        by_fd = {s.fileno(): t for t, s in socks.items()}
        end = start + timeout
        while len(answers) < len(socks):
            now = time.monotonic()
            # Done once some TTL reached the target and every lower TTL has answered or had its chance.
            reached = [t for t, a in answers.items() if a[1] in AT_TARGET]
            if (reached and all(t in answers for t in range(1, min(reached)))) or now >= end:
                break
            wake = end
            if answers:  # silence well past the slowest answer: the rest will not come
                last = max(a[2] for a in answers.values()) / 1000.0
                wake = min(end, start + last + max(1.0, 4 * last))
                if now >= wake:
                    break
            for fd, _ in poller.poll(max(1, int((wake - now) * 1000))):
                ttl = by_fd[fd]
                got = _classify(socks[ttl], proto, ip)
                if got is not None:
                    answers[ttl] = (got[0], got[1], (time.monotonic() - start) * 1000.0)
                poller.unregister(fd)
    finally:
        for s in socks.values():
            s.close()
    return _result(ip, port, proto, "socket", answers, max_hops)


def _result(ip: str, port: int | None, proto: str, method: str,
            answers: dict[int, tuple[str | None, str, float]], max_hops: int) -> TraceResult:
    hops: list[Hop] = []
    reached = False
    for ttl in range(1, max_hops + 1):
        a = answers.get(ttl)
        if a is None:
            hops.append(Hop(ttl, None, None, "no-answer"))
            continue
        hops.append(Hop(ttl, a[0], a[2], a[1]))
        if a[1] in AT_TARGET:
            reached = True
            break
    while hops and hops[-1].addr is None and len(hops) > 1 and hops[-2].addr is None:
        hops.pop()  # trailing silence beyond one empty hop says nothing more
    return TraceResult(ip, port if proto != "icmp" else None, proto, method, tuple(hops), reached)


def trace_scapy(ip: str, port: int, proto: Proto, max_hops: int, timeout: float) -> TraceResult:
    """The same with raw packets (needs CAP_NET_RAW); SYN probes leave no half-open connections."""
    from scapy.all import conf, sr
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    conf.verb = 0
    l4 = TCP(dport=port, flags="S") if proto == "tcp" else UDP(dport=port) if proto == "udp" else ICMP()
    ans, _ = sr(IP(dst=ip, ttl=(1, max_hops)) / l4, timeout=timeout, verbose=0)
    answers: dict[int, tuple[str | None, str, float]] = {}
    for sent, got in ans:
        if got.haslayer(ICMP) and int(got[ICMP].type) == ICMP_TIME_EXCEEDED:
            kind = "time-exceeded"
        elif got.src == ip:
            kind = "refused" if got.haslayer(TCP) and int(got[TCP].flags) & 0x04 else "reached"
        else:
            kind = f"unreachable (ICMP 3/{int(got[ICMP].code)})" if got.haslayer(ICMP) else "answered"
        answers[int(sent.ttl)] = (str(got.src), kind, (float(got.time) - float(sent.sent_time or 0)) * 1000.0)
    return _result(ip, port, proto, "scapy", answers, max_hops)


def trace(ip: str, port: int, proto: Proto, max_hops: int = 16, timeout: float = 3.0) -> TraceResult:
    """Traceroute toward ip:port; sockets first, scapy as root when ICMP sockets are closed."""
    if proto not in ("tcp", "udp", "icmp"):
        raise ValueError(f"proto must be tcp, udp or icmp, not {proto!r}")
    if not 1 <= max_hops <= 64:
        raise ValueError(f"max_hops must be between 1 and 64, not {max_hops}")
    try:
        return trace_socket(ip, port, proto, max_hops, timeout)
    except PermissionError:
        if os.geteuid() != 0:
            raise
        return trace_scapy(ip, port, proto, max_hops, timeout)
