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

from netcheck.model import Category, Check, Severity

if TYPE_CHECKING:
    from netcheck.model import Outcome
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

    def check(self, id: str, spec: Any, *, probe: str, title: str | None = None, advisory: bool = False,
              timeout: float = 10.0, exclusive: bool = False, phases: tuple[tuple[str, str], ...] = ()) -> Check:
        """A planned check of this kind. Category, docs and severity come from the kind, never typed again.

        `title` names this instance with its real values (the kind's title when None); `advisory`
        lowers a required kind for this instance (a probe may lower a severity, never raise it).
        """
        severity = Severity.ADVISORY if advisory else self.severity
        return Check(id=id, category=self.category, title=title or self.title, probe=probe, spec=spec,
                     severity=severity, timeout=timeout, docs=self.docs, exclusive=exclusive, phases=phases)


def kind_in(kinds: tuple[CheckKind, ...], check_id: str) -> CheckKind:
    """The first of a probe's `kinds` whose pattern matches `check_id` (the same rule as `kind_of`).

    Raises LookupError for an id no kind declares: a planning bug the contract test catches.
    """
    found = next((k for k in kinds if k.matches(check_id)), None)
    if found is None:
        raise LookupError(f"check id {check_id} matches none of the declared kinds "
                          f"{', '.join(k.pattern for k in kinds)}")
    return found


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
    "coredns": "probes.coredns",
    "reachability": "probes.reachability",
    "tls": "probes.tls",
    "proxy": "probes.proxy",
    "dropins": "probes.dropins",
    "clock": "probes.clock",
    "latency": "probes.latency",
    "region": "probes.region",
    "mtu": "probes.mtu",
    "interface": "probes.interface",
    "bandwidth": "probes.bandwidth",
    "inbound": "probes.inbound",
    "cniports": "probes.cniports",
    "firewall": "probes.firewall",
    "vpc": "probes.vpc",
}


# Probes whose checks run longest on a healthy site (the paced RTT series beside the per-hop series,
# the path-MTU search): `netcheck run` plans these first and starts their checks while it plans the
# others (netcheck/app.py), so the series are already under way when the rest of the plan is built.
FIRST: tuple[str, ...] = ("latency", "mtu")


class UnknownProbe(LookupError):
    """A Check names a probe the registry does not have (a typo in `Check.probe`)."""


def load(name: str) -> Probe[Any, Any]:
    """The module of probe `name`; UnknownProbe when the registry has no such probe."""
    module = REGISTRY.get(name)
    if module is None:
        raise UnknownProbe(f"no probe named {name!r} is registered (probes.REGISTRY)")
    return cast("Probe[Any, Any]", importlib.import_module(module))


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
