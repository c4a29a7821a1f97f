"""What every part of the responder shares: its configuration, one accepted connection, the log, addresses.

Kept apart from core.py (the connection table and accept loop) so the protocol handlers
(control.py, iperf.py, udp.py) can use them without importing the module that dispatches to them.
"""

from __future__ import annotations

import ipaddress
import json
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from netcheck.protocol import IPERF3_PORT, RESPONDER_PORT

DEFAULT_PORT = RESPONDER_PORT
IPERF_PORT = IPERF3_PORT

Log = Callable[..., None]
ECHO_ACTIVE_S = 1.0  # an echo session that moved bytes this recently is exchanging data


@dataclass(frozen=True)
class ServeConfig:
    """What to listen on and the limits that keep the responder safe to expose."""

    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT  # TCP and UDP; 0 picks a free port (same number for both)
    iperf_ports: tuple[int, ...] = (IPERF_PORT,)  # extra TCP ports that also speak the protocol
    extra_tcp: tuple[int, ...] = ()
    extra_udp: tuple[int, ...] = ()
    token: str | None = None
    no_auth: bool = False
    max_clients: int = 1024  # concurrent TCP connections (lowered to fit RLIMIT_NOFILE)
    max_per_source: int = 32  # connections per source address not (yet) part of a bandwidth test
    handshake_timeout: float = 5.0  # whole first request: JSON line, or iperf3 cookie + parameters
    idle_timeout: float = 5.0  # between JSON requests, and between echo reads
    session_seconds: float = 30.0  # one JSON control connection in all
    session_requests: int = 20
    max_tests: int = 0  # concurrent bandwidth tests; 0 = from CPUs and NIC speed (limits.auto_capacity)
    max_test_seconds: float = 60.0
    max_streams: int = 16
    max_block: int = 1 << 20
    echo_max_bytes: int = 64 << 10  # per echo connection: TCP echo is for latency, not bulk
    echo_max_seconds: float = 10.0
    echo_bytes_per_second: float = 16 << 10  # unauthenticated bytes per source (TCP echo + UDP echo)
    echo_burst_bytes: float = 256 << 10
    connect_back_max_timeout: float = 10.0
    requests_per_second: float = 20.0  # JSON requests per source (burst x2)
    datagrams_per_second: float = 1000.0  # UDP echoes per source (burst x2)
    tracked_sources: int = 4096  # rate-limit table size (LRU)


def json_logger(stream: TextIO | None = None, quiet: bool = False) -> Log:
    """A structured logger: one JSON object per line on stderr."""
    lock = threading.Lock()

    def log(event: str, level: str = "info", **fields: Any) -> None:
        if quiet and level == "debug":
            return
        rec = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level, "event": event, **fields}
        line = json.dumps(rec, default=str)
        with lock:
            out = stream or sys.stderr
            try:
                out.write(line + "\n")
                out.flush()
            except (OSError, ValueError):
                pass

    return log


def plain_ip(addr: str) -> str:
    """Strip IPv4-mapped IPv6 (::ffff:a.b.c.d) and zone ids so addresses compare as written."""
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def listening_selector(socks: Sequence[socket.socket]) -> selectors.BaseSelector | None:
    """A selector over listening sockets (made non-blocking), or None when they were already closed: a
    responder stopped right after start() closes them before its threads get here."""
    sel = selectors.DefaultSelector()
    try:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
    except (OSError, ValueError):  # EBADF, or fileno() -1 once closed
        sel.close()
        return None
    return sel


def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


@dataclass(eq=False)
class Conn:
    """One accepted TCP connection and what it is doing (for limits and eviction)."""

    sock: socket.socket
    source: str
    since: float = field(default_factory=time.monotonic)
    phase: str = "new"  # new (no complete request) | idle (between requests) | echo | busy | test
    counted: bool = True  # counts against max_per_source (False once part of a bandwidth test)
    evicted: bool = False
    authenticated: bool = False  # sent the token in a request that was granted
    last_io: float = 0.0  # echo: when bytes last moved

    def set_phase(self, phase: str) -> None:
        self.phase, self.since = phase, time.monotonic()

    def tier(self, now: float) -> int:
        """Eviction order: 0 no complete request yet, 1 idle between requests, 2 an echo gone quiet,
        3 an echo exchanging data, 4 an authenticated session between requests."""
        if self.authenticated:
            return 4
        if self.phase == "echo":
            return 3 if now - self.last_io < ECHO_ACTIVE_S else 2
        return 0 if self.phase == "new" else 1
