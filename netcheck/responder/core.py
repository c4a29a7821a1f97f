"""The responder's lifecycle, connection table, accept loop and dispatch (`netcheck serve`).

One TCP port speaks two protocols, told apart by the first byte (TCP_HANDLERS): `{`
starts a JSON control line (control.py: hello, echo, connect-back), anything else is an
iperf3 cookie (iperf.py: a stock `iperf3 -c` works). The same port number on UDP echoes
`NCE1` datagrams (udp.py). What the handlers share (configuration, a connection, the log)
is in conn.py, the token check in auth.py, budgets and test slots in limits.py. Wire
protocol: docs/responder-protocol.md.

Safety: bulk data (iperf3) and connect-back need the shared token, checked before a
bandwidth slot is taken; connect-back only dials the address the request came from;
unauthenticated echo has a per-source byte budget; every connection, request, datagram,
test length and buffer is capped, and every phase has an overall deadline, so memory,
descriptors and threads stay bounded whatever clients do. When the connection table is
full, the oldest connection that has not finished a request (from the source holding the
most of them) makes room, so a slowloris cannot lock legitimate clients out.
Threads, one per connection, with blocking sockets: the same framing and data plane as the
client (netcheck/net/iperfwire.py, iperfpump.py).

The connection table, its eviction order and the thread budget are one piece of bookkeeping
under one lock, so they stay together here.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from netcheck import __version__
from netcheck.net import iperfwire as wire
from netcheck.responder import control, iperf, limits, udp
from netcheck.responder.conn import Conn, Log, ServeConfig, family, json_logger, listening_selector, plain_ip

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
EVICTABLE = frozenset({"new", "idle", "echo"})  # phases a full table may close to make room
RETRY_WAIT_S = 0.5  # after a failed thread start and an eviction, how long to wait to start it again


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
        self._conns: set[Conn] = set()
        self._per_source: dict[str, int] = {}
        self._evicting = 0
        self._lock = threading.Lock()
        self.capacity = (limits.Capacity(config.max_tests, 0, None, "--max-tests") if config.max_tests > 0
                         else limits.auto_capacity())
        self.tests = limits.SlotTable(self.capacity.max_tests)
        self.max_clients = config.max_clients
        self._requests = limits.RateLimiter(config.requests_per_second, config.requests_per_second * 2,
                                            config.tracked_sources)
        self._datagrams = limits.RateLimiter(config.datagrams_per_second, config.datagrams_per_second * 2,
                                             config.tracked_sources)
        self.echo_budget = limits.RateLimiter(config.echo_bytes_per_second, config.echo_burst_bytes,
                                              config.tracked_sources)
        self._pause_until = 0.0  # accept back-off after EMFILE or a failed thread start
        self._backoff = 0.0
        self._last_resource_log = 0.0
        self._resource_errors = 0
        self.port = config.port
        self.stats = {"connections": 0, "rejected": 0, "evicted": 0, "tests": 0, "busy": 0, "datagrams": 0,
                      "thread_failures": 0, "accept_errors": 0}

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Bind every socket (raising OSError with the port named) and start serving."""
        soft, _hard = limits.raise_nofile()
        fit = limits.clients_for_nofile(soft, self.capacity.max_tests)
        if fit < self.cfg.max_clients:
            self.max_clients = fit
            self.log("limit-lowered", level="warning", setting="max_clients", requested=self.cfg.max_clients,
                     used=fit, reason=f"RLIMIT_NOFILE is {soft}")
        threads, why = limits.thread_budget()
        if threads is not None:  # one thread per connection: the same budget counts both
            fit = max(4, threads - limits.THREADS_RESERVED - self.capacity.max_tests * limits.THREADS_PER_TEST)
            if fit < self.max_clients:
                self.log("limit-lowered", level="warning", setting="max_clients", requested=self.max_clients,
                         used=fit, reason=why)
                self.max_clients = fit
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
                 auth=not self.cfg.no_auth, version=__version__, max_clients=self.max_clients,
                 max_tests=self.capacity.max_tests, capacity=self.capacity.reason)

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
        s = socket.socket(family(host), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1024)
        except OSError as exc:
            s.close()
            raise OSError(exc.errno, f"cannot listen on TCP {host}:{port}: {exc.strerror}") from None
        return s

    @staticmethod
    def _udp_socket(host: str, port: int) -> socket.socket:
        s = socket.socket(family(host), socket.SOCK_DGRAM)
        try:
            s.bind((host, port))
        except OSError as exc:
            s.close()
            raise OSError(exc.errno, f"cannot bind UDP {host}:{port}: {exc.strerror}") from None
        return s

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, tell running iperf3 clients, close every connection, join threads."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._close_listeners()
        end = time.monotonic() + min(2.0, timeout)
        while self.tests.active() and time.monotonic() < end:
            time.sleep(0.05)  # let running iperf3 tests send SERVER_TERMINATE to their clients
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.sock.shutdown(socket.SHUT_RDWR)
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

    def connection_count(self) -> int:
        with self._lock:
            return len(self._conns)

    # -- TCP accept -------------------------------------------------------------------
    def _accept_loop(self) -> None:
        sel = listening_selector(self._tcp)
        if sel is None:  # stopped before this thread began
            return
        try:
            while not self._stop.is_set():
                pause = self._pause_until - time.monotonic()
                if pause > 0:  # back off: the kernel keeps new connections in the backlog meanwhile
                    self._stop.wait(pause)
                    continue
                for key, _ in sel.select(0.5):
                    lsock = key.fileobj
                    assert isinstance(lsock, socket.socket)
                    try:
                        conn, peer = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:
                        if self._stop.is_set():
                            return
                        self._accept_failed(exc)
                        break
                    self._admit(conn, plain_ip(peer[0]))
                    if self._pause_until > time.monotonic():
                        break
        finally:
            sel.close()

    def _back_off(self, first: float, cap: float) -> float:
        self._backoff = min(cap, self._backoff * 2 if self._backoff else first)
        self._pause_until = time.monotonic() + self._backoff
        return self._backoff

    def _log_resource(self, event: str, **fields: Any) -> None:
        """Log resource exhaustion at most every 5 s, with how often it happened meanwhile."""
        self._resource_errors += 1
        now = time.monotonic()
        if now - self._last_resource_log >= 5.0:
            self.log(event, level="error", occurrences=self._resource_errors, **fields)
            self._last_resource_log, self._resource_errors = now, 0

    def _accept_failed(self, exc: OSError) -> None:
        self.stats["accept_errors"] += 1
        if exc.errno in RESOURCE_ERRNOS:
            wait = self._back_off(0.05, 1.0)
            self._log_resource("accept-failed", error=exc.strerror or str(exc), backoff=wait,
                               connections=self.connection_count(),
                               hint="raise LimitNOFILE / ulimit -n, or lower --max-clients")
            self._evict_one()  # free a descriptor held by a connection that has not sent a request
        # ECONNABORTED and friends: the peer gave up before accept; nothing to do

    def _victim(self) -> Conn | None:
        """The connection a full table closes: lowest tier first (see Conn.tier: idle unauthenticated
        connections before any session exchanging data, authenticated sessions last; bandwidth tests
        and requests in flight never), then from the source holding the most, then the oldest."""
        waiting = [c for c in self._conns if c.phase in EVICTABLE and not c.evicted]
        if not waiting:
            return None
        by_source: dict[str, int] = {}
        for c in waiting:
            by_source[c.source] = by_source.get(c.source, 0) + 1
        now = time.monotonic()
        return min(waiting, key=lambda c: (c.tier(now), -by_source[c.source], c.since))

    def _evict_one(self) -> bool:
        with self._lock:
            victim = self._victim()
            if victim is None:
                return False
            victim.evicted = True
            self._evicting += 1
            self.stats["evicted"] += 1
        with contextlib.suppress(OSError):
            victim.sock.shutdown(socket.SHUT_RDWR)  # its thread wakes up and releases it
        self.log("connection-evicted", level="debug", client=victim.source, phase=victim.phase)
        return True

    def _admit(self, sock: socket.socket, source: str) -> None:
        reason = ""
        with self._lock:
            if self._per_source.get(source, 0) >= self.cfg.max_per_source:
                reason = "per-source connection limit"
            elif len(self._conns) - self._evicting >= self.max_clients:
                victim = self._victim()
                if victim is None:
                    reason = "connection limit"
                else:
                    victim.evicted = True
                    self._evicting += 1
                    self.stats["evicted"] += 1
                    with contextlib.suppress(OSError):
                        victim.sock.shutdown(socket.SHUT_RDWR)
            if reason:
                self.stats["rejected"] += 1
            else:
                conn = Conn(sock, source)
                self._conns.add(conn)
                self._per_source[source] = self._per_source.get(source, 0) + 1
                self.stats["connections"] += 1
        if reason:
            wire.close_quietly(sock)
            self.log("connection-rejected", level="warning", client=source, reason=reason)
            return
        sock.setblocking(True)
        try:
            self._start_thread(conn)
        except RuntimeError as exc:  # can't start new thread: pids/threads limit or memory
            self.stats["thread_failures"] += 1
            served = self._thread_budget_reached(conn)
            wait = 0.0
            if not served:
                self.release(conn)
                wait = self._back_off(0.05, 2.0)
            self._log_resource("thread-start-failed", error=str(exc), backoff=wait, served=served,
                               connections=self.connection_count(), max_clients=self.max_clients,
                               hint="raise TasksMax / pids.max, or lower --max-clients")
            return
        self._backoff = 0.0

    def _start_thread(self, conn: Conn) -> None:
        threading.Thread(target=self._handle, args=(conn,), daemon=True, name="responder-conn").start()

    def _thread_budget_reached(self, conn: Conn) -> bool:
        """Threads ran out before --max-clients: the connections alive now are the real budget.

        The table is lowered to what fits, one waiting connection is closed as a full table
        would close it, and the new one's thread is started again once that one has gone: True
        when it then runs (a legitimate client is served, not timed out)."""
        with self._lock:
            live = len(self._conns) - 1 - self._evicting  # the others, not this one
            lowered = max(4, live)
            if lowered < self.max_clients:
                self.log("limit-lowered", level="warning", setting="max_clients", requested=self.max_clients,
                         used=lowered, reason="no more threads could be started (RLIMIT_AS, pids.max, TasksMax)")
                self.max_clients = lowered
        before = self.connection_count()
        if not self._evict_one():
            return False
        end = time.monotonic() + RETRY_WAIT_S
        while self.connection_count() >= before and time.monotonic() < end:
            time.sleep(0.005)  # the evicted connection's thread ends and releases its stack
        try:
            self._start_thread(conn)
        except RuntimeError:
            return False
        return True

    def uncount(self, conn: Conn) -> None:
        """The connection joined an authenticated test: it no longer counts per source."""
        with self._lock:
            if conn.counted:
                conn.counted = False
                self._drop_source(conn.source)

    def _drop_source(self, source: str) -> None:
        n = self._per_source.get(source, 1) - 1
        if n <= 0:
            self._per_source.pop(source, None)
        else:
            self._per_source[source] = n

    def release(self, conn: Conn, close: bool = True) -> None:
        with self._lock:
            if conn in self._conns:
                self._conns.discard(conn)
                if conn.evicted:
                    self._evicting -= 1
                if conn.counted:
                    conn.counted = False
                    self._drop_source(conn.source)
        if close:
            wire.close_quietly(conn.sock)

    def _handle(self, conn: Conn) -> None:
        keep = False
        deadline = conn.since + self.cfg.handshake_timeout
        try:
            conn.sock.settimeout(self.cfg.handshake_timeout)
            first = conn.sock.recv(1)
            if not first:
                return
            keep = TCP_HANDLERS.get(first, DEFAULT_TCP_HANDLER)(self, conn, first, deadline)
        except (OSError, wire.IperfError, ValueError) as exc:
            self.log("connection-error", level="debug", client=conn.source, error=str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug must not take the responder down
            self.log("internal-error", level="error", client=conn.source, error=f"{type(exc).__name__}: {exc}")
        finally:
            self.release(conn, close=not keep)

    def count(self, stat: str) -> None:
        with self._lock:
            self.stats[stat] += 1

    def allow_request(self, source: str) -> bool:
        return self._requests.allow(source)

    def allow_datagram(self, source: str) -> bool:
        return self._datagrams.allow(source)

    # -- UDP --------------------------------------------------------------------------
    def _udp_loop(self) -> None:
        udp.loop(self, self._udp)


def _control(r: Responder, conn: Conn, first: bytes, deadline: float) -> bool:
    control.session(r, conn, first, deadline)
    return False  # the connection ends with its session


# The first byte a client sends picks the protocol: `{` a JSON control line, any other byte
# begins an iperf3 cookie. A handler returns True when it kept the socket (an iperf3 data
# stream, now owned by its test); otherwise the connection is closed when it returns.
Handler = Callable[[Responder, Conn, bytes, float], bool]
TCP_HANDLERS: dict[bytes, Handler] = {b"{": _control}
DEFAULT_TCP_HANDLER: Handler = iperf.connection


def serve(config: ServeConfig, log: Log | None = None) -> int:
    """Run until SIGTERM or SIGINT; the CLI's `netcheck serve`. Returns an exit code."""
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
