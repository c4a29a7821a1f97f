"""Verdict rules: which results make GO, NO-GO or INCONCLUSIVE, and the exit codes they map to."""

from __future__ import annotations

import pytest

from netcheck.model import Category, Check, CheckResult, Outcome, Severity, SkipReason, Status, Verdict
from netcheck.verdict import ExitCode, decide, exit_code, is_open


def result(status: Status, severity: Severity = Severity.REQUIRED, skip: SkipReason | None = None,
           cid: str = "reach.x.tcp-443") -> CheckResult:
    """A finished check with the given status; the factory every verdict case uses."""
    check = Check(id=cid, category=Category.REACHABILITY, title="t", probe="fake", spec=None, severity=severity)
    return CheckResult(check, Outcome(status, "m", skip_reason=skip))


REQ, ADV = Severity.REQUIRED, Severity.ADVISORY

CASES = [
    # (name, results, strict, interrupted, verdict)
    ("pass", [result(Status.PASS)], False, False, Verdict.GO),
    ("empty-is-no-evidence", [], False, False, Verdict.INCONCLUSIVE),
    ("fail-required", [result(Status.PASS), result(Status.FAIL)], False, False, Verdict.NO_GO),
    ("go-advisory-fail", [result(Status.PASS), result(Status.FAIL, ADV)], False, False, Verdict.GO),
    ("go-warn", [result(Status.WARN)], False, False, Verdict.GO),
    ("inconclusive-required-error", [result(Status.ERROR)], False, False, Verdict.INCONCLUSIVE),
    ("go-advisory-error", [result(Status.PASS, cid="cidr.ok"), result(Status.ERROR, ADV)], False, False, Verdict.GO),
    ("inconclusive-skip-privilege", [result(Status.SKIP, skip=SkipReason.PRIVILEGE)], False, False,
     Verdict.INCONCLUSIVE),
    ("go-skip-not-applicable", [result(Status.PASS, cid="cidr.ok"), result(Status.SKIP, skip=SkipReason.NOT_APPLICABLE)], False, False, Verdict.GO),
    ("go-skip-disabled", [result(Status.PASS, cid="cidr.ok"), result(Status.SKIP, skip=SkipReason.DISABLED)], False, False, Verdict.GO),
    # TLS skipped because TCP failed, with the TCP check filtered out by --only: not a pass.
    ("inconclusive-skip-dependency-alone", [result(Status.SKIP, skip=SkipReason.DEPENDENCY)], False, False,
     Verdict.INCONCLUSIVE),
    ("fail-with-skip-dependency", [result(Status.FAIL), result(Status.SKIP, skip=SkipReason.DEPENDENCY)], False,
     False, Verdict.NO_GO),
    ("go-advisory-skip-dependency", [result(Status.PASS, cid="cidr.ok"), result(Status.SKIP, ADV, skip=SkipReason.DEPENDENCY)], False, False, Verdict.GO),
    ("go-skip-needs-peer", [result(Status.PASS, cid="cidr.ok"), result(Status.SKIP, skip=SkipReason.NEEDS_PEER)], False, False, Verdict.GO),
    ("fail-beats-error", [result(Status.ERROR), result(Status.FAIL)], False, False, Verdict.NO_GO),
    ("strict-warn", [result(Status.WARN)], True, False, Verdict.NO_GO),
    ("strict-advisory-warn", [result(Status.PASS, cid="cidr.ok"), result(Status.WARN, ADV)], True, False, Verdict.GO),
    ("strict-error", [result(Status.ERROR)], True, False, Verdict.NO_GO),
    ("strict-skip-privilege", [result(Status.SKIP, skip=SkipReason.PRIVILEGE)], True, False, Verdict.NO_GO),
    ("strict-skip-not-applicable", [result(Status.PASS, cid="cidr.ok"), result(Status.SKIP, skip=SkipReason.NOT_APPLICABLE)], True, False, Verdict.GO),
    ("interrupted", [result(Status.PASS)], False, True, Verdict.INCONCLUSIVE),
    ("interrupted-skips", [result(Status.PASS), result(Status.SKIP, skip=SkipReason.INTERRUPTED)], False, True,
     Verdict.INCONCLUSIVE),
    ("interrupted-with-fail", [result(Status.FAIL), result(Status.SKIP, skip=SkipReason.INTERRUPTED)], False, True,
     Verdict.NO_GO),
    # A GO needs evidence: no required check reached PASS, WARN or FAIL.
    ("no-evidence-all-disabled", [result(Status.SKIP, skip=SkipReason.DISABLED)], False, False,
     Verdict.INCONCLUSIVE),
    ("no-evidence-not-applicable", [result(Status.SKIP, skip=SkipReason.NOT_APPLICABLE)], False, False,
     Verdict.INCONCLUSIVE),
    ("no-evidence-advisory-pass-only", [result(Status.PASS, ADV)], False, False, Verdict.INCONCLUSIVE),
    ("no-evidence-strict", [result(Status.SKIP, skip=SkipReason.NEEDS_PEER)], True, False, Verdict.INCONCLUSIVE),
    ("evidence-required-warn", [result(Status.WARN), result(Status.SKIP, skip=SkipReason.DISABLED)], False, False,
     Verdict.GO),
]


@pytest.mark.parametrize(("name", "results", "strict", "interrupted", "verdict"), CASES, ids=[c[0] for c in CASES])
def test_decide(name: str, results: list[CheckResult], strict: bool, interrupted: bool, verdict: Verdict) -> None:
    assert decide(results, strict=strict, interrupted=interrupted) is verdict


def test_is_open() -> None:
    assert is_open(result(Status.ERROR))
    assert is_open(result(Status.SKIP, skip=SkipReason.INTERRUPTED))
    assert not is_open(result(Status.SKIP, skip=SkipReason.NOT_APPLICABLE))
    assert not is_open(result(Status.FAIL))


@pytest.mark.parametrize(("verdict", "interrupted", "code"), [
    (Verdict.GO, False, 0), (Verdict.NO_GO, False, 3), (Verdict.INCONCLUSIVE, False, 4),
    (Verdict.INCONCLUSIVE, True, 4), (Verdict.NO_GO, True, 4),
])
def test_exit_codes(verdict: Verdict, interrupted: bool, code: int) -> None:
    assert exit_code(verdict, interrupted=interrupted) == code
    assert int(ExitCode.USAGE) == 2 and int(ExitCode.INTERNAL) == 1


def test_shared_rules_blocking_open_worst_and_regression() -> None:
    """The rules every renderer and history use: one place, checked here."""
    from netcheck.verdict import blocking, left_open, regressed, worst

    results = [result(Status.FAIL, cid="a"), result(Status.FAIL, ADV, cid="b"), result(Status.ERROR, cid="c"),
               result(Status.SKIP, skip=SkipReason.PRIVILEGE, cid="d"), result(Status.SKIP, cid="e",
                                                                              skip=SkipReason.NOT_APPLICABLE),
               result(Status.ERROR, ADV, cid="f")]
    assert [r.id for r in blocking(results)] == ["a"]
    assert [r.id for r in left_open(results)] == ["c", "d"]
    assert worst([Status.PASS, Status.SKIP, Status.WARN, Status.ERROR]) is Status.ERROR
    assert worst([Status.ERROR, Status.FAIL]) is Status.FAIL
    assert worst([]) is None
    assert [s.value for s in sorted(Status, key=lambda s: -s.rank)] == ["FAIL", "ERROR", "WARN", "SKIP", "PASS"]
    assert regressed(Status.PASS, Status.SKIP) and regressed(Status.WARN, Status.ERROR)
    assert not regressed(Status.WARN, Status.SKIP) and not regressed(Status.SKIP, Status.WARN)
    assert Severity.REQUIRED.required and not Severity.ADVISORY.required
