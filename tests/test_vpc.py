"""VPC checks from recorded AWS CLI exports (fixtures named for their verdict) and the boto3 path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netcheck.aws import fetch, load_exports
from netcheck.model import Severity, Status
from netcheck.net import Net
from netcheck.runner import execute
from netcheck.settings import Settings, Thresholds, build
from probes import vpc

FIXTURES = Path(__file__).parent / "fixtures" / "vpc"
ALL_IDS = {
    "vpc.cluster.remote-network", "vpc.cluster.endpoint-access", "vpc.cluster.ip-family",
    "vpc.routes.192.168.50.0/24", "vpc.routes.192.168.64.0/18",
    "vpc.sg.ingress-tcp-443.192.168.50.0/24", "vpc.sg.ingress-tcp-443.192.168.64.0/18",
    "vpc.sg.egress-tcp-10250.192.168.50.0/24", "vpc.sg.egress-tcp-9443.192.168.64.0/18",
}
EXPECTED_FAIL = {
    "pass": set(),
    "fail-missing-route": {"vpc.routes.192.168.64.0/18"},
    "fail-blackhole-route": {"vpc.routes.192.168.50.0/24"},
    "fail-sg-no-443-from-pods": {"vpc.sg.ingress-tcp-443.192.168.64.0/18"},
    "fail-remote-network-mismatch": {"vpc.cluster.remote-network"},
    "warn-eni-pod-route": set(),
}
EXPECTED_WARN = {"warn-eni-pod-route": {"vpc.routes.192.168.64.0/18"}}


def _run(settings: Settings) -> dict[str, Any]:
    results = {}
    for check in vpc.plan(settings):
        results[check.id] = execute(check, Net(), Thresholds())
    return results


def test_every_fixture_directory_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == set(EXPECTED_FAIL)


@pytest.mark.parametrize("name", sorted(EXPECTED_FAIL))
def test_fixture_fails_exactly_the_expected_ids(name: str) -> None:
    settings = build(FIXTURES / name / "site.yaml")
    results = _run(settings)
    assert set(results) == ALL_IDS
    failing = {cid for cid, o in results.items() if o.status is Status.FAIL}
    assert failing == EXPECTED_FAIL[name], {cid: results[cid].message for cid in failing}
    warned = EXPECTED_WARN.get(name, set())
    assert {cid for cid, o in results.items() if o.status is Status.WARN} == warned
    assert {cid for cid, o in results.items() if o.status is Status.PASS} == ALL_IDS - EXPECTED_FAIL[name] - warned
    for cid in failing:
        o = results[cid]
        assert o.remediation and o.measured is not None and o.threshold is not None
        json.dumps(dict(o.evidence))


def test_messages_name_the_route_table_and_the_problem() -> None:
    blackhole = _run(build(FIXTURES / "fail-blackhole-route" / "site.yaml"))["vpc.routes.192.168.50.0/24"]
    assert "rtb-0main" in blackhole.message and "blackhole" in blackhole.message
    assert "replace-route" in (blackhole.remediation or "") and "tgw-0abc" in (blackhole.remediation or "")
    missing = _run(build(FIXTURES / "fail-missing-route" / "site.yaml"))["vpc.routes.192.168.64.0/18"]
    assert "rtb-0b" in missing.message and "subnet-0b2" in missing.message and "no route" in missing.message
    sg = _run(build(FIXTURES / "fail-sg-no-443-from-pods" / "site.yaml"))["vpc.sg.ingress-tcp-443.192.168.64.0/18"]
    assert "authorize-security-group-ingress" in (sg.remediation or "") and "192.168.64.0/18" in (sg.remediation or "")


def test_no_description_skips_with_the_export_commands(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("spec: {remoteNetwork: {nodeCidrs: [192.168.50.0/24]}}\n")
    results = _run(build(site))
    assert list(results) == ["vpc.describe"]
    o = results["vpc.describe"]
    assert o.status is Status.SKIP and "aws ec2 describe-route-tables" in (o.remediation or "")


def test_bad_export_file_is_a_clear_skip(tmp_path: Path) -> None:
    (tmp_path / "cluster.json").write_text("{not json")
    (tmp_path / "rt.json").write_text('{"Subnets": []}')
    site = tmp_path / "site.yaml"
    site.write_text("spec:\n  vpc: {describe: {cluster: cluster.json}}\n"
                    "  remoteNetwork: {nodeCidrs: [192.168.50.0/24]}\n")
    o = _run(build(site))["vpc.routes.192.168.50.0/24"]
    assert o.status is Status.SKIP and "cluster.json" in o.message and "not JSON" in o.message
    site.write_text("spec:\n  vpc: {describe: {routeTables: rt.json}}\n"
                    "  remoteNetwork: {nodeCidrs: [192.168.50.0/24]}\n")
    o = _run(build(site))["vpc.routes.192.168.50.0/24"]
    assert o.status is Status.SKIP and "rt.json" in o.message and "'RouteTables'" in o.message
    (tmp_path / "rt.json").write_text('{"RouteTables": []}')
    o = _run(build(site))["vpc.cluster.ip-family"]
    assert o.status is Status.SKIP and "describe-cluster" in (o.remediation or "")


def test_public_and_private_endpoint_warns() -> None:
    docs = load_exports(FIXTURES / "pass" / "cluster.json")
    assert docs.cluster is not None
    docs.cluster["resourcesVpcConfig"]["endpointPublicAccess"] = True
    spec = vpc.Spec(rule="endpoint-access")
    assert vpc.evaluate(spec, vpc.Evidence(docs), Thresholds()).status is Status.WARN
    spec = vpc.Spec(rule="endpoint-access", endpoint_access="private")
    assert vpc.evaluate(spec, vpc.Evidence(docs), Thresholds()).status is Status.FAIL


def _load(name: str, file: str) -> Any:
    return json.loads((FIXTURES / name / file).read_text())


def test_boto3_path_with_stubber_gives_the_same_verdicts() -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import Stubber

    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="us-west-2")
    eks, ec2 = session.client("eks"), session.client("ec2")
    name = "fail-blackhole-route"
    with Stubber(eks) as eks_stub, Stubber(ec2) as ec2_stub:
        cluster = _load(name, "cluster.json")
        eks_stub.add_response("describe_cluster", cluster, {"name": "prod"})
        ec2_stub.add_response("describe_subnets", _load(name, "subnets.json"),
                              {"SubnetIds": ["subnet-0a1", "subnet-0b2"]})
        ec2_stub.add_response("describe_route_tables", _load(name, "route-tables.json"),
                              {"Filters": [{"Name": "vpc-id", "Values": ["vpc-0123"]}]})
        ec2_stub.add_response("describe_security_groups", _load(name, "security-groups.json"),
                              {"GroupIds": ["sg-0cluster", "sg-0extra"]})
        docs = fetch(eks, ec2, "prod")
        eks_stub.assert_no_pending_responses()
        ec2_stub.assert_no_pending_responses()
    assert docs.source == "api"
    settings = build(FIXTURES / name / "site.yaml")
    failing = set()
    for check in vpc.plan(settings):
        outcome = vpc.evaluate(check.spec, vpc.Evidence(docs), Thresholds())
        if outcome.status is Status.FAIL:
            failing.add(check.id)
    assert failing == EXPECTED_FAIL[name]


class _FakeNet(Net):
    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def aws_vpc_documents(self, region: str, cluster: str, timeout: float = 20.0) -> Any:
        raise self.exc


def test_api_without_credentials_is_a_privilege_skip() -> None:
    from netcheck.aws import AwsUnavailable
    from netcheck.model import SkipReason
    from netcheck.settings import SiteProfile

    profile = SiteProfile.model_validate({"spec": {"cluster": {"name": "prod", "region": "us-west-2"},
                                                   "vpc": {"fromApi": True},
                                                   "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"]}}})
    settings = Settings(profile=profile, source="test")
    check = next(c for c in vpc.plan(settings) if c.id == "vpc.cluster.ip-family")
    o = execute(check, _FakeNet(AwsUnavailable("No AWS credentials.", "Provide credentials", privilege=True)),
                Thresholds())
    assert o.status is Status.SKIP and o.skip_reason is SkipReason.PRIVILEGE


def test_results_render_into_a_valid_report() -> None:
    from netcheck.model import CheckResult, Report, Verdict
    from tests.conftest import validate_report

    settings = build(FIXTURES / "fail-blackhole-route" / "site.yaml")
    results = tuple(CheckResult(c, execute(c, Net(), Thresholds())) for c in vpc.plan(settings))
    report = Report(results=results, verdict=Verdict.NO_GO, started_at="2025-01-01T00:00:00Z", duration=0.1)
    validate_report(json.loads(json.dumps(report.to_json())))


def _copy_fixture(name: str, tmp_path: Path, edit: Any = None, **site: Any) -> Settings:
    """The fixture `name` copied to tmp_path, its route tables passed through `edit`, its profile updated."""
    import shutil

    import yaml

    d = tmp_path / name
    shutil.copytree(FIXTURES / name, d)
    if edit is not None:
        path = d / "route-tables.json"
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    prof = yaml.safe_load((d / "site.yaml").read_text())
    prof["spec"].update(site)
    (d / "site.yaml").write_text(yaml.safe_dump(prof))
    return build(d / "site.yaml")


def _without_pod_routes(doc: dict[str, Any]) -> dict[str, Any]:
    for t in doc["RouteTables"]:
        t["Routes"] = [r for r in t["Routes"] if r["DestinationCidrBlock"] != "192.168.64.0/18"]
    return doc


def test_eni_target_for_the_pod_cidr_warns_and_no_route_back_fails(tmp_path: Path) -> None:
    eni = _run(build(FIXTURES / "warn-eni-pod-route" / "site.yaml"))["vpc.routes.192.168.64.0/18"]
    assert eni.status is Status.WARN and "eni-0hybridgw (network interface)" in eni.message, eni.message
    assert "source/destination check" in eni.message and eni.evidence["required"] is True
    gone = _run(_copy_fixture("warn-eni-pod-route", tmp_path, _without_pod_routes))["vpc.routes.192.168.64.0/18"]
    assert gone.status is Status.FAIL and "has no route for 192.168.64.0/18" in gone.message, gone.message
    assert "webhooks run on hybrid nodes" in (gone.remediation or "")


def test_pod_cidr_rules_are_advisory_when_the_cni_masquerades(tmp_path: Path) -> None:
    s = _copy_fixture("fail-missing-route", tmp_path, webhookPorts=[])
    checks = {c.id: c for c in vpc.plan(s)}
    route = checks["vpc.routes.192.168.64.0/18"]
    assert route.severity is Severity.ADVISORY and checks["vpc.routes.192.168.50.0/24"].severity is Severity.REQUIRED
    assert checks["vpc.sg.ingress-tcp-443.192.168.64.0/18"].severity is Severity.ADVISORY
    out = execute(route, Net(), Thresholds())
    assert out.status is Status.FAIL and "Not required here: cilium VXLAN masquerades pod traffic" in out.message
    native = _copy_fixture("fail-missing-route", tmp_path / "n", webhookPorts=[], cni={"plugin": "cilium",
                                                                                     "mode": "native"})
    checks = {c.id: c for c in vpc.plan(native)}
    assert checks["vpc.routes.192.168.64.0/18"].severity is Severity.REQUIRED
    assert checks["vpc.sg.ingress-tcp-443.192.168.64.0/18"].severity is Severity.REQUIRED


@pytest.mark.parametrize(("route", "status"), [
    ({"TransitGatewayId": "tgw-1"}, Status.PASS), ({"GatewayId": "vgw-1"}, Status.PASS),
    ({"CoreNetworkArn": "arn:aws:networkmanager::1:core-network/core-network-1"}, Status.PASS),
    ({"NetworkInterfaceId": "eni-1"}, Status.WARN), ({"InstanceId": "i-1"}, Status.WARN),
    ({"LocalGatewayId": "lgw-1"}, Status.WARN), ({"VpcEndpointId": "vpce-1"}, Status.WARN),
    ({"NatGatewayId": "nat-1"}, Status.WARN), ({"GatewayId": "igw-1"}, Status.FAIL),
    ({"VpcPeeringConnectionId": "pcx-1"}, Status.FAIL), ({"CarrierGatewayId": "cagw-1"}, Status.FAIL),
])
def test_route_targets(route: dict[str, str], status: Status) -> None:
    from netcheck.aws import VpcDocuments

    table = {"RouteTableId": "rtb-1", "Associations": [{"Main": True}],
             "Routes": [{"DestinationCidrBlock": "192.168.50.0/24", "State": "active", **route}]}
    spec = vpc.Spec("routes", cidr="192.168.50.0/24", group="node")
    out = vpc.evaluate(spec, vpc.Evidence(VpcDocuments("test", route_tables=[table])), Thresholds())
    assert out.status is status, out.message


def test_export_that_is_not_a_regular_file_is_named_not_read(tmp_path: Path) -> None:
    """A FIFO or a directory given as an export answers at once, naming the field, instead of hanging."""
    import os

    from netcheck.aws import AwsInputError, load_exports

    fifo = tmp_path / "routes.fifo"
    os.mkfifo(fifo)
    for bad in (fifo, tmp_path):
        with pytest.raises(AwsInputError, match=r"regular file.*spec\.vpc\.describe\.routeTables"):
            load_exports(route_tables=bad)
