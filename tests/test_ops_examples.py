"""Operations examples: every YAML parses, the Kubernetes manifests validate against the Kubernetes
schemas (kubernetes-validate ships them, so this works offline), systemd units and alert rules pass
their own tools, and the nodeadm pre-join hook stops the join on NO-GO and says why."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REPORTS = ROOT / "tests" / "fixtures" / "reports"
HOOK = EXAMPLES / "nodeadm" / "netcheck-prejoin.sh"
K8S_VERSION = "1.30"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")) + sorted(EXAMPLES.rglob("*.yml")),
                         ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_yaml_parses(path: Path) -> None:
    assert _docs(path), f"{path} is empty"


def _workloads() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, d) for p in sorted((EXAMPLES / "kubernetes").glob("*.yaml")) for d in _docs(p)
            if d.get("kind") != "Kustomization"]


@pytest.mark.parametrize(("name", "doc"), _workloads(), ids=lambda v: v if isinstance(v, str) else v.get("kind", "?"))
def test_kubernetes_manifests_validate(name: str, doc: dict[str, Any]) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed (test extra)")
    kv.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_validation_catches_mistakes() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed (test extra)")
    doc = next(d for _, d in _workloads() if d["kind"] == "CronJob")
    bad = json.loads(json.dumps(doc))
    bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["hostNetwork"] = "yes"
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSION, strict=True)


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["CronJob", "DaemonSet"])
def test_hybrid_workloads_least_privilege(kind: str) -> None:
    docs = [d for _, d in _workloads() if d["kind"] == kind]
    assert docs
    for doc in docs:
        _least_privilege(doc)


def _least_privilege(doc: dict[str, Any]) -> None:
    pod = _pod_spec(doc)
    assert pod["nodeSelector"] == {"eks.amazonaws.com/compute-type": "hybrid"}  # a node label, not a host
    assert pod["hostNetwork"] is True
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}
    assert sc["allowPrivilegeEscalation"] is False and sc.get("privileged") is not True
    assert sc["readOnlyRootFilesystem"] is True
    command = " ".join(container.get("command", []) + container.get("args", []))
    assert "--history" in command and "--deadline" in command


def test_prometheus_alert_rules() -> None:
    (doc,) = _docs(EXAMPLES / "prometheus" / "alerts.yaml")
    alerts = {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}
    assert 'netcheck_verdict{verdict="NO-GO"} == 1' in alerts["NetcheckNoGo"]
    assert "netcheck_run_timestamp_seconds" in alerts["NetcheckStale"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus): rules parsed as YAML only")
    proc = subprocess.run([promtool, "check", "rules", str(EXAMPLES / "prometheus" / "alerts.yaml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_systemd_units(tmp_path: Path) -> None:
    import configparser

    for name in ("netcheck.service", "netcheck.timer"):
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.optionxform = str  # type: ignore[assignment,method-assign]
        cp.read_string((EXAMPLES / "systemd" / name).read_text())
        assert cp.has_section("Unit") and cp.has_section("Install")
    service = (EXAMPLES / "systemd" / "netcheck.service").read_text()
    assert "--format prometheus" in service and "/var/lib/prometheus/node-exporter/netcheck.prom" in service
    assert "SuccessExitStatus=3 4" in service and "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN" in service
    assert "--quiet" in service and "example.com" not in service
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed: units parsed as INI only")
    for name in ("netcheck.service", "netcheck.timer"):  # verify wants the ExecStart binary to exist
        text = (EXAMPLES / "systemd" / name).read_text().replace("/opt/netcheck/bin/netcheck", "/bin/true")
        (tmp_path / name).write_text(text)
    proc = subprocess.run([analyze, "verify", "--man=no", "netcheck.service", "netcheck.timer"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    ours = [ln for ln in proc.stderr.splitlines() if "netcheck." in ln]
    assert proc.returncode == 0 and not ours, proc.stderr


# --- the nodeadm pre-join hook -------------------------------------------------------------

FAKE = """#!/bin/sh
# Stand-in for netcheck: writes a fixture report to -o, prints the terminal summary, exits as netcheck would.
out=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift ;; esac
  shift
done
cp "{fixture}" "$out"
"{python}" -c 'import json,sys; from netcheck.model import report_from_json; from netcheck.render import render; sys.stderr.write(render("table", report_from_json(json.load(open(sys.argv[1])))))' "{fixture}"
exit {code}
"""


def _hook_env(tmp_path: Path, netcheck_bin: Path, **extra: str) -> dict[str, str]:
    nodeconfig = tmp_path / "nodeConfig.yaml"
    nodeconfig.write_text("""apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster: {name: prod, region: us-west-2}
  hybrid: {ssm: {activationCode: AbCdEfGhIjKlMnOpQrStUv, activationId: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}}
  kubelet: {flags: ["--node-ip=192.168.50.5"]}
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETCHECK_")}
    env.update(NETCHECK_NODECONFIG=str(nodeconfig), NETCHECK_REPORT_DIR=str(tmp_path / "reports"),
               NETCHECK_BIN=str(netcheck_bin), PYTHONPATH=str(ROOT), NETCHECK_DEADLINE="30", **extra)
    return env


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _hook(env: dict[str, str], *join: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(HOOK), *(("--", *join) if join else ())], env=env, capture_output=True,
                          text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("fixture", "code"), [("nogo", 3), ("inconclusive", 4)])
def test_hook_stops_the_join_on_fixture(tmp_path: Path, fixture: str, code: int) -> None:
    fake = _executable(tmp_path / "netcheck", FAKE.format(fixture=REPORTS / f"{fixture}.json", python=sys.executable,
                                                          code=code))
    marker = tmp_path / "joined"
    proc = _hook(_hook_env(tmp_path, fake), "touch", str(marker))
    assert proc.returncode == code, proc.stderr
    assert not marker.exists(), "the join ran despite the verdict"
    assert "NOT joining the cluster" in proc.stderr
    if fixture == "nogo":
        assert "FAIL mtu.path.10.20.1.10: Path MTU to 10.20.1.10 is 1400 bytes" in proc.stderr
        assert "Fix: Set the node interface MTU to 1400" in proc.stderr
    else:
        assert "ERROR mtu.path.10.20.1.10" in proc.stderr and "latency.rtt.10.20.1.10" in proc.stderr
    (report,) = (tmp_path / "reports").glob("prejoin-*.json")
    assert json.loads(report.read_text())["verdict"] == json.loads((REPORTS / f"{fixture}.json").read_text())["verdict"]
    assert "\x1b[" not in proc.stderr + proc.stdout  # plain output without a TTY


def test_hook_inconclusive_can_be_allowed(tmp_path: Path) -> None:
    fake = _executable(tmp_path / "netcheck", FAKE.format(fixture=REPORTS / "inconclusive.json",
                                                          python=sys.executable, code=4))
    marker = tmp_path / "joined"
    proc = _hook(_hook_env(tmp_path, fake, NETCHECK_ON_INCONCLUSIVE="continue"), "touch", str(marker))
    assert proc.returncode == 0 and marker.exists(), proc.stderr


def _real_netcheck(tmp_path: Path) -> Path:
    return _executable(tmp_path / "netcheck", f'#!/bin/sh\nexec "{sys.executable}" -m netcheck "$@"\n')


PROFILE = """apiVersion: netcheck/v1
kind: SiteProfile
metadata: {{name: hook-lab}}
spec:
  cluster: {{serviceCidr: 172.20.0.0/16}}
  vpc: {{cidrs: [10.20.0.0/16]}}
  remoteNetwork: {{nodeCidrs: [192.168.50.0/24], podCidrs: [{pods}]}}
"""


@pytest.mark.parametrize(("pods", "code"), [("192.168.64.0/18", 0), ("10.20.64.0/18", 3)])
def test_hook_with_real_netcheck(tmp_path: Path, pods: str, code: int) -> None:
    """The real CLI (address-plan checks only: they read local state, send nothing)."""
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE.format(pods=pods))
    # This host does not hold the NodeConfig's --node-ip 192.168.50.5: node-ip is judged in test_phase_netns.
    env = _hook_env(tmp_path, _real_netcheck(tmp_path), NETCHECK_CONFIG=str(profile), NETCHECK_ONLY="cidr.*",
                    NETCHECK_SKIP="cidr.node-ip")
    marker = tmp_path / "joined"
    proc = _hook(env, "touch", str(marker))
    assert proc.returncode == code, proc.stderr
    assert marker.exists() is (code == 0)
    if code:
        assert "FAIL cidr.overlap.pod-vpc: Remote pod CIDR 10.20.64.0/18 overlaps VPC CIDR 10.20.0.0/16" in proc.stderr
    else:
        assert "GO: the network is ready" in proc.stderr


def test_hook_bad_nodeconfig_is_a_configuration_stop(tmp_path: Path) -> None:
    env = _hook_env(tmp_path, _real_netcheck(tmp_path))
    Path(env["NETCHECK_NODECONFIG"]).write_text("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec: []\n")
    proc = _hook(env, "true")
    assert proc.returncode == 2 and "bad configuration" in proc.stderr and "Traceback" not in proc.stderr


def test_hook_missing_netcheck(tmp_path: Path) -> None:
    proc = _hook(_hook_env(tmp_path, tmp_path / "nope"), "true")
    assert proc.returncode == 1 and "netcheck not found" in proc.stderr


# --- schedules that spread a fleet (issue 17) ----------------------------------------------

def _run_shell(script: str, tmp_path: Path) -> list[str]:
    """Run an example's shell with `netcheck run` and the start-up sleep replaced by echo; return the lines."""
    script = script.replace("exec netcheck", "netcheck").replace("netcheck run", "echo netcheck run")
    proc = subprocess.run(["/bin/sh", "-c", script.replace("sleep $((", "echo sleep $((")],
                          capture_output=True, text=True, timeout=10, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_daemonset_loop_jitters_its_start_and_measures_bandwidth_every_fourth_round(tmp_path: Path) -> None:
    (ds,) = [d for _, d in _workloads() if d["kind"] == "DaemonSet"]
    script = _pod_spec(ds)["containers"][0]["args"][0]
    loop = script.replace("sleep 900", "[ $round -ge 8 ] && exit 0")  # eight rounds, no waiting
    lines = _run_shell(loop, tmp_path)
    sleep = int(lines[0].split()[1])
    assert lines[0].startswith("sleep") and 0 <= sleep < 900
    runs = [ln for ln in lines if ln.startswith("netcheck run")]
    assert len(runs) == 8 and [("--skip bandwidth" in r) for r in runs] == [False, True, True, True] * 2


def test_cronjobs_spread_and_split_bandwidth(tmp_path: Path) -> None:
    jobs = {d["metadata"]["name"]: d for _, d in _workloads() if d["kind"] == "CronJob"}
    cheap, bw = jobs["netcheck"], jobs["netcheck-bandwidth"]
    for job in (cheap, bw):
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        (line,) = _run_shell(" ".join(_pod_spec(job)["containers"][0]["args"]).replace("&&", ";"), tmp_path)[:1]
        assert line.startswith("sleep")
    cheap_args = " ".join(_pod_spec(cheap)["containers"][0]["args"])
    bw_args = " ".join(_pod_spec(bw)["containers"][0]["args"])
    assert "--skip bandwidth" in cheap_args and "--only bandwidth" in bw_args
    assert bw["spec"]["schedule"].split()[1] == "*" and bw["spec"]["schedule"].split()[0].isdigit()  # hourly
    assert bw["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 2700 + 300


def test_systemd_timer_spreads_and_service_measures_bandwidth_hourly(tmp_path: Path) -> None:
    import re

    timer = (EXAMPLES / "systemd" / "netcheck.timer").read_text()
    assert "FixedRandomDelay=yes" in timer and "RandomizedDelaySec=14min" in timer and "OnCalendar=*:0/15" in timer
    service = (EXAMPLES / "systemd" / "netcheck.service").read_text().replace("\\\n", "")
    m = re.search(r"ExecStart=/bin/sh -c '(.*?)'\n", service, re.S)
    assert m is not None
    script = m.group(1).replace("$$", "$").replace("%%", "%")
    quarters = []
    for minute in (0, 15, 30, 45):  # a fake `date` per quarter hour: bandwidth in exactly one of the four
        fake = tmp_path / "bin"
        fake.mkdir(exist_ok=True)
        (fake / "date").write_text(f"#!/bin/sh\necho {minute + 7}\n")
        (fake / "date").chmod(0o755)
        proc = subprocess.run(["/bin/sh", "-c", script.replace("exec /opt/netcheck/bin/netcheck", "echo netcheck")],
                              capture_output=True, text=True, timeout=10, check=False,
                              env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
        assert proc.returncode == 0, proc.stderr
        quarters.append("--skip bandwidth" not in proc.stdout)
    assert quarters.count(True) == 1
