"""Name resolution: does every endpoint name resolve here, and does the API name resolve the right way.

`dns.<subject>.resolve` resolves each endpoint name through spec.dns.servers or the
system resolver and keeps NXDOMAIN, SERVFAIL, REFUSED, timeout and no-answer apart.
`dns.eks-api.endpoint-access` classifies the API endpoint's addresses as private (VPC,
control-plane ENIs) or public and judges them against the cluster's endpoint access mode
(docs/reference/eks-hybrid-network-requirements.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from netaddr import IPAddress, IPSet

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.net.lookup import DnsAnswer, ResolverOptions, is_ip, split_server
from netcheck.settings import Settings, Thresholds
from netcheck.units import Unit
from probes import CheckKind, kind_in
from probes.base import LOSS_HINT, probe_path
from probes.endpoints import Target, all_targets, api_endpoint
from probes.reachability import proxy_route

DOCS_PREREQS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-prereqs.html"
DOCS_INBOUND = "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resolver-forwarding-inbound-queries.html"
SLOW_MS = 1000.0  # a resolver slower than this stalls kubelet, containerd and nodeadm noticeably
PATH_PROBE_S = 1.5  # per step of the path probe after a lookup got no answer at all
PATH_PROBE_SERVERS = 2
RFC1918 = IPSet(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
TRAP_QUOTE = ("with \"Public and Private\" access the endpoint \"will always resolve to the public IPs for "
              "hybrid nodes running outside of your VPC\"")


@dataclass(frozen=True)
class Spec:
    kind: Literal["resolve", "endpoint-access"]
    subject: str
    name: str
    required: bool = True
    why: str = ""
    servers: tuple[str, ...] = ()
    timeout: float = 5.0  # the lookup's whole budget, retries included
    proxy: str | None = None  # the HTTPS proxy that would resolve the name instead (credentials removed)
    access: str | None = None  # public | private | public-and-private | None (unknown)
    vpc_cidrs: tuple[str, ...] = ()
    control_plane_ips: tuple[str, ...] = ()


# --- plan --------------------------------------------------------------------------

CHECKS: tuple[CheckKind, ...] = (
    CheckKind('dns.eks-api.endpoint-access', 'The API endpoint resolves to addresses its endpoint access mode allows from on-prem', Category.DNS,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-prereqs.html'),
    CheckKind('dns.*.resolve', 'An endpoint name resolves (AWS service endpoints, the API server, spec.endpoints)', Category.DNS,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html', phased=True),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    servers = tuple(s.dns.servers)
    checks: list[Check] = []
    seen: set[str] = set()
    for t in all_targets(settings):
        cid = f"dns.{t.subject}.resolve"
        if is_ip(t.host) or cid in seen:
            continue
        seen.add(cid)
        proxy = proxy_route(t, settings.environ)
        spec = Spec("resolve", t.subject, t.host, t.required, t.why, servers, s.dns.timeout, proxy)
        # Through a proxy the proxy resolves the name; a local failure then does not block the node.
        checks.append(kind_in(CHECKS, cid).check(cid, spec, probe="dns", title=f"{t.host} resolves",
                                                 advisory=not t.required or proxy is not None,
                                                 timeout=s.dns.timeout + 2 * PATH_PROBE_S + 1))
    api = api_endpoint(settings)
    if api is not None and not is_ip(api.host):
        checks.append(_access_check(settings, api, servers))
    return checks


def _access_check(settings: Settings, api: Target, servers: tuple[str, ...]) -> Check:
    s = settings.spec
    spec = Spec("endpoint-access", api.subject, api.host, True, api.why, servers, s.dns.timeout,
                access=s.cluster.endpoint_access, vpc_cidrs=tuple(s.vpc.cidrs),
                control_plane_ips=tuple(s.cluster.control_plane_ips))
    return kind_in(CHECKS, "dns.eks-api.endpoint-access").check("dns.eks-api.endpoint-access", spec, probe="dns",
                                                                timeout=s.dns.timeout + 3)


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> DnsAnswer:
    ans = net.resolve(spec.name, "A", spec.servers, spec.timeout)
    if spec.kind == "resolve" and ans.status == "timeout" and ans.tries:
        # No answer to any query: does anything else come back from the resolver's host?
        targets = list(dict.fromkeys(split_server(t.server) for t in ans.tries))[:PATH_PROBE_SERVERS]
        probes = [probe_path(net, ip, (port,), PATH_PROBE_S) for ip, port in targets]
        ans = replace(ans, path={"alive": any(p.alive for p in probes), "down": all(p.down for p in probes),
                                 "hosts": [p.to_evidence() for p in probes],
                                 "summary": "; ".join(f"{p.ip}: {p.summary()}" for p in probes)})
    return ans


# --- evaluate (pure) -----------------------------------------------------------------

def evaluate(spec: Spec, ans: DnsAnswer, thresholds: Thresholds) -> Outcome:
    if spec.kind == "endpoint-access":
        return _endpoint_access(spec, ans)
    return _resolve(spec, ans)


def _via(ans: DnsAnswer) -> str:
    if ans.source != "dns":
        return ans.source
    return ", ".join(ans.servers) if ans.servers else "the system resolver"


def _zone(name: str) -> str:
    """The zone on-prem DNS must forward for `name` (eks.amazonaws.com for API endpoints), in any partition."""
    from probes.endpoints import PARTITIONS

    zones = [z for p in PARTITIONS for z in (f"eks.{p.dns_suffix}", p.dns_suffix, p.api_suffix)]
    for suffix in sorted(set(zones), key=len, reverse=True):
        if name == suffix or name.endswith("." + suffix):
            return suffix
    return name.split(".", 1)[1] if "." in name else name


_WHAT = {
    "nxdomain": "NXDOMAIN: the name does not exist there",
    "servfail": "SERVFAIL: the resolver could not get an answer from upstream",
    "refused": "REFUSED: the resolver will not answer this client",
    "timeout": "no answer at all (timeout)",
    "unreachable": "an error on this host while sending to the resolver",
    "no-route": "no route on this host to the resolver",
    "no-answer": "no A record: the name exists but has no IPv4 address",
    "no-resolver": "no resolver: no nameserver is configured",
    "error": "an unexpected DNS error",
}


def _fix(spec: Spec, ans: DnsAnswer) -> str:
    zone = _zone(spec.name)
    via = _via(ans)
    if ans.status == "nxdomain":
        if spec.subject == "eks-api":
            return (f"Check the endpoint URL; if on-prem DNS holds its own zone for {zone} or the cluster is "
                    f"private, forward {zone} to a Route 53 Resolver inbound endpoint in the VPC.")
        if spec.subject.startswith("endpoint."):
            return f"Add a record for {spec.name} to the site's DNS, or correct spec.endpoints."
        return (f"Let {via} recurse to public DNS for {zone}, or, with VPC interface endpoints, forward "
                f"{zone} to a Route 53 Resolver inbound endpoint in the VPC.")
    return {
        "servfail": f"Check the forwarders of {via} for {zone} (a conditional forwarder to the Route 53 Resolver "
                    "inbound endpoint must be reachable on UDP and TCP 53); failed DNSSEC validation also shows "
                    "as SERVFAIL.",
        "refused": f"Allow recursive queries from the node CIDR on {via} (allow-recursion / access-control), "
                   "or point the node at a resolver that serves it.",
        "timeout": f"Allow UDP and TCP 53 from the node to {via} on every firewall in the path and check the "
                   "resolver is running; a filtered port and a dead server look the same.",
        "unreachable": f"This host refused to send the queries to {via}: check its own firewall (nft list ruleset) "
                       "and routes toward the resolver, or point the node at a resolver it can reach.",
        "no-answer": f"Add an A record for {spec.name} (hybrid nodes use IPv4), or fix the CNAME it points to.",
        "no-resolver": "Add a nameserver to /etc/resolv.conf, or set spec.dns.servers in the site profile.",
    }.get(ans.status, f"Check {via}: {ans.detail}")


def _queries(n: int) -> str:
    return f"{n} quer{'y' if n == 1 else 'ies'}"


def _loss_note(ans: DnsAnswer) -> str:
    """How the lost queries went, and what they cost the node's own resolver."""
    done = ans.answered
    if not ans.lost or done is None:
        return ""
    opts = ans.options or ResolverOptions()
    sent = ans.tries.index(done) + 1
    node_s = (sent - 1) * opts.timeout + (done.rtt or 0.0)
    return (f" {ans.lost} of the {_queries(sent)} sent until then got no answer: the path drops packets "
            f"({LOSS_HINT}). The node's resolver ({opts.describe()}) retries as well and would have had this "
            f"answer after about {node_s:.1f} s.")


def _resolve(spec: Spec, ans: DnsAnswer) -> Outcome:
    ms = round(ans.seconds * 1000, 1)
    ev = {**ans.to_evidence(), "subject": spec.subject, "why": spec.why}
    if spec.proxy:
        ev["proxy"] = spec.proxy
    note = (f" Connections to it go through proxy {spec.proxy}, which resolves the name itself, so this only "
            "matters without the proxy." if spec.proxy else "")
    if ans.status == "ok":
        shown = ", ".join(ans.addresses[:6]) + (f" and {len(ans.addresses) - 6} more" if len(ans.addresses) > 6 else "")
        answer_ms = round(ans.answer_seconds * 1000, 1)
        if answer_ms > SLOW_MS:
            return Outcome(Status.WARN, f"{spec.name} resolved to {shown} via {_via(ans)}, but only after "
                           f"{answer_ms:g} ms.{_loss_note(ans)}",
                           measured=answer_ms, threshold=SLOW_MS, unit=Unit.MS,
                           remediation=f"Use a closer or caching resolver; {_via(ans)} answered slower than "
                                       f"{SLOW_MS:g} ms, which delays every kubelet, containerd and nodeadm call.",
                           evidence=ev)
        if ans.lost and not ans.node_copes:
            opts = ans.options or ResolverOptions()
            sent = ans.tries.index(ans.answered) + 1 if ans.answered else len(ans.tries)
            return Outcome(Status.WARN, f"{spec.name} resolved to {shown} via {_via(ans)}, but only at query "
                           f"{sent}: {ans.lost} before it got no answer, and the node's resolver "
                           f"({opts.describe()}) gives up after {_queries(ans.node_queries)}: it would have "
                           f"failed this lookup. The resolver works; the path drops packets ({LOSS_HINT}).{note}",
                           measured=ans.lost, threshold=ans.node_queries - 1, unit=Unit.LOST_QUERIES,
                           remediation=f"Find and stop the packet loss between this node and {_via(ans)} (the "
                                       "latency.rtt checks measure it). Until then more retries help the node "
                                       "ride it out: `options timeout:2 attempts:4` in /etc/resolv.conf.",
                           evidence=ev)
        took = f" (the answer itself took {answer_ms:g} ms)" if ans.lost else ""
        return Outcome(Status.PASS, f"{spec.name} resolved to {shown} via {_via(ans)} in {ms:g} ms{took}."
                       f"{_loss_note(ans)}", measured=answer_ms, unit=Unit.MS, evidence=ev)
    path = ans.path or {}
    if ans.status == "no-route":
        return _no_route(spec, ans, ev, note)
    if ans.status == "timeout" and path.get("down"):
        return Outcome(Status.FAIL, f"Resolving {spec.name} via {_via(ans)} got no answer to "
                       f"{_queries(len(ans.tries))} in {ms:g} ms, and nothing else came back from the resolver "
                       f"either ({path.get('summary')}): the path to it is down or drops everything, which is a "
                       f"network path problem, not a DNS one.{note}",
                       measured="path down", threshold="an A record",
                       remediation=f"Restore the path from this node to {_via(ans)}: check the routes and firewalls "
                                   "in between (the reach and latency checks, or a traceroute from the node, show "
                                   "where it stops); nothing here shows the resolver itself at fault.", evidence=ev)
    detail = f" ({ans.detail})" if ans.detail and ans.status not in ("nxdomain", "no-answer", "timeout") else ""
    tail = ""
    if ans.status == "timeout" and path.get("alive"):
        tail = (f" None of {_queries(len(ans.tries))} was answered while other traffic to the resolver gets "
                f"through ({path.get('summary')}), so this is the resolver or a filter on its DNS port, not loss.")
    return Outcome(Status.FAIL, f"Resolving {spec.name} via {_via(ans)} failed after {ms:g} ms with "
                   f"{_WHAT.get(ans.status, ans.status)}{detail}.{tail}{note}",
                   measured=ans.status, threshold="an A record", remediation=_fix(spec, ans), evidence=ev)


def _no_route(spec: Spec, ans: DnsAnswer, ev: dict[str, object], note: str) -> Outcome:
    """Every query failed in this host's own stack: a routing fact about this host, not about the resolver."""
    from netcheck.net.localerr import describe_route

    local = ans.local or {}
    servers = ", ".join(split_server(s)[0] for s in ans.servers) or _via(ans)
    return Outcome(Status.FAIL, f"This host has no route to the resolver {servers} (route lookup: "
                   f"{describe_route(local.get('route'))}), so {spec.name} could not be resolved: no query left "
                   f"this host, and nothing is known about the resolver itself.{note}",
                   measured="no-route", threshold="an A record",
                   remediation=f"Add a route toward {servers} on this host through the on-prem router that reaches "
                               "it (ip route replace <VPC CIDR> via <router-ip>; persist it in netplan or "
                               "NetworkManager), or point the node at a resolver it has a route to.", evidence=ev)


# --- endpoint access ---------------------------------------------------------------

def classify(addr: str, vpc_cidrs: tuple[str, ...], control_plane_ips: tuple[str, ...]) -> tuple[str, str]:
    """('private'|'public', basis): inside a VPC CIDR or a control-plane ENI IP is private."""
    if addr in control_plane_ips:
        return "private", "control-plane ENI"
    if vpc_cidrs:
        inside = ":" not in addr and IPAddress(addr) in IPSet(c for c in vpc_cidrs if ":" not in c)
        return ("private", "inside a VPC CIDR") if inside else ("public", "outside the VPC CIDRs")
    if control_plane_ips:
        return "public", "not a control-plane ENI IP"
    # Neither the VPC nor the ENIs are known: RFC 1918 is the best available guess, and says so.
    return ("private", "RFC 1918 (VPC CIDRs unknown)") if IPAddress(addr) in RFC1918 else (
        "public", "not RFC 1918 (VPC CIDRs unknown)")


def _endpoint_access(spec: Spec, ans: DnsAnswer) -> Outcome:
    if ans.status != "ok":
        return Outcome.skip(SkipReason.DEPENDENCY,
                            f"{spec.name} did not resolve ({ans.status}), so its addresses cannot be judged; "
                            "see dns.eks-api.resolve.", evidence=ans.to_evidence())
    classes = {a: classify(a, spec.vpc_cidrs, spec.control_plane_ips) for a in ans.addresses}
    public = [a for a, (c, _) in classes.items() if c == "public"]
    private = [a for a, (c, _) in classes.items() if c == "private"]
    stale = [a for a in private if spec.control_plane_ips and a not in spec.control_plane_ips]
    ev = {**ans.to_evidence(), "endpointAccess": spec.access or "unknown",
          "classified": {a: {"class": c, "basis": b} for a, (c, b) in classes.items()},
          "public": public, "private": private, "vpcCidrs": list(spec.vpc_cidrs),
          "controlPlaneIps": list(spec.control_plane_ips)}
    src = f" (answered by {ans.source})" if ans.source != "dns" else f" via {_via(ans)}"
    name, zone = spec.name, _zone(spec.name)
    seen_pub = ", ".join(f"{a} ({classes[a][1]})" for a in public)
    forward = (f"Forward {zone} from the on-prem DNS servers to a Route 53 Resolver inbound endpoint in the "
               f"cluster's VPC (allow UDP/TCP 53 from on-prem in its security group), so {name} resolves to "
               "the cluster's private ENI IPs.")
    mode = spec.access
    if mode == "private" and public:
        return Outcome(Status.FAIL, f"{name} resolved{src} to {seen_pub}, but the cluster's endpoint is private-only: "
                       "the node would try the API server over a path that does not serve it.",
                       measured=", ".join(public), threshold="VPC (private) addresses only", remediation=forward,
                       evidence=ev)
    if mode == "public-and-private" and public:
        return Outcome(Status.WARN, f"{name} resolved{src} to public address(es) {', '.join(public)}: {TRAP_QUOTE}, "
                       "which can prevent them from joining.", measured=", ".join(public),
                       threshold="VPC (private) addresses", remediation=forward + " Or switch the cluster's "
                       "endpoint access to Public or Private, as the current EKS guidance recommends.", evidence=ev)
    if mode == "public" and private:
        return Outcome(Status.WARN, f"{name} resolved{src} to VPC address(es) {', '.join(private)}, but the "
                       "cluster's endpoint access is public-only, so the private addresses are not expected "
                       "to serve the API; a DNS override or stale record is likely.",
                       measured=", ".join(private), threshold="public addresses",
                       remediation=f"Remove the on-prem override for {name}, or enable private endpoint access "
                                   "and set spec.cluster.endpointAccess accordingly.", evidence=ev)
    if mode is None and public:
        return Outcome(Status.WARN, f"{name} resolved{src} to public address(es) {seen_pub}; the endpoint access "
                       "mode is not set, so netcheck cannot tell whether that is intended (a private or "
                       "public-and-private cluster needs private addresses here).",
                       measured=", ".join(public), threshold="depends on endpoint access",
                       remediation="Set spec.cluster.endpointAccess (aws eks describe-cluster … "
                                   "resourcesVpcConfig); if the cluster has private access, " + forward[0].lower()
                                   + forward[1:], evidence=ev)
    if stale:
        return Outcome(Status.WARN, f"{name} resolved{src} to VPC address(es) {', '.join(stale)} that are not "
                       f"among the configured control-plane IPs ({', '.join(spec.control_plane_ips)}); the "
                       "ENI list is probably stale (EKS replaces its ENIs on updates).",
                       measured=", ".join(stale), threshold=", ".join(spec.control_plane_ips),
                       remediation="Refresh spec.cluster.controlPlaneIps from the cluster's current ENIs "
                                   "(kubectl get endpoints kubernetes -n default), so reach.control-plane.* "
                                   "tests the right addresses.", evidence=ev)
    kind = "private" if not public else "public"
    expected = {"private": ", as a private-only endpoint requires",
                "public-and-private": ", so hybrid nodes reach the API over the private path",
                "public": ", as a public endpoint should"}.get(mode or "", " (endpoint access mode not set)")
    shown = ", ".join(ans.addresses)
    return Outcome(Status.PASS, f"{name} resolved{src} to {kind} address(es) {shown}{expected}.",
                   measured=shown, evidence=ev)
