"""Client side of the responder's UDP echo (RESPONDER.md): RTT series and DF size probes.

Datagram: b"NCE1" + u8 mode + u32 seq (big-endian) + payload. Mode 0 echoes the whole
datagram; mode 1 answers with the 9-byte header + u16 received length, so a large DF
datagram can go out and only a small acknowledgement comes back (path MTU).
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time

from netcheck.net.rtt import IP_RECVERR, SO_TIMESTAMPNS, RttSeries, kernel_rx_ns

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
    from netcheck.net.dial import read_errqueue

    end = time.monotonic() + timeout
    sent_at: dict[int, int] = {}
    rtts: dict[int, float] = {}
    errors: dict[str, int] = {}
    offender = None
    base = int(time.monotonic_ns() & 0x7FFF0000)  # distinct seq space per series
    sock = open_socket(ip, port)
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR)
        next_send = last_send = time.monotonic()
        i = 0
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if i < count and now >= next_send:
                sent_at[base + i] = time.time_ns()
                try:
                    sock.send(datagram(0, base + i, size))
                except OSError as exc:
                    reason = errno.errorcode.get(exc.errno or 0, str(exc)).lower()
                    errors[reason] = errors.get(reason, 0) + 1
                i += 1
                last_send = now
                next_send += interval
                continue
            if i >= count and (len(rtts) == count or now >= last_send + wait):
                break
            until = next_send if i < count else last_send + wait
            for _, ev in poller.poll(max(0, int((min(until, end) - now) * 1000) + 1)):
                if ev & select.POLLERR:
                    icmp = read_errqueue(sock)
                    if icmp is not None:
                        reason = errno.errorcode.get(icmp.errno, str(icmp.errno)).lower()
                        errors[reason] = errors.get(reason, 0) + 1
                        offender = offender or icmp.offender
                if ev & select.POLLIN:
                    try:
                        data, anc, _, _ = sock.recvmsg(65535, 256)
                    except (BlockingIOError, ConnectionRefusedError):
                        continue
                    got = parse_reply(data)
                    if got is not None and got[1] in sent_at and got[1] not in rtts:
                        rtts[got[1]] = ((kernel_rx_ns(anc) or time.time_ns()) - sent_at[got[1]]) / 1e6
    finally:
        sock.close()
    series = tuple(rtts.get(base + k) for k in range(i))
    notes: tuple[str, ...] = ()
    if errors.get("econnrefused"):
        notes = (f"{ip} answered 'port unreachable' on UDP {port}: the responder's UDP echo is not listening",)
    return RttSeries(ip, "udp-echo", series, interval, notes, 0, offender, errors)
