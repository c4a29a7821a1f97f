"""Root causes (netcheck/diagnosis.py) from recorded results: which failure explains which.

Each scenario is a set of results as the probes record them (ids, statuses, evidence); the tests
assert the exact roots and dependents, and the invariant over every scenario and fixture: every
failing required check is a root cause or names one, and no status (so no verdict) changes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from netcheck.diagnosis import diagnose, unexplained
from netcheck.model import (
    Category,
    Check,
    CheckResult,
    Outcome,
    Report,
    Severity,
    SkipReason,
    Status,
    Verdict,
    report_from_json,
)
from netcheck.render import render
from netcheck.render.causes import folded, headline, stories
from netcheck.verdict import decide
from tests.conftest import validate_report

REPORTS = Path(__file__).parent / "fixtures" / "reports"
CATEGORY = {"routing": Category.ROUTING, "dns": Category.DNS, "reach": Category.REACHABILITY, "tls": Category.TLS,
            "proxy": Category.PROXY, "latency": Category.LATENCY, "mtu": Category.MTU, "clock": Category.CLOCK,
            "bandwidth": Category.BANDWIDTH, "inbound": Category.INBOUND, "cidr": Category.CIDR,
            "cni": Category.REACHABILITY}


def res(cid: str, status: Status, evidence: dict[str, Any] | None = None, measured: Any = None,
        skip: SkipReason | None = None, advisory: bool = False, message: str = "", fix: str | None = "a fix") -> CheckResult:
    check = Check(cid, CATEGORY[cid.split(".")[0]], cid, "", None,
                  Severity.ADVISORY if advisory else Severity.REQUIRED)
    if status is Status.SKIP and skip is None:
        skip = SkipReason.DEPENDENCY
    return CheckResult(check, Outcome(status, message or f"{cid} is {status.value}", measured, None, None,
                                      fix if status is not Status.PASS else None, evidence or {}, skip))


def dial(ip: str, outcome: str, reason: str = "", port: int = 443, offender: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"ip": ip, "port": port, "outcome": outcome, "reason": reason, "seconds": 0.01}
    if offender:
        d["offender"] = offender
    return d


def dns(subject: str, status: str, servers: tuple[str, ...] = ("10.20.0.2:53",), addresses: tuple[str, ...] = (),
        advisory: bool = False) -> CheckResult:
    ok = status == "ok"
    return res(f"dns.{subject}.resolve", Status.PASS if ok else Status.FAIL,
               {"name": f"{subject}.example", "status": status, "servers": list(servers), "addresses": list(addresses)},
               measured=None if ok else status, advisory=advisory)


AWS = ("eks", "ecr-api", "ecr-dkr", "ssm")


def no_route() -> list[CheckResult]:
    """A host with only its LAN route: the resolver and every target are in the VPC CIDR."""
    out = [res("routing.vpc.10.20.0.0/16", Status.FAIL, {"result": "no-route"}, measured="no-route"),
           res("routing.control-plane.10.20.1.10", Status.FAIL, {"result": "no-route"}, measured="no-route"),
           res("routing.host.rp-filter", Status.SKIP, {"route": {"result": "no-route"}}, advisory=True),
           dns("eks-api", "unreachable")]
    for s in AWS:
        out += [dns(s, "unreachable"), res(f"reach.{s}.tcp-443", Status.SKIP), res(f"tls.{s}.handshake", Status.SKIP)]
    out += [res("reach.eks-api.tcp-443", Status.SKIP), res("tls.eks-api.handshake", Status.SKIP),
            res("reach.control-plane.10.20.1.10.tcp-443", Status.FAIL,
                {"addresses": [dial("10.20.1.10", "no-route", "local-no-route")]}, measured="no-route"),
            res("clock.ntp.offset", Status.FAIL, {"servers": ["10.20.0.2:123"], "answers": []}),
            res("clock.https.offset", Status.SKIP),
            res("latency.rtt.10.20.1.10", Status.ERROR, {}),
            res("mtu.path.10.20.1.10", Status.ERROR, {}),
            res("mtu.cni", Status.SKIP),
            res("bandwidth.upload.10.20.1.10", Status.FAIL, {"server": "10.20.1.10:7447"}),
            res("inbound.kubelet.tcp-10250", Status.SKIP, {"responder": "10.20.1.10:7447", "control": "no-route"},
                skip=SkipReason.NEEDS_PEER),
            res("cidr.overlap.pod-vpc", Status.PASS)]
    return out


def dead_proxy(n: int = 9) -> list[CheckResult]:
    """HTTPS_PROXY points at a proxy that refuses connections: ~20 findings, one cause."""
    out = [res("proxy.env.consistent", Status.PASS)]
    for i in range(n):
        s = f"svc{i}"
        out += [res(f"proxy.{s}.connect", Status.FAIL, {"viaProxy": "http://proxy.corp:3128", "proxy": "proxy.corp:3128",
                                                         "target": f"{s}.example:443", "outcome": "refused",
                                                         "status": None}, measured="refused"),
                res(f"tls.{s}.handshake", Status.SKIP, {"addressesFrom": "proxy", "handshakes": [
                    {"host": f"{s}.example", "ip": None, "port": 443, "stage": "tcp", "outcome": "connected",
                     "viaProxy": {"proxy": "proxy.corp:3128", "outcome": "refused"}}]}),
                dns(s, "ok", ("192.168.50.53:53",), ("52.1.2.3",), advisory=True),
                res(f"reach.{s}.tcp-443", Status.SKIP, {"proxy": "http://proxy.corp:3128"}, skip=SkipReason.NOT_APPLICABLE)]
    return out


def lan_resolver_down() -> list[CheckResult]:
    out = [res("routing.vpc.10.20.0.0/16", Status.PASS)]
    for s in ("eks-api", *AWS):
        out += [dns(s, "timeout", ("192.168.50.53:53",)), res(f"reach.{s}.tcp-443", Status.SKIP),
                res(f"tls.{s}.handshake", Status.SKIP)]
    return out


def dead_address() -> list[CheckResult]:
    """Every AWS endpoint resolves to 10.20.2.10, where a router answers host-unreachable or nothing."""
    out: list[CheckResult] = [res("routing.vpc.10.20.0.0/16", Status.PASS), dns("eks-api", "ok", addresses=("10.20.1.10",)),
                              res("reach.eks-api.tcp-443", Status.PASS, {"addresses": [dial("10.20.1.10", "connected")]})]
    for i, s in enumerate(AWS):
        d = dial("10.20.2.10", "unreachable", "icmp-host-unreachable", offender="192.168.50.1") if i % 2 else \
            dial("10.20.2.10", "timeout")
        out += [dns(s, "ok", addresses=("10.20.2.10",)),
                res(f"reach.{s}.tcp-443", Status.FAIL, {"addresses": [d]}, measured=d["outcome"]),
                res(f"tls.{s}.handshake", Status.SKIP, {"handshakes": [{"ip": "10.20.2.10", "stage": "tcp",
                                                                           "outcome": d["outcome"]}]})]
    return out


def nat() -> list[CheckResult]:
    return [res("inbound.nat", Status.FAIL, {"seenAs": "10.20.0.1", "nodeAddress": "192.168.50.10",
                                             "responder": "10.20.1.10:7447", "control": "connected"}),
            res("inbound.kubelet.tcp-10250", Status.FAIL, {"responder": "10.20.1.10:7447", "control": "connected",
                                                           "reply": {"outcome": "refused", "target": "10.20.0.1:10250"}}),
            res("inbound.webhook.tcp-9443", Status.FAIL, {"responder": "10.20.1.10:7447", "control": "connected",
                                                          "reply": {"outcome": "timeout", "target": "10.20.0.1:9443"}}),
            res("latency.rtt.10.20.1.10", Status.PASS, {"ip": "10.20.1.10", "received": 20})]


def name_fails() -> list[CheckResult]:
    return [dns("eks-api", "ok", addresses=("10.20.1.10",)), dns("ecr-dkr", "nxdomain"),
            res("reach.ecr-dkr.tcp-443", Status.SKIP), res("tls.ecr-dkr.handshake", Status.SKIP),
            res("reach.eks-api.tcp-443", Status.PASS, {"addresses": [dial("10.20.1.10", "connected")]})]


SCENARIOS = {"no-route": no_route, "dead-proxy": dead_proxy, "lan-resolver-down": lan_resolver_down,
             "dead-address": dead_address, "nat": nat, "name-fails": name_fails}


def roots(results: list[CheckResult]) -> dict[str, tuple[str, tuple[str, ...]]]:
    d = diagnose(results)
    return {c.id: (c.rule, c.dependents) for c in d.roots}


def test_no_route_is_one_root_with_everything_behind_it() -> None:
    results = no_route()
    found = roots(results)
    assert list(found) == ["routing.vpc.10.20.0.0/16"]
    rule, deps = found["routing.vpc.10.20.0.0/16"]
    assert rule == "route"
    expected = {r.id for r in results if r.status is not Status.PASS} - {"routing.vpc.10.20.0.0/16",
                                                                         "inbound.kubelet.tcp-10250"}
    assert set(deps) == expected
    cause = diagnose(results).roots[0].cause
    assert cause == "this host has no route toward 10.20.0.0/16"


def test_dependents_name_the_root_and_its_fix() -> None:
    d = diagnose(no_route())
    by_id = {r.id: r for r in d.results}
    dep = by_id["dns.ecr-api.resolve"]
    assert dep.caused_by == "routing.vpc.10.20.0.0/16"
    assert dep.outcome.remediation == "Fix routing.vpc.10.20.0.0/16 first: this host has no route toward 10.20.0.0/16."
    assert dep.outcome.evidence["ownRemediation"] == "a fix"
    assert dep.outcome.message == "dns.ecr-api.resolve is FAIL"  # the message stays
    assert by_id["routing.vpc.10.20.0.0/16"].caused_by is None


def test_dead_proxy_is_one_root() -> None:
    results = dead_proxy()
    found = roots(results)
    assert list(found) == ["proxy.svc0.connect"]
    rule, deps = found["proxy.svc0.connect"]
    assert rule == "proxy"
    assert set(deps) == {f"proxy.svc{i}.connect" for i in range(1, 9)} | {f"tls.svc{i}.handshake" for i in range(9)}
    assert "proxy.corp:3128 cannot be reached" in diagnose(results).roots[0].cause


def test_a_proxy_that_refuses_one_target_is_that_target_alone() -> None:
    results = dead_proxy(3)
    ok = {"viaProxy": "http://proxy.corp:3128", "proxy": "proxy.corp:3128", "outcome": "connected", "status": 200}
    results = [res(r.id, Status.PASS, ok) if r.id in ("proxy.svc0.connect", "proxy.svc2.connect") else
               res(r.id, Status.FAIL, {**ok, "status": 403}, measured=403) if r.id == "proxy.svc1.connect" else
               res(r.id, Status.PASS) if r.id in ("tls.svc0.handshake", "tls.svc2.handshake") else r for r in results]
    assert roots(results) == {"proxy.svc1.connect": ("endpoint", ("tls.svc1.handshake",))}


def test_resolver_down_explains_every_name_and_their_checks() -> None:
    found = roots(lan_resolver_down())
    assert list(found) == ["dns.eks-api.resolve"]
    rule, deps = found["dns.eks-api.resolve"]
    assert rule == "resolver"
    assert len(deps) == 4 + 5 * 2  # the other names, and reach/tls of all five


def test_dead_address_gives_one_story_whatever_each_probe_saw() -> None:
    found = roots(dead_address())
    assert list(found) == ["reach.eks.tcp-443"]
    rule, deps = found["reach.eks.tcp-443"]
    assert rule == "address"
    assert set(deps) == {f"reach.{s}.tcp-443" for s in AWS[1:]} | {f"tls.{s}.handshake" for s in AWS}


def test_nat_explains_the_inbound_checks() -> None:
    d = diagnose(nat())
    assert [(c.id, c.rule, c.dependents) for c in d.roots] == [
        ("inbound.nat", "nat", ("inbound.kubelet.tcp-10250", "inbound.webhook.tcp-9443"))]
    assert d.roots[0].cause == "the VPC sees this node as 10.20.0.1, not 192.168.50.10: NAT between the site and the VPC"


def test_a_name_that_does_not_resolve_explains_its_reach_and_tls() -> None:
    assert roots(name_fails()) == {"dns.ecr-dkr.resolve": ("name", ("reach.ecr-dkr.tcp-443", "tls.ecr-dkr.handshake"))}


def test_unrelated_failures_stay_separate_roots() -> None:
    results = [*name_fails(), res("cidr.overlap.pod-vpc", Status.FAIL),
               res("mtu.path.10.20.1.10", Status.FAIL, {"target": "10.20.1.10", "reachable": True}, measured=1400)]
    assert list(roots(results)) == ["dns.ecr-dkr.resolve", "cidr.overlap.pod-vpc", "mtu.path.10.20.1.10"]


def test_an_address_that_answers_anything_is_not_dead() -> None:
    results = [*dead_address(), res("latency.rtt.10.20.2.10", Status.PASS, {"ip": "10.20.2.10", "received": 20})]
    assert "address" not in {rule for rule, _ in roots(results).values()}


def _fixture_results() -> list[tuple[str, list[CheckResult]]]:
    out = [(name, make()) for name, make in SCENARIOS.items()]
    out += [(p.stem, list(report_from_json(json.loads(p.read_text())).results)) for p in sorted(REPORTS.glob("*.json"))]
    rng = random.Random(21)
    pool = [r for _, rs in out for r in rs]
    for i in range(40):  # random mixtures of recorded results: the rules must hold whatever the combination
        picked = {r.id: r for r in rng.sample(pool, rng.randint(3, 40))}
        out.append((f"mix-{i}", list(picked.values())))
    return out


@pytest.mark.parametrize(("name", "results"), _fixture_results(), ids=lambda v: v if isinstance(v, str) else "")
def test_invariant_every_failing_required_check_is_a_root_or_names_one(name: str, results: list[CheckResult]) -> None:
    d = diagnose(results)
    assert unexplained(d.results, d.roots) == []
    assert [r.status for r in d.results] == [r.status for r in results]  # so the verdict cannot change
    assert decide(d.results) is decide(results)
    root_ids = [c.id for c in d.roots]
    assert len(set(root_ids)) == len(root_ids)
    for r in d.results:
        if r.caused_by:
            assert r.caused_by in root_ids and r.id not in root_ids
            assert (r.outcome.remediation or "").startswith(f"Fix {r.caused_by} first")
    listed = [dep for c in d.roots for dep in c.dependents]
    assert sorted(listed) == sorted(r.id for r in d.results if r.caused_by)


def test_diagnosis_is_idempotent() -> None:
    once = diagnose(no_route())
    twice = diagnose(once.results)
    assert twice == once
    assert diagnose([r for r in once.results if r.id != "routing.vpc.10.20.0.0/16"]).roots[0].id != \
        "routing.vpc.10.20.0.0/16"


def test_json_round_trip_and_schema() -> None:
    d = diagnose(no_route())
    report = Report(d.results, decide(d.results), "2025-06-02T03:15:09+00:00", 1.0, root_causes=d.roots)
    doc = report.to_json()
    validate_report(doc)
    assert doc["rootCauses"][0]["id"] == "routing.vpc.10.20.0.0/16"
    assert next(c for c in doc["checks"] if c["id"] == "mtu.cni")["causedBy"] == "routing.vpc.10.20.0.0/16"
    assert "causedBy" not in next(c for c in doc["checks"] if c["id"] == "routing.vpc.10.20.0.0/16")
    back = report_from_json(json.loads(json.dumps(doc)))
    assert back.root_causes == report.root_causes
    assert back.to_json() == doc


def _report(results: list[CheckResult]) -> Report:
    d = diagnose(results)
    return Report(d.results, decide(d.results), "2025-06-02T03:15:09+00:00", 1.0, root_causes=d.roots)


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_human_formats_lead_with_the_root_causes_and_list_dependents_by_id(fmt: str) -> None:
    report = _report(no_route())
    text = render(fmt, report)
    head = "1 root cause; 24 other findings follow from them"
    assert head in text
    assert text.index(head) < text.index("dns.eks-api.resolve")
    for r in report.results:
        if r.caused_by:
            assert r.id in text


@pytest.mark.parametrize("fmt", ["prometheus", "nagios", "junit"])
def test_machine_formats_keep_every_check(fmt: str) -> None:
    report = _report(no_route())
    text = render(fmt, report)
    for r in report.results:
        if r.status is Status.FAIL and fmt != "prometheus":
            assert r.id in text


def test_identical_findings_are_told_once() -> None:
    msg = ("TLS interception: the chain presented for {h} at {ip}:443 verifies against the system trust store, but "
           "leads to 'Corp Inspection CA', not to an Amazon root.")
    results = [res(f"tls.svc{i}.handshake", Status.WARN, message=msg.format(h=f"svc{i}.us-west-2.amazonaws.com",
                                                                           ip=f"52.0.0.{i}"),
                   measured="Corp Inspection CA", fix=f"Exempt svc{i}.us-west-2.amazonaws.com from TLS inspection.")
               for i in range(11)]
    report = _report(results)
    fold = folded(report)
    assert len(fold) == 10 and all(v == "same finding as tls.svc0.handshake" for v in fold.values())
    table = render("table", report)
    assert table.count("TLS interception") == 1
    assert report.verdict is Verdict.GO


def test_identical_root_causes_are_one_story() -> None:
    results = [res(f"reach.svc{i}.tcp-443", Status.FAIL, {"addresses": [dial(f"10.9.0.{i}", "refused", "rst")]},
                   message=f"TCP 443 to 10.9.0.{i} was refused with a TCP reset", measured="refused") for i in range(3)]
    report = _report(results)
    assert len(report.root_causes) == 3
    (story,) = stories(report)
    assert story.ids == ["reach.svc0.tcp-443", "reach.svc1.tcp-443", "reach.svc2.tcp-443"]
    assert headline(report) == "1 root cause; 2 other findings follow from them"
