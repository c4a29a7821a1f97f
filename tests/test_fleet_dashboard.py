"""The Grafana dashboard and the alert rules against a real Prometheus (issue 23 item 3).

Real netcheck runs (the whole preflight against the demo's loopback stand-ins) write textfiles for three
sites, one of them NO-GO (its pod CIDR overlaps the VPC); one real node_exporter per node serves its
textfile directory on loopback; a real Prometheus scrapes them; every panel query of
examples/grafana/netcheck-fleet.json (and the site variable) must return data through the HTTP API.
The alert rules are tested with `promtool test rules`. Every process is started and ended by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed import free_port

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "examples" / "grafana" / "netcheck-fleet.json"
ALERTS = ROOT / "examples" / "prometheus" / "alerts.yaml"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMETHEUS = shutil.which("prometheus")
SITES = {"lon": "192.168.64.0/18", "par": "192.168.64.0/18", "ber": "127.20.64.0/18"}  # ber: pods in the VPC

# One process, one set of stand-ins, one real preflight per site; each writes <dir>/<site>/netcheck.prom.
RUNS = """
import contextlib, json, sys
from pathlib import Path
from netcheck.app import Options, preflight
from netcheck.demo import demo_profile, start_standins
from netcheck.render import render
from netcheck.settings import Settings, SiteProfile

out, sites = Path(sys.argv[1]), json.loads(sys.argv[2])
with contextlib.ExitStack() as stack:
    extra, token = start_standins(stack)
    for site, pods in sites.items():
        doc = demo_profile(**extra)
        doc["metadata"] = {"name": site + "-rack1", "labels": {"site": site, "link": "vpn", "rack-id": "r1"}}
        doc["spec"]["remoteNetwork"] = {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": [pods]}
        settings = Settings(profile=SiteProfile.model_validate(doc), source="test", token=token)
        report = preflight(settings, Options(deadline=90)).report
        (out / site).mkdir(parents=True)
        (out / site / "netcheck.prom").write_text(render("prometheus", report))
        print(site, report.verdict.value, flush=True)
"""


def _get(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback only
        return json.loads(resp.read()) if "/api/" in url else resp.read().decode()


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], limit: float = 90) -> Any:
    """Poll check() until it returns something truthy; fail with `what` after `limit` seconds or if proc exits."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        assert proc.poll() is None, f"{what}: the process exited with {proc.returncode}"
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"{what}: not ready after {limit} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if NODE_EXPORTER is None or PROMETHEUS is None:
        pytest.skip("needs prometheus and prometheus-node-exporter (Debian packages; scripts/install-deps)")
    tmp = tmp_path_factory.mktemp("fleet-prom")
    runs = subprocess.run([sys.executable, "-c", RUNS, str(tmp / "textfiles"), json.dumps(SITES)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    assert runs.returncode == 0, runs.stderr
    assert runs.stdout.split() == ["lon", "GO", "par", "GO", "ber", "NO-GO"], runs.stdout + runs.stderr
    procs: list[subprocess.Popen[bytes]] = []
    try:
        targets = []
        for site in SITES:
            port = free_port()
            procs.append(subprocess.Popen(
                [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                 "--collector.textfile", f"--collector.textfile.directory={tmp / 'textfiles' / site}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait("node_exporter", lambda port=port: "netcheck_verdict" in _get(f"http://127.0.0.1:{port}/metrics"),
                  procs[-1])
            targets.append(f"127.0.0.1:{port}")
        config = tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                          "rule_files": [str(ALERTS)],
                                          "scrape_configs": [{"job_name": "node",
                                                              "static_configs": [{"targets": targets}]}]}))
        port = free_port()
        procs.append(subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{port}"
        _wait("prometheus /-/ready", lambda: "Ready" in _get(f"{base}/-/ready"), procs[-1])

        def scraped() -> bool:
            doc = _get(f"{base}/api/v1/query?query=" + urllib.parse.quote("count(netcheck_verdict == 1)"))
            return bool(doc["data"]["result"]) and doc["data"]["result"][0]["value"][1] == str(len(SITES))

        _wait("every node scraped", scraped, procs[-1])
        yield base
    finally:
        for p in reversed(procs):
            _stop(p)


def _queries() -> list[tuple[str, str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], p["type"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_dashboard_is_importable_as_is() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert "__inputs" not in dash and dash["uid"] and dash["title"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for p in dash["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"] and 'site=~"$site"' in t["expr"], p["title"]
    titles = " ".join(t for t, _, _ in _queries()).lower()
    for word in ("verdict", "blocking", "round-trip", "loss", "bandwidth", "mtu", "stale", "age"):
        assert word in titles, word
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_query_returns_data(prometheus: str) -> None:
    sites = _get(f"{prometheus}/api/v1/label/site/values?" + urllib.parse.urlencode({"match[]": "netcheck_verdict"}))
    assert sorted(sites["data"]) == sorted(SITES)  # the site variable's query
    now = time.time()
    for title, ptype, expr in _queries():
        for value in (".*", "ber"):  # "All", and one site picked
            q = expr.replace("$site", value)
            if ptype == "timeseries":
                url = f"{prometheus}/api/v1/query_range?" + urllib.parse.urlencode(
                    {"query": q, "start": now - 300, "end": now + 5, "step": "1s"})
            else:
                url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            doc = _get(url)
            assert doc["status"] == "success" and doc["data"]["result"], f"{title} ({value}): no data for {q}"
    blocking = _get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": next(
        e for t, _, e in _queries() if t.startswith("Blocking")).replace("$site", ".*")}))
    failing = {(r["metric"]["site"], r["metric"]["check"]) for r in blocking["data"]["result"]}
    assert ("ber", "cidr.overlap.pod-vpc") in failing and {site for site, _ in failing} == {"ber"}
    info = _get(f"{prometheus}/api/v1/query?query=netcheck_info")
    assert {r["metric"]["rack_id"] for r in info["data"]["result"]} == {"r1"}  # sanitised profile label


def _rule_test(tmp_path: Path, series: list[dict[str, str]], tests: list[dict[str, Any]]) -> str:
    path = tmp_path / "alerts_test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": [str(ALERTS)], "evaluation_interval": "1m",
                                    "tests": [{"interval": "1m", "input_series": series,
                                               "alert_rule_test": tests}]}))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_textfile_missing_and_stale_alerts_per_node(tmp_path: Path) -> None:
    """n1 reports throughout; n2's textfile disappears after 30 minutes; n3's stops being rewritten."""
    series = [
        {"series": 'netcheck_run_timestamp_seconds{instance="n1:9100",job="node",site="lon"}',
         "values": " ".join(str(60 * i) for i in range(180))},
        {"series": 'netcheck_run_timestamp_seconds{instance="n2:9100",job="node",site="lon"}',
         "values": " ".join(str(60 * i) for i in range(30))},
    ]
    missing = {"exp_labels": {"instance": "n2:9100", "site": "lon", "severity": "warning"},
               "exp_annotations": {
                   "summary": "Site lon, node n2:9100: the netcheck textfile is missing",
                   "description": "node_exporter on n2:9100 no longer exposes netcheck_* metrics. Check that "
                                  "/var/lib/prometheus/node-exporter/netcheck.prom exists, that node_exporter runs "
                                  "with --collector.textfile.directory=/var/lib/prometheus/node-exporter, and that "
                                  'up{instance="n2:9100"} is 1.'}}
    tests = [{"eval_time": "20m", "alertname": "NetcheckTextfileMissing", "exp_alerts": []},
             {"eval_time": "2h", "alertname": "NetcheckTextfileMissing", "exp_alerts": [missing]},
             {"eval_time": "2h", "alertname": "NetcheckAbsentEverywhere", "exp_alerts": []}]
    assert _rule_test(tmp_path, series, tests) == ""
    # n3's one sample is long past (a textfile nobody rewrites keeps its old timestamp): stale, not missing
    stale = [{"series": 'netcheck_run_timestamp_seconds{instance="n3:9100",job="node",site="par"}',
              "values": "0x180"}]
    tests = [{"eval_time": "2h", "alertname": "NetcheckStale", "exp_alerts": [{
        "exp_labels": {"instance": "n3:9100", "job": "node", "site": "par", "severity": "warning"},
        "exp_annotations": {"summary": "Site par, node n3:9100: netcheck has not reported for over an hour",
                            "description": "The textfile was last written 2h 0m 0s ago; check netcheck.timer or "
                                           "the DaemonSet pod."}}]},
             {"eval_time": "2h", "alertname": "NetcheckTextfileMissing", "exp_alerts": []}]
    assert _rule_test(tmp_path, stale, tests) == ""
