"""tls probe: evaluate per branch on recorded evidence; collect against loopback HTTPS stand-ins."""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from netcheck.model import SkipReason, Status
from netcheck.net import Net
from netcheck.net.tls import CertInfo, HttpAnswer, ProxyAnswer, TlsResult, handshake, name_matches
from netcheck.settings import Settings, SiteProfile, Thresholds
from netcheck.standins import proxy as proxy_standin
from netcheck.standins.tls import INTERCEPT_CA, Server, start_api_server, start_endpoint_server
from probes import tls
from probes.base import ProbeSkip
from testbed import free_port

API_HOST = "abc123.gr7.us-west-2.eks.amazonaws.com"  # fake name: stand-ins or recorded evidence only
AWS_HOST = "eks.us-west-2.amazonaws.com"  # fake name: stand-ins or recorded evidence only
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
              "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR")
T = Thresholds()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


def settings_for(server: Server | None = None, ca: bool = True, **spec: Any) -> Settings:
    cluster: dict[str, Any] = {"name": "prod", "region": "us-west-2", "endpointAccess": "private"}
    if server is not None:
        cluster.update(endpoint=f"https://{API_HOST}:{server.port}", controlPlaneIps=[server.ip])
        if ca:
            cluster["certificateAuthority"] = base64.b64encode(server.ca_pem.encode()).decode()
    spec = {"cluster": cluster, "credentials": "ssm", **spec}
    return Settings(SiteProfile.model_validate({"spec": spec}), "test", environ=dict(os.environ))  # the environment the test set, as build() snapshots it



def run(settings: Settings, check_id: str) -> tuple[tls.Spec, Any]:
    check = next(c for c in tls.plan(settings) if c.id == check_id)
    spec: tls.Spec = check.spec
    try:
        ev = tls.collect(spec, Net(time.monotonic() + 20))
    except ProbeSkip as skip:
        return spec, skip
    return spec, tls.evaluate(spec, ev, T)


# --- plan ----------------------------------------------------------------------------

def test_plan_ids_for_ssm_site(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST])
    ids = {c.id for c in tls.plan(settings_for(api, endpoints=[{"host": "registry.example.internal"},
                                                               {"host": "plain.example.internal", "tls": False}]))}
    assert ids == {"tls.eks-api.ca", "tls.eks-api.handshake", "tls.eks-api.livez", "tls.hybrid-assets.handshake", "tls.eks.handshake",
                   "tls.ecr-api.handshake", "tls.ecr-dkr.handshake", "tls.ssm.handshake",
                   "tls.ssm-installer.handshake", "tls.ssmmessages.handshake", "tls.sts.handshake",
                   "tls.eks-auth.handshake", "tls.logs.handshake", "tls.endpoint.registry.example.internal.handshake"}
    severities = {c.id: c.severity.value for c in tls.plan(settings_for(api))}
    assert severities["tls.eks.handshake"] == "required" and severities["tls.logs.handshake"] == "advisory"


def test_plan_without_endpoint_skips_as_not_applicable() -> None:
    _, skip = run(settings_for(None), "tls.eks-api.handshake")
    assert isinstance(skip, ProbeSkip) and skip.reason == SkipReason.NOT_APPLICABLE


def test_plan_reads_proxy_and_trust_file_from_env(monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST])
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", ".eks.amazonaws.com")  # fake name: stand-ins or recorded evidence only
    monkeypatch.setenv("SSL_CERT_FILE", "/tmp/bundle.pem")
    specs = {c.id: c.spec for c in tls.plan(settings_for(api))}
    assert specs["tls.eks-api.handshake"].proxy is None  # NO_PROXY covers the endpoint
    assert specs["tls.ssm.handshake"].proxy == "http://127.0.0.1:3128"
    assert specs["tls.ssm.handshake"].cafile == "/tmp/bundle.pem"


# --- collect against stand-ins: the API server ------------------------------------------

def test_pass_good_cluster_ca(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST])
    _, out = run(settings_for(api), "tls.eks-api.handshake")
    assert out.status == Status.PASS, out.message
    hs = out.evidence["handshakes"][0]
    assert hs["verified"] and hs["leadsTo"] == "kubernetes" and hs["tlsVersion"].startswith("TLS")
    assert hs["chain"][0]["issuer"] == "O=kubernetes,CN=kubernetes"
    assert "leafNotAfter" in hs


def test_fail_interception_names_the_issuer(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], cert="other-ca")
    _, out = run(settings_for(api), "tls.eks-api.handshake")
    assert out.status == Status.FAIL
    assert out.message.startswith("TLS interception: the chain presented for")
    assert f"is issued by '{INTERCEPT_CA}' instead of the cluster CA" in out.message
    assert "TLS inspection" in out.remediation
    assert out.measured == INTERCEPT_CA


def test_fail_expired(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], cert="expired")
    _, out = run(settings_for(api), "tls.eks-api.handshake")
    assert out.status == Status.FAIL and "has expired" in out.message, out.message


def test_fail_not_yet_valid_points_at_the_clock(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], cert="not-yet-valid")
    _, out = run(settings_for(api), "tls.eks-api.handshake")
    assert out.status == Status.FAIL and "not valid before" in out.message and "clock" in out.remediation


def test_fail_name_mismatch(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], cert="wrong-name")
    _, out = run(settings_for(api), "tls.eks-api.handshake")
    assert out.status == Status.FAIL
    assert "wrong-name.example.invalid" in out.message and f"do not include {API_HOST}" in out.message


def test_warn_without_ca_but_kubernetes_issuer(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST])
    _, out = run(settings_for(api, ca=False), "tls.eks-api.handshake")
    assert out.status == Status.WARN and "no cluster CA" in out.message
    assert "certificateAuthority" in out.remediation


def test_warn_without_ca_and_foreign_issuer_suspects_interception(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], cert="other-ca")
    _, out = run(settings_for(api, ca=False), "tls.eks-api.handshake")
    assert out.status == Status.WARN and "possible TLS interception" in out.message


def test_livez_401_passes_and_reports_version(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], livez=401)
    _, out = run(settings_for(api), "tls.eks-api.livez")
    assert out.status == Status.PASS and "401" in out.message and "v1.31.2-eks-" in out.message, out.message
    assert api.requests == ["/livez", "/version"]  # one keep-alive connection


def test_livez_200_ok(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST])
    _, out = run(settings_for(api), "tls.eks-api.livez")
    assert out.status == Status.PASS and "'ok'" in out.message


def test_livez_500_fails_and_404_warns(stack: contextlib.ExitStack) -> None:
    bad = start_api_server(stack, "127.0.0.1", names=[API_HOST], livez=500)
    _, out = run(settings_for(bad), "tls.eks-api.livez")
    assert out.status == Status.FAIL and "500" in out.message
    odd = start_api_server(stack, "127.0.0.1", names=[API_HOST], livez=404, version=404)
    _, out = run(settings_for(odd), "tls.eks-api.livez")
    assert out.status == Status.WARN and "404" in out.message


def test_livez_skips_when_the_chain_does_not_verify(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], cert="other-ca")
    _, out = run(settings_for(api), "tls.eks-api.livez")
    assert out.status == Status.SKIP and out.skip_reason == SkipReason.DEPENDENCY


def test_tcp_refused_is_a_dependency_skip(stack: contextlib.ExitStack) -> None:
    api = start_api_server(stack, "127.0.0.1", names=[API_HOST])
    gone = replace(api, port=free_port())
    _, out = run(settings_for(gone), "tls.eks-api.handshake")
    assert out.status == Status.SKIP and out.skip_reason == SkipReason.DEPENDENCY and "refused" in out.message


# --- AWS endpoints and the system trust store ------------------------------------------

def aws_spec(server: Server, **kw: Any) -> tls.Spec:
    return tls.Spec("handshake", "eks", AWS_HOST, server.port, (server.ip,), **kw)


def test_aws_endpoint_passes_with_ssl_cert_file(stack: contextlib.ExitStack) -> None:
    srv = start_endpoint_server(stack, "127.0.0.2", names=[AWS_HOST])
    spec = aws_spec(srv, cafile=srv.ca_file)
    out = tls.evaluate(spec, tls.collect(spec, Net()), T)
    assert out.status == Status.PASS and f"SSL_CERT_FILE={srv.ca_file}" in out.message


def test_aws_endpoint_unknown_to_system_store_is_interception(stack: contextlib.ExitStack) -> None:
    srv = start_endpoint_server(stack, "127.0.0.2", names=[AWS_HOST])
    spec = aws_spec(srv)
    out = tls.evaluate(spec, tls.collect(spec, Net()), T)
    assert out.status == Status.FAIL and "TLS interception" in out.message
    assert "instead of the system trust store" in out.message and "trust store" in (out.remediation or "")


def test_ip_literal_endpoint_checks_ip_san(stack: contextlib.ExitStack) -> None:
    srv = start_endpoint_server(stack, "127.0.0.3")
    spec = tls.Spec("handshake", "endpoint.127.0.0.3", "127.0.0.3", srv.port, cafile=srv.ca_file)
    out = tls.evaluate(spec, tls.collect(spec, Net()), T)
    assert out.status == Status.PASS, out.message


def test_through_proxy_records_via_proxy(stack: contextlib.ExitStack) -> None:
    srv = start_endpoint_server(stack, "127.0.0.2", names=[AWS_HOST])
    px = proxy_standin.start(stack, hosts={AWS_HOST: "127.0.0.2"})
    spec = aws_spec(srv, cafile=srv.ca_file, proxy=px.url)
    out = tls.evaluate(spec, tls.collect(spec, Net()), T)
    assert out.status == Status.PASS and "via proxy" in out.message
    assert out.evidence["handshakes"][0]["viaProxy"]["status"] == 200
    assert px.requests == [f"{AWS_HOST}:{srv.port}"]


def test_proxy_denial_is_a_dependency_skip(stack: contextlib.ExitStack) -> None:
    srv = start_endpoint_server(stack, "127.0.0.2", names=[AWS_HOST])
    px = proxy_standin.start(stack, mode="deny")
    spec = aws_spec(srv, cafile=srv.ca_file, proxy=px.url)
    out = tls.evaluate(spec, tls.collect(spec, Net()), T)
    assert out.status == Status.SKIP and "403" in out.message and "proxy.eks.connect" in (out.remediation or "")


def test_handshake_timeout_after_tcp_connect_fails(stack: contextlib.ExitStack) -> None:
    import socket

    silent = socket.socket()
    stack.callback(silent.close)
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # accepts TCP (kernel backlog) but never speaks TLS
    r = handshake(AWS_HOST, "127.0.0.1", silent.getsockname()[1], 1.0)
    assert r.stage == "handshake" and r.tcp == "connected"
    out = tls.evaluate(tls.Spec("handshake", "eks", AWS_HOST), tls.Evidence((r,), "profile"), T)
    assert out.status == Status.FAIL and "after TCP connected" in out.message


# --- evaluate on recorded evidence -------------------------------------------------------

def cert(not_after: float, names: tuple[str, ...] = (AWS_HOST,)) -> CertInfo:
    return CertInfo("CN=x", "CN=Amazon RSA 2048 M01,O=Amazon", "Amazon RSA 2048 M01", 0.0, not_after, names, False)


def test_evaluate_warns_when_leaf_expires_soon() -> None:
    now = 1_800_000_000.0
    r = TlsResult(AWS_HOST, "10.0.0.1", 443, "the system trust store", "done", "connected", verified=True,
                  tls_version="TLSv1.3", chain=(cert(now + 2 * 86400),), leads_to="Amazon Root CA 1", checked_at=now)
    out = tls.evaluate(tls.Spec("handshake", "eks", AWS_HOST), tls.Evidence((r,), "dns"), T)
    assert out.status == Status.WARN and out.unit == "days" and out.measured == 2.0


def test_evaluate_worst_address_wins() -> None:
    now = 1_800_000_000.0
    good = TlsResult(API_HOST, "10.0.0.1", 443, "the cluster CA", "done", "connected", verified=True,
                     tls_version="TLSv1.3", chain=(cert(now + 90 * 86400, (API_HOST,)),), leads_to="kubernetes",
                     checked_at=now, anchored=True)
    bad = replace(good, ip="10.0.0.2", verified=False, verify_error="unknown-issuer", anchored=False,
                  leads_to="Zscaler Intermediate Root CA")
    out = tls.evaluate(tls.Spec("handshake", "eks-api", API_HOST, ca_pem="x", api=True),
                       tls.Evidence((good, bad), "profile"), T)
    assert out.status == Status.FAIL and "Zscaler" in out.message and "10.0.0.2" in out.message
    assert len(out.evidence["handshakes"]) == 2


def test_evaluate_proxy_unreachable_skips() -> None:
    p = ProxyAnswer("10.9.9.9:3128", f"{AWS_HOST}:443", "timeout", reason="no-answer")
    r = TlsResult(AWS_HOST, None, 443, "the system trust store", "tcp", "timeout", proxy=p)
    out = tls.evaluate(tls.Spec("handshake", "eks", AWS_HOST), tls.Evidence((r,), "proxy"), T)
    assert out.status == Status.SKIP and "10.9.9.9:3128" in out.message


def test_evaluate_livez_no_http_answer_fails() -> None:
    now = 1_800_000_000.0
    r = TlsResult(API_HOST, "10.0.0.1", 443, "the cluster CA", "done", "connected", verified=True,
                  chain=(cert(now + 90 * 86400, (API_HOST,)),), checked_at=now,
                  http=(HttpAnswer("/livez", None, error="RemoteDisconnected: closed"),))
    out = tls.evaluate(tls.Spec("livez", "eks-api", API_HOST, api=True), tls.Evidence((r,), "profile"), T)
    assert out.status == Status.FAIL and "RemoteDisconnected" in out.message


def test_name_matches_wildcards() -> None:
    assert name_matches("a.b.example.com", ("*.b.example.com",))
    assert not name_matches("x.a.b.example.com", ("*.b.example.com",))
    assert name_matches("10.0.0.1", ("10.0.0.1",)) and not name_matches("10.0.0.1", ("example.com",))


# --- through the runner: a report that validates ------------------------------------------

def test_runner_report_for_tls_clock_proxy(stack: contextlib.ExitStack) -> None:
    from netcheck.model import Report, Verdict
    from netcheck.plan import build_plan
    from netcheck.runner import run as run_checks
    from netcheck.standins import ntp
    from tests.conftest import validate_report

    api = start_api_server(stack, "127.0.0.1", names=[API_HOST], livez=401)
    clock_srv = ntp.start(stack, offset=10.0)
    settings = settings_for(api, ntp={"servers": [clock_srv.address]})
    plan = build_plan(settings, only=("tls.eks-api", "clock.ntp", "clock.https", "proxy"),
                      probe_names=["tls", "proxy", "clock"])
    result = run_checks(plan.checks, Net(), settings.spec.thresholds, 30.0)
    status = {r.id: r.status.value for r in result.results}
    assert status == {"tls.eks-api.ca": "PASS", "tls.eks-api.handshake": "PASS", "tls.eks-api.livez": "PASS",
                      "proxy.env.none": "PASS",
                      "clock.ntp.offset": "WARN", "clock.https.offset": "PASS"}
    report = Report(result.results, Verdict.GO, "2026-01-01T00:00:00+00:00", 1.0)
    validate_report(report.to_json())


def test_demo_start_wires_endpoint_ca_and_cluster_fields(stack: contextlib.ExitStack) -> None:
    from netcheck.standins import tls as tls_standin

    with contextlib.ExitStack() as inner:
        demo = tls_standin.start(inner, "127.0.0.1", API_HOST, "127.0.0.2", [AWS_HOST])
        settings = Settings(SiteProfile.model_validate({"spec": {
            "cluster": {"name": "demo", "region": "us-west-2", "controlPlaneIps": ["127.0.0.1"],
                        **demo.cluster_fields}, "credentials": "ssm", "aws": demo.aws_fields}}), "demo",
                            environ=dict(os.environ))  # after start, as the demo snapshots it: the trust file
        specs = {c.id: c.spec for c in tls.plan(settings)}
        assert specs["tls.eks.handshake"].cafile == demo.endpoints.ca_file
        assert specs["tls.eks.handshake"].port == demo.endpoints.port
        out = tls.evaluate(specs["tls.eks-api.handshake"], tls.collect(specs["tls.eks-api.handshake"], Net()), T)
        assert out.status == Status.PASS, out.message
        eks = replace(specs["tls.eks.handshake"], ips=("127.0.0.2",))  # the demo's DNS stand-in would say so
        # A real AWS name served by the stand-in's own root is trusted inspection (WARN); without the
        # Amazon-root expectation (the demo's overridden domain) it passes.
        assert tls.evaluate(eks, tls.collect(eks, Net()), T).status == Status.WARN
        eks = replace(eks, amazon_roots=False)
        assert tls.evaluate(eks, tls.collect(eks, Net()), T).status == Status.PASS
    assert "SSL_CERT_FILE" not in os.environ
