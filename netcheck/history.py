"""Run history: store JSON reports in a directory with bounded retention, find the previous run,
and say what changed between two runs (a check that flipped, a figure that crossed its threshold).

Pure apart from the small store/load functions; renderers call `diff` and `regression_lines`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from netcheck.model import CheckResult, Report, Status, Verdict, report_from_json
from netcheck.safeio import FileProblem, read_limited, write_atomic
from netcheck.units import Unit
from netcheck.verdict import regressed

DEFAULT_KEEP = 100  # reports kept per directory; the oldest are removed first
MAX_REPORT_BYTES = 8 << 20  # a report is tens of KiB (hundreds with long series); refuse anything absurd
MAX_DEPTH = 64  # JSON nesting a report needs is under 10
_NAME_RE = re.compile(r"^netcheck-(\d{8}T\d{6}Z)-(\d{3})\.json$")

_VERDICT_BADNESS = {Verdict.GO: 0, Verdict.INCONCLUSIVE: 1, Verdict.NO_GO: 2}


class HistoryError(Exception):
    """A history directory or a saved report that cannot be used; names the path and the problem."""


# --- store -----------------------------------------------------------------------------

def _stamp(started_at: str) -> str:
    try:
        t = datetime.fromisoformat(started_at)
    except ValueError:
        t = datetime.now(UTC)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


MAX_SCAN = 100_000  # directory entries looked at, at most (a history directory holds about DEFAULT_KEEP)
MAX_CANDIDATES = 4 * DEFAULT_KEEP  # newest-named reports read to find the previous run
FUTURE_SLACK = timedelta(days=1)  # clocks disagree; a report from further ahead than this was planted or skewed
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
READ_SECONDS = 10.0  # for reading the history, after the run's own --deadline
WARN_NAMED = 3  # unreadable reports named one by one; the rest are counted in one line


@dataclass
class Listing:
    """What a history directory holds: stored reports (regular files named like ours), oldest name first,
    and how many entries named like reports are not regular files (directories, links, FIFOs)."""

    reports: list[Path]
    irregular: int = 0


def _scan(directory: Path) -> Listing:
    found, irregular = [], 0
    try:
        with os.scandir(directory) as it:
            for n, entry in enumerate(it):
                if n >= MAX_SCAN:
                    break
                if not _NAME_RE.match(entry.name):
                    continue  # other files: not ours, not looked at
                try:
                    regular = entry.is_file(follow_symlinks=False)
                except OSError:
                    regular = False
                if regular:
                    found.append(Path(entry.path))
                else:
                    irregular += 1
    except OSError:
        return Listing([])
    return Listing(sorted(found), irregular)


def entries(directory: Path) -> list[Path]:
    """Stored reports (regular files named like ours), oldest name first."""
    return _scan(directory).reports


def _sane(stamp: datetime, now: datetime) -> bool:
    return EARLIEST <= stamp <= now + FUTURE_SLACK


def _started(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _name_time(path: Path) -> datetime | None:
    m = _NAME_RE.match(path.name)
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if m else None


def check_dir(directory: Path) -> None:
    """Create the directory if needed and make sure we can write there; before the run, so it fails fast.

    A directory that users other than its owner may write to (group or other write permission, or
    owned by another user than us or root) is refused, as ssh refuses loose permissions: whoever can
    write there chooses "the previous run" and what retention deletes.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HistoryError(f"--history {directory}: cannot create the directory ({exc.strerror})") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise HistoryError(f"--history {directory}: is not a writable directory")
    st = directory.stat()
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise HistoryError(f"--history {directory}: is writable by {'others' if mode & 0o002 else 'its group'} "
                           f"(mode {mode:04o}); anyone who can write there could plant or remove reports: "
                           f"`chmod go-w {directory}`")
    if st.st_uid not in (os.geteuid(), 0):
        raise HistoryError(f"--history {directory}: belongs to another user (uid {st.st_uid}); use a directory "
                           "owned by you or root")


def store(report: Report, directory: Path, keep: int = DEFAULT_KEEP) -> Path:
    """Write the report as JSON (temp file + rename), then delete the oldest beyond `keep`.

    Retention orders reports by the time in their names; a name from further ahead than FUTURE_SLACK
    (planted or written under a wrong clock) counts as the oldest. Only regular files named like ours
    are removed, and never the one this call just wrote.
    """
    check_dir(directory)
    stamp = _stamp(report.started_at)
    seq = 0
    while os.path.lexists(directory / f"netcheck-{stamp}-{seq:03d}.json") and seq < 999:  # a planted link too
        seq += 1
    path = directory / f"netcheck-{stamp}-{seq:03d}.json"
    write_atomic(path, json.dumps(report.to_json(), indent=2, default=str) + "\n")
    now = datetime.now(UTC)

    def age(p: Path) -> tuple[datetime, str]:
        t = _name_time(p)
        return (t if t is not None and _sane(t, now) else EARLIEST, p.name)

    others = sorted((p for p in entries(directory) if p.name != path.name), key=age)
    for old in others[:max(0, len(others) - (max(1, keep) - 1))]:
        old.unlink(missing_ok=True)
    return path


def load(path: Path, until: float | None = None) -> Report:
    """Read a saved JSON report; any problem becomes a HistoryError naming the file and the reason.

    Bounded: a regular file of at most MAX_REPORT_BYTES, nesting at most MAX_DEPTH, and every field
    the comparison uses of the type a report gives it (a hand-edited or foreign file cannot crash it).
    """
    try:
        raw = read_limited(path, MAX_REPORT_BYTES, "report", until=until)
    except FileProblem as exc:
        raise HistoryError(str(exc).replace(": file not found", ": no such file")) from None
    depth = _nesting(raw)
    if depth > MAX_DEPTH:
        raise HistoryError(f"{path}: not a netcheck report (JSON nested {depth} levels deep; a report needs "
                           f"fewer than {MAX_DEPTH})")
    try:
        doc: Any = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path}: not a JSON report (not UTF-8: invalid byte at offset {exc.start})") from None
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:  # ValueError: an integer of > 4300 digits
        raise HistoryError(f"{path}: not a JSON report ({_clip(str(exc))})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "PreflightReport":
        raise HistoryError(f"{path}: not a netcheck report (kind must be PreflightReport)")
    problem = _shape_problem(doc)
    if problem:
        raise HistoryError(f"{path}: malformed report ({problem})")
    try:
        return report_from_json(doc)
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise HistoryError(f"{path}: malformed report ({type(exc).__name__}: {_clip(str(exc))})") from None


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _nesting(raw: bytes) -> int:
    """Deepest bracket nesting outside strings (cheap, before the recursive parser sees it)."""
    depth = deepest = 0
    in_string = escaped = False
    for b in raw:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:  # quote
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _is_number(v: object) -> bool:
    """An int or float that a float can hold (an integer of 400 digits cannot)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _is_figure(v: object) -> bool:
    """A measured or threshold value: null, text, or a number."""
    return v is None or isinstance(v, str) or _is_number(v)


def _shape_problem(doc: dict[str, Any]) -> str | None:
    """What is wrong with the fields history and diff rely on, or None."""
    for key in ("verdict", "startedAt"):
        if not isinstance(doc.get(key), str):
            return f"{key} must be text"
    if not _is_number(doc.get("durationSeconds")):
        return "durationSeconds must be a number"
    if not isinstance(doc.get("metadata", {}), dict | None):
        return "metadata must be an object"
    checks = doc.get("checks", [])
    if not isinstance(checks, list):
        return "checks must be a list"
    for i, c in enumerate(checks):
        where = f"checks[{i}]"
        if not isinstance(c, dict):
            return f"{where} must be an object"
        for key in ("id", "category", "title", "status", "severity", "message"):
            if not isinstance(c.get(key), str):
                return f"{where}.{key} must be text"
        for key in ("measured", "threshold"):
            if not _is_figure(c.get(key)):
                return f"{where}.{key} must be a number, text or null (found {_clip(repr(c.get(key)), 40)})"
        for key in ("unit", "remediation", "docs"):
            if not isinstance(c.get(key), str | None):
                return f"{where}.{key} must be text or null (found {type(c.get(key)).__name__})"
        ev = c.get("evidence")
        if not isinstance(ev, dict | None):
            return f"{where}.evidence must be an object"
        if ev and not _is_number(ev.get("durationSeconds", 0)):
            return f"{where}.evidence.durationSeconds must be a number"
        if ev and not isinstance(ev.get("skipReason"), str | None):
            return f"{where}.evidence.skipReason must be text"
    return None


def latest(directory: Path, warn: Callable[[str], None] | None = None) -> Report | None:
    """The previous run: of the newest-named readable reports, the one whose own startedAt is latest
    within sane bounds (not before 2000, not more than a day ahead of this host's clock).

    Unreadable reports are passed over: the first WARN_NAMED are named to `warn`, the rest counted in
    one line; entries named like reports that are not regular files get one summary line.
    """
    listing = _scan(directory)
    say = warn or (lambda _m: None)
    if listing.irregular:
        say(f"ignoring {listing.irregular} entr{'y' if listing.irregular == 1 else 'ies'} in {directory} named "
            "like reports that are not regular files")
    now, until = datetime.now(UTC), time.monotonic() + READ_SECONDS
    best: tuple[datetime, Report] | None = None
    bad = out_of_bounds = 0
    for path in reversed(listing.reports[-MAX_CANDIDATES:]):
        try:
            report = load(path, until)
        except HistoryError as exc:
            bad += 1
            if bad <= WARN_NAMED:
                say(f"skipping {exc}")
            continue
        started = _started(report.started_at)
        if started is None or not _sane(started, now):
            out_of_bounds += 1
            continue
        if best is None or started > best[0]:
            best = (started, report)
    if bad > WARN_NAMED:
        say(f"skipped {bad - WARN_NAMED} more unreadable reports in {directory}")
    if out_of_bounds:
        say(f"ignoring {out_of_bounds} report{'s' if out_of_bounds > 1 else ''} in {directory} whose startedAt is "
            "missing, before 2000 or in the future")
    return best[1] if best is not None else None


# --- compare ---------------------------------------------------------------------------

def _number(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def higher_is_better(r: CheckResult) -> bool | None:
    """Direction of a check's figure: from its unit (netcheck/units.py), else from where it sits against the
    threshold."""
    o = r.outcome
    unit = Unit.parse(o.unit)
    if unit is not None and unit.higher_is_better is not None:
        return unit.higher_is_better
    m, t = _number(o.measured), _number(o.threshold)
    if m is None or t is None or m == t or o.status not in (Status.PASS, Status.WARN, Status.FAIL):
        return None
    passing = o.status is Status.PASS
    return (m > t) == passing


def format_value(v: object, unit: str | None) -> str:
    """A measured or threshold value as people read it: `176.5 ms`, `1400 bytes`, `-`."""
    if v is None:
        return "-"
    if isinstance(v, str) and (v.endswith(f" {unit}") or not v[:1].isdigit()):
        return v  # "50 Mbit/s" carries its unit already; "timeout" or "outside 10.20.0.0/16" takes none
    if isinstance(v, float):
        v = f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return f"{v} {unit}" if unit else str(v)


@dataclass(frozen=True)
class Change:
    """One difference between two runs of the same check."""

    id: str
    kind: str  # flipped | crossed | added | removed
    before: Status | None
    after: Status | None
    measured_before: float | int | str | None = None
    measured_after: float | int | str | None = None
    threshold: float | int | str | None = None
    unit: str | None = None
    regression: bool = False
    unit_before: str | None = None  # when the probe reported the earlier figure in another unit

    def describe(self) -> str:
        """One line: `reach.eks-api.tcp-443: PASS → FAIL (measured 38.9 ms → 3 s)`."""
        figures = ""
        if self.measured_before is not None or self.measured_after is not None:
            before_unit = self.unit_before if self.unit_before is not None else self.unit
            figures = (f"measured {format_value(self.measured_before, before_unit)} → "
                       f"{format_value(self.measured_after, self.unit)}")
            if self.threshold is not None:
                figures += f", threshold {format_value(self.threshold, self.unit)}"
        if self.kind == "added":
            head = f"new check, now {self.after}"
        elif self.kind == "removed":
            head = f"no longer run (was {self.before})"
        elif self.kind == "crossed":
            head = f"still {self.after}, but the figure crossed its threshold"
        else:
            head = f"{self.before} → {self.after}"
        word = "REGRESSION" if self.regression else ("improved" if self.kind in ("flipped", "crossed") else "changed")
        return f"{word}: {self.id}: {head}" + (f" ({figures})" if figures else "")


def _side(measured: float | None, threshold: float | None, hib: bool | None) -> int | None:
    """+1 on the good side of the threshold, -1 on the bad side, None when unknown."""
    if measured is None or threshold is None or hib is None or measured == threshold:
        return None
    return 1 if (measured > threshold) == hib else -1


def diff(previous: Report, current: Report) -> list[Change]:
    """What changed from `previous` to `current`: regressions first, then improvements, then the rest."""
    before = {r.id: r for r in previous.results}
    after = {r.id: r for r in current.results}
    changes: list[Change] = []
    for cid, now in after.items():
        was = before.get(cid)
        o = now.outcome
        if was is None:
            changes.append(Change(cid, "added", None, o.status, None, o.measured, o.threshold, o.unit,
                                  regression=o.status in (Status.WARN, Status.FAIL, Status.ERROR)))
            continue
        p = was.outcome
        if p.status is not o.status:
            changes.append(Change(cid, "flipped", p.status, o.status, p.measured, o.measured, o.threshold, o.unit,
                                  regression=regressed(p.status, o.status), unit_before=p.unit))
            continue
        hib = higher_is_better(now) if higher_is_better(now) is not None else higher_is_better(was)
        threshold = _number(o.threshold) if _number(o.threshold) is not None else _number(p.threshold)
        s_before = _side(_number(p.measured), threshold, hib)
        s_after = _side(_number(o.measured), threshold, hib)
        if s_before is not None and s_after is not None and s_before != s_after and p.unit == o.unit:
            changes.append(Change(cid, "crossed", p.status, o.status, p.measured, o.measured, o.threshold, o.unit,
                                  regression=s_after < 0, unit_before=p.unit))
    for cid, was in before.items():
        if cid not in after:
            changes.append(Change(cid, "removed", was.status, None, was.outcome.measured, None,
                                  was.outcome.threshold, was.outcome.unit))
    order = {"flipped": 0, "crossed": 1, "added": 2, "removed": 3}
    return sorted(changes, key=lambda c: (not c.regression, order[c.kind], c.id))


def regressions(previous: Report, current: Report) -> list[Change]:
    return [c for c in diff(previous, current) if c.regression]


def verdict_line(previous: Report, current: Report) -> str:
    """`Since the previous run (2025-06-01T03:15:07+00:00): GO → NO-GO.`"""
    if previous.verdict is current.verdict:
        return f"Since the previous run ({previous.started_at}): verdict unchanged, {current.verdict.value}."
    worse = _VERDICT_BADNESS[current.verdict] > _VERDICT_BADNESS[previous.verdict]
    tag = "REGRESSION" if worse else "improved"
    return (f"Since the previous run ({previous.started_at}): verdict {previous.verdict.value} → "
            f"{current.verdict.value} ({tag}).")


def regression_lines(current: Report, previous: Report | None) -> list[str]:
    """Plain lines for any text output (the terminal table uses these): verdict change, then each change."""
    if previous is None:
        return []
    changes = diff(previous, current)
    lines = [verdict_line(previous, current)]
    lines += [f"  {c.describe()}" for c in changes]
    if not changes:
        lines.append("  no check changed status and no figure crossed its threshold.")
    return lines
