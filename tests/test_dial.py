"""net.dial: each way a TCP connect can end is classified from real sockets (loopback and namespaces)."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck.net import DeadlineExceeded, Net
from netcheck.net.dial import dial
from testbed.lab import NS, Lab

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield "127.0.0.1", s.getsockname()[1]


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dial_connected_on_loopback(listener: tuple[str, int]) -> None:
    r = dial(*listener, timeout=5)
    assert r.outcome == "connected" and r.reason == "handshake"
    assert r.rtt_ms is not None and r.local is not None and r.local[0] == "127.0.0.1"
    ev = r.to_evidence()
    assert ev["outcome"] == "connected" and ev["source"] == "127.0.0.1" and "rttMs" in ev


def test_dial_closed_port_is_refused_by_reset() -> None:
    r = dial("127.0.0.1", closed_port(), timeout=5)
    assert (r.outcome, r.reason, r.errno_name, r.offender) == ("refused", "rst", "ECONNREFUSED", None)


def test_dial_through_facade_respects_deadline() -> None:
    import time

    with pytest.raises(DeadlineExceeded):
        Net(deadline=time.monotonic() - 1).dial("127.0.0.1", 1)


# --- namespaces: DROP, REJECT variants and missing routes ------------------------------

SNIPPET = textwrap.dedent("""
    import json, sys
    from netcheck.net.dial import dial
    r = dial(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
    print(json.dumps(r.to_evidence()))
""")


def dial_in(lab: Lab, ns: NS, ip: str, port: int = 443, timeout: float = 1.5) -> dict[str, object]:
    out = lab.run(ns, [sys.executable, "-c", SNIPPET, ip, str(port), str(timeout)], cwd=str(REPO), timeout=60)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def listen_in(lab: Lab, ns: NS, ip: str, port: int = 443) -> None:
    code = (f"import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"s.bind(({ip!r},{port}));s.listen(64)\nwhile True: s.accept()[0].close()\n")
    lab.popen(ns, [sys.executable, "-c", code])
    lab.wait_port(ns, ip, port)


def forward_rule(rule: str) -> str:
    """A forward-chain ruleset for the router (nft 1.0.6 wants newlines, and `fwd` is a keyword)."""
    return f"table inet t {{\n  chain filter_fwd {{\n    type filter hook forward priority 0;\n    {rule}\n  }}\n}}\n"


@pytest.mark.netns
@pytest.mark.parametrize(("rule", "outcome", "reason", "offender"), [
    ("", "connected", "handshake", None),
    ("tcp dport 443 drop", "timeout", "no-answer", None),
    ("tcp dport 443 reject with tcp reset", "refused", "rst", None),
    ("tcp dport 443 reject with icmp type admin-prohibited", "unreachable", "icmp-admin-prohibited", "192.168.50.1"),
    ("tcp dport 443 reject with icmp type host-prohibited", "unreachable", "icmp-host-prohibited", "192.168.50.1"),
    ("tcp dport 443 reject with icmp type port-unreachable", "refused", "icmp-port-unreachable", "192.168.50.1"),
    ("tcp dport 443 reject with icmp type net-unreachable", "no-route", "icmp-net-unreachable", "192.168.50.1"),
], ids=["open", "drop", "reset", "admin-prohibited", "host-prohibited", "port-unreachable", "net-unreachable"])
def test_dial_classifies_router_rules(rule: str, outcome: str, reason: str, offender: str | None) -> None:
    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        listen_in(lab, vpc, "10.20.1.10")
        if rule:
            lab.nft(router, forward_rule(rule))
        ev = dial_in(lab, node, "10.20.1.10")
    assert (ev["outcome"], ev["reason"], ev.get("offender")) == (outcome, reason, offender), ev


@pytest.mark.netns
@pytest.mark.parametrize(("route", "outcome", "reason"), [
    ("unreachable", "no-route", "local-unreachable-route"),  # nothing left this host: a local no-route
    ("prohibit", "no-route", "local-prohibit-route"),
    ("blackhole", "no-route", "local-blackhole-route"),
])
def test_dial_local_route_types_fail_synchronously(route: str, outcome: str, reason: str) -> None:
    with Lab() as lab:
        node, _router, _vpc = lab.hybrid()
        lab.run(node, ["ip", "route", "add", route, "10.20.1.0/24"])
        ev = dial_in(lab, node, "10.20.1.10")
    assert (ev["outcome"], ev["reason"]) == (outcome, reason), ev
    assert float(str(ev["seconds"])) < 1


@pytest.mark.netns
def test_dial_router_without_route_names_the_router() -> None:
    with Lab() as lab:
        node, _router, _vpc = lab.hybrid()
        ev = dial_in(lab, node, "198.18.0.1")
    assert (ev["outcome"], ev["reason"], ev.get("offender")) == ("no-route", "icmp-net-unreachable", "192.168.50.1")
