"""analysis.stats.median: np.median's value, bit for bit, without importing numpy.ma."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ventbench.analysis.stats import median


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
    code = ("import sys, numpy as np; from ventbench.analysis.stats import median; "
            "median(np.arange(10.0)); print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
