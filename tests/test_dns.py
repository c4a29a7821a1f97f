"""dns probe: plan ids, evaluate on recorded answers, collect against the loopback DNS stand-in."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from netcheck.model import Severity, SkipReason, Status
from netcheck.net import Net
from netcheck.net.lookup import DnsAnswer, hosts_file_lookup, resolve, split_server
from netcheck.settings import Settings, SiteProfile, Thresholds
from netcheck.standins import dns as standin
from probes import dns as probe

API = "abc123.gr7.us-west-2.eks.amazonaws.com"  # fake name: stand-ins or recorded evidence only
TH = Thresholds()


def settings(**spec: Any) -> Settings:
    return Settings(SiteProfile.model_validate({"spec": spec}), "test", environ=dict(os.environ))  # the environment the test set, as build() snapshots it


def answer(status: str = "ok", addresses: tuple[str, ...] = (), ms: float = 3.0, **kw: Any) -> DnsAnswer:
    return DnsAnswer(API, "A", status, addresses, ms / 1000, ("10.20.1.2:53",), **kw)  # type: ignore[arg-type]


def access_spec(access: str | None, cps: tuple[str, ...] = ("10.20.1.10", "10.20.1.11"),
                vpc: tuple[str, ...] = ("10.20.0.0/16",)) -> probe.Spec:
    return probe.Spec("endpoint-access", "eks-api", API, access=access, vpc_cidrs=vpc, control_plane_ips=cps)


RESOLVE = probe.Spec("resolve", "eks-api", API, servers=("10.20.1.2",))


# --- plan --------------------------------------------------------------------------

def test_plan_ids_for_full_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    s = settings(cluster={"region": "us-west-2", "endpoint": f"https://{API}"}, credentials="ssm",
                 endpoints=[{"host": "registry.example.internal"}, {"host": "10.1.2.3", "port": 5000}])
    checks = {c.id: c for c in probe.plan(s)}
    assert set(checks) == {
        "dns.eks-api.resolve", "dns.eks-api.endpoint-access", "dns.hybrid-assets.resolve", "dns.eks.resolve",
        "dns.ecr-api.resolve", "dns.ecr-dkr.resolve", "dns.ssm.resolve", "dns.ssm-installer.resolve",
        "dns.ssmmessages.resolve", "dns.sts.resolve", "dns.eks-auth.resolve", "dns.logs.resolve",
        "dns.endpoint.registry.example.internal.resolve"}
    assert checks["dns.sts.resolve"].severity is Severity.ADVISORY
    assert checks["dns.eks.resolve"].severity is Severity.REQUIRED


def test_plan_without_name_endpoint_has_no_access_check() -> None:
    s = settings(cluster={"endpoint": "https://10.20.1.10"})
    assert [c.id for c in probe.plan(s)] == ["dns.hybrid-assets.resolve"]


def test_plan_proxied_target_is_advisory_and_names_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".eks.amazonaws.com")  # fake name: stand-ins or recorded evidence only
    s = settings(cluster={"region": "us-west-2", "endpoint": f"https://{API}"})
    checks = {c.id: c for c in probe.plan(s)}
    assert checks["dns.eks-api.resolve"].severity is Severity.REQUIRED  # NO_PROXY covers it
    ecr = checks["dns.ecr-api.resolve"]
    assert ecr.severity is Severity.ADVISORY and ecr.spec.proxy == "http://proxy.corp:3128"
    out = probe.evaluate(ecr.spec, DnsAnswer(ecr.spec.name, "A", "nxdomain", seconds=0.01), TH)
    assert out.status is Status.FAIL and "proxy http://proxy.corp:3128" in out.message
    assert "secret" not in out.message


# --- evaluate: resolve ---------------------------------------------------------------

def test_resolve_pass_reports_latency() -> None:
    out = probe.evaluate(RESOLVE, answer(addresses=("10.20.1.10",), ms=4.2), TH)
    assert out.status is Status.PASS and out.measured == 4.2 and out.unit == "ms"
    assert "10.20.1.10" in out.message and out.evidence["resolverMs"] == 4.2


def test_resolve_slow_resolver_warns() -> None:
    out = probe.evaluate(RESOLVE, answer(addresses=("10.20.1.10",), ms=1800), TH)
    assert out.status is Status.WARN and out.measured == 1800 and out.threshold == probe.SLOW_MS


@pytest.mark.parametrize(("status", "words"), [
    ("nxdomain", "NXDOMAIN"), ("servfail", "SERVFAIL"), ("refused", "REFUSED"), ("timeout", "timeout"),
    ("no-answer", "no A record"), ("unreachable", "sending to the resolver"), ("no-resolver", "no nameserver"),
    ("no-route", "This host has no route to the resolver"),
])
def test_resolve_failures_read_differently(status: str, words: str) -> None:
    out = probe.evaluate(RESOLVE, answer(status, detail="d"), TH)
    assert out.status is Status.FAIL and words in out.message
    assert out.measured == status and out.remediation and out.evidence["status"] == status


def test_resolve_failure_remediations_are_distinct() -> None:
    fixes = {s: probe.evaluate(RESOLVE, answer(s), TH).remediation
             for s in ("nxdomain", "servfail", "refused", "timeout", "no-answer")}
    assert len(set(fixes.values())) == 5
    assert "Route 53 Resolver inbound" in (fixes["nxdomain"] or "")
    assert "eks.amazonaws.com" in (fixes["nxdomain"] or "")  # fake name: stand-ins or recorded evidence only
    assert "UDP and TCP 53" in (fixes["timeout"] or "")


# --- evaluate: endpoint access ------------------------------------------------------

def test_access_private_with_public_answer_fails() -> None:
    out = probe.evaluate(access_spec("private"), answer(addresses=("10.20.1.10", "52.10.1.1")), TH)
    assert out.status is Status.FAIL and out.measured == "52.10.1.1"
    assert "Route 53 Resolver inbound endpoint" in (out.remediation or "")
    assert "eks.amazonaws.com" in (out.remediation or "")  # fake name: stand-ins or recorded evidence only


def test_access_private_with_eni_answers_passes() -> None:
    out = probe.evaluate(access_spec("private"), answer(addresses=("10.20.1.10", "10.20.1.11")), TH)
    assert out.status is Status.PASS and out.evidence["public"] == []


def test_access_public_and_private_trap_warns() -> None:
    out = probe.evaluate(access_spec("public-and-private"), answer(addresses=("52.10.1.1", "54.1.2.3")), TH)
    assert out.status is Status.WARN
    assert "will always resolve to the public IPs for hybrid nodes running outside of your VPC" in out.message
    assert "Route 53 Resolver inbound endpoint" in (out.remediation or "")


def test_access_public_and_private_forwarded_passes() -> None:
    out = probe.evaluate(access_spec("public-and-private"), answer(addresses=("10.20.1.10",)), TH)
    assert out.status is Status.PASS


def test_access_public_with_public_answers_passes() -> None:
    out = probe.evaluate(access_spec("public"), answer(addresses=("52.10.1.1",)), TH)
    assert out.status is Status.PASS and "public" in out.message


def test_access_public_with_private_answers_warns() -> None:
    out = probe.evaluate(access_spec("public"), answer(addresses=("10.20.1.10",)), TH)
    assert out.status is Status.WARN and "override" in out.message


def test_access_unknown_mode_reports_what_was_seen() -> None:
    private = probe.evaluate(access_spec(None), answer(addresses=("10.20.1.10",)), TH)
    public = probe.evaluate(access_spec(None), answer(addresses=("52.10.1.1",)), TH)
    assert private.status is Status.PASS and "not set" in private.message
    assert public.status is Status.WARN and "endpointAccess" in (public.remediation or "")


def test_access_stale_eni_list_warns() -> None:
    out = probe.evaluate(access_spec("private"), answer(addresses=("10.20.1.10", "10.20.7.7")), TH)
    assert out.status is Status.WARN and out.measured == "10.20.7.7" and "stale" in out.message


def test_access_without_vpc_cidrs_uses_rfc1918_and_says_so() -> None:
    out = probe.evaluate(access_spec("private", cps=(), vpc=()), answer(addresses=("10.20.1.10",)), TH)
    assert out.status is Status.PASS
    assert out.evidence["classified"]["10.20.1.10"]["basis"].startswith("RFC 1918")


def test_access_hosts_file_override_is_named() -> None:
    out = probe.evaluate(access_spec("private"), answer(addresses=("10.20.1.10",), source="/etc/hosts"), TH)
    assert out.status is Status.PASS and "/etc/hosts" in out.message


def test_access_skips_when_name_does_not_resolve() -> None:
    out = probe.evaluate(access_spec("private"), answer("nxdomain"), TH)
    assert out.status is Status.SKIP and out.skip_reason is SkipReason.DEPENDENCY
    assert "dns.eks-api.resolve" in out.message


# --- the stand-in and collect over real sockets ---------------------------------------

RECORDS = {"api.lab.test": ["10.20.1.10", "10.20.1.11"], "*.wild.lab.test": ["10.20.1.12"],
           "v6.lab.test": ["fd00::1"]}
FAULTS = {"nx.lab.test": "nxdomain", "sf.lab.test": "servfail", "rf.lab.test": "refused",
          "drop.lab.test": "drop", "empty.lab.test": "noanswer"}


@pytest.fixture
def server() -> Iterator[standin.DnsServer]:
    with contextlib.ExitStack() as stack:
        yield standin.start(stack, RECORDS, FAULTS)


@pytest.mark.parametrize(("name", "status", "verdict"), [
    ("api.lab.test", "ok", Status.PASS), ("x.wild.lab.test", "ok", Status.PASS),
    ("nx.lab.test", "nxdomain", Status.FAIL), ("unknown.lab.test", "nxdomain", Status.FAIL),
    ("sf.lab.test", "servfail", Status.FAIL), ("rf.lab.test", "refused", Status.FAIL),
    ("empty.lab.test", "no-answer", Status.FAIL), ("v6.lab.test", "no-answer", Status.FAIL),
])
def test_collect_against_standin(server: standin.DnsServer, name: str, status: str, verdict: Status) -> None:
    spec = probe.Spec("resolve", "x", name, servers=(server.address,), timeout=5)
    ev = probe.collect(spec, Net())
    assert ev.status == status, ev.detail
    assert probe.evaluate(spec, ev, TH).status is verdict
    assert (name, "A", "udp") in server.queries


def test_collect_drop_times_out(server: standin.DnsServer) -> None:
    spec = probe.Spec("resolve", "x", "drop.lab.test", servers=(server.address,), timeout=0.5)
    ev = probe.collect(spec, Net())
    assert ev.status == "timeout" and 0.4 < ev.seconds < 5
    out = probe.evaluate(spec, ev, TH)
    assert out.status is Status.FAIL and "timeout" in out.message


def test_collect_endpoint_access_against_standin(server: standin.DnsServer) -> None:
    spec = probe.Spec("endpoint-access", "eks-api", "api.lab.test", servers=(server.address,), access="private",
                      vpc_cidrs=("10.20.0.0/16",), control_plane_ips=("10.20.1.10", "10.20.1.11"))
    out = probe.evaluate(spec, probe.collect(spec, Net()), TH)
    assert out.status is Status.PASS and out.evidence["private"] == ["10.20.1.10", "10.20.1.11"]


def test_standin_answers_over_tcp(server: standin.DnsServer) -> None:
    reply = dns.query.tcp(dns.message.make_query("api.lab.test", "A"), "127.0.0.1", port=server.port, timeout=5)
    assert sorted(rr.to_text() for rr in reply.answer[0]) == ["10.20.1.10", "10.20.1.11"]
    reply = dns.query.tcp(dns.message.make_query("rf.lab.test", "A"), "127.0.0.1", port=server.port, timeout=5)
    assert reply.rcode() == dns.rcode.REFUSED


def test_standin_ignores_garbage_and_keeps_serving(server: standin.DnsServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\x00\x01garbage", ("127.0.0.1", server.port))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
        c.sendall(struct.pack("!H", 5) + b"junk!")
    assert resolve("api.lab.test", "A", (server.address,), 5).status == "ok"


def test_standin_stops_and_frees_port() -> None:
    with contextlib.ExitStack() as stack:
        srv = standin.start(stack, {"a.test": ["10.0.0.1"]})
        port = srv.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    srv.stop()  # a second stop is harmless


def test_standin_rejects_unknown_fault() -> None:
    with contextlib.ExitStack() as stack, pytest.raises(ValueError, match="unknown DNS fault"):
        standin.start(stack, {}, {"a.test": "explode"})


# --- lookup details -----------------------------------------------------------------

def test_closed_dns_port_is_a_failure_not_a_hang() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but never read: no answer comes back
    ans = resolve("api.lab.test", "A", (f"127.0.0.1:{port}",), 0.5)
    assert ans.status in ("timeout", "unreachable") and ans.seconds < 5


def test_hosts_file_lookup(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(f"# comment\n10.20.1.10 {API} api # private override\nfd00::5 {API}\n127.0.0.1 localhost\n")
    assert hosts_file_lookup(API, "A", hosts) == ("10.20.1.10",)
    assert hosts_file_lookup(API, "AAAA", hosts) == ("fd00::5",)
    ans = resolve(API, "A", (), 1, hosts_file=hosts)
    assert ans.status == "ok" and ans.source == str(hosts) and ans.addresses == ("10.20.1.10",)


def test_split_server() -> None:
    assert split_server("10.0.0.2") == ("10.0.0.2", 53)
    assert split_server("10.0.0.2:5353") == ("10.0.0.2", 5353)
    assert split_server("[fd00::2]:5353") == ("fd00::2", 5353)
    assert split_server("fd00::2") == ("fd00::2", 53)


# --- retries as the node's resolver does (issue 16) ---------------------------------------

LOSSY = {"lose1.lab.test": "lose1", "lose2.lab.test": "lose2", "lose3.lab.test": "lose3",
         "big.lab.test": "truncate"}


@pytest.fixture
def lossy() -> Iterator[standin.DnsServer]:
    records = {n: ["10.20.1.10"] for n in LOSSY}
    with contextlib.ExitStack() as stack:
        yield standin.start(stack, records, LOSSY)


def resolv_conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    return path


def test_read_resolv_conf_options(tmp_path: Path) -> None:
    from netcheck.net.lookup import read_resolv_conf

    conf = resolv_conf(tmp_path, "nameserver 10.0.0.2\noptions ndots:2 timeout:1\noptions attempts:3 rotate # x\n")
    opts = read_resolv_conf(conf, env={})
    assert (opts.timeout, opts.attempts, opts.rotate, opts.source) == (1, 3, True, str(conf))
    assert "timeout:1 attempts:3 rotate, from " in opts.describe()
    capped = read_resolv_conf(resolv_conf(tmp_path, "options timeout:99 attempts:9\n"), env={"RES_OPTIONS": "attempts:4"})
    assert (capped.timeout, capped.attempts) == (30, 4) and capped.source.endswith("+ RES_OPTIONS")
    plain = read_resolv_conf(resolv_conf(tmp_path, "nameserver 10.0.0.2\n"), env={})
    assert (plain.timeout, plain.attempts) == (5, 2) and plain.source.startswith("glibc's defaults")
    assert read_resolv_conf(tmp_path / "missing", env={}).source == f"glibc's defaults, as there is no {tmp_path}/missing"


def test_lost_queries_are_retried_and_noted_when_the_node_copes(lossy: standin.DnsServer, tmp_path: Path) -> None:
    conf = resolv_conf(tmp_path, "options timeout:1 attempts:3\n")
    ans = resolve("lose2.lab.test", "A", (lossy.address,), 5, resolv_conf=conf)
    assert ans.status == "ok" and ans.addresses == ("10.20.1.10",)
    assert (len(ans.tries), ans.lost, ans.node_queries, ans.node_copes) == (3, 2, 3, True)
    assert 1.8 < ans.seconds < 3.5 and ans.answer_seconds < 0.5  # two 1 s retransmits, then a quick answer
    assert [q for q in lossy.queries if q[0] == "lose2.lab.test"] == [("lose2.lab.test", "A", "udp")] * 3
    out = probe.evaluate(probe.Spec("resolve", "x", "lose2.lab.test"), ans, TH)
    assert out.status is Status.PASS and out.unit == "ms" and out.measured is not None and out.measured < 500
    assert "2 of the 3 queries sent until then got no answer" in out.message
    assert f"timeout:1 attempts:3, from {conf}" in out.message and "about 2." in out.message
    assert "latency.rtt" in out.message
    ev = out.evidence
    assert ev["lostQueries"] == 2 and ev["resolvConf"]["attempts"] == 3 and len(ev["queries"]) == 3


def test_loss_beyond_the_nodes_attempts_warns(lossy: standin.DnsServer, tmp_path: Path) -> None:
    conf = resolv_conf(tmp_path, "nameserver 10.0.0.2\n")  # glibc's defaults: timeout:5 attempts:2
    ans = resolve("lose2.lab.test", "A", (lossy.address,), 5, resolv_conf=conf)
    assert ans.status == "ok" and ans.lost == 2 and not ans.node_copes
    out = probe.evaluate(probe.Spec("resolve", "x", "lose2.lab.test"), ans, TH)
    assert out.status is Status.WARN and out.measured == 2 and out.threshold == 1 and out.unit == "lost queries"
    assert "would have failed this lookup" in out.message and "glibc's defaults" in out.message
    assert "attempts:" in (out.remediation or "")


def test_truncated_answer_is_asked_again_over_tcp(lossy: standin.DnsServer, tmp_path: Path) -> None:
    ans = resolve("big.lab.test", "A", (lossy.address,), 5, resolv_conf=tmp_path / "none")
    assert ans.status == "ok" and ans.addresses == ("10.20.1.10",)
    assert ans.tries[0].tcp and ans.tries[0].rcode == "NOERROR" and ans.lost == 0
    assert [q[2] for q in lossy.queries if q[0] == "big.lab.test"] == ["udp", "tcp"]


def test_silent_server_gets_a_query_every_second_until_the_budget_ends(server: standin.DnsServer,
                                                                       tmp_path: Path) -> None:
    ans = resolve("drop.lab.test", "A", (server.address,), 2.5, resolv_conf=tmp_path / "none")
    assert ans.status == "timeout" and len(ans.tries) == 3 and ans.lost == 3 and ans.answered is None
    assert [round(t.sent) for t in ans.tries] == [0, 1, 2] and 2.4 < ans.seconds < 3.5
    assert ans.detail == "no answer within 2.5 s (3 queries)"


def timeout_answer(path: dict[str, Any]) -> DnsAnswer:
    from netcheck.net.lookup import DnsTry

    tries = tuple(DnsTry("10.20.1.2:53", float(i)) for i in range(5))
    return DnsAnswer(API, "A", "timeout", seconds=5.0, servers=("10.20.1.2:53",), tries=tries, path=path)


def test_timeout_with_the_path_alive_blames_the_resolver() -> None:
    path = {"alive": True, "down": False, "summary": "10.20.1.2: TCP 53 refused"}
    out = probe.evaluate(RESOLVE, timeout_answer(path), TH)
    assert out.status is Status.FAIL and out.measured == "timeout"
    assert out.message.startswith(f"Resolving {API} via 10.20.1.2:53 failed after 5000 ms with no answer at all "
                                  "(timeout).")
    assert "other traffic to the resolver gets through (10.20.1.2: TCP 53 refused)" in out.message
    assert "UDP and TCP 53" in (out.remediation or "")


def test_nothing_back_from_the_resolver_is_a_path_problem() -> None:
    path = {"alive": False, "down": True, "summary": "10.20.1.2: TCP 53 timeout, ICMP echo lost"}
    out = probe.evaluate(RESOLVE, timeout_answer(path), TH)
    assert out.status is Status.FAIL and out.measured == "path down"
    assert "network path problem, not a DNS one" in out.message and "5 queries" in out.message
    assert "routes and firewalls" in (out.remediation or "")


def test_collect_probes_the_path_after_no_answer_at_all() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, socket.socket() as t:
        s.bind(("127.0.0.1", 0))  # bound but never read: the queries vanish
        port = s.getsockname()[1]
        try:  # hold TCP on the same number without listening: refused, and no other socket can take it
            t.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"TCP {port} is taken on this host")
        spec = probe.Spec("resolve", "x", "api.lab.test", servers=(f"127.0.0.1:{port}",), timeout=1.0)
        ans = probe.collect(spec, Net())
    assert ans.status == "timeout" and ans.path is not None
    assert ans.path["alive"] and not ans.path["down"]
    assert ans.path["hosts"][0]["tcp"] == {str(port): "refused"}
    out = probe.evaluate(spec, ans, TH)
    assert out.status is Status.FAIL and f"TCP {port} refused" in out.message


def test_servfail_from_one_server_then_an_answer_from_the_next(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        bad = standin.start(stack, {}, {"api.lab.test": "servfail"})
        good = standin.start(stack, RECORDS, host="127.0.0.2")
        ans = resolve("api.lab.test", "A", (bad.address, good.address), 5, resolv_conf=tmp_path / "none")
    assert ans.status == "ok" and [t.rcode for t in ans.tries] == ["SERVFAIL", "NOERROR"]
    assert ans.answered is ans.tries[1] and ans.lost == 0 and ans.node_copes and ans.seconds < 0.5
