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


# Tests that must not run beside each other under pytest-xdist (`scripts/test` runs `-n N --dist loadgroup`):
# the namespace tests are one group (slow, and they measure timing over veth/TUN paths: one after another
# on one worker, beside the fast loopback tests on the others); tests that pip-install this checkout share
# its build directories. A test file may also mark itself `pytest.mark.xdist_group("name")`.
SERIAL_FILES = {"test_packaging.py": "packaging", "test_scripts.py": "packaging"}


def _xdist_group(item: pytest.Item) -> str | None:
    if "netns" in item.keywords:
        return "netns"
    return SERIAL_FILES.get(item.path.name)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks (--dist loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = _xdist_group(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
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


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach AWS: AWS API calls go to a closed loopback port unless a test points them at a stand-in,
    no credentials come from this host's files, and instance metadata is never asked."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/netcheck-test-aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/netcheck-test-aws-credentials")
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_ENDPOINT_URL_EKS", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
