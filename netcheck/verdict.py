"""Pure rules from check results to GO / NO-GO / INCONCLUSIVE and to exit codes.

The one place for the verdict rules: which results block (required FAIL), which leave the verdict
open (required ERROR or a SKIP that hides an answer), the worst of several statuses (Status.rank)
and when a status change is a regression. Renderers and history use these; they never re-derive them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from netcheck.model import CheckResult, Severity, SkipReason, Status, Verdict


class ExitCode(enum.IntEnum):
    """Process exit codes; a contract other tools rely on (docs/architecture.md, "Exit codes")."""

    GO = 0
    INTERNAL = 1
    USAGE = 2
    NO_GO = 3
    INCONCLUSIVE = 4
    NOT_WRITTEN = 5  # the run finished, but -o FILE could not be written: the report went to stdout


def is_open(result: CheckResult) -> bool:
    """True when a required check could not give an answer the site needs."""
    o = result.outcome
    if o.status is Status.ERROR:
        return True
    return o.status is Status.SKIP and o.skip_reason is not None and o.skip_reason.leaves_verdict_open


def is_blocking(result: CheckResult) -> bool:
    """True for a required FAIL: the check that makes the run NO-GO."""
    return result.check.severity.required and result.status is Status.FAIL


def blocking(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The required FAILs, in report order."""
    return [r for r in results if is_blocking(r)]


def counts_against(result: CheckResult, strict: bool) -> bool:
    """Does this result count against the verdict? Required FAIL or ERROR; a required WARN only under --strict."""
    if not result.check.severity.required:
        return False
    return result.status in (Status.FAIL, Status.ERROR) or (strict and result.status is Status.WARN)


def left_open(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The required checks that could not give an answer (is_open), in report order."""
    return [r for r in results if r.check.severity.required and is_open(r)]


def worst(statuses: Iterable[Status]) -> Status | None:
    """The worst status by Status.rank (FAIL > ERROR > WARN > SKIP > PASS); None for none."""
    return max(statuses, key=lambda s: s.rank, default=None)


# For the direction of a change between runs SKIP ranks with WARN: coverage was lost.
_CHANGE_RANK = {Status.PASS: 0, Status.SKIP: 1, Status.WARN: 1, Status.ERROR: 2, Status.FAIL: 3}


def regressed(before: Status, after: Status) -> bool:
    """True when a check's status got worse between two runs (SKIP counts as bad as WARN)."""
    return _CHANGE_RANK[after] > _CHANGE_RANK[before]


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


__all__ = ["NO_EVIDENCE", "ExitCode", "SkipReason", "blocking", "counts_against", "decide", "exit_code", "is_blocking", "is_open",
           "left_open", "no_evidence", "regressed", "worst"]
