"""The responder's wire formats, in one place: what `netcheck serve` and its clients say to each other.

Used by the client side (net/udpecho.py, net/listen.py, net/iperf.py, net/iperfwire.py), the responder
(netcheck/responder/), the stand-ins and the test bed. The prose contract is
docs/responder-protocol.md; the iperf3 framing is docs/reference/iperf3-protocol.md.
Pure constants and byte-level helpers; nothing here does I/O.
"""

from __future__ import annotations

import json
import struct
from typing import Any

RESPONDER_PORT = 7447  # TCP (JSON control, TCP echo, iperf3) and UDP (echo) share the number
IPERF3_PORT = 5201  # the stock iperf3 port `netcheck serve` also accepts tests on

# -- UDP echo: b"NCE1" + u8 mode + u32 seq (big-endian) + payload ---------------------------
ECHO_MAGIC = b"NCE1"
ECHO_HEADER = struct.Struct("!4sBI")  # 9 bytes
ECHO_MODE_ECHO = 0  # echo the whole datagram back (RTT, loss, jitter)
ECHO_MODE_SIZED = 1  # answer with the header + u16 received length (path MTU: big out, small back)
SIZED_LENGTH = struct.Struct("!H")
SIZED_REPLY = ECHO_HEADER.size + SIZED_LENGTH.size  # 11 bytes; shorter mode-1 requests are ignored
IP_UDP_HEADERS = 28  # IPv4 20 + UDP 8


def echo_request(mode: int, seq: int, size: int = 0, payload: bytes = b"") -> bytes:
    """An echo request: with `size`, padded so its IP packet is `size` bytes (at least the header)."""
    head = ECHO_HEADER.pack(ECHO_MAGIC, mode, seq & 0xFFFFFFFF) + payload
    return head + bytes(max(0, size - IP_UDP_HEADERS - len(head)))


def parse_echo_reply(data: bytes) -> tuple[int, int, int | None] | None:
    """(mode, seq, received length for mode 1) of a responder reply, or None when it is not one."""
    if len(data) < ECHO_HEADER.size:
        return None
    magic, mode, seq = ECHO_HEADER.unpack_from(data)
    if magic != ECHO_MAGIC:
        return None
    sized = mode == ECHO_MODE_SIZED and len(data) >= SIZED_REPLY
    length = SIZED_LENGTH.unpack_from(data, ECHO_HEADER.size)[0] if sized else None
    return mode, seq, length


def echo_mode(data: bytes | memoryview) -> int | None:
    """The mode of a valid echo request (0 or 1, long enough for its reply), or None to stay silent."""
    if len(data) < ECHO_HEADER.size or bytes(data[:4]) != ECHO_MAGIC:
        return None
    mode = data[4]
    if mode not in (ECHO_MODE_ECHO, ECHO_MODE_SIZED) or (mode == ECHO_MODE_SIZED and len(data) < SIZED_REPLY):
        return None
    return int(mode)


def echo_reply(data: bytes | memoryview) -> bytes | None:
    """The responder's answer to an echo request, or None when it is not one."""
    mode = echo_mode(data)
    if mode is None:
        return None
    if mode == ECHO_MODE_ECHO:
        return bytes(data)
    return bytes(data[:ECHO_HEADER.size]) + SIZED_LENGTH.pack(min(len(data), 65535))


# -- TCP JSON control: one UTF-8 line per request and per reply -----------------------------
CONTROL_VERSION = 1
MAX_LINE = 4096  # longest control line, newline included


def control_line(message: dict[str, Any]) -> bytes:
    """A control request as sent on the wire: `{"v":1, ...}` and a newline."""
    return json.dumps({"v": CONTROL_VERSION, **message}).encode() + b"\n"


# -- iperf3 framing (docs/reference/iperf3-protocol.md §2) ----------------------------------
TEST_START = 1
TEST_RUNNING = 2
TEST_END = 4
PARAM_EXCHANGE = 9
CREATE_STREAMS = 10
SERVER_TERMINATE = 11
CLIENT_TERMINATE = 12
EXCHANGE_RESULTS = 13
DISPLAY_RESULTS = 14
IPERF_DONE = 16
ACCESS_DENIED = -1
SERVER_ERROR = -2

COOKIE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
COOKIE_SIZE = 37
IESTREAMID = 45  # "stream has an invalid id"
IEAUTHTEST = 142

# After ACCESS_DENIED, `netcheck serve` adds b"NCRA" + u16 retry-after s + u16 running tests + u16 slots.
RETRY_MAGIC = b"NCRA"
RETRY_TRAILER = struct.Struct("!4sHHH")
