"""The probe contract as functions: each returns the problems it finds, as sentences (empty: none).

tests/test_catalogue.py runs them over every registered probe and every check the fixture sites
plan; tests inject deliberate mistakes to prove each is caught. Nothing here runs in a preflight.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable
from types import ModuleType

from netcheck.model import Check, Severity
from netcheck.units import Unit
from probes import REGISTRY, CheckKind


def check_problems(name: str, kinds: tuple[CheckKind, ...], check: Check) -> list[str]:
    """What is wrong with one check that probe `name` (declaring `kinds`) planned.

    Its probe must be `name` and registered; its id must match a declared kind; category and
    docs must be the kind's; its severity the kind's or advisory (a probe may lower it, never
    raise it); its title the kind's, or this instance's non-empty title built by `kind.check`.
    """
    where = f"{check.id} (planned by probe {name})"
    problems: list[str] = []
    if check.probe not in REGISTRY:
        problems.append(f"{where}: Check.probe {check.probe!r} is not in probes.REGISTRY")
    elif check.probe != name:
        problems.append(f"{where}: Check.probe is {check.probe!r}, but probe {name!r} planned it")
    kind = next((k for k in kinds if k.matches(check.id)), None)
    if kind is None:
        problems.append(f"{where}: matches none of its probe's declared CHECKS")
        return problems
    if check.category is not kind.category:
        problems.append(f"{where}: category {check.category.value}, but its kind {kind.pattern} says "
                        f"{kind.category.value}")
    if check.docs != kind.docs:
        problems.append(f"{where}: docs {check.docs!r} differ from its kind {kind.pattern}'s {kind.docs!r}")
    if check.severity not in (kind.severity, Severity.ADVISORY):
        problems.append(f"{where}: severity {check.severity.value}, above its kind {kind.pattern}'s "
                        f"{kind.severity.value}")
    if not check.title.strip():
        problems.append(f"{where}: empty title")
    other = {k.title: k.pattern for k in kinds if k is not kind}
    if check.title in other:
        problems.append(f"{where}: title is the title of another kind, {other[check.title]}")
    return problems


def coverage_problems(declared: Iterable[tuple[str, CheckKind]], planned: Iterable[tuple[str, str]]) -> list[str]:
    """Declared kinds (probe, kind) that no planned (probe, check id) produced: dead or untested declarations."""
    planned_ids: dict[str, set[str]] = {}
    for probe, cid in planned:
        planned_ids.setdefault(probe, set()).add(cid)
    problems = []
    for probe, kind in declared:
        if not any(kind.matches(cid) for cid in planned_ids.get(probe, ())):
            problems.append(f"{probe}: declared kind {kind.pattern} is planned by no fixture site")
    return problems


def _unit_leaves(expr: ast.expr) -> list[ast.expr]:
    """The values a `unit=` expression can take: both branches of a conditional, else the expression itself."""
    if isinstance(expr, ast.IfExp):
        return [*_unit_leaves(expr.body), *_unit_leaves(expr.orelse)]
    return [expr]


def units_in(module: ModuleType) -> list[tuple[int, str | None]]:
    """(line, unit) for every value a `unit=` in the module can take: `"Unit.MS"` for a member named through
    `Unit`, the text of a string literal as it is (`"ms"`), None for anything computed (it cannot be checked)."""
    tree = ast.parse(inspect.getsource(module))
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.keyword) and node.arg == "unit"):
            continue
        for leaf in _unit_leaves(node.value):
            if isinstance(leaf, ast.Constant) and leaf.value is None:
                continue
            if isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) and leaf.value.id == "Unit":
                found.append((leaf.lineno, f"Unit.{leaf.attr}"))
            elif isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                found.append((leaf.lineno, leaf.value))
            else:
                found.append((leaf.lineno, None))
    return found


def unit_problems(name: str, module: ModuleType) -> list[str]:
    """Every unit probe `name` reports must be a member of `netcheck.units.Unit` (`unit=Unit.MS`): the
    renderers know a unit only from there (Prometheus base unit, Nagios UOM, which way is better). Text,
    an unknown member and a computed unit are problems."""
    if getattr(module, "Unit", Unit) is not Unit:
        return [f"{name}: its name Unit is not netcheck.units.Unit"]
    problems = []
    for line, unit in units_in(module):
        if unit is None:
            problems.append(f"{name}:{line}: unit is computed, not a netcheck.units.Unit member the contract test "
                            "can check")
        elif unit.startswith("Unit."):
            if unit.removeprefix("Unit.") not in Unit.__members__:
                problems.append(f"{name}:{line}: {unit} is not a unit netcheck knows (netcheck/units.py)")
        else:
            known = Unit.parse(unit)
            hint = f"write Unit.{known.name}" if known else "add it to netcheck/units.py first"
            problems.append(f"{name}:{line}: unit {unit!r} is text, not a netcheck.units.Unit member ({hint})")
    return problems
