"""The JSON report: the contract (docs/architecture.md) every other format derives from."""

from __future__ import annotations

import json

from netcheck.model import Report
from netcheck.render import RenderOptions


def render(report: Report, options: RenderOptions) -> str:
    return json.dumps(report.to_json(), indent=2, default=str) + "\n"
