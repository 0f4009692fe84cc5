"""The one continuous time base of record and import: resets shifted, flagged, chunk-free."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.timebase import DEFAULT_STEP_S, ContinuousTime, flag_first

BREAK = SampleFlag.GAP | SampleFlag.RESET


def segments_times(lengths, steps):
    """Device times restarting at 0 for every segment (a device reset each time)."""
    return np.concatenate([np.arange(n) * step for n, step in zip(lengths, steps, strict=True)])


def test_a_reset_continues_one_median_interval_later_and_is_flagged():
    t = segments_times([100, 50], [0.001, 0.001])
    flags = np.zeros(t.size, np.uint8)
    out, f = ContinuousTime()(t, flags)
    assert np.all(np.diff(out) > 0)
    np.testing.assert_allclose(out[100], out[99] + 0.001)
    assert f[100] == BREAK and np.count_nonzero(f) == 1 and not flags.any()


def test_the_first_sample_alone_needs_no_shift_and_a_lone_repeat_uses_the_default_step():
    tb = ContinuousTime()
    t1, _ = tb(np.array([5.0]), np.zeros(1, np.uint8))
    t2, f2 = tb(np.array([5.0]), np.zeros(1, np.uint8))
    assert t1[0] == 5.0 and t2[0] == 5.0 + DEFAULT_STEP_S and f2[0] == BREAK
    assert tb.shifts == [{"at_row": 1, "shift_s": pytest.approx(DEFAULT_STEP_S)}]
    assert tb.resets == 1


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 120), min_size=1, max_size=5),
       st.sampled_from([0.001, 0.01, 0.0002]), st.data())
def test_any_chunking_gives_the_same_times_flags_and_shifts(lengths, step, data):
    t = segments_times(lengths, [step] * len(lengths))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    flags = rng.choice(np.array([0, 0, 0, 1, 2, 4], np.uint8), t.size)
    whole = ContinuousTime()
    ref_t, ref_f = whole(t, flags)
    cuts = sorted(data.draw(st.lists(st.integers(0, t.size), max_size=6)))
    pieces = ContinuousTime()
    parts = [pieces.apply(SampleBlock(t[a:b], t[a:b], t[a:b], flags[a:b]))
             for a, b in zip([0, *cuts], [*cuts, t.size], strict=True)]
    got = SampleBlock.concatenate(parts)
    np.testing.assert_array_equal(got.t_s, ref_t)
    np.testing.assert_array_equal(got.flags, ref_f)
    assert pieces.shifts == whole.shifts and len(whole.shifts) == len(lengths) - 1
    assert np.all(np.diff(ref_t) > 0)


def test_flag_first_copies():
    block = SampleBlock(np.arange(3.0), np.zeros(3), np.zeros(3), np.zeros(3, np.uint8))
    marked = flag_first(block, SampleFlag.GAP)
    assert marked.flags.tolist() == [1, 0, 0] and block.flags.tolist() == [0, 0, 0]
    assert len(flag_first(SampleBlock.empty(), SampleFlag.GAP)) == 0
