"""SIGINT and SIGTERM for `run` and `demo`: both mean "stop, print what you have, exit 4".

SIGTERM is what systemd, Kubernetes and `timeout` send; it is treated exactly like Ctrl-C.
A signal raises KeyboardInterrupt only where stopping is safe (the check loop, loading the
settings); the runner turns it into a partial report. While the report is rendered and written, and while the demo starts or stops its
stand-ins (temporary directories with TLS private keys), a first signal is only recorded:
the work finishes, the files are removed, and the exit code says the run was interrupted.
A second signal in such a stretch raises at once (an impatient operator can always get out).

Start-up: `early()` runs before typer and the rest are imported (netcheck/cli.py's first lines), so a
signal in the first fraction of a second is recorded rather than killing the process with 143.
`hand_over()` then gives it to `run`/`demo` (which end with exit 4, as for any later signal) or, for
every other command, restores the default disposition and delivers the signal again.
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
_early = False  # early() handlers are in place and install() has not replaced them yet


def early() -> None:
    """Record SIGINT/SIGTERM from the first instant of start-up (main thread only)."""
    global _early
    if threading.current_thread() is not threading.main_thread():
        return
    _early = True
    for sig in HANDLED:
        signal.signal(sig, _on_early)


def _on_early(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def hand_over(handles_signals: bool) -> None:
    """End of start-up: a command that calls install() takes over; for any other, the defaults return.

    A signal recorded during start-up is then acted on: install() raises it, or here it is sent
    again under the default disposition (the exit status a shell expects for it).
    """
    global _early
    if not _early or handles_signals:
        return
    _early = False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _received:
        import os

        sig = _received[0]
        _received.clear()
        os.kill(os.getpid(), sig)


def install() -> None:
    """Route SIGINT and SIGTERM through `_on_signal` (main thread only; elsewhere a no-op)."""
    global _early
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in HANDLED:
        signal.signal(sig, _on_signal)
    if _early:
        _early = False
        if _received and not _defer:  # arrived during start-up: stop here, as it would have a moment later
            raise KeyboardInterrupt


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
