"""The README's platform tables and `netcheck plan` come from the same tables the probes plan from, and each
README row says what netcheck does: the checks a site with that CNI or in that partition plans, the verdict the
VPC probe gives a route to that target."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netcheck import phase as phases
from netcheck import platform
from netcheck.plan import build_plan
from netcheck.settings import Settings, SiteProfile
from probes import tls, vpc
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


def readme_table(header: str) -> list[list[str]]:
    """The body rows of the README table whose header line starts with `header`, as stripped cells."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    assert rows, f"README table {header!r} has no rows"
    return rows


def planned(spec: dict[str, Any]) -> dict[str, Any]:
    """Check id → Check that a pre-join plan of a site with `spec` holds (nothing is sent)."""
    site = {"cluster": {"region": "us-west-2"}, "credentials": "ssm",
            "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"]}, **spec}
    settings = phases.with_phase(Settings(SiteProfile.model_validate({"spec": site}), "test"), "pre-join")
    return {c.id: c for c in build_plan(settings).checks}


def _port_id(shown: str) -> str:
    """'UDP 8472' → 'udp-8472', 'IP protocol 4' → 'ipip' (the id suffix the CNI checks use)."""
    return "ipip" if shown == "IP protocol 4" else shown.lower().replace(" ", "-")


def test_readme_cni_rows_are_what_a_site_with_that_cni_plans() -> None:
    """Each row's ports are the cni.<peer>.* checks (router ports on the local firewall only) and severities."""
    rows = readme_table("| plugin | mode |")
    assert len(rows) == 16  # 2 plugins: cilium 4 modes, calico 4 modes, each with and without WireGuard
    peer = "192.168.50.11"
    for plugin, mode, wg, required, advisory, *_ in rows:
        cni = {"plugin": plugin, "mode": mode.removesuffix(" (default)"), "wireguard": wg == "yes"}
        checks = planned({"peers": [peer], "cni": cni})
        want_req = [x for x in required.split(", ") if x != "–"]
        want_adv = [x for x in advisory.split(", ") if x != "–"]
        per_peer = {_port_id(x): "required" for x in want_req if not x.endswith(" (router)")}
        per_peer |= {_port_id(x): "advisory" for x in want_adv}
        got = {i.removeprefix(f"cni.{peer}."): c.severity.value for i, c in checks.items() if i.startswith("cni.")}
        assert got == per_peer, (plugin, mode, wg)
        local = {_port_id(x.removesuffix(" (router)")): "required" for x in want_req}
        local |= {_port_id(x): "advisory" for x in want_adv}
        got_local = {i.removeprefix("firewall.local."): c.severity.value for i, c in checks.items()
                     if i.startswith("firewall.local.") and i != "firewall.local.tcp-10250"}  # the kubelet's port
        assert got_local == local, (plugin, mode, wg)


SAMPLE_REGION = {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1", "aws-eusc": "eusc-de-east-1",
                 "aws": "us-west-2"}


def test_readme_partition_rows_are_what_a_site_in_that_partition_plans() -> None:
    rows = readme_table("| partition | Regions |")
    assert {row[0].split()[0] for row in rows} == {p.id for p in platform.PARTITIONS} == set(SAMPLE_REGION)
    for name, prefixes, names, assets, _registry, roots in rows:
        pid = name.split()[0]
        region = SAMPLE_REGION[pid]
        assert platform.partition_of(region).id == pid
        assert prefixes == "all others" or any(region.startswith(p.rstrip("*")) for p in prefixes.split(", "))
        checks = planned({"cluster": {"region": region}})
        suffix = names.strip("`").removeprefix("<service>.<region>.")
        assert checks["dns.sts.resolve"].spec.name == f"sts.{region}.{suffix}", pid
        assert checks["dns.hybrid-assets.resolve"].spec.name == assets.strip("`"), pid
        assert checks["tls.sts.handshake"].spec.amazon_roots is (roots == "yes"), pid


ID_SAMPLE = {"CoreNetworkArn": "arn:aws:networkmanager::123456789012:core-network/core-network-0abc"}


def test_readme_route_target_rows_are_how_the_vpc_probe_judges_them() -> None:
    rows = readme_table("| route target | id |")
    assert len(rows) == len(vpc.ROUTE_TARGETS)
    verdicts = {"ok": "PASS", "unverified": "WARN", "wrong": "FAIL"}
    for kind, ident, verdict, why in rows:
        key, *prefix = ident.replace("`", "").split()
        value = ID_SAMPLE.get(key) or prefix[0].removesuffix("…") + ("" if prefix == ["local"] else "0abc123")
        got_kind, judgement, got_why = vpc.classify({key: value})
        assert (got_kind, verdicts[judgement]) == (kind, verdict), ident
        assert why == (got_why or "AWS documents it for hybrid nodes"), ident


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
