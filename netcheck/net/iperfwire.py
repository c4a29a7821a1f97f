"""iperf3 framing shared by the client (net/iperf.py) and the server (responder/iperf.py).

State bytes, length-prefixed JSON, the cookie, stream ids, per-stream results, the
SERVER_ERROR frame and the busy frame with netcheck's retry-after trailer. Wire format:
docs/reference/iperf3-protocol.md; the constants are in netcheck/protocol.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import struct
import time
from typing import Any

from netcheck.protocol import (
    ACCESS_DENIED,
    COOKIE_ALPHABET,
    COOKIE_SIZE,
    IEAUTHTEST,
    IESTREAMID,
    RETRY_MAGIC,
    RETRY_TRAILER,
    SERVER_ERROR,
)

MAX_JSON = 65536  # results JSON grows with streams; parameters are capped tighter by the server
DEFAULT_BLKSIZE = 131072  # bytes per write, as iperf3 (TCP has no framing; `len` is advisory)
COOKIE_CHARS = frozenset(COOKIE_ALPHABET.encode())
STATE = struct.Struct("b")
ERROR_CODES = struct.Struct("!ii")  # after SERVER_ERROR: i_errno, errno

STATE_NAMES = {1: "TEST_START", 2: "TEST_RUNNING", 4: "TEST_END", 9: "PARAM_EXCHANGE", 10: "CREATE_STREAMS",
               11: "SERVER_TERMINATE", 12: "CLIENT_TERMINATE", 13: "EXCHANGE_RESULTS", 14: "DISPLAY_RESULTS",
               16: "IPERF_DONE", -1: "ACCESS_DENIED", -2: "SERVER_ERROR"}
# A few i_errno values a server may report (iperf_api.h), for readable messages.
IERRNO_TEXT = {IEAUTHTEST: "test authorization failed (wrong or missing token: pass extra_data / --extra-data)",
               IESTREAMID: "stream has an invalid id", 37: "test duration exceeds the server's maximum",
               160: "the server's test duration limit expired", 202: "the server could not listen for streams",
               1000: "the server refused the parameters"}


class IperfError(Exception):
    """The test could not be run or completed; `kind` is a short machine-readable cause."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ServerBusy(IperfError):
    """The server answered ACCESS_DENIED: it is running another test.

    `retry_after` (seconds), `running` and `slots` come from a `netcheck serve` retry-after
    trailer; a stock iperf3 server sends a plain busy and leaves them None.
    """

    def __init__(self, message: str = "the server is busy running another test", retry_after: int | None = None,
                 running: int | None = None, slots: int | None = None, waited: float = 0.0,
                 attempts: int = 1) -> None:
        super().__init__("busy", message)
        self.retry_after, self.running, self.slots = retry_after, running, slots
        self.waited, self.attempts = waited, attempts


# -- cookie and stream ids ----------------------------------------------------------------

def make_cookie() -> bytes:
    """36 random characters from the iperf3 alphabet and a NUL."""
    return "".join(secrets.choice(COOKIE_ALPHABET) for _ in range(COOKIE_SIZE - 1)).encode() + b"\0"


def valid_cookie(cookie: bytes) -> bool:
    return len(cookie) == COOKIE_SIZE and cookie[-1] == 0 and all(c in COOKIE_CHARS for c in cookie[:-1])


def stream_id(index: int) -> int:
    """Stream ids are 1, 3, 4, 5, ... (2 is never used; reference §3)."""
    return 1 if index == 0 else index + 2


# -- reading and writing the control connection --------------------------------------------

def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly n bytes, or IperfError('closed') when the peer closes first."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise IperfError("closed", "the peer closed the control connection unexpectedly")
        got += k
    return bytes(buf)


def recv_exact_until(sock: socket.socket, n: int, deadline: float) -> bytes:
    """Exactly n bytes before `deadline` (monotonic) in all: TimeoutError, or IperfError when closed."""
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the peer was too slow")
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise IperfError("closed", "the peer closed the connection")
        buf += chunk
    return bytes(buf)


def decode_state(data: bytes) -> int:
    """The signed state byte at the start of `data`."""
    return int(STATE.unpack_from(data)[0])


def send_state(sock: socket.socket, state: int) -> None:
    sock.sendall(STATE.pack(state))


def recv_state(sock: socket.socket) -> int:
    return decode_state(recv_exact(sock, 1))


def send_json(sock: socket.socket, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)


def recv_json(sock: socket.socket, limit: int = MAX_JSON) -> dict[str, Any]:
    """A length-prefixed JSON object; IperfError('protocol') when too large or not an object."""
    (length,) = struct.unpack("!I", recv_exact(sock, 4))
    if length == 0 or length > limit:
        raise IperfError("protocol", f"JSON message of {length} bytes is out of bounds (1..{limit})")
    try:
        obj = json.loads(recv_exact(sock, length))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IperfError("protocol", f"malformed JSON message: {exc}") from None
    except RecursionError:
        raise IperfError("protocol", "malformed JSON message: nested too deeply") from None
    if not isinstance(obj, dict):
        raise IperfError("protocol", "JSON message is not an object")
    return obj


# -- refusals: SERVER_ERROR, and ACCESS_DENIED with netcheck's retry-after trailer ---------

def error_frame(ierrno: int, err: int = 0) -> bytes:
    """SERVER_ERROR with iperf3's i_errno and errno (a stock client prints its text for i_errno)."""
    return STATE.pack(SERVER_ERROR) + ERROR_CODES.pack(ierrno, err)


def busy_frame(retry_after: int, running: int, slots: int) -> bytes:
    """ACCESS_DENIED (stock clients print "the server is busy"), then the trailer netcheck clients read."""
    return STATE.pack(ACCESS_DENIED) + RETRY_TRAILER.pack(RETRY_MAGIC, min(retry_after, 65535),
                                                          min(running, 65535), min(slots, 65535))


def read_retry_trailer(sock: socket.socket) -> ServerBusy:
    """After ACCESS_DENIED: the responder's retry-after trailer, if one follows (stock iperf3 closes)."""
    buf = b""
    try:
        sock.settimeout(1.0)
        while len(buf) < RETRY_TRAILER.size:
            chunk = sock.recv(RETRY_TRAILER.size - len(buf))
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    if len(buf) == RETRY_TRAILER.size:
        magic, after, running, slots = RETRY_TRAILER.unpack(buf)
        if magic == RETRY_MAGIC:
            return ServerBusy(f"the server is busy ({running} of {slots} test slots in use); it asked to retry "
                              f"after {after} s", retry_after=after, running=running, slots=slots)
    return ServerBusy()


# -- results JSON ---------------------------------------------------------------------------

def stream_result(sid: int, nbytes: int, retransmits: int | None, seconds: float) -> dict[str, Any]:
    """One stream's entry in the results JSON (retransmits -1: not counted by this end)."""
    return {"id": sid, "bytes": nbytes, "retransmits": -1 if retransmits is None else retransmits,
            "jitter": 0, "errors": 0, "packets": 0, "start_time": 0, "end_time": round(seconds, 6)}


def signed64(value: Any) -> int:
    """iperf3 3.12/3.13 print -1 as 2^64-1; map values >= 2^63 back to negative."""
    v = int(value)
    return v - (1 << 64) if v >= (1 << 63) else v


class CpuClock:
    """CPU use of this process between construction and `util()`, in iperf3's result fields."""

    def __init__(self) -> None:
        self.t0, self.c0 = time.monotonic(), os.times()

    def util(self) -> dict[str, float]:
        wall = max(1e-6, time.monotonic() - self.t0)
        c = os.times()
        user = (c.user - self.c0.user) / wall * 100
        system = (c.system - self.c0.system) / wall * 100
        return {"cpu_util_total": round(user + system, 2), "cpu_util_user": round(user, 2),
                "cpu_util_system": round(system, 2)}


def close_quietly(sock: socket.socket) -> None:
    """Shut down (waking any thread blocked on it), then close; never raises."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
