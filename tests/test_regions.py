"""`netcheck regions` and latency.region.closest on loopback: real sockets, never a real AWS address.

The real Region names (eks.<region>.amazonaws.com) resolve only through a DNS stand-in on loopback,
mapped to 127.x addresses with listeners started here; a guard fails the test on any lookup through
libc and on any packet to an address outside 127.0.0.0/8. The judgement (ratio and margin) is tested
with recorded figures. tests/test_regions_netns.py measures real delays in namespaces.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from netcheck import regions as rg
from netcheck.model import SkipReason, Status
from netcheck.net import Net
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import region as probe
from probes.endpoints import PARTITIONS

REAL = "amazonaws.com"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail on any libc lookup and on any connect/send to an address outside loopback; record destinations."""
    seen: list[str] = []

    real_getaddrinfo = socket.getaddrinfo

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"test_regions tried a libc lookup: {args[:2]!r}")

    def literal_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        """A literal loopback address passes (create_connection to the proxy stand-in); any name fails."""
        try:
            ok = ipaddress.ip_address(str(host)).is_loopback
        except ValueError:
            ok = False
        assert ok, f"test_regions tried a libc lookup of {host!r}"
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded(name: str) -> Any:
        original = getattr(socket.socket, name)

        def call(self: socket.socket, *args: Any) -> Any:
            addr = args[-1] if name in ("sendto", "sendmsg") else args[0]
            if name == "sendmsg" and len(args) < 4:
                return original(self, *args)  # connected socket: its peer was checked at connect
            host = str(addr[0]) if isinstance(addr, tuple) else ""
            if self.family in (socket.AF_INET, socket.AF_INET6):
                assert ipaddress.ip_address(host.split("%")[0]).is_loopback, f"{name} to non-loopback {addr!r}"
                seen.append(host)
            return original(self, *args)
        return call

    for fn in ("gethostbyname", "gethostbyname_ex"):
        monkeypatch.setattr(socket, fn, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", literal_only)
    for method in ("connect", "connect_ex", "sendto", "sendmsg"):
        monkeypatch.setattr(socket.socket, method, guarded(method))
    return seen


def _listener(ip: str) -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, 0))
    srv.listen(64)
    return srv, srv.getsockname()[1]


@contextlib.contextmanager
def accepting(ips: list[str], port: int = 0) -> Iterator[int]:
    """TCP listeners on each of `ips`, all on one port (free on the first address), accepting until the end."""
    stack = contextlib.ExitStack()
    socks = []
    with stack:
        first, port = _listener(ips[0]) if port == 0 else (None, port)
        if first is not None:
            socks.append(first)
        for ip in ips[1:] if first is not None else ips:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
            s.listen(64)
            socks.append(s)
        stop = threading.Event()

        def serve(s: socket.socket) -> None:
            s.settimeout(0.1)
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    conn, _ = s.accept()
                    conn.close()

        threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in socks]
        for t in threads:
            t.start()
        try:
            yield port
        finally:
            stop.set()
            for t in threads:
                t.join(2)
            for s in socks:
                s.close()


def settings(dns: str, port: int, region: str | None = "us-west-2", environ: dict[str, str] | None = None,
             **spec: Any) -> Settings:
    body: dict[str, Any] = {"cluster": {"region": region} if region else {}, "dns": {"servers": [dns]},
                            "aws": {"servicePort": port}, **spec}
    return Settings(SiteProfile.model_validate({"spec": body}), "test", environ=environ or {})


@pytest.fixture
def lab_dns() -> Iterator[Any]:
    """A DNS stand-in: us-west-2 and us-east-1 on listeners, eu-west-1 on a closed port, sa-east-1 NXDOMAIN."""
    from netcheck.standins import dns

    with contextlib.ExitStack() as stack:
        server = dns.start(stack, {f"eks.us-west-2.{REAL}": ["127.77.0.1"], f"eks.us-east-1.{REAL}": ["127.77.0.2"],
                                   f"eks.eu-west-1.{REAL}": ["127.77.0.3"]},
                           faults={f"eks.sa-east-1.{REAL}": "nxdomain"})
        yield server


# --- the candidate list ------------------------------------------------------------------------

def test_candidates_follow_the_partition_table_and_always_include_the_cluster() -> None:
    s = settings("127.0.0.1:53", 443, "us-gov-west-1")
    assert [c.region for c in rg.candidates(s)] == ["us-gov-east-1", "us-gov-west-1"]
    assert rg.candidates(s)[0].host == "eks.us-gov-east-1.amazonaws.com"
    china = settings("127.0.0.1:53", 443, "cn-north-1")
    assert {c.host for c in rg.candidates(china)} == {"eks.cn-north-1.amazonaws.com.cn",
                                                      "eks.cn-northwest-1.amazonaws.com.cn"}
    commercial = rg.regions_of(PARTITIONS[-1])
    assert len(commercial) >= 30 and "us-west-2" in commercial and not any(r.startswith("cn-") for r in commercial)
    narrowed = settings("127.0.0.1:53", 443, "us-west-2", latency={"regions": ["eu-west-1", "us-east-1"]})
    assert [c.region for c in rg.candidates(narrowed)] == ["us-west-2", "eu-west-1", "us-east-1"]
    assert [c.region for c in rg.candidates(narrowed, ["ap-south-1"])] == ["us-west-2", "ap-south-1"]
    lab = settings("127.0.0.1:53", 8443, "us-west-2", aws={"domain": "lab.internal", "servicePort": 8443})
    assert {c.host.split(".", 2)[2] for c in rg.candidates(lab)} == {"lab.internal"}


def test_proxy_per_candidate_honours_no_proxy() -> None:
    env = {"HTTPS_PROXY": "http://u:p@127.0.0.9:3128", "NO_PROXY": "eks.us-east-1.amazonaws.com"}
    s = settings("127.0.0.1:53", 443, "us-west-2", environ=env, latency={"regions": ["us-east-1"]})
    by = {c.region: c.proxy for c in rg.candidates(s)}
    assert by == {"us-west-2": "http://u:p@127.0.0.9:3128", "us-east-1": None}


# --- measuring on loopback ---------------------------------------------------------------------

def test_survey_ranks_measured_regions_and_lists_the_rest(lab_dns: Any, loopback_only: list[str]) -> None:
    with accepting(["127.77.0.1", "127.77.0.2"]) as port:
        s = settings(lab_dns.address, port, latency={"regions": ["us-east-1", "eu-west-1", "sa-east-1"]})
        result = rg.survey(s, Net(), samples=3)
    by = {r.region: r for r in result.results}
    assert by["us-west-2"].state == by["us-east-1"].state == "measured"
    assert len(by["us-west-2"].got) == 3 and by["us-west-2"].method == f"tcp-{port}"
    assert by["eu-west-1"].state == "measured"  # a RST (closed port) is an answer: one round trip
    assert by["sa-east-1"].state == "unresolved" and "NXDOMAIN" in by["sa-east-1"].detail
    assert result.seconds < 10
    doc = result.to_json()
    assert doc["kind"] == "RegionSurvey" and doc["clusterRegion"] == "us-west-2"
    assert [r["region"] for r in doc["regions"]][-1] == "sa-east-1" and doc["regions"][-1]["rank"] is None
    assert all(r["withinTarget"] for r in doc["regions"][:3])
    table = result.table()
    assert "us-west-2*" in table and "did not resolve: the name does not exist (NXDOMAIN)" in table and "direct internet path" in table
    assert {ipaddress.ip_address(h).is_loopback for h in loopback_only} == {True}
    asked = {q[0] for q in lab_dns.queries}
    assert asked == {f"eks.{r}.{REAL}" for r in ("us-west-2", "us-east-1", "eu-west-1", "sa-east-1")}


def test_through_the_proxy_each_sample_is_a_connect(lab_dns: Any) -> None:
    from netcheck.standins import proxy as px

    with contextlib.ExitStack() as stack, accepting(["127.77.0.1"]) as port:
        proxy = px.start(stack, "127.0.0.1", hosts={f"eks.us-west-2.{REAL}": "127.77.0.1"})
        deny = px.start(stack, "127.0.0.1", mode="deny")
        s = settings(lab_dns.address, port, environ={"HTTPS_PROXY": proxy.url}, latency={"regions": ["eu-west-1"]})
        result = rg.survey(s, Net(), samples=3)
        s_deny = settings(lab_dns.address, port, environ={"https_proxy": deny.url})
        refused = rg.survey(s_deny, Net(), ["us-east-1"], samples=2)
    by = {r.region: r for r in result.results}
    assert by["us-west-2"].state == "measured" and by["us-west-2"].method == "connect" and len(by["us-west-2"].got) == 3
    assert by["eu-west-1"].state == "no-answer" and "502" in by["eu-west-1"].detail  # the stand-in could not reach it
    assert proxy.requests.count(f"eks.us-west-2.{REAL}:{port}") == 3
    assert not lab_dns.queries  # through a proxy the proxy resolves, not this host
    assert "CONNECT set-up through the HTTPS proxy" in result.table()
    assert {r.state for r in refused.results} == {"proxy-refused"} and not refused.measured


def test_the_region_check_plans_measures_and_judges_on_loopback(lab_dns: Any) -> None:
    with accepting(["127.77.0.1", "127.77.0.2"]) as port:
        s = settings(lab_dns.address, port, latency={"regions": ["us-east-1", "sa-east-1"]})
        [check] = probe.plan(s)
        assert check.id == "latency.region.closest" and check.severity.value == "advisory"
        ev = probe.collect(check.spec, Net())
    out = probe.evaluate(check.spec, ev, Thresholds())
    assert out.status is Status.PASS, out.message  # two loopback addresses: neither is markedly faster
    assert "1 did not resolve (sa-east-1)" in out.message and "public EKS endpoint" in out.message
    assert [r["region"] for r in out.evidence["regions"]][-1] == "sa-east-1"


def test_no_cluster_region_plans_no_check() -> None:
    assert probe.plan(settings("127.0.0.1:53", 443, None)) == []


def test_demo_points_the_check_at_its_stand_ins(loopback_only: list[str]) -> None:
    """`netcheck demo` measures only its own loopback stand-ins (every name under demo.internal)."""
    from netcheck.demo import demo_profile, start_standins
    from netcheck.plan import build_plan

    with contextlib.ExitStack() as stack:
        extra, token = start_standins(stack)
        s = Settings(SiteProfile.model_validate(demo_profile(**extra)), "demo", token=token)
        [check] = [c for c in build_plan(s).checks if c.id == "latency.region.closest"]
        assert all(c.host.endswith(".demo.internal") and c.proxy is None for c in check.spec.candidates)
        assert check.spec.dns_servers and all(ipaddress.ip_address(d.rsplit(":", 1)[0]).is_loopback
                                              for d in check.spec.dns_servers)
        out = probe.evaluate(check.spec, probe.collect(check.spec, Net()), s.spec.thresholds)
    assert out.status is Status.PASS, out.message
    assert "EKS endpoint name under demo.internal" in out.message
    assert loopback_only and all(h.startswith("127.") for h in loopback_only)


# --- the command ---------------------------------------------------------------------------------

def test_command_json_table_and_usage_errors(lab_dns: Any, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from netcheck.cli import app

    with accepting(["127.77.0.1", "127.77.0.2"]) as port:
        profile = tmp_path / "site.yaml"
        profile.write_text(json.dumps({"apiVersion": "netcheck/v1", "kind": "SiteProfile", "spec": {
            "cluster": {"region": "us-east-1"}, "dns": {"servers": [lab_dns.address]}, "aws": {"servicePort": port}}}))
        runner = CliRunner()
        res = runner.invoke(app, ["regions", "-c", str(profile), "--candidates", "us-west-2,sa-east-1",
                                  "--samples", "2", "--format", "json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["clusterRegion"] == "us-east-1" and {r["region"] for r in doc["regions"]} == {
            "us-east-1", "us-west-2", "sa-east-1"}
        assert next(r for r in doc["regions"] if r["region"] == "us-east-1")["cluster"] is True
        res = runner.invoke(app, ["regions", "-c", str(profile), "--candidates", "sa-east-1", "--region",
                                  "sa-east-1"])
        assert res.exit_code == 4 and "did not resolve" in res.stdout  # nothing measured: inconclusive
    bad = runner.invoke(app, ["regions", "-c", str(profile), "--candidates", "mars-1"])
    assert bad.exit_code == 2 and "--candidates" in bad.output and "mars-1" in bad.output
    bad = runner.invoke(app, ["regions", "-c", str(profile), "--partition", "aws-mars"])
    assert bad.exit_code == 2 and "aws-cn" in bad.output
    bad = runner.invoke(app, ["regions", "-c", str(profile), "--format", "html"])
    assert bad.exit_code == 2


# --- judging recorded figures -------------------------------------------------------------------

def rtt(region: str, *ms: float | None, state: str = "measured") -> rg.RegionRtt:
    return rg.RegionRtt(region, f"eks.{region}.{REAL}", 443, state, "tcp-443", "127.0.0.1", tuple(ms))  # type: ignore[arg-type]


def judge(*results: rg.RegionRtt, region: str = "us-west-2", private: bool = False) -> Any:
    spec = probe.Spec(region, (), private=private)
    return probe.evaluate(spec, probe.Evidence(tuple(results)), Thresholds())


def test_warn_needs_both_ratio_and_margin() -> None:
    warn = judge(rtt("us-west-2", 160, 150, 170), rtt("us-east-1", 95, 100, 105), rtt("eu-west-1", 140))
    assert warn.status is Status.WARN
    assert "us-east-1 (100.0 ms)" in warn.message and "us-west-2 (160.0 ms)" in warn.message
    assert warn.evidence["fasterThanCluster"] == ["us-east-1"] and "eu-west-1" not in warn.message.split("but")[1]
    assert warn.measured == 160.0 and warn.threshold == 150.0 and "Consider us-east-1" in (warn.remediation or "")
    # twice as fast but only 2 ms: close enough
    assert judge(rtt("us-west-2", 4), rtt("us-east-1", 2)).status is Status.PASS
    # 25 ms lower but not 1.5x: close enough
    ok = judge(rtt("us-west-2", 205), rtt("us-east-1", 180))
    assert ok.status is Status.PASS and "close enough" in ok.message and ok.threshold == 270.0
    closest = judge(rtt("us-west-2", 20), rtt("us-east-1", 70))
    assert closest.status is Status.PASS and "is the closest" in closest.message


def test_skips_say_why_and_messages_say_which_path() -> None:
    nothing = judge(rtt("us-west-2", None, None, state="no-answer"), rtt("us-east-1", state="unresolved"))
    assert nothing.status is Status.SKIP and nothing.skip_reason is SkipReason.NOT_APPLICABLE
    assert "1 did not answer (us-west-2)" in nothing.message and "1 did not resolve (us-east-1)" in nothing.message
    alone = judge(rtt("us-west-2", 30), rtt("us-east-1", None, state="no-answer"))
    assert alone.status is Status.SKIP and "no other candidate Region answered" in alone.message
    gone = judge(rtt("us-west-2", state="unresolved"), rtt("us-east-1", 30))
    assert gone.status is Status.SKIP and "us-west-2 could not be measured" in gone.message
    private = judge(rtt("us-west-2", 20), rtt("us-east-1", 70), private=True)
    assert "not over the VPN/Direct Connect path" in private.message and "latency.rtt" in private.message
    assert "latency.rtt" in judge(rtt("us-west-2", 20), rtt("us-east-1", 70)).message


def test_ranking_and_the_verdict_helper() -> None:
    rs = [rtt("a-x-1", None, state="unresolved"), rtt("b-x-1", 50, 52), rtt("c-x-1", 10), rtt("d-x-1", 10)]
    assert [r.region for r in rg.ranked(rs)] == ["c-x-1", "d-x-1", "b-x-1", "a-x-1"]
    assert rs[1].median == 51 and rs[1].spread == 2
    assert rg.markedly_faster(100, 150) and not rg.markedly_faster(100, 149) and not rg.markedly_faster(30, 49)
    assert rg.compare(rs, None).verdict == "unknown-cluster"


def test_a_long_list_of_faster_regions_is_cut_in_the_sentence() -> None:
    many = [rtt(f"xx-east-{i}", 10 + i) for i in range(8)]
    out = judge(rtt("us-west-2", 150), *many)
    assert out.status is Status.WARN and "and 3 more answer markedly faster" in out.message
    assert len(out.evidence["fasterThanCluster"]) == 8
