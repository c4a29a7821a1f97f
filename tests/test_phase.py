"""Lifecycle phase (netcheck.phase): detection from host files, sysctl order, per-phase plans and reports.

Host files are real files below a per-test root (Net(root=...)); the network-namespace facts
(listeners, links) are given by a small Net subclass here and exercised for real in
tests/test_phase_netns.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netcheck import phase
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
from netcheck.net import Net
from netcheck.net.host import DefaultRoute
from netcheck.net.local import LocalPrefix
from netcheck.net.routes import RouteLookup
from netcheck.plan import PatternError, build_plan
from netcheck.render import FORMATS, render
from netcheck.settings import Settings, SiteProfile, Thresholds, build
from probes import cidr, endpoints
from tests.conftest import validate_report


class HostNet(Net):
    """Real host files below `root`; this namespace's listeners and links as given."""

    def __init__(self, root: Path, listening: tuple[int, ...] = (), links: tuple[str, ...] = ("lo", "eth0")) -> None:
        super().__init__(root=str(root))
        self._listening, self._links = listening, links

    def tcp_listening(self, port: int) -> bool:
        return port in self._listening

    def link_names(self) -> list[str]:
        return list(self._links)


def plant(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        f = root / path.lstrip("/")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return root


def settings(**spec: Any) -> Settings:
    return Settings(profile=SiteProfile.model_validate({"spec": spec}), source="test")


# --- detection ---------------------------------------------------------------------------------

def test_fresh_host_is_pre_join(tmp_path: Path) -> None:
    info = phase.resolve(HostNet(tmp_path))
    assert (info.phase, info.source) == ("pre-join", "detected")
    assert "no listener on TCP 10250" in info.evidence[0]


@pytest.mark.parametrize(("files", "listening", "links", "seen"), [
    ({}, (10250,), ("lo",), "listens on TCP 10250"),
    ({}, (), ("lo", "cilium_host", "cilium_net"), "CNI devices cilium_host (cilium)"),
    ({}, (), ("lo", "vxlan.calico"), "CNI devices vxlan.calico (calico)"),
    ({"/etc/kubernetes/kubelet/config.json": "{}"}, (), ("lo",), "kubelet files /etc/kubernetes/kubelet/config.json"),
    ({"/var/lib/kubelet/config.yaml": "x"}, (), ("lo",), "kubelet files /var/lib/kubelet/config.yaml"),
    ({"/etc/cni/net.d/05-cilium.conflist": "{}"}, (), ("lo",), "CNI config /etc/cni/net.d/05-cilium.conflist"),
])
def test_each_sign_of_a_joined_node(tmp_path: Path, files: dict[str, str], listening: tuple[int, ...],
                                    links: tuple[str, ...], seen: str) -> None:
    info = phase.resolve(HostNet(plant(tmp_path, files), listening, links))
    assert info.phase == "joined" and any(seen in e for e in info.evidence), info.evidence


def test_lxc_bridge_tunl0_and_nodeadm_file_alone_are_not_a_join(tmp_path: Path) -> None:
    """LXC's lxcbr0 and a tunl0 from the ipip module are no CNI; a lone 99-nodeadm.conf is an init that stopped."""
    plant(tmp_path, {phase.NODEADM_SYSCTL: phase.NODEADM_SYSCTL_TEXT})
    info = phase.resolve(HostNet(tmp_path, links=("lo", "lxcbr0", "tunl0")))
    assert info.phase == "pre-join" and any("99-nodeadm.conf" in e for e in info.evidence)


def test_flag_and_profile_override_detection(tmp_path: Path) -> None:
    net = HostNet(tmp_path, listening=(10250,))
    s = settings(phase="pre-join")
    assert phase.requested_phase(s, "auto") == ("pre-join", "spec.phase")
    assert phase.requested_phase(s, "joined") == ("joined", "--phase")
    info = phase.resolve(net, *phase.requested_phase(s, None))
    assert (info.phase, info.source) == ("pre-join", "spec.phase")
    assert "listens on TCP 10250" in info.evidence[0]  # what the host showed is still reported
    assert phase.with_phase(settings(), "joined").spec.phase == "joined"
    assert phase.effective(settings()) == "pre-join"


# --- sysctl files ------------------------------------------------------------------------------

def test_sysctl_order_masking_and_nodeadm_position(tmp_path: Path) -> None:
    plant(tmp_path, {"/usr/lib/sysctl.d/50-default.conf": "net.ipv4.ip_forward = 0\n",
                     "/etc/sysctl.d/50-default.conf": "# masks /usr/lib's\n",
                     "/run/sysctl.d/99-zz.conf": "-net/ipv4/ip_forward=0\n",
                     "/lib/sysctl.d/10-early.conf": "net.ipv4.ip_forward=1\n",
                     "/etc/sysctl.d/README": "not a .conf file",
                     "/etc/sysctl.conf": "; comment\nkernel.panic = 5\n"})
    files = phase.sysctl_files(Net(root=str(tmp_path)))
    assert [p for p, _ in files] == ["/lib/sysctl.d/10-early.conf", "/etc/sysctl.d/50-default.conf",
                                     "/run/sysctl.d/99-zz.conf", "/etc/sysctl.conf"]
    after = [p for p, _ in phase.with_nodeadm(files)]
    assert after == ["/lib/sysctl.d/10-early.conf", "/etc/sysctl.d/50-default.conf",
                     "/etc/sysctl.d/99-nodeadm.conf", "/run/sysctl.d/99-zz.conf", "/etc/sysctl.conf"]
    ev = phase.sysctl_evidence(files, "net.ipv4.ip_forward")
    assert ev["afterNodeadm"][-1] == ["/run/sysctl.d/99-zz.conf", "0"]


def test_a_99_nodeadm_conf_elsewhere_is_replaced_by_nodeadms_own() -> None:
    files = [("/usr/lib/sysctl.d/99-nodeadm.conf", "net.ipv4.ip_forward=0\n")]
    assert phase.with_nodeadm(files) == [(phase.NODEADM_SYSCTL, phase.NODEADM_SYSCTL_TEXT)]


# --- patterns ----------------------------------------------------------------------------------

SITE = {"vpc": {"cidrs": ["10.20.0.0/16"]}, "cluster": {"controlPlaneIps": ["10.20.1.10"]},
        "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24"], "podCidrs": ["10.85.0.0/16"]}}


@pytest.mark.parametrize(("only", "skip", "needle"), [
    (("nosuch",), (), "--only 'nosuch' matches none of the"),
    (("mtu.paht",), (), "closest: mtu.path"),
    (("cidr", "routng"), (), "--only 'routng'"),
    ((), ("routing.host.ip-froward",), "closest: routing.host.ip-forward"),
])
def test_patterns_that_match_nothing_are_refused(only: tuple[str, ...], skip: tuple[str, ...], needle: str) -> None:
    with pytest.raises(PatternError) as err:
        build_plan(settings(**SITE), only, skip)
    assert needle in str(err.value), str(err.value)


def test_profile_skip_patterns_may_name_checks_this_site_lacks() -> None:
    plan = build_plan(settings(**SITE, checks={"skip": ["bandwidth.upload.something-else"]}), ("cidr",))
    assert plan.checks and all(c.id.startswith("cidr.") for c in plan.checks)


# --- per-phase plans ---------------------------------------------------------------------------

def test_install_only_endpoints_are_advisory_once_joined() -> None:
    spec = {**SITE, "cluster": {"region": "us-west-2"}, "credentials": "ssm"}
    pre = {t.subject: t.required for t in endpoints.aws_targets(settings(**spec, phase="pre-join"))}
    joined = {t.subject: t.required for t in endpoints.aws_targets(settings(**spec, phase="joined"))}
    assert pre["hybrid-assets"] and pre["ssm-installer"]
    assert not joined["hybrid-assets"] and not joined["ssm-installer"]
    assert joined["ssm"] and joined["eks"]
    sev = {c.id: c.severity for c in build_plan(settings(**spec, phase="joined"), ("reach",)).checks}
    assert sev["reach.hybrid-assets.tcp-443"] is Severity.ADVISORY and sev["reach.ssm.tcp-443"] is Severity.REQUIRED
    notes = {c.id: dict(c.phases) for c in build_plan(settings(**spec), ("reach",)).checks}
    assert "advisory" in notes["reach.hybrid-assets.tcp-443"]["joined"]


# --- node IP: the kubelet's order ----------------------------------------------------------------

class NodeNet:
    """Two interfaces: eth0 192.168.50.10 toward the VPC, wan0 198.51.100.10 with the default route."""

    def __init__(self, resolves: tuple[str, ...] = ()) -> None:
        self.resolves = resolves

    def local_prefixes(self) -> tuple[LocalPrefix, ...]:
        return (LocalPrefix("192.168.50.0/24", "address", "eth0", "192.168.50.10"),
                LocalPrefix("198.51.100.0/24", "address", "wan0", "198.51.100.10"))

    def route_lookup(self, dst: str, src: str | None = None) -> RouteLookup:
        return RouteLookup(dst, "unicast", 254, "10.20.0.0/16", interface="eth0", gateway="192.168.50.1",
                           source="192.168.50.10")

    def default_route(self) -> DefaultRoute:
        return DefaultRoute("wan0", "198.51.100.1", "198.51.100.10", ("198.51.100.10",))

    def lookup_host(self, name: str) -> tuple[str, ...]:
        return self.resolves


def node_ip(net: NodeNet, **node: Any) -> Outcome:
    s = settings(**SITE, node=node)
    spec = next(c.spec for c in cidr.plan(s) if c.id == "cidr.node-ip.in-node-cidr")
    return cidr.evaluate(spec, cidr.collect(spec, net), Thresholds())  # type: ignore[arg-type]


def test_node_ip_in_the_kubelets_order() -> None:
    default = node_ip(NodeNet())
    assert default.status is Status.FAIL and "198.51.100.10 on wan0" in default.message
    assert "192.168.50.10 on eth0" in default.message and "--node-ip=192.168.50.10" in (default.remediation or "")
    # IAM Roles Anywhere: the node name resolves to an address of this host, which wins over the default route.
    resolved = node_ip(NodeNet(("192.168.50.10",)), name="edge-n1")
    assert resolved.status is Status.PASS and "node name edge-n1 resolved" in resolved.message
    # A name that resolves to an address this host does not hold is passed over, as the kubelet does.
    assert node_ip(NodeNet(("192.168.50.99",)), name="edge-n1").status is Status.FAIL
    # --node-ip wins over everything; an address the host does not hold fails.
    assert node_ip(NodeNet(), ip="192.168.50.10").status is Status.PASS
    missing = node_ip(NodeNet(), ip="192.168.50.77")
    assert missing.status is Status.FAIL and "not an address of this host" in missing.message


def test_node_ip_inside_the_node_cidr_but_not_the_vpc_source_fails_with_both() -> None:
    s = settings(**{**SITE, "remoteNetwork": {"nodeCidrs": ["192.168.50.0/24", "198.51.100.0/24"]}})
    spec = next(c.spec for c in cidr.plan(s) if c.id == "cidr.node-ip.in-node-cidr")
    out = cidr.evaluate(spec, cidr.collect(spec, NodeNet()), Thresholds())  # type: ignore[arg-type]
    assert out.status is Status.FAIL
    assert "198.51.100.10 on wan0" in out.message and "192.168.50.10 on eth0" in out.message
    assert "--node-ip=192.168.50.10" in (out.remediation or "")


def test_nodeconfig_iam_roles_anywhere_node_name_reaches_the_profile(tmp_path: Path) -> None:
    nc = tmp_path / "nc.yaml"
    nc.write_text(Path("examples/nodeconfig/iam-roles-anywhere.yaml").read_text().replace(
        "      - --node-ip=192.168.100.5\n", "      - --v=2\n"))
    assert build(nodeconfig_path=nc).spec.node.name == "edge-store-0042-n1"


# --- reports -----------------------------------------------------------------------------------

def test_every_format_shows_the_phase_and_json_round_trips() -> None:
    check = Check("routing.host.ip-forward", Category.ROUTING, "IPv4 forwarding", "routing", None)
    report = Report((CheckResult(check, Outcome(Status.PASS, "net.ipv4.ip_forward is 1.")),), Verdict.GO,
                    "2026-01-01T00:00:00+00:00", 1.0, "site", "node1", "0.1.0", phase="joined",
                    phase_evidence=("a process listens on TCP 10250 (kubelet)",), phase_source="detected")
    doc = report.to_json()
    validate_report(doc)
    assert doc["metadata"]["phase"] == "joined" and doc["metadata"]["phaseEvidence"] == [
        "a process listens on TCP 10250 (kubelet)"]
    again = report_from_json(json.loads(json.dumps(doc)))
    assert (again.phase, again.phase_evidence, again.phase_source) == (report.phase, report.phase_evidence, "detected")
    for fmt in FORMATS:
        text = render(fmt, report)
        assert "joined" in text, fmt
        if fmt not in ("prometheus",):
            assert "10250" in text, fmt


def test_no_required_evidence_is_explained_in_the_text_formats() -> None:
    check = Check("cidr.x", Category.CIDR, "t", "cidr", None)
    report = Report((CheckResult(check, Outcome.skip(SkipReason.DISABLED, "Disabled by a skip pattern.")),),
                    Verdict.INCONCLUSIVE, "2026-01-01T00:00:00+00:00", 0.1)
    assert "No required check was evaluated" in render("table", report)
    assert "no required check was evaluated" in render("nagios", report)
    assert "No required check was evaluated" in render("markdown", report)



@pytest.mark.parametrize("command", ["plan", "run"])
def test_unknown_phase_is_a_usage_error(command: str) -> None:
    from typer.testing import CliRunner

    from netcheck.cli import app

    result = CliRunner().invoke(app, [command, "-c", "examples/profiles/minimal.yaml", "--phase", "joinde"])
    assert result.exit_code == 2
    assert "--phase: unknown phase 'joinde'; choose one of pre-join, joined, auto" in result.output
    result = CliRunner().invoke(app, [command, "-c", "examples/profiles/minimal.yaml"],
                                env={"NETCHECK_HOST_ROOT": "/nonexistent-host-root"})
    assert result.exit_code == 2 and "NETCHECK_HOST_ROOT: /nonexistent-host-root is not a directory" in result.output
