"""The iperf3 client (TCP tests) in pure Python: test planning, the state machine, result analysis.

Wire format and state machine: docs/reference/iperf3-protocol.md. Works against a stock
`iperf3 -s` (3.12 verified) and against `netcheck serve`. The framing it shares with the
server is in iperfwire.py, the data plane in iperfpump.py, the kernel's TCP counters in
tcpinfo.py; the wire constants are in netcheck/protocol.py.

Over 500 lines on purpose: the iperf3 state machine, the busy/retry handling and the sampling
and analysis of one test are one protocol implementation.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import os
import secrets
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from netcheck.net import tcpinfo
from netcheck.net.iperfpump import LoopPump, Pump, PumpFactory
from netcheck.net.iperfwire import (
    DEFAULT_BLKSIZE,
    IERRNO_TEXT,
    STATE_NAMES,
    CpuClock,
    close_quietly,
    make_cookie,
    read_retry_trailer,
    recv_exact,
    recv_json,
    recv_state,
    send_json,
    send_state,
    signed64,
    stream_id,
    stream_result,
)
from netcheck.net.iperfwire import IperfError as IperfError  # the client's errors, as probes catch them
from netcheck.net.iperfwire import ServerBusy as ServerBusy
from netcheck.protocol import (
    ACCESS_DENIED,
    CREATE_STREAMS,
    DISPLAY_RESULTS,
    EXCHANGE_RESULTS,
    IEAUTHTEST,
    IPERF_DONE,
    PARAM_EXCHANGE,
    SERVER_ERROR,
    SERVER_TERMINATE,
    TEST_END,
    TEST_RUNNING,
    TEST_START,
)

# Test sizing (iperf3's --omit, chosen from the path's RTT): the ramp is the time TCP needs to
# open its window from 10 segments to RAMP_TARGET_MBPS × RTT, doubling once per round trip
# (slow start, and the receiver's autotuning beside it), plus RAMP_MARGIN_RTTS round trips.
RAMP_TARGET_MBPS = 1000.0
RAMP_MARGIN_RTTS = 4.0
MIN_OMIT = 0.5  # s; a LAN path's ramp takes milliseconds, this keeps the first burst out
MAX_OMIT = 8.0  # s; an RTT of 600 ms needs about this much
MAX_TEST_SECONDS = 60.0  # ramp + measurement; the responder's default limit
SETUP_RTTS = 8  # round trips outside TEST_RUNNING (streams, results), for the deadline fit
FINE_SAMPLE = 0.1  # s between the samples the steady rate is fitted to


class ResetAtStart(IperfError):
    """The connection was reset before the server said anything: a stock iperf3 -s resets the
    connections still queued on the listening socket it closes after each test (retried)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__("closed", f"{host}:{port} reset the connection before the test started")


TEST_OVERHEAD = 3.0  # seconds a test needs beyond its duration: handshake and results exchange
BUSY_WAIT_CAP = 30.0  # longest backoff between attempts when the server gives no retry-after


def ramp_seconds(rtt: float, mss: int = 1448, target_mbps: float = RAMP_TARGET_MBPS) -> float:
    """How long to omit before the steady state: slow start to target_mbps × rtt, plus a margin.

    From an initial window of 10 segments, doubling per round trip, the window reaches
    the bandwidth-delay product after log2(BDP / 10 segments) round trips; with the margin
    that is 0.64 s at 50 ms, 2.15 s at 150 ms, 3.77 s at 250 ms (0.5 s at least). A slower
    path ramps sooner, so sizing for 1 Gbit/s only ever leaves out a little more.
    """
    bdp_segments = target_mbps * 1e6 / 8 * max(rtt, 0.0) / max(536, mss)
    rtts = math.log2(max(2.0, bdp_segments / 10)) + RAMP_MARGIN_RTTS
    return round(min(MAX_OMIT, max(MIN_OMIT, rtts * rtt)), 3)


def plan_test(seconds: float, rtt: float | None, omit: float | None, time_left: float | None,
              mss: int = 1448) -> tuple[float, float, str | None]:
    """(omit, measured seconds, note): the ramp to leave out and the steady window after it.

    `omit` None sizes the ramp from the RTT. Ramp plus window stay within
    MAX_TEST_SECONDS and `time_left` (the caller's deadline, minus the set-up round
    trips); the ramp is cut first, and the note says so.
    """
    want = ramp_seconds(rtt or 0.0, mss) if omit is None else max(0.0, omit)
    note = None
    if want + seconds > MAX_TEST_SECONDS:
        want, note = max(0.0, MAX_TEST_SECONDS - seconds), "ramp shortened to keep the test within 60 s"
        seconds = min(seconds, MAX_TEST_SECONDS)
    if time_left is not None and want + seconds > time_left:
        cut = max(0.0, time_left - seconds)
        if cut < want:
            want, note = cut, f"ramp shortened from {want:.1f} s to {cut:.1f} s to end before the deadline"
    return round(want, 3), seconds, note


# -- client -------------------------------------------------------------------------------

@dataclass(frozen=True)
class IperfResult:
    """One direction of one test, as the receiver saw it (bytes, seconds) plus sender counters."""

    server: str
    reverse: bool  # True: download (server sends)
    streams: int
    seconds: float  # measured duration of TEST_RUNNING
    bytes_received: int
    bytes_sent: int
    intervals_mbps: tuple[float, ...]  # receiver-side throughput of each interval after the ramp
    retransmits: int | None  # sender's TCP total_retrans, None when unknown
    attempts: int = 1  # >1 when the server was busy at first
    blksize: int = DEFAULT_BLKSIZE
    warnings: tuple[str, ...] = field(default=())
    waited: float = 0.0  # seconds spent waiting for a free test slot
    server_concurrent: int | None = None  # most tests the responder ran at once during this one
    server_slots: int | None = None  # the responder's concurrent-test limit
    rtt: float | None = None  # s, the path's RTT before the test (control connection)
    omit: float = 0.0  # s, the ramp at the start, left out of the steady rate (iperf3 --omit)
    ramp_intervals_mbps: tuple[float, ...] = ()
    ramp_bytes: int | None = None  # received during the ramp, as sampled (None: no ramp left out)
    ramp_seconds: float = 0.0
    steady_bytes: int | None = None  # received after the ramp, as sampled
    steady_seconds: float = 0.0
    sizing_note: str | None = None  # why the ramp is shorter than the RTT asked for
    steady_fit_mbps: float | None = None  # slope through the fine samples of the steady window
    mode: str = "sequential"  # "bidirectional": measured at the same time as the other direction (--bidir)
    ack_share: float | None = None  # bidir: share of this direction's path the other direction's ACKs took
    queue_delay: float | None = None  # bidir: s the upload's smoothed RTT stood above its minimum at the end

    @property
    def steady_mbps(self) -> float:
        """The rate after the ramp (the figure to judge); the whole test's rate without one."""
        if self.steady_fit_mbps is not None:
            return self.steady_fit_mbps
        if self.steady_bytes is None or self.steady_seconds <= 0:
            return self.mbps
        return self.steady_bytes * 8 / self.steady_seconds / 1e6

    @property
    def ramp_mbps(self) -> float | None:
        if self.ramp_bytes is None or self.ramp_seconds <= 0:
            return None
        return self.ramp_bytes * 8 / self.ramp_seconds / 1e6

    @property
    def direction(self) -> str:
        return "download" if self.reverse else "upload"

    @property
    def mbps(self) -> float:
        return self.bytes_received * 8 / max(self.seconds, 1e-9) / 1e6

    def to_evidence(self) -> dict[str, Any]:
        return {"server": self.server, "direction": self.direction, "streams": self.streams,
                "seconds": round(self.seconds, 3), "bytesReceived": self.bytes_received,
                "bytesSent": self.bytes_sent, "mbps": round(self.mbps, 2),
                "intervalsMbps": [round(x, 2) for x in self.intervals_mbps],
                "retransmits": self.retransmits, "attempts": self.attempts,
                "waitedSeconds": round(self.waited, 2), "responderConcurrentTests": self.server_concurrent,
                "responderSlots": self.server_slots,
                "steadyMbps": round(self.steady_mbps, 2), "steadySeconds": round(self.steady_seconds, 3),
                "rampMbps": None if self.ramp_mbps is None else round(self.ramp_mbps, 2),
                "rampSeconds": round(self.ramp_seconds, 3),
                "rampIntervalsMbps": [round(x, 2) for x in self.ramp_intervals_mbps],
                "rttMs": None if self.rtt is None else round(self.rtt * 1000, 2), "mode": self.mode,
                **({"reverseAckSharePct": round(self.ack_share * 100, 2)} if self.ack_share is not None else {}),
                **({"queueDelayMs": round(self.queue_delay * 1000, 1)} if self.queue_delay is not None else {}),
                **({"sizingNote": self.sizing_note} if self.sizing_note else {})}


def _expect(sock: socket.socket, want: int, phase: str) -> None:
    try:
        state = recv_state(sock)
    except TimeoutError:
        # Silence right after connecting is a server that never answers ("timeout"); later, the server
        # was reached and the test stopped on the way ("stalled": a saturated or lossy link can starve
        # the control connection), which is not "could not reach the server".
        kind = "timeout" if want == PARAM_EXCHANGE else "stalled"
        raise IperfError(kind, f"no {STATE_NAMES[want]} from the server while {phase}") from None
    if state == want:
        return
    _raise_for_state(sock, state, phase)


def _raise_for_state(sock: socket.socket, state: int, phase: str) -> None:
    if state == ACCESS_DENIED:
        raise read_retry_trailer(sock)
    if state == SERVER_ERROR:
        codes: list[int] = []
        try:
            sock.settimeout(1.0)
            codes.append(struct.unpack("!i", recv_exact(sock, 4))[0])
            codes.append(struct.unpack("!i", recv_exact(sock, 4))[0])
        except (OSError, IperfError):
            pass
        ierr = codes[0] if codes else -1
        text = IERRNO_TEXT.get(ierr, f"i_errno {ierr}")
        if len(codes) > 1 and codes[1]:
            text += f" ({os.strerror(codes[1])})"
        kind = "unauthorized" if ierr == IEAUTHTEST else "server-error"
        raise IperfError(kind, f"the server reported an error while {phase}: {text}")
    if state == SERVER_TERMINATE:
        raise IperfError("server-terminated", f"the server was stopped while {phase}")
    raise IperfError("protocol", f"unexpected control message {STATE_NAMES.get(state, state)} while {phase}")


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise IperfError("timeout", f"connecting to {host}:{port} timed out after {timeout:g} s") from None
    except ConnectionRefusedError:
        raise IperfError("refused", f"{host}:{port} refused the connection (nothing listening?)") from None
    except ConnectionResetError:  # reset as the handshake completed: as ResetAtStart (a listener closing)
        raise ResetAtStart(host, port) from None
    except OSError as exc:
        from netcheck.net.localerr import local_route_error

        local = local_route_error(host, exc.errno) if _is_ip(host) else None
        if local is not None:  # this host's own stack refused: told as a local fact (docs/probe-truth.md)
            raise local from None
        raise IperfError("unreachable", f"cannot connect to {host}:{port}: {(exc.strerror or str(exc)).lower()}") from None
    return sock


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def run_client(host: str, port: int, *, seconds: float = 5.0, streams: int = 1, reverse: bool = False,
               token: str | None = None, interval: float = 1.0, timeout: float = 5.0,
               busy_retries: int = 2, busy_wait: float = 1.0, blksize: int = DEFAULT_BLKSIZE,
               deadline: float | None = None, pump_factory: PumpFactory | None = None,
               omit: float | None = None) -> IperfResult:
    """Run one iperf3 TCP test, waiting for a free slot while the server is busy.

    The test runs `omit` seconds of ramp (None: sized from the path's RTT, see ramp_seconds)
    and then `seconds` of steady state, both reported (plan_test fits them to the deadline).
    With a `deadline` (time.monotonic()), a busy server is retried for as long as a test
    still fits before it: after the server's retry-after (netcheck serve) or an
    exponential backoff from `busy_wait` (stock iperf3), each with random jitter so a
    fleet does not come back in step. Without one, `busy_retries` retries. When no test
    fits any more, ServerBusy says how long it waited and why it stopped.
    """
    mode = "download" if reverse else "upload"
    return _run(host, port, mode, seconds, streams, token, interval, timeout, busy_retries, busy_wait, blksize,
                deadline, pump_factory, omit)[0]


def run_bidir(host: str, port: int, *, seconds: float = 5.0, streams: int = 1, token: str | None = None,
              interval: float = 1.0, timeout: float = 5.0, busy_retries: int = 2, busy_wait: float = 1.0,
              blksize: int = DEFAULT_BLKSIZE, deadline: float | None = None,
              pump_factory: PumpFactory | None = None, omit: float | None = None) -> tuple[IperfResult, IperfResult]:
    """One iperf3 --bidir test: (upload, download) measured at the same time, as run_client otherwise.

    `streams` streams each way. Each result carries `ack_share`: the part of its path the
    other direction's ACKs took (see IperfResult); the caller decides whether that answer
    is the same as a test alone would give. A server without bidir support raises
    IperfError (kind "server-error", or "protocol" / "closed" from a server that
    misreads the request).
    """
    up, down = _run(host, port, "bidir", seconds, streams, token, interval, timeout, busy_retries, busy_wait,
                    blksize, deadline, pump_factory, omit)
    assert down is not None
    return up, down


def _run(host: str, port: int, mode: str, seconds: float, streams: int, token: str | None, interval: float,
         timeout: float, busy_retries: int, busy_wait: float, blksize: int, deadline: float | None,
         pump_factory: PumpFactory | None, omit: float | None) -> tuple[IperfResult, IperfResult | None]:
    if not 1 <= streams <= 128:
        raise ValueError("streams must be between 1 and 128")
    if not 0 < seconds <= 3600:
        raise ValueError("seconds must be between 0 and 3600")
    jitter = secrets.SystemRandom()
    attempt, waited, refused = 0, 0.0, 0
    while True:
        attempt += 1
        try:
            res = _one_test(host, port, seconds, streams, mode, token, interval, timeout, blksize, pump_factory,
                            omit, deadline)
            if attempt == 1:
                return res
            return _with_attempts(res[0], attempt, waited), (
                None if res[1] is None else _with_attempts(res[1], attempt, waited))
        except ServerBusy as exc:
            busy, refusal = exc, None
        except IperfError as exc:
            # A stock iperf3 -s re-creates its listening socket after each test: a connection in that
            # moment is refused, or reset if it was queued on the old socket. Retry up to 3 of them
            # quickly; a server that is down (or a firewall that resets) stays so and is told as such.
            if not (exc.kind == "refused" or isinstance(exc, ResetAtStart)) or refused >= 3:
                raise
            refused += 1
            busy, refusal = ServerBusy(str(exc)), exc
        if refusal is not None:
            wait = jitter.uniform(0.2, 0.6)
        elif busy.retry_after is not None:  # the responder says when a slot should be free
            wait = busy.retry_after * jitter.uniform(1.0, 1.25) + jitter.uniform(0.0, 0.5)
        else:  # stock iperf3: plain busy
            wait = min(BUSY_WAIT_CAP, busy_wait * 2 ** (attempt - 1)) * jitter.uniform(0.5, 1.5)
        room = None if deadline is None else deadline - time.monotonic() - seconds - (omit or MIN_OMIT) - TEST_OVERHEAD
        if room is not None and 0.2 <= room < wait:
            wait = room  # one last try just before the deadline
        if (room is None and attempt > busy_retries + refused) or (room is not None and room < 0.2):
            if refusal is not None:
                raise refusal
            why = ("the run's deadline leaves no time for another attempt" if room is not None
                   else f"gave up after {attempt} attempts")
            hint = (f"; {busy.running} of {busy.slots} test slots in use, retry after {busy.retry_after} s"
                    if busy.retry_after is not None else "; a stock iperf3 server runs one test at a time")
            raise ServerBusy(f"the server {host}:{port} was busy; waited {waited:.1f} s over {attempt} "
                             f"attempt{'s' if attempt > 1 else ''} and {why}{hint}",
                             busy.retry_after, busy.running, busy.slots, waited, attempt) from None
        time.sleep(wait)
        waited += wait


def _with_attempts(res: IperfResult, attempts: int, waited: float) -> IperfResult:
    return replace(res, attempts=attempts, waited=max(0.0, waited))


@dataclass
class _Leg:
    """One direction of a test: its data sockets, pump and the stream ids they carry."""

    reverse: bool  # True: the server sends (download)
    socks: list[socket.socket]
    ids: list[int]
    pump: Pump | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)
    every: list[tuple[float, int]] = field(default_factory=list)
    retrans: list[int | None] = field(default_factory=list)


def _one_test(host: str, port: int, seconds: float, streams: int, mode: str, token: str | None,
              interval: float, timeout: float, blksize: int, pump_factory: PumpFactory | None,
              omit: float | None = None, deadline: float | None = None) -> tuple[IperfResult, IperfResult | None]:
    """One test: `mode` upload, download or bidir; (result, None) or, for bidir, (upload, download)."""
    cookie = make_cookie()
    t_connect = time.monotonic()
    ctrl = _connect(host, port, timeout)
    connect_rtt = time.monotonic() - t_connect
    socks: list[socket.socket] = []
    legs: list[_Leg] = []
    try:
        ctrl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctrl.settimeout(timeout)
        try:
            ctrl.sendall(cookie)
            _expect(ctrl, PARAM_EXCHANGE, "starting the test")
        except (ConnectionResetError, BrokenPipeError):
            raise ResetAtStart(host, port) from None
        # Size the test to the path: RTT from the handshake (kernel's figure, else the connect time).
        rtt = min(x for x in (tcpinfo.lowest_rtt(ctrl), connect_rtt) if x is not None)
        left = None if deadline is None else deadline - time.monotonic() - SETUP_RTTS * rtt - 1.0
        omit, seconds, sizing_note = plan_test(seconds, rtt, omit, left, tcpinfo.snd_mss(ctrl) or 1448)
        # The server is told the whole duration and omit 0: the ramp is split off here, from
        # receiver-side samples (a stock server's own omit timer would not match ours).
        params: dict[str, Any] = {"tcp": True, "omit": 0, "time": max(1, math.ceil(omit + seconds)), "num": 0,
                                  "blockcount": 0, "parallel": streams}
        if mode == "download":
            params["reverse"] = True
        elif mode == "bidir":
            params["bidirectional"] = True
        params.update({"len": blksize, "pacing_timer": 1000, "client_version": "3.12"})
        if token:
            params["extra_data"] = token
        send_json(ctrl, params)
        _expect(ctrl, CREATE_STREAMS, "exchanging parameters")
        # Bidir: the first `streams` connections are the client's send streams, then its receive streams.
        directions = {"upload": (False,), "download": (True,), "bidir": (False, True)}[mode]
        for k, reverse in enumerate(directions):
            leg = _Leg(reverse, [], [stream_id(k * streams + i) for i in range(streams)])
            legs.append(leg)
            _open_streams(host, port, timeout, cookie, streams, leg.socks)
            socks.extend(leg.socks)
        _expect(ctrl, TEST_START, "opening the data streams")
        _expect(ctrl, TEST_RUNNING, "starting the data streams")
        for s in socks:
            s.settimeout(None)  # blocking: no poll() per call; close_quietly() shuts down to unblock
        clock = CpuClock()
        for leg in legs:
            leg.pump = (pump_factory or LoopPump)(leg.socks, not leg.reverse, blksize)
        t0 = time.monotonic()
        for leg in legs:
            assert leg.pump is not None
            leg.pump.start()
        _sample(ctrl, legs, t0, _offsets(omit, seconds, interval))
        # Stop: receivers stop counting now; senders stop before TEST_END (3.16+ order).
        pumps = [leg.pump for leg in legs if leg.pump is not None]
        for p in pumps:
            p.stop_counting()
        elapsed = time.monotonic() - t0
        queue = _queue_delay(next(leg.socks for leg in legs if not leg.reverse)) if mode == "bidir" else None
        counted = [p.total() for p in pumps]
        for leg, p in zip(legs, pumps, strict=True):
            if not leg.reverse:
                p.stop()
                leg.retrans = [tcpinfo.counters(s)[0] for s in leg.socks]
        shares = _ack_shares(legs) if len(legs) == 2 else [None]
        send_state(ctrl, TEST_END)
        ctrl.settimeout(max(timeout, 10.0))
        _expect(ctrl, EXCHANGE_RESULTS, "ending the test")
        mine = {**clock.util(), "sender_has_retransmits": 1 if mode != "download" else -1,
                "streams": [stream_result(leg.ids[i], p.counts[i], None if leg.reverse else leg.retrans[i], elapsed)
                            for leg, p in zip(legs, pumps, strict=True) for i in range(streams)]}
        send_json(ctrl, mine)
        theirs = recv_json(ctrl)
        _expect(ctrl, DISPLAY_RESULTS, "exchanging results")
        for p in pumps:
            p.stop()
        for s in socks:
            close_quietly(s)
        for p in pumps:
            p.join(2.0)
        send_state(ctrl, IPERF_DONE)
        out: list[IperfResult] = []
        for leg, p, n, share in zip(legs, pumps, counted, shares, strict=True):
            res = _result(host, port, leg.reverse, streams, elapsed, n, p, theirs, leg.retrans, [], blksize,
                          ids=leg.ids if mode == "bidir" else None)
            res = _with_samples(res, leg.samples, omit, rtt, sizing_note, leg.every)
            if mode == "bidir":
                res = replace(res, mode="bidirectional", ack_share=share, queue_delay=queue)
            out.append(res)
        return out[0], (out[1] if len(out) > 1 else None)
    except OSError as exc:
        raise IperfError("closed", f"the connection to {host}:{port} failed during the test: {exc}") from None
    finally:
        for leg in legs:
            if leg.pump is not None:
                leg.pump.stop(0.5)
        for s in [*socks, *(x for leg in legs for x in leg.socks)]:  # a failed open leaves them in its leg only
            close_quietly(s)
        close_quietly(ctrl)


def _open_streams(host: str, port: int, timeout: float, cookie: bytes, n: int, out: list[socket.socket]) -> None:
    """Open n data streams at once, each sending the cookie; append them to `out` (closed by the caller).

    The streams of one direction are alike, so their handshakes may overlap (one round trip
    for all, not one each: 1.5 s less for 8 streams over 250 ms); a bidir test's second group
    starts only after the first is open, so the server still accepts the client's send
    streams first. The first failure is raised once every attempt has ended.
    """
    def one() -> None:
        s = _connect(host, port, timeout)
        with lock:
            out.append(s)
        s.sendall(cookie)

    lock = threading.Lock()
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            one()
        except (IperfError, OSError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, daemon=True, name="iperf-connect") for _ in range(n - 1)]
    for t in threads:
        t.start()
    guarded()  # one on this thread: a single stream needs no other
    for t in threads:
        t.join(timeout + 1.0)
    if errors:
        raise errors[0]
    if len(out) < n:
        raise IperfError("stalled", f"opening {n} data streams to {host}:{port} did not finish in {timeout:g} s")


ACK_WIRE = 66  # bytes of a pure ACK on the wire: Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12
DATA_WIRE = 1514 / 1448  # wire bytes per payload byte of a full segment (same headers)


def _ack_shares(legs: Sequence[_Leg]) -> list[float | None]:
    """For each leg of a bidir test: the share of its path's bytes that were the other leg's ACKs.

    The upload's path (node → server) also carries the ACKs this host sent for the
    download (segs_out − data_segs_out on the receive sockets); the download's path
    carries the server's ACKs for the upload (segs_in − data_segs_in on the send sockets).
    A share of a few percent is what the path lost to them: on a narrow path in one
    direction and a wide one in the other it is large, and that direction is to be
    measured alone. None when the kernel does not say.
    """
    up, down = (legs[0], legs[1]) if not legs[0].reverse else (legs[1], legs[0])
    acks_sent = _pure_acks(down.socks, outgoing=True)  # our ACKs for the download: on the upload's path
    acks_got = _pure_acks(up.socks, outgoing=False)  # the server's ACKs for the upload: on the download's path
    out: dict[bool, float | None] = {}
    for leg, acks in ((up, acks_sent), (down, acks_got)):
        data = leg.samples[-1][1] - leg.samples[0][1] if len(leg.samples) >= 2 else 0
        if acks is None or data <= 0:
            out[leg.reverse] = None
        else:
            ack_bytes = acks * ACK_WIRE
            out[leg.reverse] = round(ack_bytes / (ack_bytes + data * DATA_WIRE), 4)
    return [out[leg.reverse] for leg in legs]


def _queue_delay(socks: Sequence[socket.socket]) -> float | None:
    """How far the smoothed RTT stands above the minimum on these sending sockets, s (largest).

    In a bidir test that is the queueing the two directions built, and the other direction's
    ACKs wait in it: a wide download whose ACKs queue behind a saturated narrow upload is
    held far below what it carries alone (measured: 60 against 957 Mbit/s, 50 up / 1000 down).
    """
    worst = None
    for s in socks:
        got = tcpinfo.rtt_and_min_us(s)
        if got is None:
            return None
        srtt, low = got
        if low > 0:
            worst = max(worst or 0.0, max(0, srtt - low) / 1e6)
    return worst


def _pure_acks(socks: Sequence[socket.socket], outgoing: bool) -> int | None:
    """Segments without data these sockets sent (outgoing) or received: ACKs, in the main."""
    total = 0
    for s in socks:
        got = tcpinfo.segments(s)
        if got is None:
            return None
        segs_out, segs_in, data_in, data_out = got
        total += max(0, segs_out - data_out) if outgoing else max(0, segs_in - data_in)
    return total


def _offsets(omit: float, seconds: float, interval: float) -> list[float]:
    """Sample times after the start: the ramp in equal parts, its end, then every `interval`."""
    interval = max(0.1, min(interval, seconds))
    ramp_parts = math.ceil(omit / interval - 1e-9) if omit > 0 else 0
    out = [omit * i / ramp_parts for i in range(1, ramp_parts + 1)]
    parts = max(1, round(seconds / interval))
    out += [omit + seconds * i / parts for i in range(1, parts + 1)]
    return out


def _sample(ctrl: socket.socket, legs: Sequence[_Leg], t0: float, offsets: Sequence[float],
            fine: float = FINE_SAMPLE) -> None:
    """Sleep until the end of the test, taking (seconds since t0, bytes) of each leg at each offset.

    Fills each leg's `samples` with those and its `every` (for the rate fit) with the same
    plus one every `fine` s.

    Receiver-side counts: a download counts what arrived (tcp_arrived, in or out of
    order); an upload what reached the receiver (tcp_delivered: acked and SACKed), not
    what we queued, so a shaped path's first interval is not inflated by the socket buffer. The first sample is
    taken at once. A control message during the test (server stopped or failed) aborts it.
    """

    def counter(leg: _Leg) -> int:
        got = [(tcpinfo.arrived if leg.reverse else tcpinfo.delivered)(s) for s in leg.socks]
        if all(d is not None for d in got):
            return sum(d or 0 for d in got)
        assert leg.pump is not None
        return leg.pump.total()

    def sample(final: bool = False) -> None:  # timed at the middle of the reads (a busy CPU may stall them)
        for leg in legs:
            before = time.monotonic()
            n = counter(leg)
            x = ((before + time.monotonic()) / 2 - t0, n)
            leg.every.append(x)
            if final:
                leg.samples.append(x)

    sample(final=True)
    next_fine = t0 + fine
    for off in offsets:
        target = t0 + off
        while (now := time.monotonic()) < target:
            r, _, _ = select.select([ctrl], [], [], min(target, next_fine) - now if next_fine > now else 0)
            if r:
                try:
                    state = recv_state(ctrl)
                except IperfError:
                    raise IperfError("closed", "the server closed the control connection during the test") from None
                _raise_for_state(ctrl, state, "the test was running")
            if time.monotonic() >= next_fine:
                sample()
                next_fine += fine
        sample(final=True)
    errors = [e for leg in legs if leg.pump is not None for e in leg.pump.errors]
    if errors:
        raise IperfError("closed", f"a data stream failed during the test: {errors[0]}")


def fitted_mbps(samples: Sequence[tuple[float, int]]) -> float | None:
    """Least-squares slope of bytes over time, Mbit/s; None with fewer than 8 samples.

    A receiver's in-order count stalls while a loss is repaired and then catches up, so
    a rate from two end samples moves by up to a round trip of data when either end
    falls in a stall; the slope through every sample does not.
    """
    if len(samples) < 8:
        return None
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mb = sum(b for _, b in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var <= 0:
        return None
    return sum((t - mt) * (b - mb) for t, b in samples) / var * 8 / 1e6


def _with_samples(res: IperfResult, samples: list[tuple[float, int]], omit: float, rtt: float | None,
                  note: str | None, every: Sequence[tuple[float, int]] = ()) -> IperfResult:
    """Split the samples at the ramp's end (the first sample at or after `omit`) into ramp and steady.

    The steady rate is fitted to `every` sample in the steady window where there are enough.
    """
    rates = [(b1 - b0) * 8 / max(t1 - t0, 1e-6) / 1e6 for (t0, b0), (t1, b1) in itertools.pairwise(samples)]
    cut = next((i for i, (t, _) in enumerate(samples) if t >= omit - 0.002), len(samples) - 1) if omit > 0 else 0
    cut = min(cut, len(samples) - 2) if len(samples) >= 2 else 0
    (t_start, b_start), (t_cut, b_cut), (t_end, b_end) = samples[0], samples[cut], samples[-1]
    return replace(res, intervals_mbps=tuple(rates[cut:]), ramp_intervals_mbps=tuple(rates[:cut]),
                   rtt=rtt, omit=omit, sizing_note=note,
                   ramp_bytes=(b_cut - b_start) if cut else None, ramp_seconds=(t_cut - t_start) if cut else 0.0,
                   steady_bytes=b_end - b_cut, steady_seconds=t_end - t_cut,
                   steady_fit_mbps=fitted_mbps([x for x in every if t_cut - 1e-9 <= x[0] <= t_end + 1e-9]))


def _result(host: str, port: int, reverse: bool, streams: int, elapsed: float, counted: int, pump: Pump,
            theirs: dict[str, Any], retrans_local: list[int | None], intervals: list[float],
            blksize: int, ids: Sequence[int] | None = None) -> IperfResult:
    """One direction's result from our counts and the server's results JSON (only streams `ids`, bidir)."""
    server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        their_streams = [s for s in theirs.get("streams", []) if isinstance(s, dict)
                         and (ids is None or s.get("id") in ids)]
        their_bytes = sum(int(s.get("bytes", 0)) for s in their_streams)
        their_end = max((float(s.get("end_time") or 0) for s in their_streams), default=0.0)
        their_retrans = [signed64(s.get("retransmits", -1)) for s in their_streams]
    except (TypeError, ValueError):
        raise IperfError("protocol", "the server's results JSON is malformed") from None
    warnings: list[str] = []
    if len(their_streams) != streams:
        warnings.append(f"server reported {len(their_streams)} streams, expected {streams}")
    shared = theirs.get("netcheck")  # netcheck serve: how many tests shared it during this one
    concurrent = slots = None
    if isinstance(shared, dict):
        c, s = shared.get("concurrent_tests"), shared.get("test_slots")
        concurrent = c if isinstance(c, int) and not isinstance(c, bool) and 0 < c < 1 << 16 else None
        slots = s if isinstance(s, int) and not isinstance(s, bool) and 0 < s < 1 << 16 else None
    if reverse:
        retrans = sum(their_retrans) if their_retrans and all(r >= 0 for r in their_retrans) else None
        return IperfResult(server, True, streams, elapsed, counted, their_bytes, tuple(intervals), retrans,
                           blksize=blksize, warnings=tuple(warnings), server_concurrent=concurrent,
                           server_slots=slots)
    seconds = their_end if their_end > 0 else elapsed
    retrans = sum(r for r in retrans_local if r is not None) if all(r is not None for r in retrans_local) else None
    return IperfResult(server, False, streams, seconds, their_bytes, counted, tuple(intervals), retrans,
                       blksize=blksize, warnings=tuple(warnings), server_concurrent=concurrent, server_slots=slots)
