"""`netcheck demo` end to end: GO against the loopback stand-ins, with every area measured."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import validate_report

MEASURED_AREAS = {"cidr", "dns", "reachability", "tls", "latency", "mtu", "bandwidth", "inbound", "clock"}


def test_demo_ends_in_go_with_measurements() -> None:
    proc = subprocess.run([sys.executable, "-m", "netcheck", "demo", "--format", "json"],
                          capture_output=True, text=True, timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    validate_report(doc)
    assert (doc["verdict"], proc.returncode) == ("GO", 0), [
        (c["id"], c["status"], c["message"]) for c in doc["checks"] if c["status"] in ("FAIL", "ERROR")]
    passed = {c["category"] for c in doc["checks"] if c["status"] == "PASS"}
    assert passed >= MEASURED_AREAS
    by_id = {c["id"]: c for c in doc["checks"]}
    bandwidth = [c for c in doc["checks"] if c["category"] == "bandwidth"]
    assert bandwidth and all(c["status"] == "PASS" and c["unit"] == "Mbit/s" and c["measured"] > 100 for c in bandwidth)
    assert by_id["mtu.cni"]["status"] == "PASS"
    assert not [c for c in doc["checks"] if c["status"] == "ERROR"]
