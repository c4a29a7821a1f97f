"""Which endpoints a hybrid node needs, for its credential mode and features.

One catalog shared by the dns, reachability, tls and proxy probes
(docs/reference/eks-hybrid-network-requirements.md §2–§3). Nothing here does I/O.
"""

from __future__ import annotations

import re
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
    regions: tuple[str, ...] = ()  # the Region codes it has (botocore 1.43.11 data/partitions.json)


COMMERCIAL_ASSETS = "hybrid-assets.eks.amazonaws.com"
PARTITIONS: tuple[Partition, ...] = (
    Partition("aws-cn", "AWS China", ("cn-",), "amazonaws.com.cn", "api.amazonwebservices.com.cn",
              "eks-hybrid-assets.awsstatic.cn", ("961992271922", "cn-northwest-1"), False,
              ("cn-north-1", "cn-northwest-1")),
    Partition("aws-us-gov", "AWS GovCloud (US)", ("us-gov-",), "amazonaws.com", "api.aws", COMMERCIAL_ASSETS,
              ("013241004608", "us-gov-west-1"), True, ("us-gov-east-1", "us-gov-west-1")),
    # botocore resolves eks-auth here under the plain suffix, not the dual-stack api.amazonwebservices.eu
    Partition("aws-eusc", "AWS European Sovereign Cloud", ("eusc-",), "amazonaws.eu", "amazonaws.eu",
              COMMERCIAL_ASSETS, ("877088126301", "eusc-de-east-1"), False, ("eusc-de-east-1",)),
    Partition("aws", "AWS commercial", ("",), "amazonaws.com", "api.aws", COMMERCIAL_ASSETS,
              ("602401143452", "us-west-2"), True,
              ("af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
               "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
               "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1",
               "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
               "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2",
               "us-west-1", "us-west-2")),
)
# Isolated partitions nodeadm knows (internal/aws/partition.go GetPartitionFromRegionFallback) but netcheck
# has no endpoint table for: a Region there would be planned under amazonaws.com, which is wrong.
ISOLATED_PREFIXES = ("us-iso-", "us-isob-", "us-isoe-", "us-isof-", "eu-isoe-")
_REGION_SHAPE = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d+$")
# <id>.<shard>.<region>.eks.<partition suffix>: the EKS API endpoint names its own Region.
_EKS_ENDPOINT = re.compile(r"\.([a-z]{2,4}(?:-[a-z]+)+-\d+)\.eks\.(amazonaws\.com(?:\.cn)?|amazonaws\.eu)\.?$")

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
# nodeadm's own accountsByRegion (internal/aws/ecr/ecr.go:87), used when the manifest's Region config is missing.
NODEADM_ECR_ACCOUNTS: dict[str, str] = {
    "cn-north-1": "918309763551", "cn-northwest-1": "961992271922", "us-gov-east-1": "151742754352",
    "us-gov-west-1": "013241004608",
}
SSM_INSTALLER_REGION = "us-west-2"  # nodeadm internal/ssm/source.go DefaultSsmInstallerRegion


def partition_of(region: str) -> Partition:
    """The partition a Region code belongs to (nodeadm's prefix rule)."""
    return next(p for p in PARTITIONS if region.startswith(p.region_prefix))


def region_problem(region: str) -> str | None:
    """Why `region` is not a Region a hybrid node can join, or None: the one Region rule for the site
    profile, the NodeConfig and flags (shape, partition, then the partition's known Regions)."""
    import difflib

    shown = repr(region)[:60]
    if not _REGION_SHAPE.match(region):
        return f"{shown} is not an AWS Region code such as us-west-2, cn-north-1 or eusc-de-east-1"
    if region.startswith(ISOLATED_PREFIXES):
        return (f"{shown} is in an isolated AWS partition (aws-iso*), for which netcheck has no endpoint table; "
                "it would plan the commercial amazonaws.com names")
    part = partition_of(region)
    if region in part.regions:
        return None
    known = [r for p in PARTITIONS for r in p.regions]
    close = difflib.get_close_matches(region, known, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    listed = f" (its Regions: {', '.join(part.regions)})" if len(part.regions) <= 3 else ""
    return (f"{shown} is not a Region of {part.name}{listed}{hint}; its endpoints, such as "
            f"eks.{region}.{part.dns_suffix}, do not exist")


def endpoint_region(endpoint: str) -> str | None:
    """The Region an EKS API endpoint URL names (https://ID.gr7.us-west-2.eks.amazonaws.com), or None."""
    host = urlsplit(endpoint.strip()).hostname or ""
    m = _EKS_ENDPOINT.search(host.lower())
    return m.group(1) if m else None


def endpoint_region_problem(region: str, endpoint: str) -> str | None:
    """Why `endpoint` cannot be the API server of a cluster in `region`, or None (a custom name passes)."""
    own = endpoint_region(endpoint)
    if own is None or own == region:
        return None
    return (f"the API endpoint {endpoint.strip()} belongs to a cluster in {own}, but the Region is {region}; "
            f"nodeadm would call eks:DescribeCluster, ECR and the credential service in {region}")


def ecr_registry(region: str) -> tuple[str, str]:
    """(account, Region) of the EKS image registry nodeadm pulls from for `region`."""
    if region in ECR_ACCOUNTS:
        return ECR_ACCOUNTS[region], region
    if region in COMMERCIAL_ECR_REGIONS:
        return DEFAULT_ECR_ACCOUNT, region
    return partition_of(region).ecr_fallback


def ecr_fallback(region: str) -> tuple[str, str]:
    """(account, Region) nodeadm pulls from when the manifest has no Region config for `region`: its own
    accountsByRegion, else the partition's fallback (internal/aws/ecr/ecr.go getEKSRegistryCoordinates)."""
    if region in NODEADM_ECR_ACCOUNTS:
        return NODEADM_ECR_ACCOUNTS[region], region
    if region.startswith("us-gov-"):
        return "013241004608", "us-gov-west-1"
    if region.startswith("cn-"):
        return "961992271922", "cn-northwest-1"
    return DEFAULT_ECR_ACCOUNT, SSM_INSTALLER_REGION


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
