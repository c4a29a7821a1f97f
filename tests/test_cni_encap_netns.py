"""Per encapsulation the kernel offers: the CNI checks PASS when the way is open, FAIL when nftables drops it.

Node 192.168.50.10 — router — peer 10.20.1.10 (testbed Lab.hybrid). The peer runs
`netcheck serve` echoing the encapsulation's UDP port; IP-in-IP needs no echo service.
"""

from __future__ import annotations

from typing import Any

import pytest

from netcheck.model import Outcome, Status
from netcheck.net import Net
from netcheck.runner import execute
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import cniports, firewall
from testbed.lab import Lab
from tests.test_inbound import TOKEN, forward_rule, start_responder
from tests.test_routing import in_netns

PEER = "10.20.1.10"

# encapsulation → (cni profile, check suffix, `ip link add … type` arguments proving the kernel offers it)
ENCAPS: dict[str, tuple[dict[str, Any], str, list[str]]] = {
    "cilium-vxlan": ({"plugin": "cilium", "mode": "vxlan"}, "udp-8472", ["vxlan", "id", "42", "dstport", "8472"]),
    "calico-vxlan": ({"plugin": "calico", "mode": "vxlan"}, "udp-4789", ["vxlan", "id", "42", "dstport", "4789"]),
    "cilium-geneve": ({"plugin": "cilium", "mode": "geneve"}, "udp-6081",
                      ["geneve", "id", "42", "remote", "10.9.9.9"]),
    "calico-ipip": ({"plugin": "calico", "mode": "ipip"}, "ipip", ["ipip", "remote", "10.9.9.9", "local", "10.9.9.8"]),
}
DROP = {"udp-8472": "udp dport 8472 drop", "udp-4789": "udp dport 4789 drop", "udp-6081": "udp dport 6081 drop",
        "ipip": "ip protocol 4 drop"}


def kernel_offers(lab: Lab, kind: list[str]) -> bool:
    ns = lab.ns("probe")
    done = lab.run(ns, ["ip", "link", "add", "enc0", "type", *kind], check=False)
    return done.returncode == 0


def settings(cni: dict[str, Any]) -> Settings:
    return Settings(SiteProfile.model_validate({"spec": {
        "peers": [PEER], "cni": cni, "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"]}}}), "test",
        token=TOKEN)  # the peer's hello lists the UDP ports it echoes only to a client with the token


def run(ns: str, s: Settings, cid: str) -> Outcome:
    with in_netns(ns):
        (check,) = [c for c in cniports.plan(s) + firewall.plan(s) if c.id == cid]
        return execute(check, Net(), Thresholds())


def input_drop(rule: str) -> str:
    return f"table inet f {{\n chain input {{\n  type filter hook input priority 0;\n  {rule}\n }}\n}}\n"


@pytest.mark.netns
@pytest.mark.parametrize("encap", list(ENCAPS))
def test_cni_checks_per_encapsulation(encap: str) -> None:
    cni, suffix, kind = ENCAPS[encap]
    s = settings(cni)
    peer_id, local_id = f"cni.{PEER}.{suffix}", f"firewall.local.{suffix}"
    with Lab() as lab:
        # The UDP port checks are plain datagrams and run whatever the kernel offers; the IP-in-IP PASS
        # needs a peer kernel that decapsulates (tunl0).
        if suffix == "ipip" and not kernel_offers(lab, kind):
            pytest.skip(f"this kernel offers no {kind[0]} devices (ip link add type {kind[0]} fails)")
        node, router, peer = lab.hybrid()
        if suffix == "ipip":
            lab.run(peer, ["ip", "link", "set", "tunl0", "up"])  # what Calico does: decapsulate IP-in-IP
        else:
            start_responder(lab, peer, "--extra-udp", suffix.split("-")[1])

        # Open: the peer check and the node's own firewall both pass.
        out = run(node.name, s, peer_id)
        assert out.status is Status.PASS, out.message
        assert run(node.name, s, local_id).status is Status.PASS

        # A firewall on the path drops the encapsulation: FAIL, filtered.
        lab.nft(router, forward_rule(DROP[suffix]))
        out = run(node.name, s, peer_id)
        assert out.status is Status.FAIL and out.measured == "timeout (filtered)", out.message

        # The node's own nftables input chain drops it: the local check FAILs before anything is sent.
        lab.nft(node, input_drop(DROP[suffix]))
        local = run(node.name, s, local_id)
        assert local.status is Status.FAIL and "drop" in local.message, local.message


@pytest.mark.netns
def test_ipip_reaches_a_peer_without_a_tunnel_and_is_filtered_by_nft() -> None:
    """Without an IP-in-IP endpoint the peer answers 'protocol unreachable': protocol 4 got there (WARN)."""
    s = settings({"plugin": "calico", "mode": "ipip"})
    with Lab() as lab:
        node, router, peer = lab.hybrid()
        if kernel_offers(lab, ENCAPS["calico-ipip"][2]):
            lab.run(peer, ["ip", "link", "set", "tunl0", "down"])
        out = run(node.name, s, f"cni.{PEER}.ipip")
        assert out.status is Status.WARN and out.measured in ("refused (protocol-unreachable)",
                                                               "refused (port-unreachable)"), out.message
        assert out.evidence["offender"] == PEER
        lab.nft(router, forward_rule("ip protocol 4 drop"))
        out = run(node.name, s, f"cni.{PEER}.ipip")
        assert out.status is Status.FAIL and out.measured == "timeout (filtered)", out.message
        assert out.evidence["peer_pings"] is True
        lab.run(router, ["nft", "flush", "ruleset"])
        lab.nft(router, forward_rule("ip protocol 4 reject with icmp type admin-prohibited"))
        out = run(node.name, s, f"cni.{PEER}.ipip")
        assert out.status is Status.FAIL and "192.168.50.1" in out.message, out.message
        # The node's own ruleset: protocol 4 admitted, then dropped (nft shows it as 'ipencap').
        assert run(node.name, s, "firewall.local.ipip").status is Status.PASS
        lab.nft(node, input_drop("meta l4proto ipencap drop"))
        local = run(node.name, s, "firewall.local.ipip")
        assert local.status is Status.FAIL and "IP protocol 4" in local.message, local.message



@pytest.mark.netns
@pytest.mark.parametrize(("cni", "advice"), [({"plugin": "cilium"}, 1350), ({"plugin": "calico", "mode": "ipip"}, 1380),
                                             ({"plugin": "cilium", "mode": "vxlan", "wireguard": True}, 1270)])
def test_mtu_cni_measures_the_node_to_node_path(cni: dict[str, Any], advice: int) -> None:
    """A 1400-byte hop toward the peer: mtu.cni advises 1400 − the mode's overhead, judged on the node-to-node path."""
    from probes import mtu
    from testbed.delay import flush_pmtu, limit_mtu

    with Lab("mtu") as lab:
        node, router, _peer = lab.hybrid()
        limit_mtu(lab, router, 1400)
        flush_pmtu(lab, node)
        s = settings(cni)
        (check,) = [c for c in mtu.plan(s) if c.id == "mtu.cni"]
        with in_netns(node.name):
            out = execute(check, Net(), Thresholds())
        assert out.status is Status.WARN and out.measured == advice, out.message
        assert out.evidence["basis"] == "node-to-node" and out.evidence["paths"] == {PEER: 1400}
        assert "node-to-node path" in out.message
