"""Clock offset: SigV4 requests and IAM Roles Anywhere certificates fail when this host's clock
is more than 5 minutes off (docs/reference/eks-hybrid-network-requirements.md §7); nodeadm only asks
whether the clock is "synchronized", not by how much it is off.

Two measurements: an SNTP exchange with the site's NTP servers (sub-millisecond), and the Date
header of the API server's HTTPS answers (1 s resolution, judged only beyond that resolution).
NTP servers come from the profile or, when it names none, from the chrony/ntpd/timesyncd
configuration read at plan time.
"""

from __future__ import annotations

import email.utils
import ipaddress
from dataclasses import dataclass, replace
from typing import Any, Literal

from netcheck.model import Category, Check, Outcome, SkipReason, Status
from netcheck.net import Net
from netcheck.net.proxyenv import proxy_for
from netcheck.net.sntp import SntpResult
from netcheck.net.tls import TlsResult
from netcheck.settings import Settings, Thresholds, split_hostport
from netcheck.timesync import CONFIG_FILES
from probes import CheckKind
from probes.base import LOSS_HINT, ProbeSkip, probe_path
from probes.endpoints import api_endpoint

DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html"
MAX_SERVERS = 3
MAX_ADDRESSES = 2  # per server name (pools resolve to several)
BURST_S = 4.0  # one server's burst of SNTP requests (netcheck.net.sntp.burst), at most
CHECK_S = 10.0
PATH_PROBE_S = 1.5
FIX = ("Enable time synchronisation (chrony or systemd-timesyncd: timedatectl set-ntp true) and allow UDP 123 "
       "from this node to the NTP server.")


@dataclass(frozen=True)
class Spec:
    kind: Literal["ntp", "https", "sync"]
    servers: tuple[str, ...] = ()  # host or host:port
    source: str = ""  # where the servers came from
    host: str = ""  # https: the API endpoint
    port: int = 443
    ips: tuple[str, ...] = ()
    ca_pem: str | None = None
    proxy: str | None = None
    dns_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class NtpEvidence:
    results: tuple[SntpResult, ...]
    unresolved: tuple[tuple[str, str], ...] = ()  # (name, dns status)
    paths: tuple[dict[str, Any], ...] = ()  # other traffic to the servers, probed when none answered


# --- plan --------------------------------------------------------------------------

CHECKS: tuple[CheckKind, ...] = (
    CheckKind('clock.ntp.offset', "This host's clock agrees with its NTP server", Category.CLOCK,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html'),
    CheckKind('clock.sync.state', "This host's clock is synchronising (chronyc tracking, timedatectl), as nodeadm debug reads it", Category.CLOCK,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html'),
    CheckKind('clock.https.offset', "This host's clock agrees with the API server's Date header", Category.CLOCK,
              docs='https://docs.aws.amazon.com/eks/latest/userguide/hybrid-nodes-troubleshooting.html'),
)


def plan(settings: Settings) -> list[Check]:
    s = settings.spec
    dns = tuple(s.dns.servers)
    if s.ntp.servers:
        servers, source = tuple(s.ntp.servers), "spec.ntp.servers"
    else:
        servers, source = settings.timesync
    ntp, sync, https = CHECKS
    checks = [ntp.check("clock.ntp.offset", Spec("ntp", servers[:MAX_SERVERS], source, dns_servers=dns),
                        probe="clock", timeout=CHECK_S)]
    checks.append(sync.check("clock.sync.state", Spec("sync"), probe="clock", timeout=SYNC_S + 1))
    api = api_endpoint(settings)
    if api is not None:
        proxy = proxy_for(api.host, api.port, dict(settings.environ))
        checks.append(https.check("clock.https.offset", Spec("https", host=api.host, port=api.port, ips=api.ips,
                                                             ca_pem=api.ca_pem, proxy=proxy, dns_servers=dns),
                                  probe="clock", timeout=10))
    return checks


# --- collect (I/O only) --------------------------------------------------------------

def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# --- time sync state, as `nodeadm debug` reads it (internal/system/ntp.go) ----------------------

SYNC_S = 3.0  # chronyc tracking answers in milliseconds from a local socket; bound it anyway
STA_UNSYNC = 0x0040  # <linux/timex.h>: the kernel clock is not synchronised (timedatectl's "synchronized: no")
_LOCAL_REFS = ("(00000000)", "(0.0.0.0)", "(127.0.0.1)")  # ntp.go localhostReferenceIDs


@dataclass(frozen=True)
class SyncEvidence:
    """What the host says about synchronisation: chronyc's tracking text and the kernel's flag."""

    chronyc: str | None  # `chronyc tracking` output; None when chronyc is not installed
    chronyc_error: str = ""
    kernel_synced: bool | None = None  # adjtimex(2) status without STA_UNSYNC; None when unreadable
    kernel_error: str = ""


def kernel_synchronized() -> tuple[bool | None, str]:
    """adjtimex(2) read-only (modes 0): what systemd-timedated reports as 'System clock synchronized'."""
    import ctypes
    import ctypes.util

    class Timex(ctypes.Structure):
        _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_char * 204)]  # struct timex is 208 bytes

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError) as exc:
        return None, f"adjtimex is not available ({exc})"
    if state < 0:
        return None, f"adjtimex failed (errno {ctypes.get_errno()})"
    status = int.from_bytes(bytes(tx)[_STATUS_OFFSET:_STATUS_OFFSET + 4], "little", signed=True)
    return not status & STA_UNSYNC, ""


# struct timex on 64-bit Linux: modes(4)+pad(4), offset, freq, maxerror, esterror (8 each), status (int) at 40.
_STATUS_OFFSET = 40


def chrony_tracking(timeout: float = SYNC_S) -> tuple[str | None, str]:
    """`chronyc tracking` output (bounded in time and size), or (None, why) when chronyc is absent."""
    import shutil
    import subprocess

    exe = shutil.which("chronyc")
    if exe is None:
        return None, "chronyc is not installed"
    try:
        done = subprocess.run([exe, "-n", "tracking"], capture_output=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "", f"chronyc tracking did not answer within {timeout:g} s"
    except OSError as exc:
        return "", f"chronyc could not run ({exc.strerror})"
    text = done.stdout[:65536].decode("utf-8", "replace")
    if done.returncode != 0:
        return "", (done.stderr[:300].decode("utf-8", "replace").strip() or f"exit code {done.returncode}")
    return text, ""


def chrony_synced(text: str) -> tuple[bool, str, str]:
    """(synced, reference, leap) as nodeadm's checkChronyc judges: a non-local reference and leap Normal."""
    ref, leap = "", ""
    for line in text.splitlines():
        line = line.strip()
        if "Reference ID" in line:
            parts = line.split()
            ref = parts[4] if len(parts) >= 5 else ""
        if "Leap status" in line:
            leap = line.split(":", 1)[-1].strip()
    return bool(ref) and ref not in _LOCAL_REFS and leap == "Normal", ref, leap


def collect(spec: Spec, net: Net) -> NtpEvidence | TlsResult | SyncEvidence:
    if spec.kind == "sync":
        net.budget(SYNC_S)
        text, why = chrony_tracking(min(SYNC_S, net.budget(SYNC_S)))
        synced, kerr = kernel_synchronized()
        return SyncEvidence(text, why, synced, kerr)
    if spec.kind == "https":
        return _collect_https(spec, net)
    if not spec.servers:
        raise ProbeSkip(SkipReason.NOT_APPLICABLE, "No NTP server is configured: spec.ntp.servers is empty and none "
                        f"is named in {', '.join(CONFIG_FILES)}.",
                        "Set spec.ntp.servers to the site's NTP server (host or host:port), or configure one in "
                        "chrony (server NAME iburst) or systemd-timesyncd (NTP=NAME).")
    targets: list[tuple[str, int]] = []
    unresolved: list[tuple[str, str]] = []
    for server in spec.servers:
        host, port = split_hostport(server, 123)
        if _is_ip(host):
            ips: tuple[str, ...] = (host,)
        else:
            ans = net.resolve(host, "A", spec.dns_servers)
            if ans.status != "ok":
                unresolved.append((host, ans.status))
                continue
            ips = ans.addresses[:MAX_ADDRESSES]
        targets += [(ip, port or 123) for ip in ips]
    results: list[SntpResult] = []
    for i, (ip, port) in enumerate(targets):
        # Share what is left fairly, keeping room for the path probe if nothing answers.
        left = net.budget(CHECK_S) - 2 * PATH_PROBE_S
        results.append(net.sntp_burst(ip, port, min(BURST_S, max(1.0, left / (len(targets) - i)))))
    paths: tuple[dict[str, Any], ...] = ()
    if results and all(r.outcome == "timeout" for r in results):
        # Not one answer to any request: does anything else come back from those hosts?
        hosts = list(dict.fromkeys(ip for ip, _ in targets))[:2]
        paths = tuple(probe_path(net, ip, (), PATH_PROBE_S).to_evidence() for ip in hosts)
    return NtpEvidence(tuple(results), tuple(unresolved), paths)


def _collect_https(spec: Spec, net: Net) -> TlsResult:
    paths = ("/livez", "/version")
    if spec.proxy:
        return net.tls_handshake(spec.host, None, spec.port, 5.0, ca_pem=spec.ca_pem, proxy=spec.proxy, paths=paths)
    ip = spec.ips[0] if spec.ips else spec.host if _is_ip(spec.host) else None
    if ip is None:
        ans = net.resolve(spec.host, "A", spec.dns_servers)
        if ans.status != "ok" or not ans.addresses:
            raise ProbeSkip(SkipReason.DEPENDENCY, f"{spec.host} does not resolve ({ans.status}), so its Date header "
                            "could not be read.", "Fix name resolution first (see the dns checks).")
        ip = ans.addresses[0]
    return net.tls_handshake(spec.host, ip, spec.port, 5.0, ca_pem=spec.ca_pem, paths=paths)


# --- evaluate (pure) -----------------------------------------------------------------

def evaluate(spec: Spec, ev: NtpEvidence | TlsResult | SyncEvidence, thresholds: Thresholds) -> Outcome:
    if isinstance(ev, SyncEvidence):
        return _sync(ev)
    if isinstance(ev, TlsResult):
        return _https(spec, ev, thresholds)
    return _ntp(spec, ev, thresholds)


def _sync(ev: SyncEvidence) -> Outcome:
    """nodeadm debug's ntp-sync: chronyc tracking (if chronyc exists), then timedatectl's synchronized flag."""
    evidence: dict[str, Any] = {"kernelSynchronized": ev.kernel_synced}
    problems: list[str] = []
    fixes: list[str] = []
    if ev.chronyc is not None:
        if ev.chronyc_error:
            evidence["chronycError"] = ev.chronyc_error
            problems.append(f"chronyc tracking failed ({ev.chronyc_error})")
            fixes.append("Start chronyd (systemctl enable --now chronyd).")
        else:
            ok, ref, leap = chrony_synced(ev.chronyc)
            evidence["chrony"] = {"reference": ref, "leapStatus": leap}
            if not ok:
                problems.append(f"chrony is not synchronised (reference {ref or 'none'}, leap status {leap or '?'})")
                fixes.append("Point chrony at a reachable NTP server (server NAME iburst in /etc/chrony.conf) and "
                             "allow UDP 123; air-gapped sites need local NTP sources.")
    if ev.kernel_synced is False:
        problems.append("the kernel clock is marked unsynchronised (timedatectl: 'System clock synchronized: no')")
        fixes.append("Enable time synchronisation: timedatectl set-ntp true (or chronyd).")
    if ev.kernel_synced is None:
        evidence["kernelError"] = ev.kernel_error
    if problems:
        return Outcome(Status.WARN, "This host's clock is not synchronising: " + "; ".join(problems) + ". Its offset "
                       "may be small now (clock.ntp.offset), but it drifts toward SigV4's 5-minute limit; "
                       "nodeadm debug's ntp-sync check fails on this.", measured="not synchronised",
                       threshold="synchronised", remediation=" ".join(dict.fromkeys(fixes)), evidence=evidence)
    if ev.chronyc is None and ev.kernel_synced is None:
        return Outcome.skip(SkipReason.NOT_APPLICABLE, f"Neither chronyc nor the kernel's clock state could be read "
                            f"({ev.kernel_error}).", "Check time sync by hand: chronyc tracking; timedatectl.",
                            evidence=evidence)
    how = " and ".join(x for x, present in (("chronyc tracking", ev.chronyc is not None),
                                            ("the kernel's synchronized flag", ev.kernel_synced is not None))
                       if present)
    return Outcome(Status.PASS, f"This host's clock is synchronising ({how}).", evidence=evidence)


def _side(offset: float) -> str:
    """Offset is server minus this host: positive means this host is behind."""
    return "behind" if offset > 0 else "ahead of"


def _judge(offset: float, error: float, against: str, how: str, t: Thresholds,
           evidence: dict[str, Any]) -> Outcome:
    """FAIL/WARN only when the offset exceeds a threshold by more than the measurement error."""
    size = abs(offset)
    sure = max(0.0, size - error)
    what = f"This host's clock is {size:.3f} s {_side(offset)} {against} ({how})"
    common: dict[str, Any] = {"measured": round(offset, 3), "unit": "s", "evidence": evidence}
    if sure > t.clock_fail_s:
        return Outcome(Status.FAIL, f"{what}; AWS rejects SigV4 requests signed more than 5 minutes off.",
                       threshold=t.clock_fail_s, remediation=FIX, **common)
    if sure > t.clock_warn_s:
        return Outcome(Status.WARN, f"{what}; more than {t.clock_warn_s:g} s off drifts toward SigV4's 5-minute "
                       "limit and confuses certificate validity checks.", threshold=t.clock_warn_s,
                       remediation=FIX, **common)
    return Outcome(Status.PASS, f"{what}, within {t.clock_warn_s:g} s.", threshold=t.clock_warn_s, **common)


def _ntp(spec: Spec, ev: NtpEvidence, t: Thresholds) -> Outcome:
    evidence: dict[str, Any] = {"source": spec.source, "servers": list(spec.servers),
                                "answers": [r.to_evidence() for r in ev.results],
                                "unresolved": [{"name": n, "status": s} for n, s in ev.unresolved]}
    if ev.paths:
        evidence["paths"] = list(ev.paths)
    answered = [r for r in ev.results if r.outcome == "answered" and r.offset is not None and r.delay is not None]
    synced = [r for r in answered if r.leap != 3 and r.stratum not in (0, 16) and r.stratum is not None]
    if not answered:
        why = [f"{r.server}: {r.outcome}" + (f" ({r.sent} requests)" if r.outcome == "timeout" else "")
               for r in ev.results] + [f"{n}: {s}" for n, s in ev.unresolved]
        names = ", ".join(spec.servers)
        if ev.paths and all(p.get("down") for p in ev.paths):
            seen = "; ".join(f"{p['ip']}: {p['summary']}" for p in ev.paths)
            return Outcome(Status.WARN, f"None of the NTP servers ({names}, from {spec.source}) answered "
                           f"({'; '.join(why)}), and nothing else comes back from them either ({seen}): the path "
                           "to them is down or drops everything, which is a network path problem, not an NTP one; "
                           "the clock offset cannot be measured.", measured="path down", threshold="an SNTP answer",
                           remediation=f"Restore the path from this node to {names} (routes and firewalls in "
                                       "between), or set spec.ntp.servers to an NTP server this site can reach.",
                           evidence=evidence)
        alive = [p for p in ev.paths if p.get("alive")]
        seen_alive = "; ".join(f"{p['ip']}: {p['summary']}" for p in alive)
        tail = (f" Other traffic to them gets through ({seen_alive}), "
                "so the NTP service or a filter on UDP 123 is the problem, not loss." if alive else "")
        return Outcome(Status.WARN, f"None of the NTP servers ({names}, from {spec.source}) answered "
                       f"({'; '.join(why)}), so the clock offset cannot be measured and the clock cannot stay synced."
                       f"{tail}", measured="no answer", threshold="an SNTP answer",
                       remediation=f"Allow UDP 123 from this node to {names}, or set "
                                   "spec.ntp.servers to an NTP server this site can reach.", evidence=evidence)
    if not synced:
        r = answered[0]
        return Outcome(Status.WARN, f"NTP server {r.server} answered but is not synchronized itself (stratum "
                       f"{r.stratum}, leap indicator {r.leap}, reference '{r.ref_id}').", measured=r.stratum,
                       threshold="stratum 1-15, leap ≠ 3",
                       remediation="Point this node at a synchronized NTP server, or fix the server's upstream.",
                       evidence=evidence)
    best = min(synced, key=lambda r: r.delay or 0.0)
    assert best.offset is not None and best.delay is not None
    evidence["chosen"] = best.server
    out = _judge(best.offset, max(best.delay, 0.0) / 2, f"NTP server {best.server}",
                 f"SNTP, best of {best.received} answer{'s' if best.received != 1 else ''}, round trip "
                 f"{best.delay * 1000:.1f} ms, stratum {best.stratum}", t, evidence)
    sent, lost = sum(r.sent for r in ev.results), sum(r.lost for r in ev.results)
    if lost:
        evidence["lostQueries"] = lost
        out = replace(out, message=f"{out.message} {lost} of {sent} SNTP requests got no answer: the path drops "
                      f"packets ({LOSS_HINT}); chrony and timesyncd poll again, so the clock stays synced.")
    return out


def _https(spec: Spec, r: TlsResult, t: Thresholds) -> Outcome:
    """Each Date d (whole seconds) bounds the offset to [d - received, d + 1 - sent]; intersect the bounds."""
    evidence = {"tls": r.to_evidence(), "resolutionSeconds": 1}
    lows, highs = [], []
    for a in r.http:
        if not a.date:
            continue
        try:
            d = email.utils.parsedate_to_datetime(a.date).timestamp()
        except (TypeError, ValueError):
            continue
        lows.append(d - a.received_at)
        highs.append(d + 1 - a.sent_at)
    if not lows:
        why = (r.handshake_error or r.tcp_reason or (r.proxy.error if r.proxy else "") or
               "no answer carried a Date header")
        failed = bool(r.handshake_error or r.tcp_reason or (r.proxy and r.proxy.error))
        reason = SkipReason.DEPENDENCY if failed else SkipReason.NOT_APPLICABLE  # a server may omit Date
        return Outcome.skip(reason, f"No HTTPS answer with a Date header came from {spec.host} "
                            f"(stage '{r.stage}': {why}), so the clock could not be compared with it.",
                            "See the tls.eks-api checks; clock.ntp.offset measures the clock independently.",
                            evidence=evidence)
    low, high = max(lows), min(highs)
    if low > high:  # samples disagree (server clock stepped): fall back to the widest bound
        low, high = min(lows), max(highs)
    offset, error = (low + high) / 2, (high - low) / 2
    evidence["offsetBounds"] = [round(low, 3), round(high, 3)]
    unverified = "" if r.verified else ", unverified TLS"
    return _judge(offset, error, f"the API server {spec.host}",
                  f"HTTP Date header, 1 s resolution, ±{error:.2f} s{unverified}", t, evidence)
