"""A simulated CPAP / high-flow device with a breathing patient: the known truth for steady points.

The device (STANDARDS.md §2, CPAP and high-flow devices) is a flow generator (blower or
venturi) set to ``flow_lpm``, whose output rises as ``1 − exp(−t/tau_gen_s)``; oxygen from a
supply at ``supply_bar`` is entrained so the mixed gas holds ``fio2_pct``; a PEEP valve at
``cpap_cmh2o`` holds the circuit pressure, rising ``r_valve`` cmH2O per L/min through it; a
patient breathes sinusoidally (peak flow ``patient_peak_lpm`` at ``patient_rate_bpm``) through
a circuit of resistance ``r_circuit`` cmH2O per L/min. With ``q_p(t)`` the patient's flow::

    Q(t)      = Q_eff · (1 − e^(−t/τ_gen))                        mixed flow, L/min
    flow(t)   = Q(t) + 0.05 · q_p(t)                              generator output, L/min
    paw(t)    = cpap + r_valve · Q(t) − r_circuit · q_p(t)        patient port, cmH2O
    F         = fio2 − (fio2_low_pct if flow ≥ fio2_low_above_lpm)  delivered FiO2, %
    o2(t)     = Q(t) · (F − 20.9) / (100 − 20.9)                  O2 drawn, L/min
    fio2(t)   = F + (20.9 − F) · e^(−t/τ_o2)                      the O2 cell's reading, %
    supply(t) = supply_bar − supply_droop · o2(t)                 O2 supply, bar

A seeded defect (``fio2_low_pct``, default 0) makes FiO2 low at high flow — the demo's
"FiO2 4 % low at ≥ 80 L/min". Sensor noise is drawn in blocks of samples by absolute index
from ``[seed, channel, block]``, so a trace does not depend on how it is chunked.
:meth:`CpapModel.truth` gives every channel noise-free; :meth:`CpapModel.steady` the levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import Trace
from ventbench.errors import ConfigError

AIR_O2_PCT = 20.9
NOISE_BLOCK = 8192
#: channel key (Trace name) -> noise SD key
CHANNELS = ("flow_lpm", "paw_cmh2o", "fio2_pct", "o2_flow_lpm", "supply_bar")


@dataclass(frozen=True)
class CpapSettings:
    """The device's settings, the patient, the sensors and the seeded defect (units in names)."""

    flow_lpm: float = 40.0
    fio2_pct: float = 40.0
    cpap_cmh2o: float = 10.0
    supply_bar: float = 4.0
    tau_gen_s: float = 1.5
    r_valve: float = 0.002  #: cmH2O per L/min through the PEEP valve
    r_circuit: float = 0.03  #: cmH2O per L/min of patient flow
    patient_peak_lpm: float = 20.0
    patient_rate_bpm: float = 12.0
    supply_droop: float = 0.002  #: bar per L/min of O2
    tau_o2_s: float = 4.0  #: the O2 cell's time constant
    fio2_low_pct: float = 0.0  #: defect: FiO2 this much low …
    fio2_low_above_lpm: float = 80.0  #: … at flows at or above this
    flow_error_rel: float = 0.0  #: defect: generator flow off by this fraction
    noise_flow_lpm: float = 0.3
    noise_paw_cmh2o: float = 0.05
    noise_fio2_pct: float = 0.2
    noise_o2_lpm: float = 0.05
    noise_supply_bar: float = 0.005

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not math.isfinite(v):
                raise ConfigError(f"cpap simulation: {f.name} = {v!r} is not finite")
        if not AIR_O2_PCT <= self.fio2_pct <= 100.0:
            raise ConfigError(f"cpap simulation: fio2_pct = {self.fio2_pct:g}: expected {AIR_O2_PCT} … 100")
        if self.flow_lpm < 0 or self.tau_gen_s <= 0 or self.tau_o2_s <= 0 or self.patient_rate_bpm < 0:
            raise ConfigError("cpap simulation: flow_lpm, patient_rate_bpm ≥ 0 and tau_gen_s, tau_o2_s > 0 expected")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CpapSettings:
        """From string or number parameters (``sim://`` query, a protocol point's set); others ignored."""
        names = {f.name for f in fields(cls)}
        kw = {}
        for k, v in params.items():
            if k in names and v is not None and v != "":
                try:
                    kw[k] = float(v)
                except (TypeError, ValueError):
                    raise ConfigError(f"cpap simulation: {k} = {v!r} is not a number") from None
        return cls(**kw)


class CpapModel:
    """Closed-form device + patient signals (see module doc); chunk-independent noise."""

    def __init__(self, settings: CpapSettings, fs_hz: float = 100.0, seed: int = 0) -> None:
        if not fs_hz > 0:
            raise ConfigError(f"cpap simulation: fs_hz = {fs_hz!r}: expected > 0")
        self.s, self.fs_hz, self.seed = settings, float(fs_hz), int(seed)
        self._k = 0

    # -- truth -------------------------------------------------------------------------
    def steady(self) -> dict[str, float]:
        """Levels once settled: mixed flow, FiO2 delivered, O2 drawn (L/min), supply (bar),
        mean pressure over whole breaths and the pressure swing (cmH2O)."""
        s = self.s
        q = s.flow_lpm * (1.0 + s.flow_error_rel)
        f = self.delivered_fio2_pct()
        o2 = q * (f - AIR_O2_PCT) / (100.0 - AIR_O2_PCT)
        return {"flow": q, "fio2": f, "o2_flow": o2, "supply_p": s.supply_bar - s.supply_droop * o2,
                "paw": s.cpap_cmh2o + s.r_valve * q,
                "paw_swing": 2.0 * s.r_circuit * s.patient_peak_lpm if s.patient_rate_bpm > 0 else 0.0}

    def delivered_fio2_pct(self) -> float:
        s = self.s
        low = s.fio2_low_pct if s.flow_lpm >= s.fio2_low_above_lpm else 0.0
        return max(AIR_O2_PCT, s.fio2_pct - low)

    def truth(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Every channel, noise-free, at times ``t_s`` (s since the device started)."""
        s = self.s
        t = np.asarray(t_s, dtype=float)
        q = s.flow_lpm * (1.0 + s.flow_error_rel) * -np.expm1(-t / s.tau_gen_s)
        qp = s.patient_peak_lpm * np.sin(2.0 * np.pi * s.patient_rate_bpm / 60.0 * t)
        f = self.delivered_fio2_pct()
        o2 = q * (f - AIR_O2_PCT) / (100.0 - AIR_O2_PCT)
        return {"flow_lpm": q + 0.05 * qp, "paw_cmh2o": s.cpap_cmh2o + s.r_valve * q - s.r_circuit * qp,
                "fio2_pct": f + (AIR_O2_PCT - f) * np.exp(-t / s.tau_o2_s), "o2_flow_lpm": o2,
                "supply_bar": s.supply_bar - s.supply_droop * o2}

    # -- samples -----------------------------------------------------------------------
    def _noise(self, k: np.ndarray, channel: int, sd: float) -> np.ndarray:
        if sd == 0 or k.size == 0:
            return np.zeros(k.size)
        out = np.empty(k.size)
        blocks = k // NOISE_BLOCK
        for b in np.unique(blocks):
            draw = np.random.default_rng([self.seed, channel, int(b)]).standard_normal(NOISE_BLOCK)
            sel = blocks == b
            out[sel] = draw[k[sel] - b * NOISE_BLOCK]
        return sd * out

    def samples(self, k: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sample times (s, sample k at (k + 1)/fs) and every channel with sensor noise."""
        k = np.asarray(k, dtype=np.int64)
        t = (k + 1) / self.fs_hz
        true = self.truth(t)
        s = self.s
        sds = (s.noise_flow_lpm, s.noise_paw_cmh2o, s.noise_fio2_pct, s.noise_o2_lpm, s.noise_supply_bar)
        return t, {name: true[name] + self._noise(k, i, sd) for i, (name, sd) in enumerate(zip(CHANNELS, sds,
                                                                                                  strict=True))}

    def advance(self, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The next ``n`` samples (times and channels)."""
        k = np.arange(self._k, self._k + int(n), dtype=np.int64)
        self._k += int(n)
        return self.samples(k)

    def trace(self, duration_s: float, *, drop: tuple[float, float] | None = None) -> Trace:
        """A :class:`Trace` of ``duration_s`` (flow at BTPS: the model's flows are patient-side),
        optionally with the samples in ``drop = (t0, t1)`` left out (a gap)."""
        n = int(round(duration_s * self.fs_hz))
        t, ch = self.samples(np.arange(n))
        keep = np.ones(n, dtype=bool) if drop is None else ~((t >= drop[0]) & (t < drop[1]))
        extra = {k: v[keep] for k, v in ch.items() if k not in ("flow_lpm", "paw_cmh2o")}
        return Trace(t[keep], ch["flow_lpm"][keep], ch["paw_cmh2o"][keep], GasCondition.BTPS, channels=extra,
                     meta={"simulator": "cpap", "seed": self.seed})
