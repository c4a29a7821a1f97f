"""JUnit XML (Ant/Jenkins schema): one testsuite per category, one testcase per check.

A blocking FAIL → <failure>, ERROR → <error>, SKIP → <skipped>. Findings that do not block GO (advisory
FAIL/ERROR, WARN without --strict) → <skipped> with the finding as its message, so CI shows them without
failing the build. Run metadata and `--junit-property KEY=VALUE` go into each suite's <properties>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from netcheck.model import Category, CheckResult, Report, Status
from netcheck.render import RenderOptions
from netcheck.render.finding import Finding
from netcheck.render.safe import for_xml
from netcheck.verdict import counts_against


def _clean(text: object) -> str:
    """Every report string goes through here (safe.for_xml): no character XML 1.0 cannot carry, no control."""
    return for_xml(text)


def _timestamp(started_at: str) -> str:
    """Ant wants ISO 8601 without a zone; we give UTC."""
    try:
        t = datetime.fromisoformat(started_at)
    except ValueError:
        return started_at[:19]
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _details(f: Finding) -> str:
    """The finding as lines; each line is cleaned on its own, so a string cannot add a line of its own."""
    lines = [f.message]
    if f.has_figures:
        lines.append(f"measured: {f.measured}; threshold: {f.threshold}")
    if f.remediation:
        lines.append(f"remediation: {f.remediation}")
    if f.docs:
        lines.append(f"docs: {f.docs}")
    if f.skip_reason:
        lines.append(f"skip reason: {f.skip_reason}")
    lines.append(f"severity: {f.severity.value}")
    return "\n".join(_clean(line) for line in lines)


def _finding_kind(r: CheckResult, strict: bool) -> str | None:
    """`warn`, `advisory-fail` or `advisory-error` for a finding that does not block GO; None otherwise."""
    o = r.outcome
    if o.status in (Status.FAIL, Status.ERROR, Status.WARN) and not counts_against(r, strict):
        return ("advisory-" + o.status.value if not r.check.severity.required else "warn").lower()
    return None


def _testcase(parent: ET.Element, r: CheckResult, strict: bool) -> None:
    """A blocking FAIL/ERROR is a <failure>/<error>. Findings that do not block GO (an advisory FAIL or ERROR, a WARN
    without --strict) are <skipped> with the finding as the message — Jenkins and GitLab list skipped tests with
    their message without marking the build unstable — and the details in <system-out>; the suite's property
    `netcheck.finding.<id>` names them (the Jenkins xunit schema allows no extra testcase attribute).
    """
    f = Finding.of(r)
    message = _clean(f.message)
    case = ET.SubElement(parent, "testcase", name=_clean(f.id), classname=f"netcheck.{r.check.category.value}",
                         time=f"{r.duration:.3f}")
    if _finding_kind(r, strict) is not None:
        kind = "advisory " + f.status.value if f.advisory else "WARN"
        why = "advisory check, does not block GO" if kind.startswith("advisory") else "GO unless --strict"
        ET.SubElement(case, "skipped", message=f"{kind} ({why}): {message}")
        ET.SubElement(case, "system-out").text = f"{kind}: " + _details(f)
    elif f.status is Status.FAIL or (f.status is Status.WARN and strict):
        ET.SubElement(case, "failure", message=message, type=f"netcheck.{f.severity.value}").text = _details(f)
    elif f.status is Status.ERROR:
        ET.SubElement(case, "error", message=message, type="netcheck.probe-error").text = _details(f)
    elif f.status is Status.SKIP:
        ET.SubElement(case, "skipped", message=message).text = _details(f)


def render(report: Report, options: RenderOptions) -> str:
    by_cat: dict[Category, list[CheckResult]] = {}
    for r in report.results:
        by_cat.setdefault(r.check.category, []).append(r)
    props = {"netcheck.verdict": report.verdict.value, "netcheck.profile": report.profile_name,
             "netcheck.node": report.node, "netcheck.version": report.version,
             "netcheck.startedAt": report.started_at, "netcheck.strict": str(report.strict).lower()}
    if report.phase:
        props.update({"netcheck.phase": report.phase, "netcheck.phaseEvidence": "; ".join(report.phase_evidence)})
    props.update(options.junit_properties)
    strict = report.strict

    def count(results: list[CheckResult], kind: str) -> int:
        n = 0
        for r in results:
            blocking = counts_against(r, strict)
            if kind == "failures":
                n += blocking and r.status in (Status.FAIL, Status.WARN)
            elif kind == "errors":
                n += blocking and r.status is Status.ERROR
            else:
                n += r.status is Status.SKIP or (r.status is not Status.PASS and not blocking)
        return n

    every = list(report.results)
    root = ET.Element("testsuites", name=_clean(f"netcheck {report.profile_name or '-'}"),
                      tests=str(len(every)), failures=str(count(every, "failures")),
                      errors=str(count(every, "errors")),
                      time=f"{report.duration:.3f}")
    stamp = _timestamp(report.started_at)
    for i, cat in enumerate(c for c in Category if c in by_cat):
        results = by_cat[cat]
        suite = ET.SubElement(root, "testsuite", name=f"netcheck.{cat.value}", tests=str(len(results)),
                              failures=str(count(results, "failures")), errors=str(count(results, "errors")),
                              skipped=str(count(results, "skipped")), time=f"{sum(r.duration for r in results):.3f}",
                              timestamp=_clean(stamp), hostname=_clean(report.node or "localhost"), id=str(i),
                              package="netcheck")
        properties = ET.SubElement(suite, "properties")
        kinds = {f"netcheck.finding.{r.check.id}": kind for r in results
                 if (kind := _finding_kind(r, strict)) is not None}
        for key, value in {**props, **kinds}.items():
            ET.SubElement(properties, "property", name=_clean(key), value=_clean(value))
        for r in results:
            _testcase(suite, r, strict)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
