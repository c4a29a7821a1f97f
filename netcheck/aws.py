"""The cluster's VPC as AWS describes it: from AWS CLI JSON exports, or through boto3.

Teams without credentials on the node export four documents with the AWS CLI
(`describe-cluster`, `describe-subnets`, `describe-route-tables`,
`describe-security-groups`); the same shapes come back from boto3 (optional extra
`netcheck[aws]`). Both paths produce one `VpcDocuments`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

EXPORT_COMMANDS = {
    "cluster": "aws eks describe-cluster --name CLUSTER --region REGION > cluster.json",
    "subnets": "aws ec2 describe-subnets --subnet-ids SUBNET_IDS --region REGION > subnets.json",
    "routeTables": "aws ec2 describe-route-tables --filters Name=vpc-id,Values=VPC_ID --region REGION > route-tables.json",
    "securityGroups": "aws ec2 describe-security-groups --group-ids SG_IDS --region REGION > security-groups.json",
}


class AwsInputError(Exception):
    """An export file or API answer that cannot be used; the message names the file and the problem."""


class AwsUnavailable(Exception):
    """boto3 is not installed, or credentials/permissions are missing; `fix` says what to do."""

    def __init__(self, message: str, fix: str, privilege: bool = False) -> None:
        super().__init__(message)
        self.fix, self.privilege = fix, privilege


@dataclass(frozen=True)
class VpcDocuments:
    """What AWS says about the cluster and its VPC (any part may be missing)."""

    source: str
    cluster: dict[str, Any] | None = None
    subnets: list[dict[str, Any]] | None = None
    route_tables: list[dict[str, Any]] | None = None
    security_groups: list[dict[str, Any]] | None = None
    files: dict[str, str] = field(default_factory=dict)


def cleartext_endpoint(url: str) -> str | None:
    """Why a signed AWS call must not go to `url`, or None when it may.

    A signed request carries the session token in a header: over plain HTTP anyone on the path reads
    it (and may replay the call). `http://` is accepted only to loopback (a local stand-in or a
    TLS-terminating sidecar), as the AWS SDKs' own endpoint tests do.
    """
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() == "https":
        return None
    host = (parts.hostname or "").lower()
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parts.scheme.lower() == "http" and loopback:
        return None
    return (f"the AWS endpoint {url[:200]!r} is not https (from AWS_ENDPOINT_URL_EKS, AWS_ENDPOINT_URL or the AWS "
            "config); netcheck does not send a signed request with its session token in clear text")


CLEARTEXT_FIX = ("Use an https:// endpoint (or http:// to loopback only), or unset AWS_ENDPOINT_URL_EKS / "
                 "AWS_ENDPOINT_URL.")


EXPORT_LIMIT = 64 << 20  # bytes; a large account's describe-security-groups is a few MB


def _read(path: Path, key: str, what: str) -> Any:
    from netcheck.safeio import FileProblem, read_limited

    try:
        raw = read_limited(path, EXPORT_LIMIT, f"spec.vpc.describe.{what} export")
    except FileProblem as exc:
        raise AwsInputError(f"{exc} (spec.vpc.describe.{what})") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise AwsInputError(f"{path}: not JSON ({exc}); export it with --output json") from None
    if not isinstance(doc, dict) or key not in doc:
        raise AwsInputError(f"{path}: has no top-level {key!r}; expected the output of "
                            f"`{EXPORT_COMMANDS[what]}`")
    value = doc[key]
    if key != "cluster" and not isinstance(value, list):
        raise AwsInputError(f"{path}: {key!r} is not a list")
    if key == "cluster" and not isinstance(value, dict):
        raise AwsInputError(f"{path}: 'cluster' is not an object")
    return value


def load_exports(cluster: Path | None = None, subnets: Path | None = None, route_tables: Path | None = None,
                 security_groups: Path | None = None) -> VpcDocuments:
    """Read the AWS CLI exports that are given; raise AwsInputError naming the bad file."""
    files = {k: str(v) for k, v in (("cluster", cluster), ("subnets", subnets), ("routeTables", route_tables),
                                    ("securityGroups", security_groups)) if v is not None}
    return VpcDocuments(
        source="files",
        cluster=_read(cluster, "cluster", "cluster") if cluster else None,
        subnets=_read(subnets, "Subnets", "subnets") if subnets else None,
        route_tables=_read(route_tables, "RouteTables", "routeTables") if route_tables else None,
        security_groups=_read(security_groups, "SecurityGroups", "securityGroups") if security_groups else None,
        files=files,
    )


def _paged(client: Any, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client.get_paginator(op).paginate(**kw):
        out.extend(page.get(key, []))
    return out


def fetch(eks: Any, ec2: Any, cluster: str) -> VpcDocuments:
    """The four documents from boto3 clients (injectable, so tests can stub them)."""
    c = eks.describe_cluster(name=cluster)["cluster"]
    vpc_cfg = c.get("resourcesVpcConfig") or {}
    vpc_id = vpc_cfg.get("vpcId")
    subnet_ids = list(vpc_cfg.get("subnetIds") or [])
    sg_ids = [g for g in [vpc_cfg.get("clusterSecurityGroupId"), *(vpc_cfg.get("securityGroupIds") or [])] if g]
    subnets = _paged(ec2, "describe_subnets", "Subnets", SubnetIds=subnet_ids) if subnet_ids else []
    tables = (_paged(ec2, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
              if vpc_id else [])
    groups = _paged(ec2, "describe_security_groups", "SecurityGroups", GroupIds=sg_ids) if sg_ids else []
    return VpcDocuments("api", json.loads(json.dumps(c, default=str)), subnets, tables, groups)


def load_from_api(region: str, cluster: str, timeout: float) -> VpcDocuments:
    """describe-* through boto3 with the default credential chain (Net.aws_vpc_documents keeps it for the run)."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        raise AwsUnavailable("boto3 is not installed.",
                             "Install the AWS extra (pip install 'netcheck[aws]') or export the JSON files "
                             "and set spec.vpc.describe.") from None
    cfg = Config(region_name=region, connect_timeout=min(timeout, 10), read_timeout=timeout,
                 retries={"max_attempts": 2})
    try:
        session = boto3.session.Session()
        eks, ec2 = session.client("eks", config=cfg), session.client("ec2", config=cfg)
        for client in (eks, ec2):
            if why := cleartext_endpoint(str(client.meta.endpoint_url)):
                raise AwsUnavailable(why[0].upper() + why[1:] + ".", CLEARTEXT_FIX)
        docs = fetch(eks, ec2, cluster)
    except NoCredentialsError:
        raise AwsUnavailable("No AWS credentials were found for the VPC checks.",
                             "Provide credentials (AWS_PROFILE, instance role) or export the JSON files with "
                             "the AWS CLI and set spec.vpc.describe.", privilege=True) from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "ClientError"))
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            raise AwsUnavailable(f"AWS denied {exc.operation_name}: {err.get('Message', code)}",
                                 "Grant eks:DescribeCluster, ec2:DescribeSubnets, ec2:DescribeRouteTables and "
                                 "ec2:DescribeSecurityGroups, or export the JSON files.", privilege=True) from None
        raise AwsInputError(f"AWS API {exc.operation_name} failed: {code}: {err.get('Message', '')}") from None
    except BotoCoreError as exc:
        raise AwsInputError(f"AWS API call failed: {exc}") from None
    return docs


# --- eks:DescribeCluster for the cluster details nodeadm would fetch ---------------------

LookupStatus = Literal["ok", "unavailable", "failed"]


@dataclass(frozen=True)
class ClusterLookup:
    """One eks:DescribeCluster call made at run time, as nodeadm makes it when the NodeConfig lacks details.

    `status`: ok (answered and usable), unavailable (netcheck could not ask: no boto3, no
    credentials, denied, unreachable — nodeadm may still succeed with the node's own
    credentials), failed (AWS answered something nodeadm stops on: no such cluster, not
    ACTIVE, no remote network config).
    """

    status: LookupStatus
    message: str
    fix: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # endpoint, certificateAuthority, serviceCidr, ...
    api_url: str | None = None  # the EKS API endpoint that was asked
    seconds: float = 0.0

    def to_evidence(self) -> dict[str, Any]:
        shown = dict(self.values)
        if "certificateAuthority" in shown:
            shown["certificateAuthority"] = f"{len(shown['certificateAuthority'])} characters of base64"
        return {"status": self.status, "message": self.message, "apiUrl": self.api_url,
                "seconds": round(self.seconds, 3), "values": shown}


def lookup_disabled(environ: Mapping[str, str]) -> bool:
    """NETCHECK_DESCRIBE_CLUSTER=off in `environ` (the settings' snapshot) turns the call off (air-gapped
    sites, or to keep a run offline)."""
    return environ.get("NETCHECK_DESCRIBE_CLUSTER", "").strip().lower() in ("0", "off", "false", "no")


def boto3_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("boto3") is not None


def cluster_values(cluster: dict[str, Any]) -> dict[str, Any]:
    """The parts of a DescribeCluster answer netcheck uses, under netcheck's names."""
    out: dict[str, Any] = {}
    if cluster.get("endpoint"):
        out["endpoint"] = str(cluster["endpoint"]).rstrip("/")
    data = (cluster.get("certificateAuthority") or {}).get("data")
    if data:
        out["certificateAuthority"] = str(data)
    svc = (cluster.get("kubernetesNetworkConfig") or {}).get("serviceIpv4Cidr")
    if svc:
        out["serviceCidr"] = str(svc)
    remote = cluster.get("remoteNetworkConfig") or {}
    nodes = [c for n in remote.get("remoteNodeNetworks") or [] for c in n.get("cidrs") or []]
    pods = [c for n in remote.get("remotePodNetworks") or [] for c in n.get("cidrs") or []]
    if nodes:
        out["nodeCidrs"] = nodes
    if pods:
        out["podCidrs"] = pods
    vpc = cluster.get("resourcesVpcConfig") or {}
    public, private = vpc.get("endpointPublicAccess"), vpc.get("endpointPrivateAccess")
    if public is not None or private is not None:
        out["endpointAccess"] = ("public-and-private" if public and private else "private" if private
                                 else "public" if public else None)
        if out["endpointAccess"] is None:
            del out["endpointAccess"]
    if cluster.get("status"):
        out["status"] = str(cluster["status"])
    return out


def describe_cluster(region: str, name: str, timeout: float) -> ClusterLookup:
    """Ask eks:DescribeCluster with the default credential chain (never instance metadata: a hybrid node
    has none). Honors AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_EKS and HTTPS_PROXY as the AWS SDKs do."""
    import time

    t0 = time.monotonic()
    if not boto3_available():
        return ClusterLookup("unavailable", "boto3 is not installed, so eks:DescribeCluster was not asked.",
                             "Install the AWS extra (pip install 'netcheck[aws]'), or put the cluster's endpoint, "
                             "CA and service CIDR in the NodeConfig.")
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    try:
        session = boto3.session.Session(region_name=region)
        resolver = session._session.get_component("credential_provider")
        resolver.remove("iam-role")  # no 169.254.169.254 lookups from an on-premises node
        creds = session.get_credentials()
    except BotoCoreError as exc:
        return ClusterLookup("unavailable", f"AWS credentials could not be loaded ({exc}), so eks:DescribeCluster "
                             "was not asked.", "Fix the AWS profile or credential_process, or put the cluster "
                             "details in the NodeConfig.", seconds=time.monotonic() - t0)
    if creds is None:
        return ClusterLookup("unavailable", "No AWS credentials on this host (before nodeadm init, SSM and IAM "
                             "Roles Anywhere credentials do not exist yet), so eks:DescribeCluster was not asked.",
                             "Run with credentials allowed eks:DescribeCluster (AWS_PROFILE or environment), or "
                             "put apiServerEndpoint, certificateAuthority and cidr in the NodeConfig.",
                             seconds=time.monotonic() - t0)
    # One attempt: the call is bounded by connect + read timeout, and counted in --deadline.
    cfg = Config(connect_timeout=min(timeout, 5), read_timeout=timeout, retries={"total_max_attempts": 1})
    try:
        client = session.client("eks", config=cfg)
    except (BotoCoreError, ValueError) as exc:
        return ClusterLookup("unavailable", f"No EKS client could be made: {exc}.", None,
                             seconds=time.monotonic() - t0)
    url = str(client.meta.endpoint_url)
    if why := cleartext_endpoint(url):
        return ClusterLookup("unavailable", f"eks:DescribeCluster was not asked: {why}.", CLEARTEXT_FIX,
                             api_url=url, seconds=time.monotonic() - t0)
    try:
        answer = client.describe_cluster(name=name)["cluster"]
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, msg = str(err.get("Code", "ClientError")), str(err.get("Message", ""))
        if code == "ResourceNotFoundException":
            return ClusterLookup("failed", f"eks:DescribeCluster says there is no cluster {name!r} in {region}: "
                                 f"{msg}. nodeadm init stops on the same answer.",
                                 "Check spec.cluster.name and spec.cluster.region.", api_url=url,
                                 seconds=time.monotonic() - t0)
        return ClusterLookup("unavailable", f"eks:DescribeCluster was refused: {code}: {msg}.",
                             "Allow eks:DescribeCluster for these credentials (the node's own role needs it too), "
                             "or put the cluster details in the NodeConfig.", api_url=url,
                             seconds=time.monotonic() - t0)
    except EndpointConnectionError as exc:
        return ClusterLookup("unavailable", f"The EKS API at {url} could not be reached ({exc}).",
                             "See the reach and dns checks for eks.REGION.amazonaws.com; nodeadm needs it too.",
                             api_url=url, seconds=time.monotonic() - t0)
    except BotoCoreError as exc:
        return ClusterLookup("unavailable", f"eks:DescribeCluster failed: {exc}.", None, api_url=url,
                             seconds=time.monotonic() - t0)
    values = cluster_values(json.loads(json.dumps(answer, default=str)))
    took = time.monotonic() - t0
    if values.get("status") not in (None, "ACTIVE"):
        return ClusterLookup("failed", f"The cluster {name!r} is {values['status']}, not ACTIVE; nodeadm init "
                             "stops with 'eks cluster is not active'.", "Wait until the cluster is ACTIVE.",
                             values, url, took)
    if not answer.get("remoteNetworkConfig"):
        return ClusterLookup("failed", f"The cluster {name!r} has no remoteNetworkConfig; nodeadm init stops: "
                             "hybrid nodes need remote node networks on the cluster.",
                             "Update the cluster with its remote node (and pod) networks "
                             "(aws eks update-cluster-config --remote-network-config …).", values, url, took)
    return ClusterLookup("ok", f"eks:DescribeCluster answered for {name!r} in {took:.1f} s.", None, values, url, took)
