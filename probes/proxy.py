"""HTTPS proxy: does it let each endpoint through, does NO_PROXY exempt the cluster's own networks,
and do the upper- and lower-case variables agree?

Hybrid nodes take the proxy from HTTPS_PROXY/NO_PROXY (docs/reference/eks-hybrid-network-requirements.md
§6 item 11, D10); nodeadm never checks what NO_PROXY contains (kubeadm's HTTPProxyCIDRCheck is the
precedent here). The environment is read once, when the settings are made (Settings.environ), so plan, collect and evaluate see one snapshot.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from netcheck.model import Category, Check, Outcome, Severity, SkipReason, Status
from netcheck.net import Net
from netcheck.net.proxyenv import bypasses, configured_proxy, no_proxy_entries, proxy_for, redact
from netcheck.net.tls import ProxyAnswer, parse_proxy
from netcheck.settings import Settings, Thresholds
from netcheck.units import Unit
from probes import CheckKind, kind_in
from probes.base import ProbeSkip
from probes.endpoints import all_targets, api_endpoint

DOCS_PROXY = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-proxy.html"
ENV_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
CONNECT_S = 5.0


@dataclass(frozen=True)
class Item:
    """Something NO_PROXY must cover: a host name or a CIDR, and what it is."""

    value: str
    what: str
    kind: Literal["host", "cidr"]
    critical: bool  # missing → FAIL (else WARN)


@dataclass(frozen=True)
class Spec:
    kind: Literal["none", "consistent", "connect", "coverage"]
    env: tuple[tuple[str, str], ...]  # the proxy variables as set at plan time
    host: str = ""
    port: int = 443
    proxy: str = ""
    items: tuple[Item, ...] = ()
    notes: tuple[str, ...] = ()


def _snapshot(environ: Mapping[str, str]) -> dict[str, str]:
    wanted = {n.lower() for n in ENV_NAMES}
    return {k: v for k, v in environ.items() if k.lower() in wanted and k in (k.upper(), k.lower())}


# --- plan --------------------------------------------------------------------------

CHECKS: tuple[CheckKind, ...] = (
    CheckKind('proxy.env.*', 'The HTTPS proxy settings are absent or consistent', Category.PROXY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-proxy.html'),
    CheckKind('proxy.no-proxy.coverage', 'NO_PROXY covers the addresses nodes must reach directly', Category.PROXY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-proxy.html'),
    CheckKind('proxy.*.connect', 'The proxy tunnels to an endpoint (CONNECT)', Category.PROXY,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-proxy.html'),
)


def plan(settings: Settings) -> list[Check]:
    env = _snapshot(settings.environ)
    snap = tuple(sorted(env.items()))
    proxy = configured_proxy(env)

    def mk(cid: str, title: str, spec: Spec, severity: Severity = Severity.REQUIRED) -> Check:
        return kind_in(CHECKS, cid).check(cid, spec, probe="proxy", title=title,
                                          advisory=severity is Severity.ADVISORY, timeout=8)

    if not proxy:
        return [mk("proxy.env.none", "No HTTPS proxy is configured", Spec("none", snap))]
    checks = [mk("proxy.env.consistent", "Proxy variables agree between upper and lower case",
                 Spec("consistent", snap))]
    for t in all_targets(settings):
        via = proxy_for(t.host, t.port, env)
        if via:
            checks.append(mk(f"proxy.{t.subject}.connect", f"The proxy lets CONNECT {t.host}:{t.port} through",
                             Spec("connect", snap, t.host, t.port, via),
                             Severity.REQUIRED if t.required else Severity.ADVISORY))
    items, notes = _coverage_items(settings)
    checks.append(mk("proxy.no-proxy.coverage", "NO_PROXY exempts the cluster endpoint and the cluster's networks",
                     Spec("coverage", snap, items=items, notes=notes)))
    return checks


def _coverage_items(settings: Settings) -> tuple[tuple[Item, ...], tuple[str, ...]]:
    s = settings.spec
    items: list[Item] = []
    notes: list[str] = []
    api = api_endpoint(settings)
    if api is not None and s.cluster.endpoint_access == "private":
        items.append(Item(api.host, "private cluster endpoint", "host", True))
    elif api is not None and s.cluster.endpoint_access is None:
        notes.append("the endpoint access mode is not set, so the endpoint host is not required in NO_PROXY")
    items += [Item(c, "VPC CIDR", "cidr", False) for c in s.vpc.cidrs]
    items += [Item(c, "remote node CIDR", "cidr", False) for c in s.remote_network.node_cidrs]
    items += [Item(c, "remote pod CIDR", "cidr", False) for c in s.remote_network.pod_cidrs]
    if s.cluster.service_cidr:
        items.append(Item(s.cluster.service_cidr, "service CIDR", "cidr", False))
    else:
        notes.append("the service CIDR is not set, so it was not checked")
    return tuple(items), tuple(notes)


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> ProxyAnswer | None:
    if spec.kind != "connect":
        return None
    try:
        parse_proxy(spec.proxy)
    except ValueError as exc:
        raise ProbeSkip(SkipReason.NOT_APPLICABLE, f"Cannot test through the proxy {redact(spec.proxy)}: {exc}.",
                        "Test the proxy by hand (curl -v -x URL https://HOST/), or use an http:// proxy URL.") from None
    return net.proxy_connect(spec.proxy, spec.host, spec.port, CONNECT_S)


# --- evaluate (pure) -----------------------------------------------------------------

def evaluate(spec: Spec, ev: ProxyAnswer | None, thresholds: Thresholds) -> Outcome:
    env = dict(spec.env)
    if spec.kind == "none":
        return _none(env)
    if spec.kind == "consistent":
        return _consistent(env)
    if spec.kind == "coverage":
        return _coverage(spec, env)
    assert ev is not None
    return _connect(spec, ev)


def _shown(env: dict[str, str]) -> dict[str, str]:
    return {k: redact(v) if "proxy" in k.lower() and "no_" not in k.lower() else v for k, v in env.items()}


def _none(env: dict[str, str]) -> Outcome:
    http = configured_proxy(env, "http")
    extra = f"; HTTP_PROXY ({redact(http)}) applies only to plain HTTP" if http else ""
    return Outcome(Status.PASS, f"No HTTPS proxy is configured (HTTPS_PROXY and ALL_PROXY are unset){extra}; "
                   "connections are direct.", evidence={"variables": _shown(env)})


def _consistent(env: dict[str, str]) -> Outcome:
    differ = [f"{n} ≠ {n.lower()}" for n in ENV_NAMES
              if n in env and n.lower() in env and env[n].strip() != env[n.lower()].strip()]
    ev = {"variables": _shown(env), "differ": differ}
    if differ:
        return Outcome(Status.WARN, f"Proxy variables disagree between cases ({', '.join(differ)}): Go programs "
                       "(kubelet, containerd, nodeadm) read the upper-case ones, curl and many scripts the lower-case.",
                       measured=", ".join(differ), threshold="identical values",
                       remediation="Set the upper- and lower-case variables to the same value, in the shell and in "
                                   "the kubelet, containerd and SSM agent systemd drop-ins.", evidence=ev)
    if not any(k.lower() == "https_proxy" for k in env):
        return Outcome(Status.WARN, "Only ALL_PROXY is set: curl uses it, but Go programs (kubelet, containerd, "
                       "nodeadm) ignore it and connect directly.", measured="ALL_PROXY only",
                       threshold="HTTPS_PROXY set", remediation="Set HTTPS_PROXY and https_proxy to the proxy URL "
                       "as well (and NO_PROXY/no_proxy).", evidence=ev)
    return Outcome(Status.PASS, f"Proxy variables are consistent ({', '.join(sorted(env))}).", evidence=ev)


def _connect(spec: Spec, a: ProxyAnswer) -> Outcome:
    ev: dict[str, Any] = {"viaProxy": redact(spec.proxy), **a.to_evidence()}
    target = f"{spec.host}:{spec.port}"
    if a.outcome != "connected":
        return Outcome(Status.FAIL, f"The proxy {a.proxy} cannot be reached: TCP connect ended with '{a.outcome}' "
                       f"({a.reason}).", measured=a.outcome, threshold="connected",
                       remediation=f"Check the host and port in HTTPS_PROXY ({redact(spec.proxy)}) and that a "
                                   "firewall lets this node reach the proxy.", evidence=ev)
    if a.status is None:
        return Outcome(Status.FAIL, f"The proxy {a.proxy} gave no usable answer to CONNECT {target}: {a.error}.",
                       measured=a.error, threshold="HTTP 200",
                       remediation="Check that HTTPS_PROXY points at an HTTP proxy that supports CONNECT, and its "
                                   f"logs for {target}.", evidence=ev)
    said = f"{a.status} {a.reason}".strip()
    if 200 <= a.status < 300:
        return Outcome(Status.PASS, f"The proxy {a.proxy} answered CONNECT {target} with {said} in "
                       f"{a.seconds * 1000:.0f} ms.", measured=a.status, evidence=ev)
    if a.status == 407:
        fix = ("Put working credentials in HTTPS_PROXY (http://user:password@proxy:port) for every component, or "
               "have the proxy admit this node's address without authentication.")
    elif a.status == 403:
        fix = f"Add {target} to the proxy's allow list (or add {spec.host} to NO_PROXY if it is reachable directly)."
    elif a.status >= 500:
        fix = f"The proxy cannot reach or resolve {spec.host}; check the proxy's DNS and its egress firewall."
    else:
        fix = f"Check the proxy's policy and logs for CONNECT {target}."
    return Outcome(Status.FAIL, f"The proxy {a.proxy} refused CONNECT {target} with {said}.", measured=a.status,
                   threshold="HTTP 200", remediation=fix, evidence=ev)


def _covers(entries: list[str], item: Item) -> bool:
    if item.kind == "host":
        return bypasses(item.value, 443, entries)
    want = ipaddress.ip_network(item.value)
    for e in entries:
        if e == "*":
            return True
        try:
            net = ipaddress.ip_network(e, strict=False)
        except ValueError:
            continue
        if net.version == want.version and want.subnet_of(net):  # type: ignore[arg-type]
            return True
    return False


def _coverage(spec: Spec, env: dict[str, str]) -> Outcome:
    entries = no_proxy_entries(env)
    ev: dict[str, Any] = {"noProxy": entries, "notes": list(spec.notes)}
    if not spec.items:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, "The profile lists no cluster endpoint, VPC, node, pod or "
                            "service ranges to look for in NO_PROXY.", "Fill spec.vpc and spec.remoteNetwork.",
                            evidence=ev)
    missing = [i for i in spec.items if not _covers(entries, i)]
    ev["required"] = [{"value": i.value, "what": i.what} for i in spec.items]
    ev["missing"] = [{"value": i.value, "what": i.what} for i in missing]
    notes = f" ({'; '.join(spec.notes)})" if spec.notes else ""
    if not missing:
        return Outcome(Status.PASS, f"NO_PROXY covers all {len(spec.items)} required entries "
                       f"({', '.join(i.value for i in spec.items)}){notes}.", evidence=ev)
    suggested = ",".join(dict.fromkeys([*entries, *(i.value for i in missing)]))
    ev["suggestedNoProxy"] = suggested
    listing = ", ".join(f"{i.value} ({i.what})" for i in missing)
    status = Status.FAIL if any(i.critical for i in missing) else Status.WARN
    consequence = ("kubelet would send API traffic for the private endpoint to the proxy" if status == Status.FAIL
                   else "traffic to them would be sent to the proxy")
    return Outcome(status, f"NO_PROXY lacks {listing}; {consequence}{notes}.", measured=len(missing),
                   threshold="0 missing", unit=Unit.ENTRIES,
                   remediation=f"Set NO_PROXY and no_proxy to \"{suggested}\" in the shell and in the kubelet, "
                               "containerd and SSM agent systemd drop-ins (and the kube-proxy DaemonSet).",
                   evidence=ev)
