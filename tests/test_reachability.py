"""reachability probe: plan ids, evaluate on recorded dials, collect on loopback and through a router."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netcheck.model import Severity, SkipReason, Status
from netcheck.net import Net
from netcheck.net.lookup import DnsAnswer
from netcheck.settings import Settings, SiteProfile, Thresholds
from netcheck.standins import dns as dns_standin
from probes import reachability as probe
from testbed.lab import NS, Lab
from tests.conftest import validate_report
from tests.test_dial import REPO, forward_rule, listen_in

API = "abc123.gr7.us-west-2.eks.amazonaws.com"  # fake name: stand-ins or recorded evidence only
TH = Thresholds()
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


def settings(**spec: Any) -> Settings:
    return Settings(SiteProfile.model_validate({"spec": spec}), "test", environ=dict(os.environ))  # the environment the test set, as build() snapshots it


def spec(host: str = "10.20.1.10", port: int = 443, subject: str = "control-plane.10.20.1.10",
         ips: tuple[str, ...] | None = None, **kw: Any) -> probe.Spec:
    if ips is None:
        ips = (host,) if host[0].isdigit() else ()
    return probe.Spec(subject, host, port, ips=ips, node_cidrs=("192.168.50.0/24",), **kw)


def dial(ip: str, outcome: str, reason: str, seconds: float = 0.002, **kw: Any) -> dict[str, Any]:
    return {"ip": ip, "port": 443, "outcome": outcome, "reason": reason, "seconds": seconds, **kw}


# --- plan --------------------------------------------------------------------------

FULL = {"cluster": {"region": "us-west-2", "endpoint": f"https://{API}", "controlPlaneIps": ["10.20.1.10", "10.20.1.11"]},
        "credentials": "iam-roles-anywhere", "features": {"install": False},
        "endpoints": [{"host": "registry.example.internal"}, {"host": "10.1.2.3", "port": 5000, "required": False}]}


def test_plan_ids() -> None:
    checks = {c.id: c for c in probe.plan(settings(**FULL))}
    assert set(checks) == {
        "reach.eks-api.tcp-443", "reach.control-plane.10.20.1.10.tcp-443", "reach.control-plane.10.20.1.11.tcp-443",
        "reach.eks.tcp-443", "reach.ecr-api.tcp-443", "reach.ecr-dkr.tcp-443", "reach.rolesanywhere.tcp-443",
        "reach.sts.tcp-443", "reach.eks-auth.tcp-443", "reach.logs.tcp-443",
        "reach.endpoint.registry.example.internal.tcp-443", "reach.endpoint.10.1.2.3-5000.tcp-5000"}
    assert checks["reach.endpoint.10.1.2.3-5000.tcp-5000"].severity is Severity.ADVISORY
    assert checks["reach.endpoint.10.1.2.3-5000.tcp-5000"].spec.ips == ("10.1.2.3",)
    assert checks["reach.eks-api.tcp-443"].spec.ips == ()  # resolved at run time, every address dialled
    assert checks["reach.control-plane.10.20.1.11.tcp-443"].severity is Severity.REQUIRED


def test_plan_proxied_target_skips_and_points_at_proxy_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://bob:hunter2@proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".eks.amazonaws.com")  # fake name: stand-ins or recorded evidence only
    checks = {c.id: c for c in probe.plan(settings(**FULL))}
    assert checks["reach.eks-api.tcp-443"].spec.proxy is None
    assert checks["reach.control-plane.10.20.1.10.tcp-443"].spec.proxy is None  # ENIs are always direct
    ecr = checks["reach.ecr-api.tcp-443"].spec
    out = probe.evaluate(ecr, probe.collect(ecr, Net()), TH)  # no I/O: nothing is dialled
    assert out.status is Status.SKIP and out.skip_reason is SkipReason.NOT_APPLICABLE
    assert "http://proxy.corp:3128" in out.message and "proxy.ecr-api.connect" in out.message
    assert "hunter2" not in json.dumps(out.evidence) + out.message


# --- evaluate (recorded evidence) ------------------------------------------------------

def test_all_connected_passes_with_connect_time() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "connected", "handshake", 0.0042, rttMs=1.1),))
    out = probe.evaluate(spec(), ev, TH)
    assert out.status is Status.PASS and out.measured == 4.2 and out.unit == "ms"


def test_drop_reads_as_silent_drop() -> None:
    out = probe.evaluate(spec(), probe.Evidence(dials=(dial("10.20.1.10", "timeout", "no-answer", 3.0),)), TH)
    assert out.status is Status.FAIL and out.measured == "timeout" and out.threshold == "connected"
    assert out.message.startswith("TCP 443 to 10.20.1.10 timed out after 3.0 s: packets are silently dropped")
    assert "security group" in (out.remediation or "") and "192.168.50.0/24" in (out.remediation or "")


def test_admin_prohibited_reads_as_reject_naming_the_hop() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "unreachable", "icmp-admin-prohibited", offender="192.168.50.1"),))
    out = probe.evaluate(spec(), ev, TH)
    assert out.status is Status.FAIL
    assert "refused by 192.168.50.1 with ICMP admin-prohibited — a firewall REJECT rule" in out.message
    assert "firewall at 192.168.50.1" in (out.remediation or "")


def test_reset_reads_as_refused() -> None:
    out = probe.evaluate(spec(), probe.Evidence(dials=(dial("10.20.1.10", "refused", "rst"),)), TH)
    assert out.status is Status.FAIL and "refused with a TCP reset" in out.message
    assert "listens on 10.20.1.10:443" in (out.remediation or "")


def test_port_unreachable_from_a_router_is_a_reject() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "refused", "icmp-port-unreachable", offender="10.20.0.1"),))
    assert "refused by 10.20.0.1 with ICMP port-unreachable" in probe.evaluate(spec(), ev, TH).message


def test_port_unreachable_from_the_target_is_a_closed_port() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "refused", "icmp-port-unreachable", offender="10.20.1.10"),))
    assert "nothing listens" in probe.evaluate(spec(), ev, TH).message


def test_router_without_route() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "no-route", "icmp-net-unreachable", offender="192.168.50.1"),))
    out = probe.evaluate(spec(), ev, TH)
    assert "router 192.168.50.1 has no route" in out.message and "on 192.168.50.1" in (out.remediation or "")


def test_local_route_problem() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "no-route", "local-blackhole-route"),))
    out = probe.evaluate(spec(), ev, TH)
    assert out.message.startswith("This host has no route to 10.20.1.10") and "ip route" in (out.remediation or "")
    assert "firewall" not in out.message and "nothing was sent" in out.message


def test_host_unreachable_from_router() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "unreachable", "icmp-host-unreachable", 3.1, offender="10.20.0.1"),))
    out = probe.evaluate(spec(), ev, TH)
    assert "10.20.0.1 reported it unreachable" in out.message


def test_one_bad_address_fails_the_name() -> None:
    ev = probe.Evidence(dials=(dial("10.20.1.10", "connected", "handshake"), dial("10.20.1.11", "timeout", "no-answer", 3.0),
                               dial("10.20.1.12", "refused", "rst")),
                        dns=DnsAnswer(API, "A", "ok", ("10.20.1.10", "10.20.1.11", "10.20.1.12")))
    out = probe.evaluate(spec(API, subject="eks-api"), ev, TH)
    assert out.status is Status.FAIL and "10.20.1.11 timed out" in out.message
    assert "2 of 3 addresses" in out.message and "10.20.1.12 refused" in out.message
    assert [d["outcome"] for d in out.evidence["addresses"]] == ["connected", "timeout", "refused"]


def test_unresolvable_name_skips_as_dependency() -> None:
    ev = probe.Evidence(dns=DnsAnswer(API, "A", "nxdomain"))
    out = probe.evaluate(spec(API, subject="eks-api"), ev, TH)
    assert out.status is Status.SKIP and out.skip_reason is SkipReason.DEPENDENCY
    assert "dns.eks-api.resolve" in out.message


# --- collect on loopback ---------------------------------------------------------------

@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_collect_listener_connects(listener: int) -> None:
    sp = spec("127.0.0.1", listener, "endpoint.127.0.0.1")
    ev = probe.collect(sp, Net())
    assert [d["outcome"] for d in ev.dials] == ["connected"]
    assert probe.evaluate(sp, ev, TH).status is Status.PASS


def test_collect_closed_port_is_refused(listener: int) -> None:
    sp = spec("127.0.0.2", listener, "endpoint.127.0.0.2")  # same port, address with no listener
    out = probe.evaluate(sp, probe.collect(sp, Net()), TH)
    assert out.status is Status.FAIL and out.evidence["addresses"][0]["outcome"] == "refused"
    assert out.evidence["addresses"][0]["reason"] == "rst"


def test_collect_resolves_and_dials_every_address(listener: int) -> None:
    with contextlib.ExitStack() as stack:
        srv = dns_standin.start(stack, {"api.lab.test": ["127.0.0.1", "127.0.0.2"]}, {"gone.lab.test": "nxdomain"})
        sp = spec("api.lab.test", listener, "eks-api", servers=(srv.address,))
        out = probe.evaluate(sp, probe.collect(sp, Net()), TH)
        gone = spec("gone.lab.test", listener, "endpoint.gone.lab.test", servers=(srv.address,))
        skipped = probe.evaluate(gone, probe.collect(gone, Net()), TH)
    assert out.status is Status.FAIL and "1 of 2 addresses" in out.message
    assert {d["ip"]: d["outcome"] for d in out.evidence["addresses"]} == {"127.0.0.1": "connected", "127.0.0.2": "refused"}
    assert skipped.status is Status.SKIP and skipped.skip_reason is SkipReason.DEPENDENCY


# --- through a router in namespaces -------------------------------------------------------

SNIPPET = textwrap.dedent("""
    import json, sys
    from netcheck.net import Net
    from probes import reachability as r
    spec = r.Spec("control-plane." + sys.argv[1], sys.argv[1], 443, ips=(sys.argv[1],), node_cidrs=("192.168.50.0/24",))
    out = r.evaluate(spec, r.collect(spec, Net()), None)
    print(json.dumps({"status": out.status.value, "message": out.message, "remediation": out.remediation,
                      "evidence": out.evidence}))
""")


def reach_in(lab: Lab, ns: NS, ip: str) -> dict[str, Any]:
    out = lab.run(ns, [sys.executable, "-c", SNIPPET, ip], cwd=str(REPO), timeout=60)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.mark.netns
@pytest.mark.parametrize(("rule", "status", "outcome", "words"), [
    ("", "PASS", "connected", "connected"),
    ("tcp dport 443 drop", "FAIL", "timeout", "timed out after 3.5 s: packets are silently dropped"),
    ("tcp dport 443 reject with tcp reset", "FAIL", "refused", "refused with a TCP reset"),
    ("tcp dport 443 reject with icmp type admin-prohibited", "FAIL", "unreachable",
     "refused by 192.168.50.1 with ICMP admin-prohibited — a firewall REJECT rule"),
], ids=["pass", "fail-drop", "fail-reset", "fail-admin-prohibited"])
def test_reach_through_router(rule: str, status: str, outcome: str, words: str) -> None:
    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        listen_in(lab, vpc, "10.20.1.10")
        if rule:
            lab.nft(router, forward_rule(rule))
        res = reach_in(lab, node, "10.20.1.10")
    assert res["status"] == status and res["evidence"]["addresses"][0]["outcome"] == outcome, res
    assert words in res["message"], res["message"]


@pytest.mark.netns
def test_absent_host_behind_router_is_not_mistaken_for_a_drop() -> None:
    """The router's ARP gives up after ~3 s and sends host-unreachable; the dial must wait for it."""
    with Lab() as lab:
        node, _router, _vpc = lab.hybrid()
        res = reach_in(lab, node, "10.20.1.99")
    first = res["evidence"]["addresses"][0]
    assert (first["outcome"], first["reason"], first.get("offender")) == (
        "unreachable", "icmp-host-unreachable", "192.168.50.1"), res
    assert "192.168.50.1 reported it unreachable" in res["message"]


def dnsmasq(lab: Lab, vpc: NS, tmp: Path, records: dict[str, list[str]]) -> None:
    """dnsmasq on 10.20.1.10:53 in the VPC namespace, authoritative for `records` only."""
    cmd = ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--listen-address=10.20.1.10", "--bind-interfaces",
           "--user=root", f"--pid-file={tmp / 'dnsmasq.pid'}", "--log-facility=-"]
    cmd += [f"--host-record={name},{ip}" for name, ips in records.items() for ip in ips]
    lab.popen(vpc, cmd)
    lab.wait_port(vpc, "10.20.1.10", 53, proto="udp")


@pytest.mark.netns
@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq is not installed (apt-get install dnsmasq)")
def test_cli_run_in_namespace_drop_on_one_api_address(tmp_path: Path) -> None:
    """The API name resolves (dnsmasq) to two ENIs; the router drops 443 to one of them."""
    profile = {"apiVersion": "netcheck/v1", "kind": "SiteProfile", "metadata": {"name": "lab"},
               "spec": {"cluster": {"endpoint": "https://api.lab.internal", "endpointAccess": "private",
                                    "controlPlaneIps": ["10.20.1.10", "10.20.1.11"]},
                        "vpc": {"cidrs": ["10.20.0.0/16"]}, "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"]},
                        "features": {"install": False}, "dns": {"timeout": 3}}}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(profile))
    with Lab() as lab:
        node, router, vpc = lab.hybrid()
        dnsmasq(lab, vpc, tmp_path, {"api.lab.internal": ["10.20.1.10", "10.20.1.11"]})
        lab.resolv(node, ["10.20.1.10"])
        listen_in(lab, vpc, "10.20.1.10")
        listen_in(lab, vpc, "10.20.1.11")
        lab.nft(router, forward_rule("ip daddr 10.20.1.11 tcp dport 443 drop"))
        proc = lab.run(node, [sys.executable, "-m", "netcheck", "run", "-c", str(path), "--format", "json",
                              "--only", "dns", "--only", "reach", "--deadline", "30"],
                       cwd=str(REPO), timeout=90, check=False)
    assert proc.returncode == 3, proc.stderr  # NO-GO
    doc = json.loads(proc.stdout)
    validate_report(doc)
    status = {c["id"]: c["status"] for c in doc["checks"]}
    assert status == {"dns.eks-api.resolve": "PASS", "dns.eks-api.endpoint-access": "PASS",
                      "reach.eks-api.tcp-443": "FAIL", "reach.control-plane.10.20.1.10.tcp-443": "PASS",
                      "reach.control-plane.10.20.1.11.tcp-443": "FAIL"}
    api = next(c for c in doc["checks"] if c["id"] == "reach.eks-api.tcp-443")
    assert {a["ip"]: a["outcome"] for a in api["evidence"]["addresses"]} == {"10.20.1.10": "connected",
                                                                             "10.20.1.11": "timeout"}
    assert "silently dropped" in api["message"]
