"""Which endpoints a hybrid node needs, for its credential mode and features.

One catalog shared by the dns, reachability, tls and proxy probes
(docs/reference/eks-hybrid-network-requirements.md §2–§3). Nothing here does I/O.
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


# --- the partition table -------------------------------------------------------------
# One row per AWS partition a hybrid node can join: how its Region codes look, its DNS suffixes
# (botocore partitions.json: dnsSuffix, dualStackDnsSuffix) and where nodeadm fetches from.
# nodeadm: internal/aws/partition.go (GetPartitionFromRegionFallback, GetPartitionDNSSuffix),
# internal/aws/manifest.go (China manifest host), internal/aws/ecr/ecr.go (registry accounts).


@dataclass(frozen=True)
class Partition:
    id: str
    name: str
    region_prefix: tuple[str, ...]  # Region codes starting with one of these belong here
    dns_suffix: str  # <service>.<region>.<dns_suffix>
    api_suffix: str  # dual-stack suffix: eks-auth.<region>.<api_suffix>
    assets_host: str  # where nodeadm install downloads its manifest and artifacts
    ecr_fallback: tuple[str, str]  # (account, Region) nodeadm uses for a Region missing from its table
    amazon_roots: bool  # service certificates chain to Amazon Trust Services roots (not known for China, EUSC)


COMMERCIAL_ASSETS = "hybrid-assets.eks.amazonaws.com"
PARTITIONS: tuple[Partition, ...] = (
    Partition("aws-cn", "AWS China", ("cn-",), "amazonaws.com.cn", "api.amazonwebservices.com.cn",
              "eks-hybrid-assets.awsstatic.cn", ("961992271922", "cn-northwest-1"), False),
    Partition("aws-us-gov", "AWS GovCloud (US)", ("us-gov-",), "amazonaws.com", "api.aws", COMMERCIAL_ASSETS,
              ("013241004608", "us-gov-west-1"), True),
    # botocore resolves eks-auth here under the plain suffix, not the dual-stack api.amazonwebservices.eu
    Partition("aws-eusc", "AWS European Sovereign Cloud", ("eusc-",), "amazonaws.eu", "amazonaws.eu",
              COMMERCIAL_ASSETS, ("877088126301", "eusc-de-east-1"), False),
    Partition("aws", "AWS commercial", ("",), "amazonaws.com", "api.aws", COMMERCIAL_ASSETS,
              ("602401143452", "us-west-2"), True),
)

# The registry that serves EKS images (pause, add-ons) per Region: the EKS user guide's table
# "View Amazon container image registries for Amazon EKS add-ons" and nodeadm's accountsByRegion.
# Commercial Regions not listed use 602401143452. (The guide lists ap-east-2's registry host in
# ap-east-1; netcheck plans it in ap-east-2, where the account's images are replicated.)
DEFAULT_ECR_ACCOUNT = "602401143452"
ECR_ACCOUNTS: dict[str, str] = {
    "af-south-1": "877085696533", "ap-east-1": "800184023465", "ap-east-2": "533267051163",
    "ap-southeast-3": "296578399912", "ap-south-2": "900889452093", "ap-southeast-4": "491585149902",
    "ap-southeast-5": "151610086707", "ap-southeast-6": "333609536671", "ap-southeast-7": "121268973566",
    "eu-south-1": "590381155156", "eu-south-2": "455263428931", "eu-central-2": "900612956339",
    "il-central-1": "066635153087", "mx-central-1": "730335286997", "me-south-1": "558608220178",
    "me-central-1": "759879836304", "ca-west-1": "761377655185",
    "cn-north-1": "918309763551", "cn-northwest-1": "961992271922",
    "us-gov-east-1": "151742754352", "us-gov-west-1": "013241004608",
    "eusc-de-east-1": "877088126301",
}
COMMERCIAL_ECR_REGIONS = (  # Regions the guide lists with 602401143452
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
    "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "us-east-1", "us-east-2", "us-west-1",
    "us-west-2", "ca-central-1", "sa-east-1")
SSM_INSTALLER_REGION = "us-west-2"  # nodeadm internal/ssm/source.go DefaultSsmInstallerRegion


def partition_of(region: str) -> Partition:
    """The partition a Region code belongs to (nodeadm's prefix rule)."""
    return next(p for p in PARTITIONS if region.startswith(p.region_prefix))


def ecr_registry(region: str) -> tuple[str, str]:
    """(account, Region) of the EKS image registry nodeadm pulls from for `region`."""
    if region in ECR_ACCOUNTS:
        return ECR_ACCOUNTS[region], region
    if region in COMMERCIAL_ECR_REGIONS:
        return DEFAULT_ECR_ACCOUNT, region
    return partition_of(region).ecr_fallback


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

    if f.install:
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
    if s.credentials == "ssm":
        add("ssm", f"ssm.{region}.{dom}", True, "SSM hybrid activation, credential refresh and heartbeats")
        if f.install:
            ir = install_region(settings) or SSM_INSTALLER_REGION
            idom = override or partition_of(ir).dns_suffix
            roots = partition_of(ir).amazon_roots and not override
            add("ssm-installer", f"amazon-ssm-{ir}.s3.{ir}.{idom}", installing,
                f"ssm-setup-cli download (nodeadm install --region {ir})")
            roots = part.amazon_roots and not override
        add("ssmmessages", f"ssmmessages.{region}.{dom}", f.session_manager, "Session Manager")
    elif s.credentials == "iam-roles-anywhere":
        add("rolesanywhere", f"rolesanywhere.{region}.{dom}", True, "IAM Roles Anywhere credential refresh")
    add("sts", f"sts.{region}.{dom}", f.irsa, "IRSA and nodeadm's credential check")
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


def markdown_partitions() -> str:
    """The README's partition table, generated from PARTITIONS (a test keeps the README equal to it)."""
    rows = ["| partition | Regions | service names | nodeadm assets host | EKS image registry (unlisted Region) "
            "| chain must end at an Amazon root |", "|---|---|---|---|---|---|"]
    for p in PARTITIONS:
        regions = ", ".join(f"{x}*" for x in p.region_prefix if x) or "all others"
        account, region = p.ecr_fallback
        rows.append(f"| {p.id} ({p.name}) | {regions} | `<service>.<region>.{p.dns_suffix}` | `{p.assets_host}` "
                    f"| `{account}.dkr.ecr.{region}.{p.dns_suffix}` | {'yes' if p.amazon_roots else 'not judged'} |")
    return "\n".join(rows)
