"""Terminal progress (rich), shown only on a TTY. An Observer; the core never imports this.

A check id can carry a name from the profile or the network: it is shown through `safe.for_rich`, so it can
neither style the line (rich markup) nor send escape sequences.
"""

from __future__ import annotations

import threading

from netcheck.model import Check, CheckResult
from netcheck.render.safe import for_rich


class ProgressObserver:
    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                  TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task("checking", total=total)
        self._lock = threading.Lock()
        self._progress.start()

    def started(self, check: Check) -> None:
        with self._lock:
            self._progress.update(self._task, description=for_rich(check.id))

    def finished(self, result: CheckResult) -> None:
        with self._lock:
            self._progress.advance(self._task)

    def close(self) -> None:
        self._progress.stop()
