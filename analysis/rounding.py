"""Rounding to significant digits, one number at a time or a whole column at once.

Results files keep :data:`SIGNIFICANT_DIGITS` significant digits. The rule is the one
``float(f"{value:.7g}")`` applies: the decimal with 7 significant digits nearest to the
binary value (ties to even), read back as the nearest double. :func:`round_floats` gives the
very same doubles for a whole sequence, vectorised: a results document of a 3-hour recording
holds ~10^5 numbers, and rounding them one by one costs more than analysing the recording.

How the vectorised path stays exact: for a value whose decimal exponent is ``e``, the
``digits``-digit mantissa is ``m = rint(value · 10^k)`` with ``k = digits - 1 - e``, and the
result ``m / 10^k`` (or ``m · 10^-k``) is correctly rounded by IEEE arithmetic because both
operands are exact (``m`` < 2^53, ``10^|k|`` exact for |k| ≤ 22), so it is the double nearest
to the decimal, as ``float()`` reads it. The scaled value ``value · 10^k`` is inexact, but it is
correctly rounded and rounding is monotonic, and every half-way point ``n + 0.5`` below 10^7 is
a double: the scaled value lies on the same side of a half-way point as the exact product, or
on it. Values on or within 10^-6 of a half-way point (a margin kept for safety), values whose
``m`` has not exactly ``digits`` digits (``log10`` next to a power of ten), zeros, magnitudes
outside 10^-15 … 10^15, NaN and ±inf take the one-number path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["SIGNIFICANT_DIGITS", "round_floats", "round_number"]

#: Significant digits kept in results JSON (well below any instrument's resolution).
SIGNIFICANT_DIGITS = 7
#: 10^k, exact as doubles for k ≤ 22.
_POW10 = np.array([float(10**k) for k in range(23)])
#: Magnitudes whose scale factor 10^k stays within the exact powers above (for digits ≤ 7).
_FAST_MIN, _FAST_MAX = 1e-15, 1e15
#: Scaled values closer than this to a half-way point are rounded one by one.
_TIE_MARGIN = 1e-6


def round_number(value: float, digits: int = SIGNIFICANT_DIGITS) -> float | None:
    """Round to ``digits`` significant digits; None for NaN or ±inf; -0.0 becomes 0.0."""
    value = float(value)
    if not math.isfinite(value):
        return None
    out = float(f"{value:.{digits}g}")
    return out + 0.0  # normalise -0.0


def round_floats(values: Sequence[float], digits: int = SIGNIFICANT_DIGITS) -> list[float | None]:
    """:func:`round_number` of every value, as a list; the same doubles, computed at once.

    Parameters
    ----------
    values : sequence of float
        Any floats (Python floats or a float64 array).
    digits : int
        Significant digits, 1 … 7.

    Returns
    -------
    list of float or None
        None where the value is NaN or infinite.
    """
    if not 1 <= digits <= 7:
        return [round_number(v, digits) for v in values]
    array = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(array)
    fast = (magnitude >= _FAST_MIN) & (magnitude < _FAST_MAX)
    with np.errstate(all="ignore"):  # NaN, ±inf and 0 are computed too, then not used
        exponent = np.floor(np.log10(np.where(fast, magnitude, 1.0))).astype(np.int64)
        shift = (digits - 1) - exponent  # decimal places the mantissa is taken at
        scale = _POW10[np.abs(shift)]
        up = shift >= 0
        scaled = np.where(up, array * scale, array / scale)
        mantissa = np.rint(scaled)
        tie_distance = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5)
        fast &= (tie_distance > _TIE_MARGIN) & (np.abs(mantissa) >= 10.0 ** (digits - 1)) & (
            np.abs(mantissa) < 10.0**digits)
        rounded = np.where(up, mantissa / scale, mantissa * scale)
    out: list[float | None] = rounded.tolist()
    if not fast.all():
        finite = np.isfinite(array)
        for i in np.flatnonzero(~fast & finite & (array != 0.0)).tolist():
            out[i] = round_number(array[i], digits)
        for i in np.flatnonzero(array == 0.0).tolist():
            out[i] = 0.0  # -0.0 too
        for i in np.flatnonzero(~finite).tolist():
            out[i] = None
    return out
