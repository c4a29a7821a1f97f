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
from typing import TYPE_CHECKING, Protocol

from netcheck import __version__

if TYPE_CHECKING:
    from netcheck.model import Check, CheckResult, Report
    from netcheck.net import Net
    from netcheck.phase import PhaseInfo
    from netcheck.plan import Plan
    from netcheck.settings import Settings

RENDER_RESERVE = 0.4  # seconds of --deadline left for rendering and writing the report


def _ignore(message: str) -> None:
    del message


class Progress(Protocol):
    """A runner Observer that is closed when the checks are done (netcheck/ui.py's ProgressObserver)."""

    def started(self, check: Check) -> None: ...

    def finished(self, result: CheckResult) -> None: ...

    def close(self) -> None: ...


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
    # Progress display: called with the number of checks, returns the observer to report to (the CLI passes
    # its terminal one); None: no progress. The core never imports a UI.
    progress: Callable[[int], Progress] | None = field(default=None, compare=False)
    warn: Callable[[str], None] = field(default=_ignore, compare=False)  # non-fatal problems (history)


@dataclass(frozen=True)
class Preflight:
    """What one preflight produced: the report and, with --history, the run before it."""

    report: Report
    previous: Report | None = None
    clock_start: float = 0.0  # monotonic time the deadline counted from (what is left is for writing)


@dataclass(frozen=True)
class Planned:
    """The lifecycle phase, the settings for it, and the checks planned for them (nothing sent yet)."""

    settings: Settings  # with the phase applied
    phase: PhaseInfo
    plan: Plan
    seconds: tuple[float, float] = (0.0, 0.0)  # spent detecting the phase, then planning (the report's set-up figures)


def plan(settings: Settings, options: Options | None = None, *, net: Net | None = None) -> Planned:
    """Phase, then plan: what `netcheck plan` lists and `preflight` runs.

    Detecting the phase reads host evidence through `net`; nothing is sent. Raises
    plan.PatternError when an --only/--skip pattern matches no check.
    """
    from netcheck import phase as phases
    from netcheck.net import Net
    from netcheck.plan import build_plan

    options = options or Options()
    t0 = time.monotonic()
    requested, origin = phases.requested_phase(settings, options.phase)
    info = phases.resolve(net or Net(), requested, origin, settings.spec.inbound.kubelet_port)
    settings = phases.with_phase(settings, info.phase)
    t1 = time.monotonic()
    checks = build_plan(settings, options.only, options.skip)
    return Planned(settings, info, checks, (t1 - t0, time.monotonic() - t1))


def preflight(settings: Settings, options: Options | None = None, *, net: Net | None = None) -> Preflight:
    """Phase, plan, run, decide, build the Report, remember it.

    Raises plan.PatternError when an --only/--skip pattern matches no check.
    """
    from netcheck import signals
    from netcheck.diagnosis import diagnose
    from netcheck.model import CheckResult, Outcome, Report, SkipReason
    from netcheck.net import Net
    from netcheck.runner import RunResult, run
    from netcheck.verdict import decide

    options = options or Options()
    started = datetime.now(UTC)
    entered = time.monotonic()
    t0 = entered if options.clock_start is None else options.clock_start
    net = net or Net()
    planned = plan(settings, options, net=net)
    settings, info, checks = planned.settings, planned.phase, planned.plan
    gc.freeze()  # settings and plan live for the whole run: keep the collector from re-walking them
    observer = options.progress(len(checks.checks)) if options.progress is not None else None
    budget = max(0.5, options.deadline - (time.monotonic() - t0) - RENDER_RESERVE)
    checks_start = time.monotonic()
    try:
        with signals.interruptible():  # SIGINT/SIGTERM stop the loop; afterwards they are deferred
            outcome = run(checks.checks, net, settings.spec.thresholds, budget, observer=observer)
    except KeyboardInterrupt:  # a signal recorded before the loop began (start-up): a report of nothing run
        outcome = RunResult(tuple(CheckResult(c, Outcome.skip(SkipReason.INTERRUPTED, "Interrupted before it started."))
                                  for c in checks.checks), interrupted=True, deadline_hit=False)
    finally:
        if observer is not None:
            observer.close()
    if signals.received() and not outcome.interrupted:  # arrived after the loop, before the report
        outcome = dataclasses.replace(outcome, interrupted=True)
    disabled = {c.id: CheckResult(c, o) for c, o in checks.disabled}
    ran = {r.id: r for r in outcome.results}
    ordered = [c.id for c in checks.checks] + list(disabled)
    results = tuple(ran.get(i) or disabled[i] for i in ordered)
    verdict = decide(results, strict=options.strict, interrupted=outcome.interrupted)
    found = diagnose(results)  # after the verdict: it links causes, never changes a status
    report = Report(results=found.results, verdict=verdict, started_at=started.isoformat(timespec="seconds"),
                    duration=time.monotonic() - t0, profile_name=settings.name, node=socket.gethostname(),
                    version=__version__, interrupted=outcome.interrupted, strict=options.strict, phase=info.phase,
                    phase_evidence=info.evidence, phase_source=info.source, root_causes=found.roots,
                    labels=dict(settings.profile.metadata.labels),
                    critical_path=None if outcome.critical_path is None else
                    {**outcome.critical_path, "beforeChecksSeconds": round(checks_start - t0, 3),
                     "setupSeconds": {"settings": round(entered - t0, 3), "phase": round(planned.seconds[0], 3),
                                      "plan": round(planned.seconds[1], 3)}})
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


def exit_code(report: Report, *, written: bool, signalled: bool) -> int:
    """netcheck's process exit code for a finished run (docs/architecture.md, "Exit codes").

    The Nagios format replaces these codes with the plugin API's; the CLI chooses (cli.py).
    """
    from netcheck.verdict import ExitCode
    from netcheck.verdict import exit_code as verdict_exit_code

    if not written:
        return int(ExitCode.NOT_WRITTEN)
    if signalled:  # a signal after the report was built: the run was still cut short
        return int(ExitCode.INCONCLUSIVE)
    return int(verdict_exit_code(report.verdict, interrupted=report.interrupted))
