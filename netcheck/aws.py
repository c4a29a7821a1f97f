"""The cluster's VPC as AWS describes it: from AWS CLI JSON exports, or through boto3.

Teams without credentials on the node export four documents with the AWS CLI
(`describe-cluster`, `describe-subnets`, `describe-route-tables`,
`describe-security-groups`); the same shapes come back from boto3 (optional extra
`netcheck[aws]`). Both paths produce one `VpcDocuments`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _read(path: Path, key: str, what: str) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise AwsInputError(f"{path}: file not found (spec.vpc.describe.{what})") from None
    except OSError as exc:
        raise AwsInputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
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


_CACHE: dict[tuple[str, str], VpcDocuments] = {}
_LOCK = threading.Lock()


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


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
    """describe-* through boto3 with the default credential chain; cached per (region, cluster)."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        raise AwsUnavailable("boto3 is not installed.",
                             "Install the AWS extra (pip install 'netcheck[aws]') or export the JSON files "
                             "and set spec.vpc.describe.") from None
    with _LOCK:
        if (region, cluster) in _CACHE:
            return _CACHE[(region, cluster)]
        cfg = Config(region_name=region, connect_timeout=min(timeout, 10), read_timeout=timeout,
                     retries={"max_attempts": 2})
        try:
            session = boto3.session.Session()
            docs = fetch(session.client("eks", config=cfg), session.client("ec2", config=cfg), cluster)
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
        _CACHE[(region, cluster)] = docs
        return docs
