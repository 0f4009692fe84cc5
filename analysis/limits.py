"""Limit files: reading and validating the TOML that holds a :class:`~analysis.tolerance.LimitSet`.

Every number a verdict depends on lives in a TOML file under ``analysis/data/`` (or a user or
device file) with its source text and a confidence tag; the data model (bands, caps, units,
confidences) is :mod:`analysis.tolerance`, whose names are re-exported here.

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

Errors name the file and the key (``tolerances.vt.unit: …``); a file that declares ``base``
is a device profile over that set (:meth:`~analysis.tolerance.LimitSet.overridden_by`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ventbench.analysis.tolerance import (
    CONFIDENCES,
    QUANTITY_UNITS,
    REFERENCES,
    LimitSet,
    Tolerance,
    unit_factor,
)
from ventbench.errors import ConfigError

__all__ = [
    "BUILTIN_LIMITS", "CONFIDENCES", "DEFAULT_LIMITS", "QUANTITY_UNITS", "REFERENCES",
    "LimitSet", "Tolerance", "load_limits", "parse_limits", "unit_factor",
]

_TOLERANCE_KEYS = {
    "abs", "rel", "unit", "applies_above", "of", "max", "max_over", "max_over_by",
    "source", "confidence", "note", "min",
}
_LIMITS_KEYS = {"id", "title", "base", "notes", "device"}
BUILTIN_LIMITS = ("iso80601-2-12", "iso80601-2-80", "rmvs", "example-device")
DEFAULT_LIMITS = "iso80601-2-12"


def _number(value: Any, where: str, key: str) -> float:
    """``value`` as a float; a ConfigError naming ``where`` and ``key`` unless a finite number."""
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
            ("abs", "rel", "applies_above", "max", "max_over_by", "min") if k in raw}
    for key, value in nums.items():
        if value < 0 and key not in ("max", "min"):
            raise ConfigError(f"{where}: {prefix}.{key}: expected ≥ 0, found {value!r}")
    has_cap = "max" in raw or "max_over" in raw or "min" in raw
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
        note=str(raw.get("note", "")).strip(), min=nums.get("min"),
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
        text = resources.files("ventbench.analysis").joinpath("data", f"limits-{name}.toml").read_text("utf-8")
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
