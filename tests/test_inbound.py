"""Inbound probe: the real responder (`netcheck serve`) in the Lab's VPC namespace connects back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from netcheck.model import Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.runner import execute
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import inbound
from testbed.lab import NS, Lab
from tests.test_routing import in_netns

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "inbound-test-token"
POD_IP = "192.168.64.10"


def settings(responder: str | None = "10.20.1.10:7447", token: str | None = TOKEN, **inb: Any) -> Settings:
    spec: dict[str, Any] = {
        "vpc": {"cidrs": ["10.20.0.0/16"]}, "webhookPorts": [9443],
        "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["192.168.64.0/18"]},
        "inbound": {"listenTimeout": 2, **inb}}
    if responder:
        spec["responder"] = responder
    return Settings(profile=SiteProfile.model_validate({"spec": spec}), source="test", token=token)


def start_responder(lab: Lab, vpc: NS, *extra: str) -> None:
    lab.popen(vpc, [sys.executable, "-m", "netcheck", "serve", "--port", "7447", "--iperf-port", "0",
                    "--token", TOKEN, *extra], cwd=str(ROOT))
    lab.wait_port(vpc, "0.0.0.0", 7447, timeout=30)


def forward_rule(rule: str) -> str:
    return f"table inet t {{\n chain filt {{\n  type filter hook forward priority 0;\n  {rule}\n }}\n}}\n"


def run_in(ns: str, s: Settings) -> dict[str, Outcome]:
    with in_netns(ns):
        return {c.id: execute(c, Net(), Thresholds()) for c in inbound.plan(s)}


def test_plan_ids() -> None:
    assert [c.id for c in inbound.plan(settings())] == [
        "inbound.nat", "inbound.kubelet.tcp-10250", "inbound.webhook.tcp-9443", "inbound.pod-network"]


def test_without_responder_every_check_skips_with_the_serve_command() -> None:
    res = {c.id: execute(c, Net(), Thresholds()) for c in inbound.plan(settings(responder=None))}
    for cid in ("inbound.kubelet.tcp-10250", "inbound.webhook.tcp-9443"):
        assert res[cid].status is Status.SKIP and res[cid].skip_reason is SkipReason.NEEDS_PEER
        assert "netcheck serve --token" in (res[cid].remediation or "")


def test_pod_network_without_pod_address_skips_with_how_to_enable() -> None:
    check = inbound.plan(settings())[-1]
    out = execute(check, Net(), Thresholds())
    assert out.status is Status.SKIP and "spec.inbound.podAddress" in (out.remediation or "")


@pytest.mark.netns
def test_missing_return_route_to_pod_cidr_fails_pod_network_only() -> None:
    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        lab.run(node, ["ip", "addr", "add", f"{POD_IP}/32", "dev", "lo"])
        start_responder(lab, vpc)
        res = run_in(node.name, settings(podAddress=POD_IP))
        assert res["inbound.kubelet.tcp-10250"].status is Status.PASS, res["inbound.kubelet.tcp-10250"].message
        assert res["inbound.kubelet.tcp-10250"].evidence["listener"] == "temporary"
        assert res["inbound.webhook.tcp-9443"].status is Status.PASS
        pod = res["inbound.pod-network"]
        assert pod.status is Status.FAIL, pod.message
        assert "no route back to pod CIDR 192.168.64.0/18" in pod.message
        assert "192.168.64.0/18" in (pod.remediation or "")

        # The VPC side learns the route back: the pod address is reached.
        lab.run(router, ["ip", "route", "add", "192.168.64.0/18", "via", "192.168.50.10"])
        pod = run_in(node.name, settings(podAddress=POD_IP))["inbound.pod-network"]
        assert pod.status is Status.PASS, pod.message
        assert POD_IP in pod.evidence["accepted"] or pod.evidence["accepted"] == ["10.20.1.10"]

        # Routed back, but a firewall drops the webhook port toward the pods: filtered, not "no route".
        lab.nft(router, forward_rule(f"ip daddr {POD_IP} tcp dport 9443 drop"))
        pod = run_in(node.name, settings(podAddress=POD_IP))["inbound.pod-network"]
        assert pod.status is Status.FAIL and "filtered" in pod.message


@pytest.mark.netns
def test_kubelet_port_dropped_by_a_firewall_fails_and_passes_when_open() -> None:
    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        start_responder(lab, vpc)
        lab.nft(router, forward_rule("tcp dport 10250 drop"))
        res = run_in(node.name, settings())
        kub = res["inbound.kubelet.tcp-10250"]
        assert kub.status is Status.FAIL, kub.message
        assert kub.measured == "timeout (filtered)" and "10250" in (kub.remediation or "")
        assert res["inbound.webhook.tcp-9443"].status is Status.PASS
        lab.run(router, ["nft", "delete", "table", "inet", "t"])
        lab.nft(router, forward_rule("tcp dport 10250 reject with tcp reset"))
        kub = run_in(node.name, settings())["inbound.kubelet.tcp-10250"]
        assert kub.status is Status.FAIL and kub.measured == "refused (rst)"
        lab.run(router, ["nft", "delete", "table", "inet", "t"])
        kub = run_in(node.name, settings())["inbound.kubelet.tcp-10250"]
        assert kub.status is Status.PASS, kub.message


@pytest.mark.netns
def test_existing_listener_is_used_and_wrong_token_skips() -> None:
    with Lab() as lab:
        node, _router, vpc = lab.hybrid()
        start_responder(lab, vpc)
        lab.popen(node, [sys.executable, "-c", "import socket,time; s=socket.socket(); "
                         "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 10250)); "
                         "s.listen(); time.sleep(60)"])
        lab.wait_port(node, "0.0.0.0", 10250)
        res = run_in(node.name, settings())
        kub = res["inbound.kubelet.tcp-10250"]
        assert kub.status is Status.PASS and kub.evidence["listener"] == "existing"
        bad = run_in(node.name, settings(token="wrong"))["inbound.kubelet.tcp-10250"]
        assert bad.status is Status.SKIP and "token" in bad.message


def nat_evidence(seen: str | None, local: str = "192.168.50.10", control: str = "connected") -> inbound.Evidence:
    reply = {"ok": True, "version": "0.1.0", "clientAddr": seen} if seen else {"ok": True}
    return inbound.Evidence("none", {"control": control, "controlReason": "handshake", "reply": reply,
                                     "source": local}, node_address=local)


def test_nat_is_named_when_the_responder_sees_another_address() -> None:
    spec = next(c.spec for c in inbound.plan(settings()) if c.id == "inbound.nat")
    out = inbound.evaluate(spec, nat_evidence("10.20.0.1"), Thresholds())
    assert out.status is Status.FAIL
    assert out.message.startswith("The VPC sees this node as 10.20.0.1, not 192.168.50.10: NAT between the site and "
                                  "the VPC")
    assert "remove" in (out.remediation or "").lower() or "Remove" in (out.remediation or "")
    assert out.evidence["seenAs"] == "10.20.0.1" and out.evidence["nodeAddress"] == "192.168.50.10"
    assert inbound.evaluate(spec, nat_evidence("192.168.50.10"), Thresholds()).status is Status.PASS
    assert inbound.evaluate(spec, nat_evidence(None), Thresholds()).status is Status.ERROR  # an old responder
    skipped = inbound.evaluate(spec, nat_evidence(None, control="timeout"), Thresholds())
    assert skipped.status is Status.SKIP and skipped.skip_reason is SkipReason.NEEDS_PEER


def test_connect_back_to_a_translated_address_says_nat_not_firewall() -> None:
    spec = next(c.spec for c in inbound.plan(settings()) if c.id == "inbound.kubelet.tcp-10250")
    ev = inbound.Evidence("temporary", {"control": "connected", "controlReason": "handshake", "source": "192.168.50.10",
                                        "reply": {"ok": True, "outcome": "refused", "reason": "rst", "seconds": 0.001,
                                                  "target": "10.20.0.1:10250", "source": "10.20.1.10"}})
    out = inbound.evaluate(spec, ev, Thresholds())
    assert out.status is Status.FAIL and "NAT" in out.message and "firewall" not in out.message
    assert (out.remediation or "").startswith("Fix inbound.nat first")
