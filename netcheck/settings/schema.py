"""The site profile schema (netcheck/v1 SiteProfile) and its value types, validated once by pydantic.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from netcheck.platform import CniModeError, endpoint_region_problem, model, region_problem

PROFILE_API = "netcheck/v1"
NODECONFIG_API = "node.eks.aws/v1alpha1"
DEFAULT_SERVICE_CIDRS = ("10.100.0.0/16", "172.20.0.0/16")



def decode_ca(value: str) -> str:
    """Accept a PEM certificate or base64 of one (as nodeadm stores it); '' if it is neither."""
    if "-----BEGIN" in value:
        return value
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


X509_LATER = "x509Later"  # validation context key: leave the CA's X.509 parse to settings.check_pending


def check_ca(value: str, *, x509: bool = True) -> None:
    """Raise ValueError unless `value` holds at least one parseable X.509 certificate.

    With x509=False only the text is checked (PEM or base64 of PEM, a CERTIFICATE block), not the
    certificate itself: that needs cryptography (0.04 s to import), which `netcheck run` loads
    while its first checks run (settings.merge.check_pending)."""
    pem = decode_ca(value)
    if not pem:
        raise ValueError("is neither a PEM certificate nor base64 of one")
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("decodes to text without a '-----BEGIN CERTIFICATE-----' block")
    if not x509:
        return
    from cryptography import x509 as x509_module

    try:
        x509_module.load_pem_x509_certificates(pem.encode("ascii", "replace"))
    except ValueError:
        raise ValueError("holds a CERTIFICATE block that is not a valid X.509 certificate") from None


# --- value types -------------------------------------------------------------------

def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):  # 10.61.0.1/16: the network is 10.61.0.0/16
            fixed = ipaddress.ip_network(value.strip(), strict=False)
            raise ValueError(f"{value!r} has host bits set: did you mean {fixed}?") from None
        raise ValueError(f"{value!r} is not a valid CIDR ({exc})") from None
    return str(net)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IP address") from None


_HOST_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$")


def _host(value: str) -> str:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    if not _HOST_RE.match(value):
        raise ValueError(f"{value!r} is not a valid host name or IP address")
    return value.rstrip(".").lower()


def _hostport(value: str) -> str:
    host, port = split_hostport(value, None)
    if port is None:
        raise ValueError(f"{value!r} needs a port, as host:port")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_hostport(value: str, default_port: int | None) -> tuple[str, int | None]:
    """Split 'host:port', '[v6]:port' or a bare host; validate both parts."""
    value = value.strip()
    host, port_s = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_s = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, port_s = value.split(":")
    if port_s:
        if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
            raise ValueError(f"port {port_s!r} in {value!r} is not between 1 and 65535")
        return _host(host), int(port_s)
    return _host(host), default_port


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4 address") from None


def _region(value: str) -> str:
    """One Region rule for profile, NodeConfig and flags: netcheck.platform.region_problem (the partition table)."""
    if (why := region_problem(value.strip())) is not None:
        raise ValueError(why)
    return value.strip()


Region = Annotated[str, AfterValidator(_region)]
Cidr = Annotated[str, AfterValidator(_cidr)]
IPv4 = Annotated[str, AfterValidator(_ipv4)]
IP = Annotated[str, AfterValidator(_ip)]
Host = Annotated[str, AfterValidator(_host)]
HostPort = Annotated[str, AfterValidator(_hostport)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              frozen=True, strict=False, allow_inf_nan=False, coerce_numbers_to_str=True)


# --- site profile ------------------------------------------------------------------

class Cluster(_Model):
    name: str | None = None
    region: Region | None = None
    endpoint: str | None = None
    certificate_authority: str | None = None
    service_cidr: Cidr | None = None
    endpoint_access: Literal["public", "private", "public-and-private"] | None = None
    control_plane_ips: list[IP] = []

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = re.match(r"^https://([^/]+?)/?$", v.strip())
        if v.strip().lower().startswith("http://"):
            raise ValueError(f"{v!r} uses http://; the Kubernetes API endpoint is https:// only")
        if not m:
            raise ValueError(f"{v!r} must be an https:// URL with no path")
        split_hostport(m.group(1), 443)
        return v.strip().rstrip("/")

    @field_validator("certificate_authority")
    @classmethod
    def _ca(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        context = info.context
        later = isinstance(context, dict) and X509_LATER in context
        check_ca(v, x509=not later)
        if isinstance(context, dict) and later:
            context[X509_LATER] = True  # the caller owes the X.509 parse (settings.merge.check_pending)
        return v

    @model_validator(mode="after")
    def _endpoint_in_region(self) -> Cluster:
        """An EKS endpoint names its cluster's Region; a different spec.cluster.region is a mistake."""
        if self.region and self.endpoint and (why := endpoint_region_problem(self.region, self.endpoint)):
            raise ValueError(why)
        return self


class VpcDescribe(_Model):
    """JSON exported with the AWS CLI; paths are relative to the profile file's directory."""

    cluster: str | None = None  # aws eks describe-cluster
    route_tables: str | None = None  # aws ec2 describe-route-tables
    security_groups: str | None = None  # aws ec2 describe-security-groups
    subnets: str | None = None  # aws ec2 describe-subnets


class Vpc(_Model):
    cidrs: list[Cidr] = []
    describe: VpcDescribe | None = None
    from_api: bool = False  # read the VPC through boto3 instead of exported JSON


class Inbound(_Model):
    """Control plane → node checks (kubelet, pod network)."""

    kubelet_port: Port = 10250
    pod_address: IPv4 | None = None  # an address from the pod CIDR netcheck may use
    listen_timeout: float = Field(default=5, gt=0, le=120)


class Mtu(_Model):
    targets: list[Host] = []  # empty: control-plane IPs and the responder
    max: int = Field(default=9001, ge=576, le=9216)


class RemoteNetwork(_Model):
    node_cidrs: list[Cidr] = []
    pod_cidrs: list[Cidr] = []


class Cni(_Model):
    """The site's CNI; netcheck/platform.py turns it into ports, overhead and pod routing."""

    plugin: Literal["cilium", "calico", "none"] = "cilium"
    mode: Literal["vxlan", "geneve", "native", "ipip", "bgp"] | None = None  # None: the plugin's default
    wireguard: bool | None = None  # None: off (the default of both CNIs)
    typha: bool | None = None  # Calico only; None: deployed (the Tigera operator runs Typha)
    encapsulation: Literal["vxlan", "geneve", "ipip", "wireguard", "none"] | None = None  # older spelling of mode

    @property
    def effective_mode(self) -> str | None:
        if self.mode or self.encapsulation in (None, "wireguard"):
            return self.mode
        return "native" if self.encapsulation == "none" else self.encapsulation

    @property
    def effective_wireguard(self) -> bool:
        return bool(self.wireguard) or (self.wireguard is None and self.encapsulation == "wireguard")

    @model_validator(mode="after")
    def _known_combination(self) -> Cni:
        if self.plugin == "none":
            return self
        try:
            model(self.plugin, self.effective_mode, self.effective_wireguard, self.typha)
        except CniModeError as exc:
            raise ValueError(str(exc)) from None
        return self


class Bandwidth(_Model):
    server: HostPort | None = None
    seconds: float = Field(default=5, gt=0, le=60)
    streams: int = Field(default=4, ge=1, le=32)
    reverse: bool = True  # also measure download (VPC → node)


class Dns(_Model):
    servers: list[HostPort | IP] = []
    timeout: float = Field(default=5.0, gt=0, le=30)  # one lookup's budget, retries included
    # Mixed mode: pods on hybrid nodes use CoreDNS running in the VPC (its pod or service IPs there); TCP and
    # UDP 53 from the pod network to each is checked (probes/coredns.py).
    vpc_core_dns: list[IPv4] = []


class Endpoint(_Model):
    host: Host
    port: Port = 443
    tls: bool = True
    required: bool = True


class Thresholds(_Model):
    bandwidth_mbps: float = Field(default=100, gt=0)
    rtt_ms: float = Field(default=200, gt=0)
    loss_pct: float = Field(default=1, ge=0, le=100)
    jitter_ms: float = Field(default=30, gt=0)
    clock_warn_s: float = Field(default=2, gt=0)
    clock_fail_s: float = Field(default=300, gt=0)


class Checks(_Model):
    skip: list[str] = []
    advisory: list[str] = []


class Features(_Model):
    """Optional services whose endpoints become required when used."""

    pod_identity: bool = False
    irsa: bool = False
    cloudwatch: bool = False
    session_manager: bool = False
    install: bool = True  # node still has to download nodeadm artifacts


class Aws(_Model):
    """Where AWS service endpoints live: derived from the Region's partition; these override it."""

    domain: Host | None = None  # every AWS name under this domain (labs, stand-ins); None: the partition's
    service_port: Port = 443
    ecr_account: str | None = Field(default=None, pattern=r"^\d{12}$")  # None: the Region's EKS registry
    install_region: Region | None = None  # `nodeadm install --region`; None: us-west-2 (nodeadm's default)
    # Private / air-gapped installs (nodeadm install --private-mode --manifest-override URL, artifacts synced
    # with nodeadm sync-artifacts): the site's mirror is checked instead of the public hybrid-assets host and
    # the SSM installer bucket. https:// or http:// URL, or file:// (nothing to reach).
    mirror: str | None = None

    @field_validator("mirror")
    @classmethod
    def _mirror(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlsplit

        v = v.strip()
        try:
            parts = urlsplit(v)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{v!r} is not a URL ({exc})") from None
        if parts.scheme == "file":
            return v
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{v!r} must be an https://, http:// or file:// URL of the site's nodeadm mirror "
                             "(what nodeadm install --manifest-override is given)")
        _host(parts.hostname)
        del port
        return v


class Latency(_Model):
    samples: int = Field(default=20, ge=3, le=1000)
    interval: float = Field(default=0.05, ge=0, le=5)
    targets: list[Host] = []
    # Candidate Regions for latency.region.closest and `netcheck regions`; empty: every Region of the partition.
    regions: list[Region] = []


class Node(_Model):
    ip: IPv4 | None = None  # the IP the kubelet will report (--node-ip); nodeadm accepts IPv4 only
    interface: str | None = None
    name: str | None = None  # IAM Roles Anywhere node name: without --node-ip the kubelet resolves it


class Ntp(_Model):
    servers: list[HostPort | Host] = []


class Spec(_Model):
    phase: Literal["auto", "pre-join", "joined"] = "auto"  # lifecycle phase (netcheck.phase); --phase wins
    cluster: Cluster = Cluster()
    credentials: Literal["ssm", "iam-roles-anywhere"] | None = None
    vpc: Vpc = Vpc()
    remote_network: RemoteNetwork = RemoteNetwork()
    cni: Cni = Cni()
    peers: list[IP] = []
    responder: HostPort | None = None
    bandwidth: Bandwidth = Bandwidth()
    dns: Dns = Dns()
    endpoints: list[Endpoint] = []
    thresholds: Thresholds = Thresholds()
    checks: Checks = Checks()
    features: Features = Features()
    aws: Aws = Aws()
    latency: Latency = Latency()
    node: Node = Node()
    ntp: Ntp = Ntp()
    webhook_ports: list[Port] = []
    inbound: Inbound = Inbound()
    mtu: Mtu = Mtu()


class Metadata(_Model):
    name: str = "unnamed"
    labels: dict[str, str] = {}


class SiteProfile(_Model):
    api_version: Literal["netcheck/v1"] = Field(default="netcheck/v1", alias="apiVersion")
    kind: Literal["SiteProfile"] = "SiteProfile"
    metadata: Metadata = Metadata()
    spec: Spec = Spec()
