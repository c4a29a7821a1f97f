"""TLS to the cluster API and AWS endpoints: a verified chain, and a live API server behind it.

A TCP connect (or a proxy's CONNECT 200) does not prove TLS works: an inspecting proxy
or firewall re-signs the chain, and kubelet, which trusts only the cluster CA, then fails
with "x509: certificate signed by unknown authority" (docs/reference/eks-hybrid-network-requirements.md
§6 item 6). Each handshake is verified as a client would verify it, and a failure names the issuer,
the expiry or the names presented. SSL_CERT_FILE/SSL_CERT_DIR and the proxy are read at plan time.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.net.proxyenv import proxy_for
from netcheck.net.tls import TlsResult
from netcheck.settings import Settings, Thresholds, cluster_lookup_needed
from netcheck.settings.nodeconfig import Finding
from netcheck.units import Unit
from probes import CheckKind, kind_in
from probes.base import ProbeSkip
from probes.endpoints import Target, api_endpoint, aws_targets, extra_targets

DOCS_TROUBLE = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html"
DOCS_PROXY = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-proxy.html"
EKS_CA_CN = "kubernetes"  # the subject EKS gives every cluster CA
MAX_ADDRESSES = 2  # control-plane ENIs per cluster
HANDSHAKE_S = 5.0
EXPIRY_WARN_DAYS = 7
LIVE_STATUSES = (200, 401, 403)  # anonymous-auth on → 200; off → 401; RBAC denies → 403
# Amazon's public roots, by SHA-256 of their SubjectPublicKeyInfo (a name can be copied, a key cannot).
# Every AWS service endpoint chains to one of these (Amazon Trust Services).
AMAZON_ROOTS = {
    "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2": "Amazon Root CA 1",
    "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461": "Amazon Root CA 2",
    "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9": "Amazon Root CA 3",
    "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5": "Amazon Root CA 4",
    "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92":
        "Starfield Services Root Certificate Authority - G2",
}


@dataclass(frozen=True)
class Spec:
    kind: Literal["handshake", "livez", "ca"]
    subject: str
    host: str | None  # None: the profile names no cluster endpoint
    port: int = 443
    ips: tuple[str, ...] = ()  # known addresses; empty → resolve host
    ca_pem: str | None = None  # expected CA; None → system trust store (cafile/capath when set)
    cafile: str | None = None
    capath: str | None = None
    proxy: str | None = None
    dns_servers: tuple[str, ...] = ()
    api: bool = False
    amazon_roots: bool = False  # an AWS service name: its chain must lead to one of AMAZON_ROOTS
    ca_source: str | None = None  # where the cluster CA came from: profile, nodeconfig, describe-cluster
    ca_finding: Finding | None = None  # the NodeConfig's CA cannot be used (field, problem, fix)
    ca_file: str | None = None  # the NodeConfig holding ca_finding
    no_ca: str = ""  # why there is no cluster CA to verify against (for the message)
    no_endpoint: str = ""  # why the endpoint is unknown (for the SKIP message)


@dataclass(frozen=True)
class Evidence:
    results: tuple[TlsResult, ...]
    resolved_from: str  # "profile", "dns" or "proxy"

    def to_evidence(self) -> dict[str, Any]:
        return {"addressesFrom": self.resolved_from, "handshakes": [r.to_evidence() for r in self.results]}


# --- plan --------------------------------------------------------------------------

_SOURCE = {"nodeconfig": "from the NodeConfig", "profile": "from the site profile", "override": "from a flag",
           "describe-cluster": "from eks:DescribeCluster"}


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('tls.eks-api.ca', 'The cluster CA is a valid certificate', Category.TLS,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html'),
    CheckKind('tls.eks-api.livez', 'The API server answers /livez', Category.TLS,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html'),
    CheckKind('tls.eks-api.handshake', 'TLS to the Kubernetes API verifies against the cluster CA', Category.TLS,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html', phased=True),
    CheckKind('tls.*.handshake', 'TLS to an endpoint verifies against its trust store', Category.TLS,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html', phased=True),
)


def plan(settings: Settings) -> list[Check]:
    from netcheck.aws import boto3_available

    env = dict(settings.environ)
    cafile, capath = env.get("SSL_CERT_FILE") or None, env.get("SSL_CERT_DIR") or None
    dns = tuple(settings.spec.dns.servers)
    api = api_endpoint(settings)
    checks: list[Check] = []
    nc = settings.nodeconfig
    ca_finding = nc.findings.get("ca") if nc is not None else None
    ca_source = settings.sources.get("certificateAuthority")
    lookup = settings.cluster_lookup
    pending = lookup is None and cluster_lookup_needed(settings) and boto3_available()
    if lookup is not None and lookup.status != "ok":
        no_ca = f"eks:DescribeCluster gave no CA: {lookup.message}"
    elif lookup is None and cluster_lookup_needed(settings) and not boto3_available():
        no_ca = "no cluster CA is given, and eks:DescribeCluster needs boto3 (pip install 'netcheck[aws]')"
    else:
        no_ca = "no cluster CA is given"
    no_endpoint = ""
    if nc is not None and "endpoint" in nc.findings:
        no_endpoint = f"{nc.findings['endpoint'].field} in {nc.path} is not usable (see config.nodeconfig.endpoint)"
    elif lookup is not None and lookup.status != "ok":
        no_endpoint = f"no endpoint is given, and eks:DescribeCluster gave none: {lookup.message}"

    def spec_for(t: Target, kind: Literal["handshake", "livez"], is_api: bool, amazon: bool = False) -> Spec:
        return Spec(kind, t.subject, t.host, t.port, t.ips, t.ca_pem, cafile, capath,
                    proxy_for(t.host, t.port, env), dns, is_api, amazon, ca_source if is_api and t.ca_pem else None,
                    ca_finding if is_api else None, nc.path if is_api and nc is not None else None,
                    no_ca if is_api else "")

    aws_names = {t.subject for t in aws_targets(settings) if t.amazon_roots}

    if (api is not None and api.ca_pem) or ca_finding is not None or pending or lookup is not None:
        if ca_finding is not None:
            title = f"The cluster CA in {ca_finding.field} is a PEM certificate"
        elif api is not None and api.ca_pem:
            title = f"The cluster CA ({_SOURCE.get(ca_source or '', 'given')}) is a valid certificate"
        else:
            title = "The cluster CA from eks:DescribeCluster (asked at run time) is a valid certificate"
        checks.append(kind_in(CHECKS, "tls.eks-api.ca").check(
            "tls.eks-api.ca", Spec("ca", "eks-api", api.host if api else None, ca_pem=api.ca_pem if api else None,
                                   api=True, ca_source=ca_source, ca_finding=ca_finding,
                                   ca_file=nc.path if nc is not None else None, no_ca=no_ca),
            probe="tls", title=title, timeout=2))
    if api is None:
        title = ("TLS to the Kubernetes API (endpoint and CA from eks:DescribeCluster, asked at run time) verifies"
                 if pending and not no_endpoint else "TLS to the Kubernetes API verifies")
        checks.append(kind_in(CHECKS, "tls.eks-api.handshake").check(
            "tls.eks-api.handshake", Spec("handshake", "eks-api", None, api=True, no_endpoint=no_endpoint),
            probe="tls", title=title, timeout=5))
        if (pending and not no_endpoint) or lookup is not None:  # the endpoint may come from DescribeCluster
            checks.append(kind_in(CHECKS, "tls.eks-api.livez").check(
                "tls.eks-api.livez", Spec("livez", "eks-api", None, api=True, no_endpoint=no_endpoint), probe="tls",
                title="The API server (endpoint from eks:DescribeCluster) answers /livez", timeout=5))
    else:
        where = f"{api.host}:{api.port}"
        if api.ca_pem:
            title = f"TLS to {where} verifies against the cluster CA {_SOURCE.get(ca_source or '', '')}".rstrip()
        elif ca_finding is not None:
            title = (f"TLS to {where}: the chain is inspected, not verified (the NodeConfig's CA is not a "
                     "certificate, see tls.eks-api.ca)")
        elif pending:
            title = (f"TLS to {where} verifies against the cluster CA from eks:DescribeCluster (asked at run time; "
                     f"without an answer, the chain's issuer is checked for '{EKS_CA_CN}' instead)")
        else:
            title = f"TLS to {where}: no cluster CA, so the chain's issuer is checked for '{EKS_CA_CN}', not verified"
        checks.append(kind_in(CHECKS, "tls.eks-api.handshake").check(
            "tls.eks-api.handshake", spec_for(api, "handshake", True), probe="tls", title=title, timeout=12))
        checks.append(kind_in(CHECKS, "tls.eks-api.livez").check(
            "tls.eks-api.livez", spec_for(api, "livez", True), probe="tls",
            title=f"The API server at {api.host} answers /livez", timeout=12))
    for t in aws_targets(settings) + extra_targets(settings):
        if not t.tls:
            continue
        checks.append(kind_in(CHECKS, f"tls.{t.subject}.handshake").check(
            f"tls.{t.subject}.handshake", spec_for(t, "handshake", False, t.subject in aws_names), probe="tls",
            title=f"TLS to {t.host}:{t.port} verifies against the system trust store", advisory=not t.required,
            timeout=12))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> Evidence:
    if spec.kind == "ca":
        return Evidence((), "config")  # judged from the settings alone
    if spec.host is None:
        if spec.no_endpoint:
            see = "config.nodeconfig.endpoint" if "config.nodeconfig.endpoint" in spec.no_endpoint else \
                "config.cluster.details"
            raise ProbeSkip(SkipReason.NOT_APPLICABLE, f"The API server's TLS cannot be checked: {spec.no_endpoint}.",
                            f"See {see}.")
        raise ProbeSkip(SkipReason.NOT_APPLICABLE, "No cluster endpoint is configured, so the API server's TLS "
                        "cannot be checked.", "Set spec.cluster.endpoint and spec.cluster.certificateAuthority "
                        "(or pass --nodeconfig).")
    paths = ("/livez", "/version") if spec.kind == "livez" else ()
    ca = dict(ca_pem=spec.ca_pem, cafile=spec.cafile, capath=spec.capath)
    if spec.proxy:
        r = net.tls_handshake(spec.host, None, spec.port, HANDSHAKE_S, proxy=spec.proxy, paths=paths, **ca)
        return Evidence((r,), "proxy")
    ips, source = spec.ips, "profile"
    if not ips:
        if _is_ip(spec.host):
            ips, source = (spec.host,), "profile"
        else:
            ans = net.resolve(spec.host, "A", spec.dns_servers)
            if ans.status != "ok" or not ans.addresses:
                raise ProbeSkip(SkipReason.DEPENDENCY, f"{spec.host} does not resolve ({ans.status}: {ans.detail}), "
                                "so no TLS handshake was possible.", "Fix name resolution first (see the dns checks).")
            ips, source = ans.addresses, "dns"
    results = tuple(_agreed(net, net.tls_handshake(spec.host, ip, spec.port, HANDSHAKE_S, paths=paths, **ca))
                    for ip in ips[:MAX_ADDRESSES])
    return Evidence(results, source)


def _agreed(net: Net, r: TlsResult) -> TlsResult:
    """A handshake that never got TCP tells the run's one story of that address:port (Net.tcp_target).

    Its own connect may have timed out where the reach check's got the router's ICMP error
    (routers rate-limit them); the shared evidence decides, so tls and reach checks agree.
    """
    if r.stage != "tcp" or r.ip is None or r.proxy is not None:
        return r
    shared = net.tcp_target(r.ip, r.port)
    return dataclasses.replace(r, tcp=shared["outcome"], tcp_reason=str(shared.get("reason", r.tcp_reason)))


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


# --- evaluate (pure) -----------------------------------------------------------------

def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    if spec.kind == "ca":
        return _ca(spec)
    judge = _handshake if spec.kind == "handshake" else _livez
    outcomes = [judge(spec, r) for r in ev.results]
    worst = max(outcomes, key=lambda o: o.status.rank)  # the first of the worst (Status.rank)
    evidence = ev.to_evidence()
    if spec.api:
        evidence["caSource"] = spec.ca_source if spec.ca_pem else None
    return Outcome(worst.status, worst.message, worst.measured, worst.threshold, worst.unit, worst.remediation,
                   evidence, worst.skip_reason)


def _ca(spec: Spec) -> Outcome:
    """The cluster CA itself: a certificate kubelet can verify the API server with (no I/O)."""
    from cryptography import x509

    f = spec.ca_finding
    if f is not None:
        return Outcome(Status.FAIL, f"{f.field} in {spec.ca_file}: {f.problem}.", measured=f.value,
                       threshold="base64 of a PEM certificate", remediation=f.remediation,
                       evidence={"file": spec.ca_file, "field": f.field, "caSource": "nodeconfig"})
    if not spec.ca_pem:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"No cluster CA to judge: {spec.no_ca}.",
                            "See config.cluster.details.")
    certs = x509.load_pem_x509_certificates(spec.ca_pem.encode("ascii", "replace"))
    ca = certs[-1]
    subject = ca.subject.rfc4514_string()
    until = ca.not_valid_after_utc
    source = _SOURCE.get(spec.ca_source or "", "given")
    ev = {"caSource": spec.ca_source, "subject": subject, "notAfter": until.isoformat(), "certificates": len(certs)}
    if until < datetime.now(UTC):
        return Outcome(Status.FAIL, f"The cluster CA ({source}) expired on {until:%Y-%m-%d}: {subject}.",
                       measured=f"{until:%Y-%m-%d}", threshold="not expired",
                       remediation="Use the cluster's current CA (aws eks describe-cluster … "
                                   "certificateAuthority.data).", evidence=ev)
    return Outcome(Status.PASS, f"The cluster CA ({source}) is a certificate: {subject}, valid until "
                   f"{until:%Y-%m-%d}.", evidence=ev)


def _where(r: TlsResult) -> str:
    via = f" via proxy {r.proxy.proxy}" if r.proxy is not None else ""
    at = f" at {r.ip}:{r.port}" if r.ip else f":{r.port}"
    return f"{r.host}{at}{via}"


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _not_connected(spec: Spec, r: TlsResult) -> Outcome | None:
    """SKIP (dependency) or FAIL when no TLS session came up; None when one did."""
    if r.stage == "tcp":
        if r.proxy is not None:
            why = r.proxy.error or f"TCP {r.tcp}"
            return Outcome.skip(SkipReason.DEPENDENCY, f"The proxy {r.proxy.proxy} could not be used ({why}), "
                                f"so no TLS handshake with {r.host} was possible.",
                                f"Fix the proxy first (see proxy.{spec.subject}.connect).")
        return Outcome.skip(SkipReason.DEPENDENCY, f"TCP to {r.ip}:{r.port} ended with '{r.tcp}' ({r.tcp_reason}), "
                            f"so no TLS handshake with {r.host} was possible.",
                            "Fix TCP reachability first (see the reach checks).")
    if r.stage == "proxy" and r.proxy is not None:
        said = f"{r.proxy.status} {r.proxy.reason}".strip() if r.proxy.status else (r.proxy.error or "nothing")
        return Outcome.skip(SkipReason.DEPENDENCY, f"The proxy {r.proxy.proxy} answered CONNECT {r.host}:{r.port} "
                            f"with {said}, so no TLS handshake was possible.",
                            f"Fix the proxy first (see proxy.{spec.subject}.connect).")
    if r.stage == "handshake":
        return Outcome(Status.FAIL, f"TLS handshake with {_where(r)} failed after TCP connected: {r.handshake_error}.",
                       measured=r.handshake_error, threshold="completed TLS handshake",
                       remediation=f"A firewall, IPS or proxy on the path is dropping or resetting TLS to "
                                   f"{r.host}:{r.port}; allow it without protocol inspection.")
    return None


def _handshake(spec: Spec, r: TlsResult) -> Outcome:
    if (early := _not_connected(spec, r)) is not None:
        return early
    where = _where(r)
    leaf = r.chain[0] if r.chain else None
    if r.verified and spec.amazon_roots and r.root_spki not in AMAZON_ROOTS:
        return _trusted_interception(r)
    if r.verified:
        assert leaf is not None
        left_days = (leaf.not_after - r.checked_at) / 86400
        if left_days < EXPIRY_WARN_DAYS:
            return Outcome(Status.WARN, f"TLS to {where} verifies, but its certificate expires on "
                           f"{_day(leaf.not_after)}, in {left_days:.1f} days.", measured=round(left_days, 1),
                           threshold=EXPIRY_WARN_DAYS, unit=Unit.DAYS,
                           remediation=f"Renew the certificate served for {r.host} before it expires.")
        return Outcome(Status.PASS, f"TLS to {where} verifies against {r.trust}: {r.tls_version}, chain leads to "
                       f"'{r.leads_to}', certificate valid until {_day(leaf.not_after)}.")
    issuer = r.leads_to or "an unknown issuer"
    if spec.api and spec.ca_finding is not None:
        return Outcome.skip(SkipReason.DEPENDENCY, f"TLS to {where} came up and the chain leads to '{issuer}', but "
                            f"it cannot be verified: {spec.ca_finding.field} in {spec.ca_file} is not a certificate "
                            "(see tls.eks-api.ca).", spec.ca_finding.remediation)
    if spec.api and spec.ca_pem and r.anchored is False:
        return _interception(spec, r, issuer, _expected_ca(spec))
    if r.verify_error == "unknown-issuer":
        if spec.api and not spec.ca_pem:
            if issuer == EKS_CA_CN:
                return Outcome(Status.WARN, f"TLS to {where} could not be verified: {spec.no_ca or 'no cluster CA'}; "
                               f"the chain is issued by '{issuer}', as EKS cluster CAs are.",
                               measured=issuer, threshold="the cluster CA",
                               remediation="Set spec.cluster.certificateAuthority (base64 of the cluster CA, from "
                                           "aws eks describe-cluster … certificateAuthority.data) or pass --nodeconfig.")
            return Outcome(Status.WARN, f"TLS to {where} could not be verified ({spec.no_ca or 'no cluster CA'}), and the "
                           f"chain is issued by '{issuer}', not '{EKS_CA_CN}' as EKS cluster CAs are: possible TLS "
                           "interception.", measured=issuer, threshold=EKS_CA_CN,
                           remediation=f"Set spec.cluster.certificateAuthority to verify; if '{issuer}' belongs to "
                                       f"an inspecting proxy or firewall, exempt {r.host} from TLS inspection.")
        return _interception(spec, r, issuer, r.trust if not spec.api else _expected_ca(spec))
    if leaf is not None and (r.verify_error == "expired" or leaf.not_after < r.checked_at):
        which = "its certificate" if leaf.not_after < r.checked_at else "a certificate in its chain"
        return Outcome(Status.FAIL, f"TLS to {where} fails: {which} has expired (the server certificate is valid "
                       f"until {_day(leaf.not_after)}).", measured=_day(leaf.not_after), threshold="not expired",
                       remediation=f"Renew the certificate served for {r.host}; if this host's clock is wrong, "
                                   "fix it first (see the clock checks).")
    if leaf is not None and (r.verify_error == "not-yet-valid" or leaf.not_before > r.checked_at):
        return Outcome(Status.FAIL, f"TLS to {where} fails: the certificate is not valid before "
                       f"{_day(leaf.not_before)}; this host's clock may be behind.", measured=_day(leaf.not_before),
                       threshold="valid now", remediation="Synchronise this host's clock (enable chrony or "
                       "systemd-timesyncd; see the clock checks), or re-issue the certificate.")
    if r.verify_error == "name-mismatch" or r.name_matches is False:
        names = ", ".join(leaf.names[:5]) if leaf and leaf.names else "none"
        return Outcome(Status.FAIL, f"TLS to {where} fails: the certificate names ({names}) do not include "
                       f"{r.host}.", measured=names, threshold=r.host,
                       remediation=f"Check that {r.host} resolves to the right server (DNS, hosts file, load "
                                   "balancer); the server must present a certificate for this name.")
    return Outcome(Status.FAIL, f"TLS to {where} fails verification against {r.trust}: {r.verify_detail}.",
                   measured=r.verify_detail, threshold="verified chain",
                   remediation=f"Inspect the chain served for {r.host} (openssl s_client -connect "
                               f"{r.ip or r.host}:{r.port} -servername {r.host} -showcerts).")


def _expected_ca(spec: Spec) -> str:
    """The cluster CA the chain should lead to, named by where it came from."""
    if spec.ca_source == "nodeconfig" and spec.ca_file:
        return f"the cluster CA in {spec.ca_file} (spec.cluster.certificateAuthority)"
    if spec.ca_source == "describe-cluster":
        return "the cluster CA from eks:DescribeCluster"
    return "the cluster CA"


def _interception(spec: Spec, r: TlsResult, issuer: str, expected: str) -> Outcome:
    where = _where(r)
    fix = (f"Exempt {r.host} from TLS inspection on the proxy or firewall (its SSL/TLS bypass list)"
           + (f", or add {r.host} to NO_PROXY so the node connects directly" if r.proxy is not None else "")
           + ("; kubelet trusts only the cluster CA." if spec.api else
              "; if inspection is mandatory, add the inspection CA to this node's trust store "
              "(update-ca-certificates) for nodeadm, containerd and the AWS SDKs."))
    return Outcome(Status.FAIL, f"TLS interception: the chain presented for {where} is issued by '{issuer}' "
                   f"instead of {expected}.", measured=issuer, threshold=expected, remediation=fix)


def _trusted_interception(r: TlsResult) -> Outcome:
    """A verified chain for an AWS name that does not end at an Amazon root: inspection this node trusts."""
    issuer = r.leads_to or "an unknown root"
    named = " (it carries an Amazon root's name, but not its key)" if issuer in AMAZON_ROOTS.values() else ""
    return Outcome(Status.WARN, f"TLS interception: the chain presented for {_where(r)} verifies against {r.trust}, "
                   f"but leads to '{issuer}'{named}, not to an Amazon root (Amazon Root CA 1–4, Starfield Services "
                   "Root CA G2): an inspecting proxy or firewall re-signs it. Clients that use this node's trust "
                   "store (nodeadm, containerd image pulls, the SSM agent, aws_signing_helper) will work; anything "
                   "that pins Amazon's roots or ships its own CA bundle (pods calling AWS with their image's "
                   "bundle, Python tools using certifi) will fail.", measured=issuer,
                   threshold="a chain to an Amazon root",
                   remediation=f"Exempt {r.host} (or *.amazonaws.com and *.api.aws) from TLS inspection on the proxy "
                               f"or firewall; if inspection must stay, add '{issuer}' to every CA bundle that talks "
                               "to AWS from this site (container images, pods, language runtimes).")


def _git_version(body: str) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    v = doc.get("gitVersion") if isinstance(doc, dict) else None
    return str(v) if v else None


def _livez(spec: Spec, r: TlsResult) -> Outcome:
    if (early := _not_connected(spec, r)) is not None:
        if early.status == Status.FAIL:
            return Outcome.skip(SkipReason.DEPENDENCY, f"No TLS session with {_where(r)} ({r.handshake_error}), so "
                                "/livez was not asked (see tls.eks-api.handshake).")
        return early
    if not r.verified:
        return Outcome.skip(SkipReason.DEPENDENCY, f"The certificate of {_where(r)} did not verify, so an answer to "
                            "/livez over that connection would prove nothing (see tls.eks-api.handshake).")
    answers = {a.path: a for a in r.http}
    livez, version = answers.get("/livez"), answers.get("/version")
    git = _git_version(version.body) if version is not None and version.status == 200 else None
    ver = f"; Kubernetes {git}" if git else ""
    if livez is None or livez.status is None:
        err = livez.error if livez is not None else "no request was sent"
        return Outcome(Status.FAIL, f"The API server at {_where(r)} gave no HTTP answer to /livez ({err}).",
                       measured=err, threshold="HTTP 200, 401 or 403",
                       remediation="Something on the path accepts TLS but does not forward HTTP; check load "
                                   f"balancers and proxies in front of {r.host}.")
    said = f"{livez.status} {livez.reason}".strip()
    if livez.status == 200:
        body = livez.body.strip()[:40]
        return Outcome(Status.PASS, f"The API server at {_where(r)} is live: /livez answered {said} '{body}'{ver}.",
                       measured=livez.status)
    if livez.status in LIVE_STATUSES:
        return Outcome(Status.PASS, f"The API server at {_where(r)} answered /livez with {said}, which only a live "
                       f"API server does (anonymous access is off){ver}.", measured=livez.status)
    snippet = " ".join(livez.body.split())[:120]
    status = Status.FAIL if livez.status >= 500 else Status.WARN
    return Outcome(status, f"The server at {_where(r)} answered /livez with {said} ('{snippet}'); a healthy API "
                   f"server answers 200, 401 or 403{ver}.", measured=livez.status, threshold="200, 401 or 403",
                   remediation=("The API server reports itself unhealthy or a proxy failed; retry, and check the "
                                "EKS cluster health in the console." if livez.status >= 500 else
                                f"Something other than the API server answers for {r.host}; check DNS and any "
                                "load balancer or proxy in front of it."))
