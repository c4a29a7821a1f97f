"""Proxy drop-ins: when a proxy is in use, do kubelet, containerd, the SSM agent and the package manager
carry it in their own configuration, as nodeadm's proxy validation demands?

Daemons started by systemd do not see the shell's HTTPS_PROXY; each needs a drop-in. `nodeadm init`
(internal/network/proxy_validator.go, registered in internal/node/hybrid/hybrid.go:147) stops when a
proxy is set (HTTP_PROXY or HTTPS_PROXY, either case) and, on Ubuntu, RHEL or Amazon Linux (ID in
/etc/os-release), one of these lacks it:

| what | nodeadm reads | the AWS proxy guide writes |
|---|---|---|
| kubelet | /etc/systemd/system/kubelet.service.d/http-proxy.conf | the same |
| containerd | /usr/lib/systemd/system/containerd.service.d/http-proxy.conf | /etc/systemd/system/containerd.service.d/http-proxy.conf |
| SSM agent (SSM only) | Ubuntu: /etc/systemd/system/snap.amazon-ssm-agent.amazon-ssm-agent.service.d/http-proxy.conf; RHEL, AL: /etc/systemd/system/amazon-ssm-agent.service.d/http-proxy.conf | the same |
| package manager | Ubuntu: /etc/apt/apt.conf.d/proxy.conf (Acquire::http[s]::Proxy "URL";), RHEL: /etc/yum.conf (proxy=URL), AL2023: /etc/dnf/dnf.conf (proxy=URL) | the same |

nodeadm's test is textual: the drop-in must contain `HTTP_PROXY=<value>` and `HTTPS_PROXY=<value>` with
the values the environment holds (upper case wins; an unset HTTP_PROXY still needs the text
`HTTP_PROXY=`). NO_PROXY is not compared by nodeadm; netcheck WARNs when it differs, since kubelet then
proxies what the run would not. Files are read below NETCHECK_HOST_ROOT, bounded, regular files only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.phase import JOINED, PRE_JOIN, effective
from netcheck.settings import Settings, Thresholds
from probes import CheckKind

DOCS_PROXY = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-proxy.html"
MAX_BYTES = 1 << 20
OS_RELEASE = "/etc/os-release"
SUPPORTED_OS = ("ubuntu", "rhel", "amzn")  # internal/system/os.go
KUBELET = "/etc/systemd/system/kubelet.service.d/http-proxy.conf"
CONTAINERD_NODEADM = "/usr/lib/systemd/system/containerd.service.d/http-proxy.conf"
CONTAINERD_DOCS = "/etc/systemd/system/containerd.service.d/http-proxy.conf"
SSM_SNAP = "/etc/systemd/system/snap.amazon-ssm-agent.amazon-ssm-agent.service.d/http-proxy.conf"
SSM_RPM = "/etc/systemd/system/amazon-ssm-agent.service.d/http-proxy.conf"
PACKAGE_FILES = {"ubuntu": ("apt", "/etc/apt/apt.conf.d/proxy.conf"), "rhel": ("yum", "/etc/yum.conf"),
                 "amzn": ("dnf", "/etc/dnf/dnf.conf")}
SUBJECTS = ("kubelet", "containerd", "ssm", "package-manager")
TITLES = {"kubelet": "kubelet's systemd drop-in carries the proxy",
          "containerd": "containerd's systemd drop-in carries the proxy",
          "ssm": "The SSM agent's systemd drop-in carries the proxy",
          "package-manager": "The package manager (apt, yum or dnf) is configured with the proxy"}

CHECKS: tuple[CheckKind, ...] = (
    CheckKind("proxy.dropin.*", "kubelet, containerd, the SSM agent and the package manager carry the proxy "
              "(kubelet, containerd, ssm, package-manager)", Category.PROXY, docs=DOCS_PROXY, phased=True),
)


@dataclass(frozen=True)
class Spec:
    subject: str  # kubelet | containerd | ssm | package-manager
    http: str  # effective HTTP_PROXY (upper case wins, as nodeadm's getEffectiveProxyValue)
    https: str
    no_proxy: str
    phase: str


@dataclass(frozen=True)
class FileRead:
    path: str
    text: str | None  # None: not usable (see why)
    why: str = ""  # "file not found", "is a FIFO …", …


@dataclass(frozen=True)
class Evidence:
    os_id: str  # ID= in /etc/os-release ("" when absent)
    files: tuple[FileRead, ...]


def effective_proxy(env: Mapping[str, str], upper: str) -> str:
    """nodeadm's getEffectiveProxyValue: the upper-case variable if set, else the lower-case one."""
    return env.get(upper) or env.get(upper.lower()) or ""


def plan(settings: Settings) -> list[Check]:
    env = settings.environ
    http, https = effective_proxy(env, "HTTP_PROXY"), effective_proxy(env, "HTTPS_PROXY")
    if not http and not https:  # nodeadm's IsProxyEnabled; proxy.env.none reports this case
        return []
    no_proxy = effective_proxy(env, "NO_PROXY")
    phase = effective(settings)
    subjects = [s for s in SUBJECTS if s != "ssm" or settings.spec.credentials in (None, "ssm")]
    checks = []
    for subject in subjects:
        advisory = phase == JOINED and subject == "package-manager"
        checks.append(CHECKS[0].check(
            f"proxy.dropin.{subject}", Spec(subject, http, https, no_proxy, phase), probe="dropins",
            title=TITLES[subject], advisory=advisory, timeout=3,
            phases=((PRE_JOIN, "the path nodeadm init's proxy-validation reads must hold the same HTTP(S)_PROXY "
                               "values as this environment, or init stops"),
                    (JOINED, "the running service needs the proxy in a drop-in systemd reads (either path)"
                             + ("; the package manager only matters for installs (advisory)"
                                if subject == "package-manager" else "")))))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def read_host_file(root: str, path: str) -> FileRead:
    """A host file below `root`, bounded and from a regular file only (netcheck.safeio.read_limited)."""
    from netcheck.net.host import host_path
    from netcheck.safeio import FileProblem, read_limited

    try:
        raw = read_limited(host_path(root, path), MAX_BYTES, "configuration file")
    except FileProblem as exc:
        return FileRead(path, None, str(exc).split(": ", 1)[-1])
    return FileRead(path, raw.decode("utf-8", "replace"))


def os_id(text: str | None) -> str:
    """ID= of /etc/os-release, unquoted ('' when absent)."""
    for line in (text or "").splitlines():
        if line.startswith("ID="):
            return line[3:].strip().strip("\"'")
    return ""


def paths_for(subject: str, os_name: str) -> tuple[str, ...]:
    """The files to read for `subject`: nodeadm's path first, then the AWS guide's when it differs."""
    if subject == "kubelet":
        return (KUBELET,)
    if subject == "containerd":
        return (CONTAINERD_NODEADM, CONTAINERD_DOCS)
    if subject == "ssm":
        return (SSM_SNAP,) if os_name == "ubuntu" else (SSM_RPM,) if os_name in SUPPORTED_OS else (SSM_RPM, SSM_SNAP)
    return (PACKAGE_FILES[os_name][1],) if os_name in PACKAGE_FILES else ()


def collect(spec: Spec, net: Net) -> Evidence:
    net.budget(1.0)
    release = read_host_file(net.root, OS_RELEASE)
    name = os_id(release.text)
    return Evidence(name, tuple(read_host_file(net.root, p) for p in paths_for(spec.subject, name)))


# --- evaluate (pure) -----------------------------------------------------------------

_ASSIGN = re.compile(r"""(?:^|\s)["']?([A-Za-z_]+)=([^"'\s]*)""")


def environment_of(text: str) -> dict[str, str]:
    """The variables a systemd drop-in's Environment= lines set (last assignment wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("Environment="):
            continue
        for key, value in _ASSIGN.findall(line[len("Environment="):]):
            out[key] = value
    return out


def _redact(url: str) -> str:
    from netcheck.net.proxyenv import redact

    return redact(url) if url else '""'


def evaluate(spec: Spec, ev: Evidence, thresholds: Thresholds) -> Outcome:
    evidence: dict[str, Any] = {"osId": ev.os_id, "files": [{"path": f.path, "read": f.text is not None,
                                                            **({"why": f.why} if f.why else {})} for f in ev.files]}
    if not ev.os_id:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"{OS_RELEASE} has no ID, so nodeadm skips its OS-specific "
                            "proxy checks, and netcheck cannot tell which files apply.",
                            "Run on the node itself (or point NETCHECK_HOST_ROOT at its filesystem).", evidence=evidence)
    if spec.subject == "package-manager":
        return _package_manager(spec, ev, evidence)
    return _systemd(spec, ev, evidence)


def _dropin_text(http: str, https: str, no_proxy: str) -> str:
    return (f'[Service] Environment="HTTP_PROXY={_redact(http) if http else ""}" '
            f'Environment="HTTPS_PROXY={_redact(https) if https else ""}" Environment="NO_PROXY={no_proxy}"')


def _systemd(spec: Spec, ev: Evidence, evidence: dict[str, Any]) -> Outcome:
    service = {"kubelet": "kubelet", "containerd": "containerd", "ssm": "the SSM agent"}[spec.subject]
    if ev.os_id not in SUPPORTED_OS and spec.phase == PRE_JOIN:
        return _unsupported(ev, evidence)
    nodeadm_file = ev.files[0]
    readable = [f for f in ev.files if f.text is not None]
    fix_text = _dropin_text(spec.http, spec.https, spec.no_proxy)
    reload = "then systemctl daemon-reload" + ("" if spec.phase == PRE_JOIN else f" and restart {spec.subject}")
    if spec.phase == PRE_JOIN:
        if nodeadm_file.text is None:
            other = next((f.path for f in readable if f.path != nodeadm_file.path), None)
            extra = (f" ({other} exists and systemd reads it, but nodeadm checks {nodeadm_file.path})"
                     if other else "")
            return Outcome(Status.FAIL, f"A proxy is set, but {service}'s drop-in {nodeadm_file.path} "
                           f"{'does not exist' if nodeadm_file.why == 'file not found' else nodeadm_file.why}{extra}; "
                           "nodeadm init's proxy validation stops on it.", measured="missing",
                           threshold=nodeadm_file.path,
                           remediation=f"Create {nodeadm_file.path} with: {fix_text}; {reload}.", evidence=evidence)
        judged = nodeadm_file
    else:
        if not readable:
            return Outcome(Status.FAIL, f"A proxy is set, but {service} has no proxy drop-in "
                           f"({' or '.join(f.path for f in ev.files)}), so it connects directly.",
                           measured="missing", threshold="a drop-in",
                           remediation=f"Create {ev.files[0].path} with: {fix_text}; {reload}.", evidence=evidence)
        judged = readable[0]
    assert judged.text is not None
    text = judged.text
    env = environment_of(text)
    evidence["dropin"] = {"path": judged.path, "HTTP_PROXY": _redact(env.get("HTTP_PROXY", "")),
                          "HTTPS_PROXY": _redact(env.get("HTTPS_PROXY", "")), "NO_PROXY": env.get("NO_PROXY")}
    wrong = [name for name, want in (("HTTP_PROXY", spec.http), ("HTTPS_PROXY", spec.https))
             if f"{name}={want}" not in text]  # nodeadm's own test: strings.Contains
    if wrong:
        status = Status.FAIL if spec.phase == PRE_JOIN else Status.WARN
        values = {"HTTP_PROXY": spec.http, "HTTPS_PROXY": spec.https}
        said = ", ".join(f"{n}={_redact(values[n]) if values[n] else ''}" for n in wrong)
        how = ("nodeadm init's proxy validation stops on it" if spec.phase == PRE_JOIN
               else f"{service} does not use the proxy this environment uses")
        return Outcome(status, f"{judged.path} lacks {said} as this environment has it; {how}.",
                       measured=", ".join(wrong), threshold="same values as the environment",
                       remediation=f"Write {judged.path} as: {fix_text}; {reload}.", evidence=evidence)
    if spec.no_proxy and env.get("NO_PROXY", env.get("no_proxy", "")) != spec.no_proxy:
        return Outcome(Status.WARN, f"{judged.path} carries the proxy, but its NO_PROXY "
                       f"({env.get('NO_PROXY', env.get('no_proxy', '(unset)'))!r}) differs from this environment's "
                       f"({spec.no_proxy!r}); {service} would send traffic this run sent directly to the proxy.",
                       measured="NO_PROXY differs", threshold="same NO_PROXY",
                       remediation=f"Set NO_PROXY in {judged.path} to {spec.no_proxy!r}; {reload}.", evidence=evidence)
    return Outcome(Status.PASS, f"{judged.path} carries the same proxy settings as this environment.",
                   evidence=evidence)


def _unsupported(ev: Evidence, evidence: dict[str, Any]) -> Outcome:
    return Outcome(Status.FAIL, f"{OS_RELEASE} says ID={ev.os_id}; nodeadm's proxy validation supports only "
                   f"{', '.join(SUPPORTED_OS)} and stops init with 'unsupported operating system' when a proxy is set.",
                   measured=ev.os_id, threshold=", ".join(SUPPORTED_OS),
                   remediation="Use an operating system EKS Hybrid Nodes supports (Ubuntu, RHEL, Amazon Linux 2023).",
                   evidence=evidence)


def _package_manager(spec: Spec, ev: Evidence, evidence: dict[str, Any]) -> Outcome:
    if ev.os_id not in PACKAGE_FILES:
        if spec.phase == PRE_JOIN:
            return _unsupported(ev, evidence)
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"ID={ev.os_id}: no package manager nodeadm knows.",
                            evidence=evidence)
    tool, path = PACKAGE_FILES[ev.os_id]
    f = ev.files[0]
    if tool == "apt":
        want = [(f'Acquire::http::Proxy "{spec.http}"', spec.http), (f'Acquire::https::Proxy "{spec.https}"', spec.https)]
        lines = [line for line, value in want if value]
    else:
        lines = [f"proxy={spec.http}"] if spec.http else []  # nodeadm compares yum/dnf with HTTP_PROXY only
    if tool == "apt":
        fix = " ".join(f'Acquire::{k}::Proxy "{_redact(v)}";' for k, v in (("http", spec.http), ("https", spec.https))
                       if v)
    else:
        fix = f"[main] proxy={_redact(spec.http)}" if spec.http else f"[main] (nodeadm asks nothing of {tool} here)"
    if f.text is None:
        return Outcome(Status.FAIL if spec.phase == PRE_JOIN else Status.WARN,
                       f"A proxy is set, but {tool}'s configuration {path} "
                       f"{'does not exist' if f.why == 'file not found' else f.why}; nodeadm's proxy validation "
                       "stops init on it, and package installs would connect directly.", measured="missing",
                       threshold=path, remediation=f"Write {path} with: {fix}", evidence=evidence)
    missing = [line for line in lines if line not in f.text]
    if missing:
        return Outcome(Status.FAIL if spec.phase == PRE_JOIN else Status.WARN,
                       f"{path} lacks the proxy this environment uses ({len(missing)} of {len(lines)} settings); "
                       "nodeadm's proxy validation stops init on it.", measured=f"{len(missing)} missing",
                       threshold="same proxy as the environment", remediation=f"Add to {path}: {fix}",
                       evidence=evidence)
    return Outcome(Status.PASS, f"{path} configures {tool} with the same proxy as this environment.", evidence=evidence)
