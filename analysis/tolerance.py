"""Accuracy limits as data: :class:`Tolerance`, :class:`LimitSet` and the units they are judged in.

A tolerance is either a *band* around a reference value, ``±(abs + rel × |reference|)``, with
``abs`` in the tolerance's unit and ``rel`` a fraction (0.15 = 15 %), or a one-sided *cap*
(``max``: the measured value must not exceed it; ``max_over``/``max_over_by``: it must not
exceed another quantity of the same breath plus a margin, e.g. RMVS "peak ≤ plateau + 2"),
or both. ``applies_above`` makes a band informative (reported, no verdict) when the set value
is at or below it (ISO 80601-2-12: VT accuracy applies above 50 mL).

Every tolerance carries its source text and a confidence tag (STANDARDS.md §1):

- ``confirmed``: read in a source that quotes the standard;
- ``consistent``: two or more independent secondary sources agree;
- ``unconfirmed``: recollection — shipped, but the report must say "limit not verified
  against the standard text".

Units are explicit in every tolerance and converted to the unit the analysis measures in
(:data:`QUANTITY_UNITS`) by :meth:`Tolerance.canonical`; hPa and cmH2O are never equated
(1 cmH2O = 0.980665 hPa). Reading limit files is :mod:`analysis.limits`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ventbench.units import FLOW_TO_LPM, PRESSURE_TO_CMH2O

CONFIDENCES = ("confirmed", "consistent", "unconfirmed")
#: Reference of the relative term: the set value, or the measured ("actual") reading.
REFERENCES = ("set", "actual")

#: The unit each quantity is measured and judged in by :mod:`analysis.checks`.
QUANTITY_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "vt": "mL",
        "vte": "mL",
        "peep": "cmH2O",
        "pinsp": "cmH2O",
        "pplat": "cmH2O",
        "pip": "cmH2O",
        "pmean": "cmH2O",
        "rate": "bpm",
        "ti": "s",
        "te": "s",
        "ie": "1",
        "fio2": "%",
        "leak": "%",
        # monitoring accuracy: the device's reported value against the reference
        # (analysis.monitoring)
        "vte_monitor": "mL",
        "peep_monitor": "cmH2O",
        "pip_monitor": "cmH2O",
        "rate_monitor": "bpm",
        # steady-state quantities judged over windows (analysis.steady): CPAP / high flow
        "paw": "cmH2O",
        "paw_swing": "cmH2O",
        "flow": "L/min",
        "o2_flow": "L/min",
        "supply_p": "bar",
    }
)

_VOLUME_TO_ML = {"ml": 1.0, "l": 1000.0}
_TIME_TO_S = {"s": 1.0, "ms": 0.001}
_RATE_TO_BPM = {"bpm": 1.0, "1/min": 1.0, "breaths/min": 1.0, "/min": 1.0}
_RATIO = {"1": 1.0, "ratio": 1.0}
_PERCENT = {"%": 1.0, "vol%": 1.0, "vol %": 1.0, "pct": 1.0}
_FACTORS_BY_UNIT = {
    "mL": _VOLUME_TO_ML,
    "cmH2O": PRESSURE_TO_CMH2O,
    "s": _TIME_TO_S,
    "bpm": _RATE_TO_BPM,
    "1": _RATIO,
    "%": _PERCENT,
    "L/min": FLOW_TO_LPM,
    "bar": {"bar": 1.0, "kpa": 0.01, "mbar": 0.001, "psi": 0.0689476},
}


def unit_factor(quantity: str, unit: str) -> float:
    """Factor converting a value of ``quantity`` stated in ``unit`` to :data:`QUANTITY_UNITS`.

    Raises
    ------
    KeyError
        Unknown quantity, or a unit of the wrong dimension (e.g. "mL" for PEEP).
    """
    canonical = QUANTITY_UNITS[quantity]
    table = _FACTORS_BY_UNIT[canonical]
    key = unit.strip().lower().replace(" ", "") if canonical != "%" else unit.strip().lower()
    if key not in table:
        raise KeyError(f"unit {unit!r} is not a unit of {quantity} (expected one of {', '.join(table)})")
    return float(table[key])


@dataclass(frozen=True)
class Tolerance:
    """One accuracy limit for one quantity.

    Parameters
    ----------
    quantity : str
        vt, vte, peep, pinsp, pplat, pip, rate, ti, ie, fio2 … (keys of :data:`QUANTITY_UNITS`).
    abs : float or None
        Absolute term of the band, in ``unit``. None for a cap-only tolerance.
    rel : float or None
        Relative term of the band, a fraction of the reference (0.15 = 15 %).
    unit : str
        Unit of ``abs``, ``max``, ``max_over_by`` and ``applies_above``.
    source : str
        Where the number comes from, quoted.
    confidence : str
        "confirmed" | "consistent" | "unconfirmed".
    applies_above : float or None
        The band gives a verdict only when the set value is above this (same unit); at or
        below it the check is INFO (reported, no verdict).
    of : str
        "set" (default): the relative term is of the set value; "actual": of the reading.
    max, max_over, max_over_by : optional
        One-sided caps: reading ≤ ``max``; reading ≤ (``max_over`` quantity of the same
        breath) + ``max_over_by``.
    note : str
        Free text shown with the limit (e.g. a unit conversion that was applied).
    source_id : str
        Optional Indonesian wording of ``source``, printed by the Indonesian report; only for a
        source that is a sentence of ours (a citation of a standard stays as it is).
    """

    quantity: str
    abs: float | None
    rel: float | None
    unit: str
    source: str
    confidence: str
    applies_above: float | None = None
    of: str = "set"
    max: float | None = None
    max_over: str | None = None
    max_over_by: float | None = None
    note: str = ""
    #: one-sided floor: the reading must not be below it (CPAP "maximum oxygen > 95 %")
    min: float | None = None
    source_id: str = ""

    @property
    def is_band(self) -> bool:
        """True when the tolerance has a ±(abs + rel) band around a reference value."""
        return self.abs is not None

    @property
    def is_cap(self) -> bool:
        """True when the tolerance has a one-sided cap (``max`` or ``max_over``)."""
        return self.max is not None or self.max_over is not None or self.min is not None

    def limit(self, reference):
        """Half-width of the band, ``abs + rel·|reference|`` (array-friendly), in ``unit``."""
        if not self.is_band:
            raise ValueError(f"{self.quantity}: tolerance has no band (cap only)")
        return self.abs + self.rel * abs(reference)

    def cap_margins(self, values) -> list[tuple[Any, str]]:
        """The caps' margins over ``values`` (array, the tolerance's unit; > 0 is outside)
        with their descriptions ("≤ 40 cmH2O", "≥ 21 %"): ``max`` then ``min``."""
        out = []
        if self.max is not None:
            out.append((values - self.max, f"≤ {self.max:g} {self.unit}"))
        if self.min is not None:
            out.append((self.min - values, f"≥ {self.min:g} {self.unit}"))
        return out

    def applies_to(self, set_value: float) -> bool:
        """False when ``set_value`` is at or below ``applies_above`` (INFO only)."""
        return self.applies_above is None or abs(set_value) > self.applies_above

    def canonical(self) -> Tolerance:
        """This tolerance converted to the unit the analysis measures in (:data:`QUANTITY_UNITS`)."""
        target = QUANTITY_UNITS[self.quantity]
        factor = unit_factor(self.quantity, self.unit)
        if factor == 1.0:
            return replace(self, unit=target) if self.unit != target else self

        def conv(value: float | None) -> float | None:
            return None if value is None else value * factor

        note = (self.note + " " if self.note else "") + (
            f"Declared in {self.unit}; converted to {target} "
            f"(× {factor:.6g}; 1 cmH2O = 0.980665 hPa where relevant)."
        )
        return replace(
            self, abs=conv(self.abs), max=conv(self.max), max_over_by=conv(self.max_over_by),
            applies_above=conv(self.applies_above), unit=target, note=note, min=conv(self.min),
        )

    def describe(self) -> str:
        """Human form, e.g. "±(4 mL + 15 %)", "≤ 35 cmH2O", "≤ pplat + 2 cmH2O"."""
        parts = []
        if self.is_band:
            parts.append(f"±({self.abs:g} {self.unit} + {self.rel * 100:g} %)")
        if self.max is not None:
            parts.append(f"≤ {self.max:g} {self.unit}")
        if self.max_over is not None:
            parts.append(f"≤ {self.max_over} + {self.max_over_by:g} {self.unit}")
        if self.min is not None:
            parts.append(f"≥ {self.min:g} {self.unit}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The contract's limit dict: abs, rel, unit, source, confidence (+ caps when set)."""
        out: dict[str, Any] = {
            "abs": self.abs, "rel": self.rel, "unit": self.unit,
            "source": self.source, "confidence": self.confidence,
        }
        if self.source_id:
            out["source_id"] = self.source_id
        if self.applies_above is not None:
            out["applies_above"] = self.applies_above
        if self.of != "set":
            out["of"] = self.of
        if self.max is not None:
            out["max"] = self.max
        if self.max_over is not None:
            out["max_over"] = self.max_over
            out["max_over_by"] = self.max_over_by
        if self.min is not None:
            out["min"] = self.min
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class LimitSet:
    """A named set of tolerances, at most one per quantity.

    ``base`` names the set a device profile overrides; ``origin`` is the file it came from.
    """

    id: str
    title: str
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    base: str | None = None
    origin: str = ""
    device: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tolerances", MappingProxyType(dict(self.tolerances)))

    def get(self, quantity: str) -> Tolerance | None:
        """The tolerance for ``quantity`` in the analysis unit, or None when the set has none."""
        tol = self.tolerances.get(quantity)
        return None if tol is None else tol.canonical()

    def overridden_by(self, profile: LimitSet) -> LimitSet:
        """A new set: this one with ``profile``'s tolerances replacing ours quantity by quantity.

        Quantities the profile does not mention keep this set's tolerance (and its source).
        """
        merged = dict(self.tolerances)
        merged.update(profile.tolerances)
        notes = self.notes + tuple(f"[{profile.id}] {n}" for n in profile.notes) + (
            f"Quantities {', '.join(sorted(profile.tolerances)) or '(none)'} overridden by "
            f"profile {profile.id!r}; the rest from {self.id!r}.",
        )
        return LimitSet(
            id=f"{self.id}+{profile.id}", title=f"{self.title}; overridden by {profile.title}",
            tolerances=merged, notes=notes, base=self.id, origin=profile.origin or self.origin,
            device=profile.device or self.device,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready description of the whole set (for start.json and reports)."""
        return {
            "id": self.id, "title": self.title, "base": self.base, "origin": self.origin,
            "device": self.device or None, "notes": list(self.notes),
            "tolerances": {q: t.to_json() for q, t in sorted(self.tolerances.items())},
        }
