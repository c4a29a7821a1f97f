"""Result model: what a check is, what it found, and the report that gathers them.

Everything here is a frozen dataclass or an enum; nothing does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    """Outcome of one check."""

    PASS = "PASS"  # the network meets the requirement
    WARN = "WARN"  # it works, but is marginal or risky; GO unless --strict
    FAIL = "FAIL"  # the network does not meet the requirement
    SKIP = "SKIP"  # not evaluated: not applicable, disabled, or impossible here (reason given)
    ERROR = "ERROR"  # the probe itself broke; says nothing about the network

    @property
    def rank(self) -> int:
        """How bad the status is, for "worst first" orderings: PASS 0 < SKIP < WARN < ERROR < FAIL 4."""
        return _STATUS_RANK[self]


# The one ordering of Status; renderers and probes sort and pick "the worst" with Status.rank.
_STATUS_RANK = {Status.PASS: 0, Status.SKIP: 1, Status.WARN: 2, Status.ERROR: 3, Status.FAIL: 4}


class Severity(enum.StrEnum):
    """Whether a check decides the verdict."""

    REQUIRED = "required"
    ADVISORY = "advisory"

    @property
    def required(self) -> bool:
        """True when a check of this severity decides the verdict."""
        return self is Severity.REQUIRED


class Category(enum.StrEnum):
    """Report categories, in the order the report shows them."""

    CONFIG = "config"  # the inputs themselves: NodeConfig contents, where cluster values came from
    CIDR = "cidr"
    ROUTING = "routing"
    DNS = "dns"
    REACHABILITY = "reachability"
    TLS = "tls"
    PROXY = "proxy"
    LATENCY = "latency"
    MTU = "mtu"
    BANDWIDTH = "bandwidth"
    INBOUND = "inbound"
    CLOCK = "clock"
    HOST = "host"


class SkipReason(enum.StrEnum):
    """Why a check was skipped; some reasons leave the verdict open."""

    NOT_APPLICABLE = "not-applicable"  # nothing to check for this site
    DISABLED = "disabled"  # the operator turned it off
    NEEDS_PEER = "needs-peer"  # needs a responder or peer that is not configured
    PRIVILEGE = "privilege"  # a privilege or sysctl is missing
    DEPENDENCY = "dependency"  # something it needs (name, TCP, TLS, ruleset) was not there
    INTERRUPTED = "interrupted"  # Ctrl-C before it finished
    BUSY = "busy"  # a shared server (bandwidth responder) had no free slot before the deadline

    @property
    def leaves_verdict_open(self) -> bool:
        """True when the skip hides an answer the site needs (privilege, a failed prerequisite, interrupt).

        A failed prerequisite usually has its own required FAIL, which makes the run NO-GO
        anyway; when it does not (filtered out with --only, advisory, or not a check at
        all), the skipped check must not read as a pass.
        """
        return self in (SkipReason.PRIVILEGE, SkipReason.DEPENDENCY, SkipReason.INTERRUPTED)


class Verdict(enum.StrEnum):
    GO = "GO"
    NO_GO = "NO-GO"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Check:
    """A planned check: what will be tested, by which probe, with which spec."""

    id: str
    category: Category
    title: str
    probe: str  # key in probes.REGISTRY
    spec: Any  # probe-specific frozen dataclass
    severity: Severity = Severity.REQUIRED
    timeout: float = 10.0
    docs: str = ""
    exclusive: bool = False  # runs alone, after the others (bulk traffic would skew them)
    phases: tuple[tuple[str, str], ...] = ()  # (phase, what the check judges in it) where the phases differ


@dataclass(frozen=True)
class Outcome:
    """What evaluate() concludes from evidence; the runner adds the check's identity."""

    status: Status
    message: str
    measured: float | int | str | None = None
    threshold: float | int | str | None = None
    unit: str | None = None  # a netcheck.units.Unit from a probe; its text in a report read back from JSON
    remediation: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    skip_reason: SkipReason | None = None

    @classmethod
    def skip(cls, reason: SkipReason, message: str, remediation: str | None = None,
             evidence: Mapping[str, Any] | None = None) -> Outcome:
        return cls(Status.SKIP, message, remediation=remediation,
                   evidence=dict(evidence or {}), skip_reason=reason)


@dataclass(frozen=True)
class CheckResult:
    """One line of the report."""

    check: Check
    outcome: Outcome
    duration: float = 0.0
    caused_by: str | None = None  # the root cause's check id when another failure explains this one (diagnosis)

    @property
    def id(self) -> str:
        return self.check.id

    @property
    def status(self) -> Status:
        return self.outcome.status

    def to_json(self) -> dict[str, Any]:
        o = self.outcome
        evidence = dict(o.evidence)
        if o.skip_reason is not None:
            evidence.setdefault("skipReason", o.skip_reason.value)
        evidence.setdefault("durationSeconds", round(self.duration, 4))
        doc: dict[str, Any] = {
            "id": self.check.id,
            "category": self.check.category.value,
            "title": self.check.title,
            "status": o.status.value,
            "severity": self.check.severity.value,
            "measured": o.measured,
            "threshold": o.threshold,
            "unit": o.unit,
            "message": o.message,
            "remediation": o.remediation,
            "docs": self.check.docs or None,
            "evidence": evidence,
        }
        if self.caused_by:
            doc["causedBy"] = self.caused_by
        return doc


@dataclass(frozen=True)
class RootCause:
    """One failure that explains others (netcheck/diagnosis.py): the root check, its dependents, and why."""

    id: str  # the root check's id
    dependents: tuple[str, ...] = ()  # ids of the checks it explains, in report order
    rule: str = ""  # which dependency rule linked them: route, proxy, resolver, nat, address, name, endpoint
    cause: str = ""  # one sentence: what the root is, e.g. "no route on this host toward VPC CIDR 10.20.0.0/16"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "dependents": list(self.dependents), "rule": self.rule, "cause": self.cause}


@dataclass(frozen=True)
class Report:
    """A finished (or interrupted) run."""

    results: tuple[CheckResult, ...]
    verdict: Verdict
    started_at: str
    duration: float
    profile_name: str = ""
    node: str = ""
    version: str = ""
    interrupted: bool = False
    strict: bool = False
    phase: str = ""  # pre-join | joined ("" in reports from before phases existed)
    phase_evidence: tuple[str, ...] = ()  # what the phase came from: host evidence or the flag
    phase_source: str = ""  # detected | --phase | spec.phase
    root_causes: tuple[RootCause, ...] = ()  # ordered, most explanatory first (netcheck/diagnosis.py)
    critical_path: dict[str, Any] | None = None  # which check ended last and why (netcheck/runner.py)
    labels: Mapping[str, str] = field(default_factory=dict)  # the profile's metadata.labels (site, link, ...)

    @property
    def site(self) -> str:
        """The site this run speaks for: metadata.labels.site, else the profile name (fleet views group by it)."""
        return self.labels.get("site") or self.profile_name

    def phase_line(self) -> str:
        """'joined (detected: ...)' for the renderers; '' when the report has no phase."""
        if not self.phase:
            return ""
        how = "detected" if self.phase_source in ("detected", "") else f"set by {self.phase_source}"
        return f"{self.phase} ({how}: {'; '.join(self.phase_evidence)})" if self.phase_evidence else self.phase

    def summary(self) -> dict[str, int]:
        counts = {s.value.lower(): 0 for s in Status}
        for r in self.results:
            counts[r.status.value.lower()] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": "netcheck/v1",
            "kind": "PreflightReport",
            "verdict": self.verdict.value,
            "summary": self.summary(),
            "checks": [r.to_json() for r in self.results],
            "rootCauses": [c.to_json() for c in self.root_causes],
            "startedAt": self.started_at,
            "durationSeconds": round(self.duration, 3),
            "metadata": {
                "profile": self.profile_name,
                "node": self.node,
                "netcheckVersion": self.version,
                "interrupted": self.interrupted,
                "strict": self.strict,
                "phase": self.phase or None,
                "phaseEvidence": list(self.phase_evidence),
                "phaseSource": self.phase_source or None,
                "labels": dict(self.labels),
                "criticalPath": self.critical_path,
            },
        }


def report_from_json(doc: Mapping[str, Any]) -> Report:
    """Rebuild a Report from its JSON form (history, diff, re-rendering a saved run)."""
    results = []
    for c in doc.get("checks", []):
        check = Check(id=c["id"], category=Category(c["category"]), title=c["title"], probe="",
                      spec=None, severity=Severity(c["severity"]), docs=c.get("docs") or "")
        ev = dict(c.get("evidence") or {})
        skip = ev.get("skipReason")
        outcome = Outcome(Status(c["status"]), c["message"], c.get("measured"), c.get("threshold"), c.get("unit"),
                          c.get("remediation"), ev, SkipReason(skip) if skip else None)
        results.append(CheckResult(check, outcome, float(ev.get("durationSeconds", 0.0)), c.get("causedBy") or None))
    roots = tuple(RootCause(str(rc["id"]), tuple(str(d) for d in rc.get("dependents") or ()), str(rc.get("rule") or ""),
                            str(rc.get("cause") or "")) for rc in doc.get("rootCauses") or ())
    meta = doc.get("metadata") or {}
    return Report(results=tuple(results), verdict=Verdict(doc["verdict"]), started_at=doc["startedAt"],
                  duration=float(doc["durationSeconds"]), profile_name=meta.get("profile", ""),
                  node=meta.get("node", ""), version=meta.get("netcheckVersion", ""),
                  interrupted=bool(meta.get("interrupted", False)), strict=bool(meta.get("strict", False)),
                  phase=meta.get("phase") or "", phase_evidence=tuple(meta.get("phaseEvidence") or ()),
                  phase_source=meta.get("phaseSource") or "", root_causes=roots,
                  critical_path=meta.get("criticalPath") if isinstance(meta.get("criticalPath"), dict) else None,
                  labels=_labels(meta.get("labels")))


def _labels(value: object) -> dict[str, str]:
    """metadata.labels as text to text; anything else in a hand-edited report is left out."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
