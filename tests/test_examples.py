"""Every example profile and NodeConfig loads, alone and together, and `netcheck plan` accepts it (nothing is sent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netcheck import phase as phases
from netcheck.cli import app
from netcheck.plan import build_plan
from netcheck.settings import ConfigError, build
from probes.endpoints import endpoint_region

ROOT = Path(__file__).resolve().parent.parent
PROFILES = sorted((ROOT / "examples" / "profiles").glob("*.yaml"))
NODECONFIGS = sorted((ROOT / "examples" / "nodeconfig").glob("*.yaml"))


def test_the_promised_examples_exist() -> None:
    assert {p.name for p in PROFILES} >= {"vpn-site.yaml", "direct-connect.yaml", "private-ssm.yaml",
                                          "iam-roles-anywhere.yaml", "minimal.yaml"}
    assert {p.name for p in NODECONFIGS} >= {"ssm.yaml", "iam-roles-anywhere.yaml"}


@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_profile_loads(path: Path) -> None:
    s = build(profile_path=path)
    assert s.name != "unnamed"  # every example names its site
    assert s.spec.cluster.region and s.spec.remote_network.node_cidrs and s.spec.remote_network.pod_cidrs
    assert s.spec.credentials in ("ssm", "iam-roles-anywhere")
    describe = s.spec.vpc.describe
    if describe is not None:  # exported AWS JSON sits next to the profile
        for value in (describe.cluster, describe.route_tables, describe.security_groups, describe.subnets):
            assert value is None or Path(value).is_file()


@pytest.mark.parametrize("path", NODECONFIGS, ids=[p.name for p in NODECONFIGS])
def test_nodeconfig_loads(path: Path) -> None:
    s = build(nodeconfig_path=path)
    assert s.spec.cluster.name and s.spec.cluster.region and s.spec.credentials
    assert s.spec.node.ip is not None  # every sample pins kubelet --node-ip


PAIRS = [(p, n) for p in PROFILES for n in NODECONFIGS]


@pytest.mark.parametrize(("profile", "nodeconfig"), PAIRS, ids=[f"{p.stem}+{n.stem}" for p, n in PAIRS])
def test_profile_with_nodeconfig(profile: Path, nodeconfig: Path) -> None:
    alone = build(profile_path=profile).spec.cluster
    nc = build(nodeconfig_path=nodeconfig).spec.cluster
    if alone.endpoint and not nc.endpoint and endpoint_region(alone.endpoint) not in (None, nc.region):
        # The profile's API endpoint belongs to another Region's cluster than the NodeConfig's (issue 25 item 4).
        with pytest.raises(ConfigError, match=f"belongs to a cluster in {endpoint_region(alone.endpoint)}"):
            build(profile_path=profile, nodeconfig_path=nodeconfig)
        return
    s = build(profile_path=profile, nodeconfig_path=nodeconfig)
    assert s.source == f"{profile} + {nodeconfig}"
    assert s.spec.cluster.region == build(nodeconfig_path=nodeconfig).spec.cluster.region


def _plan_lines(output: str) -> list[str]:
    lines = output.strip().splitlines()
    assert lines and lines[-1].endswith("skipped by pattern."), output
    return lines


@pytest.mark.parametrize("args", [["-c", str(p)] for p in PROFILES] + [["--nodeconfig", str(n)] for n in NODECONFIGS]
                         + [["-c", str(PROFILES[0]), "--nodeconfig", str(NODECONFIGS[0])]],
                         ids=[p.name for p in PROFILES] + [f"nc-{n.name}" for n in NODECONFIGS] + ["together"])
def test_plan_in_process(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["plan", "--phase", "pre-join", *args])
    assert result.exit_code == 0, result.output
    shown = [w[0] for w in map(str.split, _plan_lines(result.output)) if len(w) > 1 and w[1] in ("required", "advisory")]
    paths = dict(zip(args[::2], args[1::2], strict=True))
    settings = phases.with_phase(build(profile_path=_path(paths.get("-c")), nodeconfig_path=_path(paths.get("--nodeconfig"))),
                                 "pre-join")
    planned = [c.id for c in build_plan(settings).checks]
    assert shown == planned  # `netcheck plan` lists exactly the checks the run would plan, in order
    assert any(i.startswith("cidr.") for i in planned)  # the cidr probe always plans something for these sites
    assert _plan_lines(result.output)[-1].startswith(f"{len(planned)} checks to run")


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def test_plan_subprocess_all_together() -> None:
    """The installed entry point, as a user runs it: one profile plus one NodeConfig."""
    proc = subprocess.run([sys.executable, "-m", "netcheck", "plan", "-c", "examples/profiles/vpn-site.yaml",
                           "--nodeconfig", "examples/nodeconfig/ssm.yaml"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    _plan_lines(proc.stdout)
