"""A small authoritative DNS server on loopback, for `netcheck demo` and tests.

It answers A/AAAA queries from a fixed mapping over UDP and TCP on one port, and can be
told to misbehave per name (nxdomain, servfail, refused, drop, noanswer) so the dns
probe's error paths can be exercised against real sockets. Two more faults act out a lossy
path and a big answer: lose1/lose2/lose3 stay silent to the first 1/2/3 UDP queries for the
name and answer the rest; truncate answers UDP with TC set and no records, TCP in full.
dnspython does the wire format.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import threading
from collections.abc import Mapping
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Fault = Literal["nxdomain", "servfail", "refused", "drop", "noanswer", "lose1", "lose2", "lose3", "truncate"]
FAULTS: tuple[str, ...] = ("nxdomain", "servfail", "refused", "drop", "noanswer", "lose1", "lose2", "lose3",
                           "truncate")
TTL = 60
TCP_IDLE_S = 5.0


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


class DnsServer:
    """Authoritative for exactly the names it is given; everything else is NXDOMAIN.

    A key may be a wildcard ("*.example.internal") matching any name below it.
    """

    def __init__(self, records: Mapping[str, list[str]], faults: Mapping[str, str] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        bad = {n: f for n, f in (faults or {}).items() if f not in FAULTS}
        if bad:
            raise ValueError(f"unknown DNS fault(s) {bad}; use one of {', '.join(FAULTS)}")
        self.records = {_norm(n): list(a) for n, a in records.items()}
        self.faults = {_norm(n): f for n, f in (faults or {}).items()}
        self.host = host
        self.port = port
        self.queries: list[tuple[str, str, str]] = []  # (name, type, "udp"|"tcp"), for tests
        self._lost: dict[str, int] = {}  # name → UDP queries left unanswered so far (lose1..3)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> DnsServer:
        """Bind UDP and TCP on the same port (a random free one when port is 0) and serve."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50 if self.port == 0 else 1):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                udp.bind((self.host, self.port))
                port = udp.getsockname()[1]
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.host, port))
                tcp.listen(16)
            except OSError as exc:
                udp.close()
                tcp.close()
                if exc.errno == errno.EADDRINUSE and self.port == 0:
                    continue
                raise
            self._udp, self._tcp, self.port = udp, tcp, port
            break
        else:
            raise OSError(errno.EADDRINUSE, f"no free port for UDP and TCP together on {self.host}")
        self._thread = threading.Thread(target=self._serve, name=f"dns-standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every socket; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for s in (self._udp, self._tcp, *conns):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()

    # -- answering ------------------------------------------------------------------------
    def _lookup(self, name: str) -> tuple[str | None, list[str] | None]:
        """(fault, addresses) for a name, trying wildcard keys for each parent."""
        labels = name.split(".")
        for key in [name] + ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]:
            if key in self.faults or key in self.records:
                return self.faults.get(key), self.records.get(key)
        return None, None

    def answer(self, wire: bytes, proto: str) -> bytes | None:
        """The reply for one query, or None to stay silent (malformed query or `drop`)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = _norm(question.name.to_text())
        with self._lock:
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype), proto))
        fault, addrs = self._lookup(name)
        if fault is not None and fault.startswith("lose"):
            with self._lock:
                lost = self._lost.get(name, 0)
                if proto == "udp" and lost < int(fault[4:]):
                    self._lost[name] = lost + 1
                    return None
            fault = None
        if fault == "drop":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if fault == "truncate" and proto == "udp":
            response.flags |= dns.flags.TC
            return response.to_wire()
        if fault in ("nxdomain", "servfail", "refused"):
            response.set_rcode({"nxdomain": dns.rcode.NXDOMAIN, "servfail": dns.rcode.SERVFAIL,
                                "refused": dns.rcode.REFUSED}[fault])
        elif fault == "noanswer":
            pass
        elif addrs is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            want = {dns.rdatatype.A: [a for a in addrs if ":" not in a],
                    dns.rdatatype.AAAA: [a for a in addrs if ":" in a]}.get(question.rdtype, [])
            if want:
                response.answer.append(dns.rrset.from_text_list(
                    question.name, TTL, "IN", dns.rdatatype.to_text(question.rdtype), want))
        return response.to_wire(max_size=65535 if proto == "tcp" else 512)

    # -- I/O --------------------------------------------------------------------------------
    def _serve(self) -> None:
        assert self._udp is not None and self._tcp is not None
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "tcp")
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    if key.data == "udp":
                        self._on_udp()
                    else:
                        self._on_accept()
        finally:
            sel.close()

    def _on_udp(self) -> None:
        assert self._udp is not None
        try:
            wire, peer = self._udp.recvfrom(65535)
        except OSError:
            return
        reply = self.answer(wire, "udp")
        if reply is not None:
            with contextlib.suppress(OSError):
                self._udp.sendto(reply, peer)

    def _on_accept(self) -> None:
        assert self._tcp is not None
        try:
            conn, _ = self._tcp.accept()
        except OSError:
            return
        with self._lock:
            self._conns.add(conn)
        threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True, name="dns-standin-tcp").start()

    def _tcp_conn(self, conn: socket.socket) -> None:
        """Serve length-prefixed queries on one connection until it closes or idles."""
        conn.settimeout(TCP_IDLE_S)
        try:
            while not self._stop.is_set():
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                wire = _recv_exact(conn, struct.unpack("!H", head)[0])
                if wire is None:
                    return
                reply = self.answer(wire, "tcp")
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def start(stack: contextlib.ExitStack, records: dict[str, list[str]], faults: dict[str, str] | None = None,
          host: str = "127.0.0.1", port: int = 0) -> DnsServer:
    """Start a DnsServer on host:port (random when 0); it stops when `stack` closes."""
    server = DnsServer(records, faults, host, port).start()
    stack.callback(server.stop)
    return server
