"""Budgets and capacity: per-source token buckets, descriptor and bandwidth-test limits, test slots.

Everything here is pure bookkeeping (no socket I/O), so the numbers the responder runs
with can be logged at start and tested directly.
"""

from __future__ import annotations

import math
import os
import resource
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

FDS_RESERVED = 64  # listeners, log, selector, headroom (an eighth of a small limit, at least 16)
FDS_PER_TEST = 4  # the sender's epoll descriptor, plus slack
MBPS_PER_TEST = 250  # NIC share each concurrent test should be able to get (2.5x AWS's 100 Mbit/s)
TESTS_PER_CPU = 2  # measured: bench/bench_fleet.py, docs/capacity.md
MAX_AUTO_TESTS = 32
THREADS_RESERVED = 16  # accept, UDP, log and the interpreter's own
THREAD_OVERHEAD = 128 << 10  # guard page, TLS and the interpreter's thread state, beyond the stack
THREADS_PER_TEST = 2  # a test's control thread, plus slack (its streams share one epoll loop)


def thread_budget() -> tuple[int | None, str]:
    """How many more threads this process can start, when a limit says so: (count or None, the reason).

    RLIMIT_AS over each thread's stack reservation (glibc reserves RLIMIT_STACK per thread,
    8 MiB by default), and the cgroup's pids.max less pids.current. None when neither binds.
    """
    found: list[tuple[int, str]] = []
    as_soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    stack, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if as_soft != resource.RLIM_INFINITY:
        per = (stack if stack != resource.RLIM_INFINITY and stack > 0 else 8 << 20) + THREAD_OVERHEAD
        used = _vm_size()
        if used is not None:
            found.append((max(0, (as_soft - used) // per), f"RLIMIT_AS is {as_soft >> 20} MiB "
                          f"({used >> 20} MiB in use, {per >> 10} KiB per thread)"))
    pids = _pids_left()
    if pids is not None:
        found.append((pids, "the cgroup's pids.max"))
    if not found:
        return None, ""
    return min(found)


def _vm_size() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return None


def _pids_left(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    try:
        limit = (root / "pids.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "pids.current").read_text().strip()))
    except (OSError, ValueError):
        return None


class RateLimiter:
    """Token buckets per source address, in a bounded LRU table.

    `allow(source, cost)` takes `cost` tokens when the bucket has them. The bucket
    refills at `rate` per second up to `burst`.
    """

    def __init__(self, rate: float, burst: float, size: int) -> None:
        self.rate, self.burst, self.size = rate, burst, size
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, source: str, cost: float = 1.0) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(source, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= cost
            self._buckets[source] = (tokens - cost if ok else tokens, now)
            while len(self._buckets) > self.size:
                self._buckets.popitem(last=False)
            return ok

    def available(self, source: str) -> float:
        """Tokens `source` could spend now (without taking any)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(source, (self.burst, now))
            return min(self.burst, tokens + (now - last) * self.rate)

    def take_up_to(self, source: str, want: float) -> float:
        """Take as many tokens as are there, up to `want`; return how many were taken."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(source, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            got = max(0.0, min(want, tokens))
            self._buckets[source] = (tokens - got, now)
            while len(self._buckets) > self.size:
                self._buckets.popitem(last=False)
            return got


def raise_nofile() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (OSError, ValueError):
            pass
    return soft, hard


def clients_for_nofile(soft: int, max_tests: int) -> int:
    """How many TCP connections fit in `soft` descriptors, after the reserve."""
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    reserve = max(16, min(FDS_RESERVED, soft // 8))
    return max(1, soft - reserve - FDS_PER_TEST * max_tests)


def nic_speed_mbps(root: Path = Path("/sys/class/net")) -> int | None:
    """Fastest link speed (Mbit/s) of the non-loopback interfaces that report one, else None.

    Virtual interfaces (veth, bridges, many cloud NICs) report -1 or nothing: unknown.
    """
    best: int | None = None
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return None
    for dev in entries:
        if dev.name == "lo":
            continue
        try:
            speed = int((dev / "speed").read_text().strip())
        except (OSError, ValueError):
            continue
        if speed > 0 and speed < 10_000_000:
            best = max(best or 0, speed)
    return best


def cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup quota allows this process (cgroup v2 cpu.max, v1 cfs quota), None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        q = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        p = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return q / p if q > 0 and p > 0 else None


def usable_cpus() -> int:
    """CPUs this process may use: affinity, then a cgroup quota (a container's CPU limit), at least 1."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpus()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


@dataclass(frozen=True)
class Capacity:
    """How many bandwidth tests run at once, and where the number came from."""

    max_tests: int
    cpus: int
    nic_mbps: int | None
    reason: str


def auto_capacity(cpus: int | None = None, nic_mbps: int | None = None, *, probe_nic: bool = True) -> Capacity:
    """Concurrent bandwidth tests this machine can carry without starving each test.

    CPU: `TESTS_PER_CPU` tests per usable core (affinity and cgroup quota; docs/capacity.md
    has the per-test CPU cost).
    NIC: each test should be able to get `MBPS_PER_TEST` Mbit/s of the link, where the
    link speed is known. The smaller bound wins; at least 1, at most `MAX_AUTO_TESTS`.
    """
    n_cpu = cpus if cpus is not None else usable_cpus()
    nic = nic_mbps if nic_mbps is not None else (nic_speed_mbps() if probe_nic else None)
    by_cpu = max(1, TESTS_PER_CPU * n_cpu)
    parts = [f"{by_cpu} from {n_cpu} CPU{'s' if n_cpu != 1 else ''}"]
    limit = by_cpu
    if nic:
        by_nic = max(1, nic // MBPS_PER_TEST)
        parts.append(f"{by_nic} from a {nic} Mbit/s NIC at {MBPS_PER_TEST} Mbit/s per test")
        limit = min(limit, by_nic)
    else:
        parts.append("NIC speed unknown")
    limit = max(1, min(limit, MAX_AUTO_TESTS))
    return Capacity(limit, n_cpu, nic, "; ".join(parts))


# -- bandwidth-test slots -------------------------------------------------------------------

WAITING_FOR = 120.0  # seconds a denied source counts as waiting in line
HOLD_S = 1.0  # a freed slot is kept for due waiters at most this long


@dataclass(eq=False)
class BwTest:
    """One iperf3 test holding a slot."""

    cookie: bytes
    source: str
    seconds: float
    created: float = field(default_factory=time.monotonic)
    expected: int = 0
    accepting: bool = False
    started: float | None = None
    peak: int = 1  # most tests running at once while this one ran (itself included)
    streams: list[socket.socket] = field(default_factory=list)
    accepted: dict[int, float] = field(default_factory=dict)  # id(stream) -> accept time: bidir splits by order
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def remaining(self, now: float) -> float:
        """Seconds until this test should have freed its slot (results exchange included)."""
        start = self.started if self.started is not None else self.created + 1.0
        return max(0.5, start + self.seconds + 1.5 - now)


@dataclass(frozen=True)
class Denial:
    """No slot for this test: when to come back, why, and how crowded the responder is (the busy frame's trailer)."""

    retry_after: int
    reason: str
    running: int
    slots: int



class SlotTable:
    """BwTest slots: at most `limit` at once, one per source; retry-after hints for the rest."""

    def __init__(self, limit: int, max_wait: float = 300.0) -> None:
        self.limit = max(1, limit)
        self.max_wait = max_wait
        self._tests: dict[bytes, BwTest] = {}
        self._waiting: dict[str, tuple[float, float, float]] = {}  # source -> (first denied, last, told to return)
        self._freed = 0.0  # when a test last ended (a slot became free)
        self._lock = threading.Lock()

    def active(self) -> int:
        with self._lock:
            return len(self._tests)

    def acquire(self, cookie: bytes, source: str, seconds: float) -> BwTest | Denial:
        now = time.monotonic()
        with self._lock:
            self._waiting = {s: w for s, w in self._waiting.items()
                             if now - w[1] < WAITING_FOR and not _no_show(w, now)}
            mine = next((t for t in self._tests.values() if t.source == source), None)
            if mine is not None:
                return Denial(math.ceil(mine.remaining(now)), "a test from this address is running",
                              len(self._tests), self.limit)
            if len(self._tests) < self.limit and not self._held_for_others(source, now):
                test = self._tests[cookie] = BwTest(cookie, source, seconds)
                self._waiting.pop(source, None)
                return test
            first, _, _ = self._waiting.get(source, (now, now, now))
            ahead = sum(1 for s, (f, _, _) in self._waiting.items() if f < first and s != source)
            ends = sorted(t.remaining(now) for t in self._tests.values()) or [1.0]
            typical = max(t.seconds + 2.0 for t in self._tests.values()) if self._tests else seconds + 2.0
            wave, slot = divmod(ahead, self.limit)
            wait = max(1, math.ceil(min(self.max_wait, ends[min(slot, len(ends) - 1)] + wave * typical)))
            self._waiting[source] = (first, now, now + wait)
            return Denial(wait, "all test slots are in use", len(self._tests), self.limit)

    def _held_for_others(self, source: str, now: float) -> bool:
        """True when every free slot is promised to sources told to come back about now.

        Sources that were told to wait earlier and are due within the next second keep their
        turn, but a freed slot is held for them at most HOLD_S: a waiter that never returns (a
        phantom) cannot keep a slot idle longer, and one that misses its turn by more than its
        client's jitter loses its place in line (`_no_show`).
        """
        if now - self._freed > HOLD_S:
            return False
        free = self.limit - len(self._tests)
        mine = self._waiting.get(source)
        due = sum(1 for s, (f, _, at) in self._waiting.items()
                  if s != source and at <= now + 1.0 and (mine is None or f < mine[0]))
        return due >= free

    def attach(self, cookie: bytes, source: str, sock: socket.socket, accepted: float = 0.0) -> bool | None:
        """Join a data connection to its test: True; None when the cookie names no test.

        `accepted` (the connection's accept time) orders the streams as the client opened
        them, whichever handler thread read its cookie first: a bidir test's first half are
        the client's send streams.
        """
        with self._lock:
            test = self._tests.get(cookie)
        if test is None:
            return None
        with test.arrived:
            if test.source != source or not test.accepting or len(test.streams) >= test.expected:
                return False
            test.streams.append(sock)
            test.accepted[id(sock)] = accepted
            test.arrived.notify_all()
        return True

    def running(self, test: BwTest) -> None:
        with self._lock:
            test.started = time.monotonic()
            live = [t for t in self._tests.values() if t.started is not None]
            for t in live:
                t.peak = max(t.peak, len(live))

    def release(self, test: BwTest) -> None:
        with self._lock:
            if self._tests.pop(test.cookie, None) is not None:
                self._freed = time.monotonic()


def _no_show(waiter: tuple[float, float, float], now: float) -> bool:
    """A source told to return at `at` that is later than any client jitter allows (netcheck's client
    returns within 1.25 x the wait + 0.5 s): it left, and its place in line goes."""
    _, told, at = waiter
    return now > at + 0.3 * (at - told) + 1.0
