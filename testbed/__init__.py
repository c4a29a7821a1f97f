"""Real-network test bed: network namespaces, veth links, nftables, per-namespace DNS.

Shared by tests/ and bench/, so it lives beside them at the top of the repository; it is not
installed (pyproject's packages.find includes netcheck* only). docs/architecture.md, "The test bed".
"""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` just now (for a server the caller starts next)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
