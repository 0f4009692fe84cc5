"""The one number formatter of everything ventbench shows: terminal, JUnit, history, report.

Results files keep full precision; this module only decides how a number is *shown*. One set
of rules everywhere: missing, NaN and infinite values show as a dash (never "nan"), a negative
zero loses its sign, integers stay integers unless fixed decimals are asked for, and the
report's languages choose their decimal separator and minus sign.
"""

from __future__ import annotations

import math
from typing import Any

#: What a missing or non-finite value shows as.
MISSING = "—"
#: The typographic minus sign the report uses (U+2212).
MINUS = "\u2212"
#: At most this many decimals, whatever the significant digits ask for.
MAX_DECIMALS = 6


def decimals_for(value: Any, digits: int = 4) -> int:
    """Decimals that show ``value`` to ``digits`` significant digits (at most 6).

    Parameters
    ----------
    value : number
        The value to show; 0, non-numbers and non-finite values need no decimals.
    digits : int
        Significant digits wanted.
    """
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value == 0:
        return 0
    return min(MAX_DECIMALS, max(0, digits - 1 - math.floor(math.log10(abs(value)))))


def format_number(value: Any, digits: int = 4, *, decimals: int | None = None, trim: bool = False,
                  sign: bool = False, decimal_sep: str = ".", minus: str = "-",
                  missing: str = MISSING) -> str:
    """A number as text, by one set of rules.

    Parameters
    ----------
    value : number, None or other
        The value. None, NaN and ±inf give ``missing``; a value that is not a number (a
        string, a bool) is shown as it is.
    digits : int
        Significant digits, when ``decimals`` is not given: fixed-point with as many decimals
        as ``digits`` needs (``597.61`` → ``597.6``), or with ``trim`` the ``g`` style
        (``4.0`` → ``4``, ``1.5e-05``).
    decimals : int, optional
        Fixed decimals (so an SD lines up with its mean); integers get them too.
    trim : bool
        ``g`` style: significant digits without trailing zeros.
    sign : bool
        Always show the sign (``+0.4``).
    decimal_sep, minus : str
        The language's decimal separator and minus sign.
    missing : str
        What None and non-finite values show as.
    """
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return missing
    plus = "+" if sign else ""
    if isinstance(value, int) and decimals is None:
        text = f"{value:{plus}d}"
    elif decimals is not None:
        text = f"{value:{plus}.{decimals}f}"
    elif trim:
        text = f"{value:{plus}.{digits}g}"
    else:
        text = f"{value:{plus}.{decimals_for(value, digits)}f}"
    if text[0] in "+-" and float(text) == 0.0:  # "-0.00" is zero, shown without a sign
        text = ("+" if sign else "") + text[1:]
    return text.replace("-", minus).replace(".", decimal_sep)
