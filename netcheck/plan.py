"""From settings to the list of checks: pure, nothing is sent."""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, replace

import probes
from netcheck.model import Check, Outcome, Severity, SkipReason
from netcheck.phase import JOINED, PRE_JOIN
from netcheck.settings import Settings
from probes.base import matches

# What a check means in each phase, for checks whose probe does not say it itself.
_INSTALL_ONLY = ((PRE_JOIN, "required: nodeadm install still downloads from it"),
                 (JOINED, "advisory: only nodeadm install uses it, and this node is installed"))
PHASE_NOTES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("*.hybrid-assets.*", _INSTALL_ONLY),
    ("*.ssm-installer.*", _INSTALL_ONLY),
)


class PatternError(ValueError):
    """An --only/--skip pattern that matches no planned check (a typo would otherwise run nothing)."""


@dataclass(frozen=True)
class Plan:
    checks: tuple[Check, ...]  # to run
    disabled: tuple[tuple[Check, Outcome], ...]  # planned but turned off, reported as SKIP


def closest(pattern: str, ids: list[str], n: int = 3) -> list[str]:
    """Check ids (or id prefixes) that look most like `pattern`, for a did-you-mean."""
    prefixes = {".".join(i.split(".")[:k]) for i in ids for k in (1, 2)}
    candidates = sorted(prefixes | set(ids))
    return difflib.get_close_matches(pattern, candidates, n=n, cutoff=0.5)


def check_patterns(flag: str, patterns: tuple[str, ...], ids: list[str]) -> None:
    """Raise PatternError naming the first pattern of `flag` that matches none of `ids`."""
    for pat in patterns:
        if not any(matches(i, [pat]) for i in ids):
            near = closest(pat, ids)
            hint = f"; closest: {', '.join(near)}" if near else ""
            if not ids:
                hint = "; this site's plan has no checks at all"
            raise PatternError(f"{flag} {pat!r} matches none of the {len(ids)} checks planned for this site{hint} "
                               "(`netcheck plan` lists them)")


def _with_notes(check: Check) -> Check:
    if check.phases:
        return check
    notes = next((n for pat, n in PHASE_NOTES if fnmatch.fnmatchcase(check.id, pat)), ())
    return replace(check, phases=notes) if notes else check


def build_plan(settings: Settings, only: tuple[str, ...] = (), skip: tuple[str, ...] = (),
               probe_names: list[str] | tuple[str, ...] | None = None, *, validate: bool = True) -> Plan:
    """Ask every available probe which checks apply, then apply --only/--skip and advisory.

    `only` and `skip` come from the command line: a pattern that matches no planned check
    raises PatternError (unless `validate` is False: a part of the plan, whose patterns are
    checked when the whole is built). Patterns in the profile's spec.checks.skip may name
    checks this site does not plan.
    """
    spec = settings.spec
    skip_all = tuple(skip) + tuple(spec.checks.skip)
    planned: list[Check] = []
    seen: set[str] = set()
    for name in probe_names if probe_names is not None else probes.available():
        for check in probes.load(name).plan(settings):
            if check.id in seen:
                raise ValueError(f"probe {name} planned duplicate check id {check.id}")
            seen.add(check.id)
            planned.append(_with_notes(check))
    if validate:
        ids = [c.id for c in planned]
        check_patterns("--only", only, ids)
        check_patterns("--skip", skip, ids)
    to_run: list[Check] = []
    disabled: list[tuple[Check, Outcome]] = []
    for check in planned:
        if matches(check.id, spec.checks.advisory):
            check = replace(check, severity=Severity.ADVISORY)
        if only and not matches(check.id, only):
            continue
        if matches(check.id, skip_all):
            disabled.append((check, Outcome.skip(SkipReason.DISABLED, "Disabled by a skip pattern.")))
            continue
        to_run.append(check)
    return Plan(tuple(to_run), tuple(disabled))


def service_cidr_summary(settings: Settings) -> str:
    """The service CIDR the plan assumes: the configured one, or the one EKS would pick (the run says the same)."""
    from netcheck.settings import DEFAULT_SERVICE_CIDRS
    from probes.cidr import predicted_service_cidr

    s = settings.spec
    if s.cluster.service_cidr:
        return f"service CIDR: {s.cluster.service_cidr} (configured)"
    vpc = tuple(s.vpc.cidrs)
    why = "a VPC CIDR is in 10.0.0.0/8" if any(c.startswith("10.") for c in vpc) else \
        ("no VPC CIDR is in 10.0.0.0/8" if vpc else "no VPC CIDR given")
    return (f"service CIDR: not set; EKS would pick {predicted_service_cidr(vpc)} ({why}); overlaps are checked "
            f"against both defaults ({', '.join(DEFAULT_SERVICE_CIDRS)}) - set spec.cluster.serviceCidr or "
            "--service-cidr to check yours")


def platform_summary(settings: Settings) -> list[str]:
    """What the plan assumes about the platform, from the same tables the probes plan from (for `netcheck plan`)."""
    from netcheck.platform import for_settings, partition_of, pod_routing
    from probes.endpoints import install_region

    s = settings.spec
    lines: list[str] = []
    if s.cluster.region:
        p = partition_of(s.cluster.region)
        where = f"every AWS name under {s.aws.domain} (spec.aws.domain)" if s.aws.domain else \
            f"service names under {p.dns_suffix}"
        lines.append(f"partition: {p.id} ({p.name}) for {s.cluster.region}: {where}")
    if s.aws.mirror:
        lines.append(f"install: the site's mirror {s.aws.mirror} (spec.aws.mirror, nodeadm install --private-mode) "
                     "instead of the public hybrid-assets host and SSM installer bucket")
    elif s.features.install:
        ir = install_region(settings)
        lines.append(f"install: nodeadm install --region {ir} (assets {partition_of(ir or 'us-west-2').assets_host})")
    if s.cluster.region:
        from probes.endpoints import sts_need

        need, why = sts_need(settings)
        lines.append(f"sts: {'required' if need else 'advisory'}: {why}")
    lines.append(service_cidr_summary(settings))
    m = for_settings(settings)
    if m is not None:
        ports = ", ".join(p.shown + ("" if p.required else " (advisory)") for p in m.ports) or "none"
        need, why = pod_routing(settings)
        lines.append(f"cni: {m.name}: {ports}; {m.overhead} bytes overhead ({m.encapsulation}); pod CIDR routes "
                     f"{'required' if need else 'advisory'}: {why}")
    return lines


def endpoint_paths(settings: Settings, ids: list[str] | tuple[str, ...]) -> list[str]:
    """How each endpoint is reached, direct or via the HTTPS proxy, which NO_PROXY entry decided it, and which
    planned checks test that path (for `netcheck plan`; pure: the environment was read into Settings)."""
    from netcheck.net.proxyenv import configured_proxy, no_proxy_entries, no_proxy_match, redact
    from probes.endpoints import all_targets

    env = settings.environ
    proxy = configured_proxy(env)
    planned = set(ids)

    def listed(*cids: str) -> str:
        return ", ".join(c for c in cids if c in planned) or "no planned check"

    if not proxy:
        return ["paths: no HTTPS proxy is configured (HTTPS_PROXY and ALL_PROXY are unset): every endpoint is "
                "reached directly and gets its own DNS, TCP and TLS checks"]
    entries = no_proxy_entries(env)
    shown = redact(proxy)
    lines = [f"paths: HTTPS proxy {shown}; NO_PROXY: {','.join(entries) or '(empty)'}"]
    for t in all_targets(settings):
        where = f"{t.subject} {t.host}:{t.port}"
        match = no_proxy_match(t.host, t.port, entries)
        dns, reach = f"dns.{t.subject}.resolve", f"reach.{t.subject}.tcp-{t.port}"
        if match is not None:
            lines.append(f"path {where}: direct, NO_PROXY entry '{match}' exempts it; "
                         f"tested directly by {listed(dns, reach, f'tls.{t.subject}.handshake')}")
        else:
            lines.append(f"path {where}: via proxy {shown}, no NO_PROXY entry matches; tested through the proxy by "
                         f"{listed(f'proxy.{t.subject}.connect', f'tls.{t.subject}.handshake')} "
                         f"({dns} is advisory there: the proxy resolves the name; {reach} is not dialled)")
    for ip in settings.spec.cluster.control_plane_ips:
        lines.append(f"path control-plane {ip}: direct, always (kubelet and nodeadm use the ENIs without a proxy); "
                     f"tested by {listed(*(i for i in ids if i.startswith(f'reach.control-plane.{ip}.')))}")
    return lines
