"""Routing probe: real route lookups and sysctls in Lab namespaces, plus pure evaluate cases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from netcheck.model import Outcome, Status
from netcheck.net import Net
from netcheck.runner import execute
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import routing
from testbed.lab import Lab


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the block in namespace `name` (this thread only); always come back."""
    from pyroute2 import netns

    netns.pushns(name)
    try:
        yield
    finally:
        netns.popns()


def settings(**spec: Any) -> Settings:
    base: dict[str, Any] = {"cluster": {"controlPlaneIps": ["10.20.1.10"], "endpointAccess": "private"},
                            "vpc": {"cidrs": ["10.20.0.0/16"]},
                            "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["192.168.64.0/18"]}}
    base.update(spec)
    return Settings(profile=SiteProfile.model_validate({"spec": base}), source="test", token="t0ken")


def run_in(ns: str, s: Settings, root: str | None = None) -> dict[str, Outcome]:
    """Every routing check in namespace `ns`; host files below `root` (default: an empty directory)."""
    import tempfile

    with in_netns(ns), tempfile.TemporaryDirectory(prefix="nc-root-") as empty:
        return {c.id: execute(c, Net(root=root or empty), Thresholds()) for c in routing.plan(s)}


def test_plan_ids() -> None:
    assert [c.id for c in routing.plan(settings())] == [
        "routing.vpc.10.20.0.0/16", "routing.control-plane.10.20.1.10", "routing.host.ip-forward",
        "routing.host.rp-filter"]


@pytest.mark.netns
def test_routes_default_explicit_policy_rule_and_failures() -> None:
    with Lab() as lab:
        node, _router, _vpc = lab.hybrid()
        res = run_in(node.name, settings(phase="joined"))
        vpc_route = res["routing.vpc.10.20.0.0/16"]
        assert vpc_route.status is Status.WARN, vpc_route.message
        assert "default route" in vpc_route.message and "192.168.50.1" in vpc_route.message
        assert res["routing.host.ip-forward"].status is Status.FAIL  # lab namespaces start with forwarding off
        assert "net.ipv4.ip_forward" in (res["routing.host.ip-forward"].remediation or "")
        assert res["routing.host.rp-filter"].status is Status.PASS

        lab.run(node, ["ip", "route", "add", "10.20.0.0/16", "via", "192.168.50.1"])
        lab.sysctl(node, "net.ipv4.ip_forward", "1")
        res = run_in(node.name, settings())
        ok = res["routing.vpc.10.20.0.0/16"]
        assert ok.status is Status.PASS, ok.message
        assert ok.evidence["prefix"] == "10.20.0.0/16" and ok.evidence["table"] == 254
        assert ok.evidence["source"] == "192.168.50.10" and ok.evidence["gateway"] == "192.168.50.1"
        assert res["routing.host.ip-forward"].status is Status.PASS

        # A policy rule sends the control plane to table 100: the table and the rule are reported.
        lab.run(node, ["ip", "route", "add", "10.20.1.10/32", "via", "192.168.50.1", "table", "100"])
        lab.run(node, ["ip", "rule", "add", "to", "10.20.1.10/32", "lookup", "100", "priority", "1000"])
        cp = run_in(node.name, settings())["routing.control-plane.10.20.1.10"]
        assert cp.status is Status.PASS and cp.evidence["table"] == 100
        assert cp.evidence["rule"] == "1000: from all to 10.20.1.10/32 lookup 100"

        # Node source outside the remote node CIDRs.
        bad = run_in(node.name, settings(remoteNetwork={"nodeCidrs": ["192.168.99.0/24"]}))
        src = bad["routing.vpc.10.20.0.0/16"]
        assert src.status is Status.FAIL and "192.168.50.10" in src.message and "192.168.99.0/24" in src.message

        # Blackhole and no route at all.
        lab.run(node, ["ip", "route", "replace", "blackhole", "10.20.0.0/16"])
        bh = run_in(node.name, settings())["routing.vpc.10.20.0.0/16"]
        assert bh.status is Status.FAIL and bh.measured == "blackhole"
        lab.run(node, ["ip", "route", "del", "10.20.0.0/16"])
        lab.run(node, ["ip", "route", "del", "default"])
        lab.run(node, ["ip", "rule", "del", "priority", "1000"])
        res = run_in(node.name, settings())
        assert res["routing.vpc.10.20.0.0/16"].measured == "no-route"
        assert res["routing.vpc.10.20.0.0/16"].status is Status.FAIL
        assert res["routing.host.rp-filter"].status is Status.SKIP


@pytest.mark.netns
def test_strict_rp_filter_on_the_interface_replies_arrive_on() -> None:
    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        if2, _ = lab.link(node, "192.168.51.10/24", router, "192.168.51.1/24")
        # The router sends traffic for the node IP over the second link: asymmetric path.
        lab.run(router, ["ip", "route", "add", "192.168.50.10/32", "via", "192.168.51.10"])
        lab.sysctl(node, "net.ipv4.conf.all.rp_filter", "1")
        res = run_in(node.name, settings())["routing.host.rp-filter"]
        assert res.status is Status.WARN, res.message
        assert if2 in res.message and f"net.ipv4.conf.{if2}.rp_filter" in res.message
        assert f"net.ipv4.conf.{if2}.rp_filter=2" in (res.remediation or "")
        # Real traffic from the VPC now gets dropped and counted: FAIL.
        lab.run(vpc, ["ping", "-c2", "-i0.2", "-W1", "192.168.50.10"], check=False)
        res = run_in(node.name, settings())["routing.host.rp-filter"]
        assert res.status is Status.FAIL and res.evidence["IPReversePathFilter"] >= 1
        lab.sysctl(node, "net.ipv4.conf.all.rp_filter", "2")
        assert run_in(node.name, settings())["routing.host.rp-filter"].status is Status.PASS


def test_evaluate_unreachable_and_local_routes() -> None:
    spec = routing.Spec("route", "10.20.0.1", "VPC CIDR 10.20.0.0/16", "10.20.0.0/16", True, ("192.168.50.0/24",))
    out = routing.evaluate(spec, routing.Evidence(route={"dst": "10.20.0.1", "result": "prohibit",
                                                         "error": "EACCES"}), Thresholds())
    assert out.status is Status.FAIL and "prohibit" in out.message
    out = routing.evaluate(spec, routing.Evidence(route={"dst": "10.20.0.1", "result": "local", "table": 255}),
                           Thresholds())
    assert out.status is Status.FAIL and "local" in out.message
    assert routing.evaluate(routing.Spec("ip-forward"), routing.Evidence(value="0"), Thresholds()).measured == 0
