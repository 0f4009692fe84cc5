"""Per-breath metrics from the samples of one breath (STANDARDS.md §3).

A breath is given by three refined boundaries (start, end of inspiration, start of the next
breath), each a zero crossing of flow at an interpolated time between two samples. Volumes
are trapezoid integrals over the samples strictly inside a phase plus the two boundary
points, where the (interpolated) flow is exactly the boundary flow (zero at a crossing), so
the fractional sample intervals at both ends are counted exactly for piecewise-linear flow.

Every number is computed from a slice of the arrays addressed by the breath's own sample
indices, never from sums running across breaths, so a breath's metrics are bit-identical
however the trace was chunked (see :mod:`analysis.stream`).

This module holds the boundary type, the settings and the assembly of :class:`Breath`; the
phase integrals are :mod:`analysis.integrals`, the PIP and plateau estimators
:mod:`analysis.pressures`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from itertools import chain
from typing import NamedTuple

import numpy as np

from ventbench.analysis.breath import Breath, breaths_from_columns
from ventbench.analysis.integrals import interp_at, phase_integral, trapezoid_weights
from ventbench.analysis.pressures import pip_cmh2o, plateau
from ventbench.analysis.segment import median_interval_s
from ventbench.analysis.trace import flag_names
from ventbench.errors import ConfigError
from ventbench.units import ML_PER_S_PER_LPM


class Boundary(NamedTuple):
    """A refined phase boundary.

    ``index`` is the first sample after the boundary, ``t_s`` its interpolated time (s),
    ``flow_lpm`` the interpolated flow there (0.0 at a zero crossing).
    """

    index: int
    t_s: float
    flow_lpm: float = 0.0


@dataclass(frozen=True)
class MetricSettings:
    """How per-breath pressures are measured.

    Parameters
    ----------
    peep_window_s : float
        PEEP is the mean airway pressure over this last part of expiration, s.
    peep_guard_s : float
        The PEEP window ends this long before the detected start of the next breath, s
        (>= 0). A start located a few samples late (a small neonatal flow step in noise)
        would otherwise put the next inspiration's pressure rise into the window; the
        end-expiratory pressure is flat, so ending a little earlier costs nothing.
    pip_fit_s : float
        Length of the end-of-inspiration pressure fit used for PIP, s (>= 0, 0 = none):
        see :func:`breaths_metrics`.
    """

    peep_window_s: float = 0.100
    peep_guard_s: float = 0.010
    pip_fit_s: float = 0.025
    plateau_max_window_s: float = 0.320
    plateau_min_window_s: float = 0.050
    plateau_max_flow_lpm: float = 3.0
    plateau_stability_hpa: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
            zero_ok = f.name in ("peep_guard_s", "pip_fit_s")
            if bad or not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
                expected = ">= 0" if zero_ok else "> 0"
                raise ConfigError(f"metric setting {f.name}: expected a finite number {expected}, found {value!r}")
            object.__setattr__(self, f.name, float(value))  # plain floats for JSON
        if self.plateau_min_window_s > self.plateau_max_window_s:
            raise ConfigError(
                f"metric setting plateau_min_window_s ({self.plateau_min_window_s} s) exceeds "
                f"plateau_max_window_s ({self.plateau_max_window_s} s)"
            )

    def pip_fit_samples(self, t_s: np.ndarray) -> int:
        """Samples of the end-of-inspiration pressure fit (``pip_fit_s``, at least 2 or 0).

        From the median interval of the first 17 samples of ``t_s`` (s), like the detection
        smoothing, so it does not depend on how a stream was chunked.
        """
        if self.pip_fit_s <= 0 or t_s.shape[0] < 2:
            return 0
        dt_s = median_interval_s(t_s)
        return max(2, int(round(self.pip_fit_s / dt_s)))


def boundary_arrays(
    starts: list[Boundary], insp_ends: list[Boundary], ends: list[Boundary], offset: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundaries of breaths as arrays (3, k), rows start / end of inspiration / end:
    (sample index - ``offset``, time s, flow L/min)."""
    # one (3, k, 3) array of the Boundary fields; sample indices are exact as floats (< 2**53).
    # fromiter over the flat fields: np.array on the nested tuples spends ~1.5 µs a breath
    # finding their shape
    if not len(starts) == len(insp_ends) == len(ends):
        raise ValueError(f"boundary lists of unequal length: {len(starts)}, {len(insp_ends)}, {len(ends)}")
    fields_flat = chain.from_iterable(chain(starts, insp_ends, ends))
    values = np.fromiter(fields_flat, dtype=np.float64, count=9 * len(starts)).reshape(3, -1, 3)
    index = values[:, :, 0].astype(np.intp)
    if offset:
        index -= offset
    t_s, flow_lpm = values[:, :, 1], values[:, :, 2]
    return index, t_s, flow_lpm


def breaths_metrics(
    t_s: np.ndarray,
    flow_lpm: np.ndarray,
    paw_cmh2o: np.ndarray,
    flags: np.ndarray,
    starts: list[Boundary],
    insp_ends: list[Boundary],
    ends: list[Boundary],
    settings: MetricSettings,
    extra_flags: list[tuple[str, ...]] | None = None,
    first_index: int = 0,
    pip_fit_samples: int = 0,
) -> list[Breath]:
    """Metrics of several non-overlapping breaths, vectorised over the breaths.

    Each breath's numbers depend only on its own samples (per-breath segments of
    ``np.ufunc.reduceat``), so they are identical whichever breaths share a call.

    Parameters
    ----------
    t_s, flow_lpm, paw_cmh2o, flags : ndarray
        Samples (s, L/min at the analysis gas condition, cmH2O, SampleFlag masks) covering
        ``starts[0].index - 1`` to ``ends[-1].index``.
    starts, insp_ends, ends : list of Boundary
        Per breath (in time order): start of inspiration, end of inspiration, start of the
        next breath.
    settings : MetricSettings
        Windows and plateau rule.
    extra_flags : list of tuple of str, optional
        Per breath, segmentation flags ("double_trigger", "too_short") to add.
    first_index : int
        Number of the first breath; the others follow consecutively.
    pip_fit_samples : int
        Samples of the end-of-inspiration pressure fit
        (:meth:`MetricSettings.pip_fit_samples`; 0 = none).

    Notes
    -----
    PIP and the plateau pressure are estimated as described in :mod:`analysis.pressures`;
    the phase integrals are those of :mod:`analysis.integrals`.

    Returns
    -------
    list of Breath
        Volumes in mL at the condition of ``flow_lpm``; pressures cmH2O; times s.
    """
    if not starts:
        return []
    return metrics_of_bounds(
        t_s, flow_lpm, paw_cmh2o, flags, *boundary_arrays(starts, insp_ends, ends), settings,
        extra_flags, first_index, pip_fit_samples,
    )


def metrics_of_bounds(
    t_s: np.ndarray,
    flow_lpm: np.ndarray,
    paw_cmh2o: np.ndarray,
    flags: np.ndarray,
    index: np.ndarray,
    t_bound_s: np.ndarray,
    flow_bound_lpm: np.ndarray,
    settings: MetricSettings,
    extra_flags: list[tuple[str, ...]] | None = None,
    first_index: int = 0,
    pip_fit_samples: int = 0,
    work: np.ndarray | None = None,
) -> list[Breath]:
    """:func:`breaths_metrics` with the boundaries as arrays (3, k) (:func:`boundary_arrays`):
    sample ``index`` (into ``t_s``), time ``t_bound_s`` (s) and flow ``flow_bound_lpm`` (L/min).

    ``work``, if given, is scratch space of at least ``2 * len(t_s)`` floats (overwritten).
    """
    k = index.shape[1]
    if k == 0:
        return []
    extra_flags = extra_flags or [()] * k
    si, di, ei = index
    st, dt, et = t_bound_s
    ti, te, cycle = dt - st, et - dt, et - st

    idx = np.sort(index.ravel())  # np.unique, without its first-call import
    idx = idx[np.concatenate(([True], idx[1:] != idx[:-1]))]
    # per phase, rows (2, k) inspiration then expiration: the boundary rows that begin and
    # end it, its first segment of idx, whether it has samples
    begin, end = slice(0, 2), slice(1, 3)
    seg = np.searchsorted(idx, index)
    phase_seg, has = seg[begin], seg[end] > seg[begin]
    has_i, has_e = has

    n = t_s.shape[0]
    if work is None:
        work = np.empty(2 * n)
    w = trapezoid_weights(t_s, out=work[:n])
    seg_fw = np.add.reduceat(np.multiply(flow_lpm, w, out=work[n : 2 * n]), idx)
    seg_pw = np.add.reduceat(np.multiply(paw_cmh2o, w, out=work[n : 2 * n]), idx)
    phase_fw = np.where(has, seg_fw[phase_seg], 0.0)
    volume = phase_integral(
        t_s, flow_lpm, phase_fw, index[begin], index[end], t_bound_s[begin], t_bound_s[end],
        flow_bound_lpm[begin], flow_bound_lpm[end],
    ) * ML_PER_S_PER_LPM
    vti, vte = volume[0], -volume[1]

    pa, pb = interp_at(t_s, paw_cmh2o, index[::2], t_bound_s[::2])  # at start and end
    phase_pw = np.where(has, seg_pw[phase_seg], 0.0)
    psum = phase_pw[0] + phase_pw[1]
    pmean = phase_integral(t_s, paw_cmh2o, psum, si, ei, st, et, pa, pb) / cycle

    phase_pmax = np.where(has, np.fmax.reduceat(paw_cmh2o, idx)[phase_seg], np.nan)
    pip = np.fmax(np.fmax(np.fmax(pa, pb), phase_pmax[0]), phase_pmax[1])
    peak_i = np.where(has_i, np.maximum.reduceat(flow_lpm, idx)[phase_seg[0]], 0.0)
    peak_e = np.where(has_e, np.minimum.reduceat(flow_lpm, idx)[phase_seg[1]], 0.0)

    # PEEP: samples in [t_end - guard - window, t_end - guard), within the expiration
    t_guard_s = et - settings.peep_guard_s
    t_window_s = np.stack((t_guard_s, t_guard_s - settings.peep_window_s))
    peep_hi, peep_lo = np.searchsorted(t_s, t_window_s)
    peep_hi = np.minimum(np.maximum(peep_hi, di), np.maximum(ei, di))
    peep_lo = np.minimum(np.maximum(peep_lo, di), peep_hi)
    n_peep = peep_hi - peep_lo
    bounds = np.empty(2 * k, dtype=np.intp)
    bounds[0::2], bounds[1::2] = peep_lo, peep_hi
    peep_sum = np.add.reduceat(paw_cmh2o, np.minimum(bounds, n - 1))[0::2]
    peep = np.where(n_peep > 0, peep_sum / np.maximum(n_peep, 1), pb)

    # PIP: the highest sample lowered by the pressure noise, or the end-of-inspiration fit
    pip = pip_cmh2o(pip, t_s, paw_cmh2o, si, di, dt, peep_lo, peep_hi, pip_fit_samples)

    phase_or = np.where(has, np.bitwise_or.reduceat(flags, idx)[phase_seg], 0)
    mask = flags[np.maximum(si - 1, 0)] | flags[np.minimum(ei, n - 1)]
    mask = mask | phase_or[0] | phase_or[1]

    # plateau: only breaths whose flow is low one minimum window before the end of inspiration
    qk = np.searchsorted(t_s, dt - settings.plateau_min_window_s, side="right") - 1
    maybe = (qk >= si) & (np.abs(flow_lpm[np.minimum(np.maximum(qk, 0), n - 1)]) < settings.plateau_max_flow_lpm)

    # the rare per-breath work: a NaN PEEP window mean, the plateau search
    peep_c = peep.tolist()
    for m in np.flatnonzero(np.isnan(peep) & (n_peep > 0)).tolist():
        peep_c[m] = float(np.nanmean(paw_cmh2o[peep_lo[m] : peep_hi[m]]))
    pplat: list[float | None] = [None] * k
    plateau_window: list[tuple[float, float] | None] = [None] * k
    for m in np.flatnonzero(maybe).tolist():
        start = Boundary(int(si[m]), float(st[m]), float(flow_bound_lpm[0, m]))
        insp_end = Boundary(int(di[m]), float(dt[m]), float(flow_bound_lpm[1, m]))
        pplat[m], plateau_window[m] = plateau(t_s, flow_lpm, paw_cmh2o, start, insp_end, settings)

    # the rest column by column, each value the double the scalar formula gives
    with np.errstate(divide="ignore", invalid="ignore"):
        rr_bpm = 60.0 / cycle
        ie_ratio = np.where(ti > 0, te / ti, np.nan)
        leak_pct = np.where(vti != 0, (vti - vte) / vti * 100.0, np.nan)
    peep_window = list(zip(np.maximum(t_guard_s - settings.peep_window_s, dt).tolist(),
                           np.maximum(t_guard_s, dt).tolist(), strict=True))
    flags_of = [tuple(extra) + (tuple(flag_names(msk)) if msk else ())
                for extra, msk in zip(extra_flags, mask.tolist(), strict=True)]
    columns = {
        "t_start_s": st.tolist(), "ti_s": ti.tolist(), "te_s": te.tolist(),
        "rr_bpm": rr_bpm.tolist(), "ie_ratio": ie_ratio.tolist(),
        "vti_ml": vti.tolist(), "vte_ml": vte.tolist(), "pip_cmh2o": pip.tolist(),
        "pplat_cmh2o": pplat, "peep_cmh2o": peep_c, "pmean_cmh2o": pmean.tolist(),
        "leak_pct": leak_pct.tolist(), "flags": flags_of,
        "t_insp_end_s": dt.tolist(), "t_end_s": et.tolist(), "mv_lpm": (vte * rr_bpm / 1000.0).tolist(),
        "peak_insp_flow_lpm": peak_i.tolist(), "peak_exp_flow_lpm": (-peak_e).tolist(),
        "plateau_window_s": plateau_window, "peep_window_s": peep_window,
        "index": range(first_index, first_index + k),
    }
    return breaths_from_columns(columns)


def breath_metrics(
    t_s: np.ndarray,
    flow_lpm: np.ndarray,
    paw_cmh2o: np.ndarray,
    flags: np.ndarray,
    start: Boundary,
    insp_end: Boundary,
    end: Boundary,
    settings: MetricSettings,
    extra_flags: tuple[str, ...] = (),
    index: int = -1,
    pip_fit_samples: int | None = None,
) -> Breath:
    """Metrics of one breath (see :func:`breaths_metrics`, of which this is one row).

    Parameters
    ----------
    t_s, flow_lpm, paw_cmh2o, flags : ndarray
        Samples (s, L/min at the analysis gas condition, cmH2O, SampleFlag masks) covering
        at least ``start.index - 1`` to ``end.index``.
    start, insp_end, end : Boundary
        Start of inspiration, end of inspiration, start of the next breath.
    settings : MetricSettings
        Windows and plateau rule.
    extra_flags : tuple of str
        Segmentation flags ("double_trigger", "too_short") to add.
    index : int
        Breath number.
    pip_fit_samples : int, optional
        Samples of the end-of-inspiration pressure fit; from ``settings`` and ``t_s`` if omitted.

    Returns
    -------
    Breath
        Volumes in mL at the condition of ``flow_lpm``; pressures in cmH2O; times in s.
    """
    return breaths_metrics(
        t_s, flow_lpm, paw_cmh2o, flags, [start], [insp_end], [end], settings, [extra_flags], index,
        settings.pip_fit_samples(t_s) if pip_fit_samples is None else pip_fit_samples,
    )[0]
