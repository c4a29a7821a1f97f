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


def _phased(settings: Settings, options: Options, net: Net | None) -> tuple[Settings, PhaseInfo]:
    """The lifecycle phase (from the host's evidence unless set), and the settings for it; nothing is sent."""
    from netcheck import phase as phases
    from netcheck.net import Net

    requested, origin = phases.requested_phase(settings, options.phase)
    net = net or Net(root=settings.environ.get("NETCHECK_HOST_ROOT"))  # the host root of the settings' snapshot
    info = phases.resolve(net, requested, origin, settings.spec.inbound.kubelet_port)
    return phases.with_phase(settings, info.phase), info


def plan(settings: Settings, options: Options | None = None, *, net: Net | None = None) -> Planned:
    """Phase, then plan: what `netcheck plan` lists and `preflight` runs.

    Detecting the phase reads host evidence through `net`; nothing is sent. Raises
    plan.PatternError when an --only/--skip pattern matches no check.
    """
    from netcheck.plan import build_plan

    options = options or Options()
    settings, info = _phased(settings, options, net)
    return Planned(settings, info, build_plan(settings, options.only, options.skip))


class _LateObserver:
    """Progress events kept until the display exists: it needs the number of checks, known only once the
    whole plan is built, and the first checks start before that (see preflight)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._real: Progress | None = None
        self._kept: list[Callable[[Progress], None]] = []  # each event, to replay on the display

    def attach(self, real: Progress) -> None:
        with self._lock:
            self._real = real
            for event in self._kept:
                event(real)
            self._kept.clear()

    def _event(self, event: Callable[[Progress], None]) -> None:
        with self._lock:
            if self._real is None:
                self._kept.append(event)
            else:
                event(self._real)

    def started(self, check: Check) -> None:
        self._event(lambda p: p.started(check))

    def finished(self, result: CheckResult) -> None:
        self._event(lambda p: p.finished(result))

    def close(self) -> None:
        with self._lock:
            if self._real is not None:
                self._real.close()


def preflight(settings: Settings, options: Options | None = None, *, net: Net | None = None) -> Preflight:
    """Phase, plan, run, decide, build the Report, remember it.

    The checks of the probes that run longest (probes.FIRST) start as soon as they are planned; the
    other probes are planned while they run (runner.run's `rest`). Raises plan.PatternError when an
    --only/--skip pattern matches no check (checked once the whole plan is built; by then the first
    checks may have sent their first probes, but no report is made), and settings.ConfigError when
    the site profile's CA, checked as text by settings.build(x509_later=True), is no X.509
    certificate (settings.check_pending, at the same point).
    """
    import probes
    from netcheck import signals
    from netcheck.model import CheckResult, Outcome, Report, SkipReason
    from netcheck.net import Net
    from netcheck.plan import build_plan
    from netcheck.runner import RunResult, run

    options = options or Options()
    started = datetime.now(UTC)
    entered = time.monotonic()
    t0 = entered if options.clock_start is None else options.clock_start
    net = net or Net(root=settings.environ.get("NETCHECK_HOST_ROOT"))  # the settings' snapshot's host root
    settings, info = _phased(settings, options, net)
    phased = time.monotonic()
    first = build_plan(settings, options.only, options.skip, probes.FIRST, validate=False)
    observer = _LateObserver() if options.progress is not None else None
    whole: list[Plan] = []
    beside = [0.0]  # seconds spent planning the rest while the first checks ran

    def whole_plan() -> Plan:
        if not whole:
            with signals.deferred():  # a signal now is acted on once the plan is whole
                whole.append(build_plan(settings, options.only, options.skip))
        return whole[0]

    def rest() -> list[Check]:
        t = time.monotonic()
        from netcheck.settings import check_pending

        check_pending(settings)  # the CA's X.509 parse `run` left out of the settings: ConfigError as before
        checks = whole_plan()
        gc.freeze()  # settings and plan live for the whole run: keep the collector from re-walking them
        if observer is not None and options.progress is not None:
            observer.attach(options.progress(len(checks.checks)))
        # What the report needs, imported now while the checks run rather than before they start.
        import netcheck.diagnosis
        import netcheck.verdict  # noqa: F401

        beside[0] = time.monotonic() - t
        if signals.received():
            raise KeyboardInterrupt
        begun = {c.id for c in first.checks}
        return [c for c in checks.checks if c.id not in begun]

    budget = max(0.5, options.deadline - (time.monotonic() - t0) - RENDER_RESERVE)
    checks_start = time.monotonic()
    try:
        with signals.interruptible():  # SIGINT/SIGTERM stop the loop; afterwards they are deferred
            outcome = run(first.checks, net, settings.spec.thresholds, budget, observer=observer, rest=rest)
    except KeyboardInterrupt:  # a signal recorded before the loop began (start-up): a report of nothing run
        outcome = RunResult(tuple(CheckResult(c, Outcome.skip(SkipReason.INTERRUPTED, "Interrupted before it started."))
                                  for c in whole_plan().checks), interrupted=True, deadline_hit=False)
    finally:
        if observer is not None:
            observer.close()
    checks = whole_plan()
    from netcheck.diagnosis import diagnose
    from netcheck.verdict import decide

    if signals.received() and not outcome.interrupted:  # arrived after the loop, before the report
        outcome = dataclasses.replace(outcome, interrupted=True)
    disabled = {c.id: CheckResult(c, o) for c, o in checks.disabled}
    ran = {r.id: r for r in outcome.results}
    never = Outcome.skip(SkipReason.INTERRUPTED, "Interrupted before it started.")  # a signal while the rest was planned
    results = tuple(ran.get(c.id) or CheckResult(c, never) for c in checks.checks) + tuple(disabled.values())
    verdict = decide(results, strict=options.strict, interrupted=outcome.interrupted)
    found = diagnose(results)  # after the verdict: it links causes, never changes a status
    report = Report(results=found.results, verdict=verdict, started_at=started.isoformat(timespec="seconds"),
                    duration=time.monotonic() - t0, profile_name=settings.name, node=socket.gethostname(),
                    version=__version__, interrupted=outcome.interrupted, strict=options.strict, phase=info.phase,
                    phase_evidence=info.evidence, phase_source=info.source, root_causes=found.roots,
                    labels=dict(settings.profile.metadata.labels),
                    critical_path=None if outcome.critical_path is None else
                    {**outcome.critical_path, "beforeChecksSeconds": round(checks_start - t0, 3),
                     "setupSeconds": {"settings": round(entered - t0, 3), "phase": round(phased - entered, 3),
                                      "plan": round(checks_start - phased, 3),
                                      "planBesideChecks": round(beside[0], 3)}})
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
