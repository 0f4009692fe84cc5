"""The segmentation checks itself: doubt about the breaths found turns a verdict INCONCLUSIVE.

Whatever settings found the breaths (adaptive, a preset, a protocol's), the trace is audited
with levels from the signal itself (:mod:`analysis.adaptive`, over the breathing part of the
trace). Reasons for doubt (each names what was seen):

- **unassigned inspiratory activity**: a run of detection-smoothed flow above the adaptive
  inspiratory threshold, at least the adaptive shortest inspiration long and carrying at least
  the adaptive smallest inspiration volume, that overlaps no accepted breath's inspiration
  (from :data:`EFFORT_MARGIN_S` before its start to its end of inspiration), between the
  first and the last breath found (or anywhere, when none was found);
- **over-long breaths with activity inside**: such a run inside a breath that lasts more than
  :data:`LONG_BREATH_FACTOR` set periods;
- **breath count far from the set rate**: fewer than :data:`COUNT_FRACTION` of the breaths
  the set rate implies over the span, while the signal shows unassigned activity.

A device that truly breathes slower than set has no unassigned activity: its rate check
still FAILs.
"""

from __future__ import annotations

import numpy as np

from ventbench.analysis.adaptive import settings_from_levels, signal_levels
from ventbench.analysis.segment import SegmentationSettings
from ventbench.units import ML_PER_S_PER_LPM

#: An accepted inspiration covers its effort: this long before its start, s.
EFFORT_MARGIN_S = 0.5
#: A breath longer than this many set periods is over-long.
LONG_BREATH_FACTOR = 1.8
#: Fewer breaths than this fraction of what the set rate implies is far from it.
COUNT_FRACTION = 0.75
#: Runs named in a reason, at most.
MAX_LISTED = 5


def _activity_runs(t_s: np.ndarray, flow_lpm: np.ndarray):
    """Runs of inspiratory activity by adaptive levels: (start s, end s) arrays, and the
    threshold, L/min (None when the trace shows no breathing)."""
    f = np.where(np.isfinite(flow_lpm), flow_lpm, 0.0)
    levels = signal_levels(t_s, f)
    if not levels.breathing:
        return np.zeros(0), np.zeros(0), None
    seg = settings_from_levels(levels, SegmentationSettings.auto())
    h = max(0, int(round(seg.smoothing_s / levels.dt_s / 2.0)))
    c = np.cumsum(np.concatenate(([0.0], f)))
    sm = np.zeros_like(f)
    if f.shape[0] > 2 * h + 1:
        sm[h : f.shape[0] - h] = (c[2 * h + 1 :] - c[: -2 * h - 1]) / (2 * h + 1)
    above = np.concatenate(([False], sm > seg.insp_threshold_lpm, [False]))
    d = np.diff(above.astype(np.int8))
    a, b = np.flatnonzero(d == 1), np.flatnonzero(d == -1)  # samples a .. b-1 above
    if a.size == 0:
        return np.zeros(0), np.zeros(0), seg.insp_threshold_lpm
    dur = t_s[b - 1] - t_s[a]
    vol = (c[b] - c[a]) / np.maximum(b - a, 1) * dur * ML_PER_S_PER_LPM
    keep = (dur >= seg.min_insp_s) & (vol >= seg.min_vti_ml)
    return t_s[a[keep]], t_s[b[keep] - 1], seg.insp_threshold_lpm


def segmentation_doubts(t_s, flow_lpm, breaths, set_rate_bpm: float | None = None) -> list[str]:
    """Reasons to doubt the breaths found in a trace ([] when none).

    Parameters
    ----------
    t_s, flow_lpm : array_like
        The analysed trace: time, s, and flow, L/min (the analysis gas condition).
    breaths : sequence of Breath
        The breaths found.
    set_rate_bpm : float, optional
        Set rate, bpm: enables the over-long breath and breath count checks.

    Returns
    -------
    list of str
    """
    t = np.asarray(t_s, dtype=float)
    if t.shape[0] < 3:
        return []
    a, b, thr = _activity_runs(t, np.asarray(flow_lpm, dtype=float))
    if thr is None or a.size == 0:
        return []
    starts = np.array([x.t_start_s for x in breaths], dtype=float)
    ends = np.array([x.t_insp_end_s for x in breaths], dtype=float)
    if breaths:
        lo, hi = starts[0], breaths[-1].t_start_s + breaths[-1].ti_s + breaths[-1].te_s
        inside = (a >= lo) & (b <= hi)
        # overlaps an inspiration [start - margin, end of inspiration]?
        k = np.searchsorted(starts - EFFORT_MARGIN_S, b, side="right") - 1
        covered = (k >= 0) & (a <= ends[np.maximum(k, 0)])
        loose = inside & ~covered
    else:
        loose = np.ones(a.shape, dtype=bool)
    reasons = []
    if loose.any():
        at = ", ".join(f"{x:.2f}" for x in a[loose][:MAX_LISTED])
        more = f" … ({int(loose.sum())} in all)" if loose.sum() > MAX_LISTED else ""
        reasons.append(f"unassigned inspiratory activity: flow above {thr:.2g} L/min belonging to no "
                       f"breath found, at {at}{more} s")
    if set_rate_bpm and set_rate_bpm > 0 and breaths:
        period = 60.0 / set_rate_bpm
        cycles = np.array([x.ti_s + x.te_s for x in breaths])
        long_ones = [x for x, cyc in zip(breaths, cycles, strict=True)
                     if cyc > LONG_BREATH_FACTOR * period
                     and np.any((a > x.t_insp_end_s) & (a < x.t_start_s + cyc))]
        if long_ones:
            at = ", ".join(f"{x.t_start_s:.2f}" for x in long_ones[:MAX_LISTED])
            reasons.append(f"over-long breaths with inspiratory activity inside (set period {period:.3g} s): "
                           f"breaths at {at} s")
        span = breaths[-1].t_start_s + cycles[-1] - breaths[0].t_start_s
        expected = span / period
        if len(breaths) < COUNT_FRACTION * expected and loose.any():
            reasons.append(f"breath count far from the set rate: {len(breaths)} breaths in {span:.1f} s, "
                           f"{expected:.0f} expected at {set_rate_bpm:g} bpm, with unassigned activity")
    return reasons


def doubt_point(point: dict, doubts: list[str]) -> dict:
    """Record ``doubts`` in one point of the results (``segmentation_doubts``) and, since our
    own doubt is never the device's fault, turn its PASS or FAIL into INCONCLUSIVE with the
    reason. Returns ``point``."""
    if doubts and point.get("breaths"):
        point["segmentation_doubts"] = list(doubts)
        if point.get("verdict") in ("PASS", "FAIL"):
            point["verdict"] = "INCONCLUSIVE"
            point["reason"] = "segmentation in doubt: " + "; ".join(doubts)
    return point
