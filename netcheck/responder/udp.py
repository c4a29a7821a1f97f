"""UDP echo of `NCE1` datagrams: mode 0 echoes the datagram, mode 1 acknowledges its size.

No token: a reply is never larger than its request (mode 1 answers only requests of at
least 11 bytes, its reply's size), datagrams are rate-limited per source, and mode 0
replies spend the same per-source byte budget as the TCP echo.
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Any

from netcheck.protocol import ECHO_MODE_ECHO, echo_mode, echo_reply
from netcheck.responder.conn import listening_selector, plain_ip

if TYPE_CHECKING:
    from netcheck.responder.core import Responder


def loop(r: Responder, socks: list[socket.socket]) -> None:
    sel = listening_selector(socks)
    if sel is None:  # stopped before this thread began
        return
    buf = bytearray(65536)
    try:
        while not r.stopping:
            for key, _ in sel.select(0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                for _ in range(64):  # drain a burst, then look at the others
                    try:
                        n, peer = sock.recvfrom_into(buf)
                    except OSError:  # nothing left, or the socket is closing
                        break
                    answer = reply_for(r, memoryview(buf)[:n], peer)
                    if answer is not None:
                        with contextlib.suppress(OSError):
                            sock.sendto(answer, peer)
    finally:
        sel.close()


def reply_for(r: Responder, data: memoryview, peer: Any) -> bytes | None:
    """The answer to one datagram, or None to stay silent."""
    mode = echo_mode(data)
    if mode is None:
        return None
    source = plain_ip(str(peer[0]))
    if not r.allow_datagram(source):
        return None
    if mode == ECHO_MODE_ECHO and not r.echo_budget.allow(source, len(data)):
        return None
    r.stats["datagrams"] += 1
    return echo_reply(data)
