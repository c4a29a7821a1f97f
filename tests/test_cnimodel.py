"""The CNI model: per plugin × mode, the planned port set, severities and the CNI MTU advice."""

from __future__ import annotations

from typing import Any

import pytest

from netcheck.model import Severity, Status
from netcheck.net.pmtu import PmtuResult
from netcheck.settings import ConfigError, Settings, SiteProfile, Thresholds, profile_from_data
from probes import cnimodel, cniports, firewall, mtu

PEER = "192.168.50.11"

# (plugin, mode, wireguard) → (required cni.<peer>.* ids, advisory ids, overhead, pod IPs routed)
EXPECTED: dict[tuple[str, str, bool], tuple[set[str], set[str], int, bool]] = {
    ("cilium", "vxlan", False): ({"udp-8472"}, {"tcp-4240"}, 50, False),
    ("cilium", "vxlan", True): ({"udp-8472", "udp-51871"}, {"tcp-4240"}, 130, False),
    ("cilium", "geneve", False): ({"udp-6081"}, {"tcp-4240"}, 50, False),
    ("cilium", "geneve", True): ({"udp-6081", "udp-51871"}, {"tcp-4240"}, 130, False),
    ("cilium", "native", False): (set(), {"tcp-4240"}, 0, True),
    ("cilium", "native", True): ({"udp-51871"}, {"tcp-4240"}, 80, True),
    ("cilium", "bgp", False): (set(), {"tcp-4240"}, 0, True),  # BGP runs with the router, not the peers
    ("cilium", "bgp", True): ({"udp-51871"}, {"tcp-4240"}, 80, True),
    ("calico", "vxlan", False): ({"udp-4789", "tcp-5473"}, set(), 50, False),
    ("calico", "vxlan", True): ({"udp-4789", "tcp-5473", "udp-51820"}, set(), 60, False),
    ("calico", "ipip", False): ({"ipip", "tcp-179", "tcp-5473"}, set(), 20, False),
    ("calico", "ipip", True): ({"ipip", "tcp-179", "tcp-5473", "udp-51820"}, set(), 60, False),
    ("calico", "bgp", False): ({"tcp-179", "tcp-5473"}, set(), 0, True),
    ("calico", "bgp", True): ({"tcp-179", "tcp-5473", "udp-51820"}, set(), 60, True),
    ("calico", "native", False): ({"tcp-179", "tcp-5473"}, set(), 0, True),
    ("calico", "native", True): ({"tcp-179", "tcp-5473", "udp-51820"}, set(), 60, True),
}


def settings(cni: dict[str, Any], **spec: Any) -> Settings:
    base: dict[str, Any] = {"peers": [PEER], "cni": cni, "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"]}}
    base.update(spec)
    return Settings(SiteProfile.model_validate({"spec": base}), "test")


def test_every_combination_is_in_the_expected_table() -> None:
    assert {(p, m, wg) for p, m, wg, _ in cnimodel.table()} == set(EXPECTED)


@pytest.mark.parametrize(("plugin", "mode", "wg"), list(EXPECTED))
def test_planned_ports_per_plugin_and_mode(plugin: str, mode: str, wg: bool) -> None:
    required, advisory, overhead, routed = EXPECTED[(plugin, mode, wg)]
    s = settings({"plugin": plugin, "mode": mode, "wireguard": wg})
    checks = cniports.plan(s)
    got = {c.id.removeprefix(f"cni.{PEER}."): c.severity for c in checks}
    assert {k for k, v in got.items() if v is Severity.REQUIRED} == required
    assert {k for k, v in got.items() if v is Severity.ADVISORY} == advisory
    # The local firewall checks cover the same ports (plus BGP with the router for Cilium BGP).
    fw = {c.id.removeprefix("firewall.local."): c.severity for c in firewall.plan(s) if c.id != "firewall.local.tcp-10250"}
    router = {"tcp-179"} if (plugin, mode) == ("cilium", "bgp") else set()
    assert {k for k, v in fw.items() if v is Severity.REQUIRED} == required | router
    assert {k for k, v in fw.items() if v is Severity.ADVISORY} == advisory
    m = cnimodel.model(plugin, mode, wg)
    assert (m.overhead, m.routable_pods) == (overhead, routed)
    # mtu.cni advises path MTU − overhead, judged on the node-to-node path.
    (check,) = [c for c in mtu.plan(s) if c.id == "mtu.cni"]
    assert check.spec.peers == (PEER,)
    ev = mtu.Evidence((PmtuResult(target=PEER, method="icmp", reachable=True, path_mtu=1446, interface="eth0",
                                  interface_mtu=1500, ceiling=9001, probes=10),))
    out = mtu.evaluate(check.spec, ev, Thresholds())
    assert out.status is Status.WARN and out.measured == 1446 - overhead
    assert "node-to-node" in out.message and out.evidence["basis"] == "node-to-node"


def test_defaults_are_the_hybrid_nodes_defaults() -> None:
    assert cnimodel.for_settings(settings({"plugin": "cilium"})) == cnimodel.model("cilium", "vxlan", False)
    calico = cnimodel.for_settings(settings({"plugin": "calico"}))
    assert calico is not None and calico.mode == "vxlan" and calico.typha and not calico.wireguard
    no_typha = cniports.plan(settings({"plugin": "calico", "typha": False}))
    assert {c.id: c.severity for c in no_typha}[f"cni.{PEER}.tcp-5473"] is Severity.ADVISORY
    old = cnimodel.for_settings(settings({"plugin": "calico", "encapsulation": "ipip"}))
    assert old is not None and old.mode == "ipip"  # the older spelling still works


def test_mtu_cni_falls_back_to_the_vpc_path_and_says_so() -> None:
    s = settings({"plugin": "cilium"}, peers=[], cluster={"controlPlaneIps": ["10.20.1.10"]})
    (check,) = [c for c in mtu.plan(s) if c.id == "mtu.cni"]
    ev = mtu.Evidence((PmtuResult(target="10.20.1.10", method="icmp", reachable=True, path_mtu=1500,
                                  interface="eth0", interface_mtu=1500, ceiling=9001, probes=10),))
    out = mtu.evaluate(check.spec, ev, Thresholds())
    assert out.status is Status.PASS and out.measured == 1450 and "toward the VPC" in out.message


@pytest.mark.parametrize(("cni", "msg"), [({"plugin": "cilium", "mode": "ipip"}, "cilium has no mode 'ipip'"),
                                          ({"plugin": "calico", "mode": "geneve"}, "calico has no mode 'geneve'"),
                                          ({"plugin": "cilium", "typha": True}, "Calico only")])
def test_impossible_combinations_are_config_errors(cni: dict[str, Any], msg: str) -> None:
    with pytest.raises(ConfigError, match=msg) as err:
        profile_from_data({"spec": {"cni": cni}}, "site.yaml")
    assert err.value.field == "spec.cni"


def test_pod_routing_reason() -> None:
    need, why = cnimodel.pod_routing(settings({"plugin": "cilium"}))
    assert not need and "masquerades" in why
    need, why = cnimodel.pod_routing(settings({"plugin": "cilium"}, webhookPorts=[9443]))
    assert need and "9443" in why
    need, why = cnimodel.pod_routing(settings({"plugin": "calico", "mode": "bgp"}))
    assert need and "does not masquerade" in why
