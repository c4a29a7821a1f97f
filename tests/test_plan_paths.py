"""`netcheck plan` shows each endpoint's path: direct or via the proxy, and the NO_PROXY entry that decided it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from netcheck.cli import app
from netcheck.net.proxyenv import bypasses, no_proxy_match

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "profiles" / "vpn-site.yaml"


def test_no_proxy_match_names_the_deciding_entry() -> None:
    entries = ["localhost", "10.20.0.0/16", ".eks.amazonaws.com", "registry:5000"]
    assert no_proxy_match("ABC.gr7.us-west-2.eks.amazonaws.com", 443, entries) == ".eks.amazonaws.com"
    assert no_proxy_match("10.20.1.10", 443, entries) == "10.20.0.0/16"
    assert no_proxy_match("registry", 5000, entries) == "registry:5000"
    assert no_proxy_match("registry", 443, entries) is None
    assert no_proxy_match("ecr.us-west-2.amazonaws.com", 443, ["*"]) == "*"
    assert bypasses("10.20.1.10", 443, entries) and not bypasses("52.1.2.3", 443, entries)


def test_plan_shows_direct_and_proxied_paths_and_the_checks_that_test_them() -> None:
    env = {"HTTPS_PROXY": "http://user:secret@proxy.corp:3128", "NO_PROXY": "localhost,.eks.amazonaws.com"}
    out = CliRunner().invoke(app, ["plan", "-c", str(EXAMPLE), "--phase", "pre-join"], env=env)
    assert out.exit_code == 0, out.output
    lines = [ln for ln in out.output.splitlines() if ln.startswith("# path")]
    assert lines[0] == "# paths: HTTPS proxy http://proxy.corp:3128; NO_PROXY: localhost,.eks.amazonaws.com"
    assert "secret" not in out.output
    api = next(ln for ln in lines if ln.startswith("# path eks-api "))
    assert "direct, NO_PROXY entry '.eks.amazonaws.com' exempts it" in api
    assert "tested directly by dns.eks-api.resolve, reach.eks-api.tcp-443" in api
    ssm = next(ln for ln in lines if ln.startswith("# path ssm "))
    assert "via proxy http://proxy.corp:3128, no NO_PROXY entry matches" in ssm and "proxy.ssm.connect" in ssm


def test_plan_without_a_proxy_says_every_endpoint_is_direct() -> None:
    out = CliRunner().invoke(app, ["plan", "-c", str(EXAMPLE), "--phase", "pre-join"],
                             env={"HTTPS_PROXY": "", "https_proxy": "", "ALL_PROXY": "", "all_proxy": ""})
    assert out.exit_code == 0, out.output
    assert "# paths: no HTTPS proxy is configured" in out.output
