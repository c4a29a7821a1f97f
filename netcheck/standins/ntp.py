"""A loopback SNTP server whose clock runs `offset` seconds ahead of this host (negative: behind)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

from netcheck.net.sntp import PACKET, to_ntp


@dataclass(frozen=True)
class NtpServer:
    ip: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


def start(stack: contextlib.ExitStack, ip: str = "127.0.0.1", port: int = 0, offset: float = 0.0,
          stratum: int = 2, leap: int = 0, lose: int = 0) -> NtpServer:
    """Answer mode-3 requests like a stratum-`stratum` server, ignoring the first `lose` (a lossy path).

    Stopped when `stack` closes.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.settimeout(0.2)
    stop = threading.Event()
    ignored = [0]

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < PACKET.size or data[0] & 7 != 3:
                continue
            if ignored[0] < lose:
                ignored[0] += 1
                continue
            received = to_ntp(time.time() + offset)
            client_tx = PACKET.unpack_from(data)[10]
            reply = PACKET.pack((leap << 6) | (4 << 3) | 4, stratum, 6, -20, 0, 0, b"\x7f\x00\x00\x01",
                                received, client_tx, received, to_ntp(time.time() + offset))
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)

    thread = threading.Thread(target=serve, daemon=True, name=f"standin-ntp-{ip}")
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(2)
        sock.close()

    stack.callback(close)
    return NtpServer(ip, int(sock.getsockname()[1]))
