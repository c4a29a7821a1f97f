"""Every AWS name netcheck plans, per partition, resolved for real — only by the lab's resolver.

tests/test_endpoints.py checks the names as strings and forbids any lookup. Here the same
names (nodeadm's, for one Region per partition) are resolved by `netcheck run` in the node
namespace of a Lab, whose only resolver is a dnsmasq inside the lab's VPC namespace that
answers exactly these names with a lab address (`--no-resolv`: no upstream). The node
namespace has no route out of the lab, so a name can resolve nowhere else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.lab import Lab
from tests.test_endpoints import FEATURES, NODEADM, hosts, settings


@pytest.mark.netns
@pytest.mark.parametrize("region", list(NODEADM))
def test_planned_names_resolve_only_through_the_lab_resolver(tmp_path: Path, region: str) -> None:
    from testbed.services import API_HOST, API_IP, OTHER_IP, Site

    planned = hosts(settings(region))
    assert NODEADM[region].items() <= planned.items()
    with Lab(prefix="ncaws") as lab:
        site = Site.build(lab, tmp_path)
        site.dns({API_HOST: API_IP, **{h: OTHER_IP for h in planned.values()}})
        cluster: dict[str, Any] = yaml.safe_load(site.profile().read_text())["spec"]["cluster"]
        cluster.pop("endpoint", None)  # the lab's API name is a us-west-2 endpoint: another Region refuses it
        profile = site.profile(cluster={**cluster, "region": region}, credentials="ssm",
                               features={**FEATURES, "install": True})
        out, _ = site.netcheck("run", "-c", str(profile), "--only", "dns.*", "--format", "json", timeout=60)
        default_route = lab.run(site.node, ["ip", "route", "show", "default"]).stdout
    assert out.returncode in (0, 3), out.stderr
    checks = {c["id"]: c for c in json.loads(out.stdout)["checks"]}
    assert "192.168.50.1" in default_route  # the node's only way out is the lab router
    for subject, host in planned.items():
        c = checks[f"dns.{subject}.resolve"]
        assert c["status"] == "PASS", (host, c["message"])
        assert OTHER_IP in json.dumps(c["evidence"]), (host, c["evidence"])
