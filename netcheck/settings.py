"""Site profile and NodeConfig: load, validate once, merge (defaults < file < env < flags).

Every problem becomes a ConfigError naming the file, the field and what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import difflib
import ipaddress
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

PROFILE_API = "netcheck/v1"
NODECONFIG_API = "node.eks.aws/v1alpha1"
DEFAULT_SERVICE_CIDRS = ("10.100.0.0/16", "172.20.0.0/16")


class ConfigError(Exception):
    """A bad input: which file, which field, what is wrong."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        # Each line cut to a readable length: a validator may quote a value that YAML aliases expanded.
        problem = "\n".join(_clip(line, 2 * MAX_MESSAGE) for line in problem.split("\n"))
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


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4 address") from None


# Two-letter geography (us-west-2, cn-north-1, us-gov-west-1) or the European Sovereign Cloud (eusc-de-east-1).
_REGION_RE = re.compile(r"^([a-z]{2}|eusc)(-[a-z]+)+-\d+$")


def _region(value: str) -> str:
    if not _REGION_RE.match(value.strip()):
        raise ValueError(f"{value!r} is not an AWS Region code such as us-west-2, cn-north-1 or eusc-de-east-1")
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
    def _ca(cls, v: str | None) -> str | None:
        if v is None:
            return v
        check_ca(v)
        return v


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
    """The site's CNI; probes/cnimodel.py turns it into ports, overhead and pod routing."""

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
        from probes.cnimodel import CniModeError, model

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


class Latency(_Model):
    samples: int = Field(default=20, ge=3, le=1000)
    interval: float = Field(default=0.05, ge=0, le=5)
    targets: list[Host] = []


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


# --- NodeConfig (nodeadm): the schema lives in netcheck/nodeconfig.py ---------------------

if TYPE_CHECKING:
    from netcheck.aws import ClusterLookup
    from netcheck.nodeconfig import NodeConfigFile


# --- loading -----------------------------------------------------------------------

MAX_BYTES = 1 << 20  # a site profile is a few KiB; refuse anything absurd
MAX_ALIASES = 100  # YAML aliases allowed per file: stops "billion laughs" expansion
MAX_NODES = 100_000  # values in the document with every alias expanded (nested aliases multiply)
MAX_MESSAGE = 300  # characters of one problem in a message; a value is echoed at most _SHORT characters


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and bounds alias expansion.

    Each composed node's size counts its subtree with every alias expanded (a long scalar weighs
    more), so ten nested levels of nine aliases (9**10 values from 99 aliases) stop at MAX_NODES
    before anything is built; an alias inside its own anchor (infinite expansion) is refused too.
    """

    aliases = 0

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if self.aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_ALIASES} YAML aliases",
                                                  event.start_mark)
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise yaml.composer.ComposerError(None, None, f"alias *{str(event.anchor)[:40]} refers to a node "
                                                  "that contains it (endless expansion)", event.start_mark)
        node: yaml.Node | None = super().compose_node(parent, index)
        if node is not None and id(node) not in self._sizes:
            self._sizes[id(node)] = size = self._size(node)
            if size > MAX_NODES:
                how = "expands to" if self.aliases else "has"
                why = " (YAML aliases multiply)" if self.aliases else ""
                raise yaml.composer.ComposerError(None, None, f"{how} more than {MAX_NODES} values{why}; a profile "
                                                  "or NodeConfig needs far fewer", node.start_mark)
        return node

    def _size(self, node: yaml.Node) -> int:
        if isinstance(node, yaml.ScalarNode):
            return 1 + len(node.value) // 64
        if isinstance(node, yaml.SequenceNode):
            return 1 + sum(self._sizes.get(id(n), 1) for n in node.value)
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
        return 1


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        try:
            first = seen.get(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or mapping", key_node.start_mark) from None
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {first})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; every failure is a ConfigError naming the file.

    At most MAX_BYTES, from a regular file only: /dev/zero would fill memory and a FIFO would
    hang past --deadline.
    """
    from netcheck.safeio import FileProblem, read_limited

    src = str(path)
    try:
        raw = read_limited(path, MAX_BYTES, "profile or NodeConfig")
    except FileProblem as exc:
        problem = str(exc).removeprefix(f"{src}: ")
        raise ConfigError(src, "", "is a directory, not a file" if "a directory;" in problem else problem) from None
    return parse_yaml(raw, src)


def parse_yaml(raw: bytes, src: str) -> dict[str, Any]:
    """Parse the bytes of one YAML mapping; `src` names the file in every ConfigError."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(src, "", f"is {len(raw)} bytes; a profile larger than {MAX_BYTES} bytes is not plausible")
    if b"\x00" in raw:
        raise ConfigError(src, "", "is a binary file, not YAML text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(src, "", f"is not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start})"
                          ) from None
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise ConfigError(src, "", "file is empty (no YAML content)")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = str(exc.problem)
        if "'\\t'" in problem or "\t" in problem:
            problem = "a tab character; YAML indentation must use spaces"
        elif "another document" in problem:
            problem = "more than one YAML document ('---'); give one profile or NodeConfig per file"
        elif exc.context and exc.context_mark and exc.context_mark.line != (mark.line if mark else -1):
            problem += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise ConfigError(src, at, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(src, "", f"invalid YAML: {_clip(str(exc))}") from None
    except RecursionError:
        raise ConfigError(src, "", "invalid YAML: nested too deeply") from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. a timestamp like 2024-13-45
        raise ConfigError(src, "", f"invalid YAML value: {_clip(str(exc))}") from None
    if data is None:
        raise ConfigError(src, "", "file is empty (no YAML content)")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a plain string" if isinstance(data, str) else (
            f"a {type(data).__name__}")
        raise ConfigError(src, "", f"must be a YAML mapping (apiVersion, kind, spec, ...), found {kind}")
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


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 70
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxlong = 2, 4, 4, 40


def _short(value: Any) -> str:
    """A value as echoed in a message: never more than ~60 characters, whatever its size (reprlib
    does not build the whole repr of an expanded structure first)."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:45] + "..." + text[-10:]


_LONG_WORD = re.compile(r"\S{81,}")


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """One problem's text, at most `limit` characters: a validator may quote a huge value, so long
    words are shortened in the middle first, then the middle of the text goes, keeping both ends."""
    if len(text) <= limit:
        return text
    text = _LONG_WORD.sub(lambda m: f"{m[0][:45]}...{m[0][-15:]}", text)
    if len(text) <= limit:
        return text
    head = (limit * 2) // 3
    return f"{text[:head]} ... {text[-(limit - head - 5):]}"


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that holds the field at `loc` (by YAML name), for 'did you mean' hints."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _inner_model(field.annotation) if field is not None else None
    return model


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _unknown_field(root: type[BaseModel] | None, loc: tuple[int | str, ...]) -> str:
    model = _model_at(root, loc) if root is not None else None
    if model is None:
        return "unknown field"
    names = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    if close:
        return f"unknown field; did you mean {close[0]!r}?"
    return f"unknown field; expected one of: {', '.join(names)}"


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {_short(value)}"


def _validation_error(src: str, exc: ValidationError, root: type[BaseModel] | None = None) -> ConfigError:
    lines: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = _loc(loc)
        msg = err["msg"].removeprefix("Value error, ")
        inp = err.get("input")
        if err["type"] == "extra_forbidden":
            msg = _unknown_field(root, loc)
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"must be a mapping (key: value), found {_kind_of(inp)}"
        elif err["type"] == "string_type":
            msg = f"must be text, found {_kind_of(inp)}"
            if isinstance(inp, bool | int | float | datetime.date):
                msg += "; put the value in quotes"
        elif err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "list_type":
            msg = f"must be a list ([a, b] or '- item' lines), found {_kind_of(inp)}"
        elif "input" in err and err["type"] != "missing" and not isinstance(inp, dict | list) and (
                _short(inp) not in msg and not (isinstance(inp, str) and len(inp) > 60 and inp[:40] in msg)):
            msg = f"{msg} (got {_short(inp)})"
        field, msg = _clip(field, 120), _clip(msg)
        if (field, msg) not in lines:
            lines.append((field, msg))
        if len(lines) > 20:
            break
    field, msg = lines[0]
    if len(lines) > 1:
        msg += "".join(f"\n  {src}: {f}: {m}" for f, m in lines[1:20])
    if len(lines) > 20:
        msg += f"\n  {src}: ... and more ({exc.error_count()} problems in all)"
    return ConfigError(src, field, msg)


def load_profile(path: Path) -> SiteProfile:
    """Read and validate a netcheck SiteProfile."""
    return profile_from_data(read_yaml(path), str(path))


def profile_from_data(data: dict[str, Any], src: str) -> SiteProfile:
    """Validate an already-parsed SiteProfile mapping; `src` names it in errors."""
    if data.get("kind") == "NodeConfig" or data.get("apiVersion") == NODECONFIG_API:
        raise ConfigError(src, "kind", "this is a nodeadm NodeConfig; pass it with --nodeconfig, not -c")
    try:
        return SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(src, exc, SiteProfile) from None


def load_nodeconfig(path: Path) -> NodeConfigFile:
    """Read a nodeadm NodeConfig the way nodeadm reads it (see netcheck/nodeconfig.py)."""
    return nodeconfig_from_data(read_yaml(path), str(path))


def nodeconfig_from_data(data: dict[str, Any], src: str) -> NodeConfigFile:
    """Decode an already-parsed NodeConfig as nodeadm does; ConfigError for what nodeadm refuses."""
    from netcheck.nodeconfig import load

    return load(data, src)


def node_ip_from_flags(flags: list[str], src: str) -> str | None:
    """The IPv4 address in kubelet `--node-ip`, if any; IPv6 is refused as nodeadm refuses it."""
    for i, raw in enumerate(flags):
        flag = raw.strip()
        if flag.startswith("--node-ip="):
            value, at = flag.removeprefix("--node-ip="), i
        elif flag == "--node-ip":
            if i + 1 >= len(flags):
                raise ConfigError(src, f"spec.kubelet.flags[{i}]", "--node-ip has no value")
            value, at = flags[i + 1], i + 1
        elif flag.split()[:1] == ["--node-ip"]:
            value, at = flag.split(None, 1)[1], i
        else:
            continue
        field = f"spec.kubelet.flags[{at}]"
        try:
            addr = ipaddress.ip_address(value.strip())
        except ValueError:
            if "," in value:
                raise ConfigError(src, field, f"--node-ip {value!r}: only one IPv4 address is supported") from None
            raise ConfigError(src, field, f"--node-ip {value!r} is not a valid IP address") from None
        if addr.version != 4:
            raise ConfigError(src, field, f"--node-ip {value!r} is IPv6; only IPv4 is supported")
        return str(addr)
    return None


def decode_ca(value: str) -> str:
    """Accept a PEM certificate or base64 of one (as nodeadm stores it); '' if it is neither."""
    if "-----BEGIN" in value:
        return value
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def check_ca(value: str) -> None:
    """Raise ValueError unless `value` holds at least one parseable X.509 certificate."""
    from cryptography import x509

    pem = decode_ca(value)
    if not pem:
        raise ValueError("is neither a PEM certificate nor base64 of one")
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("decodes to text without a '-----BEGIN CERTIFICATE-----' block")
    try:
        x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
    except ValueError:
        raise ValueError("holds a CERTIFICATE block that is not a valid X.509 certificate") from None


# --- the merged, validated settings ------------------------------------------------

@dataclass(frozen=True)
class Overrides:
    """Values from NETCHECK_* variables and flags (flags win; typer merges them)."""

    region: str | None = None
    endpoint: str | None = None
    service_cidr: str | None = None
    responder: str | None = None
    node_ip: str | None = None
    origins: dict[str, str] = field(default_factory=dict)  # override name → "--node-ip" or "NETCHECK_NODE_IP"


@dataclass(frozen=True)
class Settings:
    profile: SiteProfile
    source: str  # the file(s) it came from, for messages
    token: str | None = None
    nodeconfig: NodeConfigFile | None = None  # the NodeConfig as loaded, with its findings
    # Where each cluster value came from (profile field name → profile | nodeconfig | override | describe-cluster).
    sources: dict[str, str] = field(default_factory=dict)
    cluster_lookup: ClusterLookup | None = None  # the eks:DescribeCluster call made at run time, if any
    # Where a value came from, for messages: "node.ip" → "--node-ip", "NETCHECK_NODE_IP",
    # "site profile site.yaml, spec.node.ip" or "NodeConfig nodeConfig.yaml, kubelet --node-ip".
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def spec(self) -> Spec:
        return self.profile.spec

    @property
    def name(self) -> str:
        return self.profile.metadata.name


def _resolve_describe(data: dict[str, Any], profile_path: Path) -> None:
    """Make spec.vpc.describe paths absolute (relative to the profile's directory) and check they exist."""
    describe = data.get("spec", {}).get("vpc", {}).get("describe") or {}
    base = profile_path.parent
    for key, rel in list(describe.items()):
        if rel is None:
            continue
        field = f"spec.vpc.describe.{key}"
        try:
            path = Path(rel).expanduser()
            path = path if path.is_absolute() else base / path
            ok, is_dir = path.is_file(), path.is_dir()
        except (OSError, ValueError) as exc:
            raise ConfigError(str(profile_path), field, f"unusable path {rel!r}: {exc}") from None
        if not ok:
            problem = "is a directory, not a file" if is_dir else "file not found"
            raise ConfigError(str(profile_path), field, f"{problem}: {path}")
        describe[key] = str(path.resolve())  # absolute, whatever the working directory


# Override field → (flag, environment variable, model, field alias) for messages.
_OVERRIDES = {
    "region": ("--region", "NETCHECK_REGION", "cluster", "region"),
    "endpoint": ("--endpoint", "NETCHECK_ENDPOINT", "cluster", "endpoint"),
    "service_cidr": ("--service-cidr", "NETCHECK_SERVICE_CIDR", "cluster", "serviceCidr"),
    "responder": ("--responder", "NETCHECK_RESPONDER", "spec", "responder"),
    "node_ip": ("--node-ip", "NETCHECK_NODE_IP", "node", "ip"),
}


def _check_overrides(o: Overrides) -> None:
    """Validate each flag/env value on its own so the message names the flag, not a file."""
    models: dict[str, type[BaseModel]] = {"cluster": Cluster, "spec": Spec, "node": Node}
    for attr, (flag, env, model, alias) in _OVERRIDES.items():
        value = getattr(o, attr)
        if value is None:
            continue
        try:
            models[model].model_validate({alias: value})
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            if _short(value) not in msg:
                msg = f"{msg} (got {_short(value)})"
            raise ConfigError(f"{flag} (or {env})", "", _clip(msg)) from None


def build(profile_path: Path | None = None, nodeconfig_path: Path | None = None,
          overrides: Overrides = Overrides(), token: str | None = None) -> Settings:
    """Load and merge everything, then validate the result once more as a whole."""
    sources: list[str] = []
    data: dict[str, Any] = {}
    if profile_path is not None:
        data = load_profile(profile_path).model_dump(by_alias=True, exclude_unset=True)
        sources.append(str(profile_path))
        _resolve_describe(data, profile_path)
    spec = data.setdefault("spec", {})
    cluster = spec.setdefault("cluster", {})
    origin = {k: "profile" for k in cluster if cluster.get(k) not in (None, [])}
    origin.update({k: "profile" for k, v in spec.get("remoteNetwork", {}).items() if v})
    nc = None
    origins: dict[str, str] = {}
    if profile_path is not None:
        for key in ("region", "endpoint", "serviceCidr"):
            if cluster.get(key):
                origins[f"cluster.{key}"] = f"site profile {profile_path}"
        if spec.get("responder"):
            origins["responder"] = f"site profile {profile_path}"
        if (spec.get("node") or {}).get("ip"):
            origins["node.ip"] = f"site profile {profile_path}, spec.node.ip"
    if nodeconfig_path is not None:
        nc = load_nodeconfig(nodeconfig_path)
        sources.append(str(nodeconfig_path))
        for key, val in (("name", nc.name), ("region", nc.region), ("endpoint", nc.endpoint),
                         ("certificateAuthority", nc.ca_pem), ("serviceCidr", nc.service_cidr)):
            if val:
                cluster[key] = val
                origin[key] = "nodeconfig"
                if key in ("region", "endpoint", "serviceCidr"):
                    origins[f"cluster.{key}"] = f"NodeConfig {nodeconfig_path}"
        spec["credentials"] = nc.credentials
        hybrid = nc.config.spec.hybrid if nc.config.spec is not None else None
        ra_name = hybrid.iamRolesAnywhere.nodeName if hybrid is not None and hybrid.iamRolesAnywhere else None
        if nc.credentials == "iam-roles-anywhere" and ra_name:
            spec.setdefault("node", {}).setdefault("name", ra_name)
        if nc.node_ip:
            spec.setdefault("node", {})["ip"] = nc.node_ip
            origins["node.ip"] = f"NodeConfig {nodeconfig_path}, kubelet --node-ip"
        data.setdefault("metadata", {}).setdefault("name", nc.name or "nodeconfig")
    o = overrides
    _check_overrides(o)
    for key, val, name in (("region", o.region, "region"), ("endpoint", o.endpoint, "endpoint"),
                           ("serviceCidr", o.service_cidr, "service_cidr")):
        if val is not None:
            cluster[key] = val
            sources.append(f"override cluster.{key}")
            origin[key] = "override"
            origins[f"cluster.{key}"] = o.origins.get(name, "--" + name.replace("_", "-"))
    if o.responder is not None:
        spec["responder"] = o.responder
        origins["responder"] = o.origins.get("responder", "--responder")
    if o.node_ip is not None:
        spec.setdefault("node", {})["ip"] = o.node_ip
        origins["node.ip"] = o.origins.get("node_ip", "--node-ip")
    src = " + ".join(sources) or "defaults"
    try:
        profile = SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(src, exc, SiteProfile) from None
    return Settings(profile=profile, source=src, token=token, nodeconfig=nc, sources=origin, origins=origins)


# --- cluster details nodeadm would fetch with eks:DescribeCluster ------------------------

def cluster_lookup_needed(settings: Settings) -> bool:
    """True when nodeadm would call eks:DescribeCluster for this NodeConfig and netcheck may do the same."""
    from netcheck.aws import lookup_disabled

    c = settings.spec.cluster
    if lookup_disabled() or not c.name or not c.region or settings.nodeconfig is None:
        return False  # a site profile states what it knows; only a NodeConfig run does what nodeadm does
    return settings.nodeconfig.needs_cluster_details


def cluster_lookup_note(settings: Settings) -> str:
    """For `netcheck plan`: what `run` will ask eks:DescribeCluster, and what changes with its answer."""
    from netcheck.aws import boto3_available

    if not cluster_lookup_needed(settings):
        return ""
    nc = settings.nodeconfig
    raw = nc.config.spec.cluster if nc is not None and nc.config.spec and nc.config.spec.cluster else None
    missing = [k for k, have in (("endpoint", raw.apiServerEndpoint if raw else None),
                                 ("certificateAuthority", nc.ca_given if nc else None),
                                 ("serviceCidr", raw.cidr if raw else None)) if not have]
    if not boto3_available():
        return (f"eks:DescribeCluster (which nodeadm asks for {', '.join(missing)}) needs boto3: install "
                "netcheck[aws]; without it, run reports these values as unknown (config.cluster.details).")
    more = " and the API endpoint's dns, reach and tls checks are added" if "endpoint" in missing else ""
    return (f"At run time netcheck asks eks:DescribeCluster for {', '.join(missing)} (and the remote networks), as "
            f"nodeadm does, if AWS credentials are present; with an answer, its values are used{more}; without "
            "one, config.cluster.details says why and the chain's issuer is checked instead of verified.")


def with_cluster_details(settings: Settings, lookup: ClusterLookup) -> Settings:
    """Fill what nodeadm fills from DescribeCluster (only fields the NodeConfig leaves empty) and say so."""
    from dataclasses import replace

    if lookup.status != "ok":
        return replace(settings, cluster_lookup=lookup)
    data = settings.profile.model_dump(by_alias=True, exclude_unset=True)
    spec = data.setdefault("spec", {})
    cluster = spec.setdefault("cluster", {})
    remote = spec.setdefault("remoteNetwork", {})
    origin = dict(settings.sources)
    nc = settings.nodeconfig
    raw = nc.config.spec.cluster if nc is not None and nc.config.spec and nc.config.spec.cluster else None
    given = {"endpoint": bool(raw and raw.apiServerEndpoint), "certificateAuthority": bool(nc and nc.ca_given),
             "serviceCidr": bool(raw and raw.cidr)}
    v = lookup.values
    for key in ("endpoint", "certificateAuthority", "serviceCidr", "endpointAccess"):
        if key in v and not cluster.get(key) and not given.get(key, False):
            cluster[key] = v[key]
            origin[key] = "describe-cluster"
    for key in ("nodeCidrs", "podCidrs"):
        if v.get(key) and not remote.get(key):
            remote[key] = list(v[key])
            origin[key] = "describe-cluster"
    try:
        profile = SiteProfile.model_validate(data)
    except ValidationError as exc:
        err = _validation_error("eks:DescribeCluster", exc, SiteProfile)
        from netcheck.aws import ClusterLookup as Lookup

        bad = Lookup("unavailable", f"eks:DescribeCluster answered, but its answer cannot be used: {err}",
                     None, lookup.values, lookup.api_url, lookup.seconds)
        return replace(settings, cluster_lookup=bad)
    return replace(settings, profile=profile, sources=origin, cluster_lookup=lookup)


def enrich_from_aws(settings: Settings, timeout: float) -> Settings:
    """At run time (never in `plan`): ask eks:DescribeCluster when nodeadm would, and merge the answer."""
    if not cluster_lookup_needed(settings):
        return settings
    from netcheck.aws import describe_cluster

    c = settings.spec.cluster
    assert c.region is not None and c.name is not None
    return with_cluster_details(settings, describe_cluster(c.region, c.name, timeout))
