"""Root causes first: the findings of a report ordered and grouped by the failure that explains them.

The diagnosis (netcheck/diagnosis.py) put `rootCauses` in the report and `causedBy` on each
dependent. Here they become stories for the human formats (table, Markdown, HTML): each root
cause once, with the checks that follow from it listed by id under it, and identical findings
(the same message with only names, addresses and numbers changed, e.g. eleven TLS-interception
warnings) told once with the ids they occur on. Machine formats (Prometheus, Nagios, JUnit)
keep every check as it is and do not use this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netcheck.model import CheckResult, Report, RootCause, Status
from netcheck.render.finding import Finding
from netcheck.render.safe import for_html as escape  # root messages may quote a peer
from netcheck.render.safe import for_markdown as cell
from netcheck.render.safe import for_markdown_code as code

_HOSTISH = re.compile(r"\[[0-9a-fA-F:.]+\](?::\d+)?|\b[\w-]+(?:\.[\w-]+)+(?::\d+)?\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Story:
    """One root cause as the reader sees it: the root, what follows from it, and roots with the same finding."""

    root: CheckResult
    cause: RootCause
    dependents: tuple[CheckResult, ...]
    alike: tuple[CheckResult, ...] = ()  # other roots whose finding reads the same (told once)

    @property
    def ids(self) -> list[str]:
        return [self.root.check.id, *(r.check.id for r in self.alike)]


def pattern(r: CheckResult) -> tuple[str, ...]:
    """A finding with names, addresses and numbers blanked: equal patterns are the same finding."""
    o = r.outcome

    def blank(text: object) -> str:
        return _NUMBER.sub("#", _HOSTISH.sub("<host>", str(text or "")))

    return (o.status.value, r.check.category.value, blank(o.message), blank(o.remediation), blank(o.measured))


def stories(report: Report) -> list[Story]:
    """The report's root causes in order, identical ones folded together."""
    by_id = {r.check.id: r for r in report.results}
    out: list[Story] = []
    seen: dict[tuple[str, ...], int] = {}
    for cause in report.root_causes:
        root = by_id.get(cause.id)
        if root is None:
            continue
        deps = tuple(by_id[d] for d in cause.dependents if d in by_id)
        key = pattern(root)
        if not deps and key in seen:
            first = out[seen[key]]
            out[seen[key]] = Story(first.root, first.cause, first.dependents, (*first.alike, root))
            continue
        if not deps:
            seen.setdefault(key, len(out))
        out.append(Story(root, cause, deps))
    return out


def folded(report: Report) -> dict[str, str]:
    """check id → the short line that replaces its full text where it is folded: dependents and repeats.

    A dependent points to its root; a finding identical to an earlier one (not a root, not a
    dependent) points to the first. Every check stays listed, by id.
    """
    out: dict[str, str] = {}
    for n, story in enumerate(stories(report), 1):
        for d in story.dependents:
            out[d.check.id] = f"follows from {story.root.check.id} (root cause {n})"
        for a in story.alike:
            out[a.check.id] = f"same finding as {story.root.check.id} (root cause {n})"
    first: dict[tuple[str, ...], str] = {}
    roots = {c.id for c in report.root_causes}
    for r in report.results:
        if r.status is Status.PASS or r.check.id in out or r.check.id in roots:
            continue
        key = pattern(r)
        if key in first:
            out[r.check.id] = f"same finding as {first[key]}"
        else:
            first[key] = r.check.id
    return out


def headline(report: Report) -> str:
    """'2 root causes; 14 other findings follow from them' ('' when nothing failed)."""
    found = stories(report)
    if not found:
        return ""
    deps = sum(len(s.dependents) + len(s.alike) for s in found)
    tail = f"; {deps} other finding{'s' if deps != 1 else ''} follow{'s' if deps == 1 else ''} from them" if deps else ""
    return f"{len(found)} root cause{'s' if len(found) != 1 else ''}{tail}"


def _ids(results: tuple[CheckResult, ...]) -> str:
    return ", ".join(r.check.id for r in results)


def _cause(story: Story) -> str:
    """The cause sentence where it adds to the root's own message (rules that gather many checks)."""
    return story.cause.cause if story.cause.rule not in ("", "name", "endpoint") else ""


def _fix(story: Story) -> str:
    return Finding.of(story.root).remediation


def text_lines(report: Report) -> list[str]:
    """The table's leading section as plain lines (the table neutralises and colours what it prints)."""
    found = stories(report)
    if not found:
        return []
    out = [f"{headline(report)} (fix these first)"]
    for n, s in enumerate(found, 1):
        f = Finding.of(s.root)
        sev = " (advisory)" if f.advisory else ""
        more = f" (and {len(s.alike)} more alike: {_ids(s.alike)})" if s.alike else ""
        out.append(f"  {n}. [{f.status.value}] {f.id}{sev}{more}: {f.message}")
        if _cause(s):
            out.append(f"      └─ cause: {_cause(s)}")
        if _fix(s):
            out.append(f"      └─ fix: {_fix(s)}")
        if s.dependents:
            out.append(f"      └─ explains {len(s.dependents)}: {_ids(s.dependents)}")
    out.append("")
    return out


def markdown_lines(report: Report) -> list[str]:
    """The Markdown report's leading section (plain text escaped as markdown.cell does)."""
    found = stories(report)
    if not found:
        return []
    out = [f"## {cell(headline(report))}", ""]
    for n, s in enumerate(found, 1):
        f = Finding.of(s.root)
        sev = " (advisory)" if f.advisory else ""
        more = f" and {', '.join(code(r.check.id) for r in s.alike)} (same finding)" if s.alike else ""
        out.append(f"{n}. **{f.status.value}** {code(f.id)}{sev}{more}: {cell(f.message)}")
        if _cause(s):
            out.append(f"   - **Cause:** {cell(_cause(s))}")
        if _fix(s):
            out.append(f"   - **Fix:** {cell(_fix(s))}")
        if s.dependents:
            out.append(f"   - **Explains {len(s.dependents)}:** {', '.join(code(r.check.id) for r in s.dependents)}")
    out.append("")
    return out


def html_lines(report: Report) -> list[str]:
    """The HTML report's leading section."""
    found = stories(report)
    if not found:
        return []
    items = []
    for s in found:
        f = Finding.of(s.root)
        sev = ' <span class="muted">(advisory)</span>' if f.advisory else ""
        more = (f" and {', '.join(f'<code>{escape(r.check.id)}</code>' for r in s.alike)} (same finding)"
                if s.alike else "")
        rows = [f"<strong>{escape(f.status.value)}</strong> <code>{escape(f.id)}</code>{sev}{more}: "
                f"{escape(f.message)}"]
        if _cause(s):
            rows.append(f"<br>Cause: {escape(_cause(s))}")
        if _fix(s):
            rows.append(f"<br>Fix: {escape(_fix(s))}")
        if s.dependents:
            deps = ", ".join(f"<code>{escape(r.check.id)}</code>" for r in s.dependents)
            rows.append(f'<details><summary>Explains {len(s.dependents)}</summary>{deps}</details>')
        items.append(f'<li id="root-{escape(s.root.check.id)}">{"".join(rows)}</li>')
    return [f'<h2 id="root-causes">{escape(headline(report))}</h2>', f'<ol id="causes">{"".join(items)}</ol>']


def folded_lines(report: Report, results: list[CheckResult], fmt: str) -> list[str]:
    """The folded findings among `results`, one line each ('markdown' or 'html'), for after the full ones."""
    fold = folded(report)
    rows = [(r, fold[r.check.id]) for r in results if r.check.id in fold]
    if not rows:
        return []
    if fmt == "html":
        lis = "".join(f'<li id="finding-{escape(r.check.id)}"><strong>{escape(r.status.value)}</strong> '
                      f"<code>{escape(r.check.id)}</code>: {escape(why)}</li>" for r, why in rows)
        return [f'<p>Folded under their root cause ({len(rows)}):</p><ul id="folded">{lis}</ul>']
    return [f"Folded under their root cause ({len(rows)}):", "",
            *(f"- {r.status.value} {code(r.check.id)}: {cell(why)}" for r, why in rows), ""]
