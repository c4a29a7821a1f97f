"""Which endpoints a hybrid node needs, for its credential mode and features.

One catalog shared by the dns, reachability, tls and proxy probes
(docs/reference/eks-hybrid-network-requirements.md §2–§3). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from netcheck.phase import JOINED, effective
from netcheck.platform import (  # the partition and endpoint tables; re-exported for the probes
    COMMERCIAL_ASSETS,
    COMMERCIAL_ECR_REGIONS,
    DEFAULT_ECR_ACCOUNT,
    ECR_ACCOUNTS,
    ISOLATED_PREFIXES,
    NODEADM_ECR_ACCOUNTS,
    PARTITIONS,
    SSM_INSTALLER_REGION,
    Partition,
    ecr_fallback,
    ecr_registry,
    endpoint_region,
    endpoint_region_problem,
    markdown_partitions,
    partition_of,
    region_problem,
)
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
    amazon_roots: bool = False  # its certificate chains to Amazon's public roots (tls judges interception)


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


def sts_need(settings: Settings) -> tuple[bool, str]:
    """Whether sts.<region> is required, and why (for the checks and `netcheck plan`).

    When the NodeConfig lacks endpoint, CA or service CIDR, nodeadm init calls eks:DescribeCluster and then
    its cluster-access-validation calls sts:GetCallerIdentity and stops on failure
    (internal/node/hybrid/hybrid.go:149, hybrid_role_validator.go:44). With all three given it skips that,
    and its aws-auth validation passes when STS cannot be reached (internal/aws/sts/validate.go:51-56).
    """
    nc = settings.nodeconfig
    if nc is not None and nc.needs_cluster_details:
        raw = nc.config.spec.cluster if nc.config.spec and nc.config.spec.cluster else None
        missing = [k for k, have in (("apiServerEndpoint", raw and raw.apiServerEndpoint),
                                     ("certificateAuthority", nc.ca_given), ("cidr", raw and raw.cidr)) if not have]
        return True, (f"the NodeConfig lacks {', '.join(missing)}, so nodeadm init calls eks:DescribeCluster and its "
                      "cluster-access-validation then calls sts:GetCallerIdentity and stops if that fails")
    if settings.spec.features.irsa:
        return True, "IRSA (spec.features.irsa): pods exchange their tokens at STS"
    why = ("the NodeConfig gives endpoint, CA and service CIDR, so nodeadm skips eks:DescribeCluster and the STS "
           "call of its cluster-access-validation" if nc is not None else "IRSA and nodeadm's credential check")
    return False, why


def mirror_target(settings: Settings, installing: bool) -> Target | None:
    """The site's mirror of the nodeadm manifest and artifacts (spec.aws.mirror), checked instead of the
    public hybrid-assets host and the SSM installer bucket (nodeadm install --private-mode
    --manifest-override URL; artifacts synced with nodeadm sync-artifacts). None for file:// or unset."""
    url = settings.spec.aws.mirror
    if not url or url.startswith("file://"):
        return None
    parts = urlsplit(url)
    https = parts.scheme == "https"
    return Target("install-mirror", parts.hostname or "", parts.port or (443 if https else 80), installing,
                  f"nodeadm install --private-mode --manifest-override {url}: the site's artifact mirror", tls=https)


def install_region(settings: Settings) -> str | None:
    """The Region `nodeadm install --region` fetches from: the profile's, else nodeadm's default.

    nodeadm defaults to us-west-2; in another partition that Region is out of reach, so a node
    there must be installed with --region set to a Region of its own partition (the cluster's).
    """
    a, region = settings.spec.aws, settings.spec.cluster.region
    if a.install_region:
        return a.install_region
    if region is None or partition_of(region).id == "aws":
        return SSM_INSTALLER_REGION
    return region


def aws_targets(settings: Settings) -> list[Target]:
    """AWS service endpoints for this node: required ones first, optional ones marked."""
    s = settings.spec
    region = s.cluster.region
    override = s.aws.domain  # labs and stand-ins: every AWS name under one domain
    port = s.aws.service_port
    f = s.features
    # nodeadm install is done on a joined node: its download endpoints turn advisory.
    installing = effective(settings) != JOINED
    out: list[Target] = []

    roots = False  # whether the names being added chain to Amazon's roots (not under an overridden domain)

    def add(subject: str, host: str, required: bool, why: str) -> None:
        out.append(Target(subject, host, port, required, why, amazon_roots=roots))

    mirror = mirror_target(settings, installing)
    if mirror is not None:
        out.append(mirror)
    if f.install and not s.aws.mirror:
        ir = install_region(settings) or SSM_INSTALLER_REGION
        ipart = partition_of(ir)
        assets = f"hybrid-assets.eks.{override}" if override else ipart.assets_host
        roots = ipart.amazon_roots and not override
        add("hybrid-assets", assets, installing, f"nodeadm install (--region {ir}) downloads its manifest, kubelet, "
            "CNI and credential helpers")
    if region is None:
        return out
    part = partition_of(region)
    roots = part.amazon_roots and not override
    dom = override or part.dns_suffix
    api = override or part.api_suffix
    add("eks", f"eks.{region}.{dom}", True, "nodeadm calls DescribeCluster")
    add("ecr-api", f"api.ecr.{region}.{dom}", True, "image pull authentication (ECR)")
    account, ecr_region = ecr_registry(region)
    account = s.aws.ecr_account or account
    add("ecr-dkr", f"{account}.dkr.ecr.{ecr_region}.{dom}", True, "pulls of EKS images such as pause")
    fb_account, fb_region = ecr_fallback(region)
    # EUSC: nodeadm's fallback names 602401143452.dkr.ecr.us-west-2.amazonaws.eu, which does not exist.
    if not s.aws.ecr_account and part.id != "aws-eusc" and (fb_account, fb_region) != (account, ecr_region):
        add("ecr-dkr-fallback", f"{fb_account}.dkr.ecr.{fb_region}.{dom}", False,
            f"nodeadm's fallback image registry when the release manifest's Region config for {region} is "
            "unavailable (internal/aws/ecr/ecr.go getEKSRegistryCoordinates)")
    if s.credentials == "ssm":
        add("ssm", f"ssm.{region}.{dom}", True, "SSM hybrid activation, credential refresh and heartbeats")
        if f.install and not s.aws.mirror:
            ir = install_region(settings) or SSM_INSTALLER_REGION
            idom = override or partition_of(ir).dns_suffix
            roots = partition_of(ir).amazon_roots and not override
            add("ssm-installer", f"amazon-ssm-{ir}.s3.{ir}.{idom}", installing,
                f"ssm-setup-cli download (nodeadm install --region {ir})")
            roots = part.amazon_roots and not override
        add("ssmmessages", f"ssmmessages.{region}.{dom}", f.session_manager, "Session Manager")
    elif s.credentials == "iam-roles-anywhere":
        add("rolesanywhere", f"rolesanywhere.{region}.{dom}", True, "IAM Roles Anywhere credential refresh")
    sts_needed, sts_why = sts_need(settings)
    add("sts", f"sts.{region}.{dom}", sts_needed, sts_why)
    add("eks-auth", f"eks-auth.{region}.{api}", f.pod_identity, "EKS Pod Identity")
    add("logs", f"logs.{region}.{dom}", f.cloudwatch, "CloudWatch Logs (observability add-on)")
    return out


def extra_targets(settings: Settings) -> list[Target]:
    """The profile's own extra endpoints (registries, proxies, ...)."""
    return [Target(f"endpoint.{e.host}" if e.port == 443 else f"endpoint.{e.host}-{e.port}", e.host, e.port,
                   e.required, "listed in the site profile", tls=e.tls) for e in settings.spec.endpoints]


def all_targets(settings: Settings) -> list[Target]:
    api = api_endpoint(settings)
    return ([api] if api else []) + aws_targets(settings) + extra_targets(settings)

__all__ = ["COMMERCIAL_ASSETS", "COMMERCIAL_ECR_REGIONS", "DEFAULT_ECR_ACCOUNT", "ECR_ACCOUNTS", "ISOLATED_PREFIXES", "NODEADM_ECR_ACCOUNTS", "PARTITIONS", "SSM_INSTALLER_REGION", "Partition", "ecr_fallback", "ecr_registry", "endpoint_region", "endpoint_region_problem", "markdown_partitions", "partition_of", "region_problem"]
