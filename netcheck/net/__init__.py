"""The network facade: the one object through which probes touch the network.

Tests may replace it with a fake; production delegates to kernel sockets, dnspython,
pyroute2 and (lazily) scapy. Every call is bounded by the facade's deadline, so a
probe that forgets a timeout still cannot outlive the run.

Each area keeps its mechanics in a module beside this one (dial, lookup, local, ...);
methods here are thin and import those modules lazily so start-up stays fast.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from netcheck.net.localerr import DeadlineExceeded  # defined beside the other local errors; re-exported
from netcheck.protocol import RESPONDER_PORT

if TYPE_CHECKING:
    from netcheck.aws import VpcDocuments
    from netcheck.net.dial import DialResult
    from netcheck.net.host import DefaultRoute
    from netcheck.net.iperf import IperfResult
    from netcheck.net.ipip import IpipProbe
    from netcheck.net.listen import ControlReply, TempListener, UdpEcho
    from netcheck.net.local import LocalPrefix
    from netcheck.net.lookup import DnsAnswer
    from netcheck.net.nft import Ruleset
    from netcheck.net.pmtu import PmtuResult
    from netcheck.net.routes import InputCheck, RouteLookup
    from netcheck.net.rtt import RttSeries
    from netcheck.net.sntp import SntpResult
    from netcheck.net.tls import ProxyAnswer, TlsResult
    from netcheck.net.trace import HopSeries, TraceResult

__all__ = ["DeadlineExceeded", "Net"]


T = TypeVar("T")


class _Evidence:
    """The per-run evidence cache behind Net.once: one value per key, computed once even by concurrent checks."""

    def __init__(self) -> None:
        self.values: dict[Hashable, Any] = {}
        self.locks: dict[Hashable, threading.Lock] = {}
        self.lock = threading.Lock()
        self.icmp: dict[str, list[dict[str, Any]]] = {}  # target ip → ICMP destination-unreachable errors seen


class Net:
    """Production network access, bounded by an optional monotonic deadline."""

    def __init__(self, deadline: float | None = None, root: str | None = None) -> None:
        self.deadline = deadline
        # Host files (sysctl.d, kubelet, CNI config) are read below this directory; the
        # network namespace is always the current one.
        self.root = root or os.environ.get("NETCHECK_HOST_ROOT") or "/"
        self._evidence = _Evidence()  # shared by every bounded() copy: one cache per run
        self._root = self  # the run's own Net (bounded() copies keep it): shared probes use its deadline

    def once(self, key: Hashable, fn: Callable[[], T]) -> T:
        """`fn()` the first time `key` is asked for in this run, its value after that (errors are not kept).

        How checks share evidence (one PMTU search per target, one set of AWS documents) instead of
        module-global memos: a new Net, a new run, nothing left over.
        """
        ev = self._evidence
        with ev.lock:
            lock = ev.locks.setdefault(key, threading.Lock())
        with lock:
            if key in ev.values:
                return ev.values[key]  # type: ignore[no-any-return]
            value = fn()
            ev.values[key] = value
            return value

    @contextlib.contextmanager
    def sending(self, ip: str, source: str | None = None) -> Iterator[None]:
        """Turn an OS error that this host's own routing raised toward `ip` into NoRouteError.

        A probe whose first send fails with ENETUNREACH (and the like) learnt something about
        this host, not about the target: the error carries the kernel's route lookup so the
        report can say "this host has no route to X (route lookup: ...)".
        """
        from netcheck.net.localerr import NoRouteError, local_route_error

        try:
            yield
        except NoRouteError:
            raise
        except OSError as exc:
            local = local_route_error(ip, exc.errno, source)
            if local is None:
                raise
            raise local from exc

    def namespace_id(self) -> int:
        """An id of the network namespace this thread is in (the inode of its ns file; 0 if unknown)."""
        try:
            return os.stat("/proc/thread-self/ns/net").st_ino
        except OSError:
            return 0

    def bounded(self, deadline: float) -> Net:
        """A copy whose calls end no later than `deadline` (time.monotonic())."""
        other = copy.copy(self)
        other.deadline = deadline if self.deadline is None else min(deadline, self.deadline)
        return other

    def budget(self, wanted: float) -> float:
        """`wanted` seconds, cut to what is left before the deadline."""
        if self.deadline is None:
            return wanted
        left = self.deadline - time.monotonic()
        if left <= 0.01:
            raise DeadlineExceeded("no time left before the deadline")
        return min(wanted, left)

    # -- TCP ------------------------------------------------------------------------
    def dial(self, ip: str, port: int, timeout: float = 5.0, source: str | None = None) -> DialResult:
        """One TCP connect, classified (netcheck.net.dial); an ICMP error it got is noted for this run."""
        from netcheck.net.dial import SO_EE_ORIGIN_ICMP, dial

        result = dial(ip, port, self.budget(timeout), source)
        if result.icmp is not None and result.icmp.origin == SO_EE_ORIGIN_ICMP and result.icmp.type == 3:
            self.note_icmp(ip, port, result.offender, result.icmp.code)
        return result

    def tcp_target(self, ip: str, port: int, timeout: float = 3.5) -> dict[str, Any]:
        """Evidence about TCP ip:port, probed once per run and shared by every check of it (netcheck.net.target).

        The dial, and on failure a traceroute, with a silent dial reconciled with any ICMP
        error seen for the target, so checks of one address, protocol and port agree.
        """
        from netcheck.net.target import TRACE_S, probe

        # Bounded by the run's deadline, not by the asking check's: the evidence is everyone's.
        shared = self._root.bounded(time.monotonic() + timeout + TRACE_S + 1.0)
        return dict(self.once(("tcp-target", self.namespace_id(), ip, port), lambda: probe(shared, ip, port, timeout)))

    def note_icmp(self, ip: str, port: int | None, offender: str | None, code: int) -> None:
        """Remember an ICMP destination unreachable (type 3, `code`) that `offender` sent about ip(:port)."""
        with self._evidence.lock:
            self._evidence.icmp.setdefault(ip, []).append({"port": port, "offender": offender, "code": code})

    def icmp_seen(self, ip: str, port: int | None = None) -> dict[str, Any] | None:
        """An ICMP destination unreachable seen for `ip` in this run that explains silence on `port`.

        Net and host unreachable/unknown are true of the address whatever the port; other codes
        (prohibited, port unreachable) only of the same port.
        """
        from netcheck.net.target import ADDRESS_CODES

        with self._evidence.lock:
            seen = list(self._evidence.icmp.get(ip, ()))
        return next((e for e in seen if e["code"] in ADDRESS_CODES or e["port"] == port), None)

    # -- DNS ------------------------------------------------------------------------
    def resolve(self, name: str, rdtype: str = "A", servers: tuple[str, ...] = (),
                timeout: float = 5.0) -> DnsAnswer:
        """Resolve `name`, retrying as the node's resolver does, within `timeout` s in all (lookup.resolve)."""
        from netcheck.net.lookup import resolve

        return resolve(name, rdtype, servers, self.budget(timeout))

    # -- this host ------------------------------------------------------------------
    def local_prefixes(self) -> tuple[LocalPrefix, ...]:
        from netcheck.net.local import local_prefixes

        self.budget(1.0)  # no time left: DeadlineExceeded, like every facade call
        return local_prefixes()

    def source_for(self, ip: str) -> str | None:
        """The source address the kernel would use toward `ip` (a route lookup; nothing sent)."""
        from netcheck.net.local import source_for

        return source_for(ip)

    # -- host files and lifecycle evidence (netcheck.net.host, netcheck.phase) ----------
    def host_file(self, path: str) -> str | None:
        """A host file's text (below the host root), or None when absent."""
        from netcheck.net.host import read_text

        return read_text(self.root, path)

    def host_dir(self, path: str) -> list[str]:
        """Names in a host directory (below the host root), sorted; [] when absent."""
        from netcheck.net.host import list_dir

        return list_dir(self.root, path)

    def tcp_listening(self, port: int) -> bool:
        """Whether something in this network namespace listens on TCP `port`."""
        from netcheck.net.host import tcp_listening

        return tcp_listening(port)

    def link_names(self) -> list[str]:
        """Every interface of this namespace, up or down."""
        from netcheck.net.host import link_names

        return link_names()

    def default_route(self) -> DefaultRoute | None:
        """The IPv4 default route's interface and its first global address (the kubelet's pick)."""
        from netcheck.net.host import default_route

        return default_route()

    def lookup_host(self, name: str) -> tuple[str, ...]:
        """IPv4 addresses of `name` through libc (hosts file, DNS), as the kubelet resolves its node name."""
        from netcheck.net.host import lookup_host

        self.budget(5.0)
        return lookup_host(name)

    # -- TLS, proxies, NTP (netcheck.net.tls, netcheck.net.sntp) ---------------------
    def tls_handshake(self, host: str, ip: str | None, port: int, timeout: float = 8.0, ca_pem: str | None = None,
                      cafile: str | None = None, capath: str | None = None, proxy: str | None = None,
                      paths: tuple[str, ...] = ()) -> TlsResult:
        """TLS to `host` at ip:port (or via an HTTP CONNECT proxy); verdict, chain, optional GETs."""
        from netcheck.net.tls import handshake

        return handshake(host, ip, port, self.budget(timeout), ca_pem, cafile, capath, proxy, paths)

    def proxy_connect(self, proxy: str, host: str, port: int, timeout: float = 5.0) -> ProxyAnswer:
        """CONNECT host:port through an HTTP proxy and report its answer; the tunnel is closed."""
        import time as _time

        from netcheck.net.tls import connect_tunnel

        sock, answer = connect_tunnel(proxy, host, port, _time.monotonic() + self.budget(timeout))
        if sock is not None:
            sock.close()
        return answer

    def sntp_query(self, ip: str, port: int = 123, timeout: float = 2.0) -> SntpResult:
        """One SNTP request to ip:port: clock offset and delay."""
        from netcheck.net.sntp import query

        with self.sending(ip):
            return query(ip, port, self.budget(timeout))

    def sntp_burst(self, ip: str, port: int = 123, timeout: float = 4.0) -> SntpResult:
        """A short iburst-like series of SNTP requests to ip:port: the best sample, with sent/received counts."""
        from netcheck.net.sntp import burst

        with self.sending(ip):
            return burst(ip, port, timeout=self.budget(timeout))

    # -- bandwidth (netcheck.net.iperf) ----------------------------------------------
    def throughput(self, host: str, port: int, seconds: float = 5.0, streams: int = 4, reverse: bool = False,
                   token: str | None = None, timeout: float = 5.0, reserve: float = 0.0) -> IperfResult:
        """One iperf3 TCP test to host:port (upload, or download when `reverse`); raises IperfError.

        A busy server is waited for until the deadline, less `reserve` seconds kept for
        what runs after this test (the other direction).
        """
        from netcheck.net.iperf import run_client

        self.budget(seconds)
        deadline = (self.deadline if self.deadline is not None else time.monotonic() + seconds + 15.0) - reserve
        return run_client(host, port, seconds=seconds, streams=streams, reverse=reverse, token=token,
                          timeout=self.budget(timeout), deadline=deadline)

    def throughput_bidir(self, host: str, port: int, seconds: float = 5.0, streams: int = 4,
                         token: str | None = None, timeout: float = 5.0) -> tuple[IperfResult, IperfResult]:
        """One iperf3 --bidir test to host:port: (upload, download) at the same time; raises IperfError."""
        from netcheck.net.iperf import run_bidir

        self.budget(seconds)
        deadline = self.deadline if self.deadline is not None else time.monotonic() + seconds + 15.0
        return run_bidir(host, port, seconds=seconds, streams=streams, token=token, timeout=self.budget(timeout),
                         deadline=deadline)

    # -- routing, inbound paths, local firewall, AWS (probes routing/inbound/cniports/firewall/vpc) --
    def route_lookup(self, dst: str, src: str | None = None) -> RouteLookup:
        """The kernel's route toward `dst`: table, policy rule, interface, gateway, source. Nothing sent."""
        from netcheck.net.routes import route_lookup

        self.budget(1.0)
        return route_lookup(dst, src)

    def input_check(self, interface: str, src: str, dst: str) -> InputCheck:
        """Would a packet src → local dst arriving on `interface` pass rp_filter? Nothing sent."""
        from netcheck.net.routes import input_check

        self.budget(1.0)
        return input_check(interface, src, dst)

    def interfaces(self) -> dict[str, list[str]]:
        """Up, non-loopback interfaces and their IPv4 addresses."""
        from netcheck.net.routes import interfaces

        self.budget(1.0)  # no time left: DeadlineExceeded, like every facade call
        return interfaces()

    def sysctl(self, key: str) -> str | None:
        """A sysctl of this network namespace (dotted, or a path below /proc/sys)."""
        from netcheck.net.routes import sysctl

        self.budget(1.0)  # no time left: DeadlineExceeded, like every facade call
        return sysctl(key)

    def netstat_counter(self, name: str) -> int | None:
        """A /proc/net/netstat counter of this namespace, e.g. IPReversePathFilter."""
        from netcheck.net.routes import netstat_counter

        self.budget(1.0)  # no time left: DeadlineExceeded, like every facade call
        return netstat_counter(name)

    def listen_tcp(self, ip: str, port: int) -> TempListener | None:
        """A temporary TCP listener on ip:port, or None when something already listens there."""
        from netcheck.net.listen import open_listener

        self.budget(1.0)  # no time left: DeadlineExceeded, like every facade call
        return open_listener(ip, port)

    def responder_request(self, host: str, port: int, message: dict[str, object], timeout: float = 5.0,
                          source: str | None = None) -> ControlReply:
        """One JSON request/reply with `netcheck serve` (e.g. op hello)."""
        from netcheck.net.listen import request

        return request(host, port, dict(message), self.budget(timeout), source=source)

    def connect_back(self, host: str, port: int, token: str | None, target_port: int, timeout: float = 5.0,
                     source: str | None = None) -> ControlReply:
        """Ask the responder at host:port to dial back to our address (or `source`) on `target_port`."""
        from netcheck.net.listen import connect_back

        return connect_back(host, port, token, target_port, max(0.5, self.budget(timeout + 4.0) - 4.0), source)

    def udp_echo(self, ip: str, port: int, count: int = 3, timeout: float = 3.0) -> UdpEcho:
        """Send NCE1 echo datagrams to ip:port (responder UDP echo) and say what came back."""
        from netcheck.net.listen import udp_echo

        with self.sending(ip):
            return udp_echo(ip, port, count, self.budget(timeout))

    def ipip_echo(self, ip: str, count: int = 3, timeout: float = 3.0) -> IpipProbe:
        """IP protocol 4 toward `ip` (raises netcheck.net.ipip.RawUnavailable without CAP_NET_RAW)."""
        from netcheck.net.ipip import ipip_echo

        with self.sending(ip):
            return ipip_echo(ip, count, self.budget(timeout))

    def firewall_ruleset(self, timeout: float = 5.0) -> Ruleset:
        """This host's nftables (or iptables) ruleset with firewalld/ufw state; raises FirewallUnreadable."""
        from netcheck.net.nft import read_ruleset

        return read_ruleset(self.budget(timeout), self.root)

    def aws_vpc_exports(self, files: dict[str, str]) -> VpcDocuments:
        """The AWS CLI exports named in spec.vpc.describe (cluster, subnets, routeTables, securityGroups)."""
        from pathlib import Path

        from netcheck.aws import load_exports

        self.budget(1.0)
        return load_exports(*(Path(files[k]) if k in files else None
                              for k in ("cluster", "subnets", "routeTables", "securityGroups")))

    def aws_vpc_documents(self, region: str, cluster: str, timeout: float = 20.0) -> VpcDocuments:
        """describe-cluster/subnets/route-tables/security-groups through boto3 (the `aws` extra)."""
        from netcheck.aws import load_from_api

        budget = self.budget(timeout)
        return self.once(("aws-vpc-documents", region, cluster), lambda: load_from_api(region, cluster, budget))

    # -- path quality: latency, path MTU, traceroute ------------------------------------
    def ping(self, ip: str, count: int = 20, interval: float = 0.05, timeout: float = 10.0,
             wait: float = 1.0) -> RttSeries:
        """ICMP echo series (datagram socket, raw as root); raises icmp.IcmpUnavailable."""
        from netcheck.net.icmp import ping

        with self.sending(ip):
            return ping(ip, count, interval, self.budget(timeout), wait)

    def tcp_rtt(self, ip: str, port: int = 443, count: int = 20, interval: float = 0.05,
                timeout: float = 15.0) -> RttSeries:
        """TCP handshake series: the kernel's SYN/SYN-ACK RTT per connect, paced by `interval`."""
        from netcheck.net.rtt import tcp_rtt

        with self.sending(ip):
            return tcp_rtt(ip, port, count, interval, self.budget(timeout))

    def udp_rtt(self, ip: str, port: int = RESPONDER_PORT, count: int = 20, interval: float = 0.05,
                timeout: float = 10.0, wait: float = 1.0) -> RttSeries:
        """UDP echo series through the responder (mode 0): RTT, loss and jitter."""
        from netcheck.net.udpecho import udp_echo

        with self.sending(ip):
            return udp_echo(ip, port, count, interval, self.budget(timeout), wait)

    def pmtu(self, ip: str, timeout: float = 10.0, ceiling: int | None = None,
             responder_port: int | None = None) -> PmtuResult:
        """Path MTU by DF binary search (ICMP, or UDP mode 1 to the responder); flags black holes."""
        from netcheck.net.pmtu import discover

        with self.sending(ip):
            return discover(ip, self.budget(timeout), ceiling, responder_port)

    def hop_series(self, ip: str, proto: str = "icmp", port: int = 33434, max_hops: int = 16, rounds: int = 20,
                   interval: float = 0.05, timeout: float = 5.0) -> HopSeries:
        """mtr-style per-hop RTT and loss (ICMP or UDP, one socket per TTL); PermissionError without ICMP."""
        from netcheck.net.trace import hop_series

        with self.sending(ip):
            return hop_series(ip, proto, port, max_hops, rounds, interval, self.budget(timeout))  # type: ignore[arg-type]

    def trace(self, ip: str, port: int = 443, proto: str = "tcp", max_hops: int = 16,
              timeout: float = 3.0) -> TraceResult:
        """TCP/UDP/ICMP traceroute; `.last_answered` and `.summary()` localise a failure."""
        from netcheck.net.trace import trace

        with self.sending(ip):
            return trace(ip, port, proto, max_hops, self.budget(timeout))  # type: ignore[arg-type]
