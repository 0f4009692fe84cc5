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

from collections.abc import Mapping
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
from ventbench.tomlfile import Key, TomlFile, check_table

__all__ = [
    "BUILTIN_LIMITS", "CONFIDENCES", "DEFAULT_LIMITS", "QUANTITY_UNITS", "REFERENCES",
    "LimitSet", "Tolerance", "load_limits", "parse_limits", "unit_factor",
]

#: [tolerances.QUANTITY]: a band ``abs + rel × reference`` (both, or a cap), its source and confidence.
_TOLERANCE_KEYS = {
    "abs": Key("number", lo=0), "rel": Key("number", lo=0), "unit": Key("text", required=True),
    "applies_above": Key("number", lo=0), "of": Key("string", choices=REFERENCES),
    "max": Key("number"), "max_over": Key("string", choices=tuple(QUANTITY_UNITS)),
    "max_over_by": Key("number", lo=0), "source": Key("text", required=True), "source_id": Key("text"),
    "confidence": Key("string", required=True, choices=CONFIDENCES), "note": Key("string"), "min": Key("number"),
}
_LIMITS_KEYS = {"id": Key("text", required=True), "title": Key("text", required=True),
                "base": Key("text"), "notes": Key("strings"), "device": Key("text")}
BUILTIN_LIMITS = ("iso80601-2-12", "iso80601-2-80", "rmvs", "example-device")
DEFAULT_LIMITS = "iso80601-2-12"


def _tolerance(quantity: str, raw: Any, toml: TomlFile) -> Tolerance:
    prefix = f"tolerances.{quantity}"
    if quantity not in QUANTITY_UNITS:
        raise toml.error(prefix, f"unknown quantity {quantity!r} (expected one of "
                         f"{', '.join(QUANTITY_UNITS)})", None, prefix)
    check_table(toml, raw, _TOLERANCE_KEYS, prefix, prefix)
    try:
        unit_factor(quantity, raw["unit"])
    except KeyError as exc:
        raise toml.error(f"{prefix}.unit", exc.args[0], "unit", prefix) from None
    nums = {k: float(raw[k]) for k in ("abs", "rel", "applies_above", "max", "max_over_by", "min") if k in raw}
    has_cap = "max" in raw or "max_over" in raw or "min" in raw
    if ("abs" in raw) != ("rel" in raw) or (not has_cap and "abs" not in raw):
        missing = "rel" if "abs" in raw else "abs"
        raise toml.error(f"{prefix}.{missing}",
                         "missing (a band needs both abs and rel; write 0 for none)", None, prefix)
    if "max_over" in raw and "max_over_by" not in raw:
        raise toml.error(f"{prefix}.max_over_by", "missing (needed with max_over)", "max_over", prefix)
    return Tolerance(
        quantity=quantity, abs=nums.get("abs"), rel=nums.get("rel"), unit=raw["unit"],
        source=raw["source"].strip(), confidence=raw["confidence"],
        applies_above=nums.get("applies_above"), of=raw.get("of", "set"), max=nums.get("max"),
        max_over=raw.get("max_over"), max_over_by=nums.get("max_over_by"),
        note=str(raw.get("note", "")).strip(), min=nums.get("min"),
        source_id=str(raw.get("source_id", "")).strip(),
    )


def parse_limits(data: Mapping[str, Any] | TomlFile, where: str) -> LimitSet:
    """Validate a limits document: a :class:`~ventbench.tomlfile.TomlFile` (errors with
    lines) or one already parsed (e.g. frozen in a session); ``where`` names it in errors."""
    toml = data if isinstance(data, TomlFile) else TomlFile.of_data(dict(data), where)
    data = toml.data
    unknown = sorted(set(data) - {"limits", "tolerances"})
    if unknown:
        raise toml.error(unknown[0], "unknown table (expected [limits], [tolerances.*])", unknown[0])
    if not isinstance(data.get("limits"), dict):
        raise ConfigError(f"{where}: [limits]: missing table")
    head = check_table(toml, data["limits"], _LIMITS_KEYS, "limits", "limits")
    tols = data.get("tolerances", {})
    if not isinstance(tols, dict):
        raise toml.error("tolerances", "expected tables [tolerances.QUANTITY]", None, "tolerances")
    return LimitSet(
        id=head["id"], title=head["title"],
        tolerances={q: _tolerance(q, raw, toml) for q, raw in tols.items()},
        notes=tuple(head.get("notes", [])), base=head.get("base"), origin=where,
        device=str(head.get("device", "")),
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
        # imported here: ~4 ms (tempfile, random) that a measure-only analyze never needs
        from importlib import resources

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
    limit_set = parse_limits(TomlFile(text, where), where)
    if resolve_base and limit_set.base:
        if limit_set.base == limit_set.id:
            raise ConfigError(f"{where}: limits.base: a set cannot be its own base ({limit_set.base!r})")
        return load_limits(limit_set.base).overridden_by(limit_set)
    return limit_set
