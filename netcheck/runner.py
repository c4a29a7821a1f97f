"""Run checks concurrently under per-check timeouts and one global deadline.

Worker threads are daemons: a probe stuck in a system call can never hold the process
past the deadline. A probe that raises becomes ERROR, told in plain words with a fix (the
raw exception goes to the evidence only); NoRouteError (this host's own routing refused
the send) becomes FAIL "this host has no route to X"; ProbeSkip becomes SKIP; Ctrl-C
turns everything unfinished into SKIP "interrupted".

Scheduling: the longest checks (by their declared timeout) start first, so a long one never
waits for a worker behind short ones; exclusive checks (bandwidth) run alone after the rest.
With `rest`, the checks given start at once and `rest()` (the planning of all other probes)
runs meanwhile on the calling thread: the paced series need no CPU while they wait, planning
needs little else. RunResult.critical_path says which check ended last and what it waited for.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import probes
from netcheck.model import Check, CheckResult, Outcome, SkipReason, Status
from netcheck.net import DeadlineExceeded, Net
from netcheck.net.localerr import RERUN_FIX, NoRouteError, errno_name, plain
from netcheck.settings import Thresholds
from probes.base import ProbeSkip


class Observer(Protocol):
    """Progress events; the terminal UI is one implementation, the core never draws."""

    def started(self, check: Check) -> None: ...

    def finished(self, result: CheckResult) -> None: ...


class NullObserver:
    def started(self, check: Check) -> None:
        pass

    def finished(self, result: CheckResult) -> None:
        pass


@dataclass(frozen=True)
class RunResult:
    results: tuple[CheckResult, ...]  # in plan order
    interrupted: bool
    deadline_hit: bool
    critical_path: dict[str, Any] | None = None  # see critical_path()


def execute(check: Check, net: Net, thresholds: Thresholds) -> Outcome:
    """collect + evaluate for one check, mapping exceptions to SKIP and ERROR."""
    try:
        module = probes.load(check.probe)
    except Exception as exc:  # a typo in Check.probe or a module that fails to import: ERROR, never a dead worker
        return Outcome(Status.ERROR, f"netcheck has no working probe {check.probe!r} for this check (a bug in "
                       "netcheck, not a network finding).", remediation=_REPORT_FIX, evidence=_fault(exc))
    try:
        evidence = module.collect(check.spec, net)
    except ProbeSkip as skip:
        return Outcome.skip(skip.reason, skip.message, remediation=skip.fix)
    except DeadlineExceeded:
        return Outcome(Status.ERROR, f"Ran out of time before it could finish: its {check.timeout:g} s timeout "
                       "or the run's deadline came first.",
                       remediation="Raise --deadline, or run fewer checks with --only.")
    except NoRouteError as exc:
        # This host's own routing refused the send: a finding about this host, not a broken probe.
        return Outcome(Status.FAIL, exc.sentence(), measured="no-route", threshold="a route toward the target",
                       remediation=exc.fix(), evidence=exc.to_evidence())
    except Exception as exc:
        what, fix = plain(exc)
        return Outcome(Status.ERROR, f"The probe could not finish: {what}.", remediation=fix,
                       evidence=_fault(exc))
    try:
        outcome: Outcome = module.evaluate(check.spec, evidence, thresholds)
    except Exception as exc:
        return Outcome(Status.ERROR, "Judging the collected evidence stopped on an unexpected internal fault "
                       "(not a network finding).", remediation=RERUN_FIX, evidence=_fault(exc))
    return outcome


_REPORT_FIX = "Report it to the netcheck maintainers with this check's evidence; the other checks are unaffected."


def _fault(exc: BaseException) -> dict[str, object]:
    """The raw details of an exception, for the evidence only (messages stay plain sentences)."""
    fault: dict[str, object] = {"fault": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=6)}
    if isinstance(exc, OSError) and exc.errno is not None:
        fault["localError"] = errno_name(exc.errno)
    return fault


def run(checks: Sequence[Check], net: Net, thresholds: Thresholds, deadline_s: float,
        concurrency: int = 8, observer: Observer | None = None,
        rest: Callable[[], Sequence[Check]] | None = None) -> RunResult:
    """Run all checks; return within `deadline_s` seconds whatever the network does.

    `rest`, when given, is called once the shared `checks` have started; the checks it returns
    are run too (results: `checks` then those). What it raises (an --only/--skip pattern that
    matches nothing) stops the run: no further check starts, and it propagates.
    """
    obs = observer or NullObserver()
    start = time.monotonic()
    deadline = start + deadline_s
    done: dict[str, CheckResult] = {}
    results_q: queue.Queue[CheckResult] = queue.Queue()
    started_at: dict[str, float] = {}
    ended_at: dict[str, float] = {}
    work: queue.Queue[Check] = queue.Queue()
    lock = threading.Lock()
    alive = [0]  # workers running, under lock

    def worker() -> None:
        try:
            while True:
                try:
                    check = work.get_nowait()
                except queue.Empty:
                    return
                t0 = time.monotonic()
                with lock:
                    started_at[check.id] = t0
                obs.started(check)
                check_deadline = min(deadline, t0 + check.timeout)
                outcome = execute(check, net.bounded(check_deadline), thresholds)
                results_q.put(CheckResult(check, outcome, time.monotonic() - t0))
        finally:
            with lock:
                alive[0] -= 1

    def spawn(n: int) -> None:
        for _ in range(n):
            with lock:
                alive[0] += 1
            threading.Thread(target=worker, daemon=True, name="netcheck-probe").start()

    def queue_shared(batch: Sequence[Check]) -> None:
        """Queue the shared checks of `batch`, longest first, with workers for them up to `concurrency` in all."""
        new = sorted((c for c in batch if not c.exclusive), key=lambda c: -c.timeout)
        for c in new:
            work.put(c)
        with lock:
            running = alive[0]
        if new:  # at least one: a worker counted as running may be leaving, having found the queue empty
            spawn(max(1, min(concurrency - running, len(new))))

    def stop_queue() -> None:
        while True:
            try:
                work.get_nowait()
            except queue.Empty:
                return

    interrupted = deadline_hit = False
    checks = list(checks)
    queue_shared(checks)
    if rest is not None:
        try:
            more = list(rest())
        except KeyboardInterrupt:
            interrupted, more = True, []
            stop_queue()
        except BaseException:
            stop_queue()
            raise
        checks += more
        if not interrupted:
            queue_shared(more)
    shared = sorted((c for c in checks if not c.exclusive), key=lambda c: -c.timeout)  # longest first
    exclusive = [c for c in checks if c.exclusive]
    phases = [(shared, max(1, min(concurrency, len(shared))))] + [([c], 1) for c in exclusive]
    try:
        for i, (batch, n) in enumerate(phases):
            if interrupted:
                break
            if i > 0:
                for c in batch:
                    work.put(c)
                spawn(n)
            want = {c.id for c in batch}
            while not want <= done.keys():
                now = time.monotonic()
                if now >= deadline:
                    deadline_hit = True
                    break
                try:
                    res = results_q.get(timeout=min(0.05, deadline - now))
                except queue.Empty:
                    # Replace each worker stuck past its check's timeout so the queue drains.
                    spawn(_expire_overdue(batch, started_at, done, lock, obs))
                    continue
                if res.id not in done:
                    done[res.id] = res
                    ended_at[res.id] = time.monotonic()
                    obs.finished(res)
            if deadline_hit:
                break
    except KeyboardInterrupt:
        interrupted = True
    while True:  # results that arrived while we were leaving
        try:
            res = results_q.get_nowait()
        except queue.Empty:
            break
        done.setdefault(res.id, res)
    out: list[CheckResult] = []
    for c in checks:
        if c.id in done:
            out.append(done[c.id])
        elif interrupted:
            out.append(CheckResult(c, Outcome.skip(SkipReason.INTERRUPTED, "Interrupted before it finished.")))
        else:
            t0 = started_at.get(c.id)
            msg = (f"Did not finish before the run's deadline ({deadline_s:.1f} s for checks)."
                   if t0 is not None else f"Never started: the run's deadline ({deadline_s:.1f} s for checks) "
                                          "came first.")
            out.append(CheckResult(c, Outcome(Status.ERROR, msg,
                                              remediation="Raise --deadline, or run fewer checks with --only.",
                                              evidence={"deadline": round(deadline_s, 3)}),
                                   time.monotonic() - t0 if t0 is not None else 0.0))
    path = critical_path(checks, started_at, ended_at, start, min(concurrency, max(1, len(shared))))
    return RunResult(tuple(out), interrupted, deadline_hit, path)


def critical_path(checks: Sequence[Check], started_at: dict[str, float], ended_at: dict[str, float],
                  start: float, workers: int) -> dict[str, Any] | None:
    """Which check ended last, and the chain of checks it waited for, in seconds since the run began.

    Walking back from the last check to end: a check that started later than the run is
    waited on the check that ended just before it began (an exclusive check waits for
    the phase before it; a shared one for a free worker). The first link started at once.
    """
    by_id = {c.id: c for c in checks}
    ends = {i: t for i, t in ended_at.items() if i in started_at}
    if not ends:
        return None
    last = max(ends, key=lambda i: ends[i])
    chain: list[dict[str, Any]] = []
    cur: str | None = last
    seen: set[str] = set()
    while cur is not None and cur not in seen:
        seen.add(cur)
        t0, t1 = started_at[cur] - start, ends[cur] - start
        link: dict[str, Any] = {"id": cur, "startedAt": round(t0, 3), "endedAt": round(t1, 3),
                                "durationSeconds": round(t1 - t0, 3)}
        before = [i for i, t in ends.items() if i not in seen and t - start <= t0 + 0.02]
        if t0 > 0.05 and before:
            prev = max(before, key=lambda i: ends[i])
            link["waitedFor"] = prev
            link["why"] = ("exclusive: runs alone, after the checks before it" if by_id[cur].exclusive
                           else f"waited for a free worker ({workers} at once)")
            cur = prev
        else:
            link["why"] = "started with the run"
            cur = None
        chain.append(link)
    head = chain[0]
    return {"checkId": last, "endedAt": head["endedAt"], "durationSeconds": head["durationSeconds"],
            "reason": f"{last} ended last, {head['endedAt']:.2f} s into the checks: it ran "
                      f"{head['durationSeconds']:.2f} s" + (f" after waiting for {head['waitedFor']} "
                                                             f"({head['why']})" if "waitedFor" in head else
                                                             ", from the start"),
            "path": chain}


def _expire_overdue(batch: Sequence[Check], started_at: dict[str, float], done: dict[str, CheckResult],
                    lock: threading.Lock, obs: Observer) -> int:
    """Give up as ERROR each check running well past its own timeout; return how many."""
    expired = 0
    now = time.monotonic()
    with lock:
        running = dict(started_at)
    for c in batch:
        t0 = running.get(c.id)
        if c.id not in done and t0 is not None and now - t0 > c.timeout + 1.0:
            res = CheckResult(c, Outcome(Status.ERROR, f"Did not finish within its {c.timeout:g} s timeout.",
                                         remediation="Raise --deadline, or run fewer checks with --only; if it "
                                                     "repeats on its own, report it with this check's evidence.",
                                         evidence={"timeout": c.timeout}), now - t0)
            done[c.id] = res
            obs.finished(res)
            expired += 1
    return expired
