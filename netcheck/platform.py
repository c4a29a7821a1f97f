"""The platform as data: what netcheck knows about AWS partitions, Regions, registries and CNIs.

Tables, not probes: the settings validate against them (a Region, an endpoint's Region, a CNI
mode) and the probes plan from them, so both read this one module and neither imports the other.
Nothing here does I/O, and nothing here imports netcheck.settings (Settings is a type only).

- Partitions, Regions and EKS image registries (nodeadm internal/aws/partition.go, manifest.go,
  ecr/ecr.go; probes/endpoints.py plans the endpoint names from them).
- What each CNI needs from the network, by plugin and mode (probes/cniports.py, firewall.py, mtu.py,
  inbound.py, vpc.py plan from it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the settings validate with these tables, so no import at load time
    from netcheck.settings import Settings

# --- partitions and Regions ------------------------------------------------------------------------
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


# --- CNIs ------------------------------------------------------------------------------------------
# What each CNI needs from the network, by plugin and mode: the one table netcheck plans from.
#
# For a (plugin, mode, WireGuard, Typha) it gives the node ↔ node ports and protocols (the
# `cni.<peer>.*` probes and the `firewall.local.*` checks), the bytes each pod packet gains on
# the wire (for `mtu.cni`), and whether pod IPs must be routable outside the node.
# Defaults are each CNI's defaults for EKS Hybrid Nodes (the EKS user guide's Cilium and Calico
# set-ups: Cilium VXLAN; Calico VXLAN with BGP off and the operator's Typha).
# Sources (docs/reference/eks-hybrid-network-requirements.md §2 rows 11–16, §4): Cilium firewall
# rules and pkg/mtu (TunnelOverhead 50, WireguardOverhead 80); Calico network requirements and
# MTU guide (IP-in-IP 20, VXLAN 50, WireGuard 60; the largest enabled overhead applies).
# Nothing here does I/O.

DOCS_CILIUM = "https://docs.cilium.io/en/stable/operations/system_requirements/#firewall-rules"
DOCS_CALICO = "https://docs.tigera.io/calico/latest/getting-started/kubernetes/requirements#network-requirements"

PLUGINS = ("cilium", "calico")
MODES: dict[str, tuple[str, ...]] = {"cilium": ("vxlan", "geneve", "native", "bgp"),
                                     "calico": ("vxlan", "ipip", "bgp", "native")}
DEFAULT_MODE = {"cilium": "vxlan", "calico": "vxlan"}
MODE_NAMES = {"vxlan": "VXLAN", "geneve": "Geneve", "native": "native routing", "ipip": "IP-in-IP",
              "bgp": "BGP (no encapsulation)"}
# Bytes a pod packet gains between nodes, per mode.
ENCAP_OVERHEAD = {"vxlan": 50, "geneve": 50, "ipip": 20, "native": 0, "bgp": 0}
WIREGUARD_OVERHEAD = {"cilium": 80, "calico": 60}
WIREGUARD_PORT = {"cilium": 51871, "calico": 51820}


@dataclass(frozen=True)
class CniPort:
    """One thing a node must let through: `proto` tcp, udp or ipip (IP protocol 4, no port)."""

    proto: str
    port: int
    purpose: str
    required: bool
    why_optional: str = ""
    between_nodes: bool = True  # False: only with the on-prem router (local firewall check, no peer probe)

    @property
    def label(self) -> str:
        """The id part: udp-8472, tcp-179, or ipip."""
        return "ipip" if self.proto == "ipip" else f"{self.proto}-{self.port}"

    @property
    def shown(self) -> str:
        return "IP protocol 4" if self.proto == "ipip" else f"{self.proto.upper()} {self.port}"


@dataclass(frozen=True)
class CniModel:
    plugin: str
    mode: str
    wireguard: bool
    typha: bool
    ports: tuple[CniPort, ...]
    overhead: int  # bytes per pod packet between nodes
    encapsulation: str  # how overhead is made up, e.g. "VXLAN 50 + WireGuard 80"
    routable_pods: bool  # pod IPs leave the node unmasqueraded and must be routed
    docs: str

    @property
    def name(self) -> str:
        wg = " + WireGuard" if self.wireguard else ""
        return f"{self.plugin} {MODE_NAMES[self.mode]}{wg}"


class CniModeError(ValueError):
    """A plugin/mode combination the CNI does not offer."""


def model(plugin: str, mode: str | None = None, wireguard: bool = False, typha: bool | None = None) -> CniModel:
    """The model for a plugin and mode (None: the plugin's hybrid-nodes default)."""
    if plugin not in PLUGINS:
        raise CniModeError(f"no CNI model for plugin {plugin!r}")
    mode = mode or DEFAULT_MODE[plugin]
    if mode not in MODES[plugin]:
        raise CniModeError(f"{plugin} has no mode {mode!r}; choose one of {', '.join(MODES[plugin])}")
    ports: list[CniPort] = []
    if plugin == "cilium":
        if typha:
            raise CniModeError("cni.typha applies to Calico only")
        if mode == "vxlan":
            ports.append(CniPort("udp", 8472, "Cilium VXLAN", True))
        elif mode == "geneve":
            ports.append(CniPort("udp", 6081, "Cilium Geneve", True))
        elif mode == "bgp":
            ports.append(CniPort("tcp", 179, "Cilium BGP with the on-prem router", True, between_nodes=False))
        ports.append(CniPort("tcp", 4240, "cilium-health", False,
                             "Cilium documents the health checks as recommended but optional"))
        docs, typha_on = DOCS_CILIUM, False
    else:
        typha_on = True if typha is None else typha
        if mode == "vxlan":
            ports.append(CniPort("udp", 4789, "Calico VXLAN", True))
        elif mode == "ipip":
            ports.append(CniPort("ipip", 0, "Calico IP-in-IP", True))
        if mode in ("ipip", "bgp", "native"):
            ports.append(CniPort("tcp", 179, "Calico BGP", True))
        ports.append(CniPort("tcp", 5473, "Calico Typha", typha_on,
                             "" if typha_on else "Typha is not deployed (cni.typha: false)"))
        docs = DOCS_CALICO
    encap = [f"{MODE_NAMES[mode]} {ENCAP_OVERHEAD[mode]}"] if ENCAP_OVERHEAD[mode] else []
    overhead = ENCAP_OVERHEAD[mode]
    if wireguard:
        wg = WIREGUARD_OVERHEAD[plugin]
        ports.append(CniPort("udp", WIREGUARD_PORT[plugin], f"{plugin.capitalize()} WireGuard", True))
        if plugin == "cilium":  # Cilium encrypts the tunnel packet: both overheads add up
            overhead += wg
            encap.append(f"WireGuard {wg}")
        else:  # Calico sizes for the largest enabled overhead
            overhead = max(overhead, wg)
            encap = [f"WireGuard {wg}"] if wg >= ENCAP_OVERHEAD[mode] else encap
    return CniModel(plugin, mode, wireguard, typha_on, tuple(ports), overhead,
                    " + ".join(encap) or "none", mode in ("native", "bgp"), docs)


def for_settings(settings: Settings) -> CniModel | None:
    """The site's model, or None with spec.cni.plugin: none (validated when the profile loads)."""
    c = settings.spec.cni
    if c.plugin == "none":
        return None
    return model(c.plugin, c.effective_mode, c.effective_wireguard, c.typha)


def pod_routing(settings: Settings) -> tuple[bool, str]:
    """(must pod CIDRs be routed to and from the VPC?, why) for this site's CNI and webhooks."""
    m = for_settings(settings)
    if m is not None and m.routable_pods:
        return True, f"{m.name} does not masquerade pod traffic, so pod IPs must be routable"
    if settings.spec.webhook_ports:
        ports = ", ".join(str(p) for p in settings.spec.webhook_ports)
        return True, f"webhooks run on hybrid nodes (spec.webhookPorts: {ports}) and the control plane calls pod IPs"
    if m is None:
        return False, "no CNI is configured (spec.cni.plugin: none) and no webhook ports are listed"
    return False, (f"{m.name} masquerades pod traffic to the node IP and no webhook ports are listed "
                   "(spec.webhookPorts), so pod CIDR routes are needed only for webhooks or cloud ↔ hybrid pod traffic")


def table() -> list[tuple[str, str, bool, CniModel]]:
    """Every (plugin, mode, wireguard) combination, for the README and the tests."""
    return [(p, m, wg, model(p, m, wg)) for p in PLUGINS for m in MODES[p] for wg in (False, True)]


def markdown_table() -> str:
    """The README's plugin × mode table, generated from `model` (a test keeps the README equal to it)."""
    rows = ["| plugin | mode | WireGuard | required node ↔ node | advisory | overhead (bytes) | CNI MTU at 1500 "
            "| pod IPs routed |", "|---|---|---|---|---|---|---|---|"]
    for p, mode, wg, m in table():
        req = ", ".join(x.shown + ("" if x.between_nodes else " (router)") for x in m.ports if x.required)
        adv = ", ".join(x.shown for x in m.ports if not x.required) or "–"
        rows.append(f"| {p} | {mode}{' (default)' if mode == DEFAULT_MODE[p] else ''} | {'yes' if wg else 'no'} "
                    f"| {req or '–'} | {adv} | {m.overhead} | {1500 - m.overhead} | "
                    f"{'required' if m.routable_pods else 'optional'} |")
    return "\n".join(rows)
