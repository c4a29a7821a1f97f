"""The application layer: one preflight, shared by `netcheck run`, `netcheck demo` and the tests.

`preflight(settings, options)` detects the lifecycle phase, plans, runs the checks within the
deadline, merges the checks skipped by pattern, decides the verdict, builds the Report and keeps
it in the history directory. It neither parses flags, renders nor exits: that is `cli.py`'s job.
See docs/architecture.md for the data flow.
"""

from __future__ import annotations

import dataclasses
import gc
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from netcheck import __version__

if TYPE_CHECKING:
    from netcheck.model import Report
    from netcheck.net import Net
    from netcheck.settings import Settings

RENDER_RESERVE = 0.4  # seconds of --deadline left for rendering and writing the report


def _ignore(message: str) -> None:
    del message


@dataclass(frozen=True)
class Options:
    """How to run the preflight (everything but the site, which is in Settings)."""

    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    strict: bool = False
    deadline: float = 60.0
    clock_start: float | None = None  # monotonic time --deadline counts from; None: now
    phase: str | None = None  # --phase flag: pre-join|joined|auto; None: the profile's spec.phase
    history: Path | None = None  # keep the report in this directory and return the previous one
    progress: bool = False  # show a progress line on stderr
    warn: Callable[[str], None] = field(default=_ignore, compare=False)  # non-fatal problems (history)


@dataclass(frozen=True)
class Preflight:
    """What one preflight produced: the report and, with --history, the run before it."""

    report: Report
    previous: Report | None = None
    clock_start: float = 0.0  # monotonic time the deadline counted from (what is left is for writing)


def preflight(settings: Settings, options: Options | None = None, *, net: Net | None = None) -> Preflight:
    """Phase, plan, run, decide, build the Report, remember it.

    Raises plan.PatternError when an --only/--skip pattern matches no check.
    """
    from netcheck import phase as phases
    from netcheck import signals
    from netcheck.diagnosis import diagnose
    from netcheck.model import CheckResult, Report
    from netcheck.net import Net
    from netcheck.plan import build_plan
    from netcheck.runner import run
    from netcheck.verdict import decide

    options = options or Options()
    started = datetime.now(UTC)
    t0 = time.monotonic() if options.clock_start is None else options.clock_start
    net = net or Net()
    requested, origin = phases.requested_phase(settings, options.phase)
    info = phases.resolve(net, requested, origin, settings.spec.inbound.kubelet_port)
    settings = phases.with_phase(settings, info.phase)
    plan = build_plan(settings, options.only, options.skip)
    gc.freeze()  # settings and plan live for the whole run: keep the collector from re-walking them
    observer = None
    if options.progress:
        from netcheck.ui import ProgressObserver

        observer = ProgressObserver(len(plan.checks))
    budget = max(0.5, options.deadline - (time.monotonic() - t0) - RENDER_RESERVE)
    checks_start = time.monotonic()
    try:
        with signals.interruptible():  # SIGINT/SIGTERM stop the loop; afterwards they are deferred
            outcome = run(plan.checks, net, settings.spec.thresholds, budget, observer=observer)
    finally:
        if observer is not None:
            observer.close()
    if signals.received() and not outcome.interrupted:  # arrived after the loop, before the report
        outcome = dataclasses.replace(outcome, interrupted=True)
    disabled = {c.id: CheckResult(c, o) for c, o in plan.disabled}
    ran = {r.id: r for r in outcome.results}
    ordered = [c.id for c in plan.checks] + list(disabled)
    results = tuple(ran.get(i) or disabled[i] for i in ordered)
    verdict = decide(results, strict=options.strict, interrupted=outcome.interrupted)
    found = diagnose(results)  # after the verdict: it links causes, never changes a status
    report = Report(results=found.results, verdict=verdict, started_at=started.isoformat(timespec="seconds"),
                    duration=time.monotonic() - t0, profile_name=settings.name, node=socket.gethostname(),
                    version=__version__, interrupted=outcome.interrupted, strict=options.strict, phase=info.phase,
                    phase_evidence=info.evidence, phase_source=info.source, root_causes=found.roots,
                    critical_path=None if outcome.critical_path is None else
                    {**outcome.critical_path, "beforeChecksSeconds": round(checks_start - t0, 3)})
    previous = remember(report, options.history, options.warn) if options.history is not None else None
    return Preflight(report, previous, t0)


def remember(report: Report, directory: Path, warn: Callable[[str], None] = _ignore) -> Report | None:
    """Store the report in the history directory; return the run before it. A failed store only warns."""
    from netcheck import history

    previous = history.latest(directory, warn=lambda m: warn(f"warning: --history: {m}"))
    try:
        history.store(report, directory)
    except (OSError, history.HistoryError) as exc:
        warn(f"warning: could not store the report in --history {directory}: {exc}")
    return previous


def exit_code(report: Report, fmt: str, *, written: bool, signalled: bool) -> int:
    """The process exit code for a finished run (docs/architecture.md, "Exit codes")."""
    from netcheck.verdict import ExitCode
    from netcheck.verdict import exit_code as verdict_exit_code

    if fmt == "nagios":  # the Nagios plugin API's codes replace netcheck's for this format alone
        from netcheck.render.nagios import exit_code as nagios_exit_code

        return 3 if not written or signalled else nagios_exit_code(report)  # UNKNOWN
    if not written:
        return EXIT_NOT_WRITTEN
    if signalled:  # a signal after the report was built: the run was still cut short
        return int(ExitCode.INCONCLUSIVE)
    return int(verdict_exit_code(report.verdict, interrupted=report.interrupted))


EXIT_NOT_WRITTEN = 5  # the run finished, but -o FILE could not be written: the report went to stdout
