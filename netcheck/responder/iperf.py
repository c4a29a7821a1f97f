"""iperf3 tests on the responder: several at once, one per source, each told how crowded it was.

Order on a control connection: cookie, PARAM_EXCHANGE, parameters (all within the
handshake timeout in total), token check, parameter check, and only then a test slot.
Slots (limits.SlotTable): `Responder.capacity.max_tests` tests at once, one per source address. A client
beyond that gets ACCESS_DENIED (stock clients print "the server is busy") followed by a
retry-after trailer that netcheck clients read (netcheck/protocol.py): magic + u16 seconds + u16 running
tests + u16 slots (big-endian). Each test's results JSON carries
`"netcheck": {"concurrent_tests": N, "test_slots": L}`: the most tests that ran at once
while it ran, so a slow result can be told from a saturated responder.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netcheck import protocol as proto
from netcheck.net import iperfwire as wire
from netcheck.net import tcpinfo
from netcheck.net.iperfpump import LoopPump
from netcheck.responder.auth import authorized
from netcheck.responder.conn import Conn, ServeConfig
from netcheck.responder.limits import BwTest, Denial

if TYPE_CHECKING:
    from netcheck.responder.core import Responder

MAX_PARAMS = 8192  # iperf3 3.18+ MAX_PARAMS_JSON_STRING
IEACCESSDENIED = 11


def connection(r: Responder, c: Conn, first: bytes, deadline: float) -> bool:
    """Handle an iperf3 control or data connection; True when a test took the socket."""
    sock = c.sock
    try:
        cookie = first + wire.recv_exact_until(sock, proto.COOKIE_SIZE - 1, deadline)
    except (TimeoutError, wire.IperfError):
        r.log("bad-cookie", level="debug", client=c.source, reason="incomplete")
        return False
    if not wire.valid_cookie(cookie):
        r.log("bad-cookie", level="debug", client=c.source)
        return False
    joined = r.tests.attach(cookie, c.source, sock, c.since)
    if joined is not None:
        if joined:
            r.uncount(c)
            c.set_phase("test")
            return True  # the test owns it now
        with contextlib.suppress(OSError):
            wire.send_state(sock, proto.ACCESS_DENIED)
        return False
    if r.stopping:
        with contextlib.suppress(OSError):
            wire.send_state(sock, proto.ACCESS_DENIED)
        return False
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # phase stays "new" (evictable) until the token
    wire.send_state(sock, proto.PARAM_EXCHANGE)
    try:
        params = recv_params(sock, deadline)
    except TimeoutError:
        refuse(r, sock, c.source, 1000, "parameters not received in time")
        return False
    if isinstance(params, str):
        refuse(r, sock, c.source, 1000, params)
        return False
    if not authorized(r.cfg, params.get("extra_data")):
        refuse(r, sock, c.source, proto.IEAUTHTEST, "unauthorized: extra_data does not match the token")
        return False
    checked = check_params(params, r.cfg)
    if isinstance(checked, tuple):
        refuse(r, sock, c.source, checked[0], checked[1])
        return False
    got = r.tests.acquire(cookie, c.source, checked.seconds)
    if isinstance(got, Denial):
        r.count("busy")
        r.log("iperf-busy", client=c.source, reason=got.reason, retry_after=got.retry_after,
              running=got.running, slots=got.slots)
        with contextlib.suppress(OSError):
            sock.sendall(wire.busy_frame(got.retry_after, got.running, got.slots))
        return False
    r.uncount(c)
    c.set_phase("test")
    try:
        run_test(r, sock, c.source, got, checked)
    except (OSError, wire.IperfError) as exc:  # the client went away (or broke the protocol) during the test
        r.log("iperf-aborted", level="warning", client=c.source, reason=f"control connection failed: {exc}"[:200])
    finally:
        r.tests.release(got)
        for s in got.streams:
            wire.close_quietly(s)
    return False


def recv_params(sock: socket.socket, deadline: float) -> dict[str, Any] | str:
    """The parameters JSON, read before `deadline` in all; a string says what was wrong with it."""
    (length,) = struct.unpack("!I", wire.recv_exact_until(sock, 4, deadline))
    if not 0 < length <= MAX_PARAMS:
        return f"parameters of {length} bytes are out of bounds (1..{MAX_PARAMS})"
    raw = wire.recv_exact_until(sock, length, deadline)
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "malformed parameters (not JSON)"
    except RecursionError:
        return "malformed parameters (nested too deeply)"
    if not isinstance(obj, dict):
        return "malformed parameters (not an object)"
    return obj


@dataclass(frozen=True)
class Params:
    streams: int
    seconds: float
    reverse: bool
    block: int
    bidir: bool = False  # iperf3 --bidir: `streams` each way, the client's send streams first

    @property
    def connections(self) -> int:
        return self.streams * 2 if self.bidir else self.streams


def _number(value: Any, default: float) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def check_params(params: dict[str, Any], cfg: ServeConfig) -> Params | tuple[int, str]:
    """What the test will be, or (i_errno, reason) when the responder will not run it."""
    if "tcp" not in params or "udp" in params or "sctp" in params:
        return 1000, "only TCP tests are supported"
    streams = params.get("parallel", 1)
    duration, omit = _number(params.get("time"), 0.0), _number(params.get("omit"), 0.0)
    block = params.get("len", wire.DEFAULT_BLKSIZE) or wire.DEFAULT_BLKSIZE
    if isinstance(streams, bool) or not isinstance(streams, int) or not 1 <= streams <= cfg.max_streams:
        return 5, f"parallel must be an integer 1..{cfg.max_streams}"
    if duration is None or omit is None or omit < 0:
        return 1000, "malformed parameters (time and omit must be numbers)"
    if not 0 < duration + omit <= cfg.max_test_seconds:
        return 4, f"time must be 1..{cfg.max_test_seconds:g} s (byte or block counts are not supported)"
    if isinstance(block, bool) or not isinstance(block, int) or block <= 0:
        return 6, "len must be a positive integer"
    if "bidirectional" in params and "reverse" in params:
        return 1000, "reverse and bidirectional cannot both be set"
    return Params(streams, duration + omit, "reverse" in params, min(cfg.max_block, max(1024, block)),
                  "bidirectional" in params)


def refuse(r: Responder, ctrl: socket.socket, source: str, ierrno: int, why: str) -> None:
    r.log("iperf-refused", level="warning", client=source, reason=why[:200])
    with contextlib.suppress(OSError):
        ctrl.sendall(wire.error_frame(ierrno))


def run_test(r: Responder, ctrl: socket.socket, source: str, test: BwTest, p: Params) -> None:
    cfg = r.cfg
    ctrl.settimeout(cfg.handshake_timeout)
    with test.arrived:
        test.expected, test.accepting = p.connections, True
    wire.send_state(ctrl, proto.CREATE_STREAMS)
    with test.arrived:
        test.arrived.wait_for(lambda: len(test.streams) >= p.connections or r.stopping,
                              timeout=cfg.handshake_timeout * 2)
        test.accepting = False
        streams = sorted(test.streams, key=lambda s: test.accepted.get(id(s), 0.0))
    if len(streams) < p.connections:
        r.log("iperf-aborted", level="warning", client=source, reason="data streams did not arrive")
        return
    r.tests.running(test)
    r.count("tests")
    wire.send_state(ctrl, proto.TEST_START)
    wire.send_state(ctrl, proto.TEST_RUNNING)
    r.log("iperf-start", client=source, streams=p.streams, reverse=p.reverse, bidir=p.bidir, seconds=p.seconds,
          running=r.tests.active(), slots=r.tests.limit)
    for s in streams:
        s.settimeout(None)  # blocking data plane; closing the socket ends a stuck stream
    clock = wire.CpuClock()
    # (sending, sockets) per direction; in bidir the client's send streams (ours to read) come first.
    groups = ([(False, streams[:p.streams]), (True, streams[p.streams:])] if p.bidir
              else [(p.reverse, streams)])
    pumps = [LoopPump(socks, sending=sending, block=p.block) for sending, socks in groups]
    t0 = time.monotonic()
    for pump in pumps:
        pump.start()
    try:
        state = wait_for_end(r, ctrl, t0 + p.seconds + 10)
        for pump in pumps:
            pump.stop_counting()
        elapsed = time.monotonic() - t0
        for pump in pumps:
            pump.stop()
        retrans = {id(s): tcpinfo.counters(s)[0] for sending, socks in groups if sending for s in socks}
        for s in streams:
            wire.close_quietly(s)
        for pump in pumps:
            pump.join(2.0)
        total = sum(pump.total() for pump in pumps)
        if state != proto.TEST_END:
            why = {proto.CLIENT_TERMINATE: "client terminated the test", -100: "server is stopping",
                   -101: "client disconnected mid-test", -102: "test ran past its duration"}.get(state, "protocol")
            if state == -100:
                with contextlib.suppress(OSError):
                    wire.send_state(ctrl, proto.SERVER_TERMINATE)
            r.log("iperf-aborted", level="warning", client=source, reason=why, bytes=total)
            return
        ctrl.settimeout(cfg.handshake_timeout * 2)
        wire.send_state(ctrl, proto.EXCHANGE_RESULTS)
        wire.recv_json(ctrl)
        counts = [(socks[i], pump.counts[i]) for (_, socks), pump in zip(groups, pumps, strict=True)
                  for i in range(len(socks))]
        results = {**clock.util(), "sender_has_retransmits": 1 if p.reverse or p.bidir else -1,
                   "streams": [wire.stream_result(wire.stream_id(i), n, retrans.get(id(s)), elapsed)
                               for i, (s, n) in enumerate(counts)],
                   "netcheck": {"concurrent_tests": test.peak, "test_slots": r.tests.limit}}
        wire.send_json(ctrl, results)
        r.tests.release(test)  # free the slot before the client's next test (download after upload) can ask
        wire.send_state(ctrl, proto.DISPLAY_RESULTS)
        with contextlib.suppress(OSError, wire.IperfError):
            wire.recv_state(ctrl)  # IPERF_DONE
        mbps = total * 8 / max(elapsed, 1e-9) / 1e6
        r.log("iperf-done", client=source, streams=p.streams, reverse=p.reverse, bidir=p.bidir,
              seconds=round(elapsed, 3), bytes=total, mbps=round(mbps, 1), concurrent_tests=test.peak,
              slots=r.tests.limit)
    finally:
        for pump in pumps:
            pump.stop(0.5)


def wait_for_end(r: Responder, ctrl: socket.socket, hard_end: float) -> int:
    """The next control byte from the client, or a negative code: stopping / gone / overdue."""
    while True:
        if r.stopping:
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
        return wire.decode_state(data)
