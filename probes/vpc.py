"""VPC side of the hybrid network, from AWS CLI JSON exports or the AWS API (boto3).

Check ids (stable):
  vpc.describe                          no export and no API access configured (SKIP, says how)
  vpc.cluster.remote-network            remoteNetworkConfig node/pod CIDRs equal the profile's
  vpc.cluster.endpoint-access           endpoint mode; "public and private" breaks hybrid nodes
  vpc.cluster.ip-family                 the cluster is IPv4 (hybrid nodes need IPv4)
  vpc.routes.<cidr>                     every route table of the cluster's subnets sends the remote
                                        node/pod CIDR toward on-premises: TGW, VGW or Cloud WAN PASS; an
                                        instance ENI (hybrid nodes gateway), instance, Outposts LGW, GWLB
                                        endpoint or NAT gateway WARN (far side not in the export); IGW,
                                        peering, local, carrier gateway FAIL (ROUTE_TARGETS below)
                                        Pod CIDR routes and pod-CIDR SG rules are required only when the CNI
                                        mode routes pod IPs unmasqueraded or webhooks run on hybrid nodes
                                        (probes/cnimodel.py pod_routing); otherwise advisory, saying why.
  vpc.sg.ingress-tcp-443.<cidr>         cluster security groups admit TCP 443 from node/pod CIDRs
  vpc.sg.egress-tcp-<port>.<cidr>       ... and let the kubelet port out to node CIDRs and the
                                        webhook ports out to pod CIDRs
Rules from docs/reference/eks-hybrid-network-requirements.md §2 and §5.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netcheck.aws import EXPORT_COMMANDS, AwsInputError, AwsUnavailable, VpcDocuments
from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.settings import Settings, Thresholds
from probes import CheckKind, kind_in
from probes.base import MissingPrivilege, ProbeSkip
from probes.cnimodel import for_settings as cni_model
from probes.cnimodel import pod_routing

DOCS_NET = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html"
DOCS_CREATE = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-cluster-create.html"
MAX_LISTED = 5


@dataclass(frozen=True)
class Spec:
    rule: str  # describe | remote-network | endpoint-access | ip-family | routes | sg-ingress | sg-egress
    files: tuple[tuple[str, str], ...] = ()  # (cluster|subnets|routeTables|securityGroups, absolute path)
    from_api: bool = False
    region: str | None = None
    cluster_name: str | None = None
    cidr: str = ""
    group: str = ""  # node | pod
    port: int = 0
    node_cidrs: tuple[str, ...] = ()
    pod_cidrs: tuple[str, ...] = ()
    endpoint_access: str | None = None
    needed: bool = True  # pod CIDR rules: does the site's CNI mode (or a webhook) need them?
    why: str = ""  # the reason, either way


@dataclass(frozen=True)
class Evidence:
    docs: VpcDocuments


# --- plan --------------------------------------------------------------------------

def _base_dir(settings: Settings) -> Path:
    first = settings.source.split(" + ")[0]
    path = Path(first)
    return path.parent if path.suffix in (".yaml", ".yml", ".json") else Path.cwd()


CHECKS: tuple[CheckKind, ...] = (
    CheckKind('vpc.describe', 'The VPC configuration is available to check', Category.ROUTING,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
    CheckKind('vpc.cluster.*', "The cluster's endpoint access, IP family and remote networks suit hybrid nodes", Category.ROUTING,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-cluster-create.html'),
    CheckKind('vpc.routes.*', 'VPC route tables send a remote CIDR toward on-premises', Category.ROUTING,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
    CheckKind('vpc.sg.*', 'Cluster security groups allow a port to or from a remote CIDR', Category.ROUTING,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-networking.html'),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    rn = s.remote_network
    d = s.vpc.describe
    base = _base_dir(settings)
    files = tuple((k, str((base / v).resolve())) for k, v in
                  (("cluster", d.cluster), ("subnets", d.subnets), ("routeTables", d.route_tables),
                   ("securityGroups", d.security_groups)) if v) if d else ()
    common = {"files": files, "from_api": s.vpc.from_api, "region": s.cluster.region, "cluster_name": s.cluster.name,
              "node_cidrs": tuple(rn.node_cidrs), "pod_cidrs": tuple(rn.pod_cidrs),
              "endpoint_access": s.cluster.endpoint_access}

    def mk(cid: str, title: str, **kw: Any) -> Check:
        spec = Spec(**{**common, **kw})
        if not spec.needed:
            title += " (advisory: not needed for this CNI mode)"
        return kind_in(CHECKS, cid).check(cid, spec, probe="vpc", title=title, advisory=not spec.needed, timeout=25)

    # Pod CIDR rules are required only when pod IPs leave the node unmasqueraded or webhooks run there.
    route_need, route_why = pod_routing(settings)
    cni = cni_model(settings)
    if cni is not None and cni.routable_pods:
        sg_need, sg_why = True, f"{cni.name} does not masquerade pod traffic, so pods reach the API from pod IPs"
    elif cni is not None:
        sg_need, sg_why = False, f"{cni.name} masquerades pod traffic to the node IP, so pods reach the API from " \
                                 "the node CIDR"
    else:
        sg_need, sg_why = False, "no CNI is configured (spec.cni.plugin: none)"
    pod_route: dict[str, Any] = {"needed": route_need, "why": route_why}
    pod_sg: dict[str, Any] = {"needed": sg_need, "why": sg_why}

    if not files and not s.vpc.from_api:
        return [mk("vpc.describe", "The VPC configuration is available to check", rule="describe")]
    checks = [
        mk("vpc.cluster.remote-network", "The cluster's remote networks match the profile", rule="remote-network"),
        mk("vpc.cluster.endpoint-access", "The cluster endpoint access mode suits hybrid nodes",
           rule="endpoint-access"),
        mk("vpc.cluster.ip-family", "The cluster uses IPv4", rule="ip-family"),
    ]
    groups = [("node", c) for c in rn.node_cidrs] + [("pod", c) for c in rn.pod_cidrs]
    for group, cidr in groups:
        checks.append(mk(f"vpc.routes.{cidr}", f"VPC route tables send remote {group} CIDR {cidr} toward "
                         "on-premises", rule="routes", cidr=cidr, group=group,
                         **(pod_route if group == "pod" else {})))
    for group, cidr in groups:
        checks.append(mk(f"vpc.sg.ingress-tcp-443.{cidr}", f"Cluster security groups allow TCP 443 from {cidr}",
                         rule="sg-ingress", cidr=cidr, group=group, port=443, **(pod_sg if group == "pod" else {})))
    for cidr in rn.node_cidrs:
        port = s.inbound.kubelet_port
        checks.append(mk(f"vpc.sg.egress-tcp-{port}.{cidr}", f"Cluster security groups allow TCP {port} out to {cidr}",
                         rule="sg-egress", cidr=cidr, group="node", port=port))
    for cidr in rn.pod_cidrs:
        for port in s.webhook_ports:
            checks.append(mk(f"vpc.sg.egress-tcp-{port}.{cidr}",
                             f"Cluster security groups allow webhook TCP {port} out to {cidr}",
                             rule="sg-egress", cidr=cidr, group="pod", port=port))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def collect(spec: Spec, net: Net) -> Evidence:
    if spec.rule == "describe":
        raise ProbeSkip(SkipReason.NOT_APPLICABLE, "No VPC description is configured, so route tables and "
                        "security groups were not checked.",
                        "Export them with the AWS CLI and set spec.vpc.describe {cluster, subnets, routeTables, "
                        "securityGroups}: " + "; ".join(EXPORT_COMMANDS.values()) +
                        " — or set spec.vpc.fromApi: true with the netcheck[aws] extra and credentials.")
    if spec.files:
        try:
            docs = net.aws_vpc_exports(dict(spec.files))
        except AwsInputError as exc:
            raise ProbeSkip(SkipReason.NOT_APPLICABLE, f"The VPC export cannot be used: {exc}",
                            "Re-export the file with the AWS CLI (--output json).") from None
        return Evidence(docs)
    if not spec.region or not spec.cluster_name:
        raise ProbeSkip(SkipReason.NOT_APPLICABLE, "spec.vpc.fromApi needs the cluster name and region.",
                        "Set spec.cluster.name and spec.cluster.region (or pass --nodeconfig).")
    try:
        return Evidence(net.aws_vpc_documents(spec.region, spec.cluster_name))
    except AwsUnavailable as exc:
        if exc.privilege:
            raise MissingPrivilege(str(exc), exc.fix) from None
        raise ProbeSkip(SkipReason.DEPENDENCY, str(exc), exc.fix) from None


# --- evaluate (pure) -----------------------------------------------------------------

def _listing(items: list[str]) -> str:
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def _needs(what: str, doc: object) -> Outcome | None:
    if doc is None:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"The {what} export was not given.",
                            remediation=f"Export it: {EXPORT_COMMANDS[what]}, and set spec.vpc.describe.{what}.")
    return None


def _contains(outer: str, inner: str) -> bool:
    try:
        a, b = ipaddress.ip_network(outer, strict=False), ipaddress.ip_network(inner, strict=False)
    except ValueError:
        return False
    return a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    return _RULES[spec.rule](spec, ev.docs)


def _remote_network(spec: Spec, docs: VpcDocuments) -> Outcome:
    if (skip := _needs("cluster", docs.cluster)) is not None:
        return skip
    assert docs.cluster is not None
    rnc = docs.cluster.get("remoteNetworkConfig")
    name = docs.cluster.get("name", "the cluster")
    if not rnc:
        return Outcome(Status.FAIL, f"Cluster {name} has no remoteNetworkConfig, so it is not enabled for hybrid "
                       "nodes.", measured="none", threshold="remoteNetworkConfig set",
                       remediation="Create the cluster with --remote-network-config remoteNodeNetworks=[{cidrs=[...]}],"
                                   "remotePodNetworks=[{cidrs=[...]}] (or update-cluster-config).")
    have_node = [c for n in rnc.get("remoteNodeNetworks") or [] for c in n.get("cidrs") or []]
    have_pod = [c for n in rnc.get("remotePodNetworks") or [] for c in n.get("cidrs") or []]
    evidence = {"clusterNodeCidrs": have_node, "clusterPodCidrs": have_pod, "profileNodeCidrs": list(spec.node_cidrs),
                "profilePodCidrs": list(spec.pod_cidrs)}
    missing = [("node", c) for c in spec.node_cidrs if c not in have_node] + \
              [("pod", c) for c in spec.pod_cidrs if c not in have_pod]
    extra = [c for c in have_node if c not in spec.node_cidrs] + [c for c in have_pod if c not in spec.pod_cidrs]
    if missing:
        first = missing[0]
        return Outcome(Status.FAIL, f"Remote {first[0]} CIDR {first[1]} of the profile is not in cluster {name}'s "
                       f"remoteNetworkConfig (node: {_listing(have_node) or 'none'}; pod: {_listing(have_pod) or 'none'}).",
                       measured=_listing([c for _, c in missing]), threshold="every profile CIDR in the cluster",
                       remediation="Add the CIDRs with aws eks update-cluster-config --remote-network-config, or "
                                   "correct spec.remoteNetwork in the profile.", evidence=evidence)
    if extra:
        return Outcome(Status.WARN, f"Cluster {name} also lists {_listing(extra)}, which the profile does not; "
                       "those ranges were not checked.", measured=_listing(extra), threshold="same CIDRs",
                       remediation="Add the CIDRs to spec.remoteNetwork so every range is checked.", evidence=evidence)
    return Outcome(Status.PASS, f"Cluster {name}'s remoteNetworkConfig equals the profile "
                   f"(node {_listing(have_node)}; pod {_listing(have_pod) or 'none'}).", evidence=evidence)


def _endpoint_access(spec: Spec, docs: VpcDocuments) -> Outcome:
    if (skip := _needs("cluster", docs.cluster)) is not None:
        return skip
    assert docs.cluster is not None
    cfg = docs.cluster.get("resourcesVpcConfig") or {}
    pub, priv = bool(cfg.get("endpointPublicAccess", True)), bool(cfg.get("endpointPrivateAccess", False))
    mode = "public-and-private" if pub and priv else "private" if priv else "public"
    evidence = {"endpointPublicAccess": pub, "endpointPrivateAccess": priv, "mode": mode,
                "publicAccessCidrs": cfg.get("publicAccessCidrs")}
    if spec.endpoint_access and spec.endpoint_access != mode:
        return Outcome(Status.FAIL, f"The cluster endpoint is {mode}, but the profile says {spec.endpoint_access}; "
                       "DNS and reachability checks assumed the wrong mode.", measured=mode,
                       threshold=spec.endpoint_access,
                       remediation=f"Set spec.cluster.endpointAccess: {mode}, or change the cluster's endpoint access.",
                       evidence=evidence)
    if mode == "public-and-private":
        return Outcome(Status.WARN, "The cluster endpoint is public and private: hybrid nodes outside the VPC "
                       "resolve it to public IPs unless on-prem DNS forwards to a Route 53 inbound resolver.",
                       measured=mode, threshold="public or private",
                       remediation="Use Private (with DNS forwarding to the VPC) or Public endpoint access: aws eks "
                                   "update-cluster-config --resources-vpc-config endpointPublicAccess=...,"
                                   "endpointPrivateAccess=...", evidence=evidence)
    return Outcome(Status.PASS, f"The cluster endpoint access is {mode}.", measured=mode, evidence=evidence)


def _ip_family(spec: Spec, docs: VpcDocuments) -> Outcome:
    if (skip := _needs("cluster", docs.cluster)) is not None:
        return skip
    assert docs.cluster is not None
    family = (docs.cluster.get("kubernetesNetworkConfig") or {}).get("ipFamily", "ipv4")
    if family != "ipv4":
        return Outcome(Status.FAIL, f"The cluster's IP family is {family}; hybrid nodes need an IPv4 cluster.",
                       measured=family, threshold="ipv4",
                       remediation="Create the cluster with kubernetesNetworkConfig ipFamily=ipv4.",
                       evidence={"ipFamily": family})
    return Outcome(Status.PASS, "The cluster's IP family is ipv4.", measured=family, evidence={"ipFamily": family})


def cluster_route_tables(docs: VpcDocuments) -> list[tuple[dict[str, Any], list[str]]]:
    """(route table, the cluster subnets it serves): explicit associations, else the VPC's main table."""
    tables = docs.route_tables or []
    cfg = (docs.cluster or {}).get("resourcesVpcConfig") or {}
    subnets = list(cfg.get("subnetIds") or [s.get("SubnetId") for s in docs.subnets or []])
    vpc_id = cfg.get("vpcId")
    served: dict[str, list[str]] = {}
    by_id = {t.get("RouteTableId", "?"): t for t in tables}
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations") or [])
                 and (vpc_id is None or t.get("VpcId") == vpc_id)), None)
    for sub in subnets:
        table = next((t for t in tables if any(a.get("SubnetId") == sub for a in t.get("Associations") or [])), main)
        if table is not None:
            served.setdefault(table.get("RouteTableId", "?"), []).append(sub)
    if not subnets:  # no cluster document: judge every table in the export
        return [(t, []) for t in tables]
    return [(by_id[t], subs) for t, subs in served.items()]


def _best_route(table: dict[str, Any], cidr: str) -> dict[str, Any] | None:
    best: tuple[int, dict[str, Any]] | None = None
    for r in table.get("Routes") or []:
        dest = r.get("DestinationCidrBlock")
        if dest and _contains(dest, cidr):
            plen = int(dest.split("/")[1])
            if best is None or plen > best[0]:
                best = (plen, r)
    return best[1] if best else None


# Route targets as AWS allows them in a route table, and what each means for a remote CIDR:
# (route key, id prefix, kind, judgement, why). "ok": AWS's documented hybrid path; "unverified":
# a valid target whose far side (an instance's own routing, an appliance) the exports do not show;
# "wrong": cannot reach an on-premises private network.
ROUTE_TARGETS: tuple[tuple[str, str, str, str, str], ...] = (
    ("TransitGatewayId", "tgw-", "transit gateway", "ok", ""),
    ("GatewayId", "vgw-", "virtual private gateway", "ok", ""),
    ("CoreNetworkArn", "", "AWS Cloud WAN core network", "ok", ""),
    ("NetworkInterfaceId", "eni-", "network interface",
     "unverified", "an instance (such as the EKS Hybrid Nodes gateway or a router appliance) must forward it; "
     "its source/destination check, its own routes and its tunnel are not in the export"),
    ("InstanceId", "i-", "instance",
     "unverified", "the instance must forward it (source/destination check off, its own routes to on-premises)"),
    ("LocalGatewayId", "lgw-", "Outposts local gateway",
     "unverified", "the Outposts local gateway's on-premises network is not in the export"),
    ("VpcEndpointId", "vpce-", "Gateway Load Balancer endpoint",
     "unverified", "the inspection appliances behind the endpoint must send it on; their routes are not in the export"),
    ("NatGatewayId", "nat-", "NAT gateway",
     "unverified", "a private NAT gateway translates the source, so on-premises answers reach the NAT gateway, "
     "and the control plane's calls to nodes and pods cannot be told from the export to work"),
    ("GatewayId", "local", "the VPC itself", "wrong", "the CIDR overlaps the VPC"),
    ("GatewayId", "igw-", "internet gateway", "wrong", "an internet gateway does not route private addresses"),
    ("VpcPeeringConnectionId", "pcx-", "VPC peering connection",
     "wrong", "VPC peering does not carry traffic on to the peer VPC's VPN, Direct Connect or gateways "
     "(no edge-to-edge routing)"),
    ("CarrierGatewayId", "cagw-", "carrier gateway", "wrong", "a carrier gateway leads to a telecom network"),
    ("EgressOnlyInternetGatewayId", "eigw-", "egress-only internet gateway", "wrong", "it carries IPv6 only"),
)


def _target(route: dict[str, Any]) -> str:
    for key in ("TransitGatewayId", "GatewayId", "NatGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId",
                "InstanceId", "CoreNetworkArn", "LocalGatewayId", "CarrierGatewayId", "VpcEndpointId",
                "EgressOnlyInternetGatewayId"):
        if route.get(key):
            return str(route[key])
    return "?"


def classify(route: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, judgement ok|unverified|wrong, why) of a route's target."""
    for key, prefix, kind, judgement, why in ROUTE_TARGETS:
        value = str(route.get(key) or "")
        if value and value.startswith(prefix):
            return kind, judgement, why
    return "unknown target", "unverified", "netcheck does not know this target type"


def _routes(spec: Spec, docs: VpcDocuments) -> Outcome:
    if (skip := _needs("routeTables", docs.route_tables)) is not None:
        return skip
    tables = cluster_route_tables(docs)
    advisory = "" if spec.needed else f" Not required here: {spec.why}."
    if not tables:
        return Outcome(Status.FAIL, "No route table in the export serves the cluster's subnets." + advisory,
                       remediation="Export the route tables of the cluster VPC: " + EXPORT_COMMANDS["routeTables"])
    problems: list[str] = []
    doubts: list[str] = []
    whys: dict[str, str] = {}  # target → why its far side is unverified
    found: list[dict[str, Any]] = []
    gateways = sorted({_target(r) for t, _ in tables for r in t.get("Routes") or []
                       if classify(r)[1] == "ok" and _target(r).startswith(("tgw-", "vgw-"))})
    fix_target = gateways[0] if gateways else "<tgw-or-vgw-id>"
    kinds: set[str] = set()
    for table, subs in tables:
        tid = table.get("RouteTableId", "?")
        serves = f" ({_listing(subs)})" if subs else ""
        route = _best_route(table, spec.cidr)
        row: dict[str, Any] = {"routeTable": tid, "subnets": subs}
        if route is None:
            problems.append(f"route table {tid}{serves} has no route for {spec.cidr}")
            kinds.add("missing")
            row["problem"] = "missing"
            found.append(row)
            continue
        target = _target(route)
        kind, judgement, why = classify(route)
        dest = route.get("DestinationCidrBlock")
        row.update(destination=dest, target=target, targetKind=kind, judgement=judgement, state=route.get("State"))
        if route.get("State") == "blackhole":
            problems.append(f"route table {tid}{serves} sends {dest} to {target}, which is blackholed (its "
                            "attachment or instance is gone)")
            kinds.add("blackhole")
            row["problem"] = "blackhole"
        elif dest == "0.0.0.0/0" and judgement != "ok":
            problems.append(f"route table {tid}{serves} has no route for {spec.cidr} (only the default route "
                            f"to {target})")
            kinds.add("missing")
            row["problem"] = "missing"
        elif judgement == "wrong":
            problems.append(f"route table {tid}{serves} sends {spec.cidr} to {target} ({kind}) via {dest}: {why}")
            kinds.add("wrong-target")
            row["problem"] = "wrong-target"
        elif judgement == "unverified":
            doubts.append(f"{tid}{serves}")
            whys.setdefault(f"{target} ({kind})", why)
            row["doubt"] = why
        found.append(row)
    evidence = {"cidr": spec.cidr, "group": spec.group, "routeTables": found, "required": spec.needed,
                "requiredBecause" if spec.needed else "optionalBecause": spec.why}
    if problems:
        verb = "replace-route" if kinds == {"blackhole"} else "create-route"
        bad = [r["routeTable"] for r in found if "problem" in r]
        return Outcome(Status.FAIL, f"Remote {spec.group} CIDR {spec.cidr}: " + "; ".join(problems[:3]) +
                       (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "") + "." + advisory,
                       measured=_listing(sorted(kinds)), threshold="a route toward on-premises in every table",
                       remediation=f"aws ec2 {verb} --route-table-id {bad[0]} --destination-cidr-block {spec.cidr} "
                                   f"--transit-gateway-id {fix_target}  (or --gateway-id for a VGW, "
                                   "--network-interface-id for a hybrid nodes gateway); repeat for "
                                   f"{_listing(bad)}." + (f" Needed because {spec.why}." if spec.group == "pod" and
                                                          spec.needed else ""),
                       evidence=evidence)
    if doubts:
        via = "; ".join(f"{t}: {w}" for t, w in whys.items())
        return Outcome(Status.WARN, f"Remote {spec.group} CIDR {spec.cidr} is routed, but not to a transit or "
                       f"virtual private gateway or Cloud WAN: route tables {_listing(doubts)} send it to {via}."
                       + advisory,
                       measured=_listing(sorted({r["target"] for r in found})), threshold="TGW, VGW or Cloud WAN",
                       remediation="Check the far side yourself: the instance's source/destination check is off "
                                   "(aws ec2 describe-instance-attribute --attribute sourceDestCheck), it routes "
                                   f"{spec.cidr} on to on-premises, and the return path comes back through it.",
                       evidence=evidence)
    return Outcome(Status.PASS, f"All {len(found)} route tables of the cluster's subnets send {spec.cidr} to "
                   f"{_listing(sorted({r['target'] for r in found}))}." + advisory, evidence=evidence)


def _cluster_groups(docs: VpcDocuments) -> list[dict[str, Any]]:
    cfg = (docs.cluster or {}).get("resourcesVpcConfig") or {}
    ids = {g for g in [cfg.get("clusterSecurityGroupId"), *(cfg.get("securityGroupIds") or [])] if g}
    groups = docs.security_groups or []
    return [g for g in groups if g.get("GroupId") in ids] if ids else list(groups)


def _allows(perm: dict[str, Any], port: int, cidr: str) -> bool:
    proto = str(perm.get("IpProtocol", ""))
    if proto not in ("-1", "tcp", "6"):
        return False
    if proto != "-1" and not (int(perm.get("FromPort", -1)) <= port <= int(perm.get("ToPort", -1))):
        return False
    return any(_contains(r.get("CidrIp", ""), cidr) for r in perm.get("IpRanges") or [])


def _sg(spec: Spec, docs: VpcDocuments, direction: str) -> Outcome:
    if (skip := _needs("securityGroups", docs.security_groups)) is not None:
        return skip
    groups = _cluster_groups(docs)
    key = "IpPermissions" if direction == "ingress" else "IpPermissionsEgress"
    ids = [str(g.get("GroupId")) for g in groups]
    evidence: dict[str, Any] = {"cidr": spec.cidr, "port": spec.port, "direction": direction, "securityGroups": ids}
    if not groups:
        return Outcome(Status.FAIL, "None of the cluster's security groups is in the export.",
                       remediation="Export the cluster security groups: " + EXPORT_COMMANDS["securityGroups"],
                       evidence=evidence)
    for g in groups:
        for perm in g.get(key) or []:
            if _allows(perm, spec.port, spec.cidr):
                evidence["allowedBy"] = g.get("GroupId")
                return Outcome(Status.PASS, f"Security group {g.get('GroupId')} allows TCP {spec.port} "
                               f"{'from' if direction == 'ingress' else 'to'} {spec.cidr}.", evidence=evidence)
    what = ("the control plane will not accept kubelet and pod traffic from it" if direction == "ingress" else
            "the control plane cannot reach the kubelet" if spec.group == "node" else "webhook calls will time out")
    cmd = "authorize-security-group-ingress" if direction == "ingress" else "authorize-security-group-egress"
    fix = (f"aws ec2 {cmd} --group-id {ids[0]} --protocol tcp --port {spec.port} --cidr {spec.cidr}"
           if direction == "ingress" else
           f"aws ec2 {cmd} --group-id {ids[0]} --ip-permissions "
           f"IpProtocol=tcp,FromPort={spec.port},ToPort={spec.port},IpRanges=[{{CidrIp={spec.cidr}}}]")
    note = f" Not required here: {spec.why}." if not spec.needed else ""
    return Outcome(Status.FAIL, f"No cluster security group ({_listing(ids)}) allows TCP {spec.port} "
                   f"{'from' if direction == 'ingress' else 'to'} remote {spec.group} CIDR {spec.cidr}; {what}.{note}",
                   measured="not allowed", threshold=f"tcp/{spec.port} {direction} {spec.cidr}",
                   remediation=fix, evidence=evidence)


def _sg_ingress(spec: Spec, docs: VpcDocuments) -> Outcome:
    return _sg(spec, docs, "ingress")


def _sg_egress(spec: Spec, docs: VpcDocuments) -> Outcome:
    return _sg(spec, docs, "egress")


_RULES = {
    "remote-network": _remote_network, "endpoint-access": _endpoint_access, "ip-family": _ip_family,
    "routes": _routes, "sg-ingress": _sg_ingress, "sg-egress": _sg_egress,
}


def markdown_route_targets() -> str:
    """The README's route-target table, generated from ROUTE_TARGETS (a test keeps the README equal to it)."""
    verdict = {"ok": "PASS", "unverified": "WARN", "wrong": "FAIL"}
    rows = ["| route target | id | verdict | why |", "|---|---|---|---|"]
    for key, prefix, kind, judgement, why in ROUTE_TARGETS:
        ident = f"`{key}`" + (f" `{prefix}`" if prefix == "local" else f" `{prefix}…`" if prefix else "")
        rows.append(f"| {kind} | {ident} | {verdict[judgement]} | "
                    f"{why or 'AWS documents it for hybrid nodes'} |")
    return "\n".join(rows)
