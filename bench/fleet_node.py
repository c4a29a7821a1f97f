"""Run `netcheck` as one node of a simulated fleet: its TCP connections leave from SOURCE_IP.

Usage: python bench/fleet_node.py SOURCE_IP run -c site.yaml ...

Nodes of a real fleet have distinct addresses, and the responder keeps one bandwidth
test per source address; on one loopback host every process would otherwise come from
127.0.0.1. This wrapper (bench and tests only, never production) binds every
`socket.create_connection` of the process to SOURCE_IP (any 127.x.y.z works on Linux).
"""

from __future__ import annotations

import socket
import sys
from typing import Any


def main() -> None:
    source, args = sys.argv[1], sys.argv[2:]
    original = socket.create_connection

    def bound(address: Any, timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
              source_address: Any = None, **kw: Any) -> socket.socket:
        return original(address, timeout, source_address or (source, 0), **kw)

    socket.create_connection = bound  # type: ignore[assignment]
    from netcheck.cli import main as netcheck_main

    sys.argv = ["netcheck", *args]
    netcheck_main()


if __name__ == "__main__":
    main()
