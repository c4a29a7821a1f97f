"""Units are declared once (netcheck/units.py) and every format reads them there: the figures each format derives
from a unit are the ones the three tables it replaced gave (Prometheus UNITS, Nagios UOM, history's direction),
and the JSON report keeps the unit's text."""

from __future__ import annotations

import json
import re

import pytest

from netcheck.history import higher_is_better
from netcheck.model import Category, Check, CheckResult, Outcome, Report, Status, Verdict, report_from_json
from netcheck.render import render
from netcheck.render.nagios import _perf
from netcheck.render.prometheus import _unit
from netcheck.units import Unit

# unit text in a report → (Prometheus suffix, factor, Nagios UOM, higher is better, Nagios min 0)
EXPECTED = {
    "ms": ("seconds", 0.001, "ms", False, True), "s": ("seconds", 1.0, "s", False, False),
    "seconds": ("seconds", 1.0, "s", False, False), "us": ("seconds", 1e-6, "us", None, True),
    "bytes": ("bytes", 1.0, "B", True, True), "b": ("bytes", 1.0, "B", True, True),
    "Mbit/s": ("bytes_per_second", 125_000.0, "", True, True), "mbps": ("bytes_per_second", 125_000.0, "", True, True),
    "gbps": ("bytes_per_second", 125_000_000.0, "", True, True), "bps": ("bytes_per_second", 0.125, "", True, True),
    "bits/s": ("bytes_per_second", 0.125, "", True, True), "%": ("ratio", 0.01, "%", False, True),
    "pct": ("ratio", 0.01, "%", False, True), "percent": ("ratio", 0.01, "%", False, True),
    "days": ("days", 1.0, "", None, False), "entries": ("entries", 1.0, "", None, False),
    "lost queries": ("lost_queries", 1.0, "", None, False), "hops": ("hops", 1.0, "", None, True),
    "count": ("count", 1.0, "", None, True),
}


def test_every_member_and_alias_parses_and_nothing_else() -> None:
    assert {u.value for u in Unit} <= set(EXPECTED) | {"Gbit/s"}
    for u in Unit:
        assert Unit.parse(u.value) is u and Unit.parse(f" {u.value.upper()} ") is u
    for text in ("widgets", "", None, "m s"):
        assert Unit.parse(text) is None


@pytest.mark.parametrize("text", sorted(EXPECTED))
def test_each_unit_gives_the_figures_its_formats_always_gave(text: str) -> None:
    suffix, factor, uom, higher, non_negative = EXPECTED[text]
    unit = Unit.parse(text)
    assert unit is not None
    assert unit.prometheus == (suffix, factor) == _unit(text)
    assert re.fullmatch(r"[a-z_]+", suffix)
    assert (unit.uom, unit.higher_is_better, unit.non_negative) == (uom, higher, non_negative)
    # a figure with no threshold: the direction comes from the unit alone
    r = _result(Status.PASS, 12, None, text)
    assert higher_is_better(r) is higher
    perf = _perf(r)
    assert perf is not None and perf.split("=", 1)[1] == f"12{uom};;;{'0' if non_negative else ''};"


def test_an_unknown_unit_in_a_report_read_back_keeps_its_old_fallbacks() -> None:
    r = _result(Status.FAIL, 7, 5, "Furlongs/fortnight")
    assert _unit("Furlongs/fortnight") == ("furlongs_fortnight", 1.0)
    assert _perf(r) == "x.y_Furlongs_fortnight=7;;~:5;;"  # direction from the threshold: 7 above 5 failed
    assert higher_is_better(r) is False


def test_the_json_report_keeps_the_unit_text() -> None:
    live = _report(_result(Status.WARN, 87.3, 100, Unit.MBIT_S))
    doc = json.loads(json.dumps(live.to_json()))
    assert doc["checks"][0]["unit"] == "Mbit/s"
    back = report_from_json(doc)
    assert type(back.results[0].outcome.unit) is str
    for fmt in ("json", "prometheus", "nagios", "markdown", "junit"):
        assert render(fmt, back) == render(fmt, live), fmt


def _result(status: Status, measured: float, threshold: float | None, unit: str) -> CheckResult:
    check = Check(id="x.y", category=Category.LATENCY, title="x", probe="", spec=None)
    return CheckResult(check, Outcome(status, "m", measured, threshold, unit))


def _report(*results: CheckResult) -> Report:
    return Report(results=results, verdict=Verdict.GO, started_at="2025-06-02T03:15:09+00:00", duration=1.0)
