"""proxy probe: plan from the environment, CONNECT against a loopback proxy, NO_PROXY coverage."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from netcheck.model import SkipReason, Status
from netcheck.net import Net
from netcheck.net.proxyenv import redact
from netcheck.net.tls import ProxyAnswer
from netcheck.settings import Settings, SiteProfile, Thresholds
from netcheck.standins import proxy as proxy_standin
from probes import proxy
from probes.base import ProbeSkip

API_HOST = "abc123.gr7.us-west-2.eks.amazonaws.com"  # fake name: stand-ins or recorded evidence only
VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")
T = Thresholds()
FULL_NO_PROXY = f"localhost,127.0.0.1,{API_HOST},10.20.0.0/16,192.168.50.0/24,192.168.64.0/18,172.20.0.0/16"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for v in VARS:
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


def site(**cluster: Any) -> Settings:
    c = {"name": "prod", "region": "us-west-2", "endpoint": f"https://{API_HOST}", "endpointAccess": "private",
         "serviceCidr": "172.20.0.0/16", **cluster}
    return Settings(SiteProfile.model_validate({"spec": {
        "cluster": c, "credentials": "ssm", "vpc": {"cidrs": ["10.20.0.0/16"]},
        "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["192.168.64.0/18"]}}}), "test",
        environ=dict(os.environ))  # the environment the test set, as build() snapshots it


def checks(settings: Settings) -> dict[str, Any]:
    return {c.id: c for c in proxy.plan(settings)}


def verdict(check: Any, net: Net | None = None) -> Any:
    try:
        ev = proxy.collect(check.spec, net or Net())
    except ProbeSkip as skip:
        return skip
    return proxy.evaluate(check.spec, ev, T)


# --- plan ----------------------------------------------------------------------------

def test_no_proxy_configured_is_one_pass() -> None:
    cs = checks(site())
    assert set(cs) == {"proxy.env.none"}
    out = verdict(cs["proxy.env.none"])
    assert out.status == Status.PASS and "connections are direct" in out.message


def test_http_proxy_only_is_still_direct_for_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://user:pw@10.0.0.5:3128")
    out = verdict(checks(site())["proxy.env.none"])
    assert out.status == Status.PASS and "plain HTTP" in out.message and "pw" not in out.message


def test_plan_with_proxy_lists_connect_checks_for_proxied_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.5:3128")
    monkeypatch.setenv("NO_PROXY", f"{API_HOST},.s3.us-west-2.amazonaws.com")  # fake name: stand-ins or recorded evidence only
    ids = set(checks(site()))
    assert ids == {"proxy.env.consistent", "proxy.no-proxy.coverage", "proxy.hybrid-assets.connect",
                   "proxy.eks.connect", "proxy.ecr-api.connect", "proxy.ecr-dkr.connect", "proxy.ssm.connect",
                   "proxy.ssmmessages.connect", "proxy.sts.connect", "proxy.eks-auth.connect", "proxy.logs.connect"}
    assert checks(site())["proxy.logs.connect"].severity.value == "advisory"


# --- CONNECT against the stand-in ---------------------------------------------------------

def connect_check(monkeypatch: pytest.MonkeyPatch, url: str) -> Any:
    monkeypatch.setenv("HTTPS_PROXY", url)
    return checks(site())["proxy.eks.connect"]


def test_connect_allowed_passes(monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack) -> None:
    upstream = socket.socket()
    stack.callback(upstream.close)
    upstream.bind(("127.0.0.1", 0))
    upstream.listen(4)
    px = proxy_standin.start(stack, hosts={"eks.us-west-2.amazonaws.com": "127.0.0.1"})  # fake name: stand-ins or recorded evidence only
    check = connect_check(monkeypatch, px.url)
    # aim the check at the loopback upstream's port
    from dataclasses import replace
    check = replace(check, spec=replace(check.spec, port=upstream.getsockname()[1]))
    out = verdict(check)
    assert out.status == Status.PASS and "200" in out.message, out.message
    assert out.evidence["viaProxy"] == px.url


def test_connect_denied_fails_naming_403(monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack) -> None:
    px = proxy_standin.start(stack, mode="deny")
    out = verdict(connect_check(monkeypatch, px.url))
    assert out.status == Status.FAIL and "403 Forbidden" in out.message and "allow list" in out.remediation


def test_connect_auth_required_407_then_credentials_pass(monkeypatch: pytest.MonkeyPatch,
                                                         stack: contextlib.ExitStack) -> None:
    upstream = socket.socket()
    stack.callback(upstream.close)
    upstream.bind(("127.0.0.1", 0))
    upstream.listen(4)
    px = proxy_standin.start(stack, mode="auth", hosts={"eks.us-west-2.amazonaws.com": "127.0.0.1"})  # fake name: stand-ins or recorded evidence only
    out = verdict(connect_check(monkeypatch, px.url))
    assert out.status == Status.FAIL and "407" in out.message and "credentials" in out.remediation
    assert out.evidence["proxyAuthenticate"].startswith("Basic")
    from dataclasses import replace
    check = connect_check(monkeypatch, f"http://user:secret@{px.ip}:{px.port}")
    out = verdict(replace(check, spec=replace(check.spec, port=upstream.getsockname()[1])))
    assert out.status == Status.PASS and "secret" not in str(out.evidence)


def test_connect_proxy_never_answers_fails(monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack) -> None:
    import time

    px = proxy_standin.start(stack, mode="silent")
    out = verdict(connect_check(monkeypatch, px.url), Net(time.monotonic() + 1.5))
    assert out.status == Status.FAIL and "no answer to CONNECT" in out.message


def test_connect_proxy_unreachable_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = verdict(connect_check(monkeypatch, f"http://127.0.0.1:{port}"))
    assert out.status == Status.FAIL and "'refused'" in out.message


def test_upstream_unreachable_is_502(monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack) -> None:
    px = proxy_standin.start(stack)  # no hosts mapping: the stand-in answers 502 rather than go anywhere
    out = verdict(connect_check(monkeypatch, px.url))
    assert out.status == Status.FAIL and "502" in out.message and "DNS" in out.remediation


def test_socks_proxy_cannot_be_tested(monkeypatch: pytest.MonkeyPatch) -> None:
    skip = verdict(connect_check(monkeypatch, "socks5://10.0.0.5:1080"))
    assert isinstance(skip, ProbeSkip) and skip.reason == SkipReason.NOT_APPLICABLE


# --- consistency ------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "status"), [
    ({"HTTPS_PROXY": "http://p:3128", "https_proxy": "http://p:3128"}, Status.PASS),
    ({"HTTPS_PROXY": "http://p:3128"}, Status.PASS),
    ({"HTTPS_PROXY": "http://p:3128", "https_proxy": "http://q:3128"}, Status.WARN),
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "a", "no_proxy": "b"}, Status.WARN),
    ({"ALL_PROXY": "http://p:3128"}, Status.WARN),
])
def test_env_consistent(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], status: Status) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = verdict(checks(site())["proxy.env.consistent"])
    assert out.status == status, out.message


# --- NO_PROXY coverage --------------------------------------------------------------------

def coverage(monkeypatch: pytest.MonkeyPatch, no_proxy: str, **cluster: Any) -> Any:
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.5:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    return verdict(checks(site(**cluster))["proxy.no-proxy.coverage"])


def test_coverage_complete_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert coverage(monkeypatch, FULL_NO_PROXY).status == Status.PASS


def test_coverage_by_wider_cidr_and_domain_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    out = coverage(monkeypatch, ".eks.amazonaws.com,10.0.0.0/8,192.168.0.0/16,172.16.0.0/12")  # fake name: stand-ins or recorded evidence only
    assert out.status == Status.PASS, out.message


def test_coverage_missing_endpoint_fails_with_exact_list(monkeypatch: pytest.MonkeyPatch) -> None:
    out = coverage(monkeypatch, "localhost,10.20.0.0/16")
    assert out.status == Status.FAIL
    assert [m["value"] for m in out.evidence["missing"]] == [API_HOST, "192.168.50.0/24", "192.168.64.0/18",
                                                              "172.20.0.0/16"]
    assert out.evidence["suggestedNoProxy"] == (f"localhost,10.20.0.0/16,{API_HOST},192.168.50.0/24,"
                                                "192.168.64.0/18,172.20.0.0/16")
    assert out.evidence["suggestedNoProxy"] in out.remediation and out.measured == 4


def test_coverage_missing_only_cidrs_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    out = coverage(monkeypatch, f"{API_HOST},10.20.0.0/16,192.168.50.0/24")
    assert out.status == Status.WARN
    assert [m["value"] for m in out.evidence["missing"]] == ["192.168.64.0/18", "172.20.0.0/16"]


def test_coverage_narrower_cidr_does_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    out = coverage(monkeypatch, FULL_NO_PROXY.replace("10.20.0.0/16", "10.20.1.0/24"))
    assert out.status == Status.WARN and [m["value"] for m in out.evidence["missing"]] == ["10.20.0.0/16"]


def test_coverage_public_endpoint_need_not_be_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    out = coverage(monkeypatch, FULL_NO_PROXY.replace(API_HOST + ",", ""), endpointAccess="public")
    assert out.status == Status.PASS, out.message


def test_coverage_star_covers_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    assert coverage(monkeypatch, "*").status == Status.PASS


def test_evaluate_garbled_answer_fails() -> None:
    spec = proxy.Spec("connect", (), "eks.us-west-2.amazonaws.com", 443, "http://p:3128")  # fake name: stand-ins or recorded evidence only
    a = ProxyAnswer("p:3128", "eks.us-west-2.amazonaws.com:443", "connected", error="not an HTTP answer: 'SSH-2.0'")  # fake name: stand-ins or recorded evidence only
    out = proxy.evaluate(spec, a, T)
    assert out.status == Status.FAIL and "SSH-2.0" in out.message


def test_redact() -> None:
    assert redact("http://u:p@h:1") == "http://h:1" and redact("h:1") == "h:1"
