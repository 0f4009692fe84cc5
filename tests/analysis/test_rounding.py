"""analysis.rounding: the vectorised rounding gives the very doubles of the one-number rule."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.rounding import round_floats, round_number


def _bits(value: float | None) -> bytes | None:
    return None if value is None else struct.pack("<d", value)


def _same(values, digits=7) -> None:
    fast = round_floats(values, digits)
    slow = [round_number(v, digits) for v in values]
    assert list(map(_bits, fast)) == list(map(_bits, slow))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50), st.integers(1, 7))
def test_any_floats_as_one_by_one(values, digits):
    _same(values, digits)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(10**6, 10**8), min_size=1, max_size=30), st.integers(-20, 20),
       st.sampled_from([0.0, 0.5, 0.4999999999, 0.5000000001]), st.booleans())
def test_half_way_and_near_half_way_decimals(mantissas, exponent, offset, negative):
    """Decimals that round exactly half way (ties to even) or within 1e-10 of it."""
    sign = -1.0 if negative else 1.0
    _same([sign * (m + offset) * 10.0**exponent for m in mantissas])


def test_edges():
    edges = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308,
             9999999.5, 9999999.4999, 0.99999995, 0.999999949, 1e15, 1e-15, 999999999999999.9, 123456.75,
             0.1 + 0.2, 1 / 3, -2 / 3, 2.5e-7, 12345678.5]
    _same(edges)
    _same(edges, 3)
    assert _bits(round_floats([-0.0])[0]) == _bits(0.0)


def test_a_large_column_matches_and_mostly_takes_the_fast_path():
    rng = np.random.default_rng(7)
    values = (rng.normal(0.0, 1.0, 20_000) * 10.0 ** rng.integers(-12, 12, 20_000)).tolist()
    _same(values)
    _same(np.round(rng.uniform(0.0, 800.0, 20_000), 3).tolist())
