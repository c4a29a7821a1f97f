"""The README's platform tables and `netcheck plan` come from the same tables the probes plan from."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from probes import tls
from probes.cnimodel import markdown_table
from probes.endpoints import markdown_partitions
from probes.vpc import markdown_route_targets

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("table", [markdown_partitions, markdown_table, markdown_route_targets])
def test_readme_holds_the_generated_table(table: Callable[[], str]) -> None:
    text = table()
    assert text.count("\n") >= 3 and text.lstrip().startswith("|"), text  # a Markdown table with rows
    assert text in README, f"README.md is out of date; paste the output of {table.__name__}():\n{text}"


def test_readme_names_every_amazon_root() -> None:
    assert "Amazon Root CA 1–4" in README and len(tls.AMAZON_ROOTS) == 5


def test_plan_for_a_china_site(tmp_path: Path) -> None:
    site = tmp_path / "cn.yaml"
    site.write_text("apiVersion: netcheck/v1\nkind: SiteProfile\nmetadata: {name: cn}\nspec:\n"
                    "  cluster: {name: prod, region: cn-north-1}\n  credentials: ssm\n"
                    "  remoteNetwork: {nodeCidrs: [192.168.50.0/24]}\n  cni: {plugin: calico, mode: ipip}\n"
                    "  peers: [192.168.50.11]\n")
    proc = subprocess.run([sys.executable, "-m", "netcheck", "plan", "-c", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "# partition: aws-cn (AWS China)" in out and "nodeadm install --region cn-north-1" in out
    assert "dns.hybrid-assets.resolve" in out and "eks-hybrid-assets.awsstatic.cn resolves" in out
    hosts = [line.split()[-2] for line in out.splitlines() if line.startswith("dns.") and "resolves" in line]
    assert hosts and all(h == "eks-hybrid-assets.awsstatic.cn" or h.endswith(".amazonaws.com.cn")
                         or h.endswith(".api.amazonwebservices.com.cn") for h in hosts), hosts
    assert "cni.192.168.50.11.ipip" in out and "firewall.local.ipip" in out
    assert ".amazonaws.com " not in out


def test_eusc_region_plans(tmp_path: Path) -> None:
    site = tmp_path / "eusc.yaml"
    site.write_text("apiVersion: netcheck/v1\nkind: SiteProfile\nspec:\n  cluster: {region: eusc-de-east-1}\n"
                    "  credentials: iam-roles-anywhere\n")
    proc = subprocess.run([sys.executable, "-m", "netcheck", "plan", "-c", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "rolesanywhere.eusc-de-east-1.amazonaws.eu" in proc.stdout
