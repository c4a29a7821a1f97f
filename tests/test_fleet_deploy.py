"""Per-site deployment (issue 23 item 4): every Kustomize overlay renders with the real kustomize (`kubectl
kustomize`) into manifests that validate against the Kubernetes schemas, carry the site's own profile and
select only that site's nodes; the systemd unit with its EnvironmentFile passes `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from netcheck.settings import profile_from_data

ROOT = Path(__file__).resolve().parent.parent
SITES = sorted(p.parent for p in (ROOT / "examples" / "kubernetes-sites").glob("*/kustomization.yaml"))
KUBECTL = shutil.which("kubectl")


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) not installed")
@pytest.mark.parametrize("overlay", SITES, ids=lambda p: p.name)
def test_overlay_renders_validates_and_selects_its_site(overlay: Path) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed (test extra)")
    assert KUBECTL is not None
    proc = subprocess.run([KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    site = overlay.name
    for doc in docs:
        kv.validate(doc, "1.30", strict=True)
        assert doc["metadata"]["name"].endswith(f"-{site}") and doc["metadata"]["namespace"] == "kube-system"
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    profile = profile_from_data(yaml.safe_load(cm["data"]["site.yaml"]), f"{overlay}/site.yaml")
    assert profile.metadata.labels["site"] == site
    workloads = [d for d in docs if d["kind"] in ("DaemonSet", "CronJob")]
    assert workloads and len({d["kind"] for d in workloads}) == 1  # one way per site: DaemonSet or CronJobs
    for doc in workloads:
        pod = _pod(doc)
        assert pod["nodeSelector"] == {"eks.amazonaws.com/compute-type": "hybrid", "netcheck/site": site}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["site"]["configMap"]["name"] == cm["metadata"]["name"]
    names = [d["metadata"]["name"] for d in docs]
    assert len(names) == len(set(names))


def test_overlays_differ_per_site() -> None:
    profiles = [yaml.safe_load((o / "site.yaml").read_text()) for o in SITES]
    assert len(SITES) >= 2
    assert len({str(p["spec"]["remoteNetwork"]) for p in profiles}) == len(SITES)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_with_environment_file_verifies(tmp_path: Path) -> None:
    systemd = ROOT / "examples" / "systemd"
    service = (systemd / "netcheck.service").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "/opt/netcheck/bin/netcheck run" in service and "/opt/netcheck/bin/pip install ." in readme
    assert "EnvironmentFile=-/etc/netcheck/netcheck.env" in service
    env = (systemd / "netcheck.env").read_text()
    for key in ("NETCHECK_CONFIG=", "NETCHECK_TOKEN_FILE=", "HTTPS_PROXY=", "NO_PROXY="):
        assert key in env, key
    envfile = tmp_path / "netcheck.env"
    envfile.write_text(env)
    for name in ("netcheck.service", "netcheck.timer", "netcheck-responder.service"):
        text = (systemd / name).read_text().replace("/opt/netcheck/bin/netcheck", "/bin/true")
        (tmp_path / name).write_text(text.replace("/etc/netcheck/netcheck.env", str(envfile)))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", "netcheck.service", "netcheck.timer",
                           "netcheck-responder.service"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    ours = [ln for ln in proc.stderr.splitlines() if "netcheck" in ln]
    assert proc.returncode == 0 and not ours, proc.stderr
