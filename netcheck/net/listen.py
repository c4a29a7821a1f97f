"""Inbound-path mechanics: temporary listeners, the responder's connect-back client, UDP echo.

The responder protocol is fixed in docs/responder-protocol.md: a JSON line on TCP, and
`NCE1` datagrams for UDP echo. Connection failures are classified like `dial` does
(IP_RECVERR error queue), so "no route back" and "filtered" stay apart.
"""

from __future__ import annotations

import contextlib
import errno
import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from netcheck.net.dial import IP_RECVERR, Outcome, _classify_errno, read_errqueue
from netcheck.protocol import MAX_LINE, control_line, echo_request


class TempListener:
    """A TCP listener held open for one check; accepts and closes connections, records peers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="netcheck-listen")
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self.peers.append(str(peer[0]))
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> TempListener:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_listener(ip: str, port: int) -> TempListener | None:
    """Listen on ip:port for the length of a check; None when something already listens there."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    return TempListener(sock)


def port_in_use(port: int) -> bool:
    """True when a TCP socket already listens on `port` (any address) in this namespace."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]  # noqa: SIM115
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


@dataclass(frozen=True)
class ControlReply:
    """One request/reply exchange with the responder, and how its TCP connection went."""

    control: Outcome  # how the control connection ended: connected | refused | timeout | ...
    control_reason: str
    reply: dict[str, Any] | None = None
    offender: str | None = None
    local: str | None = None  # the source address the control connection used
    error: str | None = None  # protocol problem (bad JSON, closed early)
    seconds: float = 0.0

    def to_evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"control": self.control, "controlReason": self.control_reason,
                              "seconds": round(self.seconds, 4)}
        for key, val in (("reply", self.reply), ("offender", self.offender), ("source", self.local),
                         ("error", self.error)):
            if val is not None:
                ev[key] = val
        return ev


def _connect(host: str, port: int, timeout: float, source: str | None) -> tuple[socket.socket | None, Outcome, str,
                                                                                  str | None]:
    """Non-blocking connect with IP_RECVERR; (socket or None, outcome, reason, offender)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    if family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    try:
        if source:
            sock.bind((source, 0))
        err = sock.connect_ex((host, port))
    except OSError as exc:
        sock.close()
        return None, "no-route", errno.errorcode.get(exc.errno or 0, str(exc)).lower(), None
    if err not in (0, errno.EINPROGRESS):
        sock.close()
        outcome, reason = _classify_errno(err, None)
        return None, outcome, "local-" + reason, None
    poller = select.poll()
    poller.register(sock, select.POLLOUT | select.POLLERR)
    end = time.monotonic() + timeout
    while not poller.poll(max(1, int((end - time.monotonic()) * 1000))):
        if time.monotonic() >= end:
            sock.close()
            return None, "timeout", "no-answer", None
    so_err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if so_err:
        icmp = read_errqueue(sock)
        sock.close()
        outcome, reason = _classify_errno(so_err, icmp)
        return None, outcome, reason, icmp.offender if icmp else None
    return sock, "connected", "handshake", None


def request(host: str, port: int, message: dict[str, Any], timeout: float, reply_timeout: float | None = None,
            source: str | None = None) -> ControlReply:
    """Send one JSON request line to the responder and read its one-line reply."""
    start = time.monotonic()
    sock, outcome, reason, offender = _connect(host, port, timeout, source)
    if sock is None:
        return ControlReply(outcome, reason, offender=offender, seconds=time.monotonic() - start)
    with contextlib.closing(sock):
        local = str(sock.getsockname()[0])
        sock.setblocking(True)
        sock.settimeout(reply_timeout if reply_timeout is not None else timeout)
        buf = b""
        try:
            sock.sendall(control_line(message))
            while b"\n" not in buf and len(buf) <= MAX_LINE:
                chunk = sock.recv(MAX_LINE)
                if not chunk:
                    break
                buf += chunk
        except TimeoutError:
            return ControlReply("connected", "handshake", local=local, error="no reply from the responder in time",
                                seconds=time.monotonic() - start)
        except OSError as exc:
            return ControlReply("connected", "handshake", local=local, error=f"connection broke: {exc.strerror}",
                                seconds=time.monotonic() - start)
    line = buf.split(b"\n", 1)[0]
    try:
        reply = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return ControlReply("connected", "handshake", local=local,
                            error=f"not a netcheck responder (answered {line[:40]!r})", seconds=time.monotonic() - start)
    if not isinstance(reply, dict):
        return ControlReply("connected", "handshake", local=local, error="reply is not a JSON object",
                            seconds=time.monotonic() - start)
    return ControlReply("connected", "handshake", reply=reply, local=local, seconds=time.monotonic() - start)


def connect_back(host: str, port: int, token: str | None, target_port: int, timeout: float,
                 source: str | None = None) -> ControlReply:
    """Ask the responder to dial back to the address this request comes from, on `target_port`."""
    msg: dict[str, Any] = {"op": "connect-back", "port": target_port, "timeout": round(timeout, 2)}
    if token:
        msg["token"] = token
    return request(host, port, msg, timeout=min(timeout, 5.0), reply_timeout=timeout + 3.0, source=source)


@dataclass(frozen=True)
class UdpEcho:
    """How UDP echo datagrams to ip:port fared: replies, or the ICMP error that came back."""

    ip: str
    port: int
    outcome: Outcome  # connected (echoed) | refused | timeout | unreachable | no-route
    reason: str
    sent: int
    received: int
    offender: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    echoed: int | None = None  # which probe (0-based) was echoed first

    @property
    def lost(self) -> int:
        """Probes sent before the echoed one that never came back (all of them when none did)."""
        if self.outcome == "timeout":
            return self.sent
        return self.echoed if self.echoed is not None else 0

    def to_evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"ip": self.ip, "port": self.port, "outcome": self.outcome, "reason": self.reason,
                              "sent": self.sent, "received": self.received, "seconds": round(self.seconds, 4)}
        if self.offender:
            ev["offender"] = self.offender
        if self.outcome in ("connected", "timeout"):
            ev["lost"] = self.lost
        if self.echoed is not None:
            ev["echoedProbe"] = self.echoed + 1
        return ev


def udp_echo(ip: str, port: int, count: int, timeout: float, interval: float = 0.5) -> UdpEcho:
    """Up to `count` NCE1 mode-0 probes, one every `interval` s (at most), within `timeout` s in all.

    Judged on any answer: an echo of any probe sent so far ends the series, so one lost
    datagram (or a late echo) is not mistaken for a filtered port.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    start = time.monotonic()
    end = start + timeout
    interval = min(interval, timeout / max(1, count + 1))
    sent = 0
    probes: dict[bytes, int] = {}
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        try:
            sock.connect((ip, port))
        except OSError as exc:
            outcome, reason = _classify_errno(exc.errno or 0, None)
            return UdpEcho(ip, port, outcome, "local-" + reason, 0, 0, seconds=time.monotonic() - start)
        next_send = start
        while (now := time.monotonic()) < end:
            if sent < count and now >= next_send:
                packet = echo_request(0, sent, payload=b"netcheck-cni")
                try:
                    sock.send(packet)
                except OSError as exc:
                    icmp = read_errqueue(sock)
                    outcome, reason = _classify_errno(exc.errno or 0, icmp)
                    return UdpEcho(ip, port, outcome, reason, sent, 0, icmp.offender if icmp else None,
                                   time.monotonic() - start)
                probes[packet] = sent
                sent += 1
                next_send = now + interval
                continue
            wait = (min(next_send, end) if sent < count else end) - now
            r, _, x = select.select([sock], [], [sock], max(0.0, wait))
            if not r and not x:
                continue
            try:
                data = sock.recv(2048)
            except OSError as exc:
                icmp = read_errqueue(sock)
                outcome, reason = _classify_errno(exc.errno or 0, icmp)
                return UdpEcho(ip, port, outcome, reason, sent, 0, icmp.offender if icmp else None,
                               time.monotonic() - start)
            if data in probes:
                return UdpEcho(ip, port, "connected", "echoed", sent, 1, seconds=time.monotonic() - start,
                               echoed=probes[data])
    return UdpEcho(ip, port, "timeout", "no-echo", sent, 0, seconds=time.monotonic() - start)
