"""ventMAP reader: the vectorised fast path gives exactly what the line-by-line reader gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.drivers.importers import ventmap
from ventbench.drivers.importers.ventmap_write import write_ventmap
from ventbench.drivers.sim.lung import Lung
from ventbench.drivers.sim.simulation import simulate
from ventbench.drivers.sim.ventilator import VentilatorSettings


def same(a, b):
    for x, y in zip(a[:3], b[:3], strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)
        assert x.tobytes() == y.tobytes()  # the sign of a zero too ("-0.00")
    assert a[3] == b[3] and a[4] == b[4]


def test_simulator_recording_fast_equals_slow_and_keeps_breaths(tmp_path):
    result = simulate(VentilatorSettings(), Lung(), duration_s=60.0, fs_hz=50.0, seed=3)
    trace = result.trace
    starts = np.unique(np.searchsorted(trace.t_s, [b.t_start_s for b in result.truth]))
    path = write_ventmap(tmp_path / "pb840.txt", trace.flow_lpm, trace.paw_cmh2o, starts,
                         first_number=70)
    raw = path.read_bytes()
    fast = ventmap._fast_rows(raw)
    assert fast is not None, "a well-formed file takes the fast path"
    same(fast, ventmap._slow_rows(raw, path, False))
    read = ventmap.read_ventmap(path)
    np.testing.assert_allclose(read.flow_lpm, trace.flow_lpm, atol=0.005 + 1e-12)
    assert read.meta["breaths"] == len(starts)
    assert read.channels["breath_number"][starts[0]] == 70.0
    assert np.isnan(read.channels["breath_number"][: starts[0]]).all()


GOOD = st.sampled_from(["0.87, 7.04", "-12.5, 9.8", "1.00,-5.0", "3,4", "-0.00, -0.0", "-.5, 2.",
                        "BS, S:12,", "BS, S:13",
                        "BE", "2016-02-17-08-43-02.525325", "2020-01-01 10:00:00"])
LINES = st.sampled_from([
    "0.87, 7.04", "-12.5, 9.8", "1.00,-5.0", "3,4", " 2.0, 6.0", "1.0, 2.0,", "1.0, x", "1e3, 2",
    "nan, 1", "1.0, 2.0, 3.0", "BS, S:12,", "BS, S:13", "BS,S:7,", "BE", "BE ", "BSX", "Bogus",
    "2016-02-17-08-43-02.525325", "2020-01-01 10:00:00.00, 1.5, 6.0", "2020-01-01 10:00:00",
    "", "   ", "1_0, 2", "\t1.5, 2.5",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(GOOD | GOOD | GOOD | LINES, max_size=25), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_fast_path_never_differs_from_the_line_reader(lines, newline, final_newline):
    raw = (newline.join(lines) + (newline if final_newline else "")).encode("ascii")
    fast = ventmap._fast_rows(raw)
    if fast is None:
        return  # the line reader decides
    same(fast, ventmap._slow_rows(raw, Path("f"), False))


@pytest.mark.parametrize("raw", [b"BS, S:1,\n1.0, 2.0\xff\nBE\n", b"BS, S:1,\r1.0, 2.0\rBE\r",
                                 b"BS, S:1,\n\n1.0, 2.0\n"])
def test_unusual_bytes_fall_back(raw):
    assert ventmap._fast_rows(raw) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 40)), max_size=30))
def test_distinct_breath_numbers_count_every_value_once(runs):
    """Runs of breath numbers, a number repeated after others too: counted once each."""
    values = np.repeat([float(v) for v, _ in runs], [n for _, n in runs]) if runs else np.zeros(0)
    assert ventmap._distinct(values) == len(set(values.tolist()))
