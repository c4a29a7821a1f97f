"""Address-plan rules (probes/cidr.py): each fixture is named for its verdict and fails exactly its ids."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from netcheck.model import Status
from netcheck.net import Net
from netcheck.net.host import DefaultRoute
from netcheck.net.local import LocalPrefix
from netcheck.net.routes import RouteLookup
from netcheck.settings import Settings, Thresholds, profile_from_data
from probes import cidr
from testbed.lab import Lab
from tests.conftest import validate_report

REPO = Path(__file__).resolve().parents[1]
BASE: dict[str, Any] = {
    "cluster": {"serviceCidr": "172.20.0.0/16"},
    "vpc": {"cidrs": ["10.20.0.0/16"]},
    "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["192.168.64.0/18"]},
}
# The real CLI with only the cidr probe planned, so other probes' state cannot disturb this test.
CIDR_ONLY = ("import sys; import probes; probes.available = lambda: ['cidr']; sys.argv[0] = 'netcheck'; "
             "from netcheck.cli import main; main()")
DOCKER = LocalPrefix("172.17.0.0/16", "address", "docker0")


class FakeNet:
    """This host as the cidr probe sees it: its prefixes, links, and one interface eth0 holding `source`,
    which carries both the default route and the route toward the VPC (None: no routes at all)."""

    def __init__(self, local: tuple[LocalPrefix, ...] = (), source: str | None = "192.168.50.10",
                 links: tuple[str, ...] = ("lo", "eth0")) -> None:
        self.local, self.source, self.links = local, source, links

    def local_prefixes(self) -> tuple[LocalPrefix, ...]:
        return self.local

    def source_for(self, ip: str) -> str | None:
        return self.source

    def route_lookup(self, dst: str, src: str | None = None) -> RouteLookup:
        if self.source is None:
            return RouteLookup(dst, "no-route")
        return RouteLookup(dst, "unicast", 254, "0.0.0.0/0", interface="eth0", gateway="192.0.2.1",
                           source=self.source)

    def default_route(self) -> DefaultRoute | None:
        return None if self.source is None else DefaultRoute("eth0", "192.0.2.1", self.source, (self.source,))

    def link_names(self) -> list[str]:
        return list(self.links)

    def lookup_host(self, name: str) -> tuple[str, ...]:
        return ()


def settings(**spec: Any) -> Settings:
    """BASE merged one level deep with `spec`; a key set to None is removed."""
    merged: dict[str, Any] = {k: dict(v) for k, v in BASE.items()}
    for key, value in spec.items():
        if isinstance(value, dict) and key in merged:
            merged[key].update(value)
            merged[key] = {k: v for k, v in merged[key].items() if v is not None}
        else:
            merged[key] = value
    return Settings(profile_from_data({"apiVersion": "netcheck/v1", "kind": "SiteProfile", "spec": merged}, "test"),
                    "test")


def outcomes(s: Settings, net: FakeNet | None = None) -> dict[str, Any]:
    """plan → collect → evaluate for every cidr check."""
    fake = cast(Net, net or FakeNet())
    return {c.id: cidr.evaluate(c.spec, cidr.collect(c.spec, fake), Thresholds()) for c in cidr.plan(s)}


def ids(res: dict[str, Any], status: Status) -> set[str]:
    return {cid for cid, o in res.items() if o.status is status}


# name → (settings, fake net, failing ids, warning ids)
FIXTURES: dict[str, tuple[Settings, FakeNet, set[str], set[str]]] = {
    "pass": (settings(), FakeNet(), set(), set()),
    "fail-pod-overlaps-vpc": (settings(remoteNetwork={"podCidrs": ["10.20.128.0/18"]}), FakeNet(),
                              {"cidr.overlap.pod-vpc"}, set()),
    "fail-node-overlaps-vpc": (settings(remoteNetwork={"nodeCidrs": ["10.20.50.0/24"]}, node={"ip": "10.20.50.10"}),
                               FakeNet(source="10.20.50.10"), {"cidr.overlap.node-vpc"}, set()),
    "fail-node-public": (settings(remoteNetwork={"nodeCidrs": ["203.0.113.0/24"]}, node={"ip": "203.0.113.10"}),
                         FakeNet(source="203.0.113.10"), {"cidr.node.rfc1918"}, set()),
    "fail-pod-cgnat": (settings(remoteNetwork={"podCidrs": ["100.64.0.0/16"]}), FakeNet(), {"cidr.pod.rfc1918"}, set()),
    # A /7 can never lie inside RFC 1918 (its largest block is a /8), so it fails both rules.
    "fail-pod-slash7": (settings(remoteNetwork={"podCidrs": ["12.0.0.0/7"]}), FakeNet(),
                        {"cidr.pod.prefix-length", "cidr.pod.rfc1918"}, set()),
    "fail-node-service-overlap": (settings(remoteNetwork={"nodeCidrs": ["172.20.5.0/24"]}, node={"ip": "172.20.5.10"}),
                                  FakeNet(source="172.20.5.10"), {"cidr.overlap.node-service"}, set()),
    "fail-pod-service-overlap": (settings(remoteNetwork={"podCidrs": ["172.20.128.0/18"]}), FakeNet(),
                                 {"cidr.overlap.pod-service"}, set()),
    "fail-node-pod-overlap": (settings(remoteNetwork={"podCidrs": ["192.168.50.128/25"]}), FakeNet(),
                              {"cidr.overlap.node-pod"}, set()),
    "fail-pods-overlap-each-other": (settings(remoteNetwork={"podCidrs": ["192.168.64.0/18", "192.168.96.0/19"]}),
                                     FakeNet(), {"cidr.overlap.pods"}, set()),
    "fail-nodes-overlap-each-other": (settings(remoteNetwork={"nodeCidrs": ["192.168.50.0/24", "192.168.50.0/25"]}),
                                      FakeNet(), {"cidr.overlap.nodes"}, set()),
    "fail-node-ip-outside-configured": (settings(node={"ip": "192.168.60.5"}), FakeNet(),
                                        {"cidr.node-ip.in-node-cidr"}, set()),
    "fail-node-ip-outside-routed": (settings(), FakeNet(source="192.168.60.5"), {"cidr.node-ip.in-node-cidr"}, set()),
    "fail-no-route-toward-vpc": (settings(), FakeNet(source=None), {"cidr.node-ip.in-node-cidr"}, set()),
    "fail-service-public": (settings(cluster={"serviceCidr": "203.0.112.0/22"}), FakeNet(),
                            {"cidr.service.range"}, set()),
    "fail-service-too-small": (settings(cluster={"serviceCidr": "172.20.0.0/25"}), FakeNet(),
                               {"cidr.service.range"}, set()),
    "fail-service-in-vpc": (settings(cluster={"serviceCidr": "10.20.0.0/20"}), FakeNet(), {"cidr.service.range"}, set()),
    "fail-unknown-service-pods-in-172-20": (
        settings(cluster={"serviceCidr": None}, remoteNetwork={"podCidrs": ["172.20.0.0/16"]}), FakeNet(),
        {"cidr.overlap.pod-service"}, set()),
    "warn-unknown-service-pods-in-10-100": (
        settings(cluster={"serviceCidr": None}, remoteNetwork={"podCidrs": ["10.100.0.0/16"]}), FakeNet(),
        set(), {"cidr.overlap.pod-service"}),
    "fail-host-collision": (settings(remoteNetwork={"podCidrs": ["172.17.0.0/16"]}), FakeNet(local=(DOCKER,)),
                            {"cidr.pod.host-collision"}, set()),
    "pass-host-prefixes-elsewhere": (settings(), FakeNet(local=(DOCKER, LocalPrefix("192.168.50.0/24", "address", "eth0"))),
                                     set(), set()),
}


@pytest.mark.parametrize("name", list(FIXTURES))
def test_address_plan_fails_exactly(name: str) -> None:
    s, net, failing, warning = FIXTURES[name]
    res = outcomes(s, net)
    assert ids(res, Status.FAIL) == failing
    assert ids(res, Status.WARN) == warning
    assert ids(res, Status.ERROR) == set()
    for cid in failing | warning:
        o = res[cid]
        assert o.remediation, f"{cid} has no remediation"
        assert o.measured is not None and o.threshold is not None, cid
        assert o.message.endswith("."), cid


def test_unknown_service_cidr_names_the_predicted_default() -> None:
    s, net, _, _ = FIXTURES["fail-unknown-service-pods-in-172-20"]
    res = outcomes(s, net)
    assert "cidr.service.range" not in res  # nothing to check when it is unknown
    o = res["cidr.overlap.pod-service"]
    assert "172.20.0.0/16" in o.message
    assert o.evidence["predictedServiceCidr"] == "172.20.0.0/16"
    warn = outcomes(*FIXTURES["warn-unknown-service-pods-in-10-100"][:2])["cidr.overlap.pod-service"]
    assert "10.100.0.0/16" in warn.message and "172.20.0.0/16" in warn.message


def test_messages_carry_the_real_values() -> None:
    res = outcomes(*FIXTURES["fail-pod-overlaps-vpc"][:2])
    assert "10.20.128.0/18" in res["cidr.overlap.pod-vpc"].message
    assert "10.20.0.0/16" in res["cidr.overlap.pod-vpc"].message
    col = outcomes(*FIXTURES["fail-host-collision"][:2])["cidr.pod.host-collision"]
    assert "docker0" in col.message and "172.17.0.0/16" in col.message
    size = outcomes(*FIXTURES["fail-pod-slash7"][:2])["cidr.pod.prefix-length"]
    assert size.measured == "/7" and "12.0.0.0/8" in (size.remediation or "")


def test_no_pod_cidrs_skips_pod_rules_as_not_applicable() -> None:
    res = outcomes(settings(remoteNetwork={"podCidrs": []}))
    skipped = ids(res, Status.SKIP)
    assert {"cidr.pod.rfc1918", "cidr.pod.prefix-length", "cidr.pod.host-collision", "cidr.overlap.pod-vpc",
            "cidr.overlap.node-pod", "cidr.overlap.pods"} <= skipped
    assert all(res[c].skip_reason.value == "not-applicable" for c in skipped)
    assert ids(res, Status.FAIL) == set()


def test_predicted_service_cidr() -> None:
    assert cidr.predicted_service_cidr(("10.20.0.0/16",)) == "172.20.0.0/16"
    assert cidr.predicted_service_cidr(("192.168.0.0/16", "10.0.0.0/8")) == "172.20.0.0/16"
    assert cidr.predicted_service_cidr(("172.31.0.0/16",)) == "10.100.0.0/16"


@pytest.mark.parametrize(("groups", "pairs", "count"), [
    ({"a": ("10.0.0.0/24",), "b": ("10.0.1.0/24",)}, {("a", "b")}, 0),  # adjacent, not overlapping
    ({"a": ("10.0.0.0/16",), "b": ("10.0.200.0/24",)}, {("a", "b")}, 1),  # nested
    ({"a": ("10.0.0.0/24", "10.0.0.0/24")}, {("a", "a")}, 1),  # duplicate
    ({"a": ("10.0.0.0/8",), "b": ("10.1.0.0/16", "10.2.0.0/16", "11.0.0.0/8")}, {("a", "b")}, 2),
    ({"a": ("10.0.0.0/8",), "b": ("::a00:0/104",)}, {("a", "b")}, 0),  # families never overlap
    ({"a": ("fd00::/8",), "b": ("fd00:1::/32",)}, {("a", "b")}, 1),
    ({"a": ("10.0.0.0/24",), "b": ("10.0.0.0/24",)}, {("a", "a")}, 0),  # only the pairs asked for
])
def test_find_overlaps(groups: dict[str, tuple[str, ...]], pairs: set[tuple[str, str]], count: int) -> None:
    examples, n = cidr.find_overlaps(groups, pairs)
    assert n == count
    assert len(examples) == min(count, cidr.MAX_LISTED)


def test_find_overlaps_orients_examples_as_the_pair() -> None:
    examples, _ = cidr.find_overlaps({"pod": ("10.0.0.0/24",), "vpc": ("10.0.0.0/8",)}, {("pod", "vpc")})
    assert examples == [("10.0.0.0/24", "10.0.0.0/8")]


def test_plan_ids_are_stable() -> None:
    assert [c.id for c in cidr.plan(settings())] == [
        "cidr.node.rfc1918", "cidr.pod.rfc1918", "cidr.node.prefix-length", "cidr.pod.prefix-length",
        "cidr.service.range", "cidr.overlap.node-pod", "cidr.overlap.node-vpc", "cidr.overlap.pod-vpc",
        "cidr.overlap.node-service", "cidr.overlap.pod-service", "cidr.overlap.nodes", "cidr.overlap.pods",
        "cidr.node-ip.in-node-cidr", "cidr.pod.host-collision"]


@pytest.mark.netns
def test_host_collision_for_real_in_a_namespace(tmp_path: Path) -> None:
    """A bridge holding 172.17.0.1/16 (docker's default) collides with pods in 172.17.0.0/16.

    (This kernel has no dummy interfaces; a bridge is what docker0 really is anyway.)
    """
    profile = tmp_path / "site.yaml"
    spec = {**BASE, "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["172.17.0.0/16"]},
            "node": {"ip": "192.168.50.10"}}
    profile.write_text(yaml.safe_dump({"apiVersion": "netcheck/v1", "kind": "SiteProfile",
                                       "metadata": {"name": "fail-host-collision"}, "spec": spec}))
    with Lab() as lab:
        host = lab.ns("host")
        lab.run(host, ["ip", "link", "add", "docker0", "type", "bridge"])
        lab.run(host, ["ip", "addr", "add", "172.17.0.1/16", "dev", "docker0"])
        lab.run(host, ["ip", "link", "set", "docker0", "up"])
        # The namespace holds only docker0, so its node IP is judged elsewhere (test_phase_netns).
        out = lab.run(host, [sys.executable, "-c", CIDR_ONLY, "run", "-c", str(profile), "--format", "json",
                             "--skip", "cidr.node-ip"], check=False, cwd=REPO, timeout=60)
    doc = json.loads(out.stdout)
    validate_report(doc)
    failing = {c["id"] for c in doc["checks"] if c["status"] == "FAIL"}
    assert failing == {"cidr.pod.host-collision"}, out.stderr
    col = next(c for c in doc["checks"] if c["id"] == "cidr.pod.host-collision")
    assert "docker0" in col["message"] and "172.17.0.0/16" in col["message"]
    assert doc["verdict"] == "NO-GO"


def _collision(settings_: Settings, local: tuple[LocalPrefix, ...], links: tuple[str, ...] = ("lo", "eth0"),
               phase: str = "joined") -> Any:
    spec = next(c.spec for c in cidr.plan(settings_) if c.id == "cidr.pod.host-collision")
    spec = replace(spec, phase=phase)
    return cidr.evaluate(spec, cidr.collect(spec, cast(Net, FakeNet(local=local, links=links))), Thresholds())


def test_cni_prefixes_and_the_pod_address_are_not_collisions_but_a_vpn_route_is() -> None:
    pods = {"remoteNetwork": {"podCidrs": ["10.85.0.0/16"]}}
    cilium = (LocalPrefix("10.85.0.1/32", "address", "cilium_host", "10.85.0.1"),
              LocalPrefix("10.85.0.0/24", "route", "cilium_host"), LocalPrefix("10.85.1.0/24", "route", "cilium_host"))
    ours = LocalPrefix("10.85.9.9/32", "address", "lo", "10.85.9.9")
    out = _collision(settings(**pods, cni={"plugin": "cilium"}, inbound={"podAddress": "10.85.9.9"}), (*cilium, ours),
                     ("lo", "eth0", "cilium_host", "cilium_net"))
    assert out.status is Status.PASS, out.message
    assert "this node's pod-CIDR slice 10.85.0.0/24" in out.message and "netcheck's own" in out.message
    # Without the address configured as podAddress it is a collision like any other.
    out = _collision(settings(**pods, cni={"plugin": "cilium"}), (*cilium, ours), ("lo", "cilium_host"))
    assert out.status is Status.FAIL and "10.85.9.9/32 on lo" in out.message
    # A VPN route into the pod CIDR is never the CNI's.
    vpn = LocalPrefix("10.85.128.0/17", "route", "wg0")
    out = _collision(settings(**pods, cni={"plugin": "cilium"}), (*cilium, vpn), ("lo", "cilium_host", "wg0"))
    assert out.status is Status.FAIL and "wg0" in out.message and "10.85.128.0/17" in out.message
    # Calico's blackhole block route counts as Calico's only when Calico is configured or its devices exist.
    hole = LocalPrefix("10.85.0.192/26", "route", "", type="blackhole")
    assert _collision(settings(**pods, cni={"plugin": "calico"}), (hole,)).status is Status.PASS
    assert _collision(settings(**pods, cni={"plugin": "none"}), (hole,)).status is Status.FAIL
    assert _collision(settings(**pods, cni={"plugin": "none"}), (hole,), ("lo", "vxlan.calico")).status is Status.PASS
