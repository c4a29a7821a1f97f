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


def platform_summary(settings: Settings) -> list[str]:
    """What the plan assumes about the platform, from the same tables the probes plan from (for `netcheck plan`)."""
    from probes.cnimodel import for_settings, pod_routing
    from probes.endpoints import install_region, partition_of

    s = settings.spec
    lines: list[str] = []
    if s.cluster.region:
        p = partition_of(s.cluster.region)
        where = f"every AWS name under {s.aws.domain} (spec.aws.domain)" if s.aws.domain else \
            f"service names under {p.dns_suffix}"
        lines.append(f"partition: {p.id} ({p.name}) for {s.cluster.region}: {where}")
    if s.features.install:
        ir = install_region(settings)
        lines.append(f"install: nodeadm install --region {ir} (assets {partition_of(ir or 'us-west-2').assets_host})")
    m = for_settings(settings)
    if m is not None:
        ports = ", ".join(p.shown + ("" if p.required else " (advisory)") for p in m.ports) or "none"
        need, why = pod_routing(settings)
        lines.append(f"cni: {m.name}: {ports}; {m.overhead} bytes overhead ({m.encapsulation}); pod CIDR routes "
                     f"{'required' if need else 'advisory'}: {why}")
    return lines
