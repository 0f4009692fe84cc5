"""Trace: sampled flow and airway pressure with their gas condition and per-sample flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntFlag
from types import MappingProxyType
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.errors import AnalysisError


class SampleFlag(IntFlag):
    """Per-sample flags (a uint8 bit mask). Any set bit means "do not silently trust"."""

    GAP = 1  #: samples are missing before this one, or this value is a placeholder
    FAULT = 2  #: a sensor reported a fault
    SATURATED = 4  #: a sensor was at the end of its range
    STALE = 8  #: the sensor had not updated since the previous sample
    RESET = 16  #: the device clock or sequence restarted here (a new segment begins)


#: Flag names as they appear in a breath's ``flags`` list.
FLAG_NAMES = {
    SampleFlag.GAP: "gap",
    SampleFlag.FAULT: "fault",
    SampleFlag.SATURATED: "saturated",
    SampleFlag.STALE: "stale",
    SampleFlag.RESET: "reset",
}


def flag_names(mask: int) -> list[str]:
    """Names of the bits set in ``mask``, in bit order."""
    return [name for bit, name in FLAG_NAMES.items() if mask & bit]


@dataclass(frozen=True, eq=False)
class Trace:
    """Flow and airway pressure sampled on one device time base.

    Parameters
    ----------
    t_s : array_like
        Sample times, s, strictly increasing (need not be uniform).
    flow_lpm : array_like
        Flow, L/min, positive into the patient, stated at ``flow_condition``.
    paw_cmh2o : array_like
        Airway pressure at the patient port, cmH2O (gauge). NaN where missing.
    flow_condition : GasCondition or str
        Gas condition the flow is stated at.
    ambient : Ambient
        Ambient temperature, pressure and humidity at the flow sensor.
    flags : array_like of uint8, optional
        Per-sample :class:`SampleFlag` mask; zeros if omitted.
    channels : mapping of str to array_like, optional
        Further channels with the unit in the name (``fio2_pct``, ``t_amb_degc`` …).
    meta : mapping, optional
        Free metadata (instrument, file, calibration), carried into results.

    Raises
    ------
    AnalysisError
        Length mismatch, non-increasing or non-finite time, or non-finite flow outside
        samples flagged GAP or FAULT.
    """

    t_s: np.ndarray
    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    flow_condition: GasCondition = GasCondition.BTPS
    ambient: Ambient = field(default_factory=Ambient)
    flags: np.ndarray | None = None
    channels: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.t_s, dtype=np.float64)
        flow = np.ascontiguousarray(self.flow_lpm, dtype=np.float64)
        paw = np.ascontiguousarray(self.paw_cmh2o, dtype=np.float64)
        n = t.shape[0] if t.ndim == 1 else -1
        if t.ndim != 1 or flow.shape != (n,) or paw.shape != (n,):
            raise AnalysisError(
                f"trace length mismatch: t_s {t.shape}, flow_lpm {flow.shape}, "
                f"paw_cmh2o {paw.shape}; expected three 1-D arrays of one length"
            )
        flags = (
            np.zeros(n, dtype=np.uint8)
            if self.flags is None
            else np.ascontiguousarray(self.flags, dtype=np.uint8)
        )
        if flags.shape != (n,):
            raise AnalysisError(f"flags has shape {flags.shape}, expected ({n},)")
        if not np.all(np.isfinite(t)):
            i = int(np.flatnonzero(~np.isfinite(t))[0])
            raise AnalysisError(f"sample {i}: time is not finite ({t[i]})")
        if n > 1:
            dt = np.diff(t)
            if not np.all(dt > 0):
                i = int(np.flatnonzero(dt <= 0)[0]) + 1
                raise AnalysisError(
                    f"sample {i}: time {t[i]!r} s does not increase "
                    f"(previous {t[i - 1]!r} s); time must be strictly increasing"
                )
        excused = (flags & (SampleFlag.GAP | SampleFlag.FAULT)) != 0
        bad = ~np.isfinite(flow) & ~excused
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnalysisError(
                f"sample {i} (t = {t[i]:.6g} s): flow is {flow[i]} but the sample is not "
                f"flagged as a gap or fault"
            )
        condition = (
            self.flow_condition
            if isinstance(self.flow_condition, GasCondition)
            else GasCondition.parse(self.flow_condition)
        )
        chans = {}
        for name, values in dict(self.channels).items():
            arr = np.ascontiguousarray(values, dtype=np.float64)
            if arr.shape != (n,):
                raise AnalysisError(f"channel {name!r} has shape {arr.shape}, expected ({n},)")
            chans[name] = arr
        for name, arr in (("t_s", t), ("flow_lpm", flow), ("paw_cmh2o", paw), ("flags", flags)):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "flow_condition", condition)
        object.__setattr__(self, "channels", MappingProxyType(chans))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def duration_s(self) -> float:
        """Time from the first to the last sample, s."""
        return float(self.t_s[-1] - self.t_s[0]) if len(self) > 1 else 0.0

    @property
    def fs_hz(self) -> float:
        """Median sample rate, Hz (NaN for fewer than two samples)."""
        if len(self) < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.t_s)))

    def slice(self, start: int, stop: int) -> Trace:
        """Samples ``start:stop`` as a new Trace sharing the metadata."""
        return Trace(
            self.t_s[start:stop],
            self.flow_lpm[start:stop],
            self.paw_cmh2o[start:stop],
            self.flow_condition,
            self.ambient,
            self.flags[start:stop],
            {k: v[start:stop] for k, v in self.channels.items()},
            self.meta,
        )

    def converted(self, target: GasCondition | str = GasCondition.BTPS) -> tuple[Trace, float]:
        """Return the trace with flow restated at ``target`` and the factor applied."""
        dst = target if isinstance(target, GasCondition) else GasCondition.parse(target)
        factor = conversion_factor(self.flow_condition, dst, self.ambient)
        trace = Trace(
            self.t_s,
            self.flow_lpm * factor,
            self.paw_cmh2o,
            dst,
            self.ambient,
            self.flags,
            self.channels,
            self.meta,
        )
        return trace, factor
