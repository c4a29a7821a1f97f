"""docs/profile.md, generated from the site profile schema (netcheck/settings/schema.py).

Field names, types and defaults come from the pydantic models; what each field means, an example
value and the checks it enables are in FIELD_DOCS below. A test keeps docs/profile.md equal to
`python -m netcheck.profiledoc` and FIELD_DOCS in step with the schema: a field added to the schema
without a line here, or a line for a field that is gone, fails it.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from netcheck.settings import SiteProfile

# path: (what it means, an example value, check-id patterns it enables or changes)
FIELD_DOCS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "apiVersion": ("Profile format version.", "netcheck/v1", ()),
    "kind": ("Always SiteProfile.", "SiteProfile", ()),
    "metadata": ("Names the site.", "", ()),
    "metadata.name": ("Site name, shown in every report.", "dc1-rack4", ()),
    "metadata.labels": ("Labels put on every Prometheus metric and in the JSON report.", "{site: dc1, link: dx}", ()),
    "spec": ("What the site looks like and what to check.", "", ()),
    "spec.phase": ("Which host is judged: before `nodeadm init`, or a joined node; `auto` detects it. `--phase` wins.",
                   "pre-join", ()),
    "spec.cluster": ("The EKS cluster the node joins (a NodeConfig given with `--nodeconfig` fills it).", "", ()),
    "spec.cluster.name": ("Cluster name.", "prod", ("config.cluster.details",)),
    "spec.cluster.region": ("AWS Region of the cluster: picks the partition and every AWS service name checked.",
                            "us-west-2", ("dns.*.resolve", "reach.*.tcp-*", "tls.*.handshake", "proxy.*.connect")),
    "spec.cluster.endpoint": ("Kubernetes API endpoint (https://, no path).",
                              "https://ABC.gr7.us-west-2.eks.amazonaws.com",
                              ("dns.eks-api.endpoint-access", "tls.eks-api.ca", "tls.eks-api.livez")),
    "spec.cluster.certificateAuthority": ("Cluster CA, PEM or base64 of it (as in a NodeConfig); verifies the API "
                                          "server's chain.", "LS0tLS1CRUdJTi...", ("tls.eks-api.ca",)),
    "spec.cluster.serviceCidr": ("Kubernetes service CIDR; unset: both EKS defaults are checked and `plan` says "
                                 "which EKS would pick.", "172.20.0.0/16", ("cidr.service.range", "cidr.overlap.*")),
    "spec.cluster.endpointAccess": ("Cluster endpoint access: decides which addresses the API name must resolve to.",
                                    "private", ("dns.eks-api.endpoint-access",)),
    "spec.cluster.controlPlaneIps": ("EKS cluster ENI IPs in the VPC (private access, kubelet/webhook traffic).",
                                     "[10.20.1.10]", ("reach.control-plane.*.tcp-*", "routing.control-plane.*")),
    "spec.credentials": ("Node credential provider, as in `nodeadm init`.", "ssm", ("reach.*.tcp-*",)),
    "spec.vpc": ("The cluster's VPC.", "", ()),
    "spec.vpc.cidrs": ("VPC CIDRs: must not overlap the node, pod or service CIDRs; the node routes them.",
                       "[10.20.0.0/16]", ("cidr.overlap.*", "routing.vpc.*")),
    "spec.vpc.describe": ("JSON exported with the AWS CLI, read instead of calling AWS (paths relative to the "
                          "profile).", "", ("vpc.describe",)),
    "spec.vpc.describe.cluster": ("`aws eks describe-cluster` output.", "cluster.json", ("vpc.cluster.*",)),
    "spec.vpc.describe.routeTables": ("`aws ec2 describe-route-tables` output.", "routes.json", ("vpc.routes.*",)),
    "spec.vpc.describe.securityGroups": ("`aws ec2 describe-security-groups` output.", "sgs.json", ("vpc.sg.*",)),
    "spec.vpc.describe.subnets": ("`aws ec2 describe-subnets` output.", "subnets.json", ("vpc.routes.*",)),
    "spec.vpc.fromApi": ("Read the VPC through boto3 (netcheck[aws]) instead of exported JSON.", "true",
                         ("vpc.describe",)),
    "spec.remoteNetwork": ("The cluster's remote node and pod networks (on-premises).", "", ()),
    "spec.remoteNetwork.nodeCidrs": ("Remote node networks: the node's IP must be in one.", "[192.168.50.0/24]",
                                     ("cidr.node.*", "cidr.node-ip.in-node-cidr", "cidr.overlap.*")),
    "spec.remoteNetwork.podCidrs": ("Remote pod networks (the CNI's pool).", "[192.168.64.0/18]",
                                    ("cidr.pod.*", "cidr.overlap.*", "inbound.pod-network")),
    "spec.cni": ("The site's CNI: ports between nodes, encapsulation overhead, pod routing.", "", ()),
    "spec.cni.plugin": ("CNI plugin.", "cilium", ("cni.*.udp-*", "cni.*.tcp-*", "mtu.cni")),
    "spec.cni.mode": ("Data path; unset: the plugin's default (cilium vxlan, calico ipip).", "vxlan",
                      ("cni.*.udp-*", "cni.*.ipip", "mtu.cni")),
    "spec.cni.wireguard": ("Transparent WireGuard encryption; unset: off.", "false", ("cni.*.udp-*", "mtu.cni")),
    "spec.cni.typha": ("Calico only: Typha deployed; unset: yes (the Tigera operator runs it).", "true",
                       ("cni.*.tcp-*",)),
    "spec.cni.encapsulation": ("Older spelling of `mode` (plus `wireguard`, `none`); prefer `mode`.", "vxlan",
                               ("mtu.cni",)),
    "spec.peers": ("Other hybrid nodes: the CNI's node-to-node ports are checked towards them.", "[192.168.50.11]",
                   ("cni.*.udp-*", "cni.*.tcp-*", "cni.*.ipip")),
    "spec.responder": ("`netcheck serve` in the VPC (host:port): UDP echo, connect-back, bandwidth.",
                       "10.20.1.10:7447", ("latency.rtt.*", "mtu.path.*", "inbound.kubelet.tcp-*", "bandwidth.*")),
    "spec.bandwidth": ("Throughput test to the VPC.", "", ()),
    "spec.bandwidth.server": ("iperf3 server or responder (host:port); unset: the responder.", "10.20.1.10:5201",
                              ("bandwidth.upload.*", "bandwidth.download.*")),
    "spec.bandwidth.seconds": ("Seconds per direction.", "5", ("bandwidth.*",)),
    "spec.bandwidth.streams": ("Parallel TCP streams.", "4", ("bandwidth.*",)),
    "spec.bandwidth.reverse": ("Also measure download (VPC to node).", "true", ("bandwidth.download.*",)),
    "spec.dns": ("Name resolution.", "", ()),
    "spec.dns.servers": ("Resolvers to ask (IP or host:port); empty: the system resolver.", "[10.0.0.2]",
                         ("dns.*.resolve",)),
    "spec.dns.timeout": ("One lookup's budget in seconds, retries included.", "5", ("dns.*.resolve",)),
    "spec.dns.vpcCoreDns": ("CoreDNS addresses in the VPC that pods on hybrid nodes use (mixed mode); empty: none.",
                            "[10.20.5.10]", ("dns.coredns.*",)),
    "spec.endpoints": ("Extra targets the node needs (registries, proxies, repositories).", "", ()),
    "spec.endpoints[].host": ("Host name or IP.", "registry.example.internal", ("dns.*.resolve", "reach.*.tcp-*")),
    "spec.endpoints[].port": ("TCP port.", "443", ("reach.*.tcp-*",)),
    "spec.endpoints[].tls": ("Also check the TLS handshake.", "true", ("tls.*.handshake",)),
    "spec.endpoints[].required": ("A failure is NO-GO (false: advisory).", "true", ()),
    "spec.thresholds": ("Limits the measurements are judged against.", "", ()),
    "spec.thresholds.bandwidthMbps": ("Least throughput, Mbit/s.", "100", ("bandwidth.*",)),
    "spec.thresholds.rttMs": ("Most round-trip time, ms.", "200", ("latency.rtt.*",)),
    "spec.thresholds.lossPct": ("Most packet loss, %.", "1", ("latency.rtt.*",)),
    "spec.thresholds.jitterMs": ("Most jitter, ms.", "30", ("latency.rtt.*",)),
    "spec.thresholds.clockWarnS": ("Clock offset that warns, s.", "2", ("clock.*",)),
    "spec.thresholds.clockFailS": ("Clock offset that fails, s.", "300", ("clock.*",)),
    "spec.checks": ("Check selection by id pattern (glob or prefix).", "", ()),
    "spec.checks.skip": ("Checks not to run.", "[bandwidth]", ()),
    "spec.checks.advisory": ("Checks whose failure only warns.", "[latency.*]", ()),
    "spec.features": ("Optional services whose endpoints become required when used.", "", ()),
    "spec.features.podIdentity": ("EKS Pod Identity.", "false", ("reach.*.tcp-*",)),
    "spec.features.irsa": ("IAM roles for service accounts (STS).", "false", ("reach.*.tcp-*",)),
    "spec.features.cloudwatch": ("CloudWatch logs and metrics.", "false", ("reach.*.tcp-*",)),
    "spec.features.sessionManager": ("SSM Session Manager.", "false", ("reach.*.tcp-*",)),
    "spec.features.install": ("`nodeadm install` still has to download its artifacts.", "true",
                              ("reach.*.tcp-*", "dns.*.resolve")),
    "spec.aws": ("Where AWS service endpoints live (derived from the Region's partition; these override it).", "",
                 ()),
    "spec.aws.domain": ("Every AWS name under this domain (labs, stand-ins); unset: the partition's.",
                        "aws.example.internal", ("dns.*.resolve",)),
    "spec.aws.servicePort": ("Port of every AWS service endpoint.", "443", ("reach.*.tcp-*",)),
    "spec.aws.mirror": ("The site's nodeadm mirror (private install: https://, http:// or file:// URL), checked "
                        "instead of the public hybrid-assets host and SSM installer bucket.",
                        "https://mirror.example.internal/eks-hybrid", ("reach.*.tcp-*",)),
    "spec.aws.ecrAccount": ("Account of the ECR registry nodes pull from (12 digits); unset: the Region's EKS "
                            "registry.", "602401143452", ("reach.*.tcp-*",)),
    "spec.aws.installRegion": ("`nodeadm install --region`; unset: us-west-2 (nodeadm's default).", "eu-west-1",
                               ("reach.*.tcp-*",)),
    "spec.latency": ("Round-trip measurement.", "", ()),
    "spec.latency.samples": ("Probes per target.", "20", ("latency.rtt.*",)),
    "spec.latency.interval": ("Seconds between probes.", "0.05", ("latency.rtt.*",)),
    "spec.latency.regions": ("Candidate Regions for latency.region.closest and `netcheck regions`; empty: every "
                             "Region of the partition.", "[us-west-2, us-east-1]", ("latency.region.closest",)),
    "spec.latency.targets": ("Extra hosts to measure; empty: control-plane IPs and the responder.", "[10.20.1.10]",
                             ("latency.rtt.*",)),
    "spec.node": ("This node.", "", ()),
    "spec.node.ip": ("The IP the kubelet will report (`--node-ip`; IPv4 only).", "192.168.50.10",
                     ("cidr.node-ip.in-node-cidr",)),
    "spec.node.interface": ("Interface to judge (MTU, routes); unset: the one routing to the VPC.", "eth0",
                            ("mtu.path.*", "routing.vpc.*")),
    "spec.node.name": ("IAM Roles Anywhere node name; without `--node-ip` the kubelet resolves it.", "node-07",
                       ("config.nodeconfig.*",)),
    "spec.ntp": ("Time sources.", "", ()),
    "spec.ntp.servers": ("NTP servers (host or host:port); empty: the ones the host's chrony/timesyncd uses.",
                         "[169.254.169.123]", ("clock.ntp.offset",)),
    "spec.webhookPorts": ("Ports of admission webhooks that run on hybrid nodes (control plane to node).", "[9443]",
                          ("inbound.webhook.tcp-*",)),
    "spec.inbound": ("Control plane to node checks (kubelet, pod network); need the responder.", "", ()),
    "spec.inbound.kubeletPort": ("Kubelet port.", "10250", ("inbound.kubelet.tcp-*", "firewall.local.*")),
    "spec.inbound.podAddress": ("An address from the pod CIDR netcheck may use for the test.", "192.168.64.10",
                                ("inbound.pod-network",)),
    "spec.inbound.listenTimeout": ("Seconds to wait for the connect-back.", "5", ("inbound.*",)),
    "spec.mtu": ("Path MTU discovery.", "", ()),
    "spec.mtu.targets": ("Hosts to probe; empty: control-plane IPs and the responder.", "[10.20.1.10]",
                         ("mtu.path.*",)),
    "spec.mtu.max": ("Largest MTU to try.", "9001", ("mtu.path.*", "mtu.cni")),
}

HEADER = """# Site profile reference

Every field of a site profile (`netcheck run -c FILE`), generated from the schema by
`python -m netcheck.profiledoc > docs/profile.md` (do not edit by hand; a test keeps it current).
Field names are camelCase as written in YAML; values merge as defaults < file < `NETCHECK_*`
environment < flags, and a NodeConfig (`--nodeconfig`) fills `spec.cluster` and `spec.credentials`.
"Checks" lists the check ids (see docs/checks.md) that a field enables or changes.

Start from `netcheck init` (a commented profile for your answers), check a profile with
`netcheck validate -c FILE [--nodeconfig FILE]` (nothing is sent), and see what would run with
`netcheck plan -c FILE`.
"""


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model inside an annotation (Model, Model | None, list[Model]) and whether it is a list."""
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    is_list = typing.get_origin(annotation) is list
    for a in args:
        m, _ = _model_of(a)
        if m is not None:
            return m, is_list
    return None, False


_VALUE_TYPES = {"_cidr": "CIDR", "_ipv4": "IPv4 address", "_ip": "IP address", "_host": "host",
                "_hostport": "host:port", "_region": "Region"}


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:  # the schema's value types: Cidr, IP, Host, HostPort, Region...
        for meta in args[1:]:
            label = _VALUE_TYPES.get(getattr(getattr(meta, "func", None), "__name__", ""))
            if label:
                return label
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(parts)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
        getattr(annotation, "__name__", str(annotation)), str(annotation))


def _bounds(info: FieldInfo) -> str:
    out = []
    for meta in info.metadata:
        for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            v = getattr(meta, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
        if getattr(meta, "pattern", None):
            out.append(f"pattern `{meta.pattern}`")
    return f" ({', '.join(out)})" if out else ""


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default
    if value is PydanticUndefined or value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return ""
    return f"`{json.dumps(value)}`"


def fields(model: type[BaseModel] = SiteProfile, prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every field of the profile schema as (YAML path, pydantic field), depth first in schema order."""
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        yield path, info
        sub, is_list = _model_of(info.annotation)
        if sub is not None:
            yield from fields(sub, path + ("[]." if is_list else "."))


def markdown() -> str:
    lines = [HEADER, "| field | type | default | what it means | example | checks |", "|---|---|---|---|---|---|"]
    for path, info in fields():
        what, example, checks = FIELD_DOCS.get(path, ("(undocumented)", "", ()))
        sub, is_list = _model_of(info.annotation)
        kind = ("list of objects" if is_list else "object") if sub is not None else _type_name(info.annotation)
        depth = path.count(".")
        shown = f"{'&nbsp;' * 2 * depth}`{path.rsplit('.', 1)[-1] if depth else path}`"
        lines.append(f"| {shown} | {kind}{_bounds(info)} | {_default(info)} | {what} | "
                     f"{f'`{example}`' if example else ''} | {', '.join(f'`{c}`' for c in checks)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
