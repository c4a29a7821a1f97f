"""`netcheck run` in a real node namespace behind a router, against a VPC namespace (issue 2).

node 192.168.50.10 — router 192.168.50.1 | 10.20.0.1 — vpc 10.20.1.10 (API server, ENI), .11, .12 (DNS).
Each scenario breaks one thing on the router or in the VPC's DNS and asserts the exact set of
failing check ids in the JSON report (validated against the schema). Every address here
exists only inside the namespaces; the AWS-looking name lives only in the lab's dnsmasq.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import services
from testbed.lab import Lab
from testbed.services import API_HOST, API_IP, OTHER_IP, RESOLVER, Site
from tests.conftest import validate_report

pytestmark = pytest.mark.netns

ENI_CHECK = f"reach.control-plane.{API_IP}.tcp-443"
PUBLIC_IP = "203.0.113.10"  # TEST-NET-3: a "public" answer that only the lab's DNS gives


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Site]:
    with Lab() as lab:
        yield Site.build(lab, tmp_path)


def run(bed: Site, profile: Path, *args: str, timeout: float = 120) -> tuple[dict[str, Any], int, float]:
    """`netcheck run -c profile --format json ...` in the node; (schema-valid report, exit code, wall s)."""
    out, wall = bed.netcheck("run", "-c", str(profile), "--format", "json", *args, timeout=timeout)
    assert out.returncode in (0, 3, 4), f"exit {out.returncode}: {out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    validate_report(doc)
    return doc, out.returncode, wall


def by_status(doc: dict[str, Any], status: str) -> set[str]:
    return {c["id"] for c in doc["checks"] if c["status"] == status}


def check(doc: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["id"] == cid)


FOUNDATION = "cidr,dns,reach,tls"


def test_pass_everything_healthy(bed: Site) -> None:
    bed.healthy()
    doc, code, _ = run(bed, bed.profile(), "--only", FOUNDATION)
    required_fail = {c["id"] for c in doc["checks"] if c["status"] == "FAIL" and c["severity"] == "required"}
    assert required_fail == set()
    assert by_status(doc, "ERROR") == set()
    ran = {c["id"] for c in doc["checks"]}
    assert {"dns.eks-api.resolve", "dns.eks-api.endpoint-access", "reach.eks-api.tcp-443", ENI_CHECK} <= ran
    assert check(doc, "reach.eks-api.tcp-443")["status"] == "PASS"
    assert check(doc, "dns.eks-api.resolve")["evidence"]["addresses"] == [API_IP]
    assert (doc["verdict"], code) == ("GO", 0)


@pytest.mark.parametrize(("name", "rule", "outcome"), [
    ("fail-api-443-dropped", "ip daddr 10.20.0.0/16 tcp dport 443 drop", "timeout"),
    ("fail-api-443-reset", "ip daddr 10.20.0.0/16 tcp dport 443 reject with tcp reset", "refused"),
])
def test_api_port_blocked_on_the_router(bed: Site, name: str, rule: str, outcome: str) -> None:
    bed.healthy()
    bed.router_rules(rule)
    doc, code, _ = run(bed, bed.profile(), "--only", "reach.eks-api,reach.control-plane")
    assert by_status(doc, "FAIL") == {"reach.eks-api.tcp-443", ENI_CHECK}
    for cid in ("reach.eks-api.tcp-443", ENI_CHECK):
        c = check(doc, cid)
        assert [a["outcome"] for a in c["evidence"]["addresses"]] == [outcome]
        assert c["measured"] == outcome and c["remediation"]
        assert API_IP in c["message"]
    if outcome == "timeout":  # a silent drop is localised: the router (hop 1) answers, the target does not
        c = check(doc, ENI_CHECK)
        assert "stops after hop 1 (192.168.50.1)" in c["message"], c["message"]
        assert c["evidence"]["addresses"][0]["trace"]["lastHop"]["addr"] == "192.168.50.1"
    assert (doc["verdict"], code) == ("NO-GO", 3)


def _dns_nxdomain(bed: Site) -> None:
    bed.dns(records={}, nxdomain=(API_HOST,))


def _dns_servfail(bed: Site) -> None:
    services.dns_standin(bed.lab, bed.vpc, RESOLVER, {}, {API_HOST: "servfail"})


def _dns_timeout(bed: Site) -> None:
    bed.dns()
    bed.router_rules(f"ip daddr {RESOLVER} udp dport 53 drop", f"ip daddr {RESOLVER} tcp dport 53 drop")


@pytest.mark.parametrize(("status", "setup"), [
    ("nxdomain", _dns_nxdomain), ("servfail", _dns_servfail), ("timeout", _dns_timeout),
])
def test_api_name_does_not_resolve(bed: Site, status: str, setup: Any) -> None:
    bed.api_server()
    setup(bed)
    doc, code, _ = run(bed, bed.profile(), "--only", "dns.eks-api")
    assert by_status(doc, "FAIL") == {"dns.eks-api.resolve"}
    resolve = check(doc, "dns.eks-api.resolve")
    assert resolve["evidence"]["status"] == status
    assert API_HOST in resolve["message"] and resolve["remediation"]
    assert check(doc, "dns.eks-api.endpoint-access")["status"] == "SKIP"
    assert (doc["verdict"], code) == ("NO-GO", 3)


def test_private_endpoint_resolving_to_a_public_address(bed: Site) -> None:
    bed.dns({API_HOST: PUBLIC_IP})
    doc, code, _ = run(bed, bed.profile(), "--only", "dns.eks-api")
    assert by_status(doc, "FAIL") == {"dns.eks-api.endpoint-access"}
    access = check(doc, "dns.eks-api.endpoint-access")
    assert PUBLIC_IP in access["message"]
    assert (doc["verdict"], code) == ("NO-GO", 3)


def test_api_certificate_from_another_ca(bed: Site) -> None:
    bed.dns()
    bed.api_server(ca=services.make_ca("Rogue Lab CA"))
    doc, code, _ = run(bed, bed.profile(), "--only", "tls.eks-api")
    assert by_status(doc, "FAIL") == {"tls.eks-api.handshake"}
    handshake = check(doc, "tls.eks-api.handshake")
    assert "Rogue Lab CA" in handshake["message"]
    assert (doc["verdict"], code) == ("NO-GO", 3)


def test_everything_black_holed_still_ends_within_the_deadline(bed: Site) -> None:
    """Must-show 3: the router drops everything toward the VPC; --deadline 5 holds in wall time."""
    bed.healthy()
    bed.router_rules("ip daddr 10.20.0.0/16 drop")
    profile = bed.profile(responder=f"{API_IP}:7447", peers=["192.168.50.11"],
                          bandwidth={"server": f"{API_IP}:5201", "seconds": 2},
                          endpoints=[{"host": OTHER_IP, "port": 443}])
    doc, code, wall = run(bed, profile, "--deadline", "5", timeout=30)
    print(f"black-holed run, --deadline 5: {wall:.2f} s wall, verdict {doc['verdict']}, summary {doc['summary']}")
    # --deadline holds from netcheck's first line (the report's clock); ip netns exec and interpreter
    # start-up come on top of it in wall time, seconds on a busy CI machine
    assert doc["durationSeconds"] <= 5.0 + 1.0, doc["durationSeconds"]
    assert wall < 30
    assert doc["verdict"] != "GO" and code in (3, 4)
    assert check(doc, "reach.eks-api.tcp-443")["status"] in ("FAIL", "SKIP", "ERROR")
