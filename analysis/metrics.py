"""Per-breath metrics from the samples of one breath (STANDARDS.md §3).

A breath is given by three refined boundaries (start, end of inspiration, start of the next
breath), each a zero crossing of flow at an interpolated time between two samples. Volumes
are trapezoid integrals over the samples strictly inside a phase plus the two boundary
points, where the (interpolated) flow is exactly the boundary flow (zero at a crossing), so
the fractional sample intervals at both ends are counted exactly for piecewise-linear flow.

Every number is computed from a slice of the arrays addressed by the breath's own sample
indices, never from sums running across breaths, so a breath's metrics are bit-identical
however the trace was chunked (see :mod:`analysis.stream`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from .breath import Breath
from .errors import ConfigError
from .trace import flag_names
from .units import CMH2O_PER_HPA, ML_PER_S_PER_LPM


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
    plateau_max_window_s : float
        Longest plateau window, ending at end of inspiration, s (IMT: 320 ms).
    plateau_min_window_s : float
        Shortest plateau window accepted, s.
    plateau_max_flow_lpm : float
        |flow| must stay below this throughout the plateau window, L/min.
    plateau_stability_hpa : float
        Pressure must stay within ± this (max - min <= 2x) in the window, hPa.
    """

    peep_window_s: float = 0.100
    plateau_max_window_s: float = 0.320
    plateau_min_window_s: float = 0.050
    plateau_max_flow_lpm: float = 3.0
    plateau_stability_hpa: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
            if bad or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"metric setting {f.name}: expected a finite number > 0, found {value!r}")
            object.__setattr__(self, f.name, float(value))  # plain floats for JSON
        if self.plateau_min_window_s > self.plateau_max_window_s:
            raise ConfigError(
                f"metric setting plateau_min_window_s ({self.plateau_min_window_s} s) exceeds "
                f"plateau_max_window_s ({self.plateau_max_window_s} s)"
            )


def _integral(
    t_s: np.ndarray, y: np.ndarray, a: Boundary, b: Boundary, ya: float, yb: float, dt_s=None
) -> float:
    """Trapezoid integral of y over [a.t_s, b.t_s]: the samples a.index .. b.index-1 plus
    the boundary points (a.t_s, ya) and (b.t_s, yb). ``dt_s`` may pass ``np.diff(t_s)``."""
    i, j = a.index, b.index
    if j <= i:
        return 0.5 * (ya + yb) * (b.t_s - a.t_s)
    dt = np.diff(t_s[i:j]) if dt_s is None else dt_s[i : j - 1]
    inner = float(np.sum((y[i : j - 1] + y[i + 1 : j]) * dt)) * 0.5
    head = 0.5 * (ya + float(y[i])) * (float(t_s[i]) - a.t_s)
    tail = 0.5 * (float(y[j - 1]) + yb) * (b.t_s - float(t_s[j - 1]))
    return head + inner + tail


def phase_volume_ml(t_s: np.ndarray, flow_lpm: np.ndarray, a: Boundary, b: Boundary) -> float:
    """Integral of flow from boundary ``a`` to ``b``, mL (positive for inspiratory flow)."""
    return _integral(t_s, flow_lpm, a, b, a.flow_lpm, b.flow_lpm) * ML_PER_S_PER_LPM


def _weights(t_s: np.ndarray) -> np.ndarray:
    """Trapezoid weight of each sample, s: (t[k+1] - t[k-1]) / 2, the ends clamped."""
    w = np.empty(t_s.shape[0])
    if w.shape[0] < 2:
        w[:] = 0.0
        return w
    np.subtract(t_s[2:], t_s[:-2], out=w[1:-1])
    w[0] = t_s[1] - t_s[0]
    w[-1] = t_s[-1] - t_s[-2]
    w *= 0.5
    return w


def _plateau(t_s, flow_lpm, paw_cmh2o, start: Boundary, insp_end: Boundary, s: MetricSettings):
    """Longest window (<= max, >= min) ending at end of inspiration meeting the IMT rule."""
    stop = insp_end.index
    # quick exit (most breaths): flow still high one minimum window before the end
    k = int(np.searchsorted(t_s, insp_end.t_s - s.plateau_min_window_s, side="right")) - 1
    if k >= start.index and not abs(flow_lpm[k]) < s.plateau_max_flow_lpm:
        return None, None
    first = max(start.index, int(np.searchsorted(t_s, insp_end.t_s - s.plateau_max_window_s)))
    if stop - first < 2:
        return None, None
    rev = slice(stop - 1, first - 1 if first > 0 else None, -1)
    flow_ok = np.logical_and.accumulate(np.abs(flow_lpm[rev]) < s.plateau_max_flow_lpm)
    p = paw_cmh2o[rev]
    spread_cmh2o = np.fmax.accumulate(p) - np.fmin.accumulate(p)
    ok = flow_ok & (spread_cmh2o <= 2.0 * s.plateau_stability_hpa * CMH2O_PER_HPA)
    n = int(ok.size if ok.all() else np.argmin(ok))
    if n < 2 or insp_end.t_s - float(t_s[stop - n]) < s.plateau_min_window_s:
        return None, None
    window = (float(t_s[stop - n]), insp_end.t_s)
    return float(np.mean(paw_cmh2o[stop - n : stop])), window


def _interp_at(t_s: np.ndarray, y: np.ndarray, j: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """y linearly interpolated at times ``tb`` between samples ``j-1`` and ``j``."""
    j0 = np.maximum(j - 1, 0)
    denom = t_s[j] - t_s[j0]
    safe = np.where(denom > 0, denom, 1.0)
    inner = y[j0] + (y[j] - y[j0]) * ((tb - t_s[j0]) / safe)
    return np.where((denom > 0) & (t_s[j] != tb), inner, y[j])


def _phase_integral(t_s, y, inner, i, j, ta, tb, ya, yb) -> np.ndarray:
    """Trapezoid integrals over phases [ta, tb] from the weighted inner sums (see _weights):
    the end samples' weights are corrected to the boundary times."""
    n = t_s.shape[0]
    ic = np.minimum(i, n - 1)
    jl = np.clip(j - 1, 0, n - 1)
    t_prev = t_s[np.maximum(ic - 1, 0)]
    t_next = t_s[np.minimum(j, n - 1)]
    ends = y[ic] * (t_prev - ta) + y[jl] * (tb - t_next) + ya * (t_s[ic] - ta) + yb * (tb - t_s[jl])
    return np.where(j > i, inner + 0.5 * ends, 0.5 * (ya + yb) * (tb - ta))


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

    Returns
    -------
    list of Breath
        Volumes in mL at the condition of ``flow_lpm``; pressures cmH2O; times s.
    """
    k = len(starts)
    if k == 0:
        return []
    extra_flags = extra_flags or [()] * k
    si = np.array([b.index for b in starts], dtype=np.intp)
    di = np.array([b.index for b in insp_ends], dtype=np.intp)
    ei = np.array([b.index for b in ends], dtype=np.intp)
    st = np.array([b.t_s for b in starts])
    dt = np.array([b.t_s for b in insp_ends])
    et = np.array([b.t_s for b in ends])
    sf = np.array([b.flow_lpm for b in starts])
    df = np.array([b.flow_lpm for b in insp_ends])
    ef = np.array([b.flow_lpm for b in ends])
    ti, te, cycle = dt - st, et - dt, et - st

    peep_lo = np.searchsorted(t_s, et - settings.peep_window_s)
    peep_lo = np.minimum(np.maximum(peep_lo, di), np.maximum(ei, di))
    idx = np.unique(np.concatenate((si, di, peep_lo, ei)))
    ps, pd, pp, pe = (np.searchsorted(idx, x) for x in (si, di, peep_lo, ei))
    has_i, has_e = pd > ps, pe > pd
    has_e1, has_e2 = has_e & (pp > pd), has_e & (pe > pp)  # [d, peep_lo) and [peep_lo, e)
    first_e = np.where(pp > pd, pd, pp)  # segment starting at d

    w = _weights(t_s)
    seg_fw = np.add.reduceat(flow_lpm * w, idx)
    seg_pw = np.add.reduceat(paw_cmh2o * w, idx)
    zero = np.zeros(k)
    sum_i = np.where(has_i, seg_fw[ps], zero)
    sum_e = np.where(has_e, seg_fw[first_e], zero) + np.where(has_e1 & has_e2, seg_fw[pp], zero)
    vti = _phase_integral(t_s, flow_lpm, sum_i, si, di, st, dt, sf, df) * ML_PER_S_PER_LPM
    vte = -_phase_integral(t_s, flow_lpm, sum_e, di, ei, dt, et, df, ef) * ML_PER_S_PER_LPM

    pa = _interp_at(t_s, paw_cmh2o, si, st)
    pb = _interp_at(t_s, paw_cmh2o, ei, et)
    psum_i = np.where(has_i, seg_pw[ps], zero)
    psum_e = np.where(has_e, seg_pw[first_e], zero) + np.where(has_e1 & has_e2, seg_pw[pp], zero)
    pmean = _phase_integral(t_s, paw_cmh2o, psum_i + psum_e, si, ei, st, et, pa, pb) / cycle

    nan = np.full(k, np.nan)
    seg_pmax = np.fmax.reduceat(paw_cmh2o, idx)
    pip = np.fmax(np.fmax(pa, pb), np.where(has_i, seg_pmax[ps], nan))
    pip = np.fmax(pip, np.where(has_e, seg_pmax[first_e], nan))
    pip = np.fmax(pip, np.where(has_e1 & has_e2, seg_pmax[pp], nan))
    peak_i = np.where(has_i, np.maximum.reduceat(flow_lpm, idx)[ps], zero)
    seg_fmin = np.minimum.reduceat(flow_lpm, idx)
    peak_e = np.where(has_e, seg_fmin[first_e], zero)
    peak_e = np.minimum(peak_e, np.where(has_e1 & has_e2, seg_fmin[pp], np.inf))
    n_peep = ei - peep_lo
    peep_sum = np.add.reduceat(paw_cmh2o, idx)[np.minimum(pp, idx.shape[0] - 1)]
    peep = np.where(n_peep > 0, peep_sum / np.maximum(n_peep, 1), pb)
    seg_or = np.bitwise_or.reduceat(flags, idx)
    n = t_s.shape[0]
    mask = flags[np.maximum(si - 1, 0)] | flags[np.minimum(ei, n - 1)]
    mask = mask | np.where(has_i, seg_or[ps], 0) | np.where(has_e, seg_or[first_e], 0)
    mask = mask | np.where(has_e1 & has_e2, seg_or[pp], 0)

    # plateau: only breaths whose flow is low one minimum window before the end of inspiration
    qk = np.searchsorted(t_s, dt - settings.plateau_min_window_s, side="right") - 1
    maybe = (qk >= si) & (np.abs(flow_lpm[np.clip(qk, 0, n - 1)]) < settings.plateau_max_flow_lpm)

    out = []
    rows = zip(
        st.tolist(), ti.tolist(), te.tolist(), cycle.tolist(), vti.tolist(), vte.tolist(),
        pip.tolist(), peep.tolist(), pmean.tolist(), peak_i.tolist(), peak_e.tolist(),
        mask.tolist(), dt.tolist(), et.tolist(), maybe.tolist(), strict=True,
    )
    for m, row in enumerate(rows):
        t0, ti_s, te_s, cyc, vti_ml, vte_ml, pip_c, peep_c, pmean_c, pk_i, pk_e, msk, t_d, t_e, mb = row
        if math.isnan(peep_c) and n_peep[m] > 0:
            peep_c = float(np.nanmean(paw_cmh2o[peep_lo[m] : ei[m]]))
        pplat, window = (None, None)
        if mb:
            pplat, window = _plateau(t_s, flow_lpm, paw_cmh2o, starts[m], insp_ends[m], settings)
        rr_bpm = 60.0 / cyc
        out.append(
            Breath(
                t_start_s=t0,
                ti_s=ti_s,
                te_s=te_s,
                rr_bpm=rr_bpm,
                ie_ratio=te_s / ti_s if ti_s > 0 else math.nan,
                vti_ml=vti_ml,
                vte_ml=vte_ml,
                pip_cmh2o=pip_c,
                pplat_cmh2o=pplat,
                peep_cmh2o=peep_c,
                pmean_cmh2o=pmean_c,
                leak_pct=(vti_ml - vte_ml) / vti_ml * 100.0 if vti_ml != 0 else math.nan,
                flags=tuple(extra_flags[m]) + (tuple(flag_names(msk)) if msk else ()),
                t_insp_end_s=t_d,
                t_end_s=t_e,
                mv_lpm=vte_ml * rr_bpm / 1000.0,
                peak_insp_flow_lpm=pk_i,
                peak_exp_flow_lpm=-pk_e,
                plateau_window_s=window,
                peep_window_s=(max(t_e - settings.peep_window_s, t_d), t_e),
                index=first_index + m,
            )
        )
    return out


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

    Returns
    -------
    Breath
        Volumes in mL at the condition of ``flow_lpm``; pressures in cmH2O; times in s.
    """
    return breaths_metrics(
        t_s, flow_lpm, paw_cmh2o, flags, [start], [insp_end], [end], settings, [extra_flags], index
    )[0]
