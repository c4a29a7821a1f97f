"""From settings to the list of checks: pure, nothing is sent."""

from __future__ import annotations

from dataclasses import dataclass, replace

import probes
from netcheck.model import Check, Outcome, Severity, SkipReason
from netcheck.settings import Settings
from probes.base import matches


@dataclass(frozen=True)
class Plan:
    checks: tuple[Check, ...]  # to run
    disabled: tuple[tuple[Check, Outcome], ...]  # planned but turned off, reported as SKIP


def build_plan(settings: Settings, only: tuple[str, ...] = (), skip: tuple[str, ...] = (),
               probe_names: list[str] | None = None) -> Plan:
    """Ask every available probe which checks apply, then apply --only/--skip and advisory."""
    spec = settings.spec
    skip_all = tuple(skip) + tuple(spec.checks.skip)
    to_run: list[Check] = []
    disabled: list[tuple[Check, Outcome]] = []
    seen: set[str] = set()
    for name in probe_names if probe_names is not None else probes.available():
        for check in probes.load(name).plan(settings):
            if check.id in seen:
                raise ValueError(f"probe {name} planned duplicate check id {check.id}")
            seen.add(check.id)
            if matches(check.id, spec.checks.advisory):
                check = replace(check, severity=Severity.ADVISORY)
            if only and not matches(check.id, only):
                continue
            if matches(check.id, skip_all):
                disabled.append((check, Outcome.skip(SkipReason.DISABLED,
                                                     "Disabled by a skip pattern.")))
                continue
            to_run.append(check)
    return Plan(tuple(to_run), tuple(disabled))
