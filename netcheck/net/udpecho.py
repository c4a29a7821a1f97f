"""Client side of the responder's UDP echo (docs/responder-protocol.md): RTT series and DF size probes.

The datagram format lives in netcheck/protocol.py. Mode 0 echoes the whole datagram; mode 1
answers with the 9-byte header + u16 received length, so a large DF datagram can go out and
only a small acknowledgement comes back (path MTU).
"""

from __future__ import annotations

import socket
import time

from netcheck.net.rtt import IP_RECVERR, SO_TIMESTAMPNS, RttSeries, kernel_rx_ns, paced_echo
from netcheck.protocol import IP_UDP_HEADERS, echo_request, parse_echo_reply

UDP_HEADERS = IP_UDP_HEADERS
parse_reply = parse_echo_reply


def datagram(mode: int, seq: int, size: int) -> bytes:
    """An echo request whose IP packet is `size` bytes (at least the header)."""
    return echo_request(mode, seq, size)


def open_socket(ip: str, port: int) -> socket.socket:
    """A connected, non-blocking UDP socket with the error queue and kernel timestamps on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((ip, port))
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def udp_echo(ip: str, port: int, count: int, interval: float, timeout: float, wait: float = 1.0,
             size: int = 64) -> RttSeries:
    """`count` mode-0 echoes to the responder at ip:port, paced by `interval`; RTT per sample."""
    base = int(time.monotonic_ns() & 0x7FFF0000)  # distinct seq space per series
    sock = open_socket(ip, port)
    sock.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = DONT: a PMTU another probe learned never fails a send

    def send(i: int) -> int:
        t = time.time_ns()
        sock.send(datagram(0, base + i, size))
        return t

    def recv() -> tuple[int, int] | None:
        data, anc, _, _ = sock.recvmsg(65535, 256)
        got = parse_reply(data)
        return None if got is None else (got[1] - base, kernel_rx_ns(anc) or time.time_ns())

    try:
        res = paced_echo(sock, count, interval, timeout, wait, send, recv)
    finally:
        sock.close()
    series = tuple(res.rtts.get(k) for k in range(res.sent))
    errors, offender = res.errors, res.offender
    notes: tuple[str, ...] = ()
    if errors.get("econnrefused"):
        notes = (f"{ip} answered 'port unreachable' on UDP {port}: the responder's UDP echo is not listening",)
    return RttSeries(ip, "udp-echo", series, interval, notes, 0, offender, errors)
