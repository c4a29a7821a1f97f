"""`netcheck serve`: the VPC-side responder (wire protocol: brief RESPONDER.md).

One TCP port speaks two protocols, told apart by the first byte: `{` starts a JSON
control line (hello, echo, connect-back), anything else is an iperf3 cookie (a stock
`iperf3 -c` works). The same port number on UDP echoes `NCE1` datagrams.

Safety: bulk data (iperf3) and connect-back need the shared token; connect-back only
dials the address the request came from; every connection, request, datagram, test
length and buffer is capped, so memory stays bounded whatever clients do.
Threads, one per connection (capped), with blocking sockets: the same data plane as
the client (netcheck/net/iperf.py).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import selectors
import socket
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from netcheck import __version__
from netcheck.net import iperf

DEFAULT_PORT = 7447
IPERF_PORT = 5201
MAX_LINE = 4096
UDP_MAGIC = b"NCE1"
UDP_HEADER = 9  # magic, u8 mode, u32 seq
FEATURES = ["hello", "echo", "udp-echo", "udp-sized-echo", "iperf3", "connect-back"]
COOKIE_CHARS = frozenset(iperf.COOKIE_ALPHABET.encode())

Log = Callable[..., None]


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
    max_clients: int = 256  # concurrent TCP connections
    max_per_source: int = 64
    handshake_timeout: float = 5.0  # for the first line / cookie
    idle_timeout: float = 30.0
    max_test_seconds: float = 60.0
    max_streams: int = 16
    max_block: int = 1 << 20
    echo_max_bytes: int = 64 << 20
    echo_max_seconds: float = 120.0
    connect_back_max_timeout: float = 10.0
    requests_per_second: float = 20.0  # JSON requests per source (burst x2)
    datagrams_per_second: float = 1000.0  # UDP echoes per source (burst x2)
    tracked_sources: int = 4096  # rate-limit table size (LRU)


class RateLimiter:
    """Token buckets per source address, in a bounded LRU table."""

    def __init__(self, rate: float, burst: float, size: int) -> None:
        self.rate, self.burst, self.size = rate, burst, size
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, source: str, cost: float = 1.0) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(source, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= cost
            self._buckets[source] = (tokens - cost if ok else tokens, now)
            while len(self._buckets) > self.size:
                self._buckets.popitem(last=False)
            return ok


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


def _plain_ip(addr: str) -> str:
    """Strip IPv4-mapped IPv6 (::ffff:a.b.c.d) and zone ids so addresses compare as written."""
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


@dataclass
class _Test:
    """The one iperf3 test in progress (iperf3 semantics: one at a time)."""

    cookie: bytes
    client: str
    expected: int = 0
    accepting: bool = False
    streams: list[socket.socket] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)


class Responder:
    """The responder; `start()` binds and serves in background threads, `stop()` ends it all."""

    def __init__(self, config: ServeConfig, log: Log | None = None) -> None:
        if not config.no_auth and not config.token:
            raise ValueError("a token is required (or no_auth=True)")
        self.cfg = config
        self.log = log or json_logger()
        self._stop = threading.Event()
        self._tcp: list[socket.socket] = []
        self._udp: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._per_source: dict[str, int] = {}
        self._lock = threading.Lock()
        self._test: _Test | None = None
        self._requests = RateLimiter(config.requests_per_second, config.requests_per_second * 2,
                                     config.tracked_sources)
        self._datagrams = RateLimiter(config.datagrams_per_second, config.datagrams_per_second * 2,
                                      config.tracked_sources)
        self.port = config.port
        self.stats = {"connections": 0, "rejected": 0, "tests": 0, "datagrams": 0}

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Bind every socket (raising OSError with the port named) and start serving."""
        try:
            self._bind_all()
        except OSError:
            self._close_listeners()
            raise
        for target, name in ((self._accept_loop, "responder-accept"), (self._udp_loop, "responder-udp")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self.log("listening", host=self.cfg.host, port=self.port,
                 tcp=[s.getsockname()[1] for s in self._tcp], udp=[s.getsockname()[1] for s in self._udp],
                 auth=not self.cfg.no_auth, version=__version__)

    def _bind_all(self) -> None:
        host = self.cfg.host
        for attempt in range(20):  # port 0: find a number free on both TCP and UDP
            tcp = self._listen(host, self.cfg.port)
            port = tcp.getsockname()[1]
            try:
                udp = self._udp_socket(host, port)
            except OSError:
                tcp.close()
                if self.cfg.port or attempt == 19:
                    raise
                continue
            self._tcp.append(tcp)
            self._udp.append(udp)
            self.port = port
            break
        for p in (*self.cfg.iperf_ports, *self.cfg.extra_tcp):
            if p and p != self.port:
                self._tcp.append(self._listen(host, p))
        for p in self.cfg.extra_udp:
            if p != self.port:
                self._udp.append(self._udp_socket(host, p))

    @staticmethod
    def _listen(host: str, port: int) -> socket.socket:
        s = socket.socket(_family(host), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(256)
        except OSError as exc:
            s.close()
            raise OSError(exc.errno, f"cannot listen on TCP {host}:{port}: {exc.strerror}") from None
        return s

    @staticmethod
    def _udp_socket(host: str, port: int) -> socket.socket:
        s = socket.socket(_family(host), socket.SOCK_DGRAM)
        try:
            s.bind((host, port))
        except OSError as exc:
            s.close()
            raise OSError(exc.errno, f"cannot bind UDP {host}:{port}: {exc.strerror}") from None
        return s

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, tell a running iperf3 client, close every connection, join threads."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._close_listeners()
        end = time.monotonic() + min(2.0, timeout)
        while self._test is not None and time.monotonic() < end:
            time.sleep(0.05)  # let a running iperf3 test send SERVER_TERMINATE to its client
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        self.log("stopped", **self.stats)

    def _close_listeners(self) -> None:
        for s in (*self._tcp, *self._udp):
            with contextlib.suppress(OSError):
                s.close()

    @property
    def address(self) -> str:
        host = self.cfg.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    # -- TCP accept -------------------------------------------------------------------
    def _accept_loop(self) -> None:
        sel = selectors.DefaultSelector()
        for s in self._tcp:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.5):
                    lsock = key.fileobj
                    assert isinstance(lsock, socket.socket)
                    try:
                        conn, peer = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        if self._stop.is_set():
                            return
                        continue
                    self._admit(conn, _plain_ip(peer[0]))
        finally:
            sel.close()

    def _admit(self, conn: socket.socket, source: str) -> None:
        with self._lock:
            if len(self._conns) >= self.cfg.max_clients or self._per_source.get(source, 0) >= self.cfg.max_per_source:
                self.stats["rejected"] += 1
                conn.close()
                self.log("connection-rejected", level="warning", client=source, reason="connection limit")
                return
            self._conns.add(conn)
            self._per_source[source] = self._per_source.get(source, 0) + 1
            self.stats["connections"] += 1
        conn.setblocking(True)
        t = threading.Thread(target=self._handle, args=(conn, source), daemon=True, name="responder-conn")
        t.start()

    def _release(self, conn: socket.socket, source: str, close: bool = True) -> None:
        with self._lock:
            self._conns.discard(conn)
            n = self._per_source.get(source, 1) - 1
            if n <= 0:
                self._per_source.pop(source, None)
            else:
                self._per_source[source] = n
        if close:
            iperf.close_quietly(conn)

    def _handle(self, conn: socket.socket, source: str) -> None:
        keep = False
        try:
            conn.settimeout(self.cfg.handshake_timeout)
            first = conn.recv(1)
            if not first:
                return
            if first == b"{":
                self._json_session(conn, source, first)
            else:
                keep = self._iperf_connection(conn, source, first)
        except (OSError, iperf.IperfError, ValueError) as exc:
            self.log("connection-error", level="debug", client=source, error=str(exc))
        except Exception as exc:  # a bug must not take the responder down
            self.log("internal-error", level="error", client=source, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._release(conn, source, close=not keep)

    # -- JSON control -----------------------------------------------------------------
    def _read_line(self, conn: socket.socket, start: bytes) -> tuple[bytes, bytes] | None:
        """One request line and whatever followed it (the next request, or echo data)."""
        buf = bytearray(start)
        deadline = time.monotonic() + self.cfg.handshake_timeout
        while b"\n" not in buf[:MAX_LINE + 1]:
            if len(buf) > MAX_LINE:
                raise ValueError("request line longer than 4096 bytes")
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = conn.recv(MAX_LINE + 1 - len(buf))
            if not chunk:
                return None if not buf.strip() else (bytes(buf), b"")
            buf += chunk
        line, _, rest = bytes(buf).partition(b"\n")
        return line, rest

    def _json_session(self, conn: socket.socket, source: str, first: bytes) -> None:
        pending = first
        for _ in range(100):  # a few requests per connection at most
            try:
                got = self._read_line(conn, pending)
            except ValueError as exc:
                self._reply(conn, {"ok": False, "error": f"bad request: {exc}"})
                return
            if got is None:
                return
            line, pending = got
            reply, then_echo = self._request(conn, source, line)
            self._reply(conn, reply)
            if then_echo:
                self._echo(conn, source, pending)
                return
            if not pending:
                conn.settimeout(self.cfg.idle_timeout)
                pending = conn.recv(1)
                if not pending:
                    return

    @staticmethod
    def _reply(conn: socket.socket, obj: dict[str, Any]) -> None:
        conn.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def _request(self, conn: socket.socket, source: str, line: bytes) -> tuple[dict[str, Any], bool]:
        if not self._requests.allow(source):
            self.log("rate-limited", level="warning", client=source)
            return {"ok": False, "error": "rate limited"}, False
        try:
            req = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"ok": False, "error": f"bad request: not JSON ({exc})"}, False
        if not isinstance(req, dict):
            return {"ok": False, "error": "bad request: not a JSON object"}, False
        if req.get("v", 1) != 1:
            return {"ok": False, "error": f"bad request: unsupported version {req.get('v')!r}"}, False
        op = req.get("op")
        if op == "hello":
            return {"ok": True, "version": __version__, "features": FEATURES, "clientAddr": source,
                    "auth": not self.cfg.no_auth, "udpPorts": [self.port, *self.cfg.extra_udp],
                    "tcpPorts": [self.port, *self.cfg.iperf_ports, *self.cfg.extra_tcp]}, False
        if op == "echo":
            self.log("echo", client=source)
            return {"ok": True}, True
        if op == "connect-back":
            return self._connect_back(conn, source, req), False
        if not isinstance(op, str):
            return {"ok": False, "error": "bad request: missing op"}, False
        return {"ok": False, "error": "unknown op"}, False

    def _authorized(self, token: object) -> bool:
        if self.cfg.no_auth:
            return True
        return isinstance(token, str) and self.cfg.token is not None and \
            hmac.compare_digest(token.encode(), self.cfg.token.encode())

    def _connect_back(self, conn: socket.socket, source: str, req: dict[str, Any]) -> dict[str, Any]:
        from netcheck.net.dial import dial

        if not self._authorized(req.get("token")):
            self.log("unauthorized", level="warning", client=source, op="connect-back")
            return {"ok": False, "error": "unauthorized"}
        port, timeout, address = req.get("port"), req.get("timeout", 3), req.get("address")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            return {"ok": False, "error": "bad request: port must be an integer from 1 to 65535"}
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            return {"ok": False, "error": "bad request: timeout must be a number of seconds (0..60]"}
        if address is not None and _plain_ip(str(address)) != source:
            self.log("connect-back-refused", level="warning", client=source, address=str(address)[:64])
            return {"ok": False, "error": "connect-back only to the requesting address"}
        timeout = min(float(timeout), self.cfg.connect_back_max_timeout)
        res = dial(source, port, timeout)
        src = res.local[0] if res.local else _source_toward(source)
        target = f"[{source}]:{port}" if ":" in source else f"{source}:{port}"
        self.log("connect-back", client=source, port=port, outcome=res.outcome, reason=res.reason)
        return {"ok": True, "outcome": res.outcome, "reason": res.reason, "seconds": round(res.seconds, 4),
                "target": target, "source": src}

    def _echo(self, conn: socket.socket, source: str, early: bytes = b"") -> None:
        """Echo bytes back until the client closes, or the byte or time cap is reached."""
        buf = memoryview(bytearray(65536))
        conn.sendall(early)
        total = len(early)
        end = time.monotonic() + self.cfg.echo_max_seconds
        while not self._stop.is_set() and total < self.cfg.echo_max_bytes:
            left = end - time.monotonic()
            if left <= 0:
                break
            conn.settimeout(min(self.cfg.idle_timeout, left))
            n = conn.recv_into(buf, min(len(buf), self.cfg.echo_max_bytes - total))
            if n == 0:
                break
            conn.sendall(buf[:n])
            total += n
        self.log("echo-done", level="debug", client=source, bytes=total)

    # -- iperf3 -----------------------------------------------------------------------
    def _iperf_connection(self, conn: socket.socket, source: str, first: bytes) -> bool:
        """Handle an iperf3 control or data connection; True when a test took the socket."""
        cookie = first + self._recv_cookie(conn)
        if not _valid_cookie(cookie):
            self.log("bad-cookie", level="debug", client=source)
            return False
        with self._lock:
            test = self._test
            if test is not None and test.cookie == cookie and test.accepting and len(test.streams) < test.expected:
                with test.arrived:
                    test.streams.append(conn)
                    test.arrived.notify_all()
                return True  # the test owns it now
            busy = test is not None or self._stop.is_set()
            if not busy:
                test = self._test = _Test(cookie=cookie, client=source)
        if busy or test is None:
            with contextlib.suppress(OSError):
                iperf.send_state(conn, iperf.ACCESS_DENIED)
            self.log("iperf-busy", client=source)
            return False
        try:
            self._run_test(conn, source, test)
        finally:
            with self._lock:
                self._test = None
            for s in test.streams:
                iperf.close_quietly(s)
        return False

    def _recv_cookie(self, conn: socket.socket) -> bytes:
        try:
            return iperf.recv_exact(conn, iperf.COOKIE_SIZE - 1)
        except iperf.IperfError:
            return b""

    def _refuse(self, ctrl: socket.socket, source: str, ierrno: int, why: str) -> None:
        self.log("iperf-refused", level="warning", client=source, reason=why)
        with contextlib.suppress(OSError):
            ctrl.sendall(struct.pack("!bii", iperf.SERVER_ERROR, ierrno, 0))

    def _run_test(self, ctrl: socket.socket, source: str, test: _Test) -> None:
        cfg = self.cfg
        ctrl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctrl.settimeout(cfg.handshake_timeout)
        iperf.send_state(ctrl, iperf.PARAM_EXCHANGE)
        params = iperf.recv_json(ctrl, limit=8192)
        if not self._authorized(params.get("extra_data")):
            self._refuse(ctrl, source, iperf.IEAUTHTEST, "unauthorized: extra_data does not match the token")
            return
        problem = _check_params(params, cfg)
        if problem:
            self._refuse(ctrl, source, problem[0], problem[1])
            return
        streams = int(params.get("parallel", 1))
        reverse = "reverse" in params
        seconds = float(params.get("time") or 0) + float(params.get("omit") or 0)
        block = min(cfg.max_block, max(1024, int(params.get("len") or iperf.DEFAULT_BLKSIZE)))
        with test.arrived:
            test.expected, test.accepting = streams, True
        iperf.send_state(ctrl, iperf.CREATE_STREAMS)
        with test.arrived:
            test.arrived.wait_for(lambda: len(test.streams) >= streams or self._stop.is_set(),
                                  timeout=cfg.handshake_timeout * 2)
            test.accepting = False
        if len(test.streams) < streams:
            self.log("iperf-aborted", level="warning", client=source, reason="data streams did not arrive")
            return
        with self._lock:
            self.stats["tests"] += 1
        iperf.send_state(ctrl, iperf.TEST_START)
        iperf.send_state(ctrl, iperf.TEST_RUNNING)
        self.log("iperf-start", client=source, streams=streams, reverse=reverse, seconds=seconds)
        for s in test.streams:
            s.settimeout(None)  # blocking data plane; closing the socket ends a stuck stream
        clock = iperf.CpuClock()
        pump = iperf.AsyncioPump(test.streams, sending=reverse, block=block)
        t0 = time.monotonic()
        pump.start()
        try:
            state = self._wait_for_end(ctrl, t0 + seconds + 10)
            pump.stop_counting()
            elapsed = time.monotonic() - t0
            pump.stop()
            retrans = [iperf.tcp_counters(s)[0] for s in test.streams] if reverse else []
            for s in test.streams:
                iperf.close_quietly(s)
            pump.join(2.0)
            if state != iperf.TEST_END:
                why = {iperf.CLIENT_TERMINATE: "client terminated the test", -100: "server is stopping",
                       -101: "client disconnected mid-test", -102: "test ran past its duration"}.get(state, "protocol")
                if state == -100:
                    with contextlib.suppress(OSError):
                        iperf.send_state(ctrl, iperf.SERVER_TERMINATE)
                self.log("iperf-aborted", level="warning", client=source, reason=why, bytes=pump.total())
                return
            ctrl.settimeout(cfg.handshake_timeout * 2)
            iperf.send_state(ctrl, iperf.EXCHANGE_RESULTS)
            iperf.recv_json(ctrl)
            results = {**clock.util(), "sender_has_retransmits": 1 if reverse else -1,
                       "streams": [{"id": iperf.stream_id(i), "bytes": pump.counts[i],
                                    "retransmits": (retrans[i] if reverse and retrans[i] is not None else -1),
                                    "jitter": 0, "errors": 0, "packets": 0, "start_time": 0,
                                    "end_time": round(elapsed, 6)} for i in range(streams)]}
            iperf.send_json(ctrl, results)
            iperf.send_state(ctrl, iperf.DISPLAY_RESULTS)
            with contextlib.suppress(OSError, iperf.IperfError):
                iperf.recv_state(ctrl)  # IPERF_DONE
            mbps = pump.total() * 8 / max(elapsed, 1e-9) / 1e6
            self.log("iperf-done", client=source, streams=streams, reverse=reverse, seconds=round(elapsed, 3),
                     bytes=pump.total(), mbps=round(mbps, 1))
        finally:
            pump.stop(0.5)

    def _wait_for_end(self, ctrl: socket.socket, hard_end: float) -> int:
        """The next control byte from the client, or a negative code: stopping / gone / overdue."""
        while True:
            if self._stop.is_set():
                return -100
            left = hard_end - time.monotonic()
            if left <= 0:
                return -102
            ctrl.settimeout(min(0.5, left))
            try:
                data = ctrl.recv(1)
            except TimeoutError:
                continue
            except OSError:
                return -101
            if not data:
                return -101
            return int(struct.unpack("b", data)[0])

    # -- UDP --------------------------------------------------------------------------
    def _udp_loop(self) -> None:
        sel = selectors.DefaultSelector()
        for s in self._udp:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        buf = bytearray(65536)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.5):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    for _ in range(64):  # drain a burst, then look at the others
                        try:
                            n, peer = sock.recvfrom_into(buf)
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break
                        self._datagram(sock, memoryview(buf)[:n], peer)
        finally:
            sel.close()

    def _datagram(self, sock: socket.socket, data: memoryview, peer: Any) -> None:
        if len(data) < UDP_HEADER or data[:4] != UDP_MAGIC:
            return
        mode = data[4]
        if mode not in (0, 1):
            return
        if not self._datagrams.allow(_plain_ip(peer[0])):
            return
        self.stats["datagrams"] += 1
        reply = bytes(data) if mode == 0 else bytes(data[:UDP_HEADER]) + struct.pack("!H", min(len(data), 65535))
        with contextlib.suppress(OSError):
            sock.sendto(reply, peer)


def _valid_cookie(cookie: bytes) -> bool:
    return len(cookie) == iperf.COOKIE_SIZE and cookie[-1] == 0 and all(c in COOKIE_CHARS for c in cookie[:-1])


def _check_params(params: dict[str, Any], cfg: ServeConfig) -> tuple[int, str] | None:
    """(i_errno, reason) when the responder will not run this test, else None."""
    if "tcp" not in params or "udp" in params or "sctp" in params:
        return 1000, "only TCP tests are supported"
    if "bidirectional" in params:
        return 1000, "bidirectional tests are not supported; run two tests (with and without -R)"
    try:
        streams = int(params.get("parallel", 1))
        duration = float(params.get("time") or 0) + float(params.get("omit") or 0)
        block = int(params.get("len") or iperf.DEFAULT_BLKSIZE)
    except (TypeError, ValueError):
        return 1000, "malformed parameters"
    if not 1 <= streams <= cfg.max_streams:
        return 5, f"parallel must be 1..{cfg.max_streams}"
    if not 0 < duration <= cfg.max_test_seconds:
        return 4, f"time must be 1..{cfg.max_test_seconds:g} s (byte or block counts are not supported)"
    if block <= 0:
        return 6, "len must be positive"
    return None


def _source_toward(ip: str) -> str:
    """The local address the kernel would use toward ip (UDP connect sends nothing)."""
    try:
        with socket.socket(_family(ip), socket.SOCK_DGRAM) as s:
            s.connect((ip, 9))
            return _plain_ip(str(s.getsockname()[0]))
    except OSError:
        return ""


def serve(config: ServeConfig, log: Log | None = None) -> int:
    """Run until SIGTERM or SIGINT; the CLI's `netcheck serve`. Returns an exit code."""
    import signal

    responder = Responder(config, log)
    responder.start()
    shutdown = threading.Event()
    previous = {}

    def on_signal(signum: int, frame: object) -> None:
        responder.log("signal", signal=signal.Signals(signum).name)
        shutdown.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        while not shutdown.wait(0.5):
            pass
    finally:
        responder.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
