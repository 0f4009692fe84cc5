"""The environment record: ambient temperature, humidity, pressure and mains at start and end.

Each value says where it came from: ``measured`` (reported by an instrument at handshake),
``entered`` (a CLI flag or the operator), ``defaulted`` (nobody gave it: the conventional
value, with a large uncertainty) or ``not recorded``. Its standard uncertainty is the
register's instrument for that quantity when there is one (a thermo-hygrometer's
certificate), else :data:`ENTERED_U` for an entered value and :data:`DEFAULT_U` for a
defaulted one; the budget's gas-conversion term uses the start values' (:func:`ambient_u`).

The protocol's ``[protocol.environment]`` gives allowed ranges; a measured or entered value
outside its range is a problem that makes every verdict INCONCLUSIVE. A defaulted or missing
value cannot show that the range was met: the record says "not verified", as a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ventbench.analysis.budget import AmbientUncertainty
from ventbench.bench.instruments import Register
from ventbench.errors import ConfigError


@dataclass(frozen=True)
class Quantity:
    label: str
    unit: str
    register_key: str  #: the quantity name in the instrument register
    default: float | None
    default_u: float
    entered_u: float


QUANTITIES = {
    "t_amb_degc": Quantity("temperature", "°C", "t_amb", 22.0, 3.0, 0.5),
    "rh_pct": Quantity("relative humidity", "%", "rh", None, 30.0, 5.0),
    "p_amb_hpa": Quantity("ambient pressure", "hPa", "p_amb", 1013.25, 30.0, 2.0),
    "mains_v": Quantity("mains voltage", "V", "mains_v", None, 0.0, 2.0),
    "mains_hz": Quantity("mains frequency", "Hz", "mains_hz", None, 0.0, 0.1),
}
SOURCES = ("measured", "entered", "defaulted", "not recorded")


def value_record(name: str, value: float | None, source: str, register: Register | None, by: str = "") -> dict[str, Any]:
    """One value: ``{value, unit, source, u, by}`` (u: standard uncertainty, see module doc)."""
    q = QUANTITIES[name]
    if value is None:
        return {"value": None, "unit": q.unit, "source": "not recorded", "u": None, "by": by}
    found = register.ambient(q.register_key) if register is not None and source != "defaulted" else None
    if found is not None:
        inst, unc = found
        u, by = unc.standard(value), f"{inst.name} {inst.serial} (certificate {inst.certificate})"
    else:
        u = q.entered_u if source in ("entered", "measured") else q.default_u
    return {"value": float(value), "unit": q.unit, "source": source, "u": u, "by": by}


def phase_record(entered: dict[str, float | None], register: Register | None, by: str = "operator",
                 defaults: bool = True) -> dict[str, dict[str, Any]]:
    """Every quantity of one phase (start or end) from the values entered (None: not given)."""
    out = {}
    for name, q in QUANTITIES.items():
        value = entered.get(name)
        if value is not None:
            out[name] = value_record(name, value, "entered", register, by)
        elif defaults and q.default is not None:
            out[name] = value_record(name, q.default, "defaulted", register, "convention")
        else:
            out[name] = value_record(name, None, "not recorded", register)
    return out


def with_measured(phase: dict[str, dict[str, Any]], info: dict[str, Any], register: Register | None,
                  instrument: str) -> dict[str, dict[str, Any]]:
    """``phase`` with the values an instrument reported (``info`` keys as QUANTITIES) as measured."""
    out = dict(phase)
    for name in QUANTITIES:
        value = info.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value_record(name, float(value), "measured", register, instrument)
    return out


def parse_ranges(raw: Any, where: str) -> dict[str, tuple[float, float]]:
    """``[protocol.environment]``: ``name = [low, high]`` per quantity."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: protocol.environment: expected a table of [low, high] ranges")
    out = {}
    for name, rng in raw.items():
        if name not in QUANTITIES:
            raise ConfigError(f"{where}: protocol.environment.{name}: unknown quantity "
                              f"(expected one of {', '.join(QUANTITIES)})")
        if (not isinstance(rng, list) or len(rng) != 2 or not all(isinstance(v, int | float) for v in rng)
                or rng[0] > rng[1]):
            raise ConfigError(f"{where}: protocol.environment.{name}: expected [low, high], found {rng!r}")
        out[name] = (float(rng[0]), float(rng[1]))
    return out


def evaluate(start: dict[str, Any], end: dict[str, Any] | None, ranges: dict[str, Any]) -> dict[str, Any]:
    """The results ``environment`` block: both phases, the ranges, problems (→ INCONCLUSIVE), notes."""
    problems, notes = [], []
    phases = {"start": start, "end": end or {}}
    for phase, values in phases.items():
        for name, (lo, hi) in ranges.items():
            q = QUANTITIES[name]
            rec = values.get(name) or {"value": None, "source": "not recorded"}
            if rec.get("source") in ("measured", "entered"):
                if not (lo <= rec["value"] <= hi):
                    problems.append(f"environment out of range: {q.label} {rec['value']:g} {q.unit} at {phase} "
                                    f"({rec['source']}) outside {lo:g}–{hi:g} {q.unit} (protocol)")
            else:
                notes.append(f"{q.label} at {phase} {rec.get('source')}: range {lo:g}–{hi:g} {q.unit} not verified")
    return {"start": start, "end": end, "ranges": {k: list(v) for k, v in ranges.items()},
            "problems": problems, "notes": notes}


def ambient_u(start: dict[str, Any]) -> AmbientUncertainty:
    """Standard uncertainties of the start's ambient values, for the budget's gas term."""
    def u(name: str) -> float:
        rec = start.get(name) or {}
        return float(rec["u"]) if rec.get("u") is not None else QUANTITIES[name].default_u

    text = ", ".join(f"{QUANTITIES[n].label} {(start.get(n) or {}).get('source', 'not recorded')}"
                     for n in ("t_amb_degc", "p_amb_hpa", "rh_pct"))
    return AmbientUncertainty(u("t_amb_degc"), u("p_amb_hpa"), u("rh_pct"), text)
