"""The data plane of an iperf3 test, shared by the client (net/iperf.py) and the server (responder/iperf.py).

Receivers use one thread per stream with blocking `recv_into` on a large preallocated
buffer; senders share one thread that writes as iperf3 does (LoopPump). The GIL is
released in each system call, so two cores fill a multi-gigabit path
(bench/bench_bandwidth.py compares it with a thread-per-stream sender and with iperf3).
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence

from netcheck.net import tcpinfo
from netcheck.net.iperfwire import DEFAULT_BLKSIZE

RECV_BUF = 1 << 20  # one recv_into may return up to this much
SEND_BURST = 10  # writes per stream per wake-up, as iperf3's multisend (LoopPump says why)
STOP_POLL = 0.02  # s; how often an idle sender looks at the stop flag
DISCARD_FLAGS = socket.MSG_TRUNC if sys.platform.startswith("linux") else 0  # fewer, larger reads: far fewer thread wake-ups on a fast path


class Pump:
    """Moves bytes on the data sockets of one test; one thread per stream.

    `sending` True: write until stop(); False: read until EOF, counting only until
    stop_counting() (bytes after TEST_END are drained but not counted). A receiver
    counts with the kernel's tcpi_bytes_received where available (exact at any
    instant, whatever the reads are doing); else it counts bytes read.

    No socket option touches the receive buffer or window: autotuning must be free to
    open the window to the path's bandwidth-delay product. SO_RCVLOWAT in particular
    (used here once, for fewer wake-ups) makes Linux set the window clamp to the low
    water mark and stalls autotuning: a download on a 150 ms path stuck at about
    128 KiB per stream per round trip (15 Mbit/s with 2 streams where iperf3 -R
    carried 188). Without it loopback downloads are as fast within the noise.
    """

    def __init__(self, socks: Sequence[socket.socket], sending: bool, block: int = DEFAULT_BLKSIZE) -> None:
        self.socks = list(socks)
        self.sending = sending
        self.block = max(1024, block)
        self.counts = [0] * len(self.socks)
        self.errors: list[str] = []
        self.counting = True
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._base: list[int] | None = None  # tcpi_bytes_received at start, receivers only

    def _kernel_counts(self) -> list[int] | None:
        if self._base is None:
            return None
        now = [tcpinfo.bytes_received(s) for s in self.socks]
        if any(n is None for n in now):
            return None
        return [int(n or 0) - b for n, b in zip(now, self._base, strict=True)]

    def _prepare_receive(self) -> None:
        if not self.sending:
            base = [tcpinfo.bytes_received(s) for s in self.socks]
            if all(b is not None for b in base):
                self._base = [int(b or 0) for b in base]

    def start(self) -> None:
        self._prepare_receive()
        target: Callable[[int], None] = self._send if self.sending else self._recv
        for i in range(len(self.socks)):
            t = threading.Thread(target=target, args=(i,), daemon=True, name=f"iperf-stream-{i}")
            t.start()
            self._threads.append(t)

    def _send(self, i: int) -> None:
        sock = self.socks[i]
        payload = memoryview(os.urandom(self.block))
        stop = self._stop.is_set
        n = 0
        try:
            while not stop():
                n += sock.send(payload)
                self.counts[i] = n
        except OSError as exc:  # peer closed or reset the stream: the test is ending
            if not stop():
                self.errors.append(f"stream {i}: {exc}")

    def _recv(self, i: int) -> None:
        sock = self.socks[i]
        view = memoryview(bytearray(RECV_BUF))
        # MSG_TRUNC on TCP (Linux) discards the bytes in the kernel without copying them to
        # user space (iperf3's --skip-rx-copy); the payload is never looked at anyway.
        flags = DISCARD_FLAGS
        n = 0
        try:
            while True:
                try:
                    k = sock.recv_into(view, len(view), flags)
                except OSError as exc:
                    if flags and exc.errno == errno.EINVAL:
                        flags = 0
                        continue
                    raise
                if k == 0:
                    return
                if self.counting and self._base is None:
                    n += k
                    self.counts[i] = n
        except OSError as exc:
            if self.counting and not self._stop.is_set():
                self.errors.append(f"stream {i}: {exc}")

    def total(self) -> int:
        if self.counting and (kernel := self._kernel_counts()) is not None:
            return sum(kernel)
        return sum(self.counts)

    def stop_counting(self) -> None:
        """Freeze the receive counts (TEST_END); later bytes are drained, not counted."""
        if (kernel := self._kernel_counts()) is not None:
            self.counts = kernel
        self.counting = False

    def stop(self, timeout: float = 3.0) -> None:
        """Ask senders to stop and wait for them (a blocked send finishes one block first)."""
        self._stop.set()
        if self.sending:
            end = time.monotonic() + timeout
            for t in self._threads:
                t.join(max(0.0, end - time.monotonic()))

    def join(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))


class LoopPump(Pump):
    """Senders on one thread in iperf3's loop; receivers as in Pump. The default.

    iperf3's sending loop: wait until a stream is writable (epoll), then write at most
    SEND_BURST blocks of `block` bytes (128 KiB) to it, never looping until EAGAIN. The
    burst limit matters on long paths, where the socket's 4 MiB send buffer (tcp_wmem
    max), not the congestion window, bounds what is in flight. Measured on a 150 ms /
    1 Gbit/s namespace path, 2 streams (bench/README.md): 128 KiB × 10 per wake-up
    carried 377 Mbit/s like iperf3 -c; writing until EAGAIN (asyncio sock_sendall of
    1 MiB blocks, the earlier default, or blocking sends in threads) 293-305; 128 KiB × 5,
    331; 128 KiB × 20, 304. A sender that fills the buffer to the brim is woken again
    only when a third of it is free, and less data stays in flight.
    """

    def start(self) -> None:
        if not self.sending:
            super().start()
            return
        t = threading.Thread(target=self._send_loop, daemon=True, name="iperf-sender")
        self._threads.append(t)
        t.start()

    def _send_loop(self) -> None:
        payload = memoryview(os.urandom(self.block))
        stop = self._stop.is_set
        with selectors.DefaultSelector() as sel:
            for i, sock in enumerate(self.socks):
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_WRITE, i)
            while not stop() and sel.get_map():
                for key, _ in sel.select(STOP_POLL):
                    i, sock = key.data, self.socks[key.data]
                    for _ in range(SEND_BURST):
                        try:
                            self.counts[i] += sock.send(payload)
                        except BlockingIOError:
                            break
                        except OSError as exc:  # peer closed or reset the stream: the test is ending
                            if not stop():
                                self.errors.append(f"stream {i}: {exc}")
                            sel.unregister(sock)
                            break


PumpFactory = Callable[[Sequence[socket.socket], bool, int], Pump]  # (streams, sending, block)
