"""`netcheck regions` and latency.region.closest on namespace paths with a delay per Region.

Each Region's endpoint name (eks.<region>.amazonaws.com) resolves only through the lab's dnsmasq
(no upstream) to its own address in the lab's VPC namespace; the router holds packets toward each
address for that Region's delay (one TUN delay line per destination, testbed/delay.py). One Region
drops everything, one drops TCP but answers ICMP echo, one name does not exist. The node namespace's
only way out is the lab router, so nothing can reach a real address.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.delay import REPO
from testbed.lab import NS, Lab
from testbed.services import Site, tcp_listener

pytestmark = pytest.mark.netns

# Region → (its endpoint's lab address, one-way delay added at the router in ms).
REGIONS = {"us-west-2": ("10.20.2.1", 0), "us-east-1": ("10.20.2.2", 40), "eu-west-1": ("10.20.2.3", 120),
           "ap-south-1": ("10.20.2.4", 0), "me-south-1": ("10.20.2.5", 0)}
DROPPED, TCP_FILTERED, UNRESOLVED = "ap-south-1", "me-south-1", "sa-east-1"
CANDIDATES = ",".join([*REGIONS, UNRESOLVED])


def host(region: str) -> str:
    return f"eks.{region}.amazonaws.com"


def delay_to(lab: Lab, router: NS, dst: str, ms: float, index: int) -> None:
    """Hold packets from the node toward `dst` for `ms` at the router: one TUN delay line per destination."""
    dev, table = f"rdly{index}", str(110 + index)
    node_side = next(i for i, a in router.addrs.items() if a.startswith("192.168.50."))
    lab.run(router, ["ip", "tuntap", "add", "dev", dev, "mode", "tun"])
    lab.run(router, ["ip", "link", "set", dev, "up"])
    for key in ("all", "default", dev, node_side):
        lab.sysctl(router, f"net.ipv4.conf.{key}.rp_filter", "0")
    lab.run(router, ["ip", "route", "add", "default", "dev", dev, "table", table])
    lab.run(router, ["ip", "rule", "add", "iif", node_side, "to", f"{dst}/32", "lookup", table,
                     "priority", str(100 + index)])
    lab.popen(router, [sys.executable, "-m", "testbed.delay", "--dev", dev, "--ms", str(ms), "--seconds", "600"],
              cwd=str(REPO))
    end = time.monotonic() + 10
    while time.monotonic() < end:  # carrier comes up once the forwarder has attached
        out = lab.run(router, ["ip", "-o", "link", "show", "dev", dev], check=False).stdout
        if "NO-CARRIER" not in out and "LOWER_UP" in out:
            return
        time.sleep(0.05)
    raise TimeoutError(f"delay line {dev} toward {dst} did not start")


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with Lab("rgn") as lab:
        site = Site.build(lab, tmp_path_factory.mktemp("regions"))
        vif = next(iter(site.vpc.addrs))
        for i, (_region, (ip, ms)) in enumerate(REGIONS.items()):
            lab.run(site.vpc, ["ip", "addr", "add", f"{ip}/16", "dev", vif])
            tcp_listener(lab, site.vpc, ip, 443)
            if ms:
                delay_to(lab, site.router, ip, ms, i)
        site.router_rules(f"ip daddr {REGIONS[DROPPED][0]} drop", f"ip daddr {REGIONS[TCP_FILTERED][0]} tcp dport 443 drop")
        site.dns({host(r): ip for r, (ip, _) in REGIONS.items()}, nxdomain=[host(UNRESOLVED)])
        yield site


def profile(bed: Site, region: str) -> Path:
    cluster = yaml.safe_load(bed.profile().read_text())["spec"]["cluster"]
    cluster.pop("endpoint", None)  # the lab's API name is a us-west-2 endpoint: another Region refuses it
    return bed.profile(cluster={**cluster, "region": region, "endpointAccess": "public"}, credentials="ssm",
                       latency={"regions": CANDIDATES.split(",")})


def test_the_node_can_reach_only_the_lab(bed: Site) -> None:
    routes = bed.lab.run(bed.node, ["ip", "-o", "route", "show"]).stdout
    assert "default via 192.168.50.1" in routes and len(routes.splitlines()) == 2, routes
    ifaces = bed.lab.run(bed.node, ["ip", "-o", "link", "show"]).stdout.splitlines()
    assert len(ifaces) == 2, ifaces  # lo and the veth to the lab router


def test_regions_ranks_by_the_delay_of_each_path(bed: Site) -> None:
    out, seconds = bed.netcheck("regions", "-c", str(profile(bed, "eu-west-1")), "--candidates", CANDIDATES,
                                "--format", "json", timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    rows = {r["region"]: r for r in doc["regions"]}
    order = [r["region"] for r in doc["regions"]]
    med = {r: rows[r]["medianMs"] for r in REGIONS if rows[r]["medianMs"] is not None}
    assert set(order[:2]) == {"us-west-2", "me-south-1"} and order[2:4] == ["us-east-1", "eu-west-1"], (order, med)
    assert med["us-west-2"] < 15 and 38 <= med["us-east-1"] < 90 and 118 <= med["eu-west-1"] < 190, med
    assert rows["me-south-1"]["method"] == "icmp" and "ICMP echo instead" in rows["me-south-1"]["detail"]
    assert rows["us-east-1"]["method"] == "tcp-443" and rows["us-east-1"]["received"] == 5
    assert rows[DROPPED]["state"] == "no-answer" and rows[DROPPED]["rank"] is None
    assert rows[UNRESOLVED]["state"] == "unresolved" and "NXDOMAIN" in rows[UNRESOLVED]["detail"]
    assert order[-2:] == [DROPPED, UNRESOLVED] or order[-2:] == [UNRESOLVED, DROPPED]
    assert rows["eu-west-1"]["cluster"] and doc["finding"] == "closer"
    assert set(doc["fasterThanCluster"]) == {"us-west-2", "me-south-1", "us-east-1"}
    assert {r["ip"] for r in doc["regions"] if r["ip"]} <= {ip for ip, _ in REGIONS.values()}
    assert seconds < 20, seconds  # all Regions at once: the slowest (a dropped one) bounds the whole
    table, _ = bed.netcheck("regions", "-c", str(profile(bed, "eu-west-1")), "--candidates", CANDIDATES,
                            timeout=60)
    assert "eu-west-1*" in table.stdout and "did not answer" in table.stdout and "did not resolve" in table.stdout
    assert "markedly faster" in table.stdout


def test_the_run_check_warns_without_changing_the_verdict(bed: Site) -> None:
    out, _ = bed.netcheck("run", "-c", str(profile(bed, "eu-west-1")), "--only", "latency.region,dns.eks",
                          "--format", "json", timeout=90)
    doc = json.loads(out.stdout)
    by = {c["id"]: c for c in doc["checks"]}
    closest = by["latency.region.closest"]
    assert closest["status"] == "WARN" and closest["severity"] == "advisory", closest["message"]
    assert "eu-west-1" in closest["message"] and "us-west-2" in closest["message"]
    # us-west-2 (TCP) and me-south-1 (ICMP) both sit behind no delay: either may rank first on a busy machine
    assert re.search(r"Consider (us-west-2|me-south-1) ", closest["remediation"]) and closest["measured"] > 110
    assert by["dns.eks.resolve"]["status"] == "PASS"
    assert (doc["verdict"], out.returncode) == ("GO", 0), out.stderr
    out, _ = bed.netcheck("run", "-c", str(profile(bed, "us-west-2")), "--only", "latency.region",
                          "--format", "json", timeout=90)
    closest = json.loads(out.stdout)["checks"][0]
    assert closest["status"] == "PASS", closest["message"]  # me-south-1 has no delay either: a tie at best
    assert "is the closest" in closest["message"] or "me-south-1" in closest["message"]
    assert "ICMP echo for me-south-1" in closest["message"]
    assert "1 did not answer (ap-south-1)" in closest["message"] and "1 did not resolve (sa-east-1)" in closest["message"]
