"""The check catalogue as text: what `netcheck checks` prints and docs/checks.md holds.

Generated from the probes' declared `CHECKS` (probes/__init__.py); a test keeps
docs/checks.md equal to `netcheck checks` output.
"""

from __future__ import annotations

import json

from probes import catalogue

HEADER = """# Check catalogue

Every check netcheck can plan, generated from the probes' declared `CHECKS` by `netcheck checks`
(do not edit by hand: `netcheck checks > docs/checks.md`). Ids are globs: `*` stands for a target
(an IP, a CIDR, an endpoint subject, a port). Severity is the default; a probe or
`spec.checks.advisory` may make a check advisory. "phased": what the check judges differs
between pre-join and joined (`netcheck plan` shows how).
"""


def markdown() -> str:
    lines = [HEADER, "| id | category | severity | phased | probe | what it checks |",
             "|---|---|---|---|---|---|"]
    for probe, k in catalogue():
        title = f"[{k.title}]({k.docs})" if k.docs else k.title
        lines.append(f"| `{k.pattern}` | {k.category.value} | {k.severity.value} | {'yes' if k.phased else ''} | "
                     f"{probe} | {title} |")
    return "\n".join(lines) + "\n"


def as_json() -> str:
    rows = [{"id": k.pattern, "probe": probe, "category": k.category.value, "severity": k.severity.value,
             "phased": k.phased, "title": k.title, "docs": k.docs} for probe, k in catalogue()]
    return json.dumps({"apiVersion": "netcheck/v1", "kind": "CheckCatalogue", "checks": rows}, indent=2) + "\n"
