"""The iperf3 client against a stock `iperf3 -s`, and the bandwidth probe's plan and verdicts.

iperf3 servers run on random free loopback ports, started and stopped by PID.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from netcheck.model import SkipReason, Status
from netcheck.net import Net, iperf
from netcheck.probes import bandwidth
from netcheck.probes.base import ProbeSkip
from netcheck.settings import Settings, SiteProfile, Thresholds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def iperf3_server() -> Iterator[int]:
    """A stock `iperf3 -s` on a random loopback port (serves many tests; stopped by PID)."""
    port = free_port()
    proc = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        time.sleep(0.2)  # the probe connection above counts as a (failed) test for iperf3
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    other = subprocess.Popen(["iperf3", "-c", "127.0.0.1", "-p", str(iperf3_server), "-t", "4"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        with pytest.raises(iperf.ServerBusy) as info:
            iperf.run_client("127.0.0.1", iperf3_server, seconds=1, busy_retries=2, busy_wait=0.2)
        assert time.monotonic() - t0 < 3  # bounded: 0.2 + 0.4 s of waiting
        assert "busy" in str(info.value) and info.value.attempts >= 3  # 3, or more if a refusal came between
    finally:
        other.wait(timeout=20)


def test_busy_server_then_free_succeeds_with_attempts_counted(iperf3_server: int) -> None:
    other = subprocess.Popen(["iperf3", "-c", "127.0.0.1", "-p", str(iperf3_server), "-t", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.4)
        r = iperf.run_client("127.0.0.1", iperf3_server, seconds=1, busy_retries=5, busy_wait=0.5)
        assert r.attempts >= 2
    finally:
        other.wait(timeout=20)


def test_nothing_listening_is_refused() -> None:
    with pytest.raises(iperf.IperfError) as info:
        iperf.run_client("127.0.0.1", free_port(), seconds=1)
    assert info.value.kind == "refused"


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
    c = iperf.make_cookie()
    assert len(c) == 37 and c[-1] == 0 and set(c[:-1].decode()) <= set(iperf.COOKIE_ALPHABET)
    assert [iperf.stream_id(i) for i in range(4)] == [1, 3, 4, 5]
    assert iperf.signed64(18446744073709551615) == -1 and iperf.signed64(28) == 28


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
