"""`netcheck regions`: the round trip from this host to the public EKS endpoint of each candidate Region.

AWS's advice for EKS Hybrid Nodes is the Region closest to the site. This module measures it: for
each candidate Region, `eks.<region>.<dns suffix>` (the partition table in probes/endpoints.py, or
every AWS name under spec.aws.domain in labs and stand-ins) is resolved and sampled with a few TCP
handshakes to the service port (the kernel's SYN/SYN-ACK RTT), falling back to ICMP echo when no
handshake answers; all Regions at once, within a few seconds in all. Through the site's HTTPS proxy
(HTTPS_PROXY, unless NO_PROXY exempts the name) each sample is a CONNECT set-up through the proxy.

The path measured is this host's public internet path (or its proxy's), not the VPN/Direct Connect
path nodes use to reach a private cluster endpoint: that one is latency.rtt.* in `netcheck run`.
The same measurement feeds the advisory check latency.region.closest (probes/region.py); `compare`
is the one judgement both use. Every byte goes through the Net facade, so tests point the names at
loopback or lab addresses with their own resolver (spec.dns.servers) and nothing else is reached.
"""

from __future__ import annotations

import ipaddress
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from netcheck.net.proxyenv import proxy_for, redact
from probes.endpoints import COMMERCIAL_ECR_REGIONS, ECR_ACCOUNTS, PARTITIONS, Partition, partition_of

if TYPE_CHECKING:
    from netcheck.net import Net
    from netcheck.settings import Settings

SAMPLES = 5  # handshakes (or CONNECTs) per Region: enough for a median, few enough for a few seconds in all
INTERVAL_S = 0.05  # between two samples of one Region
DNS_S = 2.0  # one name's lookup, retries included
TCP_S = 3.0  # one Region's handshake series: room for one SYN retransmission (RTO 1 s) on a first sample
ICMP_S = 1.5  # the ICMP echo series tried when no handshake answered
CONNECT_S = 4.0  # one CONNECT through the proxy
MAX_WORKERS = 64
# A candidate is "markedly faster" than the cluster's Region when both hold: its median is under the
# cluster's divided by RATIO, and at least MARGIN_MS lower. One alone misleads: 2 ms against 4 ms is
# twice as fast and irrelevant; 180 ms against 200 ms is 20 ms and within the noise of a public path.
RATIO = 1.5
MARGIN_MS = 20.0
SHOWN = 5  # faster Regions named in a sentence (all of them are in the evidence and the table)

State = Literal["measured", "unresolved", "no-answer", "proxy-refused", "proxy-failed", "not-tried"]
STATE_TEXT: dict[str, str] = {
    "unresolved": "did not resolve", "no-answer": "did not answer", "proxy-refused": "refused by the proxy",
    "proxy-failed": "the proxy failed", "not-tried": "not measured (no time left)"}


def regions_of(partition: Partition) -> list[str]:
    """The Regions of a partition that EKS serves (the EKS image-registry table: every EKS Region), sorted."""
    known = set(ECR_ACCOUNTS) | set(COMMERCIAL_ECR_REGIONS)
    return sorted(r for r in known if partition_of(r).id == partition.id)


def partition_named(name: str) -> Partition:
    """The partition with id `name` (aws, aws-cn, aws-us-gov, aws-eusc); ValueError naming the choices."""
    for p in PARTITIONS:
        if p.id == name:
            return p
    raise ValueError(f"unknown partition {name!r}; choose one of {', '.join(p.id for p in PARTITIONS)}")


@dataclass(frozen=True)
class Candidate:
    """One Region to measure: its public EKS endpoint and the proxy a client would use for it (None: direct)."""

    region: str
    host: str
    port: int
    proxy: str | None = None


def candidates(settings: Settings, regions: Sequence[str] = (), partition: str | None = None) -> list[Candidate]:
    """The candidate Regions: `regions` if given, else spec.latency.regions, else every Region of the partition.

    The partition is the cluster's (or `partition`, or commercial AWS). The cluster's Region is always a
    candidate, so there is something to compare with. Names follow spec.aws.domain when it is set.
    """
    s = settings.spec
    cluster = s.cluster.region
    part = partition_named(partition) if partition else partition_of(cluster) if cluster else PARTITIONS[-1]
    chosen = list(regions) or list(s.latency.regions) or regions_of(part)
    if cluster and cluster not in chosen:
        chosen.insert(0, cluster)
    out: list[Candidate] = []
    for region in dict.fromkeys(chosen):
        host = f"eks.{region}.{s.aws.domain or partition_of(region).dns_suffix}"
        out.append(Candidate(region, host, s.aws.service_port, proxy_for(host, s.aws.service_port, settings.environ)))
    return out


@dataclass(frozen=True)
class RegionRtt:
    """What one Region's endpoint answered: its samples (ms, None = no answer) or why there are none."""

    region: str
    host: str
    port: int
    state: State
    method: str = ""  # "tcp-443", "icmp", "connect" (through the proxy)
    ip: str | None = None
    samples: tuple[float | None, ...] = ()
    detail: str = ""  # why unresolved / no answer; notes on the series
    proxy: str | None = None  # the proxy URL (credentials removed) when measured through one

    @property
    def got(self) -> list[float]:
        return [x for x in self.samples if x is not None]

    @property
    def median(self) -> float | None:
        return statistics.median(self.got) if self.got else None

    @property
    def spread(self) -> float | None:
        """max − min of the samples that answered: how steady this Region's figure is."""
        return max(self.got) - min(self.got) if self.got else None

    def method_text(self) -> str:
        if self.method == "connect":
            return f"CONNECT through {self.proxy}"
        if self.method.startswith("tcp-"):
            return f"TCP handshake to port {self.method[4:]}"
        return "ICMP echo" if self.method.startswith("icmp") else self.method

    def to_json(self) -> dict[str, Any]:
        got = self.got
        return {"region": self.region, "host": self.host, "port": self.port, "ip": self.ip, "state": self.state,
                "method": self.method or None, "proxy": self.proxy, "sent": len(self.samples), "received": len(got),
                "medianMs": None if self.median is None else round(self.median, 3),
                "minMs": round(min(got), 3) if got else None, "maxMs": round(max(got), 3) if got else None,
                "spreadMs": None if self.spread is None else round(self.spread, 3),
                "samplesMs": [None if x is None else round(x, 3) for x in self.samples], "detail": self.detail}


def rtt_from_json(doc: dict[str, Any]) -> RegionRtt:
    """A RegionRtt back from its JSON form (check evidence, saved surveys)."""
    return RegionRtt(doc["region"], doc["host"], int(doc["port"]), doc["state"], doc.get("method") or "",
                     doc.get("ip"), tuple(doc.get("samplesMs") or ()), doc.get("detail") or "", doc.get("proxy"))


# --- measuring (I/O through the Net facade) --------------------------------------------------

def measure(cands: Sequence[Candidate], net: Net, samples: int = SAMPLES, dns_servers: tuple[str, ...] = (),
            dns_timeout: float = DNS_S) -> list[RegionRtt]:
    """Measure every candidate at once; results in the candidates' order. Bounded by the Net's deadline.

    Daemon threads, not a pool: a run cut short (deadline, SIGTERM) must not wait for them at exit.
    A probe error in one Region (anything but "no time left") is raised here, so the check says ERROR.
    """
    results: list[RegionRtt | None] = [None] * len(cands)
    errors: list[BaseException] = []
    gate = threading.BoundedSemaphore(MAX_WORKERS)

    def work(i: int, c: Candidate) -> None:
        with gate:
            try:
                results[i] = _one(c, net, samples, dns_servers, dns_timeout)
            except Exception as exc:  # handed to the caller below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, c), daemon=True, name=f"region-{c.region}")
               for i, c in enumerate(cands)]
    for t in threads:
        t.start()
    longest = dns_timeout + max(TCP_S + ICMP_S + 1.0, samples * (CONNECT_S + INTERVAL_S)) + 2.0
    end = time.monotonic() + longest * (1 + len(cands) // MAX_WORKERS)
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    if errors:
        raise errors[0]
    return [r if r is not None else RegionRtt(c.region, c.host, c.port, "not-tried", detail="no result in time")
            for c, r in zip(cands, results, strict=True)]


def _one(c: Candidate, net: Net, samples: int, dns_servers: tuple[str, ...], dns_timeout: float) -> RegionRtt:
    from netcheck.net import DeadlineExceeded

    try:
        if c.proxy:
            return _via_proxy(c, net, samples)
        return _direct(c, net, samples, dns_servers, dns_timeout)
    except DeadlineExceeded:
        return RegionRtt(c.region, c.host, c.port, "not-tried", detail="no time left before the deadline")


def _direct(c: Candidate, net: Net, samples: int, dns_servers: tuple[str, ...], dns_timeout: float) -> RegionRtt:
    from netcheck.net.icmp import IcmpUnavailable

    try:
        ip = str(ipaddress.ip_address(c.host))
    except ValueError:
        answer = net.resolve(c.host, "A", dns_servers, timeout=dns_timeout)
        if not answer.addresses:
            why = answer.status.upper() if answer.status in ("nxdomain", "servfail", "refused") else answer.status
            return RegionRtt(c.region, c.host, c.port, "unresolved", detail=answer.detail or why)
        ip = answer.addresses[0]
    series = net.tcp_rtt(ip, c.port, count=samples, interval=INTERVAL_S, timeout=TCP_S)
    if series.received:
        return RegionRtt(c.region, c.host, c.port, "measured", series.method, ip, series.rtts,
                         "; ".join(series.notes))
    tcp_why = ", ".join(f"{k}" if n == 1 else f"{n}x {k}" for k, n in series.errors.items()) or "no answer"
    why = f"TCP to port {c.port}: {tcp_why} ({series.sent} handshake{'s' if series.sent != 1 else ''})"
    try:
        echo = net.ping(ip, count=samples, interval=INTERVAL_S, timeout=ICMP_S, wait=1.0)
    except IcmpUnavailable as exc:
        return RegionRtt(c.region, c.host, c.port, "no-answer", series.method, ip, series.rtts,
                         f"{why}; ICMP echo not tried: {exc.message}")
    if echo.received:
        return RegionRtt(c.region, c.host, c.port, "measured", echo.method, ip, echo.rtts,
                         f"{why}; measured by ICMP echo instead")
    return RegionRtt(c.region, c.host, c.port, "no-answer", series.method, ip, series.rtts,
                     f"{why}; ICMP echo: no reply to {echo.sent} requests")


def _via_proxy(c: Candidate, net: Net, samples: int) -> RegionRtt:
    """`samples` CONNECTs through the proxy, one after another: the time each took to be answered 2xx."""
    assert c.proxy is not None
    shown = redact(c.proxy)
    rtts: list[float | None] = []
    failure: tuple[State, str] | None = None
    for i in range(samples):
        if i:
            time.sleep(INTERVAL_S)
        a = net.proxy_connect(c.proxy, c.host, c.port, timeout=CONNECT_S)
        if a.outcome != "connected":
            failure = "proxy-failed", f"TCP to the proxy {a.proxy}: {a.outcome} ({a.reason or a.error})"
        elif a.status is None:
            failure = "proxy-failed", f"the proxy {a.proxy}: {a.error}"
        elif a.status // 100 != 2:
            # 403/407: the proxy's policy; 502/503/504: it could not resolve or reach the Region itself.
            failure = ("proxy-refused" if a.status in (403, 407) else "no-answer",
                       f"the proxy answered CONNECT with {a.status} {a.reason}".rstrip())
        if failure is not None:
            rtts.append(None)
            break
        rtts.append(a.seconds * 1000.0)
    if failure is None:
        return RegionRtt(c.region, c.host, c.port, "measured", "connect", proxy=shown, samples=tuple(rtts))
    state, why = failure
    if any(x is not None for x in rtts):  # earlier CONNECTs went through: keep them, say what the last one did
        return RegionRtt(c.region, c.host, c.port, "measured", "connect", proxy=shown, samples=tuple(rtts),
                         detail=f"sample {len(rtts)}: {why}")
    return RegionRtt(c.region, c.host, c.port, state, "connect", proxy=shown, samples=tuple(rtts), detail=why)


# --- judging (pure) -----------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """The cluster's Region against the fastest other candidate that answered."""

    verdict: Literal["closer", "ok", "no-cluster", "nothing", "alone", "unknown-cluster"]
    cluster: RegionRtt | None = None
    best: RegionRtt | None = None  # the fastest measured candidate other than the cluster's
    faster: tuple[RegionRtt, ...] = ()  # every candidate markedly faster than the cluster's, fastest first


def ranked(results: Sequence[RegionRtt]) -> list[RegionRtt]:
    """Measured Regions by median, fastest first; then the others in their original order."""
    measured = sorted((r for r in results if r.median is not None), key=lambda r: (r.median, r.region))
    return measured + [r for r in results if r.median is None]


def markedly_faster(candidate: float, cluster: float, ratio: float = RATIO, margin: float = MARGIN_MS) -> bool:
    """Both: `ratio` times faster and `margin` ms lower."""
    return candidate * ratio <= cluster and cluster - candidate >= margin


def compare(results: Sequence[RegionRtt], cluster_region: str | None) -> Comparison:
    """Is a candidate markedly faster than the cluster's Region? (See RATIO and MARGIN_MS.)"""
    order = ranked(results)
    cluster = next((r for r in results if r.region == cluster_region), None)
    others = [r for r in order if r.region != cluster_region and r.median is not None]
    best = others[0] if others else None
    if not any(r.median is not None for r in results):
        return Comparison("nothing", cluster)
    if cluster_region is None:
        return Comparison("unknown-cluster", None, order[0])
    if cluster is None or cluster.median is None:
        return Comparison("no-cluster", cluster, best)
    if best is None:
        return Comparison("alone", cluster)
    faster = tuple(r for r in others if r.median is not None and markedly_faster(r.median, cluster.median))
    return Comparison("closer" if faster else "ok", cluster, best, faster)


def fig(r: RegionRtt) -> str:
    """'us-east-1 (12.3 ms)': a Region and its median (or what became of it)."""
    if r.median is None:
        return f"{r.region} ({STATE_TEXT.get(r.state, r.state)})"
    return f"{r.region} ({r.median:.1f} ms)"


def summary(comp: Comparison, target_ms: float) -> str:
    """One sentence on what the survey found."""
    if comp.verdict == "nothing":
        return "No candidate Region's endpoint could be measured from this host."
    if comp.verdict == "unknown-cluster":
        assert comp.best is not None
        return f"The closest Region is {fig(comp.best)} (no cluster Region configured to compare with)."
    assert comp.cluster is not None or comp.verdict == "no-cluster"
    if comp.verdict == "no-cluster":
        assert comp.best is not None
        name = comp.cluster.region if comp.cluster else "the cluster's Region"
        return f"The cluster's Region {name} could not be measured; the closest candidate is {fig(comp.best)}."
    assert comp.cluster is not None and comp.cluster.median is not None
    within = "within" if comp.cluster.median <= target_ms else "over"
    head = f"The cluster's Region {fig(comp.cluster)} is {within} the {target_ms:g} ms target"
    if comp.verdict == "alone":
        return head + "; no other candidate answered, so there is nothing to compare with."
    assert comp.best is not None and comp.best.median is not None
    if comp.verdict == "closer":
        names = ", ".join(fig(r) for r in comp.faster[:SHOWN])
        if len(comp.faster) > SHOWN:
            names += f" and {len(comp.faster) - SHOWN} more"
        return (f"{head}, but {names} answer{'s' if len(comp.faster) == 1 else ''} markedly faster "
                f"(at least {RATIO:g}x and {MARGIN_MS:g} ms).")
    if comp.best.median >= comp.cluster.median:
        return head + f" and is the closest (next: {fig(comp.best)})."
    return head + f"; the fastest candidate, {fig(comp.best)}, is close enough (not {RATIO:g}x and " \
                  f"{MARGIN_MS:g} ms faster)."


# --- the survey: what `netcheck regions` prints ------------------------------------------------

@dataclass(frozen=True)
class Survey:
    results: tuple[RegionRtt, ...]
    cluster_region: str | None
    target_ms: float
    samples: int
    partition: str
    started_at: str = ""
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def comparison(self) -> Comparison:
        return compare(self.results, self.cluster_region)

    @property
    def measured(self) -> bool:
        return any(r.median is not None for r in self.results)

    def path_text(self) -> str:
        proxies = sorted({r.proxy for r in self.results if r.proxy})
        direct = any(not r.proxy for r in self.results)
        if not proxies:
            return "this host's direct internet path (public endpoints; not the VPN/Direct Connect path)"
        via = f"CONNECT set-up through the HTTPS proxy {', '.join(proxies)} (TCP to the proxy plus its answer, " \
              "so the proxy's own hop is in every figure)"
        return via + ("; Regions NO_PROXY exempts are measured directly" if direct else "")

    def to_json(self) -> dict[str, Any]:
        comp = self.comparison
        rows = []
        for i, r in enumerate(ranked(self.results), 1):
            row = {"rank": i if r.median is not None else None, **r.to_json(), "cluster": r.region ==
                   self.cluster_region, "withinTarget": None if r.median is None else r.median <= self.target_ms}
            rows.append(row)
        return {"apiVersion": "netcheck/v1", "kind": "RegionSurvey", "partition": self.partition,
                "clusterRegion": self.cluster_region, "targetMs": self.target_ms, "samples": self.samples,
                "path": self.path_text(), "finding": comp.verdict, "summary": summary(comp, self.target_ms),
                "closest": next((r.region for r in ranked(self.results) if r.median is not None), None),
                "fasterThanCluster": [r.region for r in comp.faster], "regions": rows,
                "notes": list(self.notes), "startedAt": self.started_at, "durationSeconds": round(self.seconds, 3)}

    def table(self) -> str:
        lines = [f"Round trip to each candidate Region's public EKS endpoint ({self.partition}), {self.samples} "
                 f"samples each, by {self.path_text()}.", ""]
        header = f"{'#':>3}  {'Region':<17} {'median':>9} {'spread':>8} {'answered':>8}  {'<=' + format(self.target_ms, 'g') + ' ms':<9} endpoint"
        lines.append(header)
        for i, r in enumerate(ranked(self.results), 1):
            mark = "*" if r.region == self.cluster_region else " "
            name = f"{r.region}{mark}"
            where = r.host + (f" ({r.ip})" if r.ip else "")
            if r.median is None:
                lines.append(f"{'-':>3}  {name:<17} {STATE_TEXT[r.state]}: {r.detail}  [{where}]")
                continue
            within = "yes" if r.median <= self.target_ms else "NO"
            how = "" if r.method.startswith("tcp") or r.method == "connect" else f", {r.method_text()}"
            lines.append(f"{i:>3}  {name:<17} {r.median:>6.1f} ms {r.spread or 0.0:>5.1f} ms {len(r.got):>4}/"
                         f"{len(r.samples):<3}  {within:<9} {where}{how}")
        lines.append("")
        if self.cluster_region:
            lines.append(f"* the cluster's Region ({self.cluster_region})")
        lines.append(summary(self.comparison, self.target_ms))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def survey(settings: Settings, net: Net, regions: Sequence[str] = (), partition: str | None = None,
           samples: int = SAMPLES) -> Survey:
    """Measure the candidates for `settings` (see `candidates`) and gather the result."""
    import datetime

    cands = candidates(settings, regions, partition)
    s = settings.spec
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    results = measure(cands, net, samples, tuple(str(x) for x in s.dns.servers), min(DNS_S, s.dns.timeout))
    part = partition or (partition_of(s.cluster.region).id if s.cluster.region else PARTITIONS[-1].id)
    notes = []
    if s.aws.domain:
        notes.append(f"names are under spec.aws.domain {s.aws.domain}, not the partition's public suffix")
    if s.cluster.endpoint_access == "private" or s.cluster.control_plane_ips:
        notes.append("the nodes reach this cluster over the private path (VPN/Direct Connect): its round trip "
                     "is latency.rtt.* in `netcheck run`, not the public figure above")
    return Survey(tuple(results), s.cluster.region, s.thresholds.rtt_ms, samples, part, started,
                  time.monotonic() - t0, tuple(notes))


class UsageError(ValueError):
    """A bad --candidates or --partition value (exit 2)."""


def command(settings: Settings, regions: Sequence[str], partition: str | None, samples: int, fmt: str,
            deadline: float) -> tuple[str, int]:
    """`netcheck regions`: (the text to print, the exit code: 0 measured, 4 nothing could be measured)."""
    import json

    from netcheck.net import Net
    from netcheck.settings.schema import _region

    try:
        wanted = [_region(r) for r in regions]
    except ValueError as exc:
        raise UsageError(f"--candidates: {exc}") from None
    if partition:
        try:
            partition_named(partition)
        except ValueError as exc:
            raise UsageError(f"--partition: {exc}") from None
    result = survey(settings, Net(deadline=deadline), wanted, partition, samples)
    text = result.table() if fmt == "table" else json.dumps(result.to_json(), indent=2) + "\n"
    return text, 0 if result.measured else 4
