"""The probe contract and the check catalogue: every registered probe keeps the contract, every planned
check id is declared, the schema's categories are the model's, docs/checks.md is what `netcheck checks` prints."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import probes
from netcheck import catalogue
from netcheck.cli import app
from netcheck.demo import demo_profile
from netcheck.model import Category
from netcheck.phase import JOINED, PRE_JOIN, with_phase
from netcheck.settings import ConfigError, Overrides, Settings, SiteProfile, build

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", list(probes.REGISTRY))
def test_every_probe_keeps_the_contract(name: str) -> None:
    module = probes.load(name)
    assert isinstance(module, probes.Probe), f"{name}: CHECKS, plan, collect or evaluate missing"
    assert module.CHECKS and all(isinstance(k, probes.CheckKind) for k in module.CHECKS)
    plan, collect, evaluate = (inspect.signature(f, eval_str=True) for f in (module.plan, module.collect,
                                                                            module.evaluate))
    assert len(plan.parameters) == 1 and len(collect.parameters) == 2 and len(evaluate.parameters) == 3
    spec_c, _net = collect.parameters.values()
    spec_e, evidence, _th = evaluate.parameters.values()
    # Generic over one Spec and one Evidence type: collect's output is evaluate's input.
    assert spec_c.annotation == spec_e.annotation, name
    assert collect.return_annotation == evidence.annotation, name


def _sites() -> list[tuple[str, Settings]]:
    sites: list[tuple[str, Settings]] = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        for profile, nodeconfig in ((path, None), (None, path)):
            try:
                sites.append((path.name, build(profile, nodeconfig, Overrides(None, None, None, None, None), None)))
                break
            except ConfigError:
                continue
    demo = SiteProfile.model_validate(demo_profile(responder="127.0.0.1:7447"))
    sites.append(("demo", Settings(profile=demo, source="demo", token="t")))
    return sites


def test_every_planned_check_is_declared() -> None:
    """Plan the example profiles and the demo in both phases: each id matches its probe's CHECKS."""
    sites = _sites()
    assert len(sites) >= 5
    planned = 0
    for source, settings in sites:
        for phase in (PRE_JOIN, JOINED):
            s = with_phase(settings, phase)
            for name in probes.available():
                for check in probes.load(name).plan(s):
                    kind = probes.kind_of(name, check.id)
                    assert kind is not None, f"{source}: {check.id} (probe {name}) matches no declared pattern"
                    assert kind.category is check.category, (source, check.id)
                    planned += 1
    assert planned > 100


def test_schema_categories_are_the_models() -> None:
    schema = json.loads((ROOT / "netcheck" / "schemas" / "report.schema.json").read_text())
    enum = schema["$defs"]["check"]["properties"]["category"]["enum"]
    assert enum == [c.value for c in Category]
    assert {k.category for _, k in probes.catalogue()} <= set(Category)


def test_docs_checks_md_is_what_netcheck_checks_prints() -> None:
    out = CliRunner().invoke(app, ["checks"])
    assert out.exit_code == 0, out.output
    assert out.output == (ROOT / "docs" / "checks.md").read_text() == catalogue.markdown()
    data = json.loads(CliRunner().invoke(app, ["checks", "--format", "json"]).output)
    assert [c["id"] for c in data["checks"]] == [k.pattern for _, k in probes.catalogue()]
