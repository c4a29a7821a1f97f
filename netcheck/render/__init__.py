"""Renderers turn a finished Report into text. JSON is the source of truth.

Registry: format name → module path; each module has `render(report, options) -> str`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol

from netcheck.model import Report

FORMATS: dict[str, str] = {
    "table": "netcheck.render.table",
    "json": "netcheck.render.json",
    "junit": "netcheck.render.junit",
    "markdown": "netcheck.render.markdown",
    "html": "netcheck.render.html",
    "prometheus": "netcheck.render.prometheus",
    "nagios": "netcheck.render.nagios",
}


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    verbose: bool = False
    junit_properties: dict[str, str] = field(default_factory=dict)
    previous: Report | None = None  # the run before, for regressions


class Renderer(Protocol):
    def __call__(self, report: Report, options: RenderOptions) -> str: ...


def render(fmt: str, report: Report, options: RenderOptions = RenderOptions()) -> str:
    module = importlib.import_module(FORMATS[fmt])
    text: str = module.render(report, options)
    return text
