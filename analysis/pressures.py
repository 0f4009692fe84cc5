"""Pressure estimators of a breath: PIP (noise-corrected peak, end-of-inspiration fit) and plateau.

PIP is the largest of (a) the highest pressure sample lowered by :data:`PIP_NOISE_SD`
standard deviations of the breath's pressure noise and (b) the straight line fitted to the
last ``pip_fit_samples`` inspiratory samples, evaluated at the end of inspiration
(:func:`end_fit`). The highest of many noisy samples on the flat top of a pressure-controlled
breath is biased up by 2.5-3.5 noise σ (100-1000 samples); (a) removes most of that bias.
The volume-controlled peak is a corner at the end of inspiration (a linear rise, then the
valve opens), where few samples are near the top and sampling misses the corner; (b)
follows the rise to the corner, unbiased. Without noise (a) is the highest sample, so a
peak elsewhere (before an inspiratory pause) is still found. The pressure noise is taken
from the second differences inside the PEEP window, where the end-expiratory pressure is
flat (:func:`pressure_noise_sd`).

The plateau pressure is the mean over the longest window ending at the end of inspiration
in which the flow stays low and the pressure stable (the IMT rule, :func:`plateau`).

Used by :func:`analysis.metrics.breaths_metrics`, vectorised over breaths where possible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ventbench.units import CMH2O_PER_HPA

if TYPE_CHECKING:
    from ventbench.analysis.metrics import Boundary, MetricSettings

#: PIP from the highest sample is lowered by this many pressure-noise standard deviations.
PIP_NOISE_SD = 2.5


def end_fit(t_s, paw_cmh2o, si, di, dt, m: int) -> np.ndarray:
    """Per breath, the least-squares line through the last ``m`` inspiratory pressure
    samples evaluated at the end of inspiration ``dt`` (NaN with fewer than 2 samples)."""
    k = si.shape[0]
    if m < 2:
        return np.full(k, np.nan)
    idx = di[:, None] - m + np.arange(m)[None, :]
    ok = idx >= si[:, None]
    idx = np.maximum(idx, 0)
    x = np.where(ok, t_s[idx] - dt[:, None], 0.0)
    y = np.where(ok, paw_cmh2o[idx], 0.0)
    n = ok.sum(axis=1)
    nn = np.maximum(n, 1)
    mx, my = x.sum(axis=1) / nn, y.sum(axis=1) / nn
    xc = np.where(ok, x - mx[:, None], 0.0)
    sxx = (xc * xc).sum(axis=1)
    slope = (xc * (y - my[:, None])).sum(axis=1) / np.where(sxx > 0, sxx, 1.0)
    return np.where((n >= 2) & (sxx > 0), my - slope * mx, np.nan)


def pressure_noise_sd(paw_cmh2o: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per breath, the pressure noise σ (cmH2O) from the second differences centred inside
    the samples ``lo .. hi-1`` (the PEEP window); 0 with fewer than 3 of them.

    Second differences cancel a constant and a straight ramp (var = 6 σ²). The windows are
    gathered at the widest window's width and summed sequentially (``cumsum``), so the
    padding changes no bit of any breath's result.
    """
    k = lo.shape[0]
    n = paw_cmh2o.shape[0]
    n_d2 = hi - lo - 2
    width = int(n_d2.max(initial=0))
    p_sd = np.zeros(k)
    if width >= 3:  # gathered windows: only the PEEP windows' samples are read
        # samples lo .. lo + width + 1; the sums read only each window's own (below hi <= n)
        w = paw_cmh2o[np.minimum(lo[:, None] + np.arange(width + 2)[None, :], n - 1)]
        d2 = w[:, :-2] - 2.0 * w[:, 1:-1] + w[:, 2:]
        # a sequential sum (cumsum), so padding to the widest window changes no bit
        d2_cum = np.cumsum(d2 * d2, axis=1)
        d2_sum = d2_cum[np.arange(k), np.minimum(np.maximum(n_d2 - 1, 0), width - 1)]
        p_sd = np.sqrt(np.where((n_d2 >= 3) & np.isfinite(d2_sum), d2_sum, 0.0) / (6.0 * np.maximum(n_d2, 1)))
    return p_sd


def pip_cmh2o(highest_cmh2o, t_s, paw_cmh2o, si, di, dt, peep_lo, peep_hi, fit_samples: int) -> np.ndarray:
    """Per breath PIP, cmH2O (see module doc): the highest pressure ``highest_cmh2o`` lowered
    by the noise, or the end-of-inspiration fit over ``fit_samples``, whichever is larger.

    ``si`` / ``di``: first sample of inspiration / of expiration, ``dt`` end of inspiration
    (s); ``peep_lo .. peep_hi-1``: the PEEP window's samples.
    """
    p_sd = pressure_noise_sd(paw_cmh2o, peep_lo, peep_hi)
    return np.fmax(highest_cmh2o - PIP_NOISE_SD * p_sd, end_fit(t_s, paw_cmh2o, si, di, dt, fit_samples))


def plateau(t_s, flow_lpm, paw_cmh2o, start: Boundary, insp_end: Boundary, s: MetricSettings):
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
