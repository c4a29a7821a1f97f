"""`netcheck fleet`: one row per site over many JSON reports (files, directories, --history directories).

Per site and node only the newest report counts (and the one before it, for what regressed). A site is
`metadata.labels.site`, else the profile name. Reading stays fast for 10,000 reports: every file is read
with the bounded reader, but only its header (verdict, start, metadata) is looked at, with an exact scan
of the two-space-indented layout netcheck writes; just the newest two reports per node are parsed in
full (orjson when it is installed, else json), and only the newest is built into a Report: the one before
is validated the same way and compared from its raw checks, only the checks whose status or figure
changed going through history.diff. A file in any other layout is parsed in full; a file that is not a
report is skipped with a warning naming it, as `--history` does.

Pure apart from reading the files; netcheck/render/fleet.py formats a Fleet, cli.py exits with its verdict.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:  # orjson parses a 120 KiB report in less than half json's time; json reads it the same without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is optional
    _orjson = None  # type: ignore[assignment]

from netcheck.history import MAX_REPORT_BYTES, _shape_problem, diff
from netcheck.model import Category, Check, CheckResult, Outcome, Report, Severity, SkipReason, Status, Verdict
from netcheck.safeio import FileProblem, read_limited
from netcheck.verdict import blocking, left_open

DEFAULT_STALE = 2 * 3600.0  # seconds: a site whose newest report is older is stale
MAX_FILES = 1_000_000  # files looked at under the given paths; a runaway tree is refused, not walked forever
VERDICT_RANK = {Verdict.GO: 0, Verdict.INCONCLUSIVE: 1, Verdict.NO_GO: 2}
EXIT_CODES = {Verdict.GO: 0, Verdict.NO_GO: 3, Verdict.INCONCLUSIVE: 4}

# A top-level "key": "text" line in the two-space-indented layout (deeper keys have four or more spaces,
# and a JSON string cannot hold a raw line break, so such a line is always top level).
_TOP_KEYS = (b"kind", b"startedAt", b"metadata")  # the verdict comes from the full parse of the newest
_DECODER = json.JSONDecoder()
# Enum members by value: a dict lookup is ten times cheaper than Status(value), and reading 2,000
# reports in full builds 150,000 of them.
_STATUS = {m.value: m for m in Status}
_CATEGORY = {m.value: m for m in Category}
_SEVERITY = {m.value: m for m in Severity}
_SKIP = {m.value: m for m in SkipReason}

_MS = {"ms": 1.0, "s": 1000.0, "seconds": 1000.0, "us": 0.001}
_MBPS = {"mbps": 1.0, "mbit/s": 1.0, "gbps": 1000.0, "bps": 1e-6, "bits/s": 1e-6}
_BYTES = {"bytes": 1.0, "b": 1.0}


class FleetError(Exception):
    """A path that cannot be read at all, or no report anywhere: a usage error (exit 2)."""


@dataclass(frozen=True)
class Header:
    """What ordering needs from one report file, read without parsing its checks."""

    path: Path
    site: str
    node: str
    started: datetime


@dataclass(frozen=True)
class Blocker:
    """A required check that blocks the site's GO on at least one node: FAIL (NO-GO) or ERROR/SKIP (open)."""

    id: str
    status: str
    nodes: int
    root_cause: bool = False  # the report's rootCauses names it
    dependents: int = 0  # checks its failure explains (rootCauses)
    caused_by: str = ""  # the root cause that explains this one


@dataclass(frozen=True)
class Regression:
    """A check that got worse on one node since that node's previous report."""

    node: str
    id: str
    change: str  # flipped | crossed | added
    before: str
    after: str
    text: str


@dataclass(frozen=True)
class NodeReport:
    node: str
    verdict: Verdict
    started_at: str
    age: float
    stale: bool
    path: Path


@dataclass(frozen=True)
class Site:
    """One row of the fleet view."""

    site: str
    verdict: Verdict
    reports: tuple[NodeReport, ...]
    blocking: tuple[Blocker, ...]
    rtt_ms: float | None  # worst (highest) round trip
    loss_pct: float | None  # worst (highest) loss
    bandwidth_mbps: float | None  # worst (lowest) throughput
    pmtu_bytes: float | None  # worst (lowest) path MTU
    age: float  # seconds since the newest report of the site started
    stale: bool
    regressions: tuple[Regression, ...]
    labels: Mapping[str, str]

    @property
    def nodes(self) -> int:
        return len(self.reports)

    @property
    def stale_nodes(self) -> int:
        return sum(1 for r in self.reports if r.stale)


@dataclass(frozen=True)
class Fleet:
    sites: tuple[Site, ...]
    generated_at: datetime
    stale_after: float
    files_read: int
    skipped: tuple[str, ...]

    @property
    def verdict(self) -> Verdict:
        return max((s.verdict for s in self.sites), key=VERDICT_RANK.__getitem__, default=Verdict.INCONCLUSIVE)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


# --- finding and reading ------------------------------------------------------------------

def find_reports(paths: Iterable[Path]) -> list[Path]:
    """Every *.json file named or under a named directory (recursively; symlinked directories not followed)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found += [Path(root, f) for f in sorted(files) if f.endswith(".json")]
                if len(found) > MAX_FILES:
                    raise FleetError(f"{p}: more than {MAX_FILES} JSON files; name the report directories instead")
        elif p.exists():
            found.append(p)
        else:
            raise FleetError(f"{p}: no such file or directory")
    return found


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _header_fields(raw: bytes) -> dict[str, Any] | None:
    """kind, verdict, startedAt and metadata from netcheck's own two-space layout; None for any other layout.

    In that layout a line that starts with exactly two spaces and a quote is a top-level key (deeper keys
    have four or more spaces, and a JSON string cannot hold a raw line break), so finding each key's line
    is exact: the last one, as json.loads keeps the last of duplicate keys (kind, near the start, the first:
    a file that lies there is refused when it is parsed in full). Only the small values are decoded.
    """
    if not raw.startswith(b'{\n  "'):
        return None
    top: dict[str, Any] = {}
    for key in _TOP_KEYS:
        needle = b'\n  "' + key + b'": '
        at = raw.find(needle) if key == b"kind" else raw.rfind(needle)
        if at < 0:
            return None
        start = at + len(needle)
        end = raw.find(b"\n  }", start) + 4 if key == b"metadata" else raw.find(b"\n", start)
        if end < start:
            return None
        value, _ = _DECODER.raw_decode(raw[start:end].decode("utf-8").rstrip().rstrip(","))
        top[key.decode()] = value
    return top


def _load_doc(path: Path, raw: bytes | None = None) -> dict[str, Any]:
    """A whole report as JSON; FileProblem naming the file and the reason otherwise."""
    raw = read_limited(path, MAX_REPORT_BYTES, "report") if raw is None else raw
    doc: Any = None
    if _orjson is not None:
        try:
            doc = _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            doc = None  # json decides (it also takes NaN and huge integers) and words the message
    try:
        if doc is None:
            doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path}: not a JSON report (not UTF-8: invalid byte at offset {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise FileProblem(f"{path}: not a JSON report ({str(exc)[:200]})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "PreflightReport":
        raise FileProblem(f"{path}: not a netcheck report (kind must be PreflightReport)")
    return doc


def _result(c: Any) -> CheckResult:
    """One check of a parsed document as a CheckResult; KeyError/TypeError/... when malformed."""
    cid, ev = c["id"], c.get("evidence") or {}
    if not isinstance(cid, str) or not isinstance(ev, dict) or not isinstance(c["message"], str):
        raise TypeError("a check's id, message or evidence has the wrong type")
    skip = ev.get("skipReason")
    check = Check(cid, _CATEGORY[c["category"]], str(c["title"]), "", None, _SEVERITY[c["severity"]],
                  docs=c.get("docs") or "")
    outcome = Outcome(_STATUS[c["status"]], c["message"], c.get("measured"), c.get("threshold"),
                      c.get("unit"), c.get("remediation"), ev, _SKIP[skip] if skip else None)
    return CheckResult(check, outcome, 0.0)


def _validate_check(c: Any) -> None:
    """Raise exactly when _result(c) would, without building it (the previous report is only compared)."""
    cid, ev = c["id"], c.get("evidence") or {}
    if not isinstance(cid, str) or not isinstance(ev, dict) or not isinstance(c["message"], str):
        raise TypeError("a check's id, message or evidence has the wrong type")
    skip = ev.get("skipReason")
    _ = _CATEGORY[c["category"]], str(c["title"]), _SEVERITY[c["severity"]], _STATUS[c["status"]]
    _ = _SKIP[skip] if skip else None


def _report(path: Path, doc: dict[str, Any], *, build: bool = True) -> Report | None:
    """The Report in a parsed document (report_from_json's result, built for speed); FileProblem when malformed.

    With build=False the document is only validated the same way (same checks, same FileProblem) and None
    comes back: the previous report of a node is compared from its raw checks (_regressions), not built.
    A document this cannot build is checked field by field (history's checks) for a message naming the field.
    """
    try:
        results = []
        for c in doc["checks"]:
            if build:
                results.append(_result(c))
            else:
                _validate_check(c)
        meta = doc.get("metadata") or {}
        raw_labels = meta.get("labels")
        labels: dict[Any, Any] = raw_labels if isinstance(raw_labels, dict) else {}
        verdict, started, duration = Verdict(doc["verdict"]), str(doc["startedAt"]), float(doc["durationSeconds"])
        profile, node, interrupted = str(meta.get("profile") or ""), str(meta.get("node") or ""), bool(
            meta.get("interrupted", False))
        clean = {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}
        if not build:
            return None
        return Report(results=tuple(results), verdict=verdict, started_at=started, duration=duration,
                      profile_name=profile, node=node, interrupted=interrupted, labels=clean)
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        problem = _shape_problem(doc) or f"{type(exc).__name__}: {str(exc)[:200]}"
        raise FileProblem(f"{path}: malformed report ({problem})") from None


def _header(path: Path) -> tuple[Header, dict[str, Any] | None]:
    """The header of one file, and the whole document when it had to be parsed anyway."""
    raw = read_limited(path, MAX_REPORT_BYTES, "report")
    try:
        fields = _header_fields(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        fields = None
    doc: dict[str, Any] | None = None
    if fields is None or fields.get("kind") != "PreflightReport" or not isinstance(fields.get("metadata"), dict):
        doc = _load_doc(path, raw)
        top, meta = doc, doc.get("metadata") or {}
    else:
        top, meta = fields, fields["metadata"]
    raw_labels = meta.get("labels")
    labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
    site, profile, node = labels.get("site"), meta.get("profile"), meta.get("node")
    site = site if isinstance(site, str) and site else profile if isinstance(profile, str) and profile else "unnamed"
    node = node if isinstance(node, str) and node else path.parent.name
    try:
        started = _parse_time(str(top.get("startedAt")))
    except ValueError as exc:
        raise FileProblem(f"{path}: malformed report ({str(exc)[:200]})") from None
    return Header(path, site, node, started), doc


# --- summarising ----------------------------------------------------------------------------

def _figure(r: CheckResult, scale: dict[str, float]) -> float | None:
    m, unit = r.outcome.measured, (r.outcome.unit or "").strip().lower()
    if isinstance(m, bool) or not isinstance(m, int | float) or unit not in scale:
        return None
    return float(m) * scale[unit]


def _figures(reports: Iterable[Report]) -> tuple[float | None, float | None, float | None, float | None]:
    """Worst RTT (ms), loss (%), bandwidth (Mbit/s) and path MTU (bytes) over the nodes' newest reports."""
    rtt: list[float] = []
    loss: list[float] = []
    bw: list[float] = []
    pmtu: list[float] = []
    for report in reports:
        for r in report.results:
            cat = r.check.category.value
            if r.id.startswith("latency.rtt") and (v := _figure(r, _MS)) is not None:
                rtt.append(v)
            if cat == "latency":
                lp = r.outcome.evidence.get("lossPct")
                if isinstance(lp, int | float) and not isinstance(lp, bool):
                    loss.append(float(lp))
            if cat == "bandwidth" and (v := _figure(r, _MBPS)) is not None:
                bw.append(v)
            if r.id.startswith("mtu.path") and (v := _figure(r, _BYTES)) is not None:
                pmtu.append(v)
    return (max(rtt, default=None), max(loss, default=None), min(bw, default=None), min(pmtu, default=None))


def _blockers(docs: list[tuple[Report, dict[str, Any]]]) -> tuple[Blocker, ...]:
    """The required checks that keep the site from GO, counted over nodes; root causes first, then by nodes.

    A NO-GO node contributes its required FAILs (checks skipped behind them are their consequence); an
    INCONCLUSIVE node the required checks it could not evaluate.
    """
    nodes: dict[str, int] = defaultdict(int)
    status: dict[str, str] = {}
    roots: dict[str, int] = {}
    caused: dict[str, str] = {}
    for report, doc in docs:
        for rc in doc.get("rootCauses") or []:
            if isinstance(rc, dict) and isinstance(rc.get("id"), str):
                deps = rc.get("dependents")
                roots[rc["id"]] = max(roots.get(rc["id"], 0), len(deps) if isinstance(deps, list) else 0)
        for c in doc.get("checks") or []:
            if isinstance(c.get("causedBy"), str):
                caused[c["id"]] = c["causedBy"]
        for r in blocking(report.results) or left_open(report.results):  # FAILs; else what left it open
            nodes[r.id] += 1
            status[r.id] = r.status.value
    out = [Blocker(cid, status[cid], n, cid in roots, roots.get(cid, 0), caused.get(cid, "")) for cid, n in
           nodes.items()]
    return tuple(sorted(out, key=lambda b: (not b.root_cause, bool(b.caused_by), b.status != "FAIL", -b.nodes,
                                            b.id)))


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type (1, 1.0 and True are different figures to history._number)."""
    return type(a) is type(b) and a == b


def _regressions(node: str, previous: list[Any] | None, newest: Report, newest_checks: list[Any]) -> list[Regression]:
    """What got worse since the previous report: history.diff's answer, from the raw checks of the previous one.

    A check whose status and measured figure are the same in both runs cannot change (diff compares
    statuses, then on which side of the threshold the figure lies), so only the others are built and
    handed to diff: the same Changes, without building 70-odd CheckResults per node.
    """
    if previous is None:
        return []
    before = {c["id"]: c for c in previous}  # the last of a repeated id, as diff keeps it
    after = {c["id"]: c for c in newest_checks}
    changed = {cid for cid, c in after.items() if (was := before.get(cid)) is None or was["status"] != c["status"]
               or not _same(was.get("measured"), c.get("measured"))}
    changed.update(cid for cid in before if cid not in after)
    if not changed:
        return []
    prev = Report(results=tuple(_result(c) for c in previous if c["id"] in changed), verdict=newest.verdict,
                  started_at="", duration=0.0)
    now = Report(results=tuple(r for r in newest.results if r.id in changed), verdict=newest.verdict,
                 started_at="", duration=0.0)
    return [Regression(node, c.id, c.kind, c.before.value if c.before else "", c.after.value if c.after else "",
                       c.describe()) for c in diff(prev, now) if c.regression]


def _regressions_full(node: str, previous: Report | None, newest: Report) -> list[Regression]:
    """The straightforward comparison of two built reports (what _regressions must equal; the tests use it)."""
    if previous is None:
        return []
    return [Regression(node, c.id, c.kind, c.before.value if c.before else "", c.after.value if c.after else "",
                       c.describe()) for c in diff(previous, newest) if c.regression]


def load_fleet(paths: Iterable[Path], *, stale_after: float = DEFAULT_STALE, now: datetime | None = None,
               warn: Callable[[str], None] | None = None) -> Fleet:
    """Read every report under `paths` and summarise one Site per site; unreadable files go to `warn`."""
    now = now or datetime.now(UTC)
    files = find_reports(paths)
    skipped: list[str] = []

    def skip(message: str) -> None:
        skipped.append(message)
        if warn is not None:
            warn(f"skipping {message}")

    by_key: dict[tuple[str, str], list[tuple[Header, dict[str, Any] | None]]] = defaultdict(list)
    for path in files:
        try:
            head, doc = _header(path)
        except FileProblem as exc:
            skip(str(exc))
            continue
        by_key[(head.site, head.node)].append((head, doc))
    if not by_key:
        raise FleetError("no netcheck report found in " + ", ".join(str(p) for p in paths)
                         + (f" ({len(skipped)} file(s) skipped)" if skipped else ""))
    per_site: dict[str, list[tuple[Header, Report, dict[str, Any], list[Regression]]]] = defaultdict(list)
    for (site, _node), seen in by_key.items():
        seen.sort(key=lambda hd: (hd[0].started, str(hd[0].path)), reverse=True)
        newest: tuple[Header, Report, dict[str, Any]] | None = None
        previous: list[Any] | None = None
        for head, doc in seen:  # newest first, parsed in full until two are good; only the newest is built
            try:
                doc = doc if doc is not None else _load_doc(head.path)
                report = _report(head.path, doc, build=newest is None)
            except FileProblem as exc:
                skip(str(exc))
                continue
            if newest is None and report is not None:
                newest = (head, report, doc)
            else:
                previous = doc["checks"]
                break
        if newest is not None:
            head, report, doc = newest
            regs = _regressions(head.node, previous, report, doc["checks"])
            # Only what _blockers reads stays: a thousand parsed 120 KiB documents would hold ~0.5 GiB.
            slim = {"rootCauses": doc.get("rootCauses"),
                    "checks": [c for c in doc["checks"] if isinstance(c.get("causedBy"), str)]}
            per_site[site].append((head, report, slim, regs))
    sites = [_site(site, rows, now, stale_after) for site, rows in per_site.items()]
    sites.sort(key=lambda s: (-VERDICT_RANK[s.verdict], not s.stale, s.site))
    return Fleet(tuple(sites), now, stale_after, len(files), tuple(skipped))


def _site(site: str, rows: list[tuple[Header, Report, dict[str, Any], list[Regression]]], now: datetime,
          stale_after: float) -> Site:
    rows.sort(key=lambda row: row[0].node)
    reports = tuple(NodeReport(h.node, rep.verdict, rep.started_at, (now - h.started).total_seconds(),
                               (now - h.started).total_seconds() > stale_after, h.path) for h, rep, _, _ in rows)
    verdict = max((r.verdict for r in reports), key=VERDICT_RANK.__getitem__)
    rtt, loss, bw, pmtu = _figures(rep for _, rep, _, _ in rows)
    age = min(r.age for r in reports)
    regs = [g for _, _, _, node_regs in rows for g in node_regs]
    labels: dict[str, str] = {}
    for _, rep, _, _ in rows:
        labels.update(rep.labels)
    return Site(site, verdict, reports, _blockers([(rep, doc) for _, rep, doc, _ in rows]), rtt, loss, bw, pmtu,
                age, age > stale_after, tuple(regs), labels)


def parse_duration(text: str) -> float:
    """`2h`, `90m`, `45s`, `1d` or plain seconds; ValueError with the reason otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration; give e.g. 2h, 90m, 45s or seconds")
    seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: the window must be longer than zero")
    return seconds
