"""Pure rules from check results to GO / NO-GO / INCONCLUSIVE and to exit codes."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from netcheck.model import CheckResult, Severity, SkipReason, Status, Verdict


class ExitCode(enum.IntEnum):
    """Process exit codes; a contract other tools rely on (DESIGN.md)."""

    GO = 0
    INTERNAL = 1
    USAGE = 2
    NO_GO = 3
    INCONCLUSIVE = 4


def is_open(result: CheckResult) -> bool:
    """True when a required check could not give an answer the site needs."""
    o = result.outcome
    if o.status is Status.ERROR:
        return True
    return o.status is Status.SKIP and o.skip_reason is not None and o.skip_reason.leaves_verdict_open


EVALUATED = (Status.PASS, Status.WARN, Status.FAIL)
NO_EVIDENCE = "No required check was evaluated (all were skipped or filtered out), so nothing supports a GO."


def no_evidence(results: Iterable[CheckResult]) -> bool:
    """True when not one required check reached PASS, WARN or FAIL: nothing supports a GO."""
    return not any(r.check.severity is Severity.REQUIRED and r.status in EVALUATED for r in results)


def decide(results: Iterable[CheckResult], *, strict: bool = False,
           interrupted: bool = False) -> Verdict:
    """Required FAIL → NO-GO; required ERROR or blocking SKIP → INCONCLUSIVE; else GO.

    Advisory checks never change the verdict. With strict, a required WARN or an
    open required check is a NO-GO. An interrupted run is never GO, and neither is a
    run in which no required check was evaluated (everything skipped or filtered out).
    """
    results = list(results)
    required = [r for r in results if r.check.severity is Severity.REQUIRED]
    if any(r.status is Status.FAIL for r in required):
        return Verdict.NO_GO
    if strict and any(r.status is Status.WARN or is_open(r) for r in required):
        return Verdict.NO_GO
    if interrupted or any(is_open(r) for r in required) or no_evidence(required):
        return Verdict.INCONCLUSIVE
    return Verdict.GO


def exit_code(verdict: Verdict, *, interrupted: bool = False) -> ExitCode:
    if interrupted:
        return ExitCode.INCONCLUSIVE
    return {
        Verdict.GO: ExitCode.GO,
        Verdict.NO_GO: ExitCode.NO_GO,
        Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
    }[verdict]


__all__ = ["NO_EVIDENCE", "ExitCode", "SkipReason", "decide", "exit_code", "is_open", "no_evidence"]
