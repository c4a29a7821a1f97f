"""NodeConfigs as nodeadm reads them: the files from nodeadm's own integration tests, what its loader refuses,
what it loads but the join cannot use (findings, not refusals), and eks:DescribeCluster over real HTTP.

AWS is never reached: tests/conftest.py points every AWS API at a closed loopback port; the
DescribeCluster tests point EKS at moto's server on loopback and fail if boto3 would go elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.model import Status
from netcheck.net import Net
from netcheck.plan import build_plan
from netcheck.runner import run as run_checks
from netcheck.settings import ConfigError, build
from netcheck.standins.tls import Server, start_api_server
from tests.conftest import validate_report

ROOT = Path(__file__).resolve().parent.parent
NODEADM = ROOT / "tests" / "fixtures" / "nodeadm"
EXPECTED: dict[str, dict[str, str]] = {k: v for k, v in json.loads((NODEADM / "expected.json").read_text()).items()
                                       if not k.startswith("_")}
# The 13 hybrid NodeConfigs of aws/eks-hybrid test/integration/cases (see ORIGIN.md).
UPSTREAM_HYBRID = [
    "hybrid-node-system-aspects--config.yaml", "init-with-config-enrichment--config.yaml",
    "init-with-iam-custom-cert-path--config-certificate-validation.yaml", "init-with-iam-custom-cert-path--config.yaml",
    "init-with-node-ip-validation--config-ip-in-range.yaml", "init-with-node-ip-validation--config-ip-out-of-range.yaml",
    "init-with-ssm--config.yaml", "init-with-swap-partition--config.yaml", "uninstall-with-source-none--config.yaml",
    "upgrade-containerd-major-version-skip--config.yaml", "upgrade-with-iam--config.yaml",
    "upgrade-with-source-none--config.yaml", "upgrade-with-ssm--config.yaml",
]
PLACEHOLDER_CA = "Y2VydGlmaWNhdGVBdXRob3JpdHk="  # base64 of the text 'certificateAuthority'
SSM = ("  hybrid:\n    ssm:\n      activationCode: ys25k3gpt8zzyl9jhn6gq8rj3519owjelyz7\n"
       "      activationId: 57be8cce-1137-32d4-ce32-ba044ea5df48\n")


def netcheck(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "netcheck", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=full, check=False)


def report_of(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(proc.stdout)
    validate_report(doc)
    return doc


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["checks"]}


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


def nodeconfig(tmp_path: Path, cluster: str, extra: str = SSM, name: str = "nc.yaml") -> Path:
    path = tmp_path / name
    path.write_text("apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n" + cluster + extra)
    return path


# --- accept exactly what nodeadm accepts --------------------------------------------------

def test_every_upstream_hybrid_nodeconfig_is_here_with_its_origin() -> None:
    for name in UPSTREAM_HYBRID:
        assert (NODEADM / name).is_file(), name
        assert "hybrid:" in (NODEADM / name).read_text()
        assert EXPECTED[name]["nodeadm"] == "accept"
    origin = (NODEADM / "ORIGIN.md").read_text()
    assert "aws/eks-hybrid" in origin and "e5f42ca4e2df0eb7d3da467a4a73444d9d952cd0" in origin
    on_disk = {str(p.relative_to(NODEADM)) for p in NODEADM.rglob("*.yaml")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=sorted(EXPECTED))
def test_accepts_exactly_what_nodeadm_accepts(name: str) -> None:
    want = EXPECTED[name]
    path = NODEADM / name
    if want["nodeadm"] == "accept":
        s = build(nodeconfig_path=path)
        assert s.nodeconfig is not None and s.spec.cluster.name
        return
    with pytest.raises(ConfigError) as info:
        build(nodeconfig_path=path)
    err = info.value
    assert err.source == str(path) and err.field == want["field"], str(err)
    if want["nodeadm"] == "ec2":
        assert "this is not a hybrid-node NodeConfig" in err.problem


DECODER = NODEADM / "decoder"
CORPUS = [json.loads(ln) for ln in (DECODER / "corpus.jsonl").read_text().splitlines()]


def test_expected_verdicts_are_what_nodeadms_go_decoder_answered() -> None:
    """expected.json was read from nodeadm's source, then checked by running its decoder (decoder/README.md)."""
    recorded = {r["file"]: r["result"] for r in map(json.loads, (DECODER / "fixtures.jsonl").read_text().splitlines())}
    assert recorded == {name: want["nodeadm"] for name, want in EXPECTED.items()}


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_same_answer_as_nodeadms_go_decoder_on_one_change_variants(case: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / f"{case['name']}.yaml"
    path.write_text(case["yaml"])
    try:
        build(nodeconfig_path=path)
        ours = "accept"
    except ConfigError as exc:
        ours = "ec2" if "not a hybrid-node NodeConfig" in exc.problem else "refuse"
    assert ours == case.get("netcheck", case["nodeadm"]), case.get("error") or case.get("knownDifference")


def test_before_this_change_only_three_loaded_now_all_thirteen_do() -> None:
    """The issue's count: 10 of the 13 carry the placeholder CA, which used to be exit 2."""
    placeholder = [n for n in UPSTREAM_HYBRID if PLACEHOLDER_CA in (NODEADM / n).read_text()]
    assert len(placeholder) == 10
    for name in placeholder:
        s = build(nodeconfig_path=NODEADM / name)
        assert s.nodeconfig is not None
        finding = s.nodeconfig.findings["ca"]
        assert finding.field == "spec.cluster.certificateAuthority" and "'certificateAuthority'" in finding.problem


def test_go_decoder_leniency_is_copied() -> None:
    s = build(nodeconfig_path=NODEADM / "derived" / "accept-go-decoder-leniency.yaml")
    assert s.spec.cluster.name == "12345"  # a YAML number for a text field becomes text
    assert s.spec.cluster.endpoint == "https://example.com"  # APIServerEndpoint matched case-insensitively
    assert s.spec.credentials == "ssm"  # SSM: matched case-insensitively
    assert s.nodeconfig is not None and set(s.nodeconfig.findings) == {"api-version"}


def test_non_hybrid_nodeconfig_is_named_as_such() -> None:
    proc = netcheck("plan", "--nodeconfig", str(NODEADM / "ec2--kubeconfig-outpost--config.yaml"))
    assert proc.returncode == 2
    assert "spec.hybrid: this is not a hybrid-node NodeConfig" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", [n for n, w in EXPECTED.items() if w["nodeadm"] == "refuse"])
def test_refusals_are_exit_2_with_the_field(name: str) -> None:
    proc = netcheck("plan", "--nodeconfig", str(NODEADM / name), timeout=30)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{NODEADM / name}: {EXPECTED[name]['field']}: " in proc.stderr and "Traceback" not in proc.stderr


# --- contents that break the join are findings; every other check still runs ---------------

def test_placeholder_ca_is_a_tls_fail_naming_the_field_not_exit_2() -> None:
    path = NODEADM / "init-with-ssm--config.yaml"
    proc = netcheck("run", "--nodeconfig", str(path), "--only", "tls.eks-api.ca,config", "--format", "json")
    assert proc.returncode == 3, proc.stderr
    checks = by_id(report_of(proc))
    ca = checks["tls.eks-api.ca"]
    assert (ca["category"], ca["status"]) == ("tls", "FAIL")
    assert f"spec.cluster.certificateAuthority in {path}" in ca["message"]
    assert "'certificateAuthority'" in ca["message"] and "not a PEM certificate" in ca["message"]
    assert "describe-cluster" in ca["remediation"]
    assert {c["status"] for i, c in checks.items() if i.startswith("config.")} == {"PASS"}
    # Every other check is still planned: the CA is one finding, not a reason to stop.
    plan_ids = {c.id for c in build_plan(build(nodeconfig_path=path)).checks}
    for expected in ("dns.eks-api.resolve", "reach.eks-api.tcp", "tls.eks-api.handshake", "cidr.service.range",
                     "reach.ssm.tcp"):
        assert any(i.startswith(expected) for i in plan_ids), expected


def test_placeholder_ca_against_a_live_api_server(tmp_path: Path, stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1")
    path = nodeconfig(tmp_path, f"    name: my-cluster\n    region: us-west-2\n"
                                f"    apiServerEndpoint: https://127.0.0.1:{api.port}\n"
                                f"    certificateAuthority: {PLACEHOLDER_CA}\n    cidr: 10.100.0.0/16\n")
    proc = netcheck("run", "--nodeconfig", str(path), "--only", "tls.eks-api,config", "--format", "json")
    assert proc.returncode == 3, proc.stderr
    checks = by_id(report_of(proc))
    assert checks["tls.eks-api.ca"]["status"] == "FAIL"
    hs = checks["tls.eks-api.handshake"]
    assert hs["status"] == "SKIP" and "spec.cluster.certificateAuthority" in hs["message"]
    assert "'kubernetes'" in hs["message"]  # the handshake still ran and shows the chain
    assert hs["evidence"]["handshakes"][0]["stage"] == "done"


def test_a_ca_that_does_not_verify_the_live_endpoint_fails(tmp_path: Path, stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", cert="other-ca")
    ca = base64.b64encode(api.ca_pem.encode()).decode()
    path = nodeconfig(tmp_path, f"    name: my-cluster\n    region: us-west-2\n"
                                f"    apiServerEndpoint: https://127.0.0.1:{api.port}\n"
                                f"    certificateAuthority: {ca}\n    cidr: 10.100.0.0/16\n")
    proc = netcheck("run", "--nodeconfig", str(path), "--only", "tls.eks-api", "--format", "json")
    checks = by_id(report_of(proc))
    assert checks["tls.eks-api.ca"]["status"] == "PASS"
    hs = checks["tls.eks-api.handshake"]
    assert hs["status"] == "FAIL" and hs["evidence"]["caSource"] == "nodeconfig"
    assert f"instead of the cluster CA in {path} (spec.cluster.certificateAuthority)" in hs["message"]
    assert proc.returncode == 3


def test_broken_endpoint_cidr_node_ip_and_empty_ca_are_findings() -> None:
    path = NODEADM / "derived" / "accept-contents-broken.yaml"
    proc = netcheck("run", "--nodeconfig", str(path), "--only", "config,tls.eks-api", "--format", "json")
    assert proc.returncode == 3, proc.stderr
    checks = by_id(report_of(proc))
    want = {"config.nodeconfig.endpoint": "spec.cluster.apiServerEndpoint",
            "config.nodeconfig.service-cidr": "spec.cluster.cidr",
            "config.nodeconfig.node-ip": "spec.kubelet.flags[0]",
            "tls.eks-api.ca": "spec.cluster.certificateAuthority"}
    for cid, field in want.items():
        assert checks[cid]["status"] == "FAIL", cid
        assert field in checks[cid]["message"] and checks[cid]["remediation"], cid
    assert "is empty" in checks["tls.eks-api.ca"]["message"]
    hs = checks["tls.eks-api.handshake"]
    assert hs["status"] == "SKIP" and "config.nodeconfig.endpoint" in hs["message"]


def test_overlapping_service_cidr_from_the_nodeconfig_is_a_cidr_fail(tmp_path: Path) -> None:
    path = nodeconfig(tmp_path, "    name: c\n    region: us-west-2\n    apiServerEndpoint: https://127.0.0.1:9\n"
                                f"    certificateAuthority: {PLACEHOLDER_CA}\n    cidr: 192.168.0.0/16\n")
    profile = tmp_path / "site.yaml"
    profile.write_text("spec:\n  remoteNetwork: {nodeCidrs: [192.168.50.0/24], podCidrs: [10.64.0.0/16]}\n")
    s = build(profile_path=profile, nodeconfig_path=path)
    plan = build_plan(s, only=("cidr.overlap.node-service",))
    result = run_checks(plan.checks, Net(), s.spec.thresholds, 10.0)
    assert [r.status for r in result.results] == [Status.FAIL]
    assert "192.168.0.0/16" in result.results[0].outcome.message
    assert s.sources["serviceCidr"] == "nodeconfig"


# --- no CA: what plan says is what run does -------------------------------------------------

def _line(plan_out: str, check_id: str) -> str:
    return next(ln for ln in plan_out.splitlines() if ln.startswith(check_id + " "))


def test_plan_text_for_the_no_ca_case_matches_the_run(tmp_path: Path, stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1")
    path = nodeconfig(tmp_path, f"    name: my-cluster\n    region: us-west-2\n"
                                f"    apiServerEndpoint: https://127.0.0.1:{api.port}\n")
    plan = netcheck("plan", "--nodeconfig", str(path))
    assert plan.returncode == 0, plan.stderr
    line = _line(plan.stdout, "tls.eks-api.handshake")
    assert "system trust store" not in line
    assert "eks:DescribeCluster" in line and "issuer is checked for 'kubernetes'" in line
    # The run: no credentials here, so DescribeCluster is not asked and the chain's issuer is checked.
    run = netcheck("run", "--nodeconfig", str(path), "--only", "tls.eks-api,config.cluster", "--format", "json")
    checks = by_id(report_of(run))
    hs = checks["tls.eks-api.handshake"]
    assert hs["status"] == "WARN" and "issued by 'kubernetes'" in hs["message"]
    assert "No AWS credentials" in hs["message"] and hs["evidence"]["caSource"] is None
    details = checks["config.cluster.details"]
    assert details["status"] == "WARN" and details["evidence"]["describeCluster"]["status"] == "unavailable"
    assert "certificateAuthority" in details["message"] and "serviceCidr" in details["message"]
    assert "At run time netcheck asks eks:DescribeCluster for certificateAuthority, serviceCidr" in plan.stdout
    # The same checks on the API server and the inputs are planned as run (no credentials here).
    planned = {ln.split()[0] for ln in plan.stdout.splitlines() if ln.startswith(("tls.eks-api.", "config."))}
    ran = set(by_id(report_of(netcheck("run", "--nodeconfig", str(path), "--only", "tls.eks-api,config",
                                       "--format", "json"))))
    assert planned == ran
    # When DescribeCluster cannot be asked at all, plan and run give the very same title.
    off = {"NETCHECK_DESCRIBE_CLUSTER": "off"}
    plan_off = _line(netcheck("plan", "--nodeconfig", str(path), env=off).stdout, "tls.eks-api.handshake")
    run_off = by_id(report_of(netcheck("run", "--nodeconfig", str(path), "--only", "tls.eks-api.handshake",
                                       "--format", "json", env=off)))["tls.eks-api.handshake"]
    assert run_off["title"] in plan_off and "no cluster CA" in run_off["title"]
    assert run_off["status"] == "WARN" and "issued by 'kubernetes'" in run_off["message"]


def test_plan_never_asks_aws(tmp_path: Path) -> None:
    """`netcheck plan` sends nothing: an EKS API listener on loopback sees no connection, credentials or not."""
    accepted: list[int] = []
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        srv.settimeout(0.2)
        port = srv.getsockname()[1]
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except OSError:
                    continue
                accepted.append(1)
                conn.close()

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        path = nodeconfig(tmp_path, "    name: my-cluster\n    region: us-west-2\n")
        proc = netcheck("plan", "--nodeconfig", str(path), env=fake_credentials(f"http://127.0.0.1:{port}"))
        stop.set()
        t.join(2)
    assert proc.returncode == 0, proc.stderr
    assert "eks:DescribeCluster" in _line(proc.stdout, "config.cluster.details")
    assert accepted == []


# --- eks:DescribeCluster over real HTTP (moto's server on loopback) --------------------------

def fake_credentials(eks_url: str) -> dict[str, str]:
    if not eks_url.startswith(("http://127.0.0.1:", "http://[::1]:")):
        pytest.fail(f"refusing to point the EKS API at {eks_url}: tests talk to loopback only")
    return {"AWS_ENDPOINT_URL_EKS": eks_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing"}


@pytest.fixture
def moto_eks(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's AWS API server on loopback; yields its URL. boto3 in this process is pointed at it, and checked."""
    server_mod = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        assert host == "127.0.0.1"
        url = f"http://127.0.0.1:{port}"
        for k, v in fake_credentials(url).items():
            monkeypatch.setenv(k, v)
        client = boto3.client("eks", region_name="us-west-2")
        if not str(client.meta.endpoint_url).startswith("http://127.0.0.1:"):
            pytest.fail(f"boto3 would reach {client.meta.endpoint_url}, not the loopback stand-in")
        yield url
    finally:
        server.stop()


def make_cluster(name: str, api: Server | None, *, remote: bool = True, service: str = "172.16.0.0/16") -> None:
    """Create the cluster through the EKS API on moto, then give it the stand-in's endpoint and CA (moto's API
    cannot set those two: it invents them), as DescribeCluster would return them for a real cluster."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.eks.models import eks_backends

    client = boto3.client("eks", region_name="us-west-2")
    kw: dict[str, Any] = {}
    if remote:
        kw["remoteNetworkConfig"] = {"remoteNodeNetworks": [{"cidrs": ["192.168.50.0/24"]}],
                                     "remotePodNetworks": [{"cidrs": ["192.168.64.0/18"]}]}
    client.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eksClusterRole",
                          resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"],
                                              "endpointPublicAccess": False, "endpointPrivateAccess": True},
                          kubernetesNetworkConfig={"serviceIpv4Cidr": service}, **kw)
    if api is not None:
        cluster = eks_backends[DEFAULT_ACCOUNT_ID]["us-west-2"].clusters[name]
        cluster.endpoint = f"https://127.0.0.1:{api.port}"
        cluster.certificate_authority = {"data": base64.b64encode(api.ca_pem.encode()).decode()}


def test_describe_cluster_fills_endpoint_ca_and_cidrs_and_tls_verifies_against_the_fetched_ca(
        tmp_path: Path, stack: contextlib.ExitStack, moto_eks: str) -> None:
    api = start_api_server(stack, "127.0.0.1", livez=401)
    make_cluster("hybrid-lab", api)
    path = nodeconfig(tmp_path, "    name: hybrid-lab\n    region: us-west-2\n")
    proc = netcheck("run", "--nodeconfig", str(path), "--only", "tls.eks-api,config,cidr.node,cidr.pod.rfc1918",
                    "--format", "json", env=fake_credentials(moto_eks))
    checks = by_id(report_of(proc))
    details = checks["config.cluster.details"]
    assert details["status"] == "PASS", details["message"]
    dc = details["evidence"]["describeCluster"]
    assert dc["status"] == "ok" and dc["apiUrl"].startswith("http://127.0.0.1:")
    assert details["evidence"]["sources"] == {
        "name": "nodeconfig", "region": "nodeconfig", "endpoint": "describe-cluster",
        "certificateAuthority": "describe-cluster", "serviceCidr": "describe-cluster",
        "endpointAccess": "describe-cluster", "nodeCidrs": "describe-cluster", "podCidrs": "describe-cluster"}
    values = details["evidence"]["values"]
    assert values["endpoint"] == f"https://127.0.0.1:{api.port}" and values["serviceCidr"] == "172.16.0.0/16"
    assert values["nodeCidrs"] == ["192.168.50.0/24"] and values["podCidrs"] == ["192.168.64.0/18"]
    assert values["endpointAccess"] == "private"
    ca = checks["tls.eks-api.ca"]
    assert ca["status"] == "PASS" and ca["evidence"]["caSource"] == "describe-cluster"
    hs = checks["tls.eks-api.handshake"]
    assert hs["status"] == "PASS" and hs["evidence"]["caSource"] == "describe-cluster"
    assert "eks:DescribeCluster" in hs["title"] and hs["evidence"]["handshakes"][0]["verified"] is True
    assert checks["tls.eks-api.livez"]["status"] == "PASS"
    assert "192.168.50.0/24" in json.dumps(checks["cidr.node.rfc1918"])
    assert proc.returncode == 0, proc.stderr


def test_describe_cluster_answers_nodeadm_stops_on_are_fails(tmp_path: Path, moto_eks: str) -> None:
    make_cluster("no-remote", None, remote=False)
    env = fake_credentials(moto_eks)
    for name, words in (("no-remote", "remoteNetworkConfig"), ("missing", "no cluster 'missing'")):
        path = nodeconfig(tmp_path, f"    name: {name}\n    region: us-west-2\n", name=f"{name}.yaml")
        proc = netcheck("run", "--nodeconfig", str(path), "--only", "config.cluster", "--format", "json", env=env)
        details = by_id(report_of(proc))["config.cluster.details"]
        assert details["status"] == "FAIL" and words in details["message"], details["message"]
        assert proc.returncode == 3


@pytest.mark.parametrize(("public", "private", "access"), [(True, False, "public"), (False, True, "private"),
                                                           (True, True, "public-and-private"), (None, None, None)])
def test_describe_cluster_answer_maps_to_profile_fields(public: bool | None, private: bool | None,
                                                        access: str | None) -> None:
    from netcheck.aws import cluster_values

    vpc = {k: v for k, v in (("endpointPublicAccess", public), ("endpointPrivateAccess", private)) if v is not None}
    got = cluster_values({"endpoint": "https://x.example/", "certificateAuthority": {"data": "QUJD"},
                          "kubernetesNetworkConfig": {"serviceIpv4Cidr": "172.20.0.0/16"},
                          "remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["10.1.0.0/16", "10.2.0.0/16"]}],
                                                  "remotePodNetworks": [{"cidrs": ["10.3.0.0/16"]}]},
                          "resourcesVpcConfig": vpc, "status": "ACTIVE"})
    assert got.get("endpointAccess") == access
    assert got["endpoint"] == "https://x.example" and got["serviceCidr"] == "172.20.0.0/16"
    assert got["nodeCidrs"] == ["10.1.0.0/16", "10.2.0.0/16"] and got["podCidrs"] == ["10.3.0.0/16"]


def test_credentials_that_cannot_load_are_a_warning_not_a_crash(tmp_path: Path) -> None:
    path = nodeconfig(tmp_path, "    name: my-cluster\n    region: us-west-2\n")
    proc = netcheck("run", "--nodeconfig", str(path), "--only", "config.cluster", "--format", "json",
                    env={"AWS_PROFILE": "no-such-profile"})
    details = by_id(report_of(proc))["config.cluster.details"]
    assert details["status"] == "WARN" and "no-such-profile" in details["message"]
    assert proc.returncode == 0


@pytest.mark.parametrize(("value", "text"), [
    (1.5, "1.5"), (1e-7, "1e-07"), (123456789.0, "1.2345679e+08"),
    (3.4028234663852886e+38, "3.4028235e+38"),  # float32's largest value
    (3.4028235677973366e+38, "+Inf"), (1e39, "+Inf"), (-1e39, "-Inf"),  # round past float32: Go gives ±Inf
])
def test_number_given_as_text_reads_as_go_float32(value: float, text: str) -> None:
    """A number where nodeadm expects text is formatted as sigs.k8s.io/yaml does; beyond float32 is ±Inf, no crash."""
    from netcheck.settings.nodeconfig import _go_float32_g

    assert _go_float32_g(value) == text
