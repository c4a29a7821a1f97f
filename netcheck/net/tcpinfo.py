"""TCP_INFO: the kernel's own counters for one TCP socket, read in one place.

The offsets into `struct tcp_info` (docs/reference/linux-probing-facts.md §5; bytes_acked,
min_rtt and the segment counts from linux/tcp.h) serve the iperf3 client and server (bytes
moved, retransmits, RTT), the TCP-handshake RTT sampler (rtt.py) and the connect
classifier (dial.py). Every reader returns None where getsockopt fails or the kernel's
struct is too short for the field.
"""

from __future__ import annotations

import socket
import struct

SND_MSS = 16
RCV_MSS = 20
SACKED = 28
RTT = 68  # smoothed RTT, µs
TOTAL_RETRANS = 100
BYTES_ACKED = 120
BYTES_RECEIVED = 128
SEGS_OUT = 136  # then tcpi_segs_in at 140
MIN_RTT = 148
DATA_SEGS_IN = 152  # then tcpi_data_segs_out at 156
DATA_SEGS_OUT = 156
SIZE = 512  # bytes asked for: more than any kernel's struct


def read(sock: socket.socket) -> bytes | None:
    """The raw struct, as long as this kernel makes it; None when the socket gives none."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, SIZE)
    except OSError:
        return None


def _u32(info: bytes, offset: int) -> int | None:
    return int(struct.unpack_from("=I", info, offset)[0]) if len(info) >= offset + 4 else None


def _u64(info: bytes, offset: int) -> int | None:
    return int(struct.unpack_from("=Q", info, offset)[0]) if len(info) >= offset + 8 else None


def counters(sock: socket.socket) -> tuple[int | None, int | None]:
    """(total_retrans, bytes_acked), None where the kernel gives less."""
    info = read(sock)
    if info is None:
        return None, None
    return _u32(info, TOTAL_RETRANS), _u64(info, BYTES_ACKED)


def delivered(sock: socket.socket) -> int | None:
    """Bytes the peer holds of what we sent: cumulatively acked plus SACKed segments, None if unknown.

    bytes_acked alone stalls while a loss is repaired (the hole holds back the cumulative
    ACK) and then jumps; a sample taken in that stall would move bytes into the next interval.
    """
    info = read(sock)
    if info is None or (acked := _u64(info, BYTES_ACKED)) is None:
        return None
    sacked, mss = struct.unpack_from("=I", info, SACKED)[0], struct.unpack_from("=I", info, SND_MSS)[0]
    return int(acked + sacked * mss)


def arrived(sock: socket.socket) -> int | None:
    """Data that has arrived on this socket, in or out of order: data segments in × receive MSS.

    tcpi_bytes_received counts in order only: on a lossy path it stalls while a hole is
    repaired and then jumps (measured on a 50 Mbit/s TBF path at 150 ms: quarter-second
    rates from 0 to 86 Mbit/s, where this count read 47.0 to 48.4 throughout).
    """
    info = read(sock)
    if info is None or (segs := _u32(info, DATA_SEGS_IN)) is None:
        return None
    return int(segs * struct.unpack_from("=I", info, RCV_MSS)[0])


def bytes_received(sock: socket.socket) -> int | None:
    """Bytes the kernel has received on this socket in order (tcpi_bytes_received), None if unknown."""
    info = read(sock)
    return None if info is None else _u64(info, BYTES_RECEIVED)


def lowest_rtt(sock: socket.socket) -> float | None:
    """The smallest RTT the kernel has seen on this socket (tcpi_min_rtt, else tcpi_rtt), seconds."""
    info = read(sock)
    if info is None:
        return None
    us = [u for off in (MIN_RTT, RTT) if (u := _u32(info, off))]
    return min(us) / 1e6 if us else None


def snd_mss(sock: socket.socket) -> int | None:
    """This socket's send MSS (tcpi_snd_mss), None if unknown or zero."""
    info = read(sock)
    return (_u32(info, SND_MSS) or None) if info is not None else None


def srtt_us(sock: socket.socket) -> int | None:
    """The smoothed RTT (tcpi_rtt) in µs; after a handshake, the SYN/SYN-ACK round trip."""
    info = read(sock)
    return None if info is None else _u32(info, RTT)


def rtt_and_retrans(sock: socket.socket) -> tuple[int, int] | None:
    """(tcpi_rtt µs, tcpi_total_retrans), None unless the kernel gives both."""
    info = read(sock)
    if info is None or len(info) < TOTAL_RETRANS + 4:
        return None
    return int(struct.unpack_from("=I", info, RTT)[0]), int(struct.unpack_from("=I", info, TOTAL_RETRANS)[0])


def rtt_and_min_us(sock: socket.socket) -> tuple[int, int] | None:
    """(smoothed RTT, minimum RTT) in µs, None unless the kernel gives both."""
    info = read(sock)
    if info is None or len(info) < MIN_RTT + 4:
        return None
    return int(struct.unpack_from("=I", info, RTT)[0]), int(struct.unpack_from("=I", info, MIN_RTT)[0])


def segments(sock: socket.socket) -> tuple[int, int, int, int] | None:
    """(segs_out, segs_in, data_segs_in, data_segs_out), None unless the kernel gives all four."""
    info = read(sock)
    if info is None or len(info) < DATA_SEGS_OUT + 4:
        return None
    segs_out, segs_in = struct.unpack_from("=II", info, SEGS_OUT)
    data_in, data_out = struct.unpack_from("=II", info, DATA_SEGS_IN)
    return int(segs_out), int(segs_in), int(data_in), int(data_out)
