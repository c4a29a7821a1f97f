"""One cause, one story on real namespace networks (issue 21): root causes, NAT, a peer behind the router.

Full `netcheck run`s in the node namespace of testbed's node — router — VPC site:
- a host without a route toward the VPC: one root cause (routing.vpc, no route), the DNS, TCP, TLS,
  latency and MTU checks its dependents;
- NAT: the router masquerades node traffic and the VPC has no route back; inbound.nat names the
  translation and the inbound checks name it as their cause;
- a peer node at another site behind the router, `netcheck serve --extra-udp 8472` on it and UDP 8472
  dropped by the router: the VXLAN port is a root cause of its own, not blamed on the path, and the
  story is the same run after run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.diagnosis import unexplained
from netcheck.model import report_from_json
from testbed.lab import Lab
from testbed.services import API_IP, REPO, Site
from tests.conftest import validate_report

pytestmark = pytest.mark.netns
PEER_IP = "192.168.70.10"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with Lab("diag") as lab:
        bed = Site.build(lab, tmp_path)
        bed.healthy()
        bed.responder()
        yield bed


def run(site: Site, profile: Path, *args: str) -> dict[str, Any]:
    out, _ = site.netcheck("run", "-c", str(profile), "--format", "json", *args, timeout=150)
    assert out.returncode in (0, 3, 4), f"exit {out.returncode}: {out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    validate_report(doc)
    report = report_from_json(doc)
    assert unexplained(report.results, report.root_causes) == []
    return doc


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["checks"]}


def failing_required(doc: dict[str, Any]) -> set[str]:
    return {c["id"] for c in doc["checks"] if c["severity"] == "required" and c["status"] in ("FAIL", "ERROR")}


def test_host_without_a_route_toward_the_vpc_is_one_root_cause(site: Site) -> None:
    lab = site.lab
    lab.run(site.node, ["ip", "route", "del", "10.20.0.0/16"])
    lab.run(site.node, ["ip", "route", "del", "default"])  # only the LAN route is left
    profile = site.profile(responder=f"{API_IP}:7447", latency={"samples": 5}, node={"ip": "192.168.50.10"})
    doc = run(site, profile, "--skip", "bandwidth")
    assert doc["verdict"] == "NO-GO"
    roots = doc["rootCauses"]
    required_roots = [r for r in roots if by_id(doc)[r["id"]]["severity"] == "required"]
    assert [r["id"] for r in required_roots] == ["routing.vpc.10.20.0.0/16"], json.dumps(roots, indent=1)
    root = required_roots[0]
    assert root["rule"] == "route" and "no route" in root["cause"]
    deps = set(root["dependents"])
    for cid in ("routing.control-plane.10.20.1.10", "dns.eks-api.resolve", "reach.eks-api.tcp-443",
                "reach.control-plane.10.20.1.10.tcp-443", "tls.eks-api.handshake", f"latency.rtt.{API_IP}",
                f"mtu.path.{API_IP}"):
        assert cid in deps, f"{cid} not under the route: {by_id(doc)[cid]}"
        assert by_id(doc)[cid]["causedBy"] == "routing.vpc.10.20.0.0/16"
        assert by_id(doc)[cid]["remediation"].startswith("Fix routing.vpc.10.20.0.0/16 first")
    assert failing_required(doc) <= deps | {"routing.vpc.10.20.0.0/16"}
    table, _ = site.netcheck("run", "-c", str(profile), "--skip", "bandwidth", "--no-color", timeout=150)
    lines = table.stdout.splitlines()
    lead = next(i for i, ln in enumerate(lines) if ln.strip())  # the header line
    head = next(i for i, ln in enumerate(lines) if "root cause" in ln)
    assert head <= lead + 3 and lines[head].startswith("1 root cause; "), table.stdout[:600]  # the story leads
    blocking = next(i for i, ln in enumerate(lines) if ln.startswith("BLOCKING GO"))
    assert blocking > head and "follows from routing.vpc.10.20.0.0/16" in table.stdout


def test_nat_between_site_and_vpc_is_named_and_explains_the_inbound_checks(site: Site) -> None:
    lab = site.lab
    lab.nft(site.router, "table ip labnat {\n  chain post {\n    type nat hook postrouting priority 100;\n"
                         "    ip saddr 192.168.50.0/24 ip daddr 10.20.0.0/16 masquerade;\n  }\n}\n")
    lab.run(site.vpc, ["ip", "route", "del", "default"])  # the VPC has no route to the node CIDR
    doc = run(site, site.profile(responder=f"{API_IP}:7447", webhookPorts=[9443]), "--only", "inbound")
    checks = by_id(doc)
    nat = checks["inbound.nat"]
    assert nat["status"] == "FAIL", nat
    assert nat["message"].startswith("The VPC sees this node as 10.20.0.1, not 192.168.50.10: NAT between the site "
                                     "and the VPC")
    assert "routable node and pod addresses" in nat["message"] + nat["remediation"]
    for cid in ("inbound.kubelet.tcp-10250", "inbound.webhook.tcp-9443"):
        c = checks[cid]
        assert c["status"] == "FAIL" and c["causedBy"] == "inbound.nat", c
        assert "firewall" not in c["message"] and "NAT" in c["message"], c["message"]
        assert c["remediation"].startswith("Fix inbound.nat first")
    assert doc["rootCauses"][0]["id"] == "inbound.nat" and doc["rootCauses"][0]["rule"] == "nat"

    lab.run(site.router, ["nft", "delete", "table", "ip", "labnat"])  # no translation: the VPC sees the node
    lab.run(site.vpc, ["ip", "route", "add", "default", "via", "10.20.0.1"])
    doc = run(site, site.profile(responder=f"{API_IP}:7447"), "--only", "inbound")
    assert by_id(doc)["inbound.nat"]["status"] == "PASS", by_id(doc)["inbound.nat"]
    assert by_id(doc)["inbound.kubelet.tcp-10250"]["status"] == "PASS"


def test_peer_behind_the_router_with_vxlan_dropped_is_its_own_root_every_run(site: Site) -> None:
    lab = site.lab
    peer = lab.ns("peer")
    lab.link(site.router, "192.168.70.1/24", peer, f"{PEER_IP}/24")
    lab.run(peer, ["ip", "route", "add", "default", "via", "192.168.70.1"])
    lab.popen(peer, [sys.executable, "-m", "netcheck", "serve", "--listen", PEER_IP, "--no-auth", "--iperf-port", "0",
                     "--extra-udp", "8472"], cwd=str(REPO), stderr=subprocess.PIPE)
    lab.wait_port(peer, PEER_IP, 8472, "udp", timeout=30)
    site.router_rules("udp dport 8472 drop")
    profile = site.profile(peers=[PEER_IP], cni={"plugin": "cilium"}, remoteNetwork={
        "nodeCidrs": ["192.168.50.0/24", "192.168.70.0/24"], "podCidrs": ["192.168.64.0/18"]})
    stories = []
    for _ in range(2):
        doc = run(site, profile, "--only", "cni,mtu.cni,routing.vpc")
        vxlan = by_id(doc)[f"cni.{PEER_IP}.udp-8472"]
        assert vxlan["status"] == "FAIL", vxlan
        assert "causedBy" not in vxlan
        roots = {r["id"]: r for r in doc["rootCauses"]}
        assert f"cni.{PEER_IP}.udp-8472" in roots and roots[f"cni.{PEER_IP}.udp-8472"]["rule"] in ("", "address")
        assert "routing.vpc.10.20.0.0/16" not in roots
        stories.append([(r["id"], r["rule"], tuple(r["dependents"])) for r in doc["rootCauses"]])
    assert stories[0] == stories[1]
