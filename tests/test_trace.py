"""Failure localisation: the traceroute names the last hop that answered."""

from __future__ import annotations

import pytest

from netcheck.net import Net
from netcheck.net.trace import Hop, TraceResult
from testbed.delay import serve_echo
from testbed.lab import NS, Lab


def test_summary_names_the_last_answering_hop() -> None:
    r = TraceResult("10.20.1.10", 443, "tcp", "socket",
                    (Hop(1, "192.168.50.1", 0.1, "time-exceeded"), Hop(2, "172.31.0.2", 0.2, "time-exceeded"),
                     Hop(3, None, None, "no-answer")), reached=False)
    assert r.summary() == "TCP 443 to 10.20.1.10 stops after hop 2 (172.31.0.2)"
    assert r.to_evidence()["lastHop"] == {"ttl": 2, "addr": "172.31.0.2"}


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="proto"):
        Net().trace("127.0.0.1", 1, "sctp")
    with pytest.raises(ValueError, match="max_hops"):
        Net().trace("127.0.0.1", 1, "tcp", max_hops=0)


def _two_routers(lab: Lab) -> tuple[NS, NS, NS, NS]:
    """node — r1 (192.168.50.1) — r2 (172.31.0.2) — vpc 10.20.1.10; r2 drops TCP 443."""
    node, r1, r2, vpc = lab.ns("node"), lab.ns("r1"), lab.ns("r2"), lab.ns("vpc")
    lab.link(node, "192.168.50.10/24", r1, "192.168.50.1/24")
    lab.link(r1, "172.31.0.1/30", r2, "172.31.0.2/30")
    lab.link(r2, "10.20.0.1/16", vpc, "10.20.1.10/16")
    for r in (r1, r2):
        lab.sysctl(r, "net.ipv4.ip_forward", "1")
    lab.run(node, ["ip", "route", "add", "default", "via", "192.168.50.1"])
    lab.run(r1, ["ip", "route", "add", "10.20.0.0/16", "via", "172.31.0.2"])
    lab.run(r2, ["ip", "route", "add", "192.168.50.0/24", "via", "172.31.0.1"])
    lab.run(vpc, ["ip", "route", "add", "default", "via", "10.20.0.1"])
    lab.nft(r2, "table inet f {\n chain filt {\n type filter hook forward priority 0;\n tcp dport 443 drop\n }\n}\n")
    return node, r1, r2, vpc


@pytest.mark.netns
def test_port_dropped_two_hops_away_names_hop_two() -> None:
    from testbed.delay import in_netns

    with Lab("trc") as lab:
        node, _r1, _r2, vpc = _two_routers(lab)
        serve_echo(lab, vpc, tcp_ports=(10250,), udp_port=None)
        with in_netns(node):
            dropped = Net().trace(vpc.ip, 443, "tcp", max_hops=8, timeout=4)
            open_port = Net().trace(vpc.ip, 10250, "tcp", max_hops=8, timeout=4)
            udp = Net().trace(vpc.ip, 33434, "udp", max_hops=8, timeout=4)
            icmp = Net().trace(vpc.ip, 0, "icmp", max_hops=8, timeout=4)
        assert dropped.summary() == "TCP 443 to 10.20.1.10 stops after hop 2 (172.31.0.2)"
        assert [h.addr for h in dropped.hops[:2]] == ["192.168.50.1", "172.31.0.2"] and not dropped.reached
        assert open_port.reached and open_port.last_answered == open_port.hops[-1]
        assert open_port.hops[-1].ttl == 3 and open_port.hops[-1].kind == "reached"
        assert udp.reached and udp.hops[-1].kind == "port-unreachable"
        assert icmp.reached and icmp.hops[-1].addr == vpc.ip


@pytest.mark.netns
def test_scapy_trace_as_root_agrees() -> None:
    from netcheck.net.trace import trace_scapy
    from testbed.delay import in_netns

    with Lab("trc") as lab:
        node, _r1, _r2, vpc = _two_routers(lab)
        with in_netns(node):
            r = trace_scapy(vpc.ip, 443, "tcp", 6, 2.0)
        assert r.method == "scapy" and r.last_answered is not None and r.last_answered.addr == "172.31.0.2"
