"""Shared fixtures: report validation against the committed JSON Schema, root/netns gating."""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from typing import Any

import pytest

IS_ROOT = os.geteuid() == 0
HAS_IP = shutil.which("ip") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT and HAS_IP:
        return
    reason = "needs root and iproute2 to build network namespaces" if not IS_ROOT else "iproute2 (ip) not installed"
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def report_schema() -> dict[str, Any]:
    text = resources.files("netcheck").joinpath("schemas/report.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_report(doc: dict[str, Any]) -> None:
    """Every JSON report a test sees must match the committed schema."""
    import jsonschema

    text = resources.files("netcheck").joinpath("schemas/report.schema.json").read_text()
    jsonschema.validate(doc, json.loads(text), format_checker=jsonschema.FormatChecker())
