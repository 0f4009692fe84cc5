"""The median of a 1-D array: ``np.median``'s value, without its first call's import of
``numpy.ma`` (~12 ms, paid by every command that analyses anything)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["median"]


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
