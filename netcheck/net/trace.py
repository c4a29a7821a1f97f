"""Failure localisation: a TCP/UDP/ICMP traceroute that names the last hop that answered.

All TTLs are probed at once, each on its own socket with IP_TTL set and IP_RECVERR on:
a hop's ICMP "time exceeded" lands in that socket's error queue with the hop's address,
so no privilege is needed (TCP connect, UDP datagram, or an ICMP datagram socket where
ping_group_range allows). As root, scapy is used for ICMP when datagram sockets are closed.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Literal

from netcheck.net.rtt import IP_RECVERR

Proto = Literal["tcp", "udp", "icmp"]
ICMP_TIME_EXCEEDED = 11
AT_TARGET = ("reached", "refused", "port-unreachable")  # kinds that mean the target itself answered
# Seconds a per-hop series waits after its last round once anything answered: a router that
# rate-limits ICMP leaves most probes unanswered for good, and waiting a whole second for them
# made the series the slowest part of a healthy run (1 s when nothing has answered yet).
STRAGGLER_FLOOR = 0.15


@dataclass(frozen=True)
class Hop:
    """One TTL: who answered (None = nobody) and how."""

    ttl: int
    addr: str | None
    rtt_ms: float | None
    kind: str  # time-exceeded | reached | refused | port-unreachable | unreachable (ICMP 3/n) | no-answer

    @property
    def code(self) -> int | None:
        """The ICMP destination-unreachable code of an 'unreachable (ICMP 3/n)' answer."""
        if not self.kind.startswith("unreachable (ICMP 3/"):
            return None
        return int(self.kind.rsplit("/", 1)[1].rstrip(")"))


@dataclass(frozen=True)
class TraceResult:
    target: str
    port: int | None
    proto: str
    method: str  # socket | scapy
    hops: tuple[Hop, ...]
    reached: bool
    probed: int = 0  # TTLs sent (1..probed); 0: as many as hops
    exact: bool = True  # False: the router that stopped the path answered only a higher TTL (ICMP rate limit)

    @property
    def refused_by(self) -> Hop | None:
        """The router that stopped the path with an ICMP destination unreachable, if one did."""
        last = self.last_answered
        return last if last is not None and last.code is not None and not self.reached else None

    @property
    def last_answered(self) -> Hop | None:
        """The farthest hop that answered anything."""
        answered = [h for h in self.hops if h.addr is not None]
        return answered[-1] if answered else None

    def summary(self) -> str:
        """One sentence, e.g. 'TCP 443 to 10.20.1.10 stops after hop 2 (192.168.50.1)'."""
        what = f"{self.proto.upper()} {self.port} to {self.target}" if self.port else f"ICMP to {self.target}"
        last = self.last_answered
        if self.reached and last is not None:
            how = {"reached": "echo reply" if self.proto == "icmp" else "connected", "refused": "port closed: RST",
                   "port-unreachable": "port closed: ICMP port unreachable"}.get(last.kind, last.kind)
            return f"{what} reaches the target at hop {last.ttl} ({how})"
        if last is None:
            return f"{what} gets no answer from any hop (nothing came back for TTL 1–{self.probed or len(self.hops)})"
        if last.code is not None:
            from netcheck.net.dial import ICMP_REASONS

            name = ICMP_REASONS.get((3, last.code), ("", "unreachable"))[1].removeprefix("icmp-")
            said = f"ICMP {name} (type 3 code {last.code})"
            if not self.exact:
                return (f"{what} stops at {last.addr}, which answered TTL {last.ttl} with {said}: it is at most "
                        f"{last.ttl} hops away (the lower TTLs got no answer, as when routers rate-limit ICMP errors)")
            return f"{what} stops at hop {last.ttl} ({last.addr}), which answers {said}"
        tail = f" ({last.kind})" if last.kind not in ("time-exceeded",) else ""
        return f"{what} stops after hop {last.ttl} ({last.addr}){tail}"

    def to_evidence(self) -> dict[str, object]:
        last = self.last_answered
        return {"target": self.target, "port": self.port, "proto": self.proto, "method": self.method,
                "reached": self.reached, "lastHop": None if last is None else {"ttl": last.ttl, "addr": last.addr},
                "hopExact": self.exact,
                "hops": [{"ttl": h.ttl, "addr": h.addr, "kind": h.kind,
                          "rttMs": None if h.rtt_ms is None else round(h.rtt_ms, 3)} for h in self.hops],
                "summary": self.summary()}


def _open(ip: str, port: int, proto: Proto, ttl: int) -> socket.socket:
    if proto == "tcp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif proto == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    if proto == "tcp":
        err = sock.connect_ex((ip, port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(err, os.strerror(err))
    else:
        sock.connect((ip, port if proto == "udp" else 0))
        payload = b"\x08\x00\x00\x00\x00\x00" + struct.pack("!H", ttl) if proto == "icmp" else b"netcheck-trace"
        sock.send(payload)
    return sock


def _classify(sock: socket.socket, proto: Proto, target: str) -> tuple[str | None, str] | None:
    """(hop address, kind) once a socket has an event, or None if nothing decisive yet."""
    from netcheck.net.dial import read_errqueue

    icmp = read_errqueue(sock)
    if icmp is not None:
        if icmp.type == ICMP_TIME_EXCEEDED:
            return icmp.offender, "time-exceeded"
        if icmp.type == 3 and icmp.code == 3 and icmp.offender == target:
            return target, "port-unreachable"  # the target itself answered: port closed
        return icmp.offender, f"unreachable (ICMP 3/{icmp.code})"
    if proto == "tcp":
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            return target, "reached"
        if err == errno.ECONNREFUSED:
            return target, "refused"  # a RST from the target: it answered, port closed
        return None, errno.errorcode.get(err, str(err)).lower()
    try:
        sock.recv(2048)
        return target, "reached"
    except BlockingIOError:
        return None
    except OSError:
        return None


def trace_socket(ip: str, port: int, proto: Proto, max_hops: int, timeout: float) -> TraceResult:
    """Probe TTL 1..max_hops in parallel with plain sockets; wait up to `timeout` for answers."""
    start = time.monotonic()
    socks: dict[int, socket.socket] = {}
    answers: dict[int, tuple[str | None, str, float]] = {}
    poller = select.poll()
    try:
        for ttl in range(1, max_hops + 1):
            s = _open(ip, port, proto, ttl)
            socks[ttl] = s
            poller.register(s, select.POLLIN | select.POLLERR | (select.POLLOUT if proto == "tcp" else 0))
        by_fd = {s.fileno(): t for t, s in socks.items()}
        end = start + timeout
        while len(answers) < len(socks):
            now = time.monotonic()
            # Done once some TTL reached the target and every lower TTL has answered or had its chance.
            reached = [t for t, a in answers.items() if a[1] in AT_TARGET]
            if (reached and all(t in answers for t in range(1, min(reached)))) or now >= end:
                break
            wake = end
            if answers:  # silence well past the slowest answer: the rest will not come
                last = max(a[2] for a in answers.values()) / 1000.0
                wake = min(end, start + last + max(1.0, 4 * last))
                if now >= wake:
                    break
            for fd, _ in poller.poll(max(1, int((wake - now) * 1000))):
                ttl = by_fd[fd]
                got = _classify(socks[ttl], proto, ip)
                if got is not None:
                    answers[ttl] = (got[0], got[1], (time.monotonic() - start) * 1000.0)
                poller.unregister(fd)
    finally:
        for s in socks.values():
            s.close()
    return _result(ip, port, proto, "socket", answers, max_hops)


def _result(ip: str, port: int | None, proto: str, method: str,
            answers: dict[int, tuple[str | None, str, float]], max_hops: int) -> TraceResult:
    """Hops in TTL order, ending where the target answered or where a router refused to forward.

    A router that answers ICMP destination unreachable ends the path: every higher TTL only
    gets its refusal again (or nothing, once its ICMP rate limit bites). It sits at the lowest
    TTL it answered at all; when that is a refusal with silent TTLs below it, the hop number
    is only an upper bound (`exact` False), which the summary says instead of naming a hop.
    """
    exact, probed = True, max_hops
    refusals = sorted(t for t, a in answers.items() if a[1].startswith("unreachable") and a[1] not in AT_TARGET)
    if refusals:
        router = answers[refusals[0]][0]
        at = min(t for t, a in answers.items() if a[0] == router)
        first = answers[refusals[0]]
        answers = {t: a for t, a in answers.items() if t < at}
        answers[at] = (router, first[1], first[2])
        exact = all(t in answers for t in range(1, at))
        max_hops = at
    hops: list[Hop] = []
    reached = False
    for ttl in range(1, max_hops + 1):
        a = answers.get(ttl)
        if a is None:
            hops.append(Hop(ttl, None, None, "no-answer"))
            continue
        hops.append(Hop(ttl, a[0], a[2], a[1]))
        if a[1] in AT_TARGET:
            reached = True
            break
    while hops and hops[-1].addr is None and len(hops) > 1 and hops[-2].addr is None:
        hops.pop()  # trailing silence beyond one empty hop says nothing more
    return TraceResult(ip, port if proto != "icmp" else None, proto, method, tuple(hops), reached,
                       probed=probed, exact=exact)


def trace_scapy(ip: str, port: int, proto: Proto, max_hops: int, timeout: float) -> TraceResult:
    """The same with raw packets (needs CAP_NET_RAW); SYN probes leave no half-open connections."""
    from scapy.all import conf, sr
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    conf.verb = 0
    l4 = TCP(dport=port, flags="S") if proto == "tcp" else UDP(dport=port) if proto == "udp" else ICMP()
    ans, _ = sr(IP(dst=ip, ttl=(1, max_hops)) / l4, timeout=timeout, verbose=0)
    answers: dict[int, tuple[str | None, str, float]] = {}
    for sent, got in ans:
        if got.haslayer(ICMP) and int(got[ICMP].type) == ICMP_TIME_EXCEEDED:
            kind = "time-exceeded"
        elif got.src == ip:
            kind = "refused" if got.haslayer(TCP) and int(got[TCP].flags) & 0x04 else "reached"
        else:
            kind = f"unreachable (ICMP 3/{int(got[ICMP].code)})" if got.haslayer(ICMP) else "answered"
        answers[int(sent.ttl)] = (str(got.src), kind, (float(got.time) - float(sent.sent_time or 0)) * 1000.0)
    return _result(ip, port, proto, "scapy", answers, max_hops)


def trace(ip: str, port: int, proto: Proto, max_hops: int = 16, timeout: float = 3.0) -> TraceResult:
    """Traceroute toward ip:port; sockets first, scapy as root when ICMP sockets are closed."""
    if proto not in ("tcp", "udp", "icmp"):
        raise ValueError(f"proto must be tcp, udp or icmp, not {proto!r}")
    if not 1 <= max_hops <= 64:
        raise ValueError(f"max_hops must be between 1 and 64, not {max_hops}")
    try:
        return trace_socket(ip, port, proto, max_hops, timeout)
    except PermissionError:
        if os.geteuid() != 0:
            raise
        return trace_scapy(ip, port, proto, max_hops, timeout)


# --- per-hop series (mtr-style) ---------------------------------------------------------

HOP_MAGIC = b"NCHP"


@dataclass(frozen=True)
class HopSeries:
    """Per-hop RTT samples from repeated TTL-limited probes: hop → one entry per round (None = lost)."""

    target: str
    proto: str  # icmp | udp | tcp
    rounds: int
    interval: float
    hops: tuple[tuple[int, str | None, tuple[float | None, ...]], ...]  # (ttl, address, rtts per round)
    reached: bool
    seconds: float = 0.0
    notes: tuple[str, ...] = ()


def _hop_socket(ip: str, proto: Proto, port: int, ttl: int) -> socket.socket:
    if proto == "icmp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = DONT: small probes, no PMTU coupling
        sock.connect((ip, port if proto == "udp" else 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _hop_payload(proto: Proto, seq: int) -> bytes:
    if proto == "icmp":
        return struct.pack("!BBHHH", 8, 0, 0, 0, seq & 0xFFFF) + HOP_MAGIC
    return HOP_MAGIC + struct.pack("!I", seq)


def _quoted_seq(proto: Proto, quoted: bytes) -> int | None:
    """The probe sequence an ICMP error quotes (ICMP: echo header; UDP: our payload), if quoted."""
    if proto == "icmp" and len(quoted) >= 8 and quoted[0] == 8:
        return int(struct.unpack_from("!H", quoted, 6)[0])
    if proto == "udp" and len(quoted) >= 8 and quoted[:4] == HOP_MAGIC:
        return int(struct.unpack_from("!I", quoted, 4)[0]) & 0xFFFF
    return None


def hop_series(ip: str, proto: Proto, port: int = 33434, max_hops: int = 16, rounds: int = 20,
               interval: float = 0.05, timeout: float = 5.0) -> HopSeries:
    """`rounds` probes at every TTL 1..(hops to ip), `interval` s apart: per-hop RTT and loss, like mtr.

    ICMP echo (datagram socket) or UDP datagrams, one socket per TTL so each hop's ICMP
    'time exceeded' lands in its own error queue and names the hop; no privilege needed.
    TTLs beyond the one where the target answered stop being probed. Bounded by `timeout`;
    a hop's last-answering address wins when a path flaps between routers.
    Raises PermissionError when ICMP datagram sockets are not allowed (use UDP then).
    """
    from netcheck.net.dial import read_errqueue

    if proto not in ("icmp", "udp"):
        raise ValueError(f"per-hop series need icmp or udp, not {proto!r}")
    start = time.monotonic()
    end = start + timeout
    socks: dict[int, socket.socket] = {}
    sent: dict[tuple[int, int], int] = {}  # (ttl, seq) → send time ns
    rtts: dict[tuple[int, int], float] = {}
    addrs: dict[int, str] = {}
    top = max_hops  # lowest TTL at which the target answered so far
    poller = select.poll()
    try:
        for ttl in range(1, max_hops + 1):
            socks[ttl] = _hop_socket(ip, proto, port, ttl)
            poller.register(socks[ttl], select.POLLIN | select.POLLERR)
        by_fd = {s.fileno(): t for t, s in socks.items()}
        wait = 1.0
        seq = 0
        next_send = start
        last_send = start

        def answer(ttl: int, q: int | None, addr: str | None, now_ns: int) -> None:
            if q is None:  # nothing quoted: the oldest unanswered probe of this TTL
                pending = sorted(k[1] for k in sent if k[0] == ttl and k not in rtts)
                q = pending[0] if pending else None
            if q is not None and (ttl, q) in sent and (ttl, q) not in rtts:
                rtts[(ttl, q)] = (now_ns - sent[(ttl, q)]) / 1e6
                if addr:
                    addrs[ttl] = addr

        while True:
            now = time.monotonic()
            if now >= end:
                break
            if seq < rounds and now >= next_send:
                seq += 1
                for ttl in range(1, top + 1):
                    try:
                        t0 = time.time_ns()
                        socks[ttl].send(_hop_payload(proto, seq))
                        sent[(ttl, seq)] = t0
                    except OSError:  # a pending error surfaced: it is read from the queue below
                        continue
                last_send = now
                next_send += interval
                continue
            done = seq >= rounds and all(k in rtts for k in sent if k[0] <= top)
            if done or (seq >= rounds and now >= last_send + wait):
                break
            until = next_send if seq < rounds else last_send + wait
            for fd, ev in poller.poll(max(1, int((min(until, end) - now) * 1000))):
                ttl = by_fd[fd]
                now_ns = time.time_ns()
                if ev & select.POLLERR:
                    for _ in range(16):
                        e = read_errqueue(socks[ttl])
                        if e is None:
                            break
                        q = _quoted_seq(proto, e.quoted)
                        at_target = e.offender == ip
                        if e.type == ICMP_TIME_EXCEEDED or at_target:
                            answer(ttl, q, e.offender, now_ns)
                            if at_target and ttl < top:
                                top = ttl
                if ev & select.POLLIN:
                    for _ in range(16):
                        try:
                            data = socks[ttl].recv(2048)
                        except BlockingIOError:
                            break
                        except OSError:
                            continue
                        q = int(struct.unpack_from("!H", data, 6)[0]) if proto == "icmp" and len(data) >= 8 else None
                        answer(ttl, q, ip, now_ns)
                        if ttl < top:
                            top = ttl
                if rtts:  # stragglers: twice the slowest answer so far (at least STRAGGLER_FLOOR)
                    wait = max(STRAGGLER_FLOOR, 2 * max(rtts.values()) / 1000.0)
    finally:
        for s in socks.values():
            s.close()
    hops: list[tuple[int, str | None, tuple[float | None, ...]]] = []
    reached = top < max_hops or any(a == ip for a in addrs.values())
    last = top if reached else max(addrs, default=0)
    for ttl in range(1, max(1, last) + 1):
        series = tuple(rtts.get((ttl, k)) for k in range(1, seq + 1) if (ttl, k) in sent)
        hops.append((ttl, addrs.get(ttl), series))
    notes = (f"ran out of time after {seq} of {rounds} rounds",) if seq < rounds else ()
    return HopSeries(ip, proto, seq, interval, tuple(hops), reached, time.monotonic() - start, notes)
