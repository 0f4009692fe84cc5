"""Trace: sampled flow and airway pressure with their gas condition and per-sample flags.

The flags (:class:`SampleFlag`) and the time-axis rule live in :mod:`analysis.validity`
and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.stats import median
from ventbench.analysis.validity import (
    DEFAULT_LIMITS,
    EXCUSED,
    FLAG_NAMES,
    SampleFlag,
    ValidityLimits,
    flag_names,
    time_axis_problem,
    validate_samples,
)
from ventbench.errors import AnalysisError

__all__ = ["FLAG_NAMES", "SampleFlag", "Trace", "flag_names"]


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
        problem = time_axis_problem(t)
        if problem is not None:
            raise AnalysisError(f"sample {problem[0]}: {problem[1]}")
        excused = (flags & EXCUSED) != 0
        bad = ~np.isfinite(flow) & ~excused
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnalysisError(
                f"sample {i} (t = {t[i]:.6g} s): flow is {flow[i]} but the sample is not "
                f"flagged as a gap, fault or invalid value"
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

    def validated(self, limits: ValidityLimits | bool | None = None) -> Trace:
        """This trace with gaps, stuck sensors and impossible values flagged
        (:func:`analysis.validity.validate_samples`); the same object when nothing is found,
        else a new Trace whose ``meta["validity"]`` holds the counts.

        ``limits`` None means the defaults; ``False`` returns the trace unchecked (only for
        tools that must see a file's raw values, e.g. a format round trip).
        """
        if limits is False:
            return self
        if limits is None or limits is True:
            limits = DEFAULT_LIMITS
        result = validate_samples(self.t_s, self.flow_lpm, self.paw_cmh2o, self.flags, limits)
        if not result.changed and not result.stuck_not_checked:
            return self
        meta = dict(self.meta)
        meta["validity"] = {k: v for k, v in result.counts.items() if v}
        if result.stuck_not_checked:
            meta["validity"]["stuck_not_checked"] = list(result.stuck_not_checked)
        return Trace(self.t_s, result.flow_lpm, result.paw_cmh2o, self.flow_condition,
                     self.ambient, result.flags, dict(self.channels), meta)

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
        return float(1.0 / median(np.diff(self.t_s)))

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
        """Return the trace with flow restated at ``target`` and the factor applied (this
        same trace, immutable, when it is already stated there)."""
        dst = target if isinstance(target, GasCondition) else GasCondition.parse(target)
        factor = conversion_factor(self.flow_condition, dst, self.ambient)
        if dst == self.flow_condition and factor == 1.0:
            return self, factor
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
