"""JSON control connections: hello, echo (unauthenticated, budgeted) and connect-back (token).

Every connection has an overall deadline: the first request within the handshake
timeout, at most `session_requests` requests within `session_seconds`, and at most
`idle_timeout` between them. Echo is sized for latency probes: a per-connection byte
and time cap and a per-source byte budget shared with the UDP echo.
"""

from __future__ import annotations

import json
import socket
import time
from typing import TYPE_CHECKING, Any

from netcheck import __version__
from netcheck.net.dial import dial
from netcheck.protocol import MAX_LINE
from netcheck.responder.auth import authorized
from netcheck.responder.conn import Conn, family, plain_ip

if TYPE_CHECKING:
    from netcheck.responder.core import Responder

FEATURES = ["hello", "echo", "udp-echo", "udp-sized-echo", "iperf3", "connect-back", "iperf3-retry-after"]


def read_line(conn: socket.socket, start: bytes, deadline: float) -> tuple[bytes, bytes] | None:
    """One request line and whatever followed it (the next request, or echo data), before `deadline`."""
    buf = bytearray(start)
    while b"\n" not in buf[:MAX_LINE + 1]:
        if len(buf) > MAX_LINE:
            raise ValueError("request line longer than 4096 bytes")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not complete in time")
        conn.settimeout(left)
        chunk = conn.recv(MAX_LINE + 1 - len(buf))
        if not chunk:
            return None if not buf.strip() else (bytes(buf), b"")
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    return line, rest


def session(r: Responder, c: Conn, first: bytes, deadline: float) -> None:
    cfg = r.cfg
    sock = c.sock
    end = c.since + cfg.session_seconds
    pending = first
    for i in range(cfg.session_requests):
        try:
            got = read_line(sock, pending, deadline if i == 0 else min(end, time.monotonic() + cfg.handshake_timeout))
        except ValueError as exc:
            reply(sock, {"ok": False, "error": f"bad request: {exc}"})
            return
        if got is None:
            return
        c.set_phase("busy")
        line, pending = got
        answer, then_echo = request(r, sock, c.source, line)
        if answer.get("ok") and not r.cfg.no_auth and b'"token"' in line:  # eviction keeps it to the last
            req = parse(line)
            c.authenticated = c.authenticated or (isinstance(req, dict) and authorized(r.cfg, req.get("token")))
        reply(sock, answer)
        if then_echo:
            echo(r, c, pending)
            return
        c.set_phase("idle")
        if not pending:
            left = min(end - time.monotonic(), cfg.idle_timeout)
            if left <= 0:
                return
            sock.settimeout(left)
            pending = sock.recv(1)
            if not pending:
                return


def reply(conn: socket.socket, obj: dict[str, Any]) -> None:
    conn.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def parse(line: bytes) -> dict[str, Any] | str:
    """The request object, or the error text for a line that is not one."""
    try:
        req = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"bad request: not JSON ({exc})"
    except RecursionError:
        return "bad request: nested too deeply"
    if not isinstance(req, dict):
        return "bad request: not a JSON object"
    return req


def request(r: Responder, conn: socket.socket, source: str, line: bytes) -> tuple[dict[str, Any], bool]:
    if not r.allow_request(source):
        r.log("rate-limited", level="warning", client=source)
        return {"ok": False, "error": "rate limited"}, False
    req = parse(line)
    if isinstance(req, str):
        return {"ok": False, "error": req}, False
    v = req.get("v", 1)
    if isinstance(v, bool) or v != 1:
        return {"ok": False, "error": f"bad request: unsupported version {str(v)[:20]!r}"}, False
    op = req.get("op")
    if op == "hello":  # before the token: only what a client needs to go on (docs/responder-protocol.md)
        answer: dict[str, Any] = {"ok": True, "v": 1, "clientAddr": source, "auth": not r.cfg.no_auth}
        if authorized(r.cfg, req.get("token")):
            answer.update(version=__version__, features=FEATURES, udpPorts=[r.port, *r.cfg.extra_udp],
                          tcpPorts=[r.port, *r.cfg.iperf_ports, *r.cfg.extra_tcp],
                          bandwidthSlots=r.capacity.max_tests)
        return answer, False
    if op == "echo":
        if r.echo_budget.available(source) < 1:
            r.log("echo-budget", level="warning", client=source)
            return {"ok": False, "error": "rate limited: echo byte budget used up, try again later"}, False
        r.log("echo", level="debug", client=source)
        return {"ok": True}, True
    if op == "connect-back":
        return connect_back(r, source, req), False
    if not isinstance(op, str):
        return {"ok": False, "error": "bad request: missing op"}, False
    return {"ok": False, "error": "unknown op"}, False


def connect_back(r: Responder, source: str, req: dict[str, Any]) -> dict[str, Any]:
    if not authorized(r.cfg, req.get("token")):
        r.log("unauthorized", level="warning", client=source, op="connect-back")
        return {"ok": False, "error": "unauthorized"}
    port, timeout, address = req.get("port"), req.get("timeout", 3), req.get("address")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return {"ok": False, "error": "bad request: port must be an integer from 1 to 65535"}
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        return {"ok": False, "error": "bad request: timeout must be a number of seconds (0..60]"}
    if address is not None and plain_ip(str(address)[:64]) != source:
        r.log("connect-back-refused", level="warning", client=source, address=str(address)[:64])
        return {"ok": False, "error": "connect-back only to the requesting address"}
    timeout = min(float(timeout), r.cfg.connect_back_max_timeout)
    res = dial(source, port, timeout)
    src = res.local[0] if res.local else source_toward(source)
    target = f"[{source}]:{port}" if ":" in source else f"{source}:{port}"
    r.log("connect-back", client=source, port=port, outcome=res.outcome, reason=res.reason)
    return {"ok": True, "outcome": res.outcome, "reason": res.reason, "seconds": round(res.seconds, 4),
            "target": target, "source": src, "clientAddr": source}


def echo(r: Responder, c: Conn, early: bytes = b"") -> None:
    """Echo bytes back until the client closes, or a cap or the source's byte budget is reached."""
    cfg = r.cfg
    sock = c.sock
    c.set_phase("echo")
    c.last_io = time.monotonic()
    buf = memoryview(bytearray(16384))
    total = 0
    end = time.monotonic() + cfg.echo_max_seconds
    why = "closed"
    data = memoryview(early)
    while not r.stopping:
        if len(data):
            allowed = int(r.echo_budget.take_up_to(c.source, min(len(data), cfg.echo_max_bytes - total)))
            if allowed:
                sock.sendall(data[:allowed])
                total += allowed
                c.last_io = time.monotonic()
            if allowed < len(data):
                why = "byte cap" if total >= cfg.echo_max_bytes else "source byte budget"
                break
        left = end - time.monotonic()
        if left <= 0:
            why = "time cap"
            break
        sock.settimeout(min(cfg.idle_timeout, left))
        n = sock.recv_into(buf, len(buf))
        if n == 0:
            break
        data = buf[:n]
    r.log("echo-done", level="debug", client=c.source, bytes=total, reason=why)


def source_toward(ip: str) -> str:
    """The local address the kernel would use toward ip (UDP connect sends nothing)."""
    try:
        with socket.socket(family(ip), socket.SOCK_DGRAM) as s:
            s.connect((ip, 9))
            return plain_ip(str(s.getsockname()[0]))
    except OSError:
        return ""
