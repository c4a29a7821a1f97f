"""`netcheck run` on real namespace paths: latency and MTU verdicts, as root and as nobody."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from testbed.delay import AS_NOBODY, REPO, add_delay, limit_mtu, serve_echo
from testbed.lab import NS, Lab
from tests.conftest import validate_report

pytestmark = pytest.mark.netns

PROFILE = """apiVersion: netcheck/v1
kind: SiteProfile
metadata: {name: lab}
spec:
  cluster: {controlPlaneIps: [10.20.1.11]}
  vpc: {cidrs: [10.20.0.0/16]}
  remoteNetwork: {nodeCidrs: [192.168.50.0/24]}
  responder: 10.20.1.10:7447
  latency: {samples: 10}
"""


def _run(lab: Lab, node: NS, prefix: list[str]) -> tuple[int, dict[str, Any]]:
    d = Path(tempfile.mkdtemp(prefix="nc-path-"))
    try:
        os.chmod(d, 0o755)
        (d / "site.yaml").write_text(PROFILE)
        os.chmod(d / "site.yaml", 0o644)
        out = lab.run(node, [*prefix, sys.executable, "-m", "netcheck", "run", "-c", str(d / "site.yaml"),
                             "--format", "json", "--only", "latency.rtt,mtu.path,mtu.cni", "--deadline", "50"],
                      check=False, timeout=90, cwd=str(REPO))
    finally:
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    assert out.returncode in (0, 3, 4), out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    validate_report(doc)
    return out.returncode, doc


def _status(doc: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in doc["checks"]}


def test_root_run_250ms_and_1400_hop_is_no_go() -> None:
    with Lab("pth") as lab:
        node, router, vpc = lab.hybrid()
        serve_echo(lab, vpc)
        add_delay(lab, router, 250)
        limit_mtu(lab, router, 1400)
        code, doc = _run(lab, node, [])
        assert _status(doc) == {"latency.rtt.10.20.1.10": "FAIL", "latency.rtt.10.20.1.11": "FAIL",
                                "mtu.path.10.20.1.11": "WARN", "mtu.path.10.20.1.10": "WARN", "mtu.cni": "WARN"}
        assert code == 3 and doc["verdict"] == "NO-GO"
        by_id = {c["id"]: c for c in doc["checks"]}
        assert by_id["mtu.cni"]["measured"] == 1350 and by_id["mtu.path.10.20.1.10"]["measured"] == 1400
        assert "UDP echo via the responder" in by_id["latency.rtt.10.20.1.10"]["message"]


def test_nobody_without_icmp_gets_results_or_privilege_skips() -> None:
    with Lab("pth") as lab:
        node, _router, vpc = lab.hybrid()
        serve_echo(lab, vpc)
        lab.sysctl(node, "net.ipv4.ping_group_range", "1 0")
        code, doc = _run(lab, node, AS_NOBODY)
        status = _status(doc)
        assert status == {"latency.rtt.10.20.1.10": "PASS", "latency.rtt.10.20.1.11": "PASS",
                          "mtu.path.10.20.1.11": "SKIP", "mtu.path.10.20.1.10": "PASS", "mtu.cni": "PASS"}
        by_id = {c["id"]: c for c in doc["checks"]}
        skip = by_id["mtu.path.10.20.1.11"]
        assert skip["evidence"]["skipReason"] == "privilege" and "ping_group_range" in skip["remediation"]
        tcp = by_id["latency.rtt.10.20.1.11"]
        assert "TCP 443 handshake" in tcp["message"] and "ping_group_range" in tcp["message"]
        assert code == 4 and doc["verdict"] == "INCONCLUSIVE"  # a privilege skip leaves the verdict open
