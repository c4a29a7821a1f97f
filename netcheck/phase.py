"""Lifecycle phase: a fresh host about to run `nodeadm init` (pre-join) or a node that has joined.

Some verdicts depend on it. `nodeadm init` itself sets net.ipv4.ip_forward=1
(/etc/sysctl.d/99-nodeadm.conf, then `sysctl --system`) and opens 10250/tcp, 10256/tcp and
30000-32767/tcp in ufw or firewalld (aws/eks-hybrid internal/system/sysctl.go, ports.go), so a
pre-join run judges those as nodeadm will leave them; a joined run judges them as they are.
On a joined node the CNI owns addresses and routes in the pod CIDR, and the install-only
endpoints are no longer needed.

The phase is detected from evidence on the host (kubelet listening, kubelet config, CNI
devices and config, nodeadm's sysctl file) unless `--phase` or `spec.phase` sets it. Host
files are read through the Net facade, below its host root.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netcheck.net import Net
    from netcheck.settings import Settings

PRE_JOIN, JOINED, AUTO = "pre-join", "joined", "auto"
PHASES = (PRE_JOIN, JOINED)
CHOICES = (PRE_JOIN, JOINED, AUTO)

NODEADM_SYSCTL = "/etc/sysctl.d/99-nodeadm.conf"
NODEADM_SYSCTL_TEXT = ("vm.overcommit_memory=1\nkernel.panic=10\nkernel.panic_on_oops=1\n"
                       "net.ipv4.ip_forward=1\n")  # internal/system/_assets/99-sysctl.conf
# systemd-sysctl / `sysctl --system`: *.conf from these directories merged by file name (the
# first directory wins a name), applied in file-name order; procps reads /etc/sysctl.conf last.
SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
SYSCTL_CONF = "/etc/sysctl.conf"
KUBELET_FILES = ("/etc/kubernetes/kubelet/config.json", "/var/lib/kubelet/config.yaml",
                 "/var/lib/kubelet/kubeconfig")
CNI_CONF_DIR = "/etc/cni/net.d"
# Ports `nodeadm init` opens when ufw (Ubuntu) or firewalld (elsewhere) is active: (proto, first, last, what).
NODEADM_PORTS = (("tcp", 10250, 10250, "kubelet"), ("tcp", 10256, 10256, "kube-proxy health"),
                 ("tcp", 30000, 32767, "NodePort services"))

# Devices a CNI creates, by plugin. lxc<hex> are Cilium's pod veths (not LXC's lxcbr0).
_CNI_DEVICE = (
    ("cilium", re.compile(r"^(cilium_host|cilium_net|cilium_vxlan|cilium_geneve|cilium_wg\d*|lxc_health|lxc[0-9a-f]{6,})$")),
    ("calico", re.compile(r"^(vxlan\.calico|vxlan-v6\.calico|wireguard\.cali|tunl0|cali[0-9a-f]{6,})$")),
)
# Devices whose presence alone says a CNI runs here (tunl0 appears whenever the ipip module loads).
_SIGNATURE = re.compile(r"^(cilium_host|cilium_vxlan|cilium_geneve|vxlan\.calico|wireguard\.cali|cali[0-9a-f]{6,})$")


def cni_of_device(name: str) -> str | None:
    """'cilium' or 'calico' when `name` is a device that CNI creates, else None."""
    return next((cni for cni, pattern in _CNI_DEVICE if pattern.match(name)), None)


@dataclass(frozen=True)
class PhaseInfo:
    """The phase a run judges for, where it came from, and what was seen on the host."""

    phase: str  # pre-join | joined
    source: str  # "detected", "--phase" or "spec.phase"
    evidence: tuple[str, ...]
    cni: str | None = None  # CNI whose devices exist here

    def describe(self) -> str:
        how = "detected" if self.source == "detected" else f"set by {self.source}"
        return f"{self.phase} ({how}: {'; '.join(self.evidence)})"


def observe(net: Net, kubelet_port: int = 10250) -> tuple[list[str], list[str], str | None]:
    """(signs of a joined node, other findings, CNI seen) from this host; reads files and netns state only."""
    joined: list[str] = []
    other: list[str] = []
    if net.tcp_listening(kubelet_port):
        joined.append(f"a process listens on TCP {kubelet_port} (kubelet)")
    try:
        links = net.link_names()
    except Exception as exc:  # netlink refused (a restricted container): say so, judge from the rest
        links = []
        other.append(f"interfaces not readable ({type(exc).__name__}: {exc})")
    devices = [n for n in links if _SIGNATURE.match(n)]
    cni = next((c for c in (cni_of_device(d) for d in devices) if c), None)
    if devices:
        shown = devices[:4] + ([f"{len(devices) - 4} more"] if len(devices) > 4 else [])
        joined.append(f"CNI devices {', '.join(shown)} ({cni})")
    kubelet = [p for p in KUBELET_FILES if net.host_file(p) is not None]
    if kubelet:
        joined.append(f"kubelet files {', '.join(kubelet)}")
    conf = [n for n in net.host_dir(CNI_CONF_DIR) if n.endswith((".conf", ".conflist", ".json"))]
    if conf:
        joined.append(f"CNI config {CNI_CONF_DIR}/{conf[0]}" + (f" (+{len(conf) - 1})" if len(conf) > 1 else ""))
    if net.host_file(NODEADM_SYSCTL) is not None:
        (joined if joined else other).append(f"{NODEADM_SYSCTL} (written by nodeadm init)")
    return joined, other, cni


def resolve(net: Net, requested: str = AUTO, origin: str = "--phase", kubelet_port: int = 10250) -> PhaseInfo:
    """The phase for this run: `requested` unless it is auto, else what the host shows."""
    joined, other, cni = observe(net, kubelet_port)
    if requested in PHASES:
        seen = joined + other
        note = [f"host shows {'; '.join(seen)}"] if seen else ["host shows no kubelet, CNI or nodeadm traces"]
        return PhaseInfo(requested, origin, tuple(note), cni)
    if joined:
        return PhaseInfo(JOINED, "detected", tuple(joined), cni)
    none = (f"no listener on TCP {kubelet_port}, no CNI device, no kubelet files, "
            f"no CNI config in {CNI_CONF_DIR}")
    return PhaseInfo(PRE_JOIN, "detected", (none, *other), cni)


def requested_phase(settings: Settings, flag: str | None) -> tuple[str, str]:
    """(phase or auto, where it was set): a --phase other than auto wins over spec.phase."""
    if flag and flag != AUTO:
        return flag, "--phase"
    if settings.spec.phase != AUTO:
        return settings.spec.phase, "spec.phase"
    return AUTO, "detected"


def with_phase(settings: Settings, phase: str) -> Settings:
    """Settings whose spec.phase is the resolved phase, so every probe's plan sees it."""
    spec = settings.spec.model_copy(update={"phase": phase})
    return dataclasses.replace(settings, profile=settings.profile.model_copy(update={"spec": spec}))


def effective(settings: Settings) -> str:
    """The phase probes judge for; an unresolved `auto` (a plan built without a host) counts as pre-join."""
    return JOINED if settings.spec.phase == JOINED else PRE_JOIN


# --- sysctl files in `sysctl --system` order ----------------------------------------------

def sysctl_files(net: Net) -> list[tuple[str, str]]:
    """(path, text) of every sysctl file, in the order `sysctl --system` applies them."""
    chosen: dict[str, str] = {}
    for d in SYSCTL_DIRS:
        for name in net.host_dir(d):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = f"{d}/{name}"
    out = [(chosen[n], net.host_file(chosen[n]) or "") for n in sorted(chosen)]
    conf = net.host_file(SYSCTL_CONF)
    if conf is not None:
        out.append((SYSCTL_CONF, conf))
    return out


def _norm(key: str) -> str:
    return key.strip().lstrip("-").strip().replace("/", ".")


def parse_sysctl(text: str) -> list[tuple[str, str]]:
    """(key, value) assignments of a sysctl.d file; comments (# ;) and blank lines skipped."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out.append((_norm(key), value.strip()))
    return out


def assignments(files: Iterable[tuple[str, str]], key: str) -> list[tuple[str, str]]:
    """(file, value) for every assignment of `key`, in application order; the last one wins."""
    want = _norm(key)
    return [(path, v) for path, text in files for k, v in parse_sysctl(text) if k == want]


def with_nodeadm(files: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The same file list as it will be after `nodeadm init` wrote 99-nodeadm.conf."""
    name = NODEADM_SYSCTL.rsplit("/", 1)[1]
    rest = [(p, t) for p, t in files if p.rsplit("/", 1)[1] != name]  # /etc wins the name over other dirs
    merged = [(p, t) for p, t in rest if p != SYSCTL_CONF]
    at = next((i for i, (p, _) in enumerate(merged) if p.rsplit("/", 1)[1] > name), len(merged))
    merged.insert(at, (NODEADM_SYSCTL, NODEADM_SYSCTL_TEXT))
    return merged + [(p, t) for p, t in rest if p == SYSCTL_CONF]


def sysctl_evidence(files: Sequence[tuple[str, str]], key: str) -> dict[str, Any]:
    """What the files do with `key`, now and after nodeadm init: for reports and evaluate()."""
    now = assignments(files, key)
    after = assignments(with_nodeadm(files), key)
    return {"files": [p for p, _ in files], "assignments": [list(a) for a in now],
            "afterNodeadm": [list(a) for a in after], "nodeadmFile": any(p == NODEADM_SYSCTL for p, _ in files)}
