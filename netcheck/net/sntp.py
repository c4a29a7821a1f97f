"""One SNTP exchange (RFC 4330) over plain UDP: the clock offset to an NTP server.

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
from dataclasses import dataclass
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

    def to_evidence(self) -> dict[str, Any]:
        return {"server": self.server, "outcome": self.outcome,
                "offsetSeconds": None if self.offset is None else round(self.offset, 6),
                "delaySeconds": None if self.delay is None else round(self.delay, 6),
                "stratum": self.stratum, "leap": self.leap, "refId": self.ref_id, "detail": self.detail}


def to_ntp(ts: float) -> int:
    """POSIX seconds → 64-bit NTP timestamp."""
    return int((ts + NTP_EPOCH) * 2**32) & 0xFFFFFFFFFFFFFFFF


def from_ntp(value: int) -> float:
    return value / 2**32 - NTP_EPOCH


def _ref_id(stratum: int, raw: bytes) -> str:
    if stratum <= 1:
        return raw.rstrip(b"\0").decode("ascii", "replace")  # kiss code or reference clock name
    return socket.inet_ntoa(raw)


def query(ip: str, port: int = 123, timeout: float = 2.0) -> SntpResult:
    """Send one client request to ip:port and wait up to `timeout` s for the matching answer."""
    server = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((ip, port))
            # Random low bits make the transmit timestamp unguessable (RFC 4330 §3 "origin" check).
            t1 = time.time()
            p1 = time.perf_counter()
            tx = (to_ntp(t1) & ~0xFFFF) | int.from_bytes(os.urandom(2), "big")
            sock.send(PACKET.pack(0x23, 0, 0, 0, 0, 0, b"\0" * 4, 0, 0, 0, tx))  # LI 0, VN 4, mode 3
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return SntpResult(server, "timeout", detail=f"no answer within {timeout:g} s")
                sock.settimeout(left)
                data = sock.recv(512)
                t4 = t1 + (time.perf_counter() - p1)  # monotonic elapsed: immune to clock steps
                if len(data) >= PACKET.size:
                    fields = PACKET.unpack_from(data)
                    if fields[8] == tx:  # the server echoes our transmit time as 'originate'
                        break
        except TimeoutError:
            return SntpResult(server, "timeout", detail=f"no answer within {timeout:g} s")
        except ConnectionRefusedError:
            return SntpResult(server, "refused", detail="ICMP port unreachable: nothing listens on UDP " + str(port))
        except OSError as exc:
            outcome: Outcome = "no-route" if exc.errno == errno.ENETUNREACH else "unreachable"
            return SntpResult(server, outcome, detail=str(exc))
    first, stratum = fields[0], fields[1]
    leap, mode = first >> 6, first & 7
    if mode not in (4, 5):
        return SntpResult(server, "bad-answer", detail=f"mode {mode} is not a server answer")
    t2, t3 = from_ntp(fields[9]), from_ntp(fields[10])  # the server's receive and transmit times
    return SntpResult(server, "answered", ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2),
                      stratum, leap, _ref_id(stratum, fields[6]))
