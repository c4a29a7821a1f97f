"""A paced series of round-trip samples, and the TCP-handshake sampler.

ICMP echo (icmp.py), UDP echo (udpecho.py) and TCP handshakes all return an RttSeries,
so the latency probe judges every method the same way. TCP RTT is the kernel's own
SYN/SYN-ACK measurement (tcpi_rtt), not connect() wall time (linux-probing-facts §4–5).
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netcheck.net import tcpinfo

if TYPE_CHECKING:
    from netcheck.net.dial import IcmpError

IP_RECVERR = 11
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS


@dataclass(frozen=True)
class RttSeries:
    """One measurement: per-sample RTT in ms (None = no reply), in send order."""

    target: str
    method: str  # "icmp", "tcp-443", "udp-echo"
    rtts: tuple[float | None, ...]
    interval: float
    notes: tuple[str, ...] = ()  # facts worth reporting (errors seen, offenders, retransmits)
    retransmitted: int = 0  # TCP only: handshakes that needed a SYN retransmission
    offender: str | None = None  # a hop that sent an ICMP error, if any
    errors: dict[str, int] = field(default_factory=dict)  # error reason → count

    @property
    def sent(self) -> int:
        return len(self.rtts)

    @property
    def received(self) -> int:
        return sum(1 for r in self.rtts if r is not None)

    def to_evidence(self) -> dict[str, object]:
        ev: dict[str, object] = {"target": self.target, "method": self.method, "sent": self.sent,
                                 "received": self.received, "intervalSeconds": self.interval,
                                 "samplesMs": [None if r is None else round(r, 3) for r in self.rtts]}
        if self.notes:
            ev["notes"] = list(self.notes)
        if self.retransmitted:
            ev["synRetransmitted"] = self.retransmitted
        if self.offender:
            ev["offender"] = self.offender
        if self.errors:
            ev["errors"] = dict(self.errors)
        return ev


def kernel_rx_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The SCM_TIMESTAMPNS receive time from recvmsg ancillary data, in ns (CLOCK_REALTIME)."""
    for level, ctype, data in ancdata:
        if level == socket.SOL_SOCKET and ctype == SCM_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("=qq", data)
            return int(sec) * 1_000_000_000 + int(nsec)
    return None


@dataclass
class Paced:
    """What a paced echo series saw: RTT per probe index, probes sent, send/ICMP errors."""

    rtts: dict[int, float] = field(default_factory=dict)
    sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    offender: str | None = None
    foreign: int = 0  # ICMP errors about other sockets' packets (raw sockets see them all): ignored

    def count_error(self, err: int) -> None:
        reason = errno.errorcode.get(err, str(err)).lower()
        self.errors[reason] = self.errors.get(reason, 0) + 1


def drain_errors(sock: socket.socket, out: Paced, ours: Callable[[IcmpError], bool] | None) -> None:
    """Read the whole error queue (which also clears the socket's pending error, sk_err).

    Errors about this socket's own probes are counted with the hop that sent them; errors
    about packets of other probes (a raw ICMP socket is told about every ICMP error toward
    its peer, e.g. another probe's 'fragmentation needed' or 'time exceeded') are not
    evidence about this series and are only tallied.
    """
    from netcheck.net.dial import read_errqueue

    for _ in range(64):
        icmp = read_errqueue(sock)
        if icmp is None:
            return
        if ours is not None and not ours(icmp):
            out.foreign += 1
            continue
        out.count_error(icmp.errno)
        out.offender = out.offender or icmp.offender


def paced_echo(sock: socket.socket, count: int, interval: float, timeout: float, wait: float,
               send: Callable[[int], int], recv: Callable[[], tuple[int, int] | None],
               ours: Callable[[IcmpError], bool] | None = None) -> Paced:
    """Send probe i with send(i) (returns its send time in ns) every `interval` s; match replies.

    recv() reads one pending datagram and returns (probe index, receive time in ns) or None
    when it is not ours. Stops once every reply is in, `wait` s after the last send, or at
    `timeout`. ICMP errors on the socket (IP_RECVERR) are counted with the hop that sent them
    when `ours` accepts them. A pending socket error surfaces on the next send or recv as an
    OSError even when it is about another probe's packet: the error queue is read then, the
    send is retried once, and a recv simply continues, so ICMP traffic caused by concurrent
    probes never ends the series.
    """
    end = time.monotonic() + timeout
    out = Paced()
    sent_at: dict[int, int] = {}
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR)
    next_send = last_send = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if out.sent < count and now >= next_send:
            for attempt in (1, 2):
                try:
                    sent_at[out.sent] = send(out.sent)
                    break
                except BlockingIOError:
                    out.count_error(errno.EAGAIN)
                    break
                except OSError as exc:
                    drain_errors(sock, out, ours)
                    if attempt == 2:
                        out.count_error(exc.errno or 0)
            out.sent += 1
            last_send = now
            next_send += interval
            continue
        if out.sent >= count and (len(out.rtts) == count or now >= last_send + wait):
            break
        until = next_send if out.sent < count else last_send + wait
        for _, ev in poller.poll(max(0, int((min(until, end) - now) * 1000) + 1)):
            if ev & select.POLLERR:
                drain_errors(sock, out, ours)
            if ev & select.POLLIN:
                try:
                    got = recv()
                except BlockingIOError:
                    continue
                except OSError:  # a pending ICMP error (sk_err) surfaced here; the datagram is still queued
                    drain_errors(sock, out, ours)
                    continue
                if got is not None and got[0] in sent_at and got[0] not in out.rtts:
                    out.rtts[got[0]] = (got[1] - sent_at[got[0]]) / 1e6
    return out


def _tcp_info(sock: socket.socket) -> tuple[float | None, int]:
    """(tcpi_rtt in ms, tcpi_total_retrans) for a connected socket."""
    got = tcpinfo.rtt_and_retrans(sock)
    return (None, 0) if got is None else (got[0] / 1000.0, got[1])


def _one_handshake(ip: str, port: int, timeout: float) -> tuple[float | None, bool, str | None, str | None]:
    """One connect: (rtt ms, needed a retransmission, error reason, ICMP offender)."""
    from netcheck.net.dial import read_errqueue

    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        if ":" not in ip:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        start = time.monotonic()
        err = sock.connect_ex((ip, port))
        if err not in (0, errno.EINPROGRESS):
            return None, False, errno.errorcode.get(err, str(err)).lower(), None
        poller = select.poll()
        poller.register(sock, select.POLLOUT | select.POLLERR)
        if not poller.poll(max(1, int(timeout * 1000))):
            return None, False, "timeout", None
        elapsed = (time.monotonic() - start) * 1000.0
        so_err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if so_err == 0:
            rtt, retrans = _tcp_info(sock)
            return (rtt if rtt is not None else elapsed), retrans > 0, None, None
        icmp = read_errqueue(sock)
        if so_err == errno.ECONNREFUSED and icmp is None:
            # A RST from the target is an answer too: the wall time of the refused connect is one RTT.
            return elapsed, elapsed > 900.0, None, None
        reason = errno.errorcode.get(so_err, str(so_err)).lower()
        return None, False, reason, icmp.offender if icmp else None
    finally:
        sock.close()


def tcp_rtt(ip: str, port: int, count: int, interval: float, timeout: float,
            per_try: float = 3.5, give_up: int = 3) -> RttSeries:
    """`count` TCP handshakes to ip:port, one every `interval` s (never two at once), within `timeout`.

    `per_try` leaves room for one SYN retransmission (RTO 1 s), so a lost SYN is counted as
    a retransmission rather than a missing sample. Stops early when the first `give_up`
    handshakes all time out (a filtered port would otherwise cost count × per_try seconds).
    """
    end = time.monotonic() + timeout
    rtts: list[float | None] = []
    retransmitted = 0
    errors: dict[str, int] = {}
    offender = None
    next_start = time.monotonic()
    for _ in range(count):
        now = time.monotonic()
        if next_start > now:
            time.sleep(min(next_start - now, max(0.0, end - now)))
        left = end - time.monotonic()
        if left <= 0.05:
            break
        next_start = time.monotonic() + interval
        rtt, retrans, reason, off = _one_handshake(ip, port, min(per_try, left))
        rtts.append(rtt)
        retransmitted += int(retrans)
        if reason:
            errors[reason] = errors.get(reason, 0) + 1
        offender = offender or off
        if len(rtts) == give_up and errors.get("timeout", 0) == give_up:
            break
    notes = (f"ran out of time after {len(rtts)} of {count} handshakes",) if len(rtts) < count else ()
    return RttSeries(ip, f"tcp-{port}", tuple(rtts), interval, notes, retransmitted, offender, errors)
