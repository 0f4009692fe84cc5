"""Combining two sources: clock maps from host arrival times, interpolation, staleness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.drivers.combine import HOST_TIME_CHANNEL, ClockMap, combine, estimate_clock_map
from ventbench.errors import ConfigError

HOST0_S = 81_234.5  # host monotonic clock at physical time 0
HOST_RATE = 1 + 50e-6  # the host crystal is 50 ppm fast
SEC_OFFSET_S, SEC_RATE = 7.5, 1 - 80e-6  # secondary clock: 7.5 s ahead, 80 ppm slow


def pressure(tau):
    return 5.0 + 10.0 * np.sin(2 * np.pi * np.asarray(tau) / 4.0)


def arrivals(tau, chunk, rng):
    """Host arrival times of samples taken at physical times ``tau``, read in chunks."""
    host = np.empty_like(tau)
    for start in range(0, tau.size, chunk):
        last = tau[min(start + chunk, tau.size) - 1]
        host[start:start + chunk] = (HOST0_S + last * HOST_RATE + 0.001
                                     + rng.exponential(0.004))
    return host


def two_sources(duration_s=60.0, hole=None, seed=3):
    """A 100 Hz flow source on physical time and a 1 kHz pressure source on its own clock."""
    rng = np.random.default_rng(seed)
    tau_p = np.arange(0, duration_s, 0.01)
    primary = Trace(tau_p, 30 * np.cos(tau_p), np.full(tau_p.size, np.nan), "STP21",
                    flags=np.full(tau_p.size, SampleFlag.FAULT, np.uint8),  # no paw here
                    channels={HOST_TIME_CHANNEL: arrivals(tau_p, 2, rng)},
                    meta={"driver": "tsi"})
    t_s = np.arange(SEC_OFFSET_S, SEC_OFFSET_S + duration_s * SEC_RATE, 0.001)
    tau_s = (t_s - SEC_OFFSET_S) / SEC_RATE
    keep = np.ones(t_s.size, bool) if hole is None else ~((tau_s > hole[0]) & (tau_s < hole[1]))
    secondary = Trace(t_s[keep], np.zeros(keep.sum()), pressure(tau_s[keep]), "STP20",
                      channels={HOST_TIME_CHANNEL: arrivals(tau_s, 20, rng)[keep]},
                      meta={"driver": "rig", "url": "sim://rig", "secret": "not copied"})
    return primary, secondary


def test_clock_map_recovers_offset_and_drift_of_one_source():
    rng = np.random.default_rng(1)
    device = np.arange(0, 120, 0.001)
    truth = ClockMap(offset_s=1000.0, drift_ppm=-35.0)
    host = truth.offset_s + device * (1 + truth.drift_ppm * 1e-6)
    host += np.repeat(rng.exponential(0.005, device.size // 50), 50) + 0.002
    host[30_000:40_000] += 0.5  # a stall: ten seconds that all arrived late
    est = estimate_clock_map(device, host)
    assert est.offset_s == pytest.approx(truth.offset_s + 0.002, abs=1e-3)
    assert est.drift_ppm == pytest.approx(truth.drift_ppm, abs=2.0)
    assert est.residual_s < 1e-3 and est.n_windows >= 25


def test_two_sources_with_known_offset_and_drift_align_within_milliseconds():
    primary, secondary = two_sources()
    out = combine(primary, secondary, take=("paw_cmh2o",), clock="host")
    a = out.meta["alignment"]
    true_offset = -SEC_OFFSET_S / SEC_RATE  # t_primary = offset + t_secondary·(1 + drift)
    assert a["offset_s"] == pytest.approx(true_offset, abs=3e-3)
    assert a["drift_ppm"] == pytest.approx((1 / SEC_RATE - 1) * 1e6, abs=5.0)
    assert a["method"] == "linear" and a["clock"] == "host" and "warning" not in a
    assert set(a) >= {"primary_clock", "secondary_clock", "max_staleness_s"}
    # both start at physical time 0: a sub-ms error may leave the first sample uncovered
    assert set(np.flatnonzero(np.isnan(out.paw_cmh2o))) <= {0} and a["stale_samples"] <= 1
    # the pressure now on the flowmeter's samples is the pressure at those instants
    np.testing.assert_allclose(out.paw_cmh2o[1:], pressure(primary.t_s[1:]), atol=0.06)
    np.testing.assert_array_equal(out.flow_lpm, primary.flow_lpm)  # flow untouched
    assert not out.flags[1:].any()  # the FAULT that only meant "no paw here" is gone
    assert HOST_TIME_CHANNEL not in out.channels
    assert out.meta["secondary"] == {"driver": "rig", "url": "sim://rig"}
    assert out.meta["driver"] == "tsi" and out.flow_condition.value == "STP21"


def test_a_hole_in_the_secondary_makes_stale_faulty_samples():
    primary, secondary = two_sources(duration_s=30.0, hole=(10.0, 11.0))
    for method in ("linear", "hold"):
        out = combine(primary, secondary, method=method, clock="host", max_staleness_s=0.005)
        stale = (out.flags & SampleFlag.STALE) != 0
        assert np.array_equal(stale, (out.flags & SampleFlag.FAULT) != 0)
        assert np.array_equal(stale, np.isnan(out.paw_cmh2o))
        inside = (primary.t_s > 10.01) & (primary.t_s < 10.99)
        assert stale[inside].all() and 95 <= stale.sum() <= 102
        assert out.meta["alignment"]["stale_samples"] == stale.sum()
        assert np.nanmax(np.abs(out.paw_cmh2o - pressure(primary.t_s))) < 0.1


def test_hold_takes_the_last_sample_at_or_before_and_flags_propagate():
    t1 = np.arange(10) * 0.1
    prim = Trace(t1, np.ones(10), np.full(10, np.nan))
    flags2 = np.zeros(4, np.uint8)
    flags2[2] = SampleFlag.SATURATED
    sec = Trace([0.0, 0.25, 0.5, 0.55], np.zeros(4), [1.0, 2.0, 3.0, 4.0], flags=flags2,
                channels={"fio2_pct": [21.0, 40.0, 60.0, 80.0]})
    out = combine(prim, sec, take=("paw_cmh2o", "fio2_pct"), method="hold", clock="device",
                  max_staleness_s=0.21)
    np.testing.assert_array_equal(out.paw_cmh2o[:8], [1, 1, 1, 2, 2, 3, 4, 4])
    np.testing.assert_array_equal(out.channels["fio2_pct"][:8], [21, 21, 21, 40, 40, 60, 80, 80])
    assert out.flags[5] & SampleFlag.SATURATED and not out.flags[4]
    assert np.isnan(out.paw_cmh2o[8:]).all()  # 0.8 − 0.55 > 0.21: nothing recent to hold
    assert (out.flags[8:] == SampleFlag.STALE | SampleFlag.FAULT).all()
    lin = combine(prim, sec, clock=0.05, max_staleness_s=1.0)  # t_primary = t_secondary + 0.05
    assert lin.paw_cmh2o[0] != lin.paw_cmh2o[0]  # before the first shifted sample: none
    assert lin.paw_cmh2o[3] == pytest.approx(2.0)  # 0.3 ↔ secondary 0.25 exactly
    assert lin.paw_cmh2o[2] == pytest.approx(1.6)
    assert lin.meta["alignment"]["clock"] == "offset" and lin.meta["alignment"]["offset_s"] == 0.05


def test_bad_arguments_are_config_errors():
    primary, secondary = two_sources(duration_s=2.0)
    with pytest.raises(ConfigError, match="no channel 'fio2_pct'"):
        combine(primary, secondary, take=("fio2_pct",))
    with pytest.raises(ConfigError, match="flow_lpm"):
        combine(primary, secondary, take=("flow_lpm",))
    with pytest.raises(ConfigError, match="method"):
        combine(primary, secondary, method="cubic")
    with pytest.raises(ConfigError, match="clock"):
        combine(primary, secondary, clock="gps")
    bare = Trace(secondary.t_s, secondary.flow_lpm, secondary.paw_cmh2o)
    with pytest.raises(ConfigError, match="host arrival"):
        combine(primary, bare, clock="host")


@st.composite
def traces(draw):
    n = draw(st.integers(1, 40))
    steps = draw(st.lists(st.floats(1e-4, 2.0), min_size=n, max_size=n))
    t = np.cumsum(steps) + draw(st.floats(-1e3, 1e3))
    values = st.one_of(st.floats(-1e6, 1e6), st.just(np.nan))
    paw = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    fio2 = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    flow = np.array(draw(st.lists(st.floats(-200, 200), min_size=n, max_size=n)))
    flags = np.array(draw(st.lists(st.integers(0, 31), min_size=n, max_size=n)), np.uint8)
    lag = np.array(draw(st.lists(st.floats(0, 0.05), min_size=n, max_size=n)))
    return Trace(t, flow, paw, flags=flags,
                 channels={"fio2_pct": fio2, HOST_TIME_CHANNEL: 5e4 + t + lag})


@settings(max_examples=60, deadline=None)
@given(traces(), st.sampled_from(["linear", "hold"]), st.sampled_from(["device", "host", 0.0]))
def test_a_trace_combined_with_itself_is_unchanged(trace, method, clock):
    out = combine(trace, trace, take=("paw_cmh2o", "fio2_pct"), method=method, clock=clock)
    np.testing.assert_array_equal(out.paw_cmh2o, trace.paw_cmh2o)
    np.testing.assert_array_equal(out.channels["fio2_pct"], trace.channels["fio2_pct"])
    np.testing.assert_array_equal(out.flags, trace.flags)
    np.testing.assert_array_equal(out.t_s, trace.t_s)
    assert out.meta["alignment"]["stale_samples"] == 0
