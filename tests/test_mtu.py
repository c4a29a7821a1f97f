"""MTU probe: exact path MTU, working PMTU discovery vs black hole, CNI MTU advice."""

from __future__ import annotations

import pytest

from netcheck.model import SkipReason, Status
from netcheck.net import Net
from netcheck.net.pmtu import PmtuResult
from netcheck.settings import Settings, SiteProfile, Thresholds
from probes import mtu
from testbed.delay import AS_NOBODY, REPO, block_frag_needed, flush_pmtu, in_netns, limit_mtu, serve_echo
from testbed.lab import Lab

TH = Thresholds()
CP = mtu.Target("10.20.1.10", "EKS control plane ENI")


def _r(path: int | None = 1500, icmp: int | None = None, silent: int | None = None,
       reachable: bool = True) -> PmtuResult:
    return PmtuResult("10.20.1.10", "icmp", "eth0", 1500, 1500, reachable, path_mtu=path, icmp_mtu=icmp,
                      icmp_from="192.168.50.1" if icmp else None, smallest_silent=silent, probes=5)


# --- pure ------------------------------------------------------------------------------

def test_pass_when_the_full_interface_mtu_passes() -> None:
    out = mtu.evaluate(mtu.Spec("path", (CP,)), mtu.Evidence((_r(),)), TH)
    assert out.status is Status.PASS and out.measured == 1500


def test_warn_when_pmtud_works_below_interface_mtu() -> None:
    out = mtu.evaluate(mtu.Spec("path", (CP,)), mtu.Evidence((_r(1400, icmp=1400),)), TH)
    assert out.status is Status.WARN and out.measured == 1400 and out.threshold == 1500
    assert "192.168.50.1" in out.message and "1350" in (out.remediation or "")


def test_threshold_is_the_search_ceiling_when_it_is_below_the_interface_mtu() -> None:
    """On lo (MTU 65536) the search stops at spec.mtu.max (9001): a PASS must not read 'threshold 65536'."""
    r = PmtuResult("127.0.0.1", "icmp", "lo", 65536, 9001, True, path_mtu=9001, probes=3)
    out = mtu.evaluate(mtu.Spec("path", (CP,)), mtu.Evidence((r,)), TH)
    assert out.status is Status.PASS and out.measured == 9001 and out.threshold == 9001
    assert "spec.mtu.max 9001" in out.message and "65536" in out.message
    low = PmtuResult("127.0.0.1", "icmp", "lo", 65536, 9001, True, path_mtu=1400, icmp_mtu=1400,
                     icmp_from="192.168.50.1", probes=5)
    out = mtu.evaluate(mtu.Spec("path", (CP,)), mtu.Evidence((low,)), TH)
    assert out.status is Status.WARN and out.threshold == 9001 and "below the configured search maximum" in out.message


def test_black_hole_fails_with_the_three_remedies() -> None:
    out = mtu.evaluate(mtu.Spec("path", (CP,)), mtu.Evidence((_r(1400, silent=1401),)), TH)
    assert out.status is Status.FAIL and "black hole" in out.message
    fix = out.remediation or ""
    assert "ICMP type 3 code 4" in fix and "--set-mss 1360" in fix and "mtu 1400" in fix


def test_unanswered_target_is_skipped_with_how_to_measure() -> None:
    out = mtu.evaluate(mtu.Spec("path", (CP,)), mtu.Evidence((_r(None, reachable=False),)), TH)
    assert out.status is Status.SKIP and out.skip_reason is SkipReason.NEEDS_PEER
    assert "netcheck serve" in (out.remediation or "")


@pytest.mark.parametrize(("plugin", "encap", "advice"), [
    ("cilium", None, 1350), ("calico", None, 1380), ("calico", "vxlan", 1350), ("cilium", "wireguard", 1340),
    ("cilium", "geneve", 1350)])
def test_cni_advice_is_path_mtu_minus_overhead(plugin: str, encap: str | None, advice: int) -> None:
    spec = mtu.Spec("cni", (CP,), plugin=plugin, encapsulation=encap)
    out = mtu.evaluate(spec, mtu.Evidence((_r(1400, icmp=1400), _r(1500))), TH)
    assert out.status is Status.WARN and out.measured == advice and str(advice) in (out.remediation or "")


def test_cni_passes_on_a_full_path_and_skips_without_a_cni() -> None:
    assert mtu.evaluate(mtu.Spec("cni", (CP,)), mtu.Evidence((_r(),)), TH).status is Status.PASS
    out = mtu.evaluate(mtu.Spec("cni", (CP,), plugin="none"), mtu.Evidence((_r(),)), TH)
    assert out.skip_reason is SkipReason.NOT_APPLICABLE


def test_plan_ids() -> None:
    settings = Settings(SiteProfile.model_validate({"spec": {
        "cluster": {"controlPlaneIps": ["10.20.1.11"]}, "responder": "10.20.1.10:7447"}}), "test")
    checks = mtu.plan(settings)
    assert [c.id for c in checks] == ["mtu.path.10.20.1.11", "mtu.path.10.20.1.10", "mtu.cni"]
    assert checks[1].spec.targets[0].udp_port == 7447


# --- real paths ------------------------------------------------------------------------

def _measure(lab: Lab, node: object, target: mtu.Target) -> tuple[object, object, PmtuResult]:
    net = Net()  # one run: the path and cni checks share one search (Net.once)
    with in_netns(node):  # type: ignore[arg-type]
        path_ev = mtu.collect(mtu.Spec("path", (target,)), net)
        cni_ev = mtu.collect(mtu.Spec("cni", (target,)), net)
    return (mtu.evaluate(mtu.Spec("path", (target,)), path_ev, TH),
            mtu.evaluate(mtu.Spec("cni", (target,)), cni_ev, TH), path_ev.results[0])


@pytest.mark.netns
def test_full_path_passes() -> None:
    with Lab("mtu") as lab:
        node, _router, vpc = lab.hybrid()
        path, cni, r = _measure(lab, node, mtu.Target(vpc.ip, "cp"))
        assert (path.status, cni.status, r.path_mtu) == (Status.PASS, Status.PASS, 1500)  # type: ignore[attr-defined]


@pytest.mark.netns
@pytest.mark.parametrize("method", ["icmp", "udp-echo"])
def test_1400_hop_with_icmp_allowed_is_exact_and_warns(method: str) -> None:
    with Lab("mtu") as lab:
        node, router, vpc = lab.hybrid()
        serve_echo(lab, vpc)
        limit_mtu(lab, router, 1400)
        flush_pmtu(lab, node)
        target = mtu.Target(vpc.ip, "responder", 7447 if method == "udp-echo" else None)
        path, cni, r = _measure(lab, node, target)
        assert r.method == method and r.path_mtu == 1400 and r.icmp_mtu == 1400 and not r.black_hole
        assert path.status is Status.WARN  # type: ignore[attr-defined]
        assert cni.status is Status.WARN and cni.measured == 1350  # type: ignore[attr-defined]


@pytest.mark.netns
def test_1400_hop_with_frag_needed_dropped_is_a_black_hole() -> None:
    with Lab("mtu") as lab:
        node, router, vpc = lab.hybrid()
        limit_mtu(lab, router, 1400)
        block_frag_needed(lab, router)
        flush_pmtu(lab, node)
        path, cni, r = _measure(lab, node, mtu.Target(vpc.ip, "cp"))
        assert r.path_mtu == 1400 and r.black_hole and r.icmp_mtu is None
        assert path.status is Status.FAIL and "black hole" in path.message  # type: ignore[attr-defined]
        assert cni.measured == 1350  # type: ignore[attr-defined]
        assert r.probes <= 40


@pytest.mark.netns
def test_no_icmp_privilege_and_no_responder_skips_with_the_sysctl() -> None:
    import sys

    with Lab("mtu") as lab:
        node, _router, vpc = lab.hybrid()
        lab.sysctl(node, "net.ipv4.ping_group_range", "1 0")
        code = ("from netcheck.net import Net; from probes import mtu; from probes.base import ProbeSkip\n"
                f"try:\n mtu.collect(mtu.Spec('path', (mtu.Target('{vpc.ip}', 'cp'),)), Net())\n"
                "except ProbeSkip as e: print('SKIP', e.reason, e.message, e.fix)\n")
        out = lab.run(node, [*AS_NOBODY, sys.executable, "-c", code], cwd=str(REPO))
        assert "SKIP privilege" in out.stdout and "ping_group_range" in out.stdout, out.stdout
