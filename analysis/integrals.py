"""Trapezoid integrals over breath phases bounded by interpolated boundaries.

A phase runs between two refined boundaries (:class:`~analysis.metrics.Boundary`), each at
an interpolated time between two samples with a known (interpolated) value there — zero flow
at a zero crossing. Its integral is the trapezoid rule over the samples strictly inside the
phase plus the two boundary points, so the fractional sample intervals at both ends are
counted exactly for piecewise-linear signals.

:func:`phase_volume_ml` does one phase directly; :func:`phase_integral` does many at once
from per-sample trapezoid weights (:func:`trapezoid_weights`) summed per phase, with the end
samples' weights corrected to the boundary times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ventbench.units import ML_PER_S_PER_LPM

if TYPE_CHECKING:
    from ventbench.analysis.metrics import Boundary


def _integral(t_s: np.ndarray, y: np.ndarray, a: Boundary, b: Boundary, ya: float, yb: float) -> float:
    """Trapezoid integral of y over [a.t_s, b.t_s]: the samples a.index .. b.index-1 plus
    the boundary points (a.t_s, ya) and (b.t_s, yb)."""
    i, j = a.index, b.index
    if j <= i:
        return 0.5 * (ya + yb) * (b.t_s - a.t_s)
    dt = np.diff(t_s[i:j])
    inner = float(np.sum((y[i : j - 1] + y[i + 1 : j]) * dt)) * 0.5
    head = 0.5 * (ya + float(y[i])) * (float(t_s[i]) - a.t_s)
    tail = 0.5 * (float(y[j - 1]) + yb) * (b.t_s - float(t_s[j - 1]))
    return head + inner + tail


def phase_volume_ml(t_s: np.ndarray, flow_lpm: np.ndarray, a: Boundary, b: Boundary) -> float:
    """Integral of flow from boundary ``a`` to ``b``, mL (positive for inspiratory flow)."""
    return _integral(t_s, flow_lpm, a, b, a.flow_lpm, b.flow_lpm) * ML_PER_S_PER_LPM


def trapezoid_weights(t_s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Trapezoid weight of each sample, s: (t[k+1] - t[k-1]) / 2, the ends clamped (into
    ``out`` if given)."""
    w = np.empty(t_s.shape[0]) if out is None else out
    if w.shape[0] < 2:
        w[:] = 0.0
        return w
    np.subtract(t_s[2:], t_s[:-2], out=w[1:-1])
    w[0] = t_s[1] - t_s[0]
    w[-1] = t_s[-1] - t_s[-2]
    w *= 0.5
    return w


def interp_at(t_s: np.ndarray, y: np.ndarray, j: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """y linearly interpolated at times ``tb`` between samples ``j-1`` and ``j``."""
    j0 = np.maximum(j - 1, 0)
    denom = t_s[j] - t_s[j0]
    safe = np.where(denom > 0, denom, 1.0)
    inner = y[j0] + (y[j] - y[j0]) * ((tb - t_s[j0]) / safe)
    return np.where((denom > 0) & (t_s[j] != tb), inner, y[j])


def phase_integral(t_s, y, inner, i, j, ta, tb, ya, yb) -> np.ndarray:
    """Trapezoid integrals over phases [ta, tb] (samples ``i .. j-1``, values ``ya`` / ``yb``
    at the boundaries) from the weighted inner sums (see :func:`trapezoid_weights`): the end
    samples' weights are corrected to the boundary times."""
    n = t_s.shape[0]
    ic = np.minimum(i, n - 1)
    jl = np.minimum(np.maximum(j - 1, 0), n - 1)
    t_prev = t_s[np.maximum(ic - 1, 0)]
    t_next = t_s[np.minimum(j, n - 1)]
    ends = y[ic] * (t_prev - ta) + y[jl] * (tb - t_next) + ya * (t_s[ic] - ta) + yb * (tb - t_s[jl])
    return np.where(j > i, inner + 0.5 * ends, 0.5 * (ya + yb) * (tb - ta))
