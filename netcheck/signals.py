"""SIGINT and SIGTERM for `run` and `demo`: both mean "stop, print what you have, exit 4".

SIGTERM is what systemd, Kubernetes and `timeout` send; it is treated exactly like Ctrl-C.
A signal raises KeyboardInterrupt only where stopping is safe (the check loop, loading the
settings); the runner turns it into a partial report. While the report is rendered and written, and while the demo starts or stops its
stand-ins (temporary directories with TLS private keys), a first signal is only recorded:
the work finishes, the files are removed, and the exit code says the run was interrupted.
A second signal in such a stretch raises at once (an impatient operator can always get out).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []
_defer = False
_pending = False  # a signal arrived while deferring and has not been acted on yet


def install() -> None:
    """Route SIGINT and SIGTERM through `_on_signal` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in HANDLED:
        signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending
    _received.append(signum)
    if _defer and not _pending:
        _pending = True
        return
    raise KeyboardInterrupt


def received() -> str | None:
    """Name of the first signal received (SIGINT, SIGTERM), or None."""
    return signal.Signals(_received[0]).name if _received else None


def reset() -> None:
    """Forget received signals (tests running several commands in one process)."""
    global _defer, _pending
    _received.clear()
    _defer = _pending = False


@contextmanager
def deferred() -> Iterator[None]:
    """Within: a first signal is recorded, not raised."""
    global _defer
    saved, _defer = _defer, True
    try:
        yield
    finally:
        _defer = saved


@contextmanager
def interruptible() -> Iterator[None]:
    """The check loop: a signal raises KeyboardInterrupt; one recorded before it is raised on entry.

    When it ends, signals stay deferred: what follows renders and writes the report and cleans up.
    """
    global _defer, _pending
    _defer = False
    try:
        if _pending:
            _pending = False
            raise KeyboardInterrupt
        yield
    finally:
        _defer = True
