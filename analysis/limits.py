"""Accuracy limits as data: :class:`Tolerance`, :class:`LimitSet` and their TOML loader.

Every number a verdict depends on lives in a TOML file under ``analysis/data/`` (or a user or
device file) with its source text and a confidence tag (STANDARDS.md §1):

- ``confirmed``: read in a source that quotes the standard;
- ``consistent``: two or more independent secondary sources agree;
- ``unconfirmed``: recollection — shipped, but the report must say "limit not verified
  against the standard text".

A tolerance is either a *band* around a reference value, ``±(abs + rel × |reference|)``, with
``abs`` in the tolerance's unit and ``rel`` a fraction (0.15 = 15 %), or a one-sided *cap*
(``max``: the measured value must not exceed it; ``max_over``/``max_over_by``: it must not
exceed another quantity of the same breath plus a margin, e.g. RMVS "peak ≤ plateau + 2"),
or both. ``applies_above`` makes a band informative (reported, no verdict) when the set value
is at or below it (ISO 80601-2-12: VT accuracy applies above 50 mL).

File layout::

    [limits]
    id = "iso80601-2-12"
    title = "…"
    base = "iso80601-2-12"      # optional: this file is a profile overriding that set
    notes = ["…"]

    [tolerances.vt]
    abs = 4.0
    rel = 0.15
    unit = "mL"
    applies_above = 50.0
    source = "…"
    confidence = "consistent"

Units are explicit in every tolerance and converted to the unit the analysis measures in
(:data:`QUANTITY_UNITS`) by :meth:`Tolerance.canonical`; hPa and cmH2O are never equated
(1 cmH2O = 0.980665 hPa).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError
from .units import PRESSURE_TO_CMH2O

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
}

_TOLERANCE_KEYS = {
    "abs", "rel", "unit", "applies_above", "of", "max", "max_over", "max_over_by",
    "source", "confidence", "note",
}
_LIMITS_KEYS = {"id", "title", "base", "notes", "device"}
BUILTIN_LIMITS = ("iso80601-2-12", "iso80601-2-80", "rmvs", "example-device")
DEFAULT_LIMITS = "iso80601-2-12"


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

    @property
    def is_band(self) -> bool:
        """True when the tolerance has a ±(abs + rel) band around a reference value."""
        return self.abs is not None

    @property
    def is_cap(self) -> bool:
        """True when the tolerance has a one-sided cap (``max`` or ``max_over``)."""
        return self.max is not None or self.max_over is not None

    def limit(self, reference):
        """Half-width of the band, ``abs + rel·|reference|`` (array-friendly), in ``unit``."""
        if not self.is_band:
            raise ValueError(f"{self.quantity}: tolerance has no band (cap only)")
        return self.abs + self.rel * abs(reference)

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
            applies_above=conv(self.applies_above), unit=target, note=note,
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
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The contract's limit dict: abs, rel, unit, source, confidence (+ caps when set)."""
        out: dict[str, Any] = {
            "abs": self.abs, "rel": self.rel, "unit": self.unit,
            "source": self.source, "confidence": self.confidence,
        }
        if self.applies_above is not None:
            out["applies_above"] = self.applies_above
        if self.of != "set":
            out["of"] = self.of
        if self.max is not None:
            out["max"] = self.max
        if self.max_over is not None:
            out["max_over"] = self.max_over
            out["max_over_by"] = self.max_over_by
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


def _number(value: Any, where: str, key: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key}: expected a finite number, found {value!r}")
    return float(value)


def _tolerance(quantity: str, raw: Any, where: str) -> Tolerance:
    prefix = f"tolerances.{quantity}"
    if quantity not in QUANTITY_UNITS:
        raise ConfigError(
            f"{where}: {prefix}: unknown quantity {quantity!r} (expected one of {', '.join(QUANTITY_UNITS)})"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {prefix}: expected a table, found {raw!r}")
    unknown = sorted(set(raw) - _TOLERANCE_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: {prefix}.{unknown[0]}: unknown key (expected some of {', '.join(sorted(_TOLERANCE_KEYS))})"
        )
    for key in ("unit", "source", "confidence"):
        if key not in raw:
            raise ConfigError(f"{where}: {prefix}.{key}: missing")
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ConfigError(f"{where}: {prefix}.{key}: expected a non-empty string, found {raw[key]!r}")
    if raw["confidence"] not in CONFIDENCES:
        raise ConfigError(
            f"{where}: {prefix}.confidence: expected one of {', '.join(CONFIDENCES)}, found {raw['confidence']!r}"
        )
    try:
        unit_factor(quantity, raw["unit"])
    except KeyError as exc:
        raise ConfigError(f"{where}: {prefix}.unit: {exc.args[0]}") from None
    nums = {k: _number(raw[k], where, f"{prefix}.{k}") for k in
            ("abs", "rel", "applies_above", "max", "max_over_by") if k in raw}
    for key, value in nums.items():
        if value < 0 and key != "max":
            raise ConfigError(f"{where}: {prefix}.{key}: expected ≥ 0, found {value!r}")
    has_cap = "max" in raw or "max_over" in raw
    if ("abs" in raw) != ("rel" in raw) or (not has_cap and "abs" not in raw):
        missing = "rel" if "abs" in raw else "abs"
        raise ConfigError(
            f"{where}: {prefix}.{missing}: missing (a band needs both abs and rel; write 0 for none)"
        )
    if "max_over" in raw:
        if raw["max_over"] not in QUANTITY_UNITS:
            raise ConfigError(f"{where}: {prefix}.max_over: unknown quantity {raw['max_over']!r}")
        if "max_over_by" not in raw:
            raise ConfigError(f"{where}: {prefix}.max_over_by: missing (needed with max_over)")
    of = raw.get("of", "set")
    if of not in REFERENCES:
        raise ConfigError(f"{where}: {prefix}.of: expected one of {', '.join(REFERENCES)}, found {of!r}")
    return Tolerance(
        quantity=quantity, abs=nums.get("abs"), rel=nums.get("rel"), unit=raw["unit"],
        source=raw["source"].strip(), confidence=raw["confidence"],
        applies_above=nums.get("applies_above"), of=of, max=nums.get("max"),
        max_over=raw.get("max_over"), max_over_by=nums.get("max_over_by"),
        note=str(raw.get("note", "")).strip(),
    )


def parse_limits(data: Mapping[str, Any], where: str) -> LimitSet:
    """Validate a parsed limits TOML document; ``where`` names the file in errors."""
    unknown = sorted(set(data) - {"limits", "tolerances"})
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]}: unknown table (expected [limits], [tolerances.*])")
    head = data.get("limits")
    if not isinstance(head, dict):
        raise ConfigError(f"{where}: [limits]: missing table")
    bad = sorted(set(head) - _LIMITS_KEYS)
    if bad:
        raise ConfigError(f"{where}: limits.{bad[0]}: unknown key (expected some of {', '.join(sorted(_LIMITS_KEYS))})")
    for key in ("id", "title"):
        if not isinstance(head.get(key), str) or not head[key].strip():
            raise ConfigError(f"{where}: limits.{key}: missing or not a string")
    for key in ("base", "device"):
        if key in head and (not isinstance(head[key], str) or not head[key].strip()):
            raise ConfigError(f"{where}: limits.{key}: expected a non-empty string, found {head[key]!r}")
    notes = head.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ConfigError(f"{where}: limits.notes: expected a list of strings")
    tols = data.get("tolerances", {})
    if not isinstance(tols, dict):
        raise ConfigError(f"{where}: tolerances: expected tables [tolerances.QUANTITY]")
    return LimitSet(
        id=head["id"], title=head["title"],
        tolerances={q: _tolerance(q, raw, where) for q, raw in tols.items()},
        notes=tuple(notes), base=head.get("base"), origin=where, device=str(head.get("device", "")),
    )


def load_limits(name_or_path: str | Path = DEFAULT_LIMITS, *, resolve_base: bool = True) -> LimitSet:
    """Load a built-in limit set by name, or a user/device limits TOML file by path.

    Parameters
    ----------
    name_or_path : str or Path
        "iso80601-2-12" (default), "iso80601-2-80", "rmvs", "example-device", or a path.
    resolve_base : bool
        When the file declares ``base`` (a device profile), return the base set overridden
        by the file (:meth:`LimitSet.overridden_by`); False returns the file's set alone.

    Raises
    ------
    ConfigError
        Unknown name, unreadable file, invalid TOML (with line), or invalid content naming
        the file and key.
    """
    name = str(name_or_path)
    if name in BUILTIN_LIMITS and not Path(name).suffix:
        where = f"analysis/data/limits-{name}.toml"
        text = resources.files("analysis").joinpath("data", f"limits-{name}.toml").read_text("utf-8")
    else:
        path = Path(name_or_path)
        where = str(path)
        if not path.is_file():
            raise ConfigError(
                f"limits {name!r}: not a built-in set ({', '.join(BUILTIN_LIMITS)}) and no such file"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read limits file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None
    limit_set = parse_limits(data, where)
    if resolve_base and limit_set.base:
        if limit_set.base == limit_set.id:
            raise ConfigError(f"{where}: limits.base: a set cannot be its own base ({limit_set.base!r})")
        return load_limits(limit_set.base).overridden_by(limit_set)
    return limit_set
