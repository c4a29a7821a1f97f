"""The network facade: the one object through which probes touch the network.

Tests may replace it with a fake; production delegates to kernel sockets, dnspython,
pyroute2 and (lazily) scapy. Every call is bounded by the facade's deadline, so a
probe that forgets a timeout still cannot outlive the run.

Each area keeps its mechanics in a module beside this one (dial, lookup, local, ...);
methods here are thin and import those modules lazily so start-up stays fast.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netcheck.net.dial import DialResult
    from netcheck.net.local import LocalPrefix
    from netcheck.net.lookup import DnsAnswer


class DeadlineExceeded(Exception):
    """The run's deadline passed before this call could start."""


class Net:
    """Production network access, bounded by an optional monotonic deadline."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline

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
        from netcheck.net.dial import dial

        return dial(ip, port, self.budget(timeout), source)

    # -- DNS ------------------------------------------------------------------------
    def resolve(self, name: str, rdtype: str = "A", servers: tuple[str, ...] = (),
                timeout: float = 2.0) -> DnsAnswer:
        from netcheck.net.lookup import resolve

        return resolve(name, rdtype, servers, self.budget(timeout))

    # -- this host ------------------------------------------------------------------
    def local_prefixes(self) -> tuple[LocalPrefix, ...]:
        from netcheck.net.local import local_prefixes

        return local_prefixes()

    def source_for(self, ip: str) -> str | None:
        """The source address the kernel would use toward `ip` (a route lookup; nothing sent)."""
        from netcheck.net.local import source_for

        return source_for(ip)
