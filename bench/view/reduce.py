"""Waveforms reduced to what a screen can show: min and max per pixel column.

A column keeps the lowest and the highest sample that fell in it, so a peak one sample wide
is still drawn (no decimation by picking every n-th sample, which loses peaks).
"""

from __future__ import annotations

import numpy as np


def minmax_columns(t_s: np.ndarray, channels: list[np.ndarray], t_lo_s: float, t_hi_s: float,
                   cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min and max of each channel per column of ``[t_lo_s, t_hi_s)``.

    Parameters
    ----------
    t_s : ndarray
        Sample times, s, non-decreasing.
    channels : list of ndarray
        Values at ``t_s`` (any unit), each as long as ``t_s``.
    t_lo_s, t_hi_s : float
        The window, s (``t_hi_s > t_lo_s``).
    cols : int
        Number of columns (pixels), ≥ 1.

    Returns
    -------
    t_col_s : ndarray, shape (cols,)
        Left edge of each column, s.
    lo, hi : ndarray, shape (len(channels), cols)
        Per channel and column the least and the greatest sample (NaN samples ignored);
        NaN where a column holds no sample.
    """
    if cols < 1 or not t_hi_s > t_lo_s:
        raise ValueError(f"bad window: {cols} columns over [{t_lo_s}, {t_hi_s}) s")
    t_col_s = t_lo_s + (t_hi_s - t_lo_s) * np.arange(cols) / cols
    lo = np.full((len(channels), cols), np.nan)
    hi = np.full((len(channels), cols), np.nan)
    i0, i1 = np.searchsorted(t_s, [t_lo_s, t_hi_s], side="left")
    if i1 <= i0:
        return t_col_s, lo, hi
    col = ((t_s[i0:i1] - t_lo_s) * (cols / (t_hi_s - t_lo_s))).astype(np.intp)
    np.clip(col, 0, cols - 1, out=col)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    which = col[starts]
    with np.errstate(invalid="ignore"):
        for k, values in enumerate(channels):
            segment = np.asarray(values[i0:i1], dtype=float)
            lo[k, which] = np.fmin.reduceat(segment, starts)
            hi[k, which] = np.fmax.reduceat(segment, starts)
    return t_col_s, lo, hi
