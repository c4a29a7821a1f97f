"""A profile you can write from the docs (issue 25 item 4): docs/profile.md generated from the schema,
`netcheck init` writes a profile that `netcheck validate` accepts, `plan` names the service CIDR it assumed,
host-bits errors suggest the corrected CIDR."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck import profiledoc
from probes import catalogue

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netcheck", *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd)


def test_profile_doc_is_generated_from_the_schema() -> None:
    assert (ROOT / "docs" / "profile.md").read_text() == profiledoc.markdown(), \
        "docs/profile.md is stale: python -m netcheck.profiledoc > docs/profile.md"


def test_every_schema_field_is_documented_and_nothing_else() -> None:
    paths = [p for p, _ in profiledoc.fields()]
    assert len(paths) == len(set(paths))
    missing = sorted(set(paths) - set(profiledoc.FIELD_DOCS))
    gone = sorted(set(profiledoc.FIELD_DOCS) - set(paths))
    assert not missing, f"schema fields without a line in netcheck/profiledoc.py FIELD_DOCS: {missing}"
    assert not gone, f"FIELD_DOCS lines for fields the schema no longer has: {gone}"
    for path, (what, _example, _checks) in profiledoc.FIELD_DOCS.items():
        assert what.strip(), path


def test_documented_checks_exist_in_the_catalogue() -> None:
    known = [k.pattern for _, k in catalogue()]
    for path, (_what, _example, checks) in profiledoc.FIELD_DOCS.items():
        for pattern in checks:
            assert any(fnmatch.fnmatchcase(k, pattern) or fnmatch.fnmatchcase(pattern, k) for k in known), \
                f"{path}: {pattern} matches no check in the catalogue"


def test_profile_doc_rows_show_type_default_and_example() -> None:
    text = profiledoc.markdown()
    row = next(ln for ln in text.splitlines() if "`serviceCidr`" in ln)
    assert "| CIDR |" in row and "`172.20.0.0/16`" in row and "cidr.service.range" in row
    row = next(ln for ln in text.splitlines() if "`bandwidthMbps`" in ln)
    assert "> 0" in row and "`100`" in row


@pytest.mark.parametrize("flags", [
    [],
    ["--region", "us-west-2", "--endpoint-access", "private", "--credentials", "ssm", "--cni", "cilium",
     "--cni-mode", "vxlan", "--vpc-cidr", "10.20.0.0/16", "--node-cidr", "192.168.50.0/24",
     "--pod-cidr", "192.168.64.0/18", "--responder", "10.20.1.10:7447", "--proxy", "http://proxy.internal:3128"],
    ["--region", "eu-central-1", "--endpoint-access", "public", "--credentials", "iam-roles-anywhere",
     "--cni", "calico", "--cni-mode", "bgp", "--cluster", "edge", "--name", "dc2"],
], ids=["nothing", "private-ssm-cilium-proxy", "public-ira-calico"])
def test_init_writes_a_profile_that_validates(tmp_path: Path, flags: list[str]) -> None:
    out = tmp_path / "site.yaml"
    made = _cli("init", *flags, "-o", out)
    assert made.returncode == 0, made.stderr
    text = out.read_text()
    assert text.startswith("# netcheck site profile") and "docs/profile.md" in text
    checked = _cli("validate", "-c", out)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"valid: {out}") and "nothing was sent" in checked.stdout
    assert "service CIDR:" in checked.stdout
    if "--proxy" in flags:
        assert "HTTPS_PROXY=http://proxy.internal:3128" in text and "NO_PROXY=10.20.0.0/16" in text
    if "--region" in flags:
        assert f'region: "{flags[flags.index("--region") + 1]}"' in text


def test_init_refuses_bad_answers_and_existing_files(tmp_path: Path) -> None:
    bad = _cli("init", "--region", "nope")
    assert bad.returncode == 2 and "spec.cluster.region" in bad.stderr and "Traceback" not in bad.stderr
    bad = _cli("init", "--cni", "calico", "--cni-mode", "geneve")
    assert bad.returncode == 2 and "spec.cni" in bad.stderr and "Traceback" not in bad.stderr
    out = tmp_path / "site.yaml"
    out.write_text("mine\n")
    again = _cli("init", "-o", out)
    assert again.returncode == 2 and "--force" in again.stderr and out.read_text() == "mine\n"
    assert _cli("init", "-o", out, "--force").returncode == 0 and out.read_text() != "mine\n"


def test_validate_reports_problems_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec:\n  vpc: {cidrs: [10.61.0.1/16]}\n")
    out = _cli("validate", "-c", bad)
    assert out.returncode == 2 and "spec.vpc.cidrs[0]" in out.stderr
    assert "did you mean 10.61.0.0/16?" in out.stderr
    assert _cli("validate").returncode == 2


def test_validate_merges_a_nodeconfig(tmp_path: Path) -> None:
    nodeconfig = next((ROOT / "examples" / "nodeconfig").glob("*.yaml"))
    out = _cli("validate", "--nodeconfig", nodeconfig)
    assert out.returncode == 0, out.stderr
    assert "cluster: " in out.stdout and "(no Region)" not in out.stdout


def test_plan_prints_the_service_cidr_it_assumed(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("spec:\n  cluster: {region: us-west-2}\n  vpc: {cidrs: [10.20.0.0/16]}\n")
    out = _cli("plan", "-c", site, "--phase", "pre-join")
    assert out.returncode == 0, out.stderr
    assert "service CIDR: not set; EKS would pick 172.20.0.0/16" in out.stdout
    out = _cli("plan", "-c", site, "--phase", "pre-join", "--service-cidr", "10.96.0.0/12")
    assert "service CIDR: 10.96.0.0/12 (configured)" in out.stdout
