"""analysis.validity: gaps, stuck sensors, impossible values and the one time-axis rule,
on signals whose damage is known sample by sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.analysis.validity import (
    SampleValidator,
    ValidityLimits,
    time_axis_bad,
    time_axis_problem,
    validate_samples,
)
from ventbench.errors import ConfigError

FS = 100.0


def ideal(seconds=30.0):
    """VC at 20 bpm, no noise: 1 s of 30 L/min, then an exponential expiration to 0;
    pressure rising through inspiration, PEEP 5 cmH2O in expiration."""
    t = np.arange(int(seconds * FS)) / FS
    phase = t % 3.0
    insp = phase < 1.0
    flow = np.where(insp, 30.0, -60.0 * np.exp(-(phase - 1.0) / 0.3))
    paw = np.where(insp, 5.0 + 12.0 * phase, 5.0)
    return t, flow, paw


def noisy(seconds=30.0, seed=1):
    """:func:`ideal` with sensor noise (0.3 L/min, 0.05 cmH2O), as a real analyser reads."""
    rng = np.random.default_rng(seed)
    t, flow, paw = ideal(seconds)
    return t, flow + rng.normal(0, 0.3, t.size), paw + rng.normal(0, 0.05, t.size)


def test_clean_noisy_signal_has_nothing_flagged():
    t, flow, paw = noisy()
    result = validate_samples(t, flow, paw)
    assert not result.flags.any() and not result.changed


def test_a_gap_flags_exactly_the_sample_after_it():
    t, flow, paw = noisy()
    keep = np.ones(t.size, bool)
    keep[1000:1030] = False  # 0.3 s missing
    result = validate_samples(t[keep], flow[keep], paw[keep])
    assert np.flatnonzero(result.flags & SampleFlag.GAP).tolist() == [1000]
    assert result.counts["gap_samples"] == 1


def test_jitter_below_the_tolerance_is_no_gap():
    t, flow, paw = noisy()
    t = t + np.random.default_rng(2).uniform(-0.002, 0.002, t.size)  # ±20 % of 10 ms
    assert not validate_samples(np.sort(t), flow, paw).flags.any()



@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.004, 0.03), min_size=2, max_size=60),
       st.none() | st.floats(0.001, 0.05))
def test_gaps_are_the_steps_beyond_gap_factor_times_the_median(intervals, first_step):
    """Whichever way the gaps are found (the median is skipped when no step can exceed
    it), they are the steps longer than gap_factor x the median interval."""
    t = np.concatenate(([10.0], 10.0 + np.cumsum(intervals)))
    steps = np.diff(t)
    if not (steps > 0).all():
        return
    previous = None if first_step is None else 10.0 - first_step
    flow = np.random.default_rng(3).normal(0.0, 1.0, t.size)
    flags = validate_samples(t, flow, flow, previous_t_s=previous).flags
    factor = ValidityLimits().gap_factor
    expected = np.concatenate(([False if previous is None else first_step > factor * np.median(steps)],
                               steps > factor * np.median(steps)))
    assert ((flags & SampleFlag.GAP) != 0).tolist() == expected.tolist()

@pytest.mark.parametrize("channel", ["flow", "paw"])
def test_a_frozen_channel_is_a_fault_over_exactly_its_run(channel):
    t, flow, paw = noisy()
    x = flow if channel == "flow" else paw
    x[1200:1300] = x[1200]  # 1 s at one value
    result = validate_samples(t, flow, paw)
    assert np.flatnonzero(result.flags & SampleFlag.FAULT).tolist() == list(range(1200, 1300))


def test_a_flow_held_at_zero_is_a_cutoff_unless_the_instrument_has_none():
    t, flow, paw = noisy()
    flow[1200:1300] = 0.0  # 1 s of a flowmeter's low-flow cutoff
    assert not validate_samples(t, flow, paw).flags.any()
    strict = ValidityLimits(flow_zero_is_cutoff=False)
    assert (validate_samples(t, flow, paw, limits=strict).flags[1200:1300] & SampleFlag.FAULT).all()


def test_a_short_repeat_is_not_a_fault():
    t, flow, paw = noisy()
    flow[1200:1240] = flow[1200]  # 0.4 s, below stuck_s
    assert not validate_samples(t, flow, paw).flags.any()


def test_a_noise_free_signal_is_not_judged_stuck_and_says_so():
    t, flow, paw = ideal()  # 1 s of exactly 30 L/min, 2 s of exactly 5 cmH2O, each breath
    result = validate_samples(t, flow, paw)
    assert not result.flags.any()
    assert set(result.stuck_not_checked) == {"flow_lpm", "paw_cmh2o"}
    trace = Trace(t, flow, paw).validated()
    assert trace.meta["validity"]["stuck_not_checked"] == ["flow_lpm", "paw_cmh2o"]


def test_a_trace_too_still_to_tell_noise_is_not_judged_and_says_so():
    t = np.arange(500) / FS
    result = validate_samples(t, np.full(500, 3.0), np.full(500, 5.0))
    assert not result.flags.any()
    assert result.stuck_not_checked == ("flow_lpm", "paw_cmh2o")


def test_impossible_values_are_invalid_and_removed():
    t, flow, paw = noisy()
    flow[10], paw[20], paw[30], flow[40] = 1e12, 1e12, -80.0, np.inf
    result = validate_samples(t, flow, paw)
    bad = np.flatnonzero(result.flags & SampleFlag.INVALID).tolist()
    assert bad == [10, 20, 30, 40]
    assert np.isnan(result.flow_lpm[[10, 40]]).all() and np.isnan(result.paw_cmh2o[[20, 30]]).all()
    assert flow[10] == 1e12  # the caller's arrays are not changed


def test_limits_are_per_instrument_and_validated():
    t, flow, paw = noisy()
    flow[10] = 400.0
    assert validate_samples(t, flow, paw).flags[10] & SampleFlag.INVALID
    wide = ValidityLimits.from_mapping({"flow_max_abs_lpm": 500})
    assert not validate_samples(t, flow, paw, limits=wide).flags.any()
    with pytest.raises(ConfigError, match="flow_max_abss"):
        ValidityLimits.from_mapping({"flow_max_abss": 1})
    with pytest.raises(ConfigError, match="gap_factor"):
        ValidityLimits(gap_factor=math.nan)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=0, max_size=8))
def test_stream_flags_equal_batch_flags_for_any_chunking(cuts):
    t, flow, paw = noisy(20.0, seed=5)
    keep = np.ones(t.size, bool)
    keep[700:740] = False  # gap
    flow[1200:1300] = flow[1200]  # stuck
    paw[1500] = 1e12  # invalid
    t, flow, paw = t[keep], flow[keep], paw[keep]
    batch = validate_samples(t, flow, paw)
    validator = SampleValidator(ValidityLimits(expected_dt_s=1 / FS))
    edges = np.unique(np.clip(np.cumsum([0, *cuts]), 0, t.size))
    edges = np.append(edges, t.size) if edges[-1] != t.size else edges
    flags = np.concatenate([validator(t[a:b], flow[a:b], paw[a:b])[2]
                            for a, b in zip(edges[:-1], edges[1:], strict=True)])
    # once it has seen enough to tell noise, the live path flags what the whole recording
    # does: gaps and impossible values exactly; a stuck run from the chunk in which it
    # reached stuck_s on (earlier samples had been handed on already), never more
    live, whole = flags[200:], batch.flags[200:]
    assert not (live & ~whole).any()
    other = np.uint8(~SampleFlag.FAULT & 0xFF)
    np.testing.assert_array_equal(live & other, whole & other)
    run = slice(1160 - 200, 1260 - 200)  # the stuck samples, after the 40 cut out
    assert (whole[run] & SampleFlag.FAULT).all()
    assert (live[run][50:] & SampleFlag.FAULT).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(math.nan), st.just(math.inf)),
                max_size=30))
def test_time_axis_rule_matches_the_definition(values):
    t = np.array(values, dtype=float)
    expected, best = [], -math.inf
    for x in values:
        ok = math.isfinite(x) and x > best
        expected.append(not ok)
        if math.isfinite(x):
            best = max(best, x)
    assert time_axis_bad(t).tolist() == expected
    problem = time_axis_problem(t)
    assert (problem is None) == (not any(expected))
    if problem is not None:
        assert problem[0] == expected.index(True)


def _stuck_reference(t_s, x, limits, carried, exempt):
    """Sample by sample: each run of one exact value, judged from its real start."""
    out = np.zeros(len(x), dtype=bool)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[j + 1] == x[i]:
            j += 1
        t0, extra = t_s[i], 0
        if i == 0 and carried is not None and x[0] == carried[0]:
            t0, extra = carried[1], carried[2]
        long = t_s[j] - t0 >= limits.stuck_s and j - i + 1 + extra >= limits.stuck_min_samples
        if long and (exempt is None or x[i] != exempt):
            out[i:j + 1] = True
        i = j + 1
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, 2.5]), min_size=0, max_size=80), st.booleans(),
       st.sampled_from([None, 0.0]), st.integers(2, 8))
def test_stuck_mask_as_judging_each_run(values, carry, exempt, min_samples):
    from ventbench.analysis.validity import stuck_mask

    x = np.array(values)
    t = np.arange(len(x)) * 0.1
    limits = ValidityLimits(stuck_s=0.3, stuck_min_samples=min_samples)
    carried = (values[0], -0.5, 3) if carry and values else None
    assert np.array_equal(stuck_mask(t, x, limits, carried, exempt), _stuck_reference(t, x, limits, carried, exempt))
