"""Trusted TLS inspection: an AWS name whose verified chain does not end at an Amazon root WARNs, naming the issuer.

The stand-in serves an AWS name on loopback with a chain from a private inspection CA; the
client either trusts that CA (SSL_CERT_FILE, as a node with the corporate CA installed does) or not.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from netcheck.model import Status
from netcheck.net import Net
from netcheck.net.tls import CertInfo, TlsResult
from netcheck.settings import Settings, SiteProfile, Thresholds
from netcheck.standins.tls import INTERCEPT_CA, make_ca, start_endpoint_server
from probes import tls

AWS_HOST = "sts.us-west-2.amazonaws.com"  # served by the loopback stand-in only (addresses given, never resolved)
T = Thresholds()


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


def spec_for(ip: str, port: int, cafile: str | None, amazon: bool = True) -> tls.Spec:
    return tls.Spec("handshake", "sts", AWS_HOST, port, (ip,), cafile=cafile, amazon_roots=amazon)


def test_trusted_inspection_ca_warns_naming_the_issuer(stack: contextlib.ExitStack) -> None:
    srv = start_endpoint_server(stack, "127.0.0.5", names=[AWS_HOST], ca=make_ca(INTERCEPT_CA, "Example Corp"))
    spec = spec_for(srv.ip, srv.port, srv.ca_file)
    out = tls.evaluate(spec, tls.collect(spec, Net(time.monotonic() + 10)), T)
    assert out.status is Status.WARN, out.message
    assert f"leads to '{INTERCEPT_CA}'" in out.message and "TLS interception" in out.message
    assert "will work" in out.message and "will fail" in out.message
    assert out.measured == INTERCEPT_CA and AWS_HOST in (out.remediation or "")
    assert out.evidence["handshakes"][0]["rootSpkiSha256"] not in tls.AMAZON_ROOTS
    # The same chain for a name that is not an AWS endpoint (a site's own registry) is fine.
    plain = tls.evaluate(replace(spec, amazon_roots=False), tls.collect(spec, Net(time.monotonic() + 10)), T)
    assert plain.status is Status.PASS


def test_untrusted_inspection_ca_fails(stack: contextlib.ExitStack) -> None:
    srv = start_endpoint_server(stack, "127.0.0.5", names=[AWS_HOST], ca=make_ca(INTERCEPT_CA, "Example Corp"))
    other = start_endpoint_server(stack, "127.0.0.6", names=["unused.example.invalid"])  # another CA's file
    spec = spec_for(srv.ip, srv.port, other.ca_file)
    out = tls.evaluate(spec, tls.collect(spec, Net(time.monotonic() + 10)), T)
    assert out.status is Status.FAIL and "TLS interception" in out.message and INTERCEPT_CA in out.message


def _verified(root: str, spki: str) -> TlsResult:
    now = time.time()
    leaf = CertInfo(f"CN={AWS_HOST}", "CN=Amazon RSA 2048 M01", "Amazon RSA 2048 M01", now - 86400, now + 86400 * 90,
                    (AWS_HOST,), False)
    return TlsResult(AWS_HOST, "203.0.113.9", 443, "the system trust store", "done", "connected", verified=True,
                     tls_version="TLSv1.3", chain=(leaf,), leads_to=root, root_spki=spki, name_matches=True,
                     checked_at=now)


def test_amazon_roots_are_known_by_key_not_name() -> None:
    spec = tls.Spec("handshake", "sts", AWS_HOST, amazon_roots=True)
    for spki, name in tls.AMAZON_ROOTS.items():
        out = tls.evaluate(spec, tls.Evidence((_verified(name, spki),), "dns"), T)
        assert out.status is Status.PASS, out.message
    fake = tls.evaluate(spec, tls.Evidence((_verified("Amazon Root CA 1", "00" * 32),), "dns"), T)
    assert fake.status is Status.WARN and "not its key" in fake.message


def test_plan_expects_amazon_roots_for_aws_names_only() -> None:
    def specs(**spec: object) -> dict[str, tls.Spec]:
        base = {"cluster": {"region": "cn-north-1"}, "credentials": "ssm",
                "endpoints": [{"host": "registry.example.invalid"}], **spec}
        s = Settings(SiteProfile.model_validate({"spec": base}), "test")
        return {c.id: c.spec for c in tls.plan(s)}

    real = specs(cluster={"region": "us-gov-west-1"})
    assert real["tls.eks.handshake"].amazon_roots and real["tls.hybrid-assets.handshake"].amazon_roots
    assert real["tls.ssm-installer.handshake"].amazon_roots
    assert not real["tls.endpoint.registry.example.invalid.handshake"].amazon_roots
    assert not real["tls.eks-api.handshake"].amazon_roots  # the cluster CA is judged on its own
    # China and the European Sovereign Cloud: their roots are not known to netcheck, so only the store judges.
    china = specs()
    assert china["tls.eks.handshake"].host == "eks.cn-north-1.amazonaws.com.cn"
    assert not any(s.amazon_roots for s in china.values())
    assert not any(s.amazon_roots for s in specs(cluster={"region": "eusc-de-east-1"}).values())
    lab = specs(cluster={"region": "us-west-2"}, aws={"domain": "demo.internal"})  # stand-ins: not Amazon's
    assert not any(s.amazon_roots for s in lab.values())
