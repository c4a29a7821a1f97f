"""The iperf3 client against a stock `iperf3 -s`, and the bandwidth probe's plan and verdicts.

iperf3 servers run on random free loopback ports, started and stopped by PID.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from netcheck import protocol as proto
from netcheck.model import SkipReason, Status
from netcheck.net import Net, iperf
from netcheck.net import iperfpump as pumps
from netcheck.net import iperfwire as wire
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import bandwidth
from probes.base import ProbeSkip
from testbed import free_port

from . import stock_iperf3


@pytest.fixture
def iperf3_server() -> Iterator[int]:
    """A stock `iperf3 -s` on a random loopback port, once it listens (serves many tests; stopped by PID)."""
    port = free_port()
    with stock_iperf3.server(port):
        yield port


def _run(port: int, **kw: object) -> iperf.IperfResult:
    for _ in range(10):  # iperf3 may still be tearing down the previous test
        try:
            return iperf.run_client("127.0.0.1", port, **kw)  # type: ignore[arg-type]
        except iperf.ServerBusy:
            time.sleep(0.5)
    raise AssertionError("iperf3 stayed busy")


# -- interop with stock iperf3 -s -----------------------------------------------------------

@pytest.mark.parametrize(("streams", "reverse"), [(1, False), (3, False), (1, True), (2, True)])
def test_client_against_stock_iperf3(iperf3_server: int, streams: int, reverse: bool) -> None:
    r = _run(iperf3_server, seconds=2, streams=streams, reverse=reverse, interval=0.5)
    assert r.streams == streams and r.reverse is reverse and not r.warnings
    assert r.bytes_received > 1_000_000 and r.mbps > 100
    assert 1.8 < r.seconds < 3.0
    assert 2 <= len(r.intervals_mbps) <= 5
    assert r.retransmits is not None and r.retransmits >= 0  # sender's TCP_INFO (ours, or iperf3's on -R)
    ev = r.to_evidence()
    assert ev["direction"] == ("download" if reverse else "upload")


def test_busy_stock_server_is_retried_then_reported(iperf3_server: int) -> None:
    with stock_iperf3.busy_client(iperf3_server, seconds=8):  # the server is busy from here on, for 8 s
        t0 = time.monotonic()
        with pytest.raises(iperf.ServerBusy) as info:
            iperf.run_client("127.0.0.1", iperf3_server, seconds=1, busy_retries=2, busy_wait=0.2)
        assert time.monotonic() - t0 < 5  # bounded: 0.2 + 0.4 s of waiting (×1.5 jitter) and three refusals
        assert "busy" in str(info.value) and info.value.attempts >= 3  # 3, or more if a refusal came between


def test_busy_server_then_free_succeeds_with_attempts_counted(iperf3_server: int) -> None:
    with stock_iperf3.busy_client(iperf3_server, seconds=2):  # busy now; free again about 2 s later
        r = iperf.run_client("127.0.0.1", iperf3_server, seconds=1, busy_retries=8, busy_wait=0.5)
    assert r.attempts >= 2


def test_nothing_listening_is_refused() -> None:
    with pytest.raises(iperf.IperfError) as info:
        iperf.run_client("127.0.0.1", free_port(), seconds=1)
    assert info.value.kind == "refused"


def test_a_connection_reset_before_the_server_speaks_is_retried() -> None:
    """As a stock iperf3 -s closing its listening socket between tests: the queued connection is reset."""
    first = socket.create_server(("127.0.0.1", 0), backlog=4)
    port = first.getsockname()[1]
    served = threading.Event()

    def server() -> None:
        readable, _, _ = select.select([first], [], [], 30)  # the client's connection is queued, not accepted
        first.close()  # the kernel resets it
        if not readable:
            return
        with socket.create_server(("127.0.0.1", port), backlog=4) as second:
            second.settimeout(30)
            conn, _ = second.accept()
            with conn:
                conn.settimeout(30)
                wire.recv_exact(conn, 37)  # the cookie
                wire.send_state(conn, proto.ACCESS_DENIED)  # the next attempt finds the server busy
        served.set()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    with pytest.raises(iperf.ServerBusy) as info:
        iperf.run_client("127.0.0.1", port, seconds=1, busy_retries=0, timeout=10)
    t.join(30)
    assert served.is_set() and info.value.attempts >= 2  # the reset was retried, not reported


def test_a_server_that_always_resets_is_reported_as_such() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        port = listener.getsockname()[1]
        stop = threading.Event()

        def resetter() -> None:  # accepts and closes with SO_LINGER 0: a reset before any byte
            listener.settimeout(0.2)
            for _ in range(200):
                if stop.is_set():
                    return
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()

        t = threading.Thread(target=resetter, daemon=True)
        t.start()
        try:
            with pytest.raises(iperf.IperfError) as info:
                iperf.run_client("127.0.0.1", port, seconds=1, busy_retries=0, timeout=10)
        finally:
            stop.set()
            t.join(5)
    assert info.value.kind == "closed" and "reset the connection before the test started" in str(info.value)


def test_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts (backlog) but never speaks
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(iperf.IperfError) as info:
            iperf.run_client("127.0.0.1", listener.getsockname()[1], seconds=1, timeout=0.5)
    assert info.value.kind == "timeout"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        iperf.run_client("127.0.0.1", 1, streams=0)
    with pytest.raises(ValueError):
        iperf.run_client("127.0.0.1", 1, seconds=0)


def test_framing_helpers() -> None:
    c = wire.make_cookie()
    assert len(c) == 37 and c[-1] == 0 and set(c[:-1].decode()) <= set(proto.COOKIE_ALPHABET)
    assert [wire.stream_id(i) for i in range(4)] == [1, 3, 4, 5]
    assert wire.signed64(18446744073709551615) == -1 and wire.signed64(28) == 28


# -- probe: plan ----------------------------------------------------------------------

def _settings(token: str | None = None, **spec: object) -> Settings:
    return Settings(SiteProfile.model_validate({"spec": spec}), source="test", token=token)


def test_plan_uses_bandwidth_server_first_then_responder() -> None:
    checks = bandwidth.plan(_settings("t", responder="10.20.1.10:7447", bandwidth={"server": "10.20.1.11:5201"}))
    assert {c.id for c in checks} == {"bandwidth.upload.10.20.1.11", "bandwidth.download.10.20.1.11"}
    assert all(c.exclusive and c.spec.port == 5201 for c in checks)
    resp = bandwidth.plan(_settings("t", responder="10.20.1.10:7447"))
    assert {c.id for c in resp} == {"bandwidth.upload.10.20.1.10", "bandwidth.download.10.20.1.10"}
    assert all(c.spec.token == "t" and c.spec.port == 7447 and c.spec.source == "spec.responder" for c in resp)
    one_way = bandwidth.plan(_settings(responder="10.20.1.10:7447", bandwidth={"reverse": False}))
    assert [c.id for c in one_way] == ["bandwidth.upload.10.20.1.10"]


def test_no_server_skips_with_the_command_to_start_one() -> None:
    checks = bandwidth.plan(_settings())
    assert {c.id for c in checks} == {"bandwidth.upload.no-server", "bandwidth.download.no-server"}
    with pytest.raises(ProbeSkip) as info:
        bandwidth.collect(checks[0].spec, Net())
    assert info.value.reason is SkipReason.NEEDS_PEER
    assert info.value.fix is not None and "netcheck serve --token" in info.value.fix and "iperf3 -s" in info.value.fix


# -- probe: evaluate with recorded evidence --------------------------------------------

SPEC = bandwidth.Spec("10.20.1.10", 5201, False, 5, 4)
DOWN = bandwidth.Spec("10.20.1.10", 5201, True, 5, 4)


def _result(intervals: tuple[float, ...], mean: float, retrans: int | None = 0, reverse: bool = False) -> iperf.IperfResult:
    seconds = float(len(intervals))
    return iperf.IperfResult("10.20.1.10:5201", reverse, 4, seconds, int(mean * 1e6 / 8 * seconds),
                             int(mean * 1e6 / 8 * seconds), intervals, retrans)


@pytest.mark.parametrize(("name", "intervals", "mean", "status"), [
    ("pass-gigabit", (930.0, 941.0, 940.0, 939.0, 942.0), 938.0, Status.PASS),
    ("fail-shaped-50", (47.5, 47.8, 47.9, 47.8, 47.8), 47.8, Status.FAIL),
    ("warn-marginal-above", (60.0, 140.0, 95.0, 130.0, 110.0), 107.0, Status.WARN),
    ("warn-marginal-below", (70.0, 120.0, 80.0, 110.0, 100.0), 96.0, Status.WARN),
    ("fail-just-below-steady", (97.0, 97.2, 96.9, 97.1, 97.0), 97.0, Status.FAIL),
])
def test_evaluate_verdicts(name: str, intervals: tuple[float, ...], mean: float, status: Status) -> None:
    out = bandwidth.evaluate(SPEC, bandwidth.Evidence(result=_result(intervals, mean)), Thresholds())
    assert out.status is status, out.message
    assert out.unit == "Mbit/s" and out.threshold == 100 and out.measured == pytest.approx(mean, abs=0.1)
    assert "Mbit/s" in out.message and "10.20.1.10:5201" in out.message
    if status is not Status.PASS:
        assert out.remediation
    if status is Status.WARN:
        assert "marginal" in out.message
    assert out.evidence["spreadMbps"] >= 0 and out.evidence["direction"] == "upload"


def test_evaluate_reports_retransmits_and_direction() -> None:
    out = bandwidth.evaluate(DOWN, bandwidth.Evidence(result=_result((40.0, 41.0), 40.5, 17, reverse=True)),
                             Thresholds(bandwidth_mbps=100))
    assert out.status is Status.FAIL and "Download from" in out.message and "17 retransmits" in out.message
    assert out.remediation is not None and "loss" in out.remediation


@pytest.mark.parametrize(("kind", "status", "fix_words"), [
    ("busy", Status.SKIP, "--deadline"),
    ("unauthorized", Status.ERROR, "--token"),
    ("refused", Status.ERROR, "netcheck serve"),
    ("timeout", Status.FAIL, "firewall"),
    ("stalled", Status.ERROR, "Run the test again"),
    ("unreachable", Status.FAIL, "firewall"),
    ("protocol", Status.ERROR, "iperf3"),
])
def test_evaluate_errors(kind: str, status: Status, fix_words: str) -> None:
    ev = bandwidth.Evidence(error_kind=kind, error=f"{kind} happened")
    out = bandwidth.evaluate(SPEC, ev, Thresholds())
    assert out.status is status and f"{kind} happened" in out.message
    assert out.remediation is not None and fix_words in out.remediation
    assert out.evidence["error"] == kind


def test_collect_against_stock_iperf3(iperf3_server: int) -> None:
    spec = bandwidth.Spec("127.0.0.1", iperf3_server, True, 1, 2)
    ev = None
    for _ in range(10):
        ev = bandwidth.collect(spec, Net(deadline=time.monotonic() + 30))
        if ev.error_kind != "busy":
            break
        time.sleep(0.5)
    assert ev is not None and ev.result is not None, ev
    out = bandwidth.evaluate(spec, ev, Thresholds(bandwidth_mbps=1))
    assert out.status is Status.PASS and out.evidence["direction"] == "download"


# -- test sizing: RTT first, ramp omitted, steady state judged ------------------------------

def test_ramp_is_sized_from_the_rtt() -> None:
    assert iperf.ramp_seconds(0.0001) == iperf.MIN_OMIT
    assert 1.7 < iperf.ramp_seconds(0.150) < 2.5  # log2(1 Gbit × 150 ms / 10 segments) ≈ 10.4 RTTs + margin
    assert 3.0 < iperf.ramp_seconds(0.250) < 4.0
    assert iperf.ramp_seconds(0.250, target_mbps=50) < iperf.ramp_seconds(0.250)  # a slower target ramps sooner
    assert iperf.ramp_seconds(0.9) == iperf.MAX_OMIT


def test_plan_fits_the_ramp_to_the_deadline_and_the_60_s_limit() -> None:
    assert iperf.plan_test(3, 0.25, None, None) == (iperf.ramp_seconds(0.25), 3, None)
    omit, seconds, note = iperf.plan_test(3, 0.25, None, 4.0)  # only 1 s left for the ramp
    assert (omit, seconds) == (1.0, 3) and note is not None and "deadline" in note
    omit, seconds, note = iperf.plan_test(59, 0.25, None, None)
    assert omit + seconds <= iperf.MAX_TEST_SECONDS and note is not None and "60 s" in note
    assert iperf.plan_test(2, 0.25, 0.0, None) == (0.0, 2, None)  # omit given: taken as is


def test_sample_offsets_split_ramp_and_steady() -> None:
    offs = iperf._offsets(2.1, 3, 1.0)
    assert offs == pytest.approx([0.7, 1.4, 2.1, 3.1, 4.1, 5.1])
    assert iperf._offsets(0.0, 2, 0.5) == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_samples_give_ramp_and_steady_rates() -> None:
    base = iperf.IperfResult("s:1", True, 2, 4.0, 40_000_000, 40_000_000, (), 0)
    mb = 125_000  # 1 Mbit in bytes
    # 1 s of ramp at 8 then 24 Mbit/s (two halves: 4 then 12 Mbit), then 3 s steady at 80 Mbit/s
    samples = [(0.0, 0), (0.5, 4 * mb), (1.0, 16 * mb)] + [(t, (16 + (t - 1.0) * 80) * mb) for t in (2.0, 3.0, 4.0)]
    samples = [(t, int(b)) for t, b in samples]
    r = iperf._with_samples(base, samples, 1.0, 0.15, None)
    assert r.steady_mbps == pytest.approx(80, rel=1e-3) and r.intervals_mbps == pytest.approx((80, 80, 80), rel=1e-3)
    assert r.ramp_intervals_mbps == pytest.approx((8, 24), rel=1e-3)
    assert r.ramp_mbps == pytest.approx(16, rel=1e-3) and r.ramp_seconds == 1.0 and r.steady_seconds == 3.0
    ev = r.to_evidence()
    assert ev["steadyMbps"] == 80 and ev["rampMbps"] == 16 and ev["rttMs"] == 150 and ev["mbps"] == 80
    flat = iperf._with_samples(base, samples, 0.0, None, None)  # no omit: everything is steady
    assert flat.ramp_mbps is None and flat.ramp_intervals_mbps == () and len(flat.intervals_mbps) == 5


def test_client_measures_rtt_and_reports_the_ramp(iperf3_server: int) -> None:
    r = _run(iperf3_server, seconds=1, streams=2, reverse=True, interval=0.5, omit=0.6)
    assert r.rtt is not None and 0 < r.rtt < 0.05 and r.omit == 0.6
    assert len(r.ramp_intervals_mbps) == 2 and len(r.intervals_mbps) == 2
    assert r.ramp_mbps is not None and r.ramp_seconds == pytest.approx(0.6, abs=0.1)
    # a 1 s window as measured by the clock; a busy 2-core machine stretches it, never shrinks it
    assert 0.9 <= r.steady_seconds < 2.5 and r.steady_mbps > 100
    assert 1.5 < r.seconds < 4.5  # ramp + steady window


def _ramped(steady: tuple[float, ...], rtt: float = 0.15, reverse: bool = False, streams: int = 4,
            note: str | None = None) -> iperf.IperfResult:
    """A result with a 2 s ramp at 10 Mbit/s before `steady` (one value per second)."""
    mb = 125_000
    steady_bytes = int(sum(steady) * mb)
    whole = steady_bytes + 20 * mb
    return iperf.IperfResult("10.20.1.10:5201", reverse, streams, 2.0 + len(steady), whole, whole, steady, 0,
                             rtt=rtt, omit=2.0, ramp_intervals_mbps=(2.0, 18.0), ramp_bytes=20 * mb, ramp_seconds=2.0,
                             steady_bytes=steady_bytes, steady_seconds=float(len(steady)), sizing_note=note)


def test_evaluate_judges_the_steady_rate_not_the_ramp() -> None:
    r = _ramped((120.0, 125.0, 130.0))
    assert r.mbps == pytest.approx(79.0) and r.steady_mbps == pytest.approx(125.0)  # (20 + 375) Mbit / 5 s
    out = bandwidth.evaluate(SPEC, bandwidth.Evidence(result=r, tcp_buffer="4096 16384 33554432"), Thresholds())
    assert out.status is Status.PASS and out.measured == pytest.approx(125.0)
    assert "after a 2.0 s ramp at 10.0 Mbit/s" in out.message and "RTT 150 ms" in out.message
    assert out.evidence["rampIntervalsMbps"] == [2.0, 18.0] and out.evidence["steadyMbps"] == 125.0
    assert out.evidence["tcpBuffer"]["oneConnectionMaxMbps"] == pytest.approx(1789.6, abs=0.1)


def test_evaluate_rising_rate_that_reached_the_threshold_is_marginal() -> None:
    out = bandwidth.evaluate(SPEC, bandwidth.Evidence(result=_ramped((40.0, 60.0, 80.0, 110.0))), Thresholds())
    assert out.status is Status.WARN and "still rising" in out.message and "110.0" in out.message
    never = bandwidth.evaluate(SPEC, bandwidth.Evidence(result=_ramped((40.0, 50.0, 60.0, 70.0))), Thresholds())
    assert never.status is Status.FAIL  # rising, but never near the threshold: honest FAIL
    cut = _ramped((75.0, 101.0, 72.0), note="ramp shortened from 3.3 s to 0.5 s to end before the deadline")
    out = bandwidth.evaluate(SPEC, bandwidth.Evidence(result=cut), Thresholds())
    assert out.status is Status.WARN and "too little time" in out.message


def test_evaluate_names_the_tcp_buffer_that_caps_one_connection() -> None:
    # 250 ms, tcp_rmem max 2 MiB: one connection at most 67 Mbit/s; 4 streams carried 220
    r = _ramped((220.0, 221.0, 219.0), rtt=0.25, reverse=True)
    out = bandwidth.evaluate(DOWN, bandwidth.Evidence(result=r, tcp_buffer="4096 131072 2097152"), Thresholds())
    assert out.status is Status.WARN and "not for one connection" in out.message
    assert "net.ipv4.tcp_rmem max 2097152 bytes / RTT 250 ms" in out.message and "67.1 Mbit/s" in out.message
    assert out.remediation is not None and 'sysctl -w net.ipv4.tcp_rmem="4096 131072 6291456"' in out.remediation
    # the streams together cannot reach the threshold either: the host, not the link, is the limit
    slow = _ramped((30.0, 31.0, 30.0), rtt=0.25, streams=1)
    out = bandwidth.evaluate(SPEC, bandwidth.Evidence(result=slow, tcp_buffer="4096 16384 1048576"), Thresholds())
    assert out.status is Status.FAIL and "this host, not the link" in out.message
    assert out.remediation is not None and out.remediation.startswith("Raise this host's buffer ceiling")
    assert "net.ipv4.tcp_wmem" in out.remediation and out.evidence["tcpBuffer"]["maxBytes"] == 1048576
    # a ceiling above the threshold says nothing
    ok = bandwidth.evaluate(SPEC, bandwidth.Evidence(result=slow, tcp_buffer="4096 16384 33554432"), Thresholds())
    assert ok.status is Status.FAIL and "buffer" not in ok.message and "capacity of the path" in (ok.remediation or "")


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        client = socket.create_connection(srv.getsockname())
        server, _ = srv.accept()
    return client, server


def test_loop_sender_writes_in_bursts_and_stops_with_a_full_buffer() -> None:
    """LoopPump (the default sender): every byte it counts arrives; with the reader gone quiet
    (send buffer full) stop() still returns at once, and a reset peer is reported."""
    pairs = [_tcp_pair() for _ in range(2)]
    pump = pumps.LoopPump([c for c, _ in pairs], sending=True)
    pump.start()
    got = [0, 0]
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        for i, (_, srv) in enumerate(pairs):
            srv.settimeout(0.05)
            with contextlib.suppress(TimeoutError):
                got[i] += len(srv.recv(1 << 20))
    time.sleep(0.3)  # nobody reads: both send buffers fill, the loop waits for EPOLLOUT
    t0 = time.monotonic()
    pump.stop()
    assert time.monotonic() - t0 < 0.5
    assert all(n > 0 for n in got) and not pump.errors
    for i, (cli, srv) in enumerate(pairs):
        cli.shutdown(socket.SHUT_WR)
        srv.settimeout(2)
        while chunk := srv.recv(1 << 20):
            got[i] += len(chunk)
        assert got[i] == pump.counts[i]  # counted = written = received, to the byte
        cli.close()
        srv.close()


def test_loop_sender_reports_a_reset_stream() -> None:
    cli, srv = _tcp_pair()
    pump = pumps.LoopPump([cli], sending=True)
    pump.start()
    time.sleep(0.1)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    srv.close()  # RST
    end = time.monotonic() + 3
    while not pump.errors and time.monotonic() < end:
        time.sleep(0.02)
    pump.stop()
    cli.close()
    assert pump.errors and pump.errors[0].startswith("stream 0:")


# -- both directions at once (iperf3 --bidir) ---------------------------------------------------

def _bidir(port: int, **kw: object) -> tuple[iperf.IperfResult, iperf.IperfResult]:
    for _ in range(10):  # iperf3 may still be tearing down the previous test
        try:
            return iperf.run_bidir("127.0.0.1", port, **kw)  # type: ignore[arg-type]
        except iperf.ServerBusy:
            time.sleep(0.5)
    raise AssertionError("iperf3 stayed busy")


@pytest.mark.parametrize("streams", [1, 2])
def test_bidir_against_stock_iperf3(iperf3_server: int, streams: int) -> None:
    up, down = _bidir(iperf3_server, seconds=1, streams=streams)
    assert (up.direction, down.direction) == ("upload", "download")
    for r in (up, down):
        assert r.mode == "bidirectional" and r.streams == streams and not r.warnings, r
        assert r.bytes_received > 0 and r.bytes_sent >= r.bytes_received * 0.9
        assert r.retransmits is not None, "the sender's retransmits come back for each direction"
        assert r.ack_share is not None and 0.0 <= r.ack_share < 0.5
        assert r.to_evidence()["mode"] == "bidirectional" and "reverseAckSharePct" in r.to_evidence()


def _collect_pair(port: int, threshold: float = 1.0) -> tuple[bandwidth.Evidence, bandwidth.Evidence]:
    """Both checks of one server, upload first as the runner runs them; a busy iperf3 is waited out."""
    for _ in range(10):
        pair = bandwidth.Pair()
        specs = [bandwidth.Spec("127.0.0.1", port, rev, 1, 2, pair=pair, threshold_mbps=threshold)
                 for rev in (False, True)]
        up = bandwidth.collect(specs[0], Net(deadline=time.monotonic() + 40))
        if up.error_kind == "busy":
            time.sleep(0.5)
            continue
        for _ in range(10):
            down = bandwidth.collect(specs[1], Net(deadline=time.monotonic() + 40))
            if down.error_kind != "busy":
                return up, down
            time.sleep(0.5)
    raise AssertionError("iperf3 stayed busy")


def test_upload_and_download_checks_share_one_bidir_test(iperf3_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth, "QUEUE_FLOOR", 5.0)  # a starved CPU can queue on loopback; that rule has its own test
    up, down = _collect_pair(iperf3_server)
    assert up.result is not None and down.result is not None, (up, down)
    assert up.result.mode == down.result.mode == "bidirectional"
    assert down.result is not None and down.result.steady_mbps > 0
    out = bandwidth.evaluate(bandwidth.Spec("127.0.0.1", iperf3_server, True, 1, 2), down, Thresholds(bandwidth_mbps=1))
    assert out.status is Status.PASS and out.evidence["mode"] == "bidirectional"
    assert "both directions at once" in out.message
    for ev in (up, down):  # loopback is far faster than BIDIR_CPU_MBPS and 10 × the 1 Mbit/s threshold here
        assert ev.result is not None
        if ev.result.steady_mbps > bandwidth.BIDIR_CPU_MBPS:
            assert ev.lower_bound and ev.mode_note is not None and "lower bound" in ev.mode_note
    if down.lower_bound:
        assert out.evidence["lowerBound"] is True and "at least" in out.message


def test_a_direction_crowded_by_the_other_acks_is_measured_alone(iperf3_server: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth, "ACK_TOLERANCE", -1.0)  # every share is "too much": both are remeasured
    up, down = _collect_pair(iperf3_server)
    for ev, other in ((up, "download"), (down, "upload")):
        assert ev.result is not None and ev.result.mode == "sequential", ev
        assert ev.bidir is not None and ev.bidir.mode == "bidirectional"
        assert ev.mode_note is not None and f"the {other}'s ACKs took" in ev.mode_note
        out = bandwidth.evaluate(bandwidth.Spec("127.0.0.1", iperf3_server, ev.result.reverse, 1, 2), ev,
                                 Thresholds(bandwidth_mbps=1))
        assert out.evidence["mode"] == "sequential" and "measured again alone" in out.evidence["modeNote"]
        assert out.evidence["bidirectional"]["steadyMbps"] > 0


def test_a_queue_the_bidir_test_built_sends_both_directions_alone(iperf3_server: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth, "QUEUE_FLOOR", -1.0)  # any queue is "too much"
    up, down = _collect_pair(iperf3_server)
    for ev in (up, down):
        assert ev.result is not None and ev.result.mode == "sequential", ev
        assert ev.bidir is not None and ev.bidir.queue_delay is not None
        assert ev.mode_note is not None and "ms of queue" in ev.mode_note


def test_a_bidir_figure_under_the_threshold_is_confirmed_alone(iperf3_server: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth, "QUEUE_FLOOR", 5.0)
    monkeypatch.setattr(bandwidth, "BIDIR_CPU_MBPS", 1e12)  # the CPU rule stays out of the way
    up, down = _collect_pair(iperf3_server, threshold=1e9)  # any loopback figure is under this threshold
    for ev in (up, down):
        assert ev.result is not None and ev.result.mode == "sequential", ev
        assert ev.bidir is not None and ev.bidir.mode == "bidirectional"
        assert ev.mode_note is not None and "confirmed with this direction alone" in ev.mode_note


def test_a_fast_bidir_figure_below_ten_times_the_threshold_is_measured_alone(iperf3_server: int,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth, "QUEUE_FLOOR", 5.0)
    monkeypatch.setattr(bandwidth, "BIDIR_CPU_MBPS", 0.0)  # every rate is "fast"; the threshold is out of reach
    up, down = _collect_pair(iperf3_server, threshold=1e9)
    for ev in (up, down):
        assert ev.result is not None and ev.result.mode == "sequential" and not ev.lower_bound, ev
        assert ev.mode_note is not None and "carries both ways as well as one" in ev.mode_note
