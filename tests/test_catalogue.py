"""The probe contract and the check catalogue: every registered probe keeps the contract, every planned
check id is declared, the schema's categories are the model's, docs/checks.md is what `netcheck checks` prints."""

from __future__ import annotations

import dataclasses
import inspect
import json
import linecache
import tempfile
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

import probes
from netcheck import catalogue
from netcheck.cli import app
from netcheck.model import Category, Check, Severity
from netcheck.phase import JOINED, PRE_JOIN, with_phase
from probes import contract
from tests import plansites

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


def _planned() -> list[tuple[str, str, Check]]:
    """(site, probe, check) for every check every fixture site plans, in both phases."""
    out = []
    for source, settings in plansites.sites():
        for phase in (PRE_JOIN, JOINED):
            s = with_phase(settings, phase)
            for name in probes.available():
                out.extend((f"{source} ({phase})", name, check) for check in probes.load(name).plan(s))
    return out


@pytest.fixture(scope="module")
def planned() -> list[tuple[str, str, Check]]:
    return _planned()


def test_every_planned_check_keeps_its_kind(planned: list[tuple[str, str, Check]]) -> None:
    """Each planned check: a registered probe, a declared kind, and that kind's category, docs and severity."""
    assert len(planned) > 1000
    problems = [f"{site}: {p}" for site, name, check in planned
                for p in contract.check_problems(name, probes.load(name).CHECKS, check)]
    assert not problems, "\n".join(problems[:20])


def test_every_declared_kind_is_planned_by_a_fixture_site(planned: list[tuple[str, str, Check]]) -> None:
    problems = contract.coverage_problems(probes.catalogue(), [(name, c.id) for _, name, c in planned])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(probes.REGISTRY))
def test_every_unit_a_probe_reports_is_one_the_renderers_know(name: str) -> None:
    module = probes.load(name)
    assert not contract.unit_problems(name, module)


# --- the deliberate mistakes the contract test must catch -------------------------------------

GENEVE = next(s for n, s in plansites.sites() if n == "cni-cilium-geneve")


def _kinds_with(pattern: str, **change: object) -> tuple[probes.CheckKind, ...]:
    from probes import cniports

    return tuple(dataclasses.replace(k, **change) if k.pattern == pattern else k  # type: ignore[arg-type]
                 for k in cniports.CHECKS)


def test_a_wrong_category_on_a_check_planned_only_for_geneve_is_caught() -> None:
    from probes import cniports

    checks = cniports.plan(GENEVE)
    assert any(c.id.endswith(".udp-6081") for c in checks)
    # The Geneve check built from a kind with the wrong category: judged against the declared kinds.
    wrong = _kinds_with("cni.*.udp-*", category=Category.ROUTING)
    bad = [wrong[0].check(c.id, c.spec, probe="cniports", title=c.title) for c in checks if c.id.endswith("udp-6081")]
    problems = contract.check_problems("cniports", cniports.CHECKS, bad[0])
    assert any("category routing" in p for p in problems), problems


def test_a_declared_kind_no_plan_produces_is_caught(planned: list[tuple[str, str, Check]]) -> None:
    ghost = probes.CheckKind("cni.*.sctp-*", "A peer node is reachable on SCTP", Category.REACHABILITY)
    declared = [*probes.catalogue(), ("cniports", ghost)]
    problems = contract.coverage_problems(declared, [(name, c.id) for _, name, c in planned])
    assert problems == ["cniports: declared kind cni.*.sctp-* is planned by no fixture site"]


@pytest.mark.parametrize("change", [{"docs": "https://example.invalid/other"}, {"category": Category.DNS},
                                    {"title": "TLS to an endpoint verifies against its trust store"},
                                    {"severity": Severity.REQUIRED}, {"title": " "}])
def test_a_check_that_differs_from_its_kind_is_caught(planned: list[tuple[str, str, Check]],
                                                      change: dict[str, object]) -> None:
    from probes import tls

    check = next(c for _, n, c in planned if n == "tls" and c.id == "tls.eks-api.ca")
    if "severity" in change:  # an advisory kind raised to required by its probe
        kinds = tuple(dataclasses.replace(k, severity=Severity.ADVISORY) if k.pattern == "tls.eks-api.ca" else k
                      for k in tls.CHECKS)
    else:
        kinds = tls.CHECKS
    assert contract.check_problems("tls", tls.CHECKS, check) == []
    assert contract.check_problems("tls", kinds, dataclasses.replace(check, **change))  # type: ignore[arg-type]


@pytest.mark.parametrize(("probe", "want"), [("dsn", "not in probes.REGISTRY"), ("tls", "but probe 'dns' planned it")])
def test_a_typo_in_check_probe_is_caught(planned: list[tuple[str, str, Check]], probe: str, want: str) -> None:
    from probes import dns

    check = next(c for _, n, c in planned if n == "dns")
    problems = contract.check_problems("dns", dns.CHECKS, dataclasses.replace(check, probe=probe))
    assert any(want in p for p in problems), problems


def test_an_undeclared_id_fails_at_plan_time_and_in_the_contract() -> None:
    from probes import dns

    with pytest.raises(LookupError, match=r"dns\.nowhere\.lookup matches none"):
        probes.kind_in(dns.CHECKS, "dns.nowhere.lookup")
    check = dns.CHECKS[0].check("dns.nowhere.lookup", None, probe="dns")
    assert any("matches none" in p for p in contract.check_problems("dns", dns.CHECKS, check))


def _fake_probe(source: str) -> types.ModuleType:
    module = types.ModuleType("fake_probe")
    path = Path(tempfile.mkdtemp()) / "fake_probe.py"
    path.write_text(source)
    module.__file__ = str(path)
    linecache.checkcache(str(path))
    return module


def test_an_unknown_unit_is_caught() -> None:
    """A new `unit="count"` used to reach Prometheus as an unknown metric suffix; now every unit is a Unit member."""
    module = _fake_probe("def evaluate(spec, evidence, thresholds):\n"
                         "    ok = Outcome(Status.PASS, 'fine', measured=3, unit=Unit.MS)\n"
                         "    return Outcome(Status.WARN, 'three things', measured=3, unit='count')\n"
                         "def other(u):\n"
                         "    return Outcome(Status.WARN, 'x', unit=u)\n"
                         "def more(pct):\n"
                         "    return Outcome(Status.WARN, 'x', unit=Unit.PERCENT if pct == '%' else Unit.FURLONGS)\n"
                         "def text():\n"
                         "    return Outcome(Status.WARN, 'x', unit='ms', measured=None)\n")
    assert contract.unit_problems("fake", module) == [
        "fake:3: unit 'count' is text, not a netcheck.units.Unit member (write Unit.COUNT)",
        "fake:5: unit is computed, not a netcheck.units.Unit member the contract test can check",
        "fake:7: Unit.FURLONGS is not a unit netcheck knows (netcheck/units.py)",
        "fake:9: unit 'ms' is text, not a netcheck.units.Unit member (write Unit.MS)"]
    unknown = _fake_probe("def evaluate(s, e, t):\n    return Outcome(Status.WARN, 'x', unit='furlongs')\n")
    assert contract.unit_problems("fake", unknown) == [
        "fake:2: unit 'furlongs' is text, not a netcheck.units.Unit member (add it to netcheck/units.py first)"]


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
