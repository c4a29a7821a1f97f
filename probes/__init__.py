"""Explicit registry of probes: name → module path. Imported lazily, no side effects.

Every probe module provides:
    plan(settings) -> list[Check]            which checks apply to this site (pure)
    collect(spec, net) -> evidence           I/O only, through the Net facade
    evaluate(spec, evidence, thresholds) -> Outcome   pure judgement
"""

from __future__ import annotations

import importlib
from types import ModuleType

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
    "mtu": "probes.mtu",
    "bandwidth": "probes.bandwidth",
    "inbound": "probes.inbound",
    "cniports": "probes.cniports",
    "firewall": "probes.firewall",
    "vpc": "probes.vpc",
}


def load(name: str) -> ModuleType:
    """The module of probe `name`."""
    return importlib.import_module(REGISTRY[name])


def available() -> list[str]:
    """Probe names whose module exists in this build, in registry order."""
    import importlib.util

    return [n for n, mod in REGISTRY.items() if importlib.util.find_spec(mod) is not None]
