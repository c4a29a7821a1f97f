"""`netcheck init` (a commented starting profile for a few answers) and `netcheck validate` (load and merge
a profile and NodeConfig, say what the run would assume; nothing is sent).

The CLI only registers the commands; the text is made here so it can be tested without a terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from netcheck.settings import Settings


@dataclass(frozen=True)
class Answers:
    """What `netcheck init` asks for, as flags; None leaves the field out (with a comment saying so)."""

    name: str = "my-site"
    cluster: str | None = None
    region: str | None = None
    endpoint_access: str | None = None  # public | private | public-and-private
    credentials: str | None = None  # ssm | iam-roles-anywhere
    cni: str = "cilium"  # cilium | calico | none
    cni_mode: str | None = None  # vxlan | geneve | native | ipip | bgp
    proxy: str | None = None  # https://proxy.internal:3128 (goes to HTTPS_PROXY, not the profile)
    vpc_cidrs: tuple[str, ...] = ()
    node_cidrs: tuple[str, ...] = ()
    pod_cidrs: tuple[str, ...] = ()
    responder: str | None = None


def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML string, quoted safely


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _opt(key: str, value: str | None, comment: str, indent: int, example: str) -> list[str]:
    pad = " " * indent
    if value is None:
        return [f"{pad}# {key}: {example}   # {comment}"]
    return [f"{pad}{key}: {value}   # {comment}"]


def _section(header: str, children: list[str]) -> list[str]:
    """`key:` over its children; `key: {}` when every child is commented out (a bare `key:` would be null)."""
    if all(c.lstrip().startswith("#") for c in children):
        return [f"{header} {{}}", *children]
    return [header, *children]


def profile_text(a: Answers) -> str:
    """The profile as commented YAML. Raises ConfigError (netcheck.settings) when an answer is not valid (checked by the schema)."""
    lines = [
        "# netcheck site profile, written by `netcheck init`. Every field: docs/profile.md.",
        "# Check it with `netcheck validate -c FILE`, see what would run with `netcheck plan -c FILE`,",
        "# then `netcheck run -c FILE` on a node (or a host in the node subnet).",
        "apiVersion: netcheck/v1",
        "kind: SiteProfile",
        "metadata:",
        f"  name: {_q(a.name)}",
        "spec:",
    ]
    cluster = _opt("name", _q(a.cluster) if a.cluster else None, "EKS cluster name", 4, '"prod"')
    cluster += _opt("region", _q(a.region) if a.region else None,
                    "AWS Region: picks the partition and every AWS name checked", 4, '"us-west-2"')
    cluster += _opt("endpointAccess", _q(a.endpoint_access) if a.endpoint_access else None,
                    "public | private | public-and-private", 4, '"private"')
    cluster += ["    # endpoint: https://ABC.gr7.us-west-2.eks.amazonaws.com   # or give --nodeconfig; "
                "without either, `run` asks eks:DescribeCluster",
                "    # serviceCidr: 172.20.0.0/16   # unset: both EKS defaults are checked (`plan` says which EKS "
                "would pick)",
                "    # controlPlaneIps: [10.20.1.10]   # the cluster's ENI IPs in the VPC"]
    lines += _section("  cluster:", cluster)
    lines += _opt("credentials", _q(a.credentials) if a.credentials else None,
                  "ssm | iam-roles-anywhere (as in nodeadm's NodeConfig)", 2, '"ssm"')
    lines += _section("  vpc:", _opt("cidrs", _list(a.vpc_cidrs) if a.vpc_cidrs else None,
                                     "the cluster VPC's CIDRs", 4, '["10.20.0.0/16"]'))
    lines += _section("  remoteNetwork:", [
        *_opt("nodeCidrs", _list(a.node_cidrs) if a.node_cidrs else None, "on-premises node networks", 4,
              '["192.168.50.0/24"]'),
        *_opt("podCidrs", _list(a.pod_cidrs) if a.pod_cidrs else None, "the CNI's pod networks", 4,
              '["192.168.64.0/18"]')])
    lines += ["  cni:", f"    plugin: {_q(a.cni)}   # cilium | calico | none"]
    lines += _opt("mode", _q(a.cni_mode) if a.cni_mode else None,
                  "vxlan | geneve | native (cilium); vxlan | ipip | bgp (calico); unset: the plugin's default", 4,
                  '"vxlan"')
    lines += _opt("responder", _q(a.responder) if a.responder else None,
                  "`netcheck serve` in the VPC: latency, MTU, bandwidth and inbound checks", 2, '"10.20.1.10:7447"')
    lines += ["  # peers: [192.168.50.11]   # other hybrid nodes: the CNI's node-to-node ports",
              "  # thresholds: {bandwidthMbps: 100, rttMs: 200, lossPct: 1, jitterMs: 30}"]
    if a.proxy:
        no_proxy = [*a.vpc_cidrs, *a.node_cidrs, *a.pod_cidrs, "localhost", "127.0.0.1", ".svc", ".cluster.local"]
        lines += ["# Proxy: nodeadm, containerd and the kubelet take it from the environment, and so does netcheck:",
                  f"#   export HTTPS_PROXY={a.proxy}",
                  f"#   export NO_PROXY={','.join(no_proxy)}   # plus the service CIDR",
                  "# (`proxy.*` checks then test the proxy and whether NO_PROXY exempts the cluster's own networks)"]
    text = "\n".join(lines) + "\n"
    _validate_text(text)
    return text


def _validate_text(text: str) -> None:
    from netcheck.settings import profile_from_data
    from netcheck.settings.loading import parse_yaml

    profile_from_data(parse_yaml(text.encode(), "netcheck init"), "netcheck init")


def validate_summary(settings: Settings, check_count: int) -> list[str]:
    """What `netcheck validate` prints after a profile (and NodeConfig) loaded and merged without error."""
    from netcheck.plan import service_cidr_summary
    from netcheck.settings import cluster_lookup_note

    s = settings.spec
    lines = [f"valid: {settings.source}"]
    c = s.cluster
    lines.append(f"cluster: {c.name or '(no name)'} in {c.region or '(no Region)'}; endpoint "
                 f"{c.endpoint or '(none)'}; access {c.endpoint_access or '(unset)'}; credentials "
                 f"{s.credentials or '(unset)'}")
    lines.append(service_cidr_summary(settings))
    notes: list[str] = []
    if not c.region:
        notes.append("no Region: the AWS service endpoints are not planned (spec.cluster.region or --region)")
    if not s.responder:
        notes.append("no responder: latency, MTU, bandwidth and inbound checks have nothing in the VPC to measure "
                     "against (spec.responder: `netcheck serve` in the VPC)")
    if not s.remote_network.node_cidrs:
        notes.append("no remote node CIDRs: the node IP and overlap checks are limited (spec.remoteNetwork.nodeCidrs)")
    if note := cluster_lookup_note(settings):
        notes.append(note)
    lines += [f"note: {n}" for n in notes]
    lines.append(f"{check_count} checks would run (`netcheck plan` lists them); nothing was sent.")
    return lines

