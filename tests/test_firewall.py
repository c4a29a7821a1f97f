"""Local firewall probe: nftables rules in a Lab namespace are judged before any packet is sent."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from netcheck.model import Outcome, Status
from netcheck.net import Net
from netcheck.net.nft import Ruleset, parse_iptables_save
from netcheck.runner import execute
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import firewall
from probes.firewall import Packet, decide
from testbed.lab import Lab
from tests.test_routing import in_netns

IDS = {"firewall.local.tcp-10250", "firewall.local.tcp-9443", "firewall.local.udp-8472", "firewall.local.tcp-4240"}


def settings(**spec: Any) -> Settings:
    base: dict[str, Any] = {"cluster": {"controlPlaneIps": ["10.20.1.10"]}, "vpc": {"cidrs": ["10.20.0.0/16"]},
                            "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"]}, "peers": ["192.168.50.11"],
                            "webhookPorts": [9443]}
    base.update(spec)
    return Settings(profile=SiteProfile.model_validate({"spec": base}), source="test")


def run_in(ns: str, s: Settings) -> dict[str, Outcome]:
    with in_netns(ns):
        return {c.id: execute(c, Net(), Thresholds()) for c in firewall.plan(s)}


def test_plan_ids_follow_the_cni() -> None:
    assert {c.id for c in firewall.plan(settings())} == IDS
    calico = {c.id for c in firewall.plan(settings(cni={"plugin": "calico"}))}
    assert calico == {"firewall.local.tcp-10250", "firewall.local.tcp-9443",  # Calico VXLAN: no BGP
                      "firewall.local.udp-4789", "firewall.local.tcp-5473"}


@pytest.mark.netns
def test_nft_drop_of_10250_is_reported_before_any_packet_is_sent() -> None:
    with Lab() as lab:
        node, _router, _vpc = lab.hybrid()
        lab.nft(node, "table inet filter {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
                      "  ct state established,related accept\n  iifname \"lo\" accept\n"
                      "  tcp dport 10250 counter drop\n }\n}\n")
        res = run_in(node.name, settings())
        kub = res["firewall.local.tcp-10250"]
        assert kub.status is Status.FAIL, kub.message
        assert "tcp dport 10250 counter drop" in kub.message and "inet filter input" in kub.message
        assert "nft insert rule inet filter input" in (kub.remediation or "")
        assert {cid for cid, o in res.items() if o.status is Status.PASS} == IDS - {"firewall.local.tcp-10250"}
        # The verdict came from the ruleset alone: the drop rule has matched nothing.
        listing = lab.run(node, ["nft", "list", "ruleset"]).stdout
        assert re.search(r"tcp dport 10250 counter packets 0 bytes 0 drop", listing), listing


@pytest.mark.netns
def test_policy_drop_source_sets_and_uncertain_rules() -> None:
    with Lab() as lab:
        node, _router, _vpc = lab.hybrid()
        lab.nft(node, "table ip f {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
                      "  meta mark 0x1 accept\n  ip saddr 10.0.0.0/8 tcp dport { 10250, 9443 } accept\n"
                      "  ip saddr 192.168.50.0/24 jump peers\n }\n chain peers {\n  udp dport 8472 accept\n }\n}\n")
        res = run_in(node.name, settings())
        assert res["firewall.local.tcp-10250"].status is Status.PASS  # every VPC source is inside 10.0.0.0/8
        assert res["firewall.local.udp-8472"].status is Status.PASS  # peers jump to a chain that accepts
        health = res["firewall.local.tcp-4240"]
        assert health.status is Status.WARN, health.message  # only the unknown mark rule could accept it
        assert "policy drop" in health.message and "mark" in json.dumps(health.evidence)


def test_iptables_save_fallback() -> None:
    text = """*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:KUBE ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 10.20.0.0/16 -p tcp -m multiport --dports 10250,9443 -j ACCEPT
-A INPUT -j KUBE
-A KUBE -p udp --dport 8472 -j REJECT --reject-with icmp-port-unreachable
COMMIT
"""
    rs = Ruleset("iptables", parse_iptables_save(text))
    assert not decide(rs, Packet("tcp", 10250, ("10.20.0.0/16",))).worst.blocked
    udp = decide(rs, Packet("udp", 8472, ("192.168.50.0/24",)))
    assert udp.sure and udp.worst.blocked and "8472" in udp.worst.by
    assert decide(rs, Packet("tcp", 4240, ("192.168.50.0/24",))).worst.by == "ip filter INPUT: policy drop"


def test_evaluate_remediation_follows_firewalld_and_ufw() -> None:
    spec = firewall.plan(settings(phase="joined"))[0].spec
    doc = {"source": "nftables", "firewalld": "running", "ufw": None, "chains": [
        {"family": "inet", "table": "firewalld", "name": "filter_INPUT", "hook": "input", "priority": 10,
         "policy": "drop", "type": "filter", "rules": []}]}
    out = firewall.evaluate(spec, firewall.Evidence(doc), Thresholds())
    assert out.status is Status.FAIL and "firewall-cmd --permanent --add-port=10250/tcp" in (out.remediation or "")
    doc["firewalld"], doc["ufw"] = None, "active"
    out = firewall.evaluate(spec, firewall.Evidence(doc), Thresholds())
    assert "ufw allow proto tcp from 10.20.0.0/16 to any port 10250" in (out.remediation or "")


FIREWALLD_DENY = {"source": "nftables", "firewalld": "running", "ufw": None, "chains": [
    {"family": "inet", "table": "firewalld", "name": "filter_INPUT", "hook": "input", "priority": 10,
     "policy": "drop", "type": "filter", "rules": []}]}
UFW_DENY = {"source": "iptables", "firewalld": None, "ufw": "active", "chains": [
    {"family": "ip", "table": "filter", "name": "INPUT", "hook": "input", "priority": 0, "policy": "drop",
     "type": "filter", "rules": [{"text": "-A INPUT -j ufw-before-input", "matches": [],
                                  "verdict": "jump:ufw-before-input"}]},
    {"family": "ip", "table": "filter", "name": "ufw-before-input", "hook": None, "priority": 0,
     "policy": "accept", "type": "filter", "rules": []}]}


@pytest.mark.parametrize("doc", [FIREWALLD_DENY, UFW_DENY], ids=["firewalld", "ufw"])
def test_pre_join_ports_nodeadm_opens_are_not_failed_for_the_front_end(doc: dict[str, Any]) -> None:
    """nodeadm init opens 10250/tcp in an active ufw/firewalld; webhook ports it does not open."""
    plan = {c.id: c for c in firewall.plan(settings(phase="pre-join"))}
    kubelet = firewall.evaluate(plan["firewall.local.tcp-10250"].spec, firewall.Evidence(doc), Thresholds())
    assert kubelet.status is Status.PASS, kubelet.message
    assert "nodeadm init opens 10250/tcp" in kubelet.message and kubelet.evidence["frontEnd"] in kubelet.message
    webhook = firewall.evaluate(plan["firewall.local.tcp-9443"].spec, firewall.Evidence(doc), Thresholds())
    assert webhook.status is Status.FAIL, webhook.message
    assert plan["firewall.local.tcp-10250"].phases and not plan["firewall.local.tcp-9443"].phases
    joined = {c.id: c for c in firewall.plan(settings(phase="joined"))}
    assert firewall.evaluate(joined["firewall.local.tcp-10250"].spec, firewall.Evidence(doc),
                             Thresholds()).status is Status.FAIL


def test_pre_join_raw_nftables_drop_of_10250_still_fails() -> None:
    """A raw nftables rule is not ufw's: nodeadm does not touch it, so it fails in both phases."""
    doc = {"source": "nftables", "firewalld": None, "ufw": "active", "chains": [
        {"family": "inet", "table": "filter", "name": "input", "hook": "input", "priority": 0, "policy": "accept",
         "type": "filter", "rules": [{"text": "tcp dport 10250 drop", "verdict": "drop", "matches": [
             {"field": "dport", "op": "==", "values": [[10250, 10250]], "proto": "tcp"}]}]}]}
    spec = next(c.spec for c in firewall.plan(settings(phase="pre-join")) if c.id == "firewall.local.tcp-10250")
    out = firewall.evaluate(spec, firewall.Evidence(doc), Thresholds())
    assert out.status is Status.FAIL and "tcp dport 10250 drop" in out.message
