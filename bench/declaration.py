"""The device declaration (``--declaration FILE``): the manufacturer's disclosed accuracy, the first source of limits.

ISO 80601-2-12 has the manufacturer disclose the accuracy the test then verifies; the
protocol's typical limits (secondary sources) are only the fallback. A TOML file::

    [device]
    name = "Prototype V1"
    manufacturer = "…"          # optional
    model = "…"                 # optional
    serial = "SN-0001"
    firmware = "1.4.2"          # optional
    document = "Instructions for use rev 3, §12.4"

    [[accuracy]]                # per quantity and (optionally) range of set values
    quantity = "vt"
    abs = 4.0
    rel = 0.10                  # fraction of the set value (or of the reading: of = "actual")
    unit = "mL"
    range = [50, 2000]          # set values, in unit; optional
    source = "table 12-3"       # optional, added to the document

For each point, :meth:`Declaration.limits_for` takes the first declared entry whose range
holds the point's set value, else the protocol's limit, and says which applied per quantity.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ventbench.analysis.checks import QUANTITY_FIELDS, derive_set_values
from ventbench.analysis.tolerance import LimitSet, Tolerance, unit_factor
from ventbench.errors import ConfigError
from ventbench.tomlfile import TomlFile

_DEVICE_REQUIRED = ("name", "serial", "document")
_DEVICE_OPTIONAL = ("manufacturer", "model", "firmware")
_ACC_KEYS = {"quantity", "abs", "rel", "unit", "range", "of", "source"}


@dataclass(frozen=True)
class Declared:
    quantity: str
    abs: float
    rel: float
    unit: str
    range: tuple[float, float] | None = None
    of: str = "set"
    source: str = ""

    def covers(self, set_value: float | None) -> bool:
        if self.range is None:
            return True
        if set_value is None:
            return False
        lo, hi = (v * unit_factor(self.quantity, self.unit) for v in self.range)
        return lo <= abs(set_value) <= hi


@dataclass(frozen=True)
class Declaration:
    path: str
    device: dict[str, str]
    accuracy: tuple[Declared, ...]
    sha256: str = ""  #: of the file's bytes

    def limits_for(self, set_values: dict[str, Any], mode: str, base: LimitSet
                   ) -> tuple[LimitSet, dict[str, str]]:
        """The limits of one point: declared entries first (by range), ``base`` for the rest;
        and per quantity which applied ("declared: …" or "protocol: …")."""
        sets = derive_set_values(set_values, mode)
        chosen: dict[str, Tolerance] = {}
        applied: dict[str, str] = {}
        for entry in self.accuracy:
            if entry.quantity in chosen:
                continue
            set_value = sets.get(QUANTITY_FIELDS[entry.quantity][1])
            if entry.covers(set_value):
                rng = f", range {entry.range[0]:g}–{entry.range[1]:g} {entry.unit}" if entry.range else ""
                src = f"declared by the manufacturer: {self.device['document']}" + (
                    f", {entry.source}" if entry.source else "")
                chosen[entry.quantity] = Tolerance(entry.quantity, entry.abs, entry.rel, entry.unit, src + rng,
                                                   "confirmed", of=entry.of,
                                                   note="the manufacturer's disclosed accuracy (first source)")
                applied[entry.quantity] = f"declared ({self.device['document']}{rng})"
        for quantity in base.tolerances:
            applied.setdefault(quantity, f"protocol ({base.id})")
        if not chosen:
            return base, applied
        own = LimitSet(id="declaration", title=f"declared accuracy of {self.device['name']}", tolerances=chosen,
                       origin=self.path, device=self.device["name"])
        return base.overridden_by(own), applied

    def identity_problems(self, dut: dict[str, Any]) -> list[str]:
        """Mismatches between the declared device and the device tested (its serial, firmware)."""
        problems = []
        for key in ("serial", "firmware"):
            declared, tested = self.device.get(key), str(dut.get(key) or "")
            if declared and tested and declared != tested:
                problems.append(f"declaration {self.path} is for {key} {declared}, the device tested has {tested}")
        return problems

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "device": dict(self.device),
                "accuracy": [asdict(a) for a in self.accuracy]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Declaration:
        return cls(str(data["path"]), dict(data["device"]), tuple(
            Declared(**{**a, "range": tuple(a["range"]) if a.get("range") else None}) for a in data["accuracy"]),
            str(data.get("sha256", "")))


def _num(raw: dict, key: str, where: str) -> float:
    if key not in raw:
        raise ConfigError(f"{where}: {key}: missing")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key}: expected a number, found {value!r}")
    if value < 0:
        raise ConfigError(f"{where}: {key}: expected ≥ 0, found {value!r}")
    return float(value)


def parse_declaration(data: dict[str, Any], path: str) -> Declaration:
    """Validate a parsed declaration; ConfigError naming the file, the entry and the field."""
    device = data.get("device")
    if not isinstance(device, dict):
        raise ConfigError(f"{path}: [device]: missing (the declared device's identity)")
    for key in _DEVICE_REQUIRED:
        if not isinstance(device.get(key), str) or not device[key]:
            raise ConfigError(f"{path}: device: {key}: missing or not text")
    unknown = set(device) - set(_DEVICE_REQUIRED) - set(_DEVICE_OPTIONAL)
    if unknown:
        raise ConfigError(f"{path}: device: unknown key {sorted(unknown)[0]!r}")
    entries = data.get("accuracy")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[accuracy]] entries")
    out = []
    for i, raw in enumerate(entries):
        where = f"{path}: accuracy[{i + 1}]"
        quantity = raw.get("quantity")
        if quantity not in QUANTITY_FIELDS:
            raise ConfigError(f"{where}: quantity: expected one of {', '.join(QUANTITY_FIELDS)}, found {quantity!r}")
        where += f" {quantity!r}"
        unit = raw.get("unit")
        if not isinstance(unit, str):
            raise ConfigError(f"{where}: unit: missing")
        try:
            unit_factor(quantity, unit)
        except KeyError as error:
            raise ConfigError(f"{where}: unit: {error.args[0]}") from None
        rng = raw.get("range")
        if rng is not None and (not isinstance(rng, list) or len(rng) != 2
                                or not all(isinstance(v, int | float) for v in rng) or rng[0] > rng[1]):
            raise ConfigError(f"{where}: range: expected [low, high] set values in {unit}, found {rng!r}")
        of = raw.get("of", "set")
        if of not in ("set", "actual"):
            raise ConfigError(f"{where}: of: expected 'set' or 'actual', found {of!r}")
        unknown = set(raw) - _ACC_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        out.append(Declared(quantity, _num(raw, "abs", where), _num(raw, "rel", where), unit,
                            tuple(float(v) for v in rng) if rng else None, of, str(raw.get("source", ""))))
    return Declaration(path, {k: str(v) for k, v in device.items()}, tuple(out))


def load_declaration(path: str | Path) -> Declaration:
    toml, raw = TomlFile.read(path, "device declaration")
    return replace(parse_declaration(toml.data, str(path)), sha256=hashlib.sha256(raw).hexdigest())
