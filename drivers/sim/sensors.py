"""The simulated flow and pressure sensors at the patient port.

The chain, applied to the true (BTPS, lag-free) signal on the internal grid::

    first-order lag → box-car mean over ``oversample`` sub-samples (1 = instantaneous
    sampling) → gas condition (flow only) → gain → offset + drift → noise → quantisation
    → clip at range (SATURATED) → fault periods (FAULT: NaN, STALE: held, GAP: dropped)

The gas condition: the true flow is BTPS at the patient; a sensor reporting at condition X
reports ``Q_BTPS / conversion_factor(X, BTPS, ambient)`` (an STP20 sensor at 22 °C reads
about 11 % low).

Noise is drawn in fixed blocks of samples, each from its own seed (``[seed, channel,
block]``), and the lag state is carried, so the samples do not depend on how a caller
chunks its requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.signal import lfilter

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.trace import SampleFlag
from ventbench.errors import ConfigError

NOISE_BLOCK = 8192


@dataclass(frozen=True)
class SensorFault:
    """A period during which a sensor misbehaves.

    Parameters
    ----------
    t_start_s, t_end_s : float
        The period ``[t_start_s, t_end_s)``, s.
    kind : {"fault", "stale", "gap"}
        ``fault``: value NaN, flag FAULT. ``stale``: the last good value is held, flag STALE.
        ``gap``: the samples are not delivered; the next delivered sample is flagged GAP.
    channel : {"both", "flow", "paw"}
        Which sensor (``gap`` always removes whole samples).
    """

    t_start_s: float
    t_end_s: float
    kind: Literal["fault", "stale", "gap"] = "fault"
    channel: Literal["both", "flow", "paw"] = "both"

    def __post_init__(self) -> None:
        if self.kind not in ("fault", "stale", "gap"):
            raise ConfigError(f"sensor fault kind {self.kind!r}: expected fault, stale or gap")
        if self.channel not in ("both", "flow", "paw"):
            raise ConfigError(f"sensor fault channel {self.channel!r}: expected both, flow, paw")
        if not self.t_end_s > self.t_start_s:
            raise ConfigError(f"sensor fault {self.t_start_s}…{self.t_end_s} s is empty")


@dataclass(frozen=True)
class SensorModel:
    """Flow and airway-pressure sensors at the patient port (defaults: ideal sensors).

    Flow parameters are L/min at the sensor's own gas ``condition``; pressure parameters
    cmH2O. ``*_gain_pct`` multiplies by ``1 + gain/100``; ``*_drift_*_per_h`` adds to the
    offset linearly with running time; ``*_quantum_*`` is the resolution (0: none);
    ``*_lag_s`` a first-order time constant (0: none). ``oversample`` > 1 makes each sample
    the mean of that many sub-samples centred on its time stamp (an anti-aliasing box-car);
    1 samples instantaneously. ``declared_condition`` is the condition written into the
    trace (None: the true one) — set it to model a mis-configured sensor.
    """

    flow_noise_sd_lpm: float = 0.0
    flow_offset_lpm: float = 0.0
    flow_drift_lpm_per_h: float = 0.0
    flow_gain_pct: float = 0.0
    flow_quantum_lpm: float = 0.0
    flow_lag_s: float = 0.0
    flow_range_lpm: float = math.inf
    paw_noise_sd_cmh2o: float = 0.0
    paw_offset_cmh2o: float = 0.0
    paw_drift_cmh2o_per_h: float = 0.0
    paw_gain_pct: float = 0.0
    paw_quantum_cmh2o: float = 0.0
    paw_lag_s: float = 0.0
    paw_min_cmh2o: float = -math.inf
    paw_max_cmh2o: float = math.inf
    condition: GasCondition = GasCondition.BTPS
    declared_condition: GasCondition | None = None
    ambient: Ambient = field(default_factory=Ambient)
    oversample: int = 1
    faults: tuple[SensorFault, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "condition", GasCondition.parse(self.condition))
        if self.declared_condition is not None:
            object.__setattr__(
                self, "declared_condition", GasCondition.parse(self.declared_condition)
            )
        object.__setattr__(self, "faults", tuple(self.faults))
        for name in ("flow_noise_sd_lpm", "paw_noise_sd_cmh2o", "flow_quantum_lpm",
                     "paw_quantum_cmh2o", "flow_lag_s", "paw_lag_s"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"sensor {name} = {getattr(self, name)}: expected ≥ 0")
        if not self.flow_range_lpm > 0:
            raise ConfigError(f"flow_range_lpm {self.flow_range_lpm}: expected > 0")
        if not self.paw_max_cmh2o > self.paw_min_cmh2o:
            raise ConfigError("paw_max_cmh2o must exceed paw_min_cmh2o")
        if int(self.oversample) != self.oversample or self.oversample < 1:
            raise ConfigError(f"oversample {self.oversample}: expected an integer ≥ 1")

    @property
    def trace_condition(self) -> GasCondition:
        """The condition the trace says its flow is at."""
        return self.declared_condition or self.condition

    @property
    def btps_to_sensor(self) -> float:
        """Factor from true BTPS flow to the sensor's reading (before gain)."""
        return 1.0 / conversion_factor(self.condition, GasCondition.BTPS, self.ambient)


@dataclass
class _Channel:
    """Per-channel constants and the carried state of one sensor."""

    stream: int
    lag_s: float
    scale: float
    offset: float
    drift_per_s: float
    noise_sd: float
    quantum: float
    lo: float
    hi: float
    lag_state: float | None = None
    last_value: float = math.nan
    block_index: int = -1
    block: np.ndarray | None = None


class SensorChain:
    """Stateful sensor pair turning internal true samples into reported samples.

    Parameters
    ----------
    model : SensorModel
    fs_hz : float
        Reported sample rate, Hz.
    seed : int
        Seed of the noise streams.
    """

    def __init__(self, model: SensorModel, fs_hz: float, seed: int) -> None:
        self.model = model
        self.fs_hz = float(fs_hz)
        self.seed = int(seed)
        m = model
        flow_scale = m.btps_to_sensor * (1 + m.flow_gain_pct / 100)
        self._flow = _Channel(1, m.flow_lag_s, flow_scale, m.flow_offset_lpm,
                              m.flow_drift_lpm_per_h / 3600, m.flow_noise_sd_lpm,
                              m.flow_quantum_lpm, -m.flow_range_lpm, m.flow_range_lpm)
        self._paw = _Channel(2, m.paw_lag_s, 1 + m.paw_gain_pct / 100, m.paw_offset_cmh2o,
                             m.paw_drift_cmh2o_per_h / 3600, m.paw_noise_sd_cmh2o,
                             m.paw_quantum_cmh2o, m.paw_min_cmh2o, m.paw_max_cmh2o)
        self._gap_pending = False

    def _noise(self, ch: _Channel, k0: int, n: int) -> np.ndarray:
        """Standard normals for samples ``k0 … k0+n-1`` of a channel (chunk-invariant)."""
        out = np.empty(n)
        k = k0
        while k < k0 + n:
            b = k // NOISE_BLOCK
            if ch.block_index != b:
                rng = np.random.default_rng([self.seed, ch.stream, b])
                ch.block, ch.block_index = rng.standard_normal(NOISE_BLOCK), b
            lo = k - b * NOISE_BLOCK
            take = min(NOISE_BLOCK - lo, k0 + n - k)
            out[k - k0:k - k0 + take] = ch.block[lo:lo + take]
            k += take
        return out

    def _channel(self, ch: _Channel, k0: int, t_s: np.ndarray, x_internal: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        os_ = self.model.oversample
        if ch.lag_s > 0 and x_internal.size:
            a = math.exp(-1.0 / (self.fs_hz * os_ * ch.lag_s))
            if ch.lag_state is None:
                ch.lag_state = float(x_internal[0])
            x_internal, zf = lfilter([1 - a], [1, -a], x_internal, zi=[a * ch.lag_state])
            ch.lag_state = float(x_internal[-1])
        x = x_internal.reshape(-1, os_).mean(axis=1) if os_ > 1 else x_internal.copy()
        x = x * ch.scale + ch.offset + ch.drift_per_s * t_s
        if ch.noise_sd > 0:
            x += ch.noise_sd * self._noise(ch, k0, x.size)
        if ch.quantum > 0:
            x = np.round(x / ch.quantum) * ch.quantum
        sat = (x <= ch.lo) | (x >= ch.hi)
        x = np.clip(x, ch.lo, ch.hi)
        return x, sat

    def process(self, k0: int, flow_true_lpm: np.ndarray, paw_true_cmh2o: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Report samples ``k0 …`` from true internal samples (``oversample`` per sample).

        Returns
        -------
        t_s, flow_lpm, paw_cmh2o, flags : ndarray
            Delivered samples (samples inside a ``gap`` fault are left out).
        """
        n = flow_true_lpm.size // self.model.oversample
        t = (k0 + np.arange(n)) / self.fs_hz
        flow, flow_sat = self._channel(self._flow, k0, t, flow_true_lpm)
        paw, paw_sat = self._channel(self._paw, k0, t, paw_true_cmh2o)
        flags = np.where(flow_sat | paw_sat, np.uint8(SampleFlag.SATURATED), np.uint8(0))
        keep = np.ones(n, dtype=bool)
        for fault in self.model.faults:
            inside = (t >= fault.t_start_s) & (t < fault.t_end_s)
            if not inside.any():
                continue
            if fault.kind == "gap":
                keep &= ~inside
                continue
            for name, values, ch in (("flow", flow, self._flow), ("paw", paw, self._paw)):
                if fault.channel not in ("both", name):
                    continue
                if fault.kind == "fault":
                    values[inside] = np.nan
                    flags[inside] |= np.uint8(SampleFlag.FAULT)
                else:
                    _hold(values, inside, ch.last_value)
                    flags[inside] |= np.uint8(SampleFlag.STALE)
                    # nothing to hold yet (a stale period at the very start): a fault
                    flags[inside & np.isnan(values)] |= np.uint8(SampleFlag.FAULT)
        for values, ch in ((flow, self._flow), (paw, self._paw)):
            if n:
                ch.last_value = float(values[-1])
        # gap flags go on the first delivered sample after dropped ones
        if n:
            dropped_before = np.concatenate(([self._gap_pending], ~keep[:-1]))
            flags[keep & dropped_before] |= np.uint8(SampleFlag.GAP)
            self._gap_pending = not bool(keep[-1])
        return t[keep], flow[keep], paw[keep], flags[keep]


def _hold(values: np.ndarray, mask: np.ndarray, carried: float) -> None:
    """Replace ``values[mask]`` by the last value before each masked run (in place)."""
    idx = np.where(mask, 0, np.arange(values.size) + 1)
    np.maximum.accumulate(idx, out=idx)
    src = np.concatenate(([carried], values))
    values[mask] = src[idx[mask]]
