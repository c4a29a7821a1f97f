"""nodeadm's NodeConfig (node.eks.aws/v1alpha1): load it as nodeadm loads it, and judge what it holds.

nodeadm reads `--config-source file://…` with a strict decoder (aws/eks-hybrid
internal/api/bridge/decode.go: sigs.k8s.io/yaml UnmarshalStrict into internal/api/types.go),
then, for a hybrid node, fills defaults and runs its config validator
(internal/node/hybrid/validator.go) before anything else. Both refusals stop `nodeadm init`
at once; netcheck refuses the same files (exit 2) with the same reason in its own words.

Everything nodeadm accepts but cannot use later (a CA that is not a certificate, an
endpoint that does not parse, a service CIDR that is not a CIDR, a bad `--node-ip`) is
loaded and kept as a finding: the report judges it, and every other check still runs.

What the decoder does, and netcheck copies:
- unknown fields anywhere in the typed part are refused; field names match case-insensitively
  (Go's encoding/json); numbers and booleans given for a text field become text;
- `certificateAuthority` is base64 (standard alphabet, padded; line breaks ignored);
- `kubelet.config` is any mapping (a KubeletConfiguration fragment), `containerd.config` TOML text;
- `apiVersion` and `kind` are not checked by the file loader (the user-data loader does check them).

Over 500 lines on purpose: it mirrors nodeadm's NodeConfig schema and its loaders one to one, so a
change in nodeadm is one diff against one file.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, ValidationError

from netcheck.platform import endpoint_region_problem, region_problem
from netcheck.settings.errors import ConfigError, _inner_model, _loc, _validation_error
from netcheck.settings.schema import NODECONFIG_API, PROFILE_API, split_hostport

NODECONFIG_KIND = "NodeConfig"
CA_FILE = "/etc/kubernetes/pki/ca.crt"  # where nodeadm writes spec.cluster.certificateAuthority
IAM_RA_DEFAULT_CERT = "/etc/iam/pki/server.pem"  # internal/node/hybrid/defaults.go
IAM_RA_DEFAULT_KEY = "/etc/iam/pki/server.key"
_SSM_ACTIVATION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SSM_ACTIVATION_CODE = re.compile(r"^.{20,250}$")  # Go regexp: '.' does not match a newline


def _go_text(value: Any) -> Any:
    """sigs.k8s.io/yaml turns a YAML number or boolean given for a text field into text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if -(1 << 63) <= value < (1 << 64):  # go-yaml: int64, then uint64, then float64
            return str(value)
        value = float(value)
    if isinstance(value, float):
        return _go_float32_g(value)
    if isinstance(value, datetime.date):  # go-yaml keeps timestamps as text when decoding into a map
        return value.isoformat()
    return value


def _go_float32_g(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 32), which sigs.k8s.io/yaml uses for a number given as text."""
    import math
    import struct

    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    def to_f32(v: float) -> float:
        try:
            return float(struct.unpack("f", struct.pack("f", v))[0])
        except OverflowError:  # beyond float32: Go's conversion gives ±Inf
            return math.copysign(math.inf, v)

    f32 = to_f32(value)
    if math.isinf(f32):
        return "+Inf" if f32 > 0 else "-Inf"
    if f32 == 0:
        return "0"
    for digits in range(1, 10):  # the shortest decimal that reads back as the same float32
        text = f"{f32:.{digits - 1}e}"
        if to_f32(float(text)) == f32:
            break
    exp = int(text.split("e")[1])
    if exp < -4 or exp >= 6:  # Go's %e/%f switch for the shortest form ('g' with precision 6)
        return text
    return f"{float(text):.{max(digits - 1 - exp, 0)}f}"


Text = Annotated[str | None, BeforeValidator(_go_text)]


class _Go(BaseModel):
    """A Go struct decoded strictly: unknown fields refused, null leaves the zero value.

    defer_build: the validators are built when a NodeConfig is first read, not when this module is
    imported (probes/config.py and probes/tls.py import Finding from here in every run).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, defer_build=True)


class NcObjectMeta(_Go):
    """metav1.ObjectMeta (metadata); nodeadm ignores it, the strict decoder still checks its names."""

    name: Text = None
    generateName: Text = None
    namespace: Text = None
    selfLink: Text = None
    uid: Text = None
    resourceVersion: Text = None
    generation: int | None = None
    creationTimestamp: Text = None
    deletionTimestamp: Text = None
    deletionGracePeriodSeconds: int | None = None
    labels: dict[str, Text] | None = None
    annotations: dict[str, Text] | None = None
    ownerReferences: list[dict[str, Any]] | None = None
    finalizers: list[Text] | None = None
    managedFields: list[dict[str, Any]] | None = None


class NcCluster(_Go):
    name: Text = None
    region: Text = None
    apiServerEndpoint: Text = None
    certificateAuthority: str | None = None  # []byte: base64 text, checked in _decode_ca
    cidr: Text = None
    enableOutpost: StrictBool | None = None
    id: Text = None


class NcKubelet(_Go):
    config: dict[str, Any] | None = None  # map[string]runtime.RawExtension
    flags: list[Text] | None = None


class NcContainerd(_Go):
    config: Text = None


class NcLocalStorage(_Go):
    strategy: Text = None  # RAID0 | Mount, not checked by the decoder


class NcInstance(_Go):
    localStorage: NcLocalStorage | None = None


class NcIamRolesAnywhere(_Go):
    nodeName: Text = None
    trustAnchorArn: Text = None
    profileArn: Text = None
    roleArn: Text = None
    awsConfigPath: Text = None
    certificatePath: Text = None
    privateKeyPath: Text = None


class NcSsm(_Go):
    activationCode: Text = None
    activationId: Text = None


class NcHybrid(_Go):
    enableCredentialsFile: StrictBool | None = None
    iamRolesAnywhere: NcIamRolesAnywhere | None = None
    ssm: NcSsm | None = None


class NcSpec(_Go):
    cluster: NcCluster | None = None
    containerd: NcContainerd | None = None
    instance: NcInstance | None = None
    kubelet: NcKubelet | None = None
    hybrid: NcHybrid | None = None


class NcStatusInstance(_Go):
    id: Text = None
    region: Text = None
    type: Text = None
    availabilityZone: Text = None
    mac: Text = None
    privateDnsName: Text = None


class NcStatusHybrid(_Go):
    nodeName: Text = None


class NcStatusDefault(_Go):
    sandboxImage: Text = None


class NcStatus(_Go):
    instance: NcStatusInstance | None = None
    hybrid: NcStatusHybrid | None = None
    default: NcStatusDefault | None = None


class NodeConfig(_Go):
    """internal/api.NodeConfig, the type nodeadm's file loader decodes into (it has `status`)."""

    apiVersion: Text = None
    kind: Text = None
    metadata: NcObjectMeta | None = None
    spec: NcSpec | None = None
    status: NcStatus | None = None


# --- what the file holds, judged -------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """A value nodeadm loads but the join cannot use: which field, what is wrong, how to fix it."""

    field: str
    problem: str
    remediation: str
    value: str | None = None


@dataclass(frozen=True)
class NodeConfigFile:
    """A loaded hybrid NodeConfig: the raw values, the usable ones, and what is wrong with the rest."""

    path: str
    config: NodeConfig
    name: str
    region: str | None  # a usable AWS Region code, else None
    endpoint: str | None  # usable https URL, else None
    ca_pem: str | None  # PEM of the certificate(s), else None
    ca_given: bool  # the field is present (nodeadm then does not ask DescribeCluster for it)
    service_cidr: str | None
    node_ip: str | None
    credentials: str  # ssm | iam-roles-anywhere
    findings: dict[str, Finding] = field(default_factory=dict)  # keyed by check subject
    notes: tuple[str, ...] = ()  # accepted as nodeadm does, worth a word

    @property
    def needs_cluster_details(self) -> bool:
        """nodeadm calls eks:DescribeCluster when any of endpoint, CA or CIDR is missing (configenricher.go)."""
        c = self.config.spec.cluster if self.config.spec and self.config.spec.cluster else NcCluster()
        return not c.apiServerEndpoint or c.certificateAuthority is None or not c.cidr


def _canonical_keys(data: Any, model: type[BaseModel]) -> Any:
    """Rename keys that match a field name case-insensitively, as Go's encoding/json matches them."""
    if not isinstance(data, dict):
        return data
    fields = model.model_fields
    lower = {name.lower(): name for name in fields}
    out: dict[Any, Any] = {}
    for key, value in data.items():
        name = key if key in fields else lower.get(str(key).lower(), key) if isinstance(key, str) else key
        inner = _inner_model(fields[name].annotation) if name in fields else None
        if inner is not None:
            value = _canonical_keys(value, inner)
        out[name] = value  # a later case variant wins, as in encoding/json
    return out


def decode_ca_field(value: str) -> bytes:
    """Decode certificateAuthority as Go's encoding/json decodes []byte; ValueError names the problem."""
    text = value.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        if "-----BEGIN" in value:
            raise ValueError("holds PEM text, but nodeadm reads this field as base64: encode the PEM with "
                             "base64 -w0 (as describe-cluster's certificateAuthority.data is)") from None
        bad = next((c for c in text if not (c.isalnum() and c.isascii()) and c not in "+/="), None)
        if bad is not None:
            raise ValueError(f"is not base64: it contains {bad!r}, which nodeadm's decoder refuses") from None
        raise ValueError("is not base64 (wrong length or padding); nodeadm's decoder refuses it") from None


def ca_problem(raw: bytes) -> str | None:
    """Why these CA bytes cannot verify the API server, or None if they hold a certificate."""
    from cryptography import x509

    if not raw.strip():
        return "is empty"
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        try:
            x509.load_der_x509_certificate(raw)
        except ValueError:
            return f"decodes to {len(raw)} bytes of binary data, not a PEM certificate"
        return "decodes to a DER certificate, but kubelet reads the CA file as PEM"
    if "-----BEGIN CERTIFICATE-----" not in text:
        shown = text.strip()[:40]
        return f"decodes to {len(raw)} bytes of text ({shown!r}), not a PEM certificate"
    try:
        x509.load_pem_x509_certificates(raw)
    except ValueError:
        return "decodes to a CERTIFICATE block that is not a valid X.509 certificate"
    return None


def endpoint_problem(value: str) -> str | None:
    """Why kubelet could not use this API server URL, or None."""
    v = value.strip()
    if not v:
        return "is empty"
    if v.lower().startswith("http://"):
        return f"{v!r} uses http://; the API server speaks https:// only, so kubelet cannot register"
    m = re.match(r"^https://([^/?#]+)/?$", v)
    if not m:
        return f"{v!r} is not an https:// URL with a host and no path"
    try:
        split_hostport(m.group(1), 443)
    except ValueError as exc:
        return f"{v!r}: {exc}"
    return None


def cidr_problem(value: str) -> str | None:
    try:
        ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        return f"{value!r} is not a CIDR ({exc}); nodeadm derives the cluster DNS address from it"
    return None


def _err(src: str, field_: str, problem: str) -> Exception:
    return ConfigError(src, field_, problem)


def _last_flag(flags: list[str], name: str) -> tuple[int, str] | None:
    """The last `--name=value` flag, as nodeadm's extractFlagValue reads it (index, value)."""
    found = None
    for i, flag in enumerate(flags):
        if flag.startswith(f"--{name}=") and len(flag) > len(name) + 3:
            found = (i, flag[len(name) + 3:])
    return found


def load(data: dict[str, Any], src: str, *, host_root: str = "/") -> NodeConfigFile:
    """Decode and validate as nodeadm does; ConfigError for what nodeadm refuses, findings for the rest.

    Files the NodeConfig names (the IAM Roles Anywhere certificate and key) are read below `host_root`."""
    if data.get("kind") == "SiteProfile" or data.get("apiVersion") == PROFILE_API:
        raise _err(src, "kind", "this is a netcheck SiteProfile; pass it with -c, not --nodeconfig")
    try:
        nc = NodeConfig.model_validate(_canonical_keys(data, NodeConfig))
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in ("bool_type", "bool_parsing"):
            raise _err(src, _loc(tuple(first["loc"])), f"must be true or false without quotes (got "
                       f"{first.get('input')!r}); nodeadm's strict decoder does not read text as a boolean") from None
        err = _validation_error(src, exc, NodeConfig)
        if err.field == "spec.featureGates":  # amazon-eks-ami's nodeadm has it; the hybrid one does not
            err = _err(src, err.field, "unknown field: the hybrid nodeadm has no spec.featureGates; kubelet "  # type: ignore[assignment]
                       "feature gates go in spec.kubelet.config.featureGates")
        if "nodeadm" not in err.problem:
            err = _err(src, err.field, err.problem + " (nodeadm's strict decoder refuses this file)")  # type: ignore[assignment]
        raise err from None
    spec = nc.spec or NcSpec()
    c = spec.cluster or NcCluster()
    ca_raw: bytes | None = None
    if c.certificateAuthority is not None:
        try:
            ca_raw = decode_ca_field(c.certificateAuthority)
        except ValueError as exc:
            raise _err(src, "spec.cluster.certificateAuthority", str(exc)) from None
    hybrid = spec.hybrid
    if hybrid is None:
        raise _err(src, "spec.hybrid", "this is not a hybrid-node NodeConfig: it has no spec.hybrid, so nodeadm "
                   "would set this host up as an EC2 node. netcheck judges hybrid nodes; add spec.hybrid with "
                   "ssm (activationCode, activationId) or iamRolesAnywhere settings.")
    flags = [f or "" for f in (spec.kubelet.flags if spec.kubelet and spec.kubelet.flags else [])]
    _validate_hybrid(src, c, hybrid, flags)
    return _judge(src, nc, c, hybrid, flags, ca_raw, host_root)


def _validate_hybrid(src: str, c: NcCluster, hybrid: NcHybrid, flags: list[str]) -> None:
    """internal/node/hybrid/validator.go: what nodeadm refuses before it does anything."""
    if not c.name:
        raise _err(src, "spec.cluster.name", "is required for a hybrid node (nodeadm: 'Name is missing in "
                   "cluster configuration')")
    if not c.region:
        raise _err(src, "spec.cluster.region", "is required for a hybrid node (nodeadm: 'Region is missing in "
                   "cluster configuration')")
    override = _last_flag(flags, "hostname-override")
    if override is not None:
        raise _err(src, f"spec.kubelet.flags[{override[0]}]", f"--hostname-override={override[1]}: nodeadm does "
                   "not allow a hostname override on hybrid nodes (the node name comes from SSM or nodeName)")
    ra, ssm = hybrid.iamRolesAnywhere, hybrid.ssm
    if ra is None and ssm is None:
        raise _err(src, "spec.hybrid", "needs ssm or iamRolesAnywhere; neither is set")
    if ra is not None and ssm is not None:
        raise _err(src, "spec.hybrid", "set only one of ssm and iamRolesAnywhere; both are set")
    if ra is not None:
        for key in ("roleArn", "profileArn", "trustAnchorArn", "nodeName"):
            if not getattr(ra, key):
                raise _err(src, f"spec.hybrid.iamRolesAnywhere.{key}", "is required for IAM Roles Anywhere")
        if len(ra.nodeName or "") > 64:
            raise _err(src, "spec.hybrid.iamRolesAnywhere.nodeName",
                       f"is {len(ra.nodeName or '')} characters; nodeadm allows at most 64")
    if ssm is not None:
        code, act_id = ssm.activationCode or "", ssm.activationId or ""
        if not code:
            raise _err(src, "spec.hybrid.ssm.activationCode", "is required for SSM")
        if not act_id:
            raise _err(src, "spec.hybrid.ssm.activationId", "is required for SSM")
        if not _SSM_ACTIVATION_CODE.match(code):
            raise _err(src, "spec.hybrid.ssm.activationCode",
                       f"is {len(code)} characters; an SSM activation code has 20 to 250 (on one line)")
        if not _SSM_ACTIVATION_ID.match(act_id):
            raise _err(src, "spec.hybrid.ssm.activationId",
                       f"{act_id!r} is not an SSM activation id (8-4-4-4-12 lower-case hex)")


def node_ip_from_flags(flags: list[str], src: str) -> str | None:
    """The IPv4 address in kubelet `--node-ip`, if any; IPv6 is refused as nodeadm refuses it.

    The last `--node-ip` wins, as in nodeadm's ExtractFlagValue (and in the kubelet's own flag
    parsing); the `--node-ip VALUE` forms are read too, though nodeadm itself only reads `=`.
    """
    found: tuple[str, int] | None = None
    for i, raw in enumerate(flags):
        flag = raw.strip()
        if flag.startswith("--node-ip="):
            found = flag.removeprefix("--node-ip="), i
        elif flag == "--node-ip":
            if i + 1 >= len(flags):
                raise ConfigError(src, f"spec.kubelet.flags[{i}]", "--node-ip has no value")
            found = flags[i + 1], i + 1
        elif flag.split()[:1] == ["--node-ip"]:
            found = flag.split(None, 1)[1], i
    if found is not None:
        value, at = found
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


def _judge(src: str, nc: NodeConfig, c: NcCluster, hybrid: NcHybrid, flags: list[str],
           ca_raw: bytes | None, host_root: str) -> NodeConfigFile:
    """Keep what can be used; turn what cannot into findings (each becomes a check in the report)."""
    findings: dict[str, Finding] = {}
    notes: list[str] = []
    if (nc.apiVersion, nc.kind) != (NODECONFIG_API, NODECONFIG_KIND):
        findings["api-version"] = Finding(
            "apiVersion", f"apiVersion {nc.apiVersion!r} and kind {nc.kind!r} are not {NODECONFIG_API!r} and "
            f"{NODECONFIG_KIND!r}; nodeadm's file loader does not check them, but its user-data loader refuses "
            "the document", f"Set apiVersion: {NODECONFIG_API} and kind: {NODECONFIG_KIND}.",
            f"{nc.apiVersion}/{nc.kind}")
    region: str | None = str(c.region).strip()
    if (why := region_problem(region or "")) is not None:
        findings["region"] = Finding(
            "spec.cluster.region", f"{why}; nodeadm loads it, but its AWS calls (credentials, eks:DescribeCluster, "
            "image pulls) then go to hosts that do not exist",
            "Set the cluster's Region code (aws eks describe-cluster … --query cluster.arn shows it).", c.region)
        region = None
    elif c.apiServerEndpoint and (why := endpoint_region_problem(region or "", c.apiServerEndpoint)) is not None:
        findings["region"] = Finding(
            "spec.cluster.region", why, "Set spec.cluster.region to the Region in the endpoint's name, or the "
            "endpoint to this Region's cluster (aws eks describe-cluster --query cluster.endpoint).", c.region)
        region = None
    endpoint = c.apiServerEndpoint or None
    if endpoint is not None and (why := endpoint_problem(endpoint)):
        findings["endpoint"] = Finding(
            "spec.cluster.apiServerEndpoint", why,
            "Set it to the cluster endpoint (aws eks describe-cluster --name NAME --query cluster.endpoint), "
            "or remove it so nodeadm reads it with eks:DescribeCluster.", endpoint)
        endpoint = None
    ca_pem = None
    if ca_raw is not None:
        why = ca_problem(ca_raw)
        if why is None:
            ca_pem = ca_raw.decode("ascii")
        else:
            findings["ca"] = Finding(
                "spec.cluster.certificateAuthority",
                f"{why}; nodeadm writes these bytes to {CA_FILE} unchecked, and kubelet then cannot verify the "
                "API server, so the node does not join",
                "Set it to the cluster CA exactly as describe-cluster gives it (aws eks describe-cluster --name "
                f"{c.name} --region {c.region} --query cluster.certificateAuthority.data --output text), or "
                "remove the field so nodeadm fetches it with eks:DescribeCluster.",
                (c.certificateAuthority or '""')[:60])
    cidr = c.cidr or None
    if cidr is not None and (why := cidr_problem(cidr)):
        findings["service-cidr"] = Finding(
            "spec.cluster.cidr", why,
            "Set it to the cluster's service CIDR (describe-cluster kubernetesNetworkConfig.serviceIpv4Cidr), "
            "or remove it so nodeadm reads it with eks:DescribeCluster.", cidr)
        cidr = None
    node_ip = None
    try:
        node_ip = node_ip_from_flags(flags, src)
    except ConfigError as exc:
        findings["node-ip"] = Finding(exc.field, exc.problem + "; nodeadm's node-ip validation stops init",
                                      "Give one IPv4 address of this host: --node-ip=A.B.C.D.", None)
    if node_ip is not None and (why := _node_ip_problem(node_ip)) is not None:
        at = _last_flag(flags, "node-ip")
        findings["node-ip"] = Finding(
            f"spec.kubelet.flags[{at[0] if at else 0}]", why,
            "Give this host's address inside the cluster's remote node network (an RFC 1918 address): "
            "--node-ip=A.B.C.D.", node_ip)
    ra = hybrid.iamRolesAnywhere
    if ra is not None:
        cert = ra.certificatePath or IAM_RA_DEFAULT_CERT
        key = ra.privateKeyPath or IAM_RA_DEFAULT_KEY
        if (files := _iam_ra_files_problem(cert, key, host_root)) is not None:
            findings["iam-roles-anywhere"] = Finding(
                files[0], files[1], "Put the IAM Roles Anywhere certificate and key on this node before nodeadm "
                "init (https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-creds.html), or set "
                "certificatePath/privateKeyPath to where they are.", files[2])
    if c.enableOutpost:
        notes.append("spec.cluster.enableOutpost is set; nodeadm ignores it for hybrid nodes")
    return NodeConfigFile(
        path=src, config=nc, name=str(c.name), region=region, endpoint=endpoint, ca_pem=ca_pem,
        ca_given=ca_raw is not None, service_cidr=str(ipaddress.ip_network(cidr.strip())) if cidr else None,
        node_ip=node_ip, credentials="iam-roles-anywhere" if ra is not None else "ssm", findings=findings,
        notes=tuple(notes))


_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _node_ip_problem(ip: str) -> str | None:
    """A --node-ip that no remote node network can hold: those networks are IPv4 RFC 1918 (EKS
    RemoteNodeNetwork), so nodeadm's node-ip validation (internal/network/utils.go
    ValidateIPInRemoteNodeNetwork) refuses it whatever the cluster's CIDRs are."""
    addr = ipaddress.IPv4Address(ip)
    if any(addr in n for n in _RFC1918):
        return None
    return (f"--node-ip={ip} is outside RFC 1918 (10/8, 172.16/12, 192.168/16); a cluster's remote node networks "
            "must be RFC 1918, so nodeadm init stops with 'node IP … is not in any of the remote network CIDR "
            "blocks' whatever the cluster's CIDRs are")


IAM_RA_MAX_BYTES = 1 << 20  # a certificate chain or key file is a few KiB


def _read_credential_file(path: str, what: str, root: str) -> tuple[bytes | None, str]:
    """(bytes, "") or (None, why): bounded and from a regular file only (netcheck.safeio.read_limited), so
    /dev/zero cannot fill memory and a FIFO cannot hang the run. `path` is as on the host, read below `root`."""
    from netcheck.net.host import host_path
    from netcheck.safeio import FileProblem, read_limited

    try:
        return read_limited(host_path(root, path), IAM_RA_MAX_BYTES, what), ""
    except FileProblem as exc:
        why = str(exc).split(": ", 1)[-1]
        return None, why


def _iam_ra_files_problem(cert: str, key: str, root: str) -> tuple[str, str, str] | None:
    """nodeadm refuses to init when the IAM Roles Anywhere certificate or key is missing, unreadable, expired
    or not yet valid (internal/node/hybrid/validator.go validateRolesAnywhereNode)."""
    from cryptography import x509

    cert_field = "spec.hybrid.iamRolesAnywhere.certificatePath"
    key_field = "spec.hybrid.iamRolesAnywhere.privateKeyPath"
    raw, why = _read_credential_file(cert, "certificate", root)
    if raw is None:
        if why == "file not found":
            return cert_field, f"the certificate {cert} is not on this host; nodeadm init stops when it is missing", cert
        return cert_field, f"the certificate {cert} cannot be used: {why}", cert
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        return cert_field, f"{cert} holds no valid PEM certificate; nodeadm init stops on it", cert
    now = datetime.datetime.now(datetime.UTC)
    leaf = certs[0]
    if leaf.not_valid_after_utc < now:
        return cert_field, f"the certificate {cert} expired on {leaf.not_valid_after_utc:%Y-%m-%d}", cert
    if leaf.not_valid_before_utc > now:
        return cert_field, (f"the certificate {cert} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} "
                            "UTC; this host's clock may be behind"), cert
    key_raw, why = _read_credential_file(key, "private key", root)
    if key_raw is None:
        if why == "file not found":
            return key_field, f"the private key {key} is not on this host; nodeadm init stops when it is missing", key
        return key_field, f"the private key {key} cannot be used: {why}", key
    if b"PRIVATE KEY-----" not in key_raw:
        return key_field, (f"{key} holds no PEM private key; the IAM Roles Anywhere signing helper cannot sign "
                           "with it"), key
    return None
