"""CNI ports between nodes: TCP dials and UDP echo against a peer namespace running `netcheck serve`."""

from __future__ import annotations

from typing import Any

import pytest

from netcheck.model import Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.runner import execute
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import cniports
from testbed.lab import Lab
from tests.test_inbound import TOKEN, forward_rule, start_responder
from tests.test_routing import in_netns

PEER = "10.20.1.10"  # the Lab's far namespace plays the peer node


def settings(plugin: str = "cilium", **spec: Any) -> Settings:
    base: dict[str, Any] = {"peers": [PEER], "cni": {"plugin": plugin}}
    base.update(spec)
    # the token: the peer's hello lists the UDP ports it echoes only to a client that has it
    return Settings(profile=SiteProfile.model_validate({"spec": base}), source="test", token=TOKEN)


def run_in(ns: str, s: Settings) -> dict[str, Outcome]:
    with in_netns(ns):
        return {c.id: execute(c, Net(), Thresholds()) for c in cniports.plan(s)}


def test_plan_per_plugin() -> None:
    assert [c.id for c in cniports.plan(settings())] == [f"cni.{PEER}.udp-8472", f"cni.{PEER}.tcp-4240"]
    assert [c.id for c in cniports.plan(settings("calico"))] == [f"cni.{PEER}.udp-4789", f"cni.{PEER}.tcp-5473"]
    assert [c.id for c in cniports.plan(settings("calico", cni={"plugin": "calico", "mode": "ipip"}))] == [
        f"cni.{PEER}.ipip", f"cni.{PEER}.tcp-179", f"cni.{PEER}.tcp-5473"]
    assert cniports.plan(settings("none")) == []


@pytest.mark.netns
def test_cilium_ports_with_and_without_serve_on_the_peer() -> None:
    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        res = run_in(node.name, settings())
        udp, tcp = res[f"cni.{PEER}.udp-8472"], res[f"cni.{PEER}.tcp-4240"]
        assert udp.status is Status.SKIP and udp.skip_reason is SkipReason.NEEDS_PEER
        assert "netcheck serve --token <TOKEN> --extra-udp 8472" in (udp.remediation or "")
        assert tcp.status is Status.WARN and tcp.measured == "refused (reset)"

        start_responder(lab, vpc, "--extra-udp", "8472", "--extra-tcp", "4240")
        res = run_in(node.name, settings())
        assert {cid: o.status for cid, o in res.items()} == {f"cni.{PEER}.udp-8472": Status.PASS,
                                                             f"cni.{PEER}.tcp-4240": Status.PASS}

        lab.nft(router, forward_rule("tcp dport 4240 drop\n  udp dport 8472 drop"))
        res = run_in(node.name, settings())
        tcp = res[f"cni.{PEER}.tcp-4240"]
        assert tcp.status is Status.FAIL and tcp.measured == "timeout (filtered)"
        udp = res[f"cni.{PEER}.udp-8472"]
        # The peer's responder says it echoes 8472, so silence means a firewall drops it.
        assert udp.status is Status.FAIL and udp.measured == "timeout (filtered)", udp.message
        assert udp.evidence["peerResponder"]["control"] == "connected"

        lab.run(router, ["nft", "flush", "ruleset"])
        lab.nft(router, forward_rule("udp dport 8472 reject with icmp type admin-prohibited"))
        udp = run_in(node.name, settings())[f"cni.{PEER}.udp-8472"]
        assert udp.status is Status.FAIL and "192.168.50.1" in udp.message, udp.message


def test_udp_filtered_when_the_peer_says_it_echoes_that_port() -> None:
    spec = cniports.Spec(PEER, "udp", 8472, "Cilium VXLAN")
    ev = cniports.Evidence({"ip": PEER, "port": 8472, "outcome": "timeout", "reason": "no-echo", "sent": 3,
                            "received": 0, "seconds": 3.0},
                           {"control": "connected", "reply": {"ok": True, "udpPorts": [7447, 8472]}})
    out = cniports.evaluate(spec, ev, Thresholds())
    assert out.status is Status.FAIL and "filtered" in out.message


# --- judged on any answer (issue 16) ----------------------------------------------------------

def _lossy_echo(sock: Any, lose: int, stop: Any) -> None:
    """Echo UDP datagrams on `sock` after ignoring the first `lose` (a lossy path)."""
    seen = 0
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(2048)
        except TimeoutError:
            continue
        seen += 1
        if seen > lose:
            sock.sendto(data, peer)


def test_udp_echo_after_lost_probes_passes_with_a_note() -> None:
    import socket
    import threading

    from netcheck.net.listen import udp_echo

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:
        srv.bind(("127.0.0.1", 0))
        stop = threading.Event()
        t = threading.Thread(target=_lossy_echo, args=(srv, 2, stop), daemon=True)
        t.start()
        try:
            echo = udp_echo("127.0.0.1", srv.getsockname()[1], count=5, timeout=3.0)
        finally:
            stop.set()
            t.join(2)
    assert echo.outcome == "connected" and (echo.echoed, echo.lost) == (2, 2) and echo.sent in (3, 4)
    assert 0.9 < echo.seconds < 2.5  # probes every 0.5 s; the third is echoed at once
    spec = cniports.Spec("127.0.0.1", "udp", 8472, "Cilium VXLAN")
    out = cniports.evaluate(spec, cniports.Evidence(echo.to_evidence()), Thresholds())
    assert out.status is Status.PASS and "2 of the 3 probes sent until then got no echo" in out.message
    assert out.evidence["lost"] == 2 and out.evidence["echoedProbe"] == 3


def test_udp_silent_peer_with_nothing_coming_back_is_a_path_problem() -> None:
    spec = cniports.Spec(PEER, "udp", 8472, "Cilium VXLAN")
    ev = cniports.Evidence({"ip": PEER, "port": 8472, "outcome": "timeout", "reason": "no-echo", "sent": 5,
                            "received": 0, "seconds": 3.0, "lost": 5},
                           {"control": "timeout", "controlReason": "no-answer"},
                           {"ip": PEER, "alive": False, "down": True, "summary": "ICMP echo lost"})
    out = cniports.evaluate(spec, ev, Thresholds())
    assert out.status is Status.FAIL and out.measured == "path down"
    assert "not a CNI port one" in out.message and "5 probes" in out.message
