"""Which endpoints a hybrid node needs, for its credential mode and features.

One catalog shared by the dns, reachability, tls and proxy probes
(reference/eks-hybrid-network-requirements.md §2–§3). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from netcheck.phase import JOINED, effective
from netcheck.settings import Settings, split_hostport

DOCS_NETWORKING = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"


@dataclass(frozen=True)
class Target:
    """A named endpoint: `subject` is the stable id part (eks-api, ssm, ecr-dkr, ...)."""

    subject: str
    host: str
    port: int
    required: bool
    why: str
    tls: bool = True
    ca_pem: str | None = None  # expected CA; None = the system trust store
    ips: tuple[str, ...] = ()  # known addresses (control-plane ENIs); empty = resolve host


def api_endpoint(settings: Settings) -> Target | None:
    """The Kubernetes API endpoint from the profile or NodeConfig, if known."""
    from netcheck.settings import decode_ca

    c = settings.spec.cluster
    if not c.endpoint:
        return None
    host, port = split_hostport(urlsplit(c.endpoint).netloc, 443)
    ca = decode_ca(c.certificate_authority) if c.certificate_authority else None
    return Target("eks-api", host, port or 443, True, "kubelet and kube-proxy → Kubernetes API server",
                  ca_pem=ca or None, ips=tuple(c.control_plane_ips))


def aws_targets(settings: Settings) -> list[Target]:
    """AWS service endpoints for this node: required ones first, optional ones marked."""
    s = settings.spec
    region = s.cluster.region
    dom = s.aws.domain
    port = s.aws.service_port
    f = s.features
    # nodeadm install is done on a joined node: its download endpoints turn advisory.
    installing = effective(settings) != JOINED
    out: list[Target] = []

    def add(subject: str, host: str, required: bool, why: str) -> None:
        out.append(Target(subject, host, port, required, why))

    if f.install:
        add("hybrid-assets", f"hybrid-assets.eks.{dom}", installing,
            "nodeadm install downloads kubelet, CNI and credential helpers")
    if region is None:
        return out
    add("eks", f"eks.{region}.{dom}", True, "nodeadm calls DescribeCluster")
    add("ecr-api", f"api.ecr.{region}.{dom}", True, "image pull authentication (ECR)")
    add("ecr-dkr", f"{s.aws.ecr_account}.dkr.ecr.{region}.{dom}", True, "pulls of EKS images such as pause")
    if s.credentials == "ssm":
        add("ssm", f"ssm.{region}.{dom}", True, "SSM hybrid activation, credential refresh and heartbeats")
        if f.install:
            add("ssm-installer", f"amazon-ssm-{region}.s3.{region}.{dom}", installing,
                "nodeadm install downloads ssm-setup-cli")
        add("ssmmessages", f"ssmmessages.{region}.{dom}", f.session_manager, "Session Manager")
    elif s.credentials == "iam-roles-anywhere":
        add("rolesanywhere", f"rolesanywhere.{region}.{dom}", True, "IAM Roles Anywhere credential refresh")
    add("sts", f"sts.{region}.{dom}", f.irsa, "IRSA and nodeadm's credential check")
    add("eks-auth", f"eks-auth.{region}.api.aws" if dom == "amazonaws.com" else f"eks-auth.{region}.{dom}",
        f.pod_identity, "EKS Pod Identity")
    add("logs", f"logs.{region}.{dom}", f.cloudwatch, "CloudWatch Logs (observability add-on)")
    return out


def extra_targets(settings: Settings) -> list[Target]:
    """The profile's own extra endpoints (registries, proxies, ...)."""
    return [Target(f"endpoint.{e.host}" if e.port == 443 else f"endpoint.{e.host}-{e.port}", e.host, e.port,
                   e.required, "listed in the site profile", tls=e.tls) for e in settings.spec.endpoints]


def all_targets(settings: Settings) -> list[Target]:
    api = api_endpoint(settings)
    return ([api] if api else []) + aws_targets(settings) + extra_targets(settings)
