"""A loopback HTTP CONNECT proxy for tests: allow, deny (403), require auth (407) or never answer.

It only ever connects to loopback: names are looked up in `hosts` (name → loopback IP)
and anything else gets 502, so a test can never make it reach a real host.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import select
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["allow", "deny", "auth", "silent"]
IDLE_S = 10.0  # a tunnel with no traffic for this long is closed
MAX_TUNNEL_S = 60.0


@dataclass(frozen=True)
class Proxy:
    ip: str
    port: int
    requests: list[str] = field(default_factory=list)  # CONNECT targets seen, in order

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes, the tunnel idles or it grows too old."""
    end = time.monotonic() + MAX_TUNNEL_S
    while time.monotonic() < end:
        ready, _, _ = select.select([a, b], [], [], IDLE_S)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def start(stack: contextlib.ExitStack, ip: str = "127.0.0.1", port: int = 0, mode: Mode = "allow",
          hosts: Mapping[str, str] | None = None, credentials: tuple[str, str] = ("user", "secret")) -> Proxy:
    """Start the proxy; stopped when `stack` closes. Mode "auth" allows only with `credentials`."""
    names = {k.lower(): v for k, v in (hosts or {}).items()}
    expected_auth = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
    stop = threading.Event()
    proxy = Proxy(ip, 0)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.settimeout(10)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data and len(data) < 16384:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return
                    data += chunk
            lines = data.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or parts[0] != "CONNECT":
                self._answer(400, "Bad Request")
                return
            target = parts[1]
            proxy.requests.append(target)
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            if mode == "silent":
                stop.wait(MAX_TUNNEL_S)
                return
            if mode == "deny":
                self._answer(403, "Forbidden")
                return
            if mode == "auth" and headers.get("proxy-authorization") != expected_auth:
                self._answer(407, "Proxy Authentication Required", 'Proxy-Authenticate: Basic realm="standin"\r\n')
                return
            host, _, port_s = target.rpartition(":")
            host = host.strip("[]").lower()
            addr = names.get(host, host)
            try:
                if not ipaddress.ip_address(addr).is_loopback:
                    raise ValueError(addr)
                upstream = socket.create_connection((addr, int(port_s)), timeout=5)
            except (ValueError, OSError):
                self._answer(502, "Bad Gateway")
                return
            with upstream:
                self._answer(200, "Connection established")
                with contextlib.suppress(OSError):
                    _pipe(sock, upstream)

        def _answer(self, status: int, reason: str, extra: str = "") -> None:
            with contextlib.suppress(OSError):
                self.request.sendall(f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\n\r\n".encode())

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Server((ip, port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name=f"standin-proxy-{ip}")
    thread.start()

    def close() -> None:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)

    stack.callback(close)
    return Proxy(ip, int(server.server_address[1]), proxy.requests)


def clear_proxy_env(stack: contextlib.ExitStack) -> None:
    """Unset the proxy variables until `stack` closes, so `netcheck demo` never goes through a real proxy."""
    import os

    saved = {k: v for k, v in os.environ.items() if k.lower() in ("https_proxy", "http_proxy", "all_proxy",
                                                                   "no_proxy")}
    for k in saved:
        del os.environ[k]
    stack.callback(os.environ.update, saved)
