"""Rows of plain decimal numbers (``-12.34, 5.0``) parsed as integers: ``float()``'s values,
bit for bit, in a fraction of ``np.loadtxt``'s time.

A recording's numbers are almost always written with a fixed number of decimals and no
exponent. Such a number is an integer ``m`` (its digits without the point) divided by
``10**k`` (``k`` digits after the point). numpy parses integers several times faster than
floats (``np.fromstring(..., dtype=int64, sep=",")``: ~25 ns a number against loadtxt's
~90 ns), and the division gives exactly the double ``float()`` gives: ``|m|`` ≤ 2**53 and
``10**k`` (k ≤ 22) are exact doubles, and IEEE division rounds their
exact quotient ``m / 10**k`` — the decimal number itself — to the nearest double, which is
what a correctly rounding decimal parser returns. The one difference, ``-0.00`` (integer 0
has no sign), is restored from the minus signs.

Everything else (exponents, ``inf``/``nan``, tabs, blank fields, white space before a
separator, more than 15 digits, a row with another field count) returns None, and the
caller parses the text its general way. The checks are vectorised over the bytes.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["parse_decimal_rows"]

#: the digits as an integer must be an exact double (this also rejects what int64 parsing
#: saturates: more than 18 digits)
_MAX_EXACT = 2**53
_POW10 = np.array([10.0**k for k in range(23)])  # exact doubles up to 10**22
_ALLOWED = b"0123456789-., \n"
#: newlines become separators and points vanish: the text numpy's integer parser reads
_INTEGER_TEXT = bytes.maketrans(b"\n", b",")
# Once every byte is one of _ALLOWED ("\n" 10, " " 32, "," 44, "-" 45, "." 46, digits
# 48-57), classes are ranges: one comparison each instead of a table look-up.
_SEP_OR_SPACE_MAX = ord(",")  # "\n", " ", ","
_DIGIT_OR_POINT_MIN = ord(".")  # ".", digits
_DIGIT_MIN = ord("0")


def parse_decimal_rows(body: bytes, columns: int) -> np.ndarray | None:
    """Parse ``columns`` comma-separated decimal numbers per line.

    Parameters
    ----------
    body : bytes
        ASCII lines, each ending in ``\\n`` (the last one too), each of ``columns`` fields
        ``[ ]*[-]?digits[.digits]`` separated by ``,`` (a space after a comma is allowed).
    columns : int
        Fields per line (≥ 1).

    Returns
    -------
    ndarray or None
        (lines × columns) float64, each value the one ``float(field)`` gives (sign of zero
        included); None when the text is not of that form (nothing is guessed: the caller
        then parses it another way).
    """
    if not body.endswith(b"\n") or body.translate(None, _ALLOWED):
        return None
    buf = np.frombuffer(body, dtype=np.uint8)
    seps = np.flatnonzero((buf == ord(",")) | (buf == ord("\n")))  # the byte ending each field
    minus = np.flatnonzero(buf == ord("-"))
    if not _rows_of_plain_fields(buf, seps, minus, columns):
        return None
    decimals = _fixed_decimals(body, buf, seps)
    if decimals is None:
        decimals = _decimals(seps, np.flatnonzero(buf == ord(".")))
    if decimals is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # "could not be read to its end"
        try:
            text = body.translate(_INTEGER_TEXT, b".").decode("ascii")
            digits = np.fromstring(text, dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            return None
    if digits.size != seps.size or (digits > _MAX_EXACT).any() or (digits < -_MAX_EXACT).any():
        return None
    values = digits / _POW10[decimals]
    # -0, -0.0, -.00 …: the integer lost the sign; a zero field with a minus in it is one
    zeros = np.flatnonzero(digits == 0)
    if zeros.size and minus.size:
        field_start = np.where(zeros > 0, seps[zeros - 1], -1)  # the separator before it
        last_minus = np.searchsorted(minus, seps[zeros]) - 1  # the last minus before its end
        signed = (last_minus >= 0) & (minus[np.maximum(last_minus, 0)] > field_start)
        values[zeros[signed]] = -0.0
    return values.reshape(-1, columns)


def _rows_of_plain_fields(buf: np.ndarray, seps: np.ndarray, minus: np.ndarray, columns: int) -> bool:
    """Every line ``columns`` fields; every field ``[ ]*-?`` then digits with at most one
    point (checked by the caller), ending in a digit or in a digit and its point.

    These are the texts on which numpy's integer parser and ``float()`` agree once the
    points are gone: numpy also reads ``- 1``, ``.-5`` or ``. 19`` (which float() refuses).
    Every byte is one of ``_ALLOWED``. Index -1 of ``buf`` is the final newline, which is
    what a first byte's "byte before" must be.
    """
    if seps.size % columns:
        return False
    ends = buf[seps].reshape(-1, columns)
    if not (ends[:, -1] == ord("\n")).all() or not (ends[:, :-1] == ord(",")).all():
        return False
    last = buf[seps - 1]
    if (last < _DIGIT_OR_POINT_MIN).any():  # no "5 ," nor an empty field
        return False
    ends_in_point = seps[last == ord(".")]  # "5." is 5.0; ".", "-." are no numbers
    if ends_in_point.size and (buf[ends_in_point - 2] < _DIGIT_MIN).any():
        return False
    if (buf[minus + 1] < _DIGIT_OR_POINT_MIN).any():  # a minus is never the last byte
        return False
    if (buf[minus - 1] > _SEP_OR_SPACE_MAX).any():  # a minus leads its field
        return False
    spaces = np.flatnonzero(buf == ord(" "))
    return not (buf[spaces - 1] > _SEP_OR_SPACE_MAX).any()  # spaces lead their field


def _fixed_decimals(body: bytes, buf: np.ndarray, seps: np.ndarray) -> int | None:
    """The number of decimals when every field has the same, ``d`` (a recorder's usual text):
    one point per field, ``d`` digits after it; None otherwise (or when not sure).

    The point ``d + 1`` bytes before each field's end, the ``d`` digits after it (so it is
    in that field), and no other point in the text; no array of the points is needed. Every
    index read is ≥ 0: the first field holds ``d + 1`` bytes and the separators increase.
    """
    first_point = body.find(b".", 0, int(seps[0]))
    if first_point < 0:
        return None
    d = int(seps[0]) - first_point - 1
    if d >= _POW10.size or body.count(b".") != seps.size:
        return None
    if not (buf[seps - (d + 1)] == ord(".")).all():
        return None
    for k in range(1, d + 1):
        if (buf[seps - k] < _DIGIT_MIN).any():
            return None
    return d


def _decimals(seps: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """Digits after the point of each field (0 without one); None for two points in a
    field or more decimals than an exact power of ten allows."""
    if points.size == seps.size:  # the usual text: a point in every field
        if (points > seps).any() or (points[1:] < seps[:-1]).any():
            return None
        decimals = seps - points - 1
    else:
        decimals = np.zeros(seps.size, dtype=np.intp)
        field_of_point = np.searchsorted(seps, points)
        if (field_of_point[1:] == field_of_point[:-1]).any():
            return None
        decimals[field_of_point] = seps[field_of_point] - points - 1
    if decimals.size and decimals.max() >= _POW10.size:
        return None
    return decimals
