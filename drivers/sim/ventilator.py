"""The simulated ventilator: settings, imperfections and the breath schedule.

Volume control (``mode="vc"``): the ventilator pushes a flow into the circuit during
``ti_s - pause_s`` — square (constant) or a decelerating ramp from a peak down to
``ramp_end_fraction`` of it — so that its outlet delivers ``vt_ml``; then, if ``pause_s > 0``,
both valves stay closed until ``ti_s`` (an inspiratory pause; ``ti_s`` includes it).

Pressure control (``mode="pc"``): the airway pressure rises linearly from PEEP to
``PEEP + dp_cmh2o`` in ``rise_time_s`` and is held until ``ti_s``; the flow is whatever the
lung takes (an exponential decay with τ = R·C).

Expiration (both modes): the exhalation valve holds the port at PEEP (an ideal threshold
valve); the lung empties passively through R.

The breath schedule is drawn breath by breath from its own random stream, so it does not
depend on how the samples are later requested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ventbench.errors import ConfigError


@dataclass(frozen=True)
class VentilatorSettings:
    """Set values of the simulated ventilator.

    Parameters
    ----------
    mode : {"vc", "pc"}
        Volume control or pressure control.
    vt_ml : float
        Set tidal volume (VC), mL, delivered at the ventilator outlet. Informative in PC.
    rate_bpm : float
        Set breath rate, breaths/min.
    ti_s : float
        Inspiratory time including any pause, s.
    peep_cmh2o : float
        Set PEEP, cmH2O.
    dp_cmh2o : float
        Inspiratory pressure above PEEP (PC), cmH2O.
    rise_time_s : float
        PC pressure rise time (linear ramp), s.
    flow_pattern : {"square", "ramp"}
        VC inspiratory flow shape.
    ramp_end_fraction : float
        VC ramp: end flow as a fraction of the peak flow (0 = down to zero).
    pause_s : float
        VC inspiratory pause at the end of ``ti_s``, s.
    fio2_pct : float or None
        Set FiO2, %; when given the simulation carries a ``fio2_pct`` channel.
    """

    mode: Literal["vc", "pc"] = "vc"
    vt_ml: float = 500.0
    rate_bpm: float = 20.0
    ti_s: float = 1.0
    peep_cmh2o: float = 5.0
    dp_cmh2o: float = 10.0
    rise_time_s: float = 0.05
    flow_pattern: Literal["square", "ramp"] = "square"
    ramp_end_fraction: float = 0.0
    pause_s: float = 0.0
    fio2_pct: float | None = None

    def __post_init__(self) -> None:
        mode = str(self.mode).lower()
        if mode not in ("vc", "pc"):
            raise ConfigError(f"ventilator mode {self.mode!r}: expected 'vc' or 'pc'")
        object.__setattr__(self, "mode", mode)
        if self.flow_pattern not in ("square", "ramp"):
            raise ConfigError(f"flow_pattern {self.flow_pattern!r}: expected 'square' or 'ramp'")
        if not self.rate_bpm > 0:
            raise ConfigError(f"rate {self.rate_bpm} bpm: expected > 0")
        if not 0 < self.ti_s < 60.0 / self.rate_bpm:
            raise ConfigError(
                f"ti {self.ti_s} s: expected 0 < ti < period {60.0 / self.rate_bpm:.3g} s"
            )
        if not 0 <= self.pause_s < self.ti_s:
            raise ConfigError(f"pause {self.pause_s} s: expected 0 ≤ pause < ti ({self.ti_s} s)")
        if mode == "pc" and not 0 <= self.rise_time_s <= self.ti_s:
            raise ConfigError(f"rise time {self.rise_time_s} s: expected 0 ≤ rise ≤ ti")
        if not 0 <= self.ramp_end_fraction <= 1:
            raise ConfigError(f"ramp_end_fraction {self.ramp_end_fraction}: expected 0…1")
        if mode == "vc" and not self.vt_ml > 0:
            raise ConfigError(f"vt {self.vt_ml} mL: expected > 0 in volume control")

    @property
    def period_s(self) -> float:
        """Nominal breath period, s."""
        return 60.0 / self.rate_bpm


@dataclass(frozen=True)
class Imperfections:
    """How the simulated ventilator misses its settings (all zero: a perfect ventilator).

    Parameters
    ----------
    vt_gain_pct, vt_offset_ml : float
        Delivered VT = set × (1 + gain/100) + offset (VC), % and mL.
    dp_gain_pct, dp_offset_cmh2o : float
        Delivered ΔP = set × (1 + gain/100) + offset (PC), % and cmH2O.
    peep_offset_cmh2o : float
        Delivered PEEP = set + offset, cmH2O.
    rate_error_pct : float
        Delivered rate = set × (1 + error/100), %.
    period_jitter_s : float
        Standard deviation of a random, independent per-breath period error, s.
    vt_drift_pct_per_h, dp_drift_pct_per_h : float
        Slow drift of the VT / ΔP gain, % of set per hour of running.
    peep_drift_cmh2o_per_h : float
        Slow drift of PEEP, cmH2O per hour.
    skip_probability : float
        Probability that a scheduled breath is not delivered (expiration continues).
    """

    vt_gain_pct: float = 0.0
    vt_offset_ml: float = 0.0
    dp_gain_pct: float = 0.0
    dp_offset_cmh2o: float = 0.0
    peep_offset_cmh2o: float = 0.0
    rate_error_pct: float = 0.0
    period_jitter_s: float = 0.0
    vt_drift_pct_per_h: float = 0.0
    dp_drift_pct_per_h: float = 0.0
    peep_drift_cmh2o_per_h: float = 0.0
    skip_probability: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.skip_probability < 1:
            raise ConfigError(f"skip_probability {self.skip_probability}: expected 0 ≤ p < 1")
        if not self.period_jitter_s >= 0:
            raise ConfigError(f"period_jitter_s {self.period_jitter_s}: expected ≥ 0")
        if not self.rate_error_pct > -100:
            raise ConfigError(f"rate_error_pct {self.rate_error_pct}: expected > -100")


@dataclass(frozen=True)
class BreathPlan:
    """One delivered breath as the ventilator executes it.

    ``period_s`` runs to the start of the next *delivered* breath (skipped breaths lengthen
    it; ``skipped_after`` counts them). Pressures in cmH2O, volume in mL.
    """

    index: int
    t_start_s: float
    period_s: float
    ti_s: float
    vt_ml: float
    dp_cmh2o: float
    peep_cmh2o: float
    skipped_after: int = 0

    @property
    def t_end_s(self) -> float:
        return self.t_start_s + self.period_s


class BreathScheduler:
    """Draws the delivered breaths one after another (deterministic for a seed).

    Parameters
    ----------
    settings : VentilatorSettings
    imperfections : Imperfections
    seed : int
        Seed of the schedule's own random stream.
    start_s : float
        Start time of the first breath, s.
    """

    def __init__(
        self, settings: VentilatorSettings, imperfections: Imperfections, seed: int, start_s: float
    ) -> None:
        self.settings = settings
        self.imp = imperfections
        self._rng = np.random.default_rng([int(seed), 0xB4EA7])
        self._t_next_s = float(start_s)
        self._index = 0

    def _nominal_period_s(self) -> float:
        s, imp = self.settings, self.imp
        period = 60.0 / (s.rate_bpm * (1.0 + imp.rate_error_pct / 100.0))
        if imp.period_jitter_s > 0:
            period += float(self._rng.normal(0.0, imp.period_jitter_s))
        # never shorter than Ti plus a minimal expiration
        return max(period, s.ti_s + min(0.1, 0.5 * s.ti_s))

    def next(self) -> BreathPlan:
        """The next delivered breath."""
        s, imp = self.settings, self.imp
        t_start = self._t_next_s
        t_h = t_start / 3600.0
        period = self._nominal_period_s()
        skipped = 0
        if imp.skip_probability > 0:
            while self._rng.random() < imp.skip_probability:
                skipped += 1
                period += self._nominal_period_s()
        vt = s.vt_ml * (1 + (imp.vt_gain_pct + imp.vt_drift_pct_per_h * t_h) / 100)
        vt += imp.vt_offset_ml
        dp = s.dp_cmh2o * (1 + (imp.dp_gain_pct + imp.dp_drift_pct_per_h * t_h) / 100)
        dp += imp.dp_offset_cmh2o
        peep = s.peep_cmh2o + imp.peep_offset_cmh2o + imp.peep_drift_cmh2o_per_h * t_h
        plan = BreathPlan(self._index, t_start, period, s.ti_s, vt, dp, peep, skipped)
        if s.mode == "vc" and not vt > 0:
            raise ConfigError(f"breath {self._index}: delivered VT {vt:.4g} mL is not positive")
        self._index += 1
        self._t_next_s = t_start + period
        if not math.isfinite(self._t_next_s):  # pragma: no cover - defensive
            raise ConfigError("breath schedule overflowed")
        return plan
