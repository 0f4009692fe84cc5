"""Reference-instrument accuracy and the measurement uncertainty it gives a check.

An instrument's accuracy "±(r % of reading + a)" is taken as the half-width of a rectangular
distribution (GUM 4.3.7, as is usual for a manufacturer's specification without a stated
confidence level): u = half-width/√3, expanded U = k·u with k = 2. Half-widths per quantity:

- volume ``V = ∫ flow dt`` over the phase of duration T (Ti for VTi, Te for VTe): the relative
  flow term is a gain error, fully correlated over the breath → ``r·|V|``; the absolute flow
  term is an offset, also taken as fully correlated over the phase → ``a_lpm·1000/60·T`` mL.
  Both are worst cases (an offset that varies within the breath partly cancels).
- pressure: ``r·|p| + a_cmh2o``. Times (Ti, Te): ``a_s``. Rate: ``rate²·a_s/60`` (from the
  period). I:E = Te/Ti: ``ie·(a_s/Te + a_s/Ti)``. FiO2: ``r·|x| + a_pct``.

The instrument's errors are systematic, so U of a mean is *not* reduced by √n: it is the U at
the mean reading. The uncertainty of the analysis itself (sampling, segmentation) is not
included; DESIGN.md requires it to be ≤ 1/10 of the limits, shown separately against truth.

Used by the ``guarded`` decision rule of :mod:`analysis.checks` (and reported with every
check when the rule names an instrument).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ventbench.analysis.tolerance import QUANTITY_UNITS
from ventbench.errors import ConfigError
from ventbench.units import ML_PER_S_PER_LPM


@dataclass(frozen=True)
class InstrumentAccuracy:
    """Reference-instrument accuracy, as specified "±(rel × reading + abs)" (see module doc).

    Example: a flow analyser at ±(1.75 % of reading + 0.1 L/min) is
    ``InstrumentAccuracy(flow_rel=0.0175, flow_abs_lpm=0.1)``.
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

    def half_width(self, quantity: str, x: np.ndarray, ti_s: np.ndarray, te_s: np.ndarray) -> np.ndarray:
        """Half-width of the instrument's error for readings ``x`` of ``quantity`` (its unit)."""
        x = np.abs(np.asarray(x, dtype=float))
        if quantity in ("vt", "vte"):
            t = ti_s if quantity == "vt" else te_s
            return self.flow_rel * x + self.flow_abs_lpm * ML_PER_S_PER_LPM * np.asarray(t, float)
        if QUANTITY_UNITS.get(quantity) == "cmH2O":
            return self.pressure_rel * x + self.pressure_abs_cmh2o
        if quantity in ("ti", "te"):
            return np.full_like(x, self.time_abs_s)
        if quantity == "rate":
            return x**2 * self.time_abs_s / 60.0
        if quantity == "ie":
            return x * (self.time_abs_s / np.asarray(te_s, float) + self.time_abs_s / np.asarray(ti_s, float))
        if quantity == "fio2":
            return self.fio2_rel * x + self.fio2_abs_pct
        return np.full_like(x, np.nan)

    def expanded(self, quantity: str, x, ti_s, te_s) -> np.ndarray:
        """Expanded uncertainty U = k · half-width / √3 (rectangular), in the quantity's unit."""
        return self.k * self.half_width(quantity, x, ti_s, te_s) / math.sqrt(3.0)
