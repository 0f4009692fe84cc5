"""Min/max per pixel column: every column holds exactly the extremes of its samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.bench.view.reduce import minmax_columns


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), cols=st.integers(1, 400), seed=st.integers(0, 10_000))
def test_each_column_is_the_extremes_of_its_samples(n, cols, seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 10, n))
    y = rng.normal(size=n)
    t_col, lo, hi = minmax_columns(t, [y], 2.0, 8.0, cols)
    col = np.floor((t - 2.0) * cols / 6.0).astype(int)
    for c in range(cols):
        inside = y[(t >= 2.0) & (t < 8.0) & (col == c)]
        if inside.size:
            assert lo[0, c] == inside.min() and hi[0, c] == inside.max()
        else:
            assert np.isnan(lo[0, c]) and np.isnan(hi[0, c])
    assert t_col[0] == 2.0 and len(t_col) == cols


def test_a_one_sample_peak_survives_a_thousandfold_reduction():
    t = np.arange(100_000) / 1000.0  # 100 s at 1 kHz
    y = np.zeros_like(t)
    y[54_321] = 42.0  # one sample, 1 ms wide
    y[77_777] = -17.0
    _, lo, hi = minmax_columns(t, [y, -y], 0.0, 100.0, 100)
    assert hi[0].max() == 42.0 and np.argmax(hi[0]) == 54
    assert lo[0].min() == -17.0 and np.argmin(lo[0]) == 77
    assert hi[1].max() == 17.0 and lo[1].min() == -42.0


def test_nan_samples_are_ignored_and_empty_columns_are_nan():
    t = np.array([0.1, 0.2, 0.3, 2.5])
    y = np.array([1.0, np.nan, 3.0, 5.0])
    _, lo, hi = minmax_columns(t, [y], 0.0, 4.0, 4)
    assert (lo[0, 0], hi[0, 0]) == (1.0, 3.0)
    assert np.isnan(lo[0, 1]) and (lo[0, 2], hi[0, 2]) == (5.0, 5.0)


def test_a_bad_window_is_refused():
    with pytest.raises(ValueError, match="bad window"):
        minmax_columns(np.arange(3.0), [np.arange(3.0)], 1.0, 1.0, 10)
