"""The median and percentiles of a 1-D array: ``np.median``'s and ``np.percentile``'s values,
bit for bit, without their first call's import of ``numpy.ma`` (~8–12 ms, paid by every
command that analyses anything: ``np.percentile`` reaches it through ``np.unique``)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["median", "percentiles"]


def median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a 1-D array, bit for bit.

    Parameters
    ----------
    values : array_like
        Numbers, any length; NaN anywhere gives NaN, as does an empty array (where
        ``np.median`` also warns).
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    n = array.size
    if n == 0 or np.isnan(array).any():
        return math.nan
    half = n // 2
    if n % 2:
        return float(np.partition(array, half)[half])
    low, high = np.partition(array, (half - 1, half))[half - 1:half + 1]
    return float((low + high) / 2.0)


def percentiles(values: np.ndarray, q_pct: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(values, q_pct)`` (method "linear") of a 1-D array, bit for bit.

    The same operations in the same order as numpy 2's ``_quantile``: virtual index
    ``(n - 1) · q / 100``, the neighbours either side by one partition, and numpy's
    two-sided linear interpolation (from below when the weight is < 0.5, from above
    otherwise).

    Parameters
    ----------
    values : array_like
        Numbers, at least one; NaN anywhere gives NaN for every percentile.
    q_pct : tuple of float
        Percentiles, %, each in [0, 100].

    Returns
    -------
    ndarray
        One value per percentile, in the values' unit.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    n = array.size
    if n == 0:
        raise ValueError("percentiles of an empty array")
    quantiles = np.true_divide(np.asarray(q_pct, dtype=np.float64), 100)
    if np.isnan(array).any():
        return np.full(quantiles.shape, math.nan)
    virtual = (n - 1) * quantiles
    below = np.floor(virtual)
    above = below + 1
    below[virtual >= n - 1] = -1
    above[virtual >= n - 1] = -1
    below_i, above_i = below.astype(np.intp), above.astype(np.intp)
    kth = np.sort(np.concatenate(([0, n - 1], below_i % n, above_i % n)))
    ordered = np.partition(array, kth[np.concatenate(([True], kth[1:] != kth[:-1]))])
    low, high = ordered[below_i], ordered[above_i]
    gamma = virtual - below
    diff = high - low
    result = low + diff * gamma
    np.subtract(high, diff * (1 - gamma), out=result, where=gamma >= 0.5)
    return result
