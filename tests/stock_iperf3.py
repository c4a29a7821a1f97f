"""Stock iperf3 processes for tests, started and stopped by PID, each waited for by what it prints.

`iperf3 --forceflush` prints line by line into a pipe, so a test can wait for the state it needs
("Server listening", a client's "connected to": the server is busy from then on) instead of sleeping
for a guessed time, and without a probe connection that iperf3 would count as a failed test.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
import time
from collections.abc import Iterator


class Iperf3Proc:
    """A running iperf3 with its output lines collected by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(["iperf3", "--forceflush", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        """Block until a line containing `text` is printed; fail clearly when it never is."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"iperf3 never printed {text!r}; it printed: {''.join(self.seen)[-500:]!r}")

    def stop(self) -> None:
        """Stop it by PID (a client whose test is still running is no longer needed)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def server(port: int) -> Iterator[Iperf3Proc]:
    """`iperf3 -s` on 127.0.0.1:`port`, yielded once it listens."""
    srv = Iperf3Proc(["-s", "-B", "127.0.0.1", "-p", str(port)])
    try:
        srv.wait_for("Server listening")
        yield srv
    finally:
        srv.stop()


@contextlib.contextmanager
def busy_client(port: int, seconds: int) -> Iterator[Iperf3Proc]:
    """A stock client running a `seconds`-long test on `port`, yielded once its data stream is connected:
    from then until the test ends, the server answers every other client "busy"."""
    cli = Iperf3Proc(["-c", "127.0.0.1", "-p", str(port), "-t", str(seconds)])
    try:
        cli.wait_for("connected to")
        yield cli
    finally:
        cli.stop()
