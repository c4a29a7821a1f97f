"""SNTP (RFC 4330) over plain UDP: the clock offset to an NTP server, from a short burst of requests.

An NTP client never judges a server on one datagram: chrony's `iburst` sends a burst of
requests and keeps the sample with the smallest delay, and both chrony and timesyncd simply
poll again when a request goes unanswered. `burst` does the same in miniature: requests on
one socket until `want` answers came or `count` were sent, the next one as soon as the
previous is answered or after `interval` seconds, any answer to any of them counted, the
lowest-delay sample kept.

offset = ((t2 - t1) + (t3 - t4)) / 2 and delay = (t4 - t1) - (t3 - t2), with t1/t4 this
host's wall clock at send/receive and t2/t3 the server's receive/transmit timestamps.
The answer must echo our transmit timestamp, so a stray datagram cannot be mistaken for it.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

NTP_EPOCH = 2208988800  # seconds from 1900-01-01 to 1970-01-01
PACKET = struct.Struct("!BBbbII4sQQQQ")
Outcome = Literal["answered", "timeout", "refused", "unreachable", "no-route", "bad-answer"]


@dataclass(frozen=True)
class SntpResult:
    server: str  # ip:port
    outcome: Outcome
    offset: float | None = None  # seconds; positive when this host is behind the server
    delay: float | None = None
    stratum: int | None = None
    leap: int | None = None
    ref_id: str = ""
    detail: str = ""
    sent: int = 1  # requests sent in the burst
    received: int = 0  # of them answered (any answer, the kept sample being the lowest-delay one)

    @property
    def lost(self) -> int:
        return self.sent - self.received if self.outcome in ("answered", "timeout") else 0

    def to_evidence(self) -> dict[str, Any]:
        return {"server": self.server, "outcome": self.outcome,
                "offsetSeconds": None if self.offset is None else round(self.offset, 6),
                "delaySeconds": None if self.delay is None else round(self.delay, 6),
                "stratum": self.stratum, "leap": self.leap, "refId": self.ref_id, "detail": self.detail,
                "sent": self.sent, "received": self.received, "lost": self.lost}


def to_ntp(ts: float) -> int:
    """POSIX seconds → 64-bit NTP timestamp."""
    return int((ts + NTP_EPOCH) * 2**32) & 0xFFFFFFFFFFFFFFFF


def from_ntp(value: int) -> float:
    return value / 2**32 - NTP_EPOCH


def _ref_id(stratum: int, raw: bytes) -> str:
    if stratum <= 1:
        return raw.rstrip(b"\0").decode("ascii", "replace")  # kiss code or reference clock name
    return socket.inet_ntoa(raw)


WANT = 4  # samples, as chrony's iburst
BURST = 6  # requests at most, so two may be lost
INTERVAL_S = 0.5  # the next request goes out this long after an unanswered one
STRAGGLER_S = 1.0  # after the last request, how long a late answer is still waited for


def query(ip: str, port: int = 123, timeout: float = 2.0) -> SntpResult:
    """One request to ip:port, waiting up to `timeout` s for its answer."""
    return burst(ip, port, 1, 1, timeout, timeout)


def _request() -> tuple[bytes, int, float, float]:
    """(packet, transmit timestamp, wall time, perf counter) of one client request (LI 0, VN 4, mode 3)."""
    t1 = time.time()
    p1 = time.perf_counter()
    # Random low bits make the transmit timestamp unguessable (RFC 4330 §3 "origin" check).
    tx = (to_ntp(t1) & ~0xFFFF) | int.from_bytes(os.urandom(2), "big")
    return PACKET.pack(0x23, 0, 0, 0, 0, 0, b"\0" * 4, 0, 0, 0, tx), tx, t1, p1


def _sample(server: str, fields: tuple[Any, ...], t1: float, t4: float) -> SntpResult:
    first, stratum = fields[0], fields[1]
    leap, mode = first >> 6, first & 7
    if mode not in (4, 5):
        return SntpResult(server, "bad-answer", detail=f"mode {mode} is not a server answer")
    t2, t3 = from_ntp(fields[9]), from_ntp(fields[10])  # the server's receive and transmit times
    return SntpResult(server, "answered", ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2),
                      stratum, leap, _ref_id(stratum, fields[6]))


def burst(ip: str, port: int = 123, want: int = WANT, count: int = BURST, interval: float = INTERVAL_S,
          timeout: float = 4.0) -> SntpResult:
    """Requests to ip:port until `want` answers or `count` requests, within `timeout` s; the lowest-delay answer.

    The next request leaves when the previous one is answered or `interval` s passed without
    an answer; an answer to any request sent so far counts, for up to STRAGGLER_S after the
    last one. An ICMP error ends the burst. The result carries the sent and received counts.
    """
    server = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    deadline = time.monotonic() + timeout
    pending: dict[int, tuple[float, float]] = {}  # transmit timestamp → (t1 wall, t1 perf counter)
    samples: list[SntpResult] = []
    sent = 0
    last = time.monotonic()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((ip, port))
            next_send = time.monotonic()
            while True:
                now = time.monotonic()
                done = sent >= count and (not pending or now >= last + max(interval, STRAGGLER_S))
                if now >= deadline or done:
                    break
                if sent < count and now >= next_send:
                    packet, tx, t1, p1 = _request()
                    sock.send(packet)
                    pending[tx] = (t1, p1)
                    sent += 1
                    last = now
                    next_send = now + interval
                    continue
                until = last + max(interval, STRAGGLER_S) if sent >= count else next_send
                wait = min(until, deadline) - now
                sock.settimeout(max(0.001, wait))
                try:
                    data = sock.recv(512)
                except TimeoutError:
                    continue
                t_perf = time.perf_counter()
                if len(data) < PACKET.size:
                    continue
                fields = PACKET.unpack_from(data)
                if fields[8] not in pending:  # the server echoes our transmit time as 'originate'
                    continue
                t1, p1 = pending.pop(fields[8])
                samples.append(_sample(server, fields, t1, t1 + (t_perf - p1)))  # monotonic: immune to steps
                if len(samples) >= want:
                    break
                next_send = time.monotonic()  # answered: the next request may go at once
        except ConnectionRefusedError:
            return SntpResult(server, "refused", detail="ICMP port unreachable: nothing listens on UDP " + str(port),
                              sent=sent)
        except OSError as exc:
            outcome: Outcome = "no-route" if exc.errno == errno.ENETUNREACH else "unreachable"
            return SntpResult(server, outcome, detail=str(exc), sent=sent)
    good = [r for r in samples if r.outcome == "answered"]
    if good:
        best = min(good, key=lambda r: r.delay if r.delay is not None else float("inf"))
        return replace(best, sent=sent, received=len(samples))
    if samples:
        return replace(samples[0], sent=sent, received=len(samples))
    return SntpResult(server, "timeout", detail=f"no answer to {sent} request{'s' if sent != 1 else ''} within "
                      f"{timeout:g} s", sent=sent)
