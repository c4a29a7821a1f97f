"""The inputs themselves: what a NodeConfig holds that nodeadm loads but the join cannot use, and where
each cluster value came from (NodeConfig, profile, flag, or eks:DescribeCluster at run time).

nodeadm refuses a NodeConfig its strict decoder or its validator rejects (netcheck exits 2 on
those, see netcheck/settings/nodeconfig.py). Everything else it loads and uses as written: an endpoint
that does not parse, a service CIDR that is not a CIDR or a `--node-ip` that is not IPv4 only
break the join later. Here each becomes a finding with its field and fix, while every other
check still runs. The cluster CA is judged by `tls.eks-api.ca`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from netcheck.aws import ClusterLookup, boto3_available
from netcheck.model import Category, Check, Outcome, Status
from netcheck.net import Net
from netcheck.phase import JOINED, PRE_JOIN, effective
from netcheck.settings import Settings, Thresholds, cluster_lookup_needed
from netcheck.settings.nodeconfig import Finding
from probes import CheckKind, kind_in

DOCS_NODEADM = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-nodeadm.html"
# Finding subject → (check title, status when the finding is there).
SUBJECTS: dict[str, tuple[str, Status]] = {
    "api-version": ("The NodeConfig's apiVersion and kind are node.eks.aws/v1alpha1 NodeConfig", Status.WARN),
    "region": ("spec.cluster.region is a known Region of its partition, and the endpoint's", Status.FAIL),
    "endpoint": ("spec.cluster.apiServerEndpoint is an https:// URL kubelet can use", Status.FAIL),
    "service-cidr": ("spec.cluster.cidr (the service CIDR) is a CIDR", Status.FAIL),
    "node-ip": ("kubelet --node-ip in the NodeConfig is one IPv4 address a remote node network can hold",
                Status.FAIL),
    # pre-join: nodeadm init stops on it (validator.go); joined: the credentials were already issued
    "iam-roles-anywhere": ("The IAM Roles Anywhere certificate and key are on this host and valid", Status.FAIL),
}
SOURCE_LABEL = {"nodeconfig": "the NodeConfig", "profile": "the site profile", "override": "a flag or variable",
                "describe-cluster": "eks:DescribeCluster"}
NEEDED = ("endpoint", "certificateAuthority", "serviceCidr")  # what nodeadm fetches when missing


@dataclass(frozen=True)
class Spec:
    kind: Literal["finding", "details"]
    source: str  # the NodeConfig file, or the settings' sources
    subject: str = ""
    finding: Finding | None = None
    status: Status = Status.FAIL
    sources: tuple[tuple[str, str], ...] = ()  # value name → where it came from
    values: tuple[tuple[str, Any], ...] = ()  # value name → value (no CA text)
    lookup: ClusterLookup | None = None
    lookup_possible: bool = False  # name and region known, not turned off


@dataclass(frozen=True)
class Evidence:
    """Nothing is measured: the judgement is over the inputs carried in the spec."""


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('config.cluster.details', 'The cluster endpoint, CA and service CIDR nodeadm will use are known', Category.CONFIG,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-nodeadm.html'),
    CheckKind('config.nodeconfig.*', 'A NodeConfig field is what nodeadm needs (api-version, region, endpoint, service-cidr, node-ip, iam-roles-anywhere)', Category.CONFIG,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-nodeadm.html', phased=True),
)


def plan(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    nc = settings.nodeconfig
    if nc is not None:
        subjects = [s for s in SUBJECTS if s != "iam-roles-anywhere" or nc.credentials == "iam-roles-anywhere"]
        joined = effective(settings) == JOINED
        for subject in subjects:
            title, status = SUBJECTS[subject]
            phases: tuple[tuple[str, str], ...] = ()
            if subject == "iam-roles-anywhere":
                status = Status.WARN if joined else Status.FAIL
                phases = ((PRE_JOIN, "FAIL: nodeadm init stops when the certificate or key is missing, unreadable, "
                                     "expired or not yet valid (internal/node/hybrid/validator.go)"),
                          (JOINED, "WARN: the node has joined; the signing helper needs them again at the next "
                                   "credential refresh"))
            checks.append(kind_in(CHECKS, f"config.nodeconfig.{subject}").check(
                f"config.nodeconfig.{subject}", Spec("finding", nc.path, subject, nc.findings.get(subject), status),
                probe="config", title=title, timeout=2, phases=phases))
    lookup_possible = cluster_lookup_needed(settings)
    if nc is not None or settings.cluster_lookup is not None or lookup_possible:
        c = settings.spec.cluster
        rn = settings.spec.remote_network
        values = {"name": c.name, "region": c.region, "endpoint": c.endpoint, "serviceCidr": c.service_cidr,
                  "endpointAccess": c.endpoint_access, "nodeCidrs": list(rn.node_cidrs) or None,
                  "podCidrs": list(rn.pod_cidrs) or None,
                  "certificateAuthority": "set" if c.certificate_authority else None}
        sources = dict(settings.sources)
        if nc is not None:  # given but unusable: nodeadm does not fetch these, it uses them as written
            for key, subject, cid in (("endpoint", "endpoint", "config.nodeconfig.endpoint"),
                                      ("certificateAuthority", "ca", "tls.eks-api.ca"),
                                      ("serviceCidr", "service-cidr", "config.nodeconfig.service-cidr")):
                if subject in nc.findings:
                    values[key] = f"unusable (see {cid})"
                    sources[key] = "nodeconfig"
        if settings.cluster_lookup is None and lookup_possible:
            how = "from eks:DescribeCluster at run time" if boto3_available() else "eks:DescribeCluster needs boto3"
            title = f"The cluster endpoint, CA and service CIDR nodeadm will use are known ({how})"
        else:
            title = "The cluster endpoint, CA and service CIDR nodeadm will use are known"
        checks.append(kind_in(CHECKS, "config.cluster.details").check(
            "config.cluster.details", Spec("details", settings.source, sources=tuple(sorted(sources.items())),
                                           values=tuple((k, v) for k, v in values.items() if v is not None),
                                           lookup=settings.cluster_lookup, lookup_possible=lookup_possible),
            probe="config", title=title, timeout=2))
    return checks


def collect(spec: Spec, net: Net) -> Evidence:
    return Evidence()


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    if spec.kind == "finding":
        return _finding(spec)
    return _details(spec)


def _finding(spec: Spec) -> Outcome:
    f = spec.finding
    if f is None:
        return Outcome(Status.PASS, f"{SUBJECTS[spec.subject][0]} ({spec.source}).",
                       evidence={"file": spec.source})
    where = f"{f.field} in {spec.source}"
    return Outcome(spec.status, f"{where}: {f.problem}.", measured=f.value, remediation=f.remediation,
                   evidence={"file": spec.source, "field": f.field, "value": f.value})


def _details(spec: Spec) -> Outcome:
    sources = dict(spec.sources)
    values = dict(spec.values)
    lookup = spec.lookup
    evidence: dict[str, Any] = {"sources": sources, "values": values}
    if lookup is not None:
        evidence["describeCluster"] = lookup.to_evidence()
    missing = [k for k in NEEDED if k not in values]
    came = ", ".join(f"{k} from {SOURCE_LABEL.get(v, v)}" for k, v in sources.items() if k in (*NEEDED, "nodeCidrs",
                                                                                               "podCidrs", "endpointAccess"))
    if lookup is not None and lookup.status == "failed":
        return Outcome(Status.FAIL, lookup.message, measured="describe-cluster", threshold="ACTIVE hybrid cluster",
                       remediation=lookup.fix, evidence=evidence)
    if not missing:
        fetched = lookup is not None and lookup.status == "ok"
        unusable = [k for k in NEEDED if str(values.get(k, "")).startswith("unusable")]
        head = ("Cluster details are all given, so nodeadm will not ask eks:DescribeCluster for them; "
                f"{', '.join(unusable)} cannot be used as written (see the checks named in the evidence): "
                if unusable else "Cluster details are complete: ")
        msg = (head + (came or "all given")
               + (f" (eks:DescribeCluster at {lookup.api_url})" if fetched and lookup else "") + ".")
        return Outcome(Status.PASS, msg, measured="describe-cluster" if fetched else "given", evidence=evidence)
    names = ", ".join(missing)
    if lookup is not None:
        why = lookup.message
        fix = lookup.fix
    elif spec.lookup_possible:
        why = "eks:DescribeCluster was not asked (only `netcheck run` asks it)."
        fix = None
    else:
        why = ("eks:DescribeCluster was not asked (NETCHECK_DESCRIBE_CLUSTER is off, or the cluster name or "
               "Region is unknown).")
        fix = "Put the missing values in the NodeConfig or profile, or allow netcheck to ask eks:DescribeCluster."
    if "endpoint" in missing:
        effect = "the API server's DNS, reachability and TLS were not checked"
    elif "certificateAuthority" in missing:
        effect = "the API server's certificate was checked for an EKS issuer but not verified"
    else:
        effect = "the service CIDR checks assume the EKS defaults"
    return Outcome(Status.WARN, f"nodeadm fetches {names} with eks:DescribeCluster during init; netcheck does not "
                   f"know them: {why} So {effect}.", measured="unknown", threshold=names,
                   remediation=fix, evidence=evidence)

