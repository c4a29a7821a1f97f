"""The application layer: one preflight for `run`, `demo` and tests, without the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from netcheck import app
from netcheck.model import Report, Verdict
from netcheck.settings import Settings, SiteProfile

ROOT = Path(__file__).resolve().parent.parent


def test_preflight_returns_a_report_without_the_cli(tmp_path: Path) -> None:
    """A profile whose only checks are pure CIDR checks: the preflight runs, decides and remembers."""
    profile = SiteProfile.model_validate({
        "apiVersion": "netcheck/v1", "kind": "SiteProfile", "metadata": {"name": "app-test"},
        "spec": {"cluster": {"name": "c", "region": "us-west-2", "serviceCidr": "172.20.0.0/16"},
                 "vpc": {"cidrs": ["10.0.0.0/16"]},
                 "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["10.244.0.0/16"]}}})
    warnings: list[str] = []
    options = app.Options(only=("cidr.*",), deadline=20.0, phase="pre-join", history=tmp_path, warn=warnings.append)
    first = app.preflight(Settings(profile=profile, source="test"), options)
    assert isinstance(first.report, Report) and first.previous is None
    assert first.report.results and all(r.id.startswith("cidr.") for r in first.report.results)
    assert first.report.verdict in (Verdict.GO, Verdict.NO_GO, Verdict.INCONCLUSIVE)
    assert app.exit_code(first.report, "json", written=True, signalled=False) in (0, 3, 4)
    second = app.preflight(Settings(profile=profile, source="test"), options)
    assert second.previous is not None and second.previous.started_at == first.report.started_at
    assert not warnings


def test_no_module_imports_the_cli() -> None:
    """cli.py sits on top: nothing in the package imports it back (no cycle through demo)."""
    offenders = []
    for path in (ROOT / "netcheck").rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "netcheck.cli":
                offenders.append(str(path))
    assert not offenders
