"""Leading-edge boundary estimator: where a phase really starts, located where its edge is large.

The zero crossing of a noisy flow is a poor boundary for small or slow edges (a neonatal
0.75 L/min step in 0.3 L/min noise, the decaying flow at the end of a pressure-controlled
inspiration). :func:`refine_edges` locates each edge from robust crossings of two levels
relative to the phase's early peak (ramp: extrapolated back to zero flow; step: the
half-height crossing), vectorised over many edges in fixed-width windows so every edge's
result is bit-identical whichever edges share a call.

Step 4 of the segmentation in :mod:`analysis.segment`; the windows are gathered by
:class:`analysis.buffer.SampleBuffer`.
"""

from __future__ import annotations

import numpy as np

#: Levels at which a phase's leading edge is located, as fractions of the phase's early peak
#: of the detection-smoothed flow (see :func:`refine_edges`).
EDGE_LOW_FRACTION = 0.125
EDGE_HIGH_FRACTION = 0.5
#: Highest fraction of the peak the high level may be raised to above a noisy low level.
EDGE_TOP_FRACTION = 0.75
#: The low edge level is at least this many noise standard deviations above zero.
EDGE_NOISE_SD = 2.0


def _crossings(gw, tw, inside, lo_col, hi_col, level):
    """Robust upward crossings of ``level`` (per row) in columns ``lo_col .. hi_col-1`` (the
    mask ``inside``) of the windows ``gw`` / ``tw`` (R x W): (column k, time s, found); see
    :func:`refine_edges`."""
    rows = np.arange(gw.shape[0])
    # no row reaches past column `width`: the prefix sums (sequential) stop there
    width = min(max(int(hi_col.max(initial=1)), 1), gw.shape[1])
    inside = inside[:, :width]
    pref = np.cumsum(np.where(inside, gw[:, :width] - level[:, None], 0.0), axis=1)
    pref = np.where(inside, pref, np.inf)
    m = np.argmin(pref, axis=1)
    ok = (pref[rows, m] < 0.0) & (m < hi_col - 1)
    k = np.minimum(np.maximum(np.where(ok, m + 1, lo_col + 1), 1), gw.shape[1] - 1)
    g0, g1 = gw[rows, k - 1], gw[rows, k]
    t0 = tw[rows, k - 1]
    den = np.where(ok, g1 - g0, 1.0)
    return k, t0 + (tw[rows, k] - t0) * ((level - g0) / den), ok


def refine_edges(gw, tw, a_col, b_col, peak):
    """Phase boundaries from their leading edges, for many edges at once (row by row).

    The noisy zero crossing is a poor estimate of where a small edge starts: in noise of
    σ ≈ 0.3 L/min the flow crosses zero several times just before a 0.75 L/min neonatal
    step, and ends of pressure-controlled inspirations (flow decayed to about zero) are
    no better. The edge is instead located where it is large:

    1. Robust level crossings (:func:`_crossings`): the crossing of a level is the change
       point ``k`` minimising ``sum(g[a:k] - level)``, the least-squares split into a part
       below and a part above the level (for a step in white noise with the level half-way,
       the maximum-likelihood step position); single noisy samples on either side do not
       move it. ``g[k-1] < level <= g[k]``; the time is interpolated between them.
    2. The high level is half the peak; the low level an eighth of it, but at least
       ``EDGE_NOISE_SD`` noise σ (σ from the second differences of the samples before the
       high crossing: they cancel a constant and a straight ramp, var = 6 σ²); the high
       level is raised to twice the low one, up to ``EDGE_TOP_FRACTION`` of the peak.
    3. Ramp (pressure control: flow rises with the pressure): the straight line through the
       two crossings is followed back to zero flow, the foot of the ramp (exact for a
       straight ramp; slightly early for the concave exponential rise). It is never before
       the first zero crossing after the last sample clearly (by the noise band) below zero
       (without noise, the last plain zero crossing), so a curved edge (a sine, the start of
       an exponential expiration) cannot extrapolate past where the flow crossed zero.
    4. Step (volume control, or the valve opening): a step crosses half its height at its
       true time, so the high-level crossing is the boundary. An edge is a step when the
       noise leaves no room for a low level (a small neonatal step), or when the samples
       between the two crossings lie on average below half the line through them (the low
       crossing was noise just before a step, not a ramp).

    Parameters
    ----------
    gw, tw : ndarray (R, W)
        Per edge, the finite flow signed so that the new phase is positive (flow for a start
        of inspiration, ``-flow`` for an end) and the sample times, in windows of a fixed
        width per stream: every row's result is then bit-identical whichever rows share a
        call (row-wise reductions over the same padded width).
    a_col, b_col : ndarray of int (R,)
        Columns ``a_col .. b_col-1`` of each row hold the edge's samples (others are 0).
    peak : ndarray (R,)
        Early peak of the smoothed signed flow (> 0).

    Returns
    -------
    col : ndarray of int
        Column of the first sample after the boundary; -1 where no edge was found.
    t_s : ndarray
        Boundary time, s.
    """
    rows = np.arange(gw.shape[0])
    cols = np.arange(gw.shape[1])[None, :]
    from_a = cols >= a_col[:, None]
    inside = from_a & (cols < b_col[:, None])
    k1, t1, ok1 = _crossings(gw, tw, inside, a_col, b_col, EDGE_HIGH_FRACTION * peak)
    # noise σ from the second differences of the samples a .. k1-1
    d2 = np.zeros(gw.shape)
    inner = gw[:, :-2] - 2.0 * gw[:, 1:-1]
    inner += gw[:, 2:]
    np.square(inner, out=d2[:, 1:-1])
    n_d2 = k1 - a_col - 2
    in_d2 = (cols > a_col[:, None]) & (cols < (k1 - 1)[:, None])
    sd = np.sqrt(np.where(n_d2 >= 3, np.sum(np.where(in_d2, d2, 0.0), axis=1), 0.0)
                 / (6.0 * np.maximum(n_d2, 1)))
    lo_level = np.maximum(EDGE_LOW_FRACTION * peak, EDGE_NOISE_SD * sd)
    step = 2.0 * lo_level > EDGE_TOP_FRACTION * peak
    hi_level = np.maximum(EDGE_HIGH_FRACTION * peak, 2.0 * lo_level)
    if np.any(hi_level != EDGE_HIGH_FRACTION * peak):
        k2, t2, ok2 = _crossings(gw, tw, inside, a_col, b_col, hi_level)
    else:  # no level raised: the same crossings
        k2, t2, ok2 = k1, t1, ok1
    k0, t0, ok0 = _crossings(gw, tw, from_a & (cols <= k2[:, None]), a_col, k2 + 1, lo_level)
    # samples between the crossings: on the line for a ramp, near zero before a step
    between = (cols >= k0[:, None]) & (cols < k2[:, None])
    span = np.where(t2 > t0, t2 - t0, 1.0)
    line = lo_level[:, None] + (tw - t0[:, None]) * ((hi_level - lo_level) / span)[:, None]
    sum_g = np.sum(np.where(between, gw, 0.0), axis=1)
    sum_line = np.sum(np.where(between, line, 0.0), axis=1)
    step2 = (k2 > k0) & (sum_g < 0.5 * sum_line)
    t_c = t0 - (t2 - t0) * (lo_level / (hi_level - lo_level))
    # not before the first zero crossing after the last sample clearly below zero
    band = EDGE_NOISE_SD * sd
    # Only columns up to the low crossing k0 matter from here (positions and counts, no
    # float sums): leave out the columns past every row's k0.
    kw = int(k0.max(initial=1)) + 1
    g, c = gw[:, :kw], cols[:, 1:kw]
    # upward crossings between columns c-1 and c: False then True (gw is finite)
    above = g + band[:, None] > 0.0
    clear = above[:, 1:] > above[:, :-1]
    to_k0 = c <= k0[:, None]
    clear &= (c > a_col[:, None]) & to_k0
    j = np.where(clear.any(axis=1), kw - 1 - np.argmax(clear[:, ::-1], axis=1), a_col + 1)
    positive = g > 0.0
    plain = (positive[:, 1:] > positive[:, :-1]) & (c >= j[:, None]) & to_k0
    has = plain.any(axis=1)
    jc = np.where(has, np.argmax(plain, axis=1) + 1, 1)
    f0, f1 = gw[rows, jc - 1], gw[rows, jc]
    tz = tw[rows, jc - 1] + (tw[rows, jc] - tw[rows, jc - 1]) * (f0 / np.where(has, f0 - f1, 1.0))
    t_c = np.maximum(t_c, np.where(has, tz, tw[rows, a_col]))
    upto = from_a[:, :kw] & (cols[:, :kw] <= k0[:, None]) & (tw[:, :kw] <= t_c[:, None])
    col = a_col + np.sum(upto, axis=1)
    # steps: at the (first or raised) high-level crossing
    ks, ts = np.where(step, k1, k2), np.where(step, t1, t2)
    is_step = step | step2
    col = np.where(is_step, np.where(ts < tw[rows, ks], ks, ks + 1), col)
    t_c = np.where(is_step, ts, t_c)
    found = ok1 & (step | (ok2 & ok0))
    return np.where(found, col, -1), t_c
