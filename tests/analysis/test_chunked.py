"""A trace fed in blocks (never whole in memory) gives the breaths, channel means and
self-check of the whole-trace path, for any blocking."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.breath import channel_means
from ventbench.analysis.chunked import WINDOW_S, ChunkedAnalysis
from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.selfcheck import segmentation_doubts
from ventbench.analysis.stream import analyze_breaths
from ventbench.drivers.sim import Lung, SensorModel, VentilatorSettings, simulate

NOISE = SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05)


def _adult(n_breaths=60, fs_hz=200):
    res = simulate(VentilatorSettings("vc", vt_ml=500, rate_bpm=20, ti_s=1.0, peep_cmh2o=5),
                   Lung(50, 5), sensors=NOISE, n_breaths=n_breaths, fs_hz=fs_hz, seed=4)
    trace = res.trace
    fio2 = 40.0 + np.sin(trace.t_s / 7.0)  # an O2 channel that varies within each breath
    return trace.__class__(trace.t_s, trace.flow_lpm, trace.paw_cmh2o, trace.flow_condition,
                           trace.ambient, trace.flags, {"fio2_pct": fio2})


def _chunked(trace, cuts, segmentation=None, rate=20.0):
    c = ChunkedAnalysis(trace.flow_condition, trace.ambient, segmentation, set_rate_bpm=rate,
                        channels=("fio2_pct",))
    edges = [0, *sorted(set(cuts)), len(trace)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        c.feed(trace.t_s[a:b], trace.flow_lpm[a:b], trace.paw_cmh2o[a:b], trace.flags[a:b],
               {"fio2_pct": trace.channels["fio2_pct"][a:b]})
    return c, c.finish()


TRACE = _adult()
WHOLE = analyze_breaths(TRACE.validated())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, len(TRACE) - 1), max_size=12))
def test_any_blocking_gives_the_whole_traces_breaths_and_channel_means(cuts):
    chunked, analysis = _chunked(TRACE, cuts)
    assert [b.to_json() for b in analysis.breaths] == [b.to_json() for b in WHOLE.breaths]
    assert analysis.volume_factor == WHOLE.volume_factor
    converted = TRACE.converted("BTPS")[0]
    expected = channel_means(converted.t_s, converted.channels["fio2_pct"], WHOLE.breaths)
    np.testing.assert_allclose(chunked.per_breath["fio2_pct"], expected, rtol=0, atol=1e-12)
    assert chunked.samples == len(TRACE) and chunked.doubts == []


def test_channel_means_of_breaths_across_self_check_windows(monkeypatch):
    # 60 breaths at 20 bpm = 180 s: with 50 s windows breaths straddle window edges
    monkeypatch.setattr("ventbench.analysis.chunked.WINDOW_S", 50.0)
    chunked, analysis = _chunked(TRACE, range(97, len(TRACE), 997))
    converted = TRACE.converted("BTPS")[0]
    expected = channel_means(converted.t_s, converted.channels["fio2_pct"], analysis.breaths)
    np.testing.assert_allclose(chunked.per_breath["fio2_pct"], expected, rtol=0, atol=1e-12)
    assert len(chunked.per_breath["fio2_pct"]) == len(analysis.breaths) == len(WHOLE.breaths)


def test_the_self_check_runs_window_by_window_and_names_the_window():
    # row 15 (VT 30 mL) with the adult preset: most breaths missed, as the whole path sees
    res = simulate(VentilatorSettings("vc", vt_ml=30, rate_bpm=30, ti_s=0.6, peep_cmh2o=10),
                   Lung(1, 100), sensors=NOISE, n_breaths=45, fs_hz=1000, seed=2)
    trace = res.trace.__class__(res.trace.t_s, res.trace.flow_lpm, res.trace.paw_cmh2o,
                                res.trace.flow_condition, res.trace.ambient, res.trace.flags,
                                {"fio2_pct": np.full(len(res.trace), 21.0)})
    adult = SegmentationSettings.preset("adult")
    chunked, analysis = _chunked(trace, [5000, 40000], adult, rate=30.0)
    converted = trace.converted("BTPS")[0]
    whole = segmentation_doubts(converted.t_s, converted.flow_lpm, list(analysis.breaths), 30.0)
    assert whole and chunked.doubts  # one window (90 s < 600 s): the whole trace's reasons
    assert [d.rsplit(" (in ", 1)[0] for d in chunked.doubts] == whole
    assert chunked.doubts[0].endswith(f"(in {trace.t_s[0]:.0f}–{trace.t_s[0] + WINDOW_S:.0f} s)")


def test_a_kept_window_is_the_plots_samples():
    c = ChunkedAnalysis(TRACE.flow_condition, TRACE.ambient, keep_window_s=(10.0, 20.0))
    for a in range(0, len(TRACE), 333):
        b = min(a + 333, len(TRACE))
        c.feed(TRACE.t_s[a:b], TRACE.flow_lpm[a:b], TRACE.paw_cmh2o[a:b], TRACE.flags[a:b])
    c.finish()
    kept = c.kept_trace()
    assert kept.t_s[0] >= 10.0 and kept.t_s[-1] < 20.0
    assert len(kept) == np.count_nonzero((TRACE.t_s >= 10.0) & (TRACE.t_s < 20.0))
