"""Root causes: which failure explains which, from the finished results (docs/diagnosis.md).

One missing route makes twenty checks fail; a person needs to read one story, not twenty.
`diagnose(results)` links every failing result it can to the failure that explains it and
returns the results (dependents carry `caused_by` and a remediation that points to the root)
with the ordered root causes. It never changes a status, so the verdict and the exit code
stay exactly as `verdict.decide` made them.

The rules, most fundamental first (a result keeps the first cause found for it):

  route     routing.vpc.* / routing.control-plane.* FAIL → every failing check on an address
            inside that range (DNS to a resolver there, TCP, TLS, clock, latency, MTU, bandwidth,
            inbound, the control-plane routes inside it)
  proxy     a proxy that cannot be reached or refuses every CONNECT alike → every proxied check
  resolver  a resolver that does not answer (unreachable, timeout, refused) → every name that
            failed through it
  nat       inbound.nat FAIL (the VPC sees another address) → every failing inbound check
  address   an address on which nothing answers at all → every check on it
  name      dns.<subject>.resolve failed → reach/tls/proxy-free checks of that name
  endpoint  reach.<subject> or proxy.<subject>.connect failed → the TLS (and /livez, clock over
            HTTPS) of that endpoint; mtu.path.* → mtu.cni

Pure: reads check ids, categories, statuses and evidence (and the plan's specs when present), so it
works on a live run and on a report read back from JSON alike.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netcheck.model import Category, CheckResult, RootCause, SkipReason, Status

RULES = ("route", "proxy", "resolver", "nat", "address", "name", "endpoint")
RESOLVER_DOWN = ("unreachable", "timeout", "refused", "no-resolver", "error")  # the resolver, not the name
SILENT = ("timeout", "unreachable", "no-route", "lost")
# Which check of a dead address tells its story best: the plainest probe first.
_ROOT_ORDER = (Category.ROUTING, Category.REACHABILITY, Category.LATENCY, Category.MTU, Category.DNS,
               Category.PROXY, Category.TLS, Category.CLOCK, Category.BANDWIDTH, Category.INBOUND)
_IPV4 = re.compile(r"(?<!\d)(\d{1,3}(?:\.\d{1,3}){3})(?![\d/])")
_MAX_DEPTH = 6


@dataclass(frozen=True)
class Diagnosis:
    """The results with causes linked, and the root causes, most explanatory first."""

    results: tuple[CheckResult, ...]
    roots: tuple[RootCause, ...]


@dataclass
class _Facts:
    """What one result says about where it sends and what came back."""

    index: int
    result: CheckResult
    addresses: set[str] = field(default_factory=set)  # every address the check sends to
    answered: set[str] = field(default_factory=set)  # addresses something came back from
    silent: set[str] = field(default_factory=set)  # addresses that timed out or were unreachable
    local: set[str] = field(default_factory=set)  # addresses this host has no route to (its own stack said so)
    resolvers: tuple[str, ...] = ()
    proxy: str | None = None  # host:port of the HTTPS proxy the check goes through

    @property
    def id(self) -> str:
        return self.result.check.id

    @property
    def open(self) -> bool:
        """A result that needs a story: FAIL, ERROR, or a SKIP because something it needs was missing."""
        o = self.result.outcome
        return o.status in (Status.FAIL, Status.ERROR) or (
            o.status is Status.SKIP and o.skip_reason in (SkipReason.DEPENDENCY, None))

    @property
    def failing(self) -> bool:
        return self.result.status in (Status.FAIL, Status.ERROR)


# --- reading the results ---------------------------------------------------------------

def _ip(text: object) -> str | None:
    """The IPv4/IPv6 address in 'ip', 'ip:port' or '[ip]:port'; None for names."""
    s = str(text or "").strip()
    if s.startswith("["):
        s = s[1:].split("]", 1)[0]
    elif s.count(":") == 1:
        s = s.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None


def proxy_key(url: object) -> str | None:
    """host:port of a proxy URL or address, without scheme, credentials or path."""
    s = str(url or "").strip()
    if not s:
        return None
    s = s.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0]
    return s.lower() or None


def _walk(node: object, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """Every mapping inside the evidence (bounded depth)."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, Mapping):
        yield node
        for v in node.values():
            yield from _walk(v, depth + 1)
    elif isinstance(node, list | tuple):
        for v in node:
            yield from _walk(v, depth + 1)


def _is_local(d: Mapping[str, Any]) -> bool:
    """A dial this host's own stack refused to send (no route, no source address), not a remote answer."""
    reason = str(d.get("reason") or "")
    return (d.get("outcome") == "no-route" and not d.get("offender")) or reason.startswith(("local-", "no-local")) \
        or (d.get("errno") in ("ENETUNREACH", "EADDRNOTAVAIL") and not d.get("offender"))


def _facts(index: int, r: CheckResult) -> _Facts:
    f = _Facts(index, r)
    cid, ev = r.check.id, r.outcome.evidence
    if not cid.startswith("routing.vpc."):
        f.addresses.update(ip for ip in map(_ip, _IPV4.findall(cid)) if ip)
    spec = r.check.spec
    for attr in ("target", "host", "responder", "server"):
        if spec is not None and (ip := _ip(getattr(spec, attr, None))):
            f.addresses.add(ip)
    if spec is not None:
        f.addresses.update(ip for ip in map(_ip, getattr(spec, "ips", ()) or ()) if ip)
        if (p := getattr(spec, "proxy", None)) and r.check.category is not Category.DNS:
            f.proxy = proxy_key(p)
    for key in ("target", "ip", "responder", "server", "chosen"):
        if (ip := _ip(ev.get(key))) is not None:
            f.addresses.add(ip)
    if r.check.category is Category.DNS or cid.startswith("clock.ntp"):
        servers = ev.get("servers") or (getattr(spec, "servers", ()) if spec is not None else ())
        f.resolvers = tuple(str(s) for s in servers or ())
        f.addresses.update(ip for ip in map(_ip, f.resolvers) if ip)
    for d in _walk(ev):
        ip = _ip(d.get("ip"))
        outcome = d.get("outcome")
        if ip is not None and outcome is not None:
            f.addresses.add(ip)
            if outcome == "connected" or (outcome == "refused" and d.get("offender") in (None, ip)):
                f.answered.add(ip)
            elif outcome in SILENT:
                (f.local if _is_local(d) else f.silent).add(ip)
            if d.get("stage") in ("handshake", "done"):
                f.answered.add(ip)
        if isinstance(d.get("viaProxy"), Mapping):
            f.proxy = proxy_key(d["viaProxy"].get("proxy")) or f.proxy
        if d.get("server") and d.get("outcome") == "answered" and (sip := _ip(d["server"])):
            f.answered.add(sip)
    if cid.startswith("proxy.") and cid.endswith(".connect"):
        f.proxy = proxy_key(ev.get("proxy")) or proxy_key(ev.get("viaProxy")) or f.proxy
    target = _ip(ev.get("ip")) or _ip(ev.get("target"))
    if target is not None:
        if (isinstance(ev.get("received"), int) and ev["received"] > 0) or ev.get("reachable") is True:
            f.answered.add(target)
        elif ev.get("received") == 0 or ev.get("reachable") is False:
            f.silent.add(target)
    if r.check.category is Category.DNS and f.resolvers and str(ev.get("status", "")) not in (*RESOLVER_DOWN, ""):
        f.answered.update(ip for ip in map(_ip, f.resolvers) if ip)
    reply = ev.get("reply")
    if isinstance(reply, Mapping) and ev.get("control") == "connected" and (rip := _ip(ev.get("responder"))):
        f.answered.add(rip)
    if r.status in (Status.PASS, Status.WARN):
        f.answered |= f.addresses
    return f


def _subject(cid: str) -> str | None:
    """The endpoint subject of dns/reach/tls/proxy ids: dns.<s>.resolve, reach.<s>.tcp-N, tls.<s>.x, proxy.<s>.connect."""
    head, _, rest = cid.partition(".")
    if head not in ("dns", "reach", "tls", "proxy") or "." not in rest:
        return None
    subject = rest.rsplit(".", 1)[0]
    return None if head == "proxy" and subject in ("env", "no-proxy") else subject


def _network(cid: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The range a routing route check stands for: routing.vpc.<cidr> or routing.control-plane.<ip>."""
    for prefix in ("routing.vpc.", "routing.control-plane."):
        if cid.startswith(prefix):
            try:
                return ipaddress.ip_network(cid[len(prefix):], strict=False)
            except ValueError:
                return None
    return None


def _inside(addr: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    a = ipaddress.ip_address(addr)
    return a.version == net.version and a in net


# --- the rules: each yields (root, dependents, rule, cause) ------------------------------

Link = tuple[_Facts, list[_Facts], str, str]


def _route(facts: list[_Facts]) -> Iterator[Link]:
    routes = [(f, n) for f in facts if f.result.status is Status.FAIL and (n := _network(f.id)) is not None]
    routes.sort(key=lambda fn: (fn[1].prefixlen, fn[0].index))  # the widest range first: it explains the rest
    for root, net in routes:
        measured = root.result.outcome.measured
        deps = [f for f in facts if f is not root and f.open and (
            any(_inside(a, net) for a in f.addresses | f.local)
            or f.id == "routing.host.rp-filter")]
        what = {"no-route": "no route", "unreachable": "an unreachable route", "prohibit": "a prohibit route",
                "blackhole": "a blackhole route"}.get(str(measured))
        if what:
            cause = f"this host has {what} toward {net}"
        elif measured == "local":
            cause = f"{net} is one of this host's own addresses"
        else:
            cause = f"traffic toward {net} leaves from {measured}, an address the VPC does not route back to"
        yield root, deps, "route", cause


def _proxy(facts: list[_Facts]) -> Iterator[Link]:
    connects = [f for f in facts if f.id.startswith("proxy.") and f.id.endswith(".connect") and f.proxy]
    by_proxy: dict[str, list[_Facts]] = {}
    for f in connects:
        by_proxy.setdefault(f.proxy or "", []).append(f)
    for key, group in by_proxy.items():
        failed = [f for f in group if f.result.status is Status.FAIL]
        down = [f for f in failed if f.result.outcome.evidence.get("outcome") not in (None, "connected")
                or f.result.outcome.evidence.get("status") in (None, 407)]
        said = {str(f.result.outcome.measured) for f in failed}
        if not down and len(failed) == len(group) and len(group) > 1 and len(said) == 1:
            down = failed  # every CONNECT refused alike (one policy)
        if not down:
            continue
        root = down[0]
        deps = [f for f in facts if f is not root and f.open and f.proxy == key]
        ev = root.result.outcome.evidence
        if ev.get("outcome") not in (None, "connected"):
            cause = f"the HTTPS proxy {key} cannot be reached (TCP {ev.get('outcome')})"
        else:
            cause = f"the HTTPS proxy {key} refuses CONNECT ({root.result.outcome.measured})"
        yield root, deps, "proxy", cause


def _resolver(facts: list[_Facts]) -> Iterator[Link]:
    dns = [f for f in facts if f.result.check.category is Category.DNS]
    groups: dict[tuple[str, ...], list[_Facts]] = {}
    for f in dns:
        groups.setdefault(f.resolvers, []).append(f)
    for servers, group in groups.items():
        down = [f for f in group if f.failing and f.id.endswith(".resolve")
                and (str(f.result.outcome.evidence.get("status", "")) in RESOLVER_DOWN
                     or f.result.outcome.measured == "path down")]
        if not down:
            continue
        down.sort(key=lambda f: (not f.result.check.severity.required, f.index))
        root = down[0]
        stray = groups.get((), []) if servers else []  # probes that broke before naming their resolver
        deps = [f for f in group + stray if f is not root and f.open]
        status = root.result.outcome.evidence.get("status") or root.result.outcome.measured
        shown = ", ".join(servers) or "the system resolver"
        yield root, deps, "resolver", f"the resolver {shown} does not answer ({status})"


def _nat(facts: list[_Facts]) -> Iterator[Link]:
    for root in facts:
        if root.id == "inbound.nat" and root.result.status is Status.FAIL:
            deps = [f for f in facts if f is not root and f.open and f.result.check.category is Category.INBOUND]
            ev = root.result.outcome.evidence
            yield root, deps, "nat", (f"the VPC sees this node as {ev.get('seenAs', '?')}, not "
                                      f"{ev.get('nodeAddress', '?')}: NAT between the site and the VPC")


def _address(facts: list[_Facts]) -> Iterator[Link]:
    on: dict[str, list[_Facts]] = {}
    for f in facts:
        for a in f.addresses | f.local:
            on.setdefault(a, []).append(f)
    for addr, group in on.items():
        if any(addr in f.answered for f in group):
            continue
        opened = [f for f in group if f.open]
        if len(opened) < 2 or len(opened) != len(group) or not any(addr in f.silent | f.local for f in group):
            continue
        candidates = [f for f in opened if f.failing]
        if not candidates:
            continue
        candidates.sort(key=lambda f: (f.result.status is not Status.FAIL,
                                       _ROOT_ORDER.index(f.result.check.category)
                                       if f.result.check.category in _ROOT_ORDER else len(_ROOT_ORDER), f.index))
        root = candidates[0]
        local = any(addr in f.local for f in group)
        cause = (f"this host has no route to {addr}" if local else
                 f"nothing answers at {addr}: all {len(group)} checks on it got silence or an error")
        yield root, [f for f in opened if f is not root], "address", cause


def _name(facts: list[_Facts]) -> Iterator[Link]:
    for root in facts:
        if not (root.id.startswith("dns.") and root.id.endswith(".resolve") and root.failing):
            continue
        subject = _subject(root.id)
        deps = [f for f in facts if f is not root and f.open and (
            (_subject(f.id) == subject and not f.id.startswith("proxy."))
            or (subject == "eks-api" and f.id == "clock.https.offset"))]
        name = root.result.outcome.evidence.get("name") or subject
        yield root, deps, "name", f"{name} does not resolve ({root.result.outcome.measured})"


def _endpoint(facts: list[_Facts]) -> Iterator[Link]:
    for root in facts:
        if not root.failing:
            continue
        subject = _subject(root.id)
        if root.id.startswith(("reach.", "proxy.")) and subject:
            deps = [f for f in facts if f is not root and f.open and (
                (f.id.startswith("tls.") and _subject(f.id) == subject)
                or (subject == "eks-api" and f.id == "clock.https.offset"))]
            yield root, deps, "endpoint", f"{root.result.check.title.rstrip('.')} failed"
        elif root.id == "tls.eks-api.handshake":
            deps = [f for f in facts if f.open and f.id in ("tls.eks-api.livez", "clock.https.offset")]
            yield root, deps, "endpoint", "TLS to the API server failed"
        elif root.id.startswith("mtu.path."):
            deps = [f for f in facts if f.open and f.id == "mtu.cni"]
            yield root, deps, "endpoint", f"the path MTU toward {root.id[len('mtu.path.'):]} is not known"


_RULES = ((_route, "route"), (_proxy, "proxy"), (_resolver, "resolver"), (_nat, "nat"), (_address, "address"),
          (_name, "name"), (_endpoint, "endpoint"))


# --- putting it together ------------------------------------------------------------------

def diagnose(results: Sequence[CheckResult]) -> Diagnosis:
    """Link failures to the failures that explain them; statuses (and so the verdict) never change.

    Idempotent: links from an earlier diagnosis (a report read back from JSON) are undone first.
    """
    results = [_unlinked(r) for r in results]
    facts = [_facts(i, r) for i, r in enumerate(results)]
    cause: dict[int, int] = {}  # dependent → its root (always a result with no cause of its own)
    why: dict[int, tuple[str, str]] = {}  # root → (rule, cause sentence)
    for rule, _name_of in _RULES:
        for root, deps, name, sentence in rule(facts):
            top = cause.get(root.index, root.index)
            fresh = [d for d in deps if d.index != top and d.index not in cause and d.index not in why]
            if not fresh:
                continue
            for d in fresh:
                cause[d.index] = top
            why.setdefault(top, (name, sentence))
    dependents: dict[int, list[int]] = {}
    for dep, top in sorted(cause.items()):
        dependents.setdefault(top, []).append(dep)
    roots = set(dependents) | {f.index for f in facts if f.failing and f.index not in cause}
    rank = {name: i for i, name in enumerate(RULES)}

    def order(i: int) -> tuple[bool, int, int, int]:
        required = any(results[j].check.severity.required for j in [i, *dependents.get(i, [])])
        return (not required, rank.get(why.get(i, ("", ""))[0], len(RULES)), -len(dependents.get(i, [])), i)

    ordered = sorted(roots, key=order)
    out = [_linked(r, results[cause[i]], why[cause[i]][1]) if i in cause else r for i, r in enumerate(results)]
    return Diagnosis(tuple(out), tuple(RootCause(results[i].check.id,
                                                 tuple(results[d].check.id for d in dependents.get(i, [])),
                                                 *why.get(i, ("", ""))) for i in ordered))


def _unlinked(r: CheckResult) -> CheckResult:
    """The result as its probe made it: no cause, its own remediation back."""
    if not r.caused_by:
        return r
    evidence = dict(r.outcome.evidence)
    own = evidence.pop("ownRemediation", None)
    return dataclasses.replace(r, outcome=dataclasses.replace(r.outcome, remediation=own, evidence=evidence),
                               caused_by=None)


def _linked(r: CheckResult, root: CheckResult, sentence: str) -> CheckResult:
    """The dependent, naming its root; its own fix is kept in the evidence for after the root is fixed."""
    o = r.outcome
    fix = f"Fix {root.check.id} first: {sentence}." if sentence else f"Fix {root.check.id} first."
    evidence = dict(o.evidence)
    if o.remediation:
        evidence["ownRemediation"] = o.remediation
    return dataclasses.replace(r, outcome=dataclasses.replace(o, remediation=fix, evidence=evidence),
                               caused_by=root.check.id)


def unexplained(results: Iterable[CheckResult], roots: Iterable[RootCause]) -> list[str]:
    """Failing required checks that are neither a root cause nor name one: the invariant says none."""
    root_ids = {c.id for c in roots}
    return [r.check.id for r in results if r.check.severity.required and r.status in (Status.FAIL, Status.ERROR)
            and r.check.id not in root_ids and not r.caused_by]
