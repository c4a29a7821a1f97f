"""The responder (`netcheck serve`) on loopback, for `netcheck demo` and tests.

It is the real responder with a fresh random token, no port 5201 and quiet logs;
the demo's latency, MTU and bandwidth probes all talk to it.
"""

from __future__ import annotations

import contextlib
import secrets

from netcheck.responder import Responder, ServeConfig


def start(stack: contextlib.ExitStack, host: str = "127.20.1.10", port: int = 0,
          log: bool = False) -> tuple[str, str]:
    """Start it on host:port (0: a free port, the same number on TCP and UDP); return ("ip:port", token).

    The responder stops when `stack` closes. With `log` its JSON lines go to stderr;
    otherwise they are discarded.
    """
    token = secrets.token_urlsafe(16)
    cfg = ServeConfig(host=host, port=port, iperf_ports=(), token=token)
    responder = Responder(cfg, None if log else _discard)
    responder.start()
    stack.callback(responder.stop)
    return responder.address, token


def _discard(event: str, level: str = "info", **fields: object) -> None:
    """A logger that drops everything (the demo prints only its report)."""
