"""The instrument register (``--instruments FILE``): identity, calibration certificates, uncertainties.

A TOML file, one ``[[instrument]]`` per instrument::

    [[instrument]]
    name = "flow analyser"
    model = "PF-300"
    serial = "3012345"
    firmware = "4.2.1"
    port = "reference"          # reference | dut | none: whose reported identity must match
    channel = "flow"            # optional: a channel of that port's reported identity
    certificate = "CAL-2026-0042"
    lab = "National calibration laboratory"
    calibrated = 2026-01-10     # TOML date or "YYYY-MM-DD"
    due = 2027-01-10

    [[instrument.uncertainty]]  # per quantity (and range): the certificate's expanded U
    quantity = "flow"           # flow | pressure | time | fio2 | t_amb | p_amb | rh | mains_v | mains_hz
    unit = "L/min"
    rel = 0.02                  # fraction of the reading
    abs = 0.1                   # in unit
    k = 2                       # certificate; or datasheet = true (rectangular half-width, no k)
    resolution = 0.01
    range = [0.5, 200]          # optional, readings in unit

Every error is one line naming the file, the entry and the field (exit 3). The register is
frozen into ``start.json`` (:meth:`Register.to_json`); :func:`traceability_problems` checks
it against the identity the instruments report in each capture and the session date.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from ventbench.analysis.uncertainty import MEASURAND_UNITS, Accuracy, ReferenceSpec
from ventbench.errors import ConfigError
from ventbench.tomlfile import TomlFile
from ventbench.units import PRESSURE_TO_CMH2O

PORTS = ("reference", "dut", "none")
#: quantity -> {unit: factor to the canonical unit}
UNITS: dict[str, dict[str, float]] = {
    "flow": {"l/min": 1.0, "lpm": 1.0},
    "pressure": dict(PRESSURE_TO_CMH2O),
    "time": {"s": 1.0, "ms": 0.001},
    "fio2": {"%": 1.0},
    "t_amb": {"°c": 1.0, "degc": 1.0, "c": 1.0},
    "p_amb": {"hpa": 1.0, "mbar": 1.0, "kpa": 10.0},
    "rh": {"%": 1.0},
    "mains_v": {"v": 1.0},
    "mains_hz": {"hz": 1.0},
}
CANONICAL = {**MEASURAND_UNITS, "t_amb": "°C", "p_amb": "hPa", "rh": "%", "mains_v": "V", "mains_hz": "Hz"}
_REQUIRED = ("name", "model", "serial", "firmware", "certificate", "lab", "calibrated", "due")


@dataclass(frozen=True)
class Uncertainty:
    quantity: str
    rel: float
    abs: float  #: canonical unit
    k: float | None  #: None: data sheet (rectangular)
    resolution: float
    range: tuple[float, float] | None = None

    def standard(self, reading: float) -> float:
        """Standard uncertainty at ``reading`` (canonical unit)."""
        return (self.rel * abs(reading) + self.abs) / (self.k if self.k is not None else math.sqrt(3.0))


@dataclass(frozen=True)
class Instrument:
    name: str
    model: str
    serial: str
    firmware: str
    certificate: str
    lab: str
    calibrated: str  #: ISO date
    due: str  #: ISO date
    port: str = "reference"
    channel: str = ""
    uncertainty: tuple[Uncertainty, ...] = ()

    def source(self) -> str:
        return f"{self.name} {self.serial}, certificate {self.certificate} ({self.lab}, {self.calibrated})"


@dataclass(frozen=True)
class Register:
    path: str
    instruments: tuple[Instrument, ...] = field(default_factory=tuple)
    sha256: str = ""  #: of the file's bytes

    def reference(self) -> ReferenceSpec | None:
        """The measurands' accuracies for the budget (instruments on any port but the DUT's)."""
        accs = []
        for inst in self.instruments:
            if inst.port == "dut":
                continue
            for u in inst.uncertainty:
                if u.quantity in MEASURAND_UNITS:
                    how = "certificate" if u.k is not None else "data sheet"
                    accs.append(Accuracy(u.quantity, u.rel, u.abs, u.k, u.resolution,
                                         f"{inst.name} {inst.serial}, {how} {inst.certificate}", u.range))
        if not accs:
            return None
        return ReferenceSpec(", ".join(i.name for i in self.instruments), tuple(accs))

    def ambient(self, quantity: str) -> tuple[Instrument, Uncertainty] | None:
        """The instrument that measures an ambient quantity (t_amb, p_amb, rh, mains_v, mains_hz)."""
        for inst in self.instruments:
            for u in inst.uncertainty:
                if u.quantity == quantity:
                    return inst, u
        return None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "instruments": [asdict(i) for i in self.instruments]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Register:
        insts = []
        for raw in data.get("instruments") or []:
            raw = dict(raw)
            raw["uncertainty"] = tuple(Uncertainty(**{**u, "range": tuple(u["range"]) if u.get("range") else None})
                                       for u in raw.get("uncertainty") or [])
            insts.append(Instrument(**raw))
        return cls(str(data.get("path", "")), tuple(insts), str(data.get("sha256", "")))


def _date(value: Any, where: str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"{where}: expected a date YYYY-MM-DD, found {value!r}") from None


def _number(raw: dict, key: str, where: str, *, positive: bool = False, default: float | None = None) -> float:
    if key not in raw:
        if default is not None:
            return default
        raise ConfigError(f"{where}: {key}: missing")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key}: expected a number, found {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{where}: {key}: expected > 0, found {value!r}")
    if value < 0:
        raise ConfigError(f"{where}: {key}: expected ≥ 0 (an uncertainty is never negative), found {value!r}")
    return float(value)


def _uncertainty(raw: Any, where: str) -> Uncertainty:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    quantity = raw.get("quantity")
    if quantity not in UNITS:
        raise ConfigError(f"{where}: quantity: expected one of {', '.join(UNITS)}, found {quantity!r}")
    unit = str(raw.get("unit", CANONICAL[quantity]))
    factor = UNITS[quantity].get(unit.strip().lower().replace(" ", ""))
    if factor is None:
        raise ConfigError(f"{where}: unit: {unit!r} is not a unit of {quantity} "
                          f"(expected one of {', '.join(UNITS[quantity])})")
    datasheet = raw.get("datasheet", False)
    if "k" in raw and datasheet:
        raise ConfigError(f"{where}: k: a data-sheet accuracy has no coverage factor (remove k or datasheet)")
    if "k" not in raw and not datasheet:
        raise ConfigError(f"{where}: k: missing (a certificate's coverage factor; datasheet = true for a "
                          f"data-sheet accuracy)")
    k = None if datasheet else _number(raw, "k", where, positive=True)
    rng = raw.get("range")
    if rng is not None:
        if (not isinstance(rng, list) or len(rng) != 2 or not all(isinstance(v, int | float) for v in rng)
                or rng[0] > rng[1]):
            raise ConfigError(f"{where}: range: expected [low, high] in {unit}, found {rng!r}")
        rng = (float(rng[0]) * factor, float(rng[1]) * factor)
    unknown = set(raw) - {"quantity", "unit", "rel", "abs", "k", "datasheet", "resolution", "range"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    return Uncertainty(quantity, _number(raw, "rel", where), _number(raw, "abs", where) * factor, k,
                       _number(raw, "resolution", where) * factor, rng)


def parse_register(data: dict[str, Any], path: str) -> Register:
    """Validate a parsed register (see module doc); ConfigError naming file, entry and field."""
    entries = data.get("instrument")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[instrument]] entries")
    out = []
    for i, raw in enumerate(entries):
        where = f"{path}: instrument[{i + 1}]" + (f" {raw.get('name')!r}" if isinstance(raw.get("name"), str) else "")
        for key in _REQUIRED:
            if key not in raw:
                raise ConfigError(f"{where}: {key}: missing")
            if key not in ("calibrated", "due") and not isinstance(raw[key], str):
                raise ConfigError(f"{where}: {key}: expected text, found {raw[key]!r}")
        calibrated, due = _date(raw["calibrated"], f"{where}: calibrated"), _date(raw["due"], f"{where}: due")
        if due < calibrated:
            raise ConfigError(f"{where}: due: {due} is before the calibration date {calibrated}")
        port = raw.get("port", "reference")
        if port not in PORTS:
            raise ConfigError(f"{where}: port: expected one of {', '.join(PORTS)}, found {port!r}")
        uncs = tuple(_uncertainty(u, f"{where}: uncertainty[{j + 1}]") for j, u in enumerate(raw.get("uncertainty") or []))
        unknown = set(raw) - set(_REQUIRED) - {"port", "channel", "uncertainty"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        out.append(Instrument(raw["name"], raw["model"], raw["serial"], raw["firmware"], raw["certificate"],
                              raw["lab"], calibrated, due, port, str(raw.get("channel", "")), uncs))
    return Register(path, tuple(out))


def load_register(path: str | Path, label: str | None = None) -> Register:
    """Read and validate a register file (ConfigError: one line naming file, entry, field);
    ``label`` names it in records instead of its path (a built-in file)."""
    toml, raw = TomlFile.read(path, "instrument register", label)
    return replace(parse_register(toml.data, label or str(path)), sha256=hashlib.sha256(raw).hexdigest())


# -- what the instruments report, and whether it matches ---------------------------------------
def reported_identity(info: dict[str, Any]) -> dict[str, Any]:
    """The identity fields of a driver's handshake info (device and channels), for results."""
    def pick(d: dict[str, Any]) -> dict[str, Any]:
        out = {}
        serial = d.get("serial") or d.get("serial_number") or d.get("rig_id") or d.get("device_id")
        if serial:
            out["serial"] = str(serial)
        for key, names in (("firmware", ("firmware",)), ("model", ("model", "protocol")),
                           ("calibrated", ("calibrated", "last_calibration", "calibration_date"))):
            value = next((d[n] for n in names if d.get(n)), None)
            if value:
                out[key] = str(value)
        return out

    out = pick(info)
    channels = {str(c.get("name")): pick(c) for c in info.get("channels") or [] if isinstance(c, dict)}
    if channels:
        out["channels"] = channels
    return out


def traceability_problems(register: Register, reported: dict[str, dict[str, Any]], session_day: str) -> list[str]:
    """Why the register does not make the measurements traceable, on ``session_day`` (ISO
    date), given each port's reported identity (:func:`reported_identity`); [] when it does."""
    problems = []
    for inst in register.instruments:
        if inst.due < session_day:
            problems.append(f"not traceable: certificate {inst.certificate} of {inst.name!r} expired on {inst.due}")
        if inst.calibrated > session_day:
            problems.append(f"not traceable: certificate {inst.certificate} of {inst.name!r} is dated "
                            f"{inst.calibrated}, after the session ({session_day})")
        if inst.port == "none" or inst.port not in reported:
            continue
        ident = reported[inst.port]
        where = f"{inst.port} port"
        if inst.channel:
            ident = (ident.get("channels") or {}).get(inst.channel)
            where += f" channel {inst.channel!r}"
            if ident is None:
                problems.append(f"not traceable: {inst.name!r}: the {where} is not reported by the instrument")
                continue
        if not ident.get("serial"):
            problems.append(f"not traceable: {inst.name!r}: the {where} reports no serial number "
                            f"(register: {inst.serial})")
        elif ident["serial"] != inst.serial:
            problems.append(f"not traceable: {inst.name!r}: the {where} reports serial {ident['serial']}, "
                            f"the register {inst.serial}")
        if ident.get("firmware") and inst.firmware and ident["firmware"] != inst.firmware:
            problems.append(f"not traceable: {inst.name!r}: the {where} reports firmware {ident['firmware']}, "
                            f"the register {inst.firmware}")
        if ident.get("calibrated") and ident["calibrated"] != inst.calibrated:
            problems.append(f"not traceable: {inst.name!r}: the {where} reports calibration "
                            f"{ident['calibrated']}, the certificate {inst.calibrated}")
    return problems
