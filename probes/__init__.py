"""The probes and their typed contract: one module per area, registered below.

Every probe module provides (docs/architecture.md, "The probe contract"):

    CHECKS: tuple[CheckKind, ...]                          the checks it can plan, as data
    plan(settings) -> list[Check]                          which checks apply to this site (pure)
    collect(spec, net) -> Evidence                         I/O only, through the Net facade
    evaluate(spec, evidence, thresholds) -> Outcome        pure judgement

`Probe[Spec, Evidence]` states that contract for the type checker; `tests/test_catalogue.py`
holds every registered module to it. Adding a probe: docs/adding-a-probe.md. Modules are
imported lazily (`load`), so `netcheck --help` stays fast.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

from netcheck.model import Category, Severity

if TYPE_CHECKING:
    from netcheck.model import Check, Outcome
    from netcheck.net import Net
    from netcheck.settings import Settings, Thresholds

SpecT = TypeVar("SpecT", contravariant=True)
EvidenceT = TypeVar("EvidenceT")


@dataclass(frozen=True)
class CheckKind:
    """One family of checks a probe plans: what `netcheck checks` and docs/checks.md list."""

    pattern: str  # glob over check ids, e.g. "latency.rtt.*"
    title: str
    category: Category
    severity: Severity = Severity.REQUIRED  # the default; spec.checks.advisory and the probe may lower it
    docs: str = ""
    phased: bool = False  # what it judges differs between pre-join and joined (`netcheck plan` says how)

    def matches(self, check_id: str) -> bool:
        return fnmatch.fnmatchcase(check_id, self.pattern)


@runtime_checkable
class Probe(Protocol[SpecT, EvidenceT]):
    """What the planner and the runner need from a probe module."""

    CHECKS: tuple[CheckKind, ...]

    def plan(self, settings: Settings, /) -> list[Check]: ...

    def collect(self, spec: SpecT, net: Net, /) -> EvidenceT: ...

    def evaluate(self, spec: SpecT, evidence: EvidenceT, thresholds: Thresholds, /) -> Outcome: ...


# The registry: probe name (Check.probe) → module, in the order the report shows them.
REGISTRY: dict[str, str] = {
    "config": "probes.config",
    "cidr": "probes.cidr",
    "routing": "probes.routing",
    "dns": "probes.dns",
    "reachability": "probes.reachability",
    "tls": "probes.tls",
    "proxy": "probes.proxy",
    "clock": "probes.clock",
    "latency": "probes.latency",
    "region": "probes.region",
    "mtu": "probes.mtu",
    "bandwidth": "probes.bandwidth",
    "inbound": "probes.inbound",
    "cniports": "probes.cniports",
    "firewall": "probes.firewall",
    "vpc": "probes.vpc",
}


def load(name: str) -> Probe[Any, Any]:
    """The module of probe `name`."""
    return cast("Probe[Any, Any]", importlib.import_module(REGISTRY[name]))


def available() -> list[str]:
    """Probe names whose module exists in this build, in registry order."""
    import importlib.util

    return [n for n, mod in REGISTRY.items() if importlib.util.find_spec(mod) is not None]


def catalogue() -> list[tuple[str, CheckKind]]:
    """(probe name, check kind) for every check every registered probe can plan, in registry order."""
    return [(name, kind) for name in available() for kind in load(name).CHECKS]


def kind_of(probe: str, check_id: str) -> CheckKind | None:
    """The declared kind a planned check id belongs to (the first pattern of its probe that matches)."""
    return next((k for k in load(probe).CHECKS if k.matches(check_id)), None)
