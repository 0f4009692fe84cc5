"""The reference instrument's accuracy per measurand, and the standard uncertainty it gives a check.

An accuracy is stated as ``±(rel × |reading| + abs)`` for one *measurand* the instrument
reads (flow L/min, pressure cmH2O, time s, FiO2 %), in one of two ways (GUM 4.3):

- from a **calibration certificate**: an expanded uncertainty with its coverage factor k
  → standard uncertainty ``(rel·|x| + abs) / k``;
- from a **data sheet** (no confidence level stated): the half-width of a rectangular
  distribution → ``(rel·|x| + abs) / √3``, marked "data sheet, rectangular" in the budget.

Propagation to the judged quantities (the same models as the worst-case half-widths before):

- volume ``V = ∫ flow dt`` over a phase of duration T (Ti for VTi, Te for VTe): the relative
  flow term is a gain error, fully correlated over the breath → ``rel·|V|``; the absolute
  flow term is an offset, also taken as fully correlated over the phase →
  ``abs_lpm·1000/60·T`` mL (both worst cases), times the gas-conversion factor.
- pressure ``rel·|p| + abs``; times ``rel·t + abs``; rate from the period T = 60/f:
  ``f²/60 · u(T)``; I:E = Te/Ti: ``ie·(u(Te)/Te + u(Ti)/Ti)``; FiO2 ``rel·|x| + abs``.

An accuracy may be stated for a range of the measurand; a volume's flow reading is its mean
flow over the phase, ``|V|/T · 60/1000`` L/min. :class:`InstrumentAccuracy` (a data-sheet
accuracy for every measurand at once) is kept for callers that state one instrument inline.
The budget that combines these with the other components is :mod:`analysis.budget`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ventbench.analysis.tolerance import QUANTITY_UNITS
from ventbench.errors import ConfigError
from ventbench.units import ML_PER_S_PER_LPM

#: Measurands an instrument reads, with the unit their abs term and resolution are in.
MEASURAND_UNITS = {"flow": "L/min", "pressure": "cmH2O", "time": "s", "fio2": "%"}


def measurand_of(quantity: str) -> str | None:
    """The measurand a judged quantity is derived from (vt → flow, peep → pressure …)."""
    if quantity in ("vt", "vte"):
        return "flow"
    if QUANTITY_UNITS.get(quantity) == "cmH2O":
        return "pressure"
    if quantity in ("ti", "te", "rate", "ie"):
        return "time"
    if quantity == "fio2":
        return "fio2"
    return None


@dataclass(frozen=True)
class Accuracy:
    """One measurand's accuracy ``±(rel·|reading| + abs)``.

    Parameters
    ----------
    measurand : str
        flow | pressure | time | fio2 (:data:`MEASURAND_UNITS`).
    rel : float
        Relative part, a fraction of the reading (0.02 = 2 %).
    abs : float
        Absolute part, in the measurand's unit.
    k : float or None
        Coverage factor of a certificate's expanded uncertainty; None for a data-sheet
        accuracy (half-width of a rectangular distribution).
    resolution : float
        Smallest step of the reading, measurand unit (0: not stated).
    source : str
        Where it comes from ("certificate C-17 (Lab X)", "data sheet rev 3").
    range : (float, float) or None
        Readings (measurand unit) the accuracy is stated for; None: all.
    """

    measurand: str
    rel: float
    abs: float
    k: float | None = None
    resolution: float = 0.0
    source: str = ""
    range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.measurand not in MEASURAND_UNITS:
            raise ConfigError(f"accuracy: measurand {self.measurand!r}: expected one of {', '.join(MEASURAND_UNITS)}")
        for key in ("rel", "abs", "resolution"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"accuracy of {self.measurand}: {key}: expected ≥ 0, found {value!r}")
        if self.k is not None and not (math.isfinite(self.k) and self.k > 0):
            raise ConfigError(f"accuracy of {self.measurand}: k: expected > 0, found {self.k!r}")

    @property
    def divisor(self) -> float:
        """k of a certificate, √3 of a data sheet (rectangular)."""
        return self.k if self.k is not None else math.sqrt(3.0)

    def covers(self, reading: np.ndarray) -> np.ndarray:
        """True where the reading lies in the stated range."""
        r = np.abs(np.asarray(reading, dtype=float))
        if self.range is None:
            return np.ones(r.shape, dtype=bool)
        return (r >= self.range[0]) & (r <= self.range[1])

    def describe(self) -> str:
        unit = MEASURAND_UNITS[self.measurand]
        form = f"±({self.rel * 100:g} % + {self.abs:g} {unit})"
        how = f"certificate, k = {self.k:g}" if self.k is not None else "data sheet, rectangular"
        return f"{form} ({how}{'; ' + self.source if self.source else ''})"


@dataclass(frozen=True)
class ReferenceSpec:
    """The reference instrument(s) of a session: at most one accuracy per measurand and range."""

    name: str
    accuracies: tuple[Accuracy, ...] = ()

    def for_measurand(self, measurand: str) -> tuple[Accuracy, ...]:
        return tuple(a for a in self.accuracies if a.measurand == measurand)


def _reading(quantity: str, x: np.ndarray, ti_s: np.ndarray, te_s: np.ndarray) -> np.ndarray:
    """The measurand reading behind a judged value (a volume's mean flow over its phase)."""
    if quantity in ("vt", "vte"):
        t = ti_s if quantity == "vt" else te_s
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.abs(x) / t / ML_PER_S_PER_LPM
    if quantity == "rate":
        with np.errstate(divide="ignore"):
            return 60.0 / np.abs(x)
    return np.abs(x)


def instrument_u(acc: Accuracy, quantity: str, x, ti_s, te_s, factor: float = 1.0) -> np.ndarray:
    """Standard uncertainty the accuracy ``acc`` gives readings ``x`` of ``quantity``
    (quantity's unit; NaN where the range does not cover the reading). ``factor`` is the
    gas-conversion factor applied to volumes."""
    x = np.abs(np.asarray(x, dtype=float))
    ti_s, te_s = np.asarray(ti_s, float), np.asarray(te_s, float)
    a, r = acc.abs, acc.rel
    if quantity in ("vt", "vte"):
        t = ti_s if quantity == "vt" else te_s
        half = r * x + a * ML_PER_S_PER_LPM * t * factor
    elif quantity == "rate":
        period = 60.0 / x
        half = x**2 / 60.0 * (r * period + a)
    elif quantity == "ie":
        half = x * ((r * te_s + a) / te_s + (r * ti_s + a) / ti_s)
    else:
        half = r * x + a
    u = half / acc.divisor
    return np.where(acc.covers(_reading(quantity, x, ti_s, te_s)), u, np.nan)


@dataclass(frozen=True)
class InstrumentAccuracy:
    """A data-sheet accuracy "±(rel × reading + abs)" for each measurand at once.

    Example: a flow analyser at ±(1.75 % of reading + 0.1 L/min) is
    ``InstrumentAccuracy(flow_rel=0.0175, flow_abs_lpm=0.1)``. ``k`` is the coverage factor
    the old single-number report used; the budget (:mod:`analysis.budget`) derives its own.
    """

    name: str = "reference instrument"
    flow_rel: float = 0.0
    flow_abs_lpm: float = 0.0
    pressure_rel: float = 0.0
    pressure_abs_cmh2o: float = 0.0
    time_abs_s: float = 0.0
    fio2_rel: float = 0.0
    fio2_abs_pct: float = 0.0
    k: float = 2.0

    def __post_init__(self) -> None:
        for key in ("flow_rel", "flow_abs_lpm", "pressure_rel", "pressure_abs_cmh2o",
                    "time_abs_s", "fio2_rel", "fio2_abs_pct", "k"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"instrument accuracy {self.name!r}: {key}: expected ≥ 0, found {value!r}")

    def as_reference(self) -> ReferenceSpec:
        """The same accuracy as data-sheet :class:`Accuracy` entries (rectangular)."""
        src = f"{self.name}: data sheet"
        return ReferenceSpec(self.name, (
            Accuracy("flow", self.flow_rel, self.flow_abs_lpm, None, 0.0, src),
            Accuracy("pressure", self.pressure_rel, self.pressure_abs_cmh2o, None, 0.0, src),
            Accuracy("time", 0.0, self.time_abs_s, None, 0.0, src),
            Accuracy("fio2", self.fio2_rel, self.fio2_abs_pct, None, 0.0, src),
        ))

    def half_width(self, quantity: str, x: np.ndarray, ti_s: np.ndarray, te_s: np.ndarray) -> np.ndarray:
        """Half-width of the instrument's error for readings ``x`` of ``quantity`` (its unit)."""
        measurand = measurand_of(quantity)
        if measurand is None:
            return np.full_like(np.asarray(x, float), np.nan)
        acc = next(a for a in self.as_reference().accuracies if a.measurand == measurand)
        return instrument_u(acc, quantity, x, ti_s, te_s) * acc.divisor

    def expanded(self, quantity: str, x, ti_s, te_s) -> np.ndarray:
        """U = k · half-width / √3 (rectangular), in the quantity's unit."""
        return self.k * self.half_width(quantity, x, ti_s, te_s) / math.sqrt(3.0)
