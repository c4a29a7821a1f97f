"""Client side of the responder's UDP echo (docs/responder-protocol.md): RTT series and DF size probes.

Datagram: b"NCE1" + u8 mode + u32 seq (big-endian) + payload. Mode 0 echoes the whole
datagram; mode 1 answers with the 9-byte header + u16 received length, so a large DF
datagram can go out and only a small acknowledgement comes back (path MTU).
"""

from __future__ import annotations

import socket
import struct
import time

from netcheck.net.rtt import IP_RECVERR, SO_TIMESTAMPNS, RttSeries, kernel_rx_ns, paced_echo

MAGIC = b"NCE1"
HEADER = struct.Struct("!4sBI")  # 9 bytes
UDP_HEADERS = 28  # IPv4 20 + UDP 8


def datagram(mode: int, seq: int, size: int) -> bytes:
    """An echo request whose IP packet is `size` bytes (at least the header)."""
    head = HEADER.pack(MAGIC, mode, seq & 0xFFFFFFFF)
    return head + bytes(max(0, size - UDP_HEADERS - HEADER.size))


def parse_reply(data: bytes) -> tuple[int, int, int | None] | None:
    """(mode, seq, received length for mode 1) of a responder reply, or None when it is not one."""
    if len(data) < HEADER.size:
        return None
    magic, mode, seq = HEADER.unpack_from(data)
    if magic != MAGIC:
        return None
    length = struct.unpack_from("!H", data, HEADER.size)[0] if mode == 1 and len(data) >= HEADER.size + 2 else None
    return mode, seq, length


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
