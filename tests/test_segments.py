"""Whose side is it: hop classification, persistent per-link attribution, and the real two-router path."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from netcheck import segments as sg
from testbed.delay import REPO, add_delay, add_loss, serve_echo
from testbed.lab import NS, Lab, WanPath
from tests.conftest import validate_report

VPC, SITE = ("10.20.0.0/16",), ("192.168.50.0/24",)
TARGET = "10.20.1.10"


def _hops(*rows: tuple[str | None, list[float | None]]) -> list[sg.HopStat]:
    return sg.hop_stats([(i + 1, a, r) for i, (a, r) in enumerate(rows)], TARGET, VPC, SITE, "192.168.50.1")


# --- pure ------------------------------------------------------------------------------

def test_classification_lan_until_the_first_non_private_hop_then_wan_then_aws() -> None:
    addrs = ["192.168.50.1", "10.9.0.1", "169.254.100.2", "172.16.0.9", "10.20.0.1", TARGET, None]
    assert sg.classify(addrs, TARGET, VPC, SITE, "192.168.50.1") == ["lan", "lan", "wan", "wan", "aws", "aws", None]
    assert sg.link_segment("lan", "aws") == "wan"  # a tunnel that hides its far end: entering AWS is the WAN hop
    assert sg.link_segment("wan", "aws") == "aws"


def test_rtt_is_placed_on_the_link_where_it_appears_and_persists() -> None:
    hops = _hops(("192.168.50.1", [0.2] * 10), ("169.254.100.2", [40.3] * 10), (TARGET, [40.6] * 10))
    att = sg.attribute(hops, "rtt", 40.5, TARGET)
    assert att is not None and att.main is not None
    assert (att.main.segment, att.main.from_addr, att.main.to_addr, att.main.exact) == \
        ("wan", "192.168.50.1", "169.254.100.2", True)
    assert att.by_segment["wan"] == pytest.approx(40.1) and att.by_segment["aws"] == pytest.approx(0.2)
    text = sg.describe(att, "ms", sg.edge_of(hops))
    assert "on the WAN hop (VPN/DX), between 192.168.50.1 (site edge) and 169.254.100.2" in text


def test_a_slow_answering_router_is_not_blamed() -> None:
    """Hop 2 answers its own ICMP 80 ms late, but the target is 1 ms away: no WAN latency."""
    hops = _hops(("192.168.50.1", [0.2] * 10), ("169.254.100.2", [80.0] * 10), (TARGET, [1.0] * 10))
    att = sg.attribute(hops, "rtt", 1.0, TARGET)
    assert att is not None and "wan" not in att.by_segment and sum(att.by_segment.values()) == pytest.approx(1.0)


def test_rate_limited_hops_widen_the_span_instead_of_blaming_a_segment() -> None:
    """Both routers leave 70 % unanswered (ICMP rate limit); the target loses 20 %: place only the span."""
    lossy: list[float | None] = [1.0] * 3 + [None] * 7
    hops = _hops(("192.168.50.1", lossy), ("169.254.100.2", lossy), (TARGET, [1.0] * 8 + [None] * 2))
    att = sg.attribute(hops, "loss", 20.0, TARGET)
    assert att is not None and att.main is not None
    assert (att.main.segment, att.main.from_addr, att.main.to_addr, att.main.exact) == (None, "node",
                                                                                       TARGET, False)
    assert "crosses segments" in sg.describe(att, "%", None)
    assert sg.rate_limited(hops, 20.0) == ["192.168.50.1 (70 %)", "169.254.100.2 (70 %)"]


def test_loss_that_persists_from_a_clean_hop_is_placed_exactly() -> None:
    hops = _hops(("192.168.50.1", [1.0] * 20), ("169.254.100.2", [1.0] * 20),
                 (TARGET, [1.0] * 14 + [None] * 6))
    att = sg.attribute(hops, "loss", 30.0, TARGET)
    assert att is not None and att.main is not None
    assert (att.main.segment, att.main.exact, att.main.to_addr) == ("aws", True, TARGET)


def test_a_router_listed_twice_is_kept_once() -> None:
    hops = _hops(("192.168.50.1", [0.2]), ("192.168.50.1", [30.0]), ("169.254.100.2", [30.2]), (TARGET, [30.3]))
    assert [h.addr for h in hops] == ["192.168.50.1", "169.254.100.2", TARGET]


# --- a real path with two routers --------------------------------------------------------

PROFILE = """apiVersion: netcheck/v1
kind: SiteProfile
metadata: {name: lab}
spec:
  cluster: {controlPlaneIps: [10.20.1.10]}
  vpc: {cidrs: [10.20.0.0/16]}
  remoteNetwork: {nodeCidrs: [192.168.50.0/24]}
  thresholds: {rttMs: 20}
"""


def _run(lab: Lab, p: WanPath, tmp: Path) -> dict[str, Any]:
    (tmp / "site.yaml").write_text(PROFILE)
    out = lab.run(p.node, [sys.executable, "-m", "netcheck", "run", "-c", str(tmp / "site.yaml"), "--format",
                           "json", "--only", "latency"], check=False, cwd=str(REPO), timeout=90)
    assert out.returncode in (0, 3, 4), out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    validate_report(doc)
    return doc


def _answering_routers(lab: Lab, p: WanPath) -> None:
    """Routers that answer every probe (no ICMP rate limit), so per-hop loss is the path's loss."""
    for r in (p.lan, p.edge, p.wan):
        if r is not None:
            lab.sysctl(r, "net.ipv4.icmp_ratelimit", "0")


def _impair(lab: Lab, router: NS, what: str) -> None:
    if what == "delay":
        add_delay(lab, router, 30, in_ifaces=tuple(router.addrs))  # both directions: +60 ms round trip
    else:
        add_loss(lab, router, 20)


@pytest.mark.netns
@pytest.mark.parametrize("what", ["delay", "loss"])
@pytest.mark.parametrize(("where", "segment", "phrase"), [
    ("edge", "wan", "on the WAN hop (VPN/DX), between 192.168.50.1 (site edge) and 169.254.100.2"),
    ("wan", "aws", "inside AWS, between 169.254.100.2 and 10.20.1.10"),
])
def test_the_report_names_the_impaired_segment_and_follows_it(tmp_path: Path, what: str, where: str,
                                                               segment: str, phrase: str) -> None:
    with Lab("seg") as lab:
        p = lab.wan_path()
        serve_echo(lab, p.vpc)
        _answering_routers(lab, p)
        _impair(lab, p.edge if where == "edge" else p.wan, what)
        doc = _run(lab, p, tmp_path)
        c = doc["checks"][0]
        assert c["status"] == "FAIL", c["message"]
        assert phrase in c["message"], c["message"]
        path = c["evidence"]["path"]
        metric = "rtt" if what == "delay" else "loss"
        assert path["attribution"][metric]["mainSegment"] == segment
        assert [h["segment"] for h in path["hops"]] == ["lan", "wan", "aws"]
        assert path["siteEdge"] == "192.168.50.1" and path["gateway"] == "192.168.50.1"


@pytest.mark.netns
def test_delay_on_the_lan_router_is_placed_on_the_lan(tmp_path: Path) -> None:
    with Lab("seg") as lab:
        p = lab.wan_path(lan_router=True)
        assert p.lan is not None
        serve_echo(lab, p.vpc)
        _answering_routers(lab, p)
        _impair(lab, p.lan, "delay")
        c = _run(lab, p, tmp_path)["checks"][0]
        assert "on the on-prem LAN, between 192.168.50.1 and 192.168.60.2 (site edge)" in c["message"], c["message"]


@pytest.mark.netns
def test_rate_limiting_routers_are_not_the_culprit(tmp_path: Path) -> None:
    """Default Linux routers answer 1 ICMP error/s after a burst of 6: their silence is not loss."""
    with Lab("seg") as lab:
        p = lab.wan_path()
        serve_echo(lab, p.vpc)
        c = _run(lab, p, tmp_path)["checks"][0]
        assert c["status"] == "PASS", c["message"]
        path = c["evidence"]["path"]
        assert path["attribution"]["loss"]["links"] == [] and c["evidence"]["lossPct"] == 0.0
        assert any(h["lossPct"] > 0 for h in path["hops"][:-1]) and path["rateLimited"]


def test_an_on_link_target_has_no_segments_to_place() -> None:
    from netcheck.net.rtt import RttSeries
    from netcheck.net.trace import HopSeries
    from netcheck.settings import Thresholds
    from probes import latency

    series = RttSeries("127.0.0.1", "icmp", (0.05,) * 10, 0.05)
    hops = HopSeries("127.0.0.1", "icmp", 10, 0.025, ((1, "127.0.0.1", (0.04,) * 10),), True)
    spec = latency.Spec("127.0.0.1", "latency target", vpc_cidrs=VPC, site_cidrs=SITE)
    out = latency.evaluate(spec, latency.Evidence("127.0.0.1", series, hops=hops), Thresholds())
    path = out.evidence["path"]
    assert path["attribution"] == {} and "on-link" in path["notes"][0]


def test_a_router_that_rate_limits_time_exceeded_is_not_blamed_for_loss() -> None:
    """97.5 % 'loss' at hop 1 while later hops answer is ICMP rate limiting (as mtr users learn): not the LAN."""
    from netcheck import segments as sg

    n = 40
    series = [(1, "192.168.50.1", [None] * 39 + [1.0]), (2, "169.254.100.2", [5.0] * n),
              (3, "10.20.1.10", [10.0] * 38 + [None, None])]
    hops = sg.hop_stats(series, "10.20.1.10", ["10.20.0.0/16"], ["192.168.50.0/24"], "192.168.50.1")
    for destination in (0.0, 5.0):
        att = sg.attribute(hops, "loss", destination, "10.20.1.10", n)
        assert att is not None and all(s.to_addr != "192.168.50.1" for s in att.shares), att
        assert "lan" not in att.by_segment
        assert sg.rate_limited(hops, destination, n) == ["192.168.50.1 (98 %)"]
    assert sg.attribute(hops, "loss", 0.0, "10.20.1.10", n).main is None  # type: ignore[union-attr]
