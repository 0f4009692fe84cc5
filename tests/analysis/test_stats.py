"""analysis.stats: np.median's and np.percentile's values, bit for bit, without importing numpy.ma."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ventbench.analysis.stats import median, percentiles


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf + -inf, 1e308 + 1e308: as numpy, warned as numpy
@given(hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(allow_nan=False, allow_infinity=True)))
def test_as_numpy_median(values):
    expected = float(np.median(values))
    got = median(values)
    assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_nan_and_empty_give_nan():
    assert math.isnan(median(np.array([1.0, math.nan, 2.0])))
    assert math.isnan(median(np.array([])))


def test_even_count_is_the_mean_of_the_middle_two():
    assert median(np.array([4.0, 1.0, 3.0, 2.0])) == 2.5
    assert median([0.1, 0.2]) == float(np.median([0.1, 0.2]))


def test_does_not_import_numpy_ma():
    code = ("import sys, numpy as np; from ventbench.analysis.stats import median, percentiles; "
            "median(np.arange(10.0)); percentiles(np.arange(10.0), (1.0, 50.0, 99.0)); "
            "print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_Q_PCT = st.lists(st.floats(0.0, 100.0), min_size=1, max_size=5).map(tuple)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in the interpolation: as numpy
@given(hnp.arrays(np.float64, st.integers(1, 80), elements=st.floats(allow_nan=False, allow_infinity=True)),
       _Q_PCT)
def test_as_numpy_percentile(values, q_pct):
    expected = np.percentile(values, q_pct)
    got = percentiles(values, q_pct)
    np.testing.assert_array_equal(got.view(np.int64)[~np.isnan(got)], expected.view(np.int64)[~np.isnan(got)])
    assert np.array_equal(np.isnan(got), np.isnan(expected))


@given(hnp.arrays(np.float64, st.integers(2, 400), elements=st.floats(-1e3, 1e3, width=32)))
def test_as_numpy_percentile_on_signal_like_values(values):
    """The percentiles segmentation asks for, on values like a smoothed flow's (ties, signs)."""
    q_pct = (1.0, 50.0, 99.0)
    assert percentiles(values, q_pct).tobytes() == np.percentile(values, q_pct).tobytes()


def test_percentile_known_values_and_nan():
    assert percentiles(np.arange(101.0), (0.0, 1.0, 50.0, 99.0, 100.0)).tolist() == [0.0, 1.0, 50.0, 99.0, 100.0]
    assert percentiles(np.array([1.0, 3.0]), (25.0,)).tolist() == [1.5]
    assert np.isnan(percentiles(np.array([1.0, math.nan]), (50.0, 99.0))).all()
    with pytest.raises(ValueError):
        percentiles(np.array([]), (50.0,))
