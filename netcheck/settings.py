"""Site profile and NodeConfig: load, validate once, merge (defaults < file < env < flags).

Every problem becomes a ConfigError naming the file, the field and what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

PROFILE_API = "netcheck/v1"
NODECONFIG_API = "node.eks.aws/v1alpha1"
DEFAULT_SERVICE_CIDRS = ("10.100.0.0/16", "172.20.0.0/16")


class ConfigError(Exception):
    """A bad input: which file, which field, what is wrong."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(where + problem)


# --- value types -------------------------------------------------------------------

def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
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


Cidr = Annotated[str, AfterValidator(_cidr)]
IP = Annotated[str, AfterValidator(_ip)]
Host = Annotated[str, AfterValidator(_host)]
HostPort = Annotated[str, AfterValidator(_hostport)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              frozen=True, strict=False)


# --- site profile ------------------------------------------------------------------

class Cluster(_Model):
    name: str | None = None
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
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
        if not m:
            raise ValueError(f"{v!r} must be an https:// URL with no path")
        split_hostport(m.group(1), 443)
        return v.strip().rstrip("/")

    @field_validator("certificate_authority")
    @classmethod
    def _ca(cls, v: str | None) -> str | None:
        if v is None:
            return v
        pem = decode_ca(v)
        if "BEGIN CERTIFICATE" not in pem:
            raise ValueError("is neither a PEM certificate nor base64 of one")
        return v


class Vpc(_Model):
    cidrs: list[Cidr] = []


class RemoteNetwork(_Model):
    node_cidrs: list[Cidr] = []
    pod_cidrs: list[Cidr] = []


class Cni(_Model):
    plugin: Literal["cilium", "calico", "none"] = "cilium"
    encapsulation: Literal["vxlan", "geneve", "ipip", "wireguard", "none"] | None = None


class Bandwidth(_Model):
    server: HostPort | None = None
    seconds: float = Field(default=5, gt=0, le=60)
    streams: int = Field(default=4, ge=1, le=32)
    reverse: bool = True  # also measure download (VPC → node)


class Dns(_Model):
    servers: list[HostPort | IP] = []
    timeout: float = Field(default=2.0, gt=0, le=30)


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
    """Where AWS service endpoints live; overridable for labs and partitions."""

    domain: str = "amazonaws.com"
    service_port: Port = 443
    ecr_account: str = Field(default="602401143452", pattern=r"^\d{12}$")


class Latency(_Model):
    samples: int = Field(default=20, ge=3, le=1000)
    interval: float = Field(default=0.05, ge=0, le=5)
    targets: list[Host] = []


class Node(_Model):
    ip: IP | None = None  # the IP the kubelet will report (--node-ip)
    interface: str | None = None


class Ntp(_Model):
    servers: list[HostPort | Host] = []


class Spec(_Model):
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


class Metadata(_Model):
    name: str = "unnamed"
    labels: dict[str, str] = {}


class SiteProfile(_Model):
    api_version: Literal["netcheck/v1"] = Field(default="netcheck/v1", alias="apiVersion")
    kind: Literal["SiteProfile"] = "SiteProfile"
    metadata: Metadata = Metadata()
    spec: Spec = Spec()


# --- NodeConfig (nodeadm) ----------------------------------------------------------

class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class NcCluster(_Loose):
    name: str | None = None
    region: str | None = None
    apiServerEndpoint: str | None = None
    certificateAuthority: str | None = None
    cidr: Cidr | None = None


class NcHybrid(_Loose):
    ssm: dict[str, Any] | None = None
    iamRolesAnywhere: dict[str, Any] | None = None


class NcKubelet(_Loose):
    flags: list[str] = []
    config: dict[str, Any] = {}


class NcSpec(_Loose):
    cluster: NcCluster = NcCluster()
    hybrid: NcHybrid | None = None
    kubelet: NcKubelet = NcKubelet()


class NodeConfig(_Loose):
    apiVersion: Literal["node.eks.aws/v1alpha1"]
    kind: Literal["NodeConfig"]
    spec: NcSpec


# --- loading -----------------------------------------------------------------------

class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; every failure is a ConfigError naming the file."""
    src = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(src, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(src, "", "is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(src, "", f"cannot read: {exc.strerror}") from None
    if b"\x00" in raw:
        raise ConfigError(src, "", "is a binary file, not YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(src, "", f"is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ConfigError(src, "", "file is empty")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(src, at, f"invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(src, "", f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(src, "", f"must be a YAML mapping, found {type(data).__name__}")
    return data


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "literal_error") or "[" in str(part):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _validation_error(src: str, exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors():
        field = _loc(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif ("input" in err and err["type"] != "missing" and not isinstance(err["input"], dict | list)
              and repr(err["input"]) not in msg):
            msg = f"{msg} (got {err['input']!r})"
        lines.append((field, msg))
    field, msg = lines[0]
    if len(lines) > 1:
        msg += "".join(f"\n  {src}: {f}: {m}" for f, m in lines[1:])
    return ConfigError(src, field, msg)


def load_profile(path: Path) -> SiteProfile:
    data = read_yaml(path)
    src = str(path)
    if data.get("kind") == "NodeConfig" or data.get("apiVersion") == NODECONFIG_API:
        raise ConfigError(src, "kind", "this is a nodeadm NodeConfig; pass it with --nodeconfig")
    try:
        return SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(src, exc) from None


def load_nodeconfig(path: Path) -> NodeConfig:
    data = read_yaml(path)
    src = str(path)
    if data.get("kind") == "SiteProfile":
        raise ConfigError(src, "kind", "this is a netcheck SiteProfile; pass it with -c")
    try:
        nc = NodeConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(src, exc) from None
    hybrid = nc.spec.hybrid
    if hybrid is not None and bool(hybrid.ssm) == bool(hybrid.iamRolesAnywhere):
        raise ConfigError(src, "spec.hybrid", "exactly one of ssm and iamRolesAnywhere must be set")
    return nc


def decode_ca(value: str) -> str:
    """Accept a PEM certificate or base64 of one (as nodeadm stores it)."""
    if "BEGIN CERTIFICATE" in value:
        return value
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


# --- the merged, validated settings ------------------------------------------------

@dataclass(frozen=True)
class Overrides:
    """Values from NETCHECK_* variables and flags (flags win; typer merges them)."""

    region: str | None = None
    endpoint: str | None = None
    service_cidr: str | None = None
    responder: str | None = None
    node_ip: str | None = None


@dataclass(frozen=True)
class Settings:
    profile: SiteProfile
    source: str  # the file(s) it came from, for messages
    token: str | None = None

    @property
    def spec(self) -> Spec:
        return self.profile.spec

    @property
    def name(self) -> str:
        return self.profile.metadata.name


def _node_ip_from_flags(flags: list[str]) -> str | None:
    for i, flag in enumerate(flags):
        if flag.startswith("--node-ip="):
            return flag.split("=", 1)[1]
        if flag == "--node-ip" and i + 1 < len(flags):
            return flags[i + 1]
    return None


def build(profile_path: Path | None = None, nodeconfig_path: Path | None = None,
          overrides: Overrides = Overrides(), token: str | None = None) -> Settings:
    """Load and merge everything, then validate the result once more as a whole."""
    sources: list[str] = []
    data: dict[str, Any] = {}
    if profile_path is not None:
        data = load_profile(profile_path).model_dump(by_alias=True, exclude_unset=True)
        sources.append(str(profile_path))
    spec = data.setdefault("spec", {})
    cluster = spec.setdefault("cluster", {})
    if nodeconfig_path is not None:
        nc = load_nodeconfig(nodeconfig_path)
        sources.append(str(nodeconfig_path))
        c = nc.spec.cluster
        for key, val in (("name", c.name), ("region", c.region), ("endpoint", c.apiServerEndpoint),
                         ("certificateAuthority", c.certificateAuthority), ("serviceCidr", c.cidr)):
            if val:
                cluster[key] = val
        if nc.spec.hybrid is not None:
            spec["credentials"] = "ssm" if nc.spec.hybrid.ssm else "iam-roles-anywhere"
        node_ip = _node_ip_from_flags(nc.spec.kubelet.flags)
        if node_ip:
            spec.setdefault("node", {})["ip"] = node_ip
        data.setdefault("metadata", {}).setdefault("name", c.name or "nodeconfig")
    o = overrides
    for key, val in (("region", o.region), ("endpoint", o.endpoint), ("serviceCidr", o.service_cidr)):
        if val is not None:
            cluster[key] = val
            sources.append(f"override cluster.{key}")
    if o.responder is not None:
        spec["responder"] = o.responder
    if o.node_ip is not None:
        spec.setdefault("node", {})["ip"] = o.node_ip
    src = " + ".join(sources) or "defaults"
    try:
        profile = SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(src, exc) from None
    return Settings(profile=profile, source=src, token=token)
