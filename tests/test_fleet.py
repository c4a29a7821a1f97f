"""Issue 17: many nodes, one responder. Loopback only; each node is a `netcheck run` process
whose TCP connections leave from its own 127.0.1.N address (bench/fleet_node.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netcheck.net import iperf
from netcheck.net import iperfwire as wire
from netcheck.responder import Responder, ServeConfig, auto_capacity
from netcheck.responder.limits import Denial, SlotTable
from tests import stock_iperf3
from tests.test_iperf import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "fleet-token"


@pytest.fixture
def one_slot() -> Iterator[Responder]:
    r = Responder(ServeConfig(host="127.0.0.1", port=0, iperf_ports=(), token=TOKEN, max_tests=1),
                  lambda *a, **k: None)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def _profile(tmp: Path, port: int, seconds: float) -> Path:
    p = tmp / "site.yaml"
    p.write_text(yaml.safe_dump({"apiVersion": "netcheck/v1", "kind": "SiteProfile", "metadata": {"name": "fleet"},
                                 "spec": {"responder": f"127.0.0.1:{port}",
                                          "bandwidth": {"seconds": seconds, "streams": 1, "reverse": False},
                                          "thresholds": {"bandwidthMbps": 1}}}))
    return p


def node(source: str, profile: Path, deadline: float, *only: str) -> subprocess.Popen[str]:
    args = [a for o in (only or ("bandwidth*",)) for a in ("--only", o)]
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "fleet_node.py"), source, "run", "-c", str(profile),
                             *args, "--format", "json", "--token", TOKEN, "--deadline", str(deadline)],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def report(proc: subprocess.Popen[str]) -> tuple[int, dict[str, object]]:
    out, err = proc.communicate(timeout=90)
    assert "Traceback" not in err, err
    return proc.returncode, json.loads(out)


def checks(doc: dict[str, object], prefix: str) -> list[dict[str, object]]:
    return [c for c in doc["checks"] if str(c["id"]).startswith(prefix)]  # type: ignore[attr-defined,union-attr]


def _wait_for_a_test(r: Responder) -> None:
    end = time.monotonic() + 20
    while r.tests.active() == 0 and time.monotonic() < end:
        time.sleep(0.05)
    assert r.tests.active() == 1


def test_second_node_waits_for_the_single_slot_then_measures(one_slot: Responder, tmp_path: Path) -> None:
    # The first node holds the slot for 15 s: time enough for the second node's process to start and ask even on a
    # loaded machine (it took more than 5 s there); the second measures for 2 s once the slot is free.
    (tmp_path / "long").mkdir()
    first = node("127.0.1.1", _profile(tmp_path / "long", one_slot.port, 15), 60)
    _wait_for_a_test(one_slot)
    second = node("127.0.1.2", _profile(tmp_path, one_slot.port, 2), 60)
    (code1, doc1), (code2, doc2) = report(first), report(second)
    assert (code1, code2) == (0, 0), (doc1, doc2)
    bw1, bw2 = checks(doc1, "bandwidth.")[0], checks(doc2, "bandwidth.")[0]
    assert bw1["status"] == bw2["status"] == "PASS"
    ev = bw2["evidence"]
    assert isinstance(ev, dict)
    assert ev["attempts"] >= 2 and ev["waitedSeconds"] > 0, ev  # it was told to wait, waited, then measured
    assert ev["responderSlots"] == 1 and ev["responderConcurrentTests"] == 1
    assert one_slot.stats["busy"] >= 1 and one_slot.stats["tests"] == 2


def test_deadline_too_short_to_wait_skips_bandwidth_and_keeps_the_verdict(one_slot: Responder,
                                                                           tmp_path: Path) -> None:
    hog = node("127.0.1.3", _profile(tmp_path, one_slot.port, 12), 40)
    try:
        _wait_for_a_test(one_slot)
        short = tmp_path / "short"
        short.mkdir()
        code, doc = report(node("127.0.1.4", _profile(short, one_slot.port, 3), 8, "bandwidth*", "latency*"))
    finally:
        hog.kill()
        hog.communicate(timeout=30)
    bw = checks(doc, "bandwidth.")[0]
    assert bw["status"] == "SKIP", bw
    assert "busy" in str(bw["message"]) and "deadline" in str(bw["message"])
    ev = bw["evidence"]
    assert isinstance(ev, dict) and ev["skipReason"] == "busy" and ev["responderSlots"] == 1
    latency = checks(doc, "latency.")
    assert latency and all(c["status"] == "PASS" for c in latency)
    assert code == 0 and doc["verdict"] == "GO"  # decided by what was measured


def test_stock_iperf3_busy_is_waited_out() -> None:
    port = free_port()
    with stock_iperf3.server(port), stock_iperf3.busy_client(port, seconds=3):  # busy for about 3 s from here
        t0 = time.monotonic()
        res = iperf.run_client("127.0.0.1", port, seconds=1, deadline=t0 + 30, busy_wait=0.5)
    assert res.attempts >= 2 and res.waited > 0 and res.bytes_received > 0
    assert res.server_concurrent is None  # a stock server says nothing about sharing


def test_retry_after_spreads_waiting_sources() -> None:
    table = SlotTable(2)
    running = [table.acquire(wire.make_cookie(), f"10.0.0.{i}", 10) for i in (1, 2)]
    assert not any(isinstance(t, Denial) for t in running)
    denials = [table.acquire(wire.make_cookie(), f"10.0.1.{i}", 10) for i in range(6)]
    assert all(isinstance(d, Denial) for d in denials)
    waits = [d.retry_after for d in denials if isinstance(d, Denial)]
    assert waits == sorted(waits) and waits[-1] > waits[0] + 10  # later arrivals are told to come back later
    again = table.acquire(wire.make_cookie(), "10.0.0.1", 5)
    assert isinstance(again, Denial) and "this address" in again.reason  # one test per source


def test_capacity_from_cpu_and_nic() -> None:
    assert auto_capacity(cpus=2, nic_mbps=None, probe_nic=False).max_tests == 4
    assert auto_capacity(cpus=8, nic_mbps=1000).max_tests == 4  # a 1 Gbit/s NIC: 4 x 250 Mbit/s
    assert auto_capacity(cpus=64, nic_mbps=100_000).max_tests == 32
    assert auto_capacity(cpus=1, nic_mbps=100).max_tests == 1


def test_stock_iperf3_client_sees_plain_busy_beyond_the_limit(one_slot: Responder) -> None:
    hog = subprocess.Popen(["iperf3", "-c", "127.0.0.1", "-p", str(one_slot.port), "-t", "4", "--extra-data", TOKEN],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_a_test(one_slot)
        out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(one_slot.port), "-t", "1", "-B", "127.0.1.9",
                              "--extra-data", TOKEN], capture_output=True, text=True, timeout=30, check=False)
    finally:
        hog.wait(timeout=30)
    assert out.returncode == 1 and "busy" in out.stdout + out.stderr  # the trailer is ignored by iperf3
    assert hog.returncode == 0


def test_sharing_is_in_the_bandwidth_message_and_evidence() -> None:
    from netcheck.settings import Thresholds
    from probes import bandwidth

    res = iperf.IperfResult("127.0.0.1:7447", False, 1, 5.0, 500_000_000, 500_000_000, (800.0, 800.0), 0,
                            server_concurrent=3, server_slots=4)
    spec = bandwidth.Spec("127.0.0.1", 7447, False, 5, 1)
    out = bandwidth.evaluate(spec, bandwidth.Evidence(result=res), Thresholds(bandwidth_mbps=100))
    assert "the responder ran 3 tests at once (of 4 slots)" in out.message
    assert out.evidence["responderConcurrentTests"] == 3 and out.evidence["responderSlots"] == 4
    slow = bandwidth.evaluate(spec, bandwidth.Evidence(result=res), Thresholds(bandwidth_mbps=5000))
    assert slow.status.value == "FAIL" and slow.remediation is not None and "ran 3 tests at once" in slow.remediation


def test_cgroup_cpu_quota_counts(tmp_path: Path) -> None:
    from netcheck.responder.limits import cgroup_cpus

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpus(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpus(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpus(tmp_path) is None
