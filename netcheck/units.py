"""Units of measured values: what each one is, declared once.

A probe reports `Outcome(..., unit=Unit.MS)`. `Unit` is a string enum whose value is the name the
reports show (`"ms"`, `"Mbit/s"`), so the JSON report's `unit` is unchanged text. Every format that
needs to know more reads it here: Prometheus the base unit and scale of its metric names
(`render/prometheus.py`), Nagios the plugin-guideline UOM (`render/nagios.py`), history and the
folding of series which way is better (`history.higher_is_better`). The probe contract test
(`probes/contract.py`) fails for a probe whose `unit=` is not a member.

Reports read back from JSON carry text: `Unit.parse` maps it case-insensitively, with the spellings
older or hand-made reports use (`mbps`, `pct`, `seconds`), and returns None for a unit it does not know;
each reader keeps a plain fallback for those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Unit(enum.StrEnum):
    """A unit a check's measured value and threshold are given in; the value is its display name."""

    MS = "ms"
    S = "s"
    US = "us"
    BYTES = "bytes"
    MBIT_S = "Mbit/s"
    GBIT_S = "Gbit/s"
    BITS_S = "bits/s"
    PERCENT = "%"
    DAYS = "days"
    ENTRIES = "entries"
    LOST_QUERIES = "lost queries"
    HOPS = "hops"
    COUNT = "count"

    @classmethod
    def parse(cls, text: str | None) -> Unit | None:
        """The unit a report's text names (any case, surrounding blanks, known aliases), or None."""
        return _BY_NAME.get((text or "").strip().lower())

    @property
    def prometheus(self) -> tuple[str, float]:
        """(base unit as it appears in a metric name, factor from this unit to it); promtool wants bytes, not bits."""
        t = _TRAITS[self]
        return t.base, t.scale

    @property
    def uom(self) -> str:
        """The Nagios plugin UOM (s, ms, us, %, B), or "" when the guidelines have none for it."""
        return _TRAITS[self].uom

    @property
    def higher_is_better(self) -> bool | None:
        """True when larger figures are better (throughput, MTU), False when smaller are (time, loss);
        None when the unit alone does not say (the check's threshold decides, `history.higher_is_better`)."""
        return _TRAITS[self].higher_is_better

    @property
    def non_negative(self) -> bool:
        """True when a figure in this unit cannot be negative (Nagios perfdata then gives min 0)."""
        return _TRAITS[self].non_negative


@dataclass(frozen=True)
class _Traits:
    base: str  # Prometheus base unit, as in netcheck_check_measured_<base>
    scale: float  # factor from the unit to `base`
    uom: str = ""  # Nagios UOM; "" when the plugin guidelines know none (the unit then goes in the label)
    higher_is_better: bool | None = None
    non_negative: bool = False
    aliases: tuple[str, ...] = ()  # other spellings in reports (lower case)


_HIGHER, _LOWER = True, False  # which way is better
_TRAITS: dict[Unit, _Traits] = {
    Unit.MS: _Traits("seconds", 0.001, "ms", _LOWER, True),
    Unit.S: _Traits("seconds", 1.0, "s", _LOWER, False, ("seconds",)),  # clock offsets may be negative
    Unit.US: _Traits("seconds", 1e-6, "us", None, True),  # no probe reports it; history never judged its direction
    Unit.BYTES: _Traits("bytes", 1.0, "B", _HIGHER, True, ("b",)),
    Unit.MBIT_S: _Traits("bytes_per_second", 125_000.0, "", _HIGHER, True, ("mbps",)),
    Unit.GBIT_S: _Traits("bytes_per_second", 125_000_000.0, "", _HIGHER, True, ("gbps",)),
    Unit.BITS_S: _Traits("bytes_per_second", 0.125, "", _HIGHER, True, ("bps",)),
    Unit.PERCENT: _Traits("ratio", 0.01, "%", _LOWER, True, ("pct", "percent")),
    # counted things: named as they are in Prometheus, no Nagios UOM, direction from the threshold
    Unit.DAYS: _Traits("days", 1.0),
    Unit.ENTRIES: _Traits("entries", 1.0),
    Unit.LOST_QUERIES: _Traits("lost_queries", 1.0),
    Unit.HOPS: _Traits("hops", 1.0, non_negative=True),
    Unit.COUNT: _Traits("count", 1.0, non_negative=True),
}
_BY_NAME: dict[str, Unit] = {name: u for u in Unit for name in (u.value.lower(), *_TRAITS[u].aliases)}
