"""One target, one diagnosis: a TCP address:port is dialled (and traced) once per run, and every check
that needs it reads the same evidence (Net.tcp_target).

Why: Linux routers rate-limit ICMP errors per destination (a burst of about 6, then about
1/s; net.ipv4.icmp_ratelimit, icmp_msgs_per_sec). Ten checks dialling one address at once
used to split between "reported unreachable" (their SYN's ICMP error came back) and "timed
out … firewall DROP" (theirs was rate-limited away). Here one dial decides, and when it only
timed out while the traceroute to the same address and port got an ICMP unreachable from a
router, or another probe of the same address saw one in this run, that error explains the
silence: the outcome is the router's, and the evidence says it was reconciled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netcheck.net.dial import ICMP_REASONS

if TYPE_CHECKING:
    from netcheck.net import Net

TRACE_HOPS, TRACE_S = 16, 3.0
ADDRESS_CODES = frozenset({0, 1, 6, 7})  # net/host unreachable or unknown: true of the address, whatever the port


def probe(net: Net, ip: str, port: int, timeout: float) -> dict[str, Any]:
    """Dial ip:port; on a failure past this host, traceroute it and reconcile a silent dial with any ICMP error."""
    from netcheck.net.localerr import DeadlineExceeded, lookup, plain

    result = net.dial(ip, port, timeout)
    ev: dict[str, Any] = result.to_evidence()
    if result.outcome == "connected":
        return ev
    if result.local_error:  # nothing left this host: the route lookup says why; no traceroute
        ev["route"] = lookup(ip)
        return ev
    if result.outcome not in ("timeout", "unreachable", "no-route"):
        return ev
    try:
        trace = net.trace(ip, port, "tcp", max_hops=TRACE_HOPS, timeout=TRACE_S)
    except (OSError, DeadlineExceeded) as exc:
        ev["traceError"] = plain(exc)[0]
    else:
        ev["trace"] = trace.to_evidence()
        ev["traceSummary"] = trace.summary()
        if ev["outcome"] == "timeout":
            hop = trace.refused_by
            if hop is not None and hop.code is not None:
                _reconcile(ev, hop.addr, hop.code, "the traceroute to the same address and port")
    if ev["outcome"] == "timeout":
        seen = net.icmp_seen(ip, port)
        if seen is not None:
            _reconcile(ev, seen["offender"], int(seen["code"]), f"another probe of {ip} in this run")
    return ev


def _reconcile(ev: dict[str, Any], offender: str | None, code: int, who: str) -> None:
    """A silent dial explained by an ICMP destination-unreachable that `who` got from `offender`."""
    outcome, reason = ICMP_REASONS.get((3, code), ("unreachable", f"icmp-type-3-code-{code}"))
    ev["dialOutcome"] = ev["outcome"]
    ev["outcome"], ev["reason"] = outcome, reason
    if offender:
        ev["offender"] = offender
    ev["reconciled"] = (f"the dial's own SYNs got no answer, but {who} got ICMP {reason.removeprefix('icmp-')} "
                        f"from {offender or 'a router'}; routers rate-limit ICMP errors (a burst of about 6, then "
                        "about 1 per second), so the silence is the same answer, rate-limited away")
