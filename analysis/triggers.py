"""Patient-triggered breaths: where the ventilator's delivery starts, and the patient's effort.

A patient effort draws inspiratory flow and dips the airway pressure *before* the ventilator
delivers; the delivery then raises the pressure and the flow rises steeply. A breath's start
(step 4 of :mod:`analysis.segment`) may lie at the patient's first inspiratory flow or at
the delivery; :func:`trigger_windows` decides, for many breath starts at once (fixed-width
windows of samples, so each result is the same whichever starts share a call), whether the
breath was triggered and where the delivery started (docs/segmentation.md):

1. Flow and pressure are smoothed by centred moving averages of :data:`SMOOTH_S` and
   :data:`SMOOTH_PAW_S` (at least 3 samples).
2. The delivery's early flow peak is the highest smoothed flow in the ``after`` samples
   from the start (not past the breath's end of inspiration).
3. The effort's pressure dip bottoms out at the lowest smoothed airway pressure between the
   previous breath's end of inspiration (at most ``before`` samples back) and that peak;
   the delivery starts at the foot of the pressure's rise after it (the line through the
   rise's crossings of :data:`FOOT_LOW` and :data:`FOOT_HIGH` of the way from the bottom to
   the pressure at the early flow peak, followed back to the bottom), or the same foot of
   the flow's rise if later (an effort relaxing before the delivery lifts the pressure
   slowly first): there pressure and flow rise.
4. The effort starts at the patient's first inspiratory flow: the last upward zero crossing
   of the smoothed flow before the delivery, refined by the zero of a straight line fitted
   to the raw flow within :data:`EFFORT_FIT_S` of it.
5. The breath is patient-triggered when the effort ran for at least :data:`MIN_EFFORT_S`
   with inspiratory flow throughout, the pressure dipped by at least
   :data:`DIP_NOISE_SD` noise σ (σ of the smoothed pressure, from second differences) and
   :data:`MIN_DIP_CMH2O` below its level just before the effort, and the flow at the
   delivery start was below half the delivery's early peak. Otherwise the start stays as
   it was (a mandatory breath).
"""

from __future__ import annotations

import numpy as np

#: Smoothing of the flow for the trigger search, s.
SMOOTH_S = 0.01
#: Smoothing of the pressure: short, as the delivery's rise is steep (a centred mean puts the
#: bottom of an asymmetric dip up to half its window early).
SMOOTH_PAW_S = 0.005
#: Half-width of the line fitted to the flow around the effort's zero crossing, s.
EFFORT_FIT_S = 0.025
#: Shortest effort before a delivery, s.
MIN_EFFORT_S = 0.02
#: The effort's pressure dip must exceed this many σ of the smoothed pressure noise ...
DIP_NOISE_SD = 4.0
#: ... and this pressure, cmH2O.
MIN_DIP_CMH2O = 0.1
#: Pressure level before the effort: mean over this span, s.
BASELINE_S = 0.03
#: Levels of the delivery's pressure rise (fractions from the dip's bottom to the pressure at
#: the early flow peak) whose crossings are extrapolated back to the bottom: the delivery's start.
FOOT_LOW, FOOT_HIGH = 0.1, 0.3
#: Longest trigger delay searched before (and after) a breath start, s.
LOOKBACK_S = 0.4
LOOKAHEAD_S = 0.3


def _smooth_rows(x: np.ndarray, h: int) -> np.ndarray:
    """Centred moving average of ``2h + 1`` columns per row (edges: shorter windows)."""
    if h <= 0:
        return x
    c = np.cumsum(np.pad(x, ((0, 0), (h + 1, h)), mode="edge"), axis=1)
    return (c[:, 2 * h + 1 :] - c[:, : -2 * h - 1]) / (2 * h + 1)


def trigger_windows(t_s: np.ndarray, flow_lpm: np.ndarray, paw_cmh2o: np.ndarray, start_col: int,
                    lo_col: np.ndarray, hi_col: np.ndarray, dt_s: float, forced: np.ndarray | None = None):
    """Delivery start and effort of breaths from windows of samples, row by row.

    Parameters
    ----------
    t_s, flow_lpm, paw_cmh2o : ndarray (R, W)
        Per breath, samples around its start (time s, finite flow L/min, pressure cmH2O).
    start_col : int
        Column of the breath's start sample (the same in every row).
    lo_col, hi_col : ndarray of int (R,)
        Columns usable: from the previous breath's end of inspiration to this breath's.
    dt_s : float
        Sample interval, s.
    forced : ndarray of bool (R,), optional
        Rows whose start is a second delivery split off an inspiration (double trigger):
        their delivery starts at the pressure minimum whatever the effort test says.

    Returns
    -------
    triggered : ndarray of bool
    delivery_col : ndarray of int
        Column of the first sample at or after the delivery start (the start column where
        not triggered).
    t_delivery_s : ndarray
        Delivery start, s.
    t_effort_s : ndarray
        The patient's first inspiratory flow, s (NaN where not triggered).
    """
    r, w = flow_lpm.shape
    rows = np.arange(r)
    cols = np.arange(w)[None, :]
    h = max(0, int(round(SMOOTH_S / dt_s / 2.0)))
    sf = _smooth_rows(flow_lpm, h)
    hp = max(1, int(round(SMOOTH_PAW_S / dt_s / 2.0)))
    sp = _smooth_rows(paw_cmh2o, hp)
    usable = (cols >= lo_col[:, None]) & (cols < hi_col[:, None])
    ahead = usable & (cols >= start_col)
    kp = np.argmax(np.where(ahead, sf, -np.inf), axis=1)
    peak = sf[rows, kp]
    search = usable & (cols <= kp[:, None])
    kd = np.argmin(np.where(search, sp, np.inf), axis=1)
    # last column before kd with smoothed flow <= 0: the effort's flow starts after it
    nonpos = (sf <= 0.0) & usable & (cols < kd[:, None])
    has = nonpos.any(axis=1)
    j = np.where(has, w - 1 - np.argmax(nonpos[:, ::-1], axis=1), 0)
    j1 = np.minimum(j + 1, w - 1)
    f0, f1 = sf[rows, j], sf[rows, j1]
    den = np.where(f1 != f0, f1 - f0, 1.0)
    t_eff = t_s[rows, j] + (t_s[rows, j1] - t_s[rows, j]) * np.clip(-f0 / den, 0.0, 1.0)
    # refined by the zero of a straight line fitted to the raw flow around that crossing
    # (a slow crossing in noise: the smoothed crossing alone may be a few samples off)
    near = (np.abs(t_s - t_eff[:, None]) <= EFFORT_FIT_S) & usable & (cols < kd[:, None])
    n = near.sum(axis=1)
    tc = np.where(near, t_s - t_eff[:, None], 0.0)
    fc = np.where(near, flow_lpm, 0.0)
    st, sff = tc.sum(axis=1), fc.sum(axis=1)
    stt, stf = (tc * tc).sum(axis=1), (tc * fc).sum(axis=1)
    den_fit = n * stt - st * st
    slope = np.where(den_fit > 0, (n * stf - st * sff) / np.where(den_fit > 0, den_fit, 1.0), 0.0)
    icpt = (sff - slope * st) / np.maximum(n, 1)
    shift = np.where(slope > 0, -icpt / np.where(slope > 0, slope, 1.0), 0.0)
    t_eff = t_eff + np.clip(shift, -EFFORT_FIT_S, EFFORT_FIT_S)
    # pressure noise (second differences cancel a ramp) and the level before the effort
    d2 = np.abs(paw_cmh2o[:, 2:] - 2.0 * paw_cmh2o[:, 1:-1] + paw_cmh2o[:, :-2])
    sd_p = np.median(d2, axis=1) / 0.6745 / np.sqrt(6.0) / np.sqrt(2 * hp + 1)
    nb = max(1, int(round(BASELINE_S / dt_s)))
    base_cols = (cols <= j[:, None]) & (cols > (j - nb)[:, None]) & usable
    n_base = base_cols.sum(axis=1)
    base = np.sum(np.where(base_cols, sp, 0.0), axis=1) / np.maximum(n_base, 1)
    dip = base - sp[rows, kd]
    triggered = (
        has & (n_base > 0) & (peak > 0)
        & ((kd - j) * dt_s >= MIN_EFFORT_S)
        & (dip >= np.maximum(DIP_NOISE_SD * sd_p, MIN_DIP_CMH2O))
        & (sf[rows, kd] < 0.5 * peak)
    )
    moved = triggered if forced is None else triggered | (forced & (kd > start_col))
    # the foot of the delivery's pressure rise after the dip's bottom: the line through its
    # crossings of FOOT_LOW and FOOT_HIGH of the way from the bottom to the pressure at the
    # early flow peak, followed back to the bottom (raw pressure: a centred mean would put
    # the foot of a step half its window early)
    rise = (cols >= kd[:, None]) & (cols <= kp[:, None])
    p_low = sp[rows, kd]
    p_top = np.max(np.where(rise, sp, -np.inf), axis=1)
    t_lo = _last_crossing(t_s, paw_cmh2o, rise, p_low + FOOT_LOW * (p_top - p_low))
    t_hi = _last_crossing(t_s, paw_cmh2o, rise, p_low + FOOT_HIGH * (p_top - p_low))
    span = np.where(t_hi > t_lo, t_hi - t_lo, 1.0)
    t_foot = np.where(t_hi > t_lo, t_lo - span * FOOT_LOW / (FOOT_HIGH - FOOT_LOW), t_lo)
    # ... and no earlier than the same foot of the flow's rise (from its low after the dip):
    # an effort that relaxes before the delivery lifts the pressure slowly first
    f_low = np.min(np.where(rise, sf, np.inf), axis=1)
    f_low = np.where(np.isfinite(f_low), f_low, 0.0)
    t_lo = _last_crossing(t_s, flow_lpm, rise, f_low + FOOT_LOW * (peak - f_low))
    t_hi = _last_crossing(t_s, flow_lpm, rise, f_low + FOOT_HIGH * (peak - f_low))
    span = np.where(t_hi > t_lo, t_hi - t_lo, 1.0)
    t_foot = np.maximum(t_foot, np.where(t_hi > t_lo, t_lo - span * FOOT_LOW / (FOOT_HIGH - FOOT_LOW), t_lo))
    t_foot = np.maximum(t_foot, t_s[rows, kd])
    t_del = np.where(moved, t_foot, t_s[:, start_col])
    col = np.where(moved, np.sum(t_s < t_del[:, None], axis=1), start_col)
    return triggered, col, t_del, np.where(triggered, t_eff, np.nan)


def _last_crossing(t_s, x, mask, level):
    """Time of the last upward crossing of ``level`` (per row) by ``x`` within ``mask``,
    interpolated; the first masked time where there is none."""
    above = (x >= level[:, None]) & mask
    up = above[:, 1:] & ~above[:, :-1] & mask[:, :-1]
    has = up.any(axis=1)
    w = x.shape[1]
    k = np.where(has, w - 1 - np.argmax(up[:, ::-1], axis=1), np.argmax(mask, axis=1))
    rows = np.arange(x.shape[0])
    k0 = np.maximum(k - 1, 0)
    x0, x1 = x[rows, k0], x[rows, k]
    frac = np.where(has & (x1 != x0), (level - x0) / np.where(x1 != x0, x1 - x0, 1.0), 1.0)
    return t_s[rows, k0] + (t_s[rows, k] - t_s[rows, k0]) * np.clip(frac, 0.0, 1.0)
