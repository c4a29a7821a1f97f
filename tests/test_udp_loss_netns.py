"""UDP checks on a lossy path retry as real clients do and blame loss, not the service (issue 16).

node — router — VPC namespaces (testbed). The node's resolv.conf is its own file under
/etc/netns/NAME, which `ip netns exec` bind-mounts over /etc/resolv.conf, so every run here
reads the options exactly as the node's glibc would. bench/bench_loss.py runs the 10-run figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testbed import lossy, services
from testbed.lab import Lab
from testbed.services import API_HOST, API_IP, RESOLVER, Site
from tests.conftest import validate_report

pytestmark = pytest.mark.netns

WATCHED = ("dns", "clock", "cni", "mtu")


def run(site: Site, profile: Path, *args: str, timeout: float = 120) -> tuple[dict[str, Any], float]:
    out, wall = site.netcheck("run", "-c", str(profile), "--format", "json", *args, timeout=timeout)
    assert out.returncode in (0, 3, 4), f"exit {out.returncode}: {out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    validate_report(doc)
    return doc, wall


def check(doc: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["id"] == cid)


def test_resolv_conf_options_are_read_from_the_node_file(tmp_path: Path) -> None:
    with Lab("udr") as lab:
        site = Site.build(lab, tmp_path)
        names = {"a.lab.test": "lose2", "b.lab.test": "lose3", "c.lab.test": "lose2"}
        services.dns_standin(lab, site.vpc, RESOLVER, {n: [API_IP] for n in names}, names)
        lossy.node_resolv_conf(site, "timeout:1 attempts:3")
        profile = site.profile(endpoints=[{"host": "a.lab.test"}, {"host": "b.lab.test"}], dns={})
        doc, _ = run(site, profile, "--only", "dns.endpoint")
        a, b = check(doc, "dns.endpoint.a.lab.test.resolve"), check(doc, "dns.endpoint.b.lab.test.resolve")
        # Two lost queries: the node's resolver (3 attempts) still gets the answer, on its third query.
        assert a["status"] == "PASS", a["message"]
        assert a["evidence"]["resolvConf"] == {"timeout": 1, "attempts": 3, "rotate": False,
                                               "source": "/etc/resolv.conf"}
        assert a["evidence"]["lostQueries"] == 2 and a["evidence"]["nodeQueries"] == 3
        assert "timeout:1 attempts:3, from /etc/resolv.conf" in a["message"]
        assert "about 2." in a["message"]  # two 1 s timeouts of the node's own resolver
        # Three lost queries: the node's resolver would have given up; the resolver still works.
        assert b["status"] == "WARN" and b["measured"] == 3 and b["threshold"] == 2, b["message"]
        assert "would have failed this lookup" in b["message"]

        lossy.node_resolv_conf(site)  # no options line: glibc's timeout:5 attempts:2
        profile = site.profile(endpoints=[{"host": "c.lab.test"}], dns={})
        doc, _ = run(site, profile, "--only", "dns.endpoint")
        c = check(doc, "dns.endpoint.c.lab.test.resolve")
        assert c["status"] == "WARN" and c["evidence"]["resolvConf"]["attempts"] == 2, c["message"]
        assert "timeout:5 attempts:2, glibc's defaults" in c["message"]


def _stopped(site: Site) -> None:
    pass  # no DNS server at all: UDP 53 gets port unreachable, TCP 53 a reset


def _black_holed(site: Site) -> None:
    site.dns()
    site.router_rules(f"ip daddr {RESOLVER} drop")


@pytest.mark.parametrize(("setup", "measured", "words"), [
    (_stopped, "timeout", f"other traffic to the resolver gets through ({RESOLVER}: TCP 53 refused)"),
    (_black_holed, "path down", "network path problem, not a DNS one"),
])
def test_a_dead_resolver_still_fails_and_a_dead_path_is_named(tmp_path: Path, setup: Any, measured: str,
                                                              words: str) -> None:
    with Lab("udr") as lab:
        site = Site.build(lab, tmp_path)
        site.api_server()
        setup(site)
        doc, wall = run(site, site.profile(dns={}), "--only", "dns.eks-api")
        r = check(doc, "dns.eks-api.resolve")
        assert r["status"] == "FAIL" and r["measured"] == measured, r["message"]
        assert words in r["message"], r["message"]
        assert len(r["evidence"]["queries"]) >= 4 and r["evidence"]["lostQueries"] == len(r["evidence"]["queries"])
        if measured == "timeout":
            assert r["message"].startswith(f"Resolving {API_HOST} via {RESOLVER}:53 failed after ")
            assert "with no answer at all (timeout)." in r["message"]
        assert doc["verdict"] == "NO-GO" and wall < 15


def test_full_runs_at_5_percent_loss_blame_no_service(tmp_path: Path) -> None:
    """Two full runs on a working site (bench/bench_loss.py does ten): loss is nobody's service fault."""
    with Lab("udr") as lab:
        site, profile = lossy.build(lab, tmp_path, 5)
        for _ in range(2):
            doc, wall = run(site, profile, "--deadline", "60")
            bad = {c["id"]: c["message"] for c in doc["checks"]
                   if c["id"].split(".")[0] in WATCHED and c["status"] in ("FAIL", "ERROR")}
            assert bad == {}
            assert wall < 60
            ran = {c["id"]: c["status"] for c in doc["checks"]}
            assert ran["dns.eks-api.resolve"] in ("PASS", "WARN") and ran["clock.ntp.offset"] == "PASS"
            assert ran[f"cni.{services.OTHER_IP}.udp-8472"] == "PASS"
