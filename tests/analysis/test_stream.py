"""Streaming analysis: chunking never changes a bit; scale and time-shift properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.stream import BreathStream, analyze_breaths
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.errors import AnalysisError

from tests.analysis.test_segment import synthetic_trace

_T, _FLOW, _PAW, _TRUTHS = synthetic_trace(n_cycles=5, pause_s=0.2, noise_lpm=1.0, seed=3)
_FLAGS = np.zeros(_T.size, dtype=np.uint8)
_FLAGS[700] = SampleFlag.GAP
_FLOW[700] = np.nan
_FLAGS[1500] = SampleFlag.SATURATED


def whole(t, flow, paw, flags=None, seg=None):
    stream = BreathStream(seg)
    return stream.feed(t, flow, paw, flags) + stream.finish()


def chunked(cuts, t, flow, paw, flags=None, seg=None):
    stream = BreathStream(seg)
    out = []
    edges = [0, *sorted(cuts), t.size]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        out += stream.feed(t[a:b], flow[a:b], paw[a:b], None if flags is None else flags[a:b])
    return out + stream.finish()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, _T.size), max_size=40))
def test_any_chunking_gives_identical_breaths(cuts):
    ref = whole(_T, _FLOW, _PAW, _FLAGS)
    got = chunked(cuts, _T, _FLOW, _PAW, _FLAGS)
    assert len(ref) == len(_TRUTHS)
    assert repr(got) == repr(ref)  # exact floats (NaN-safe), same flags and order


@settings(max_examples=20, deadline=None)
@given(st.integers(1, _T.size), st.lists(st.integers(0, _T.size), max_size=12))
def test_traces_ending_anywhere_chunk_identically(length, cuts):
    t, f, p, fl = _T[:length], _FLOW[:length], _PAW[:length], _FLAGS[:length]
    cuts = [c % length for c in cuts]
    assert repr(chunked(cuts, t, f, p, fl)) == repr(whole(t, f, p, fl))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 30000), max_size=25), st.sampled_from([2.5, 5.0]))
def test_chunking_with_apnoea_and_trimming_is_identical(cuts, max_breath_s):
    # breaths, a 60 s apnoea with noise (forces the bounded buffer to drop samples), breaths
    t1, f1, p1, _ = synthetic_trace(n_cycles=4, ti_s=0.8, te_s=1.2, noise_lpm=0.5, seed=5)
    gap = 60.0
    rng = np.random.default_rng(6)
    n_gap = int(gap * 200)
    t = np.concatenate((t1, t1[-1] + (np.arange(n_gap) + 1) / 200.0, t1 + t1[-1] + gap + 0.005))
    flow = np.concatenate((f1, rng.normal(0.0, 0.5, n_gap), f1))
    paw = np.concatenate((p1, np.full(n_gap, 5.0), p1))
    seg = SegmentationSettings(max_breath_s=max_breath_s)
    cuts = [c % t.size for c in cuts]
    ref = whole(t, flow, paw, seg=seg)
    assert repr(chunked(cuts, t, flow, paw, seg=seg)) == repr(ref)
    assert len(ref) == 6  # 3 + 3 complete; the one spanning the apnoea is too long


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 999), max_size=30))
def test_noise_at_the_threshold_events_never_gives_unordered_breaths(seed, cuts):
    # Large noise at 100 Hz with the neonatal preset puts threshold events one sample apart,
    # inside the look-ahead of the previous end's edge estimate: a candidate inspiration can
    # then start before the pending one ends, and must be merged into it, not close it.
    rng = np.random.default_rng(seed)
    t = np.arange(1000) / 100.0
    flow = rng.normal(0.0, 15.0, t.size) + 10.0 * np.sin(2.0 * np.pi * t / rng.uniform(0.4, 3.0))
    paw = np.full(t.size, 10.0)
    seg = SegmentationSettings.preset("neonatal")
    ref = whole(t, flow, paw, seg=seg)
    for b in ref:
        assert b.ti_s > 0.0 and b.te_s > 0.0
    assert repr(chunked(cuts, t, flow, paw, seg=seg)) == repr(ref)


def test_tiny_and_empty_chunks():
    ref = whole(_T, _FLOW, _PAW, _FLAGS)
    stream = BreathStream()
    out = stream.feed([], [], [])
    for i in range(_T.size):
        out += stream.feed(_T[i : i + 1], _FLOW[i : i + 1], _PAW[i : i + 1], _FLAGS[i : i + 1])
        if i % 500 == 0:
            out += stream.feed(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.uint8))
    out += stream.finish()
    assert repr(out) == repr(ref)
    assert stream.finish() == []
    with pytest.raises(AnalysisError, match="after finish"):
        stream.feed([1e9], [0.0], [0.0])


def test_buffer_stays_bounded_during_apnoea():
    stream = BreathStream(SegmentationSettings(max_breath_s=10.0))
    fs = 1000.0
    rng = np.random.default_rng(0)
    t0 = 0.0
    peak = 0
    for _ in range(120):  # 120 s of idle noise at 1 kHz in 1 s chunks
        t = t0 + np.arange(1000) / fs
        stream.feed(t, rng.normal(0, 1.0, t.size), np.full(t.size, 5.0))
        t0 = t[-1] + 1 / fs
        peak = max(peak, stream.buffered_samples)
    assert peak <= 2 * 10 * fs + 2000  # ~2 x max_breath_s + one chunk


@settings(max_examples=25, deadline=None)
@given(st.floats(0.5, 4.0))
def test_scaling_flow_scales_volumes_only(k):
    t, flow, paw, _ = synthetic_trace(n_cycles=5, pause_s=0.2)
    ref = whole(t, flow, paw)
    got = whole(t, flow * k, paw)
    assert len(got) == len(ref) == 4
    for a, b in zip(ref, got, strict=True):
        assert b.vti_ml == pytest.approx(k * a.vti_ml, rel=1e-9)
        assert b.vte_ml == pytest.approx(k * a.vte_ml, rel=1e-9)
        assert b.mv_lpm == pytest.approx(k * a.mv_lpm, rel=1e-9)
        for name in ("t_start_s", "ti_s", "te_s", "rr_bpm", "pip_cmh2o", "peep_cmh2o", "pmean_cmh2o"):
            assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-12, abs=1e-9)
        assert b.leak_pct == pytest.approx(a.leak_pct, abs=1e-7)


@settings(max_examples=25, deadline=None)
@given(st.floats(-50.0, 5000.0))
def test_time_shift_changes_only_times(shift_s):
    t, flow, paw, _ = synthetic_trace(n_cycles=5, pause_s=0.2)
    ref = whole(t, flow, paw)
    got = whole(t + shift_s, flow, paw)
    assert len(got) == len(ref)
    for a, b in zip(ref, got, strict=True):
        assert b.t_start_s == pytest.approx(a.t_start_s + shift_s, abs=1e-8)
        assert b.ti_s == pytest.approx(a.ti_s, abs=1e-8)
        assert b.te_s == pytest.approx(a.te_s, abs=1e-8)
        assert b.vti_ml == pytest.approx(a.vti_ml, rel=1e-7)
        assert b.vte_ml == pytest.approx(a.vte_ml, rel=1e-7)
        assert b.pplat_cmh2o == pytest.approx(a.pplat_cmh2o, abs=1e-9)
        assert b.peep_cmh2o == pytest.approx(a.peep_cmh2o, abs=1e-9)
        assert b.flags == a.flags


def test_analyze_breaths_converts_gas_once():
    t, flow, paw, truths = synthetic_trace()
    amb = Ambient(25.0, 1013.25)
    trace = Trace(t, flow, paw, GasCondition.ATPD, amb)
    res = analyze_breaths(trace, SegmentationSettings())
    factor = conversion_factor("ATPD", "BTPS", amb)
    assert res.volume_factor == pytest.approx(factor)
    assert res.condition is GasCondition.BTPS
    assert res.settings == (SegmentationSettings(), res.metrics)
    assert [b.index for b in res.breaths] == list(range(len(truths)))
    for b, tr in zip(res.breaths, truths, strict=True):
        assert b.vti_ml == pytest.approx(tr.vti_ml * factor, rel=1e-9)
    auto = analyze_breaths(trace)  # adaptive by default: settled on fixed settings
    assert not auto.segmentation.adaptive
    assert [b.vti_ml for b in auto.breaths] == pytest.approx([b.vti_ml for b in res.breaths], rel=1e-9)
    same = analyze_breaths(trace, condition="ATPD")
    assert same.volume_factor == 1.0
    assert same.breaths[0].vti_ml == pytest.approx(truths[0].vti_ml, rel=1e-9)
