"""Probes that run together measure what they measure alone (issue 10, defect 3).

Full `netcheck run`s (every probe of the plan at once: latency, MTU searches, traceroutes,
reachability, bandwidth, DNS, TLS …) on namespace paths with a 1400-byte hop and working
PMTU discovery, with loss and with delay. The MTU searches' ICMP 'fragmentation needed'
used to surface as `OSError: [Errno 90] Message too long` in the latency series (a raw
ICMP socket is told about every ICMP error toward its peer); no check may end in ERROR.
"""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.net import Net
from netcheck.net.rtt import RttSeries
from testbed.delay import add_delay, add_loss, flush_pmtu, in_netns, limit_mtu
from testbed.lab import Lab
from testbed.services import API_IP, OTHER_IP, Site, tcp_listener
from tests.conftest import validate_report

pytestmark = pytest.mark.netns


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Site]:
    with Lab("full") as lab:
        site = Site.build(lab, tmp_path)
        site.healthy()
        site.responder()
        tcp_listener(lab, site.vpc, OTHER_IP, 443)
        yield site


def full_profile(bed: Site) -> Path:
    """Two latency/MTU targets (the responder by UDP echo, a control-plane ENI by ICMP) and bandwidth."""
    import yaml

    cluster = yaml.safe_load(bed.profile().read_text())["spec"]["cluster"]
    return bed.profile(cluster={**cluster, "controlPlaneIps": [API_IP, OTHER_IP]}, responder=f"{API_IP}:7447",
                       bandwidth={"server": f"{API_IP}:7447", "seconds": 2, "streams": 2},
                       latency={"samples": 20})


def full_run(bed: Site, profile: Path) -> dict[str, Any]:
    out, _ = bed.netcheck("run", "-c", str(profile), "--format", "json", timeout=120)
    assert out.returncode in (0, 3, 4), f"exit {out.returncode}: {out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    validate_report(doc)
    return doc


def errors(doc: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["message"] for c in doc["checks"] if c["status"] == "ERROR"}


def check(doc: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["id"] == cid)


@pytest.mark.parametrize("icmp", ["datagram", "raw"])
def test_full_runs_on_a_1400_byte_path_with_pmtud_have_no_error(bed: Site, icmp: str) -> None:
    if icmp == "raw":  # a new namespace's default: root falls back to raw ICMP sockets
        bed.lab.sysctl(bed.node, "net.ipv4.ping_group_range", "1 0")
    limit_mtu(bed.lab, bed.router, 1400)
    profile = full_profile(bed)
    for _ in range(3):
        flush_pmtu(bed.lab, bed.node)  # each run learns the PMTU afresh, as the first run of the day does
        doc = full_run(bed, profile)
        assert errors(doc) == {}
        for ip in (API_IP, OTHER_IP):
            assert check(doc, f"mtu.path.{ip}")["measured"] == 1400
            lat = check(doc, f"latency.rtt.{ip}")
            assert lat["status"] == "PASS", lat["message"]
            assert lat["evidence"]["received"] == lat["evidence"]["sent"] == 20
        method = check(doc, f"latency.rtt.{OTHER_IP}")["evidence"]["method"]
        assert method == ("icmp-raw" if icmp == "raw" else "icmp")
        # the per-hop series runs beside everything else too: UDP where ICMP sockets are closed
        path = check(doc, f"latency.rtt.{OTHER_IP}")["evidence"]["path"]
        assert path["method"] == ("udp" if icmp == "raw" else "icmp") and path["hops"][0]["addr"] == "192.168.50.1"


def test_full_run_with_loss_reports_loss_not_errors(bed: Site) -> None:
    limit_mtu(bed.lab, bed.router, 1400)
    add_loss(bed.lab, bed.router, 3)
    doc = full_run(bed, full_profile(bed))
    assert errors(doc) == {}
    for ip in (API_IP, OTHER_IP):
        lat = check(doc, f"latency.rtt.{ip}")
        assert lat["status"] in ("PASS", "WARN", "FAIL") and "lossPct" in lat["evidence"]
        assert check(doc, f"mtu.path.{ip}")["status"] in ("WARN", "PASS")  # copies ride out random loss


def test_full_run_with_delay_measures_the_delay(bed: Site) -> None:
    limit_mtu(bed.lab, bed.router, 1400)
    add_delay(bed.lab, bed.router, 40)
    doc = full_run(bed, full_profile(bed))
    assert errors(doc) == {}
    for ip in (API_IP, OTHER_IP):
        lat = check(doc, f"latency.rtt.{ip}")
        assert lat["status"] == "PASS" and 40.0 <= lat["evidence"]["medianMs"] < 46.0, lat["message"]


def test_raw_ping_beside_an_mtu_search_ignores_the_searchs_icmp_errors(bed: Site) -> None:
    """The unit of defect 3: a raw-socket ping series and an MTU search to the same host, at once."""
    bed.lab.sysctl(bed.node, "net.ipv4.ping_group_range", "1 0")
    limit_mtu(bed.lab, bed.router, 1400)
    flush_pmtu(bed.lab, bed.node)
    got: dict[str, RttSeries] = {}
    with in_netns(bed.node):
        pinger = threading.Thread(target=lambda: got.update(s=Net().ping(OTHER_IP, 60, 0.01, timeout=10)))
        pinger.start()
        searches = [Net().pmtu(OTHER_IP, 10) for _ in range(3)]
        pinger.join(15)
    series = got["s"]
    assert series.method == "icmp-raw" and series.received == series.sent == 60 and series.errors == {}
    assert all(r.path_mtu == 1400 and r.icmp_mtu == 1400 for r in searches)
    assert statistics.median(r for r in series.rtts if r is not None) < 5.0
