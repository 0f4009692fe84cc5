"""Adaptive segmentation (analysis/adaptive.py): levels from the signal, the same for any chunking.

The whole-range accuracy (every row of ISO 80601-2-12 Tables 201.104 / 201.105 without a
preset) is tests/analysis/test_accuracy.py; here: the levels themselves, traces without
breathing, idle stretches before the breathing starts, and chunking.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.adaptive import CALIBRATION_BLOCK_S, signal_levels
from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.stream import BreathStream, analyze_breaths
from ventbench.analysis.trace import Trace
from ventbench.drivers.sim import Lung, SensorModel, VentilatorSettings, simulate

from tests.analysis.test_stream import chunked, whole

NOISE = dict(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05)


def _neonatal(fs_hz=200, n_breaths=14, seed=5, start_s=0.5):
    """ISO 80601-2-12 Table 201.104 row 20: VT 5 mL, 30 bpm, Ti 0.4 s, C 0.5, R 200."""
    return simulate(VentilatorSettings("vc", vt_ml=5, rate_bpm=30, ti_s=0.4, peep_cmh2o=5),
                    Lung(0.5, 200), sensors=SensorModel(**NOISE), n_breaths=n_breaths,
                    fs_hz=fs_hz, seed=seed, start_s=start_s)


def test_levels_of_a_neonatal_trace():
    res = _neonatal(fs_hz=1000)
    lv = signal_levels(res.trace.t_s, res.trace.flow_lpm)
    assert lv.noise_sd_lpm == pytest.approx(0.3, rel=0.05)
    assert 0.7 < lv.insp_amplitude_lpm < 1.0  # 5 mL in 0.4 s: 0.75 L/min plus smoothed noise
    assert lv.ti_s == pytest.approx(0.4, abs=0.03)
    assert lv.breathing and lv.reason == ""


@pytest.mark.parametrize(("flow", "words"), [
    (lambda rng, n: rng.normal(0.0, 0.05, n), "no breathing found: flow within the noise floor of"),
    (lambda rng, n: np.zeros(n), "flat line or stuck sensor"),
    (lambda rng, n: np.full(n, 4.2), "flat line or stuck sensor"),
    (lambda rng, n: np.round(rng.normal(3.0, 0.02, n), 1), "no breathing found"),
])
def test_no_breathing_gives_a_reason_and_no_breath(flow, words):
    rng = np.random.default_rng(1)
    t = np.arange(60_000) / 1000.0
    res = analyze_breaths(Trace(t, flow(rng, t.size), np.full(t.size, 5.0)))
    assert res.breaths == ()
    assert words in res.no_breathing_reason
    assert res.segmentation.adaptive  # never settled


def test_noise_floor_is_named_in_l_per_min():
    rng = np.random.default_rng(2)
    t = np.arange(30_000) / 1000.0
    res = analyze_breaths(Trace(t, rng.normal(0.0, 0.05, t.size), np.full(t.size, 5.0)))
    # 5 smoothed-noise σ: 5 x 0.05 / sqrt(31) L/min, printed with two digits
    assert res.no_breathing_reason.endswith("noise floor of 0.1 L/min")  # MIN_AMPLITUDE_LPM
    assert res.levels.noise_floor_lpm == pytest.approx(5 * 0.05 / np.sqrt(31), rel=0.1)


def test_idle_before_breathing_is_skipped_and_breaths_match_a_fixed_preset():
    # 25 s of sensor noise (three calibration blocks without breathing), then breathing
    res = _neonatal(fs_hz=1000, n_breaths=20, start_s=25.0)
    auto = analyze_breaths(res.trace)
    fixed = analyze_breaths(res.trace, SegmentationSettings.preset("neonatal"))
    assert auto.levels.t_from_s == pytest.approx(2 * CALIBRATION_BLOCK_S, abs=0.01)
    assert len(auto.breaths) == len(res.truth) == 20
    for a, f, t in zip(auto.breaths, fixed.breaths, res.truth, strict=True):
        assert abs(a.t_start_s - t.t_start_s) < 0.01
        assert abs(a.vti_ml - t.vti_ml) < 0.5 + 0.01 * t.vti_ml
        assert abs(a.vti_ml - f.vti_ml) < 0.3


def test_set_values_lengthen_the_calibration_block_and_fix_ti():
    res = _neonatal(fs_hz=200)
    seg = SegmentationSettings.auto(set_ti_s=0.4, set_rate_bpm=6.0)
    stream = BreathStream(seg)
    stream.feed(res.trace.t_s, res.trace.flow_lpm, res.trace.paw_cmh2o)
    stream.finish()
    assert stream.levels.t_to_s - stream.levels.t_from_s == pytest.approx(25.0, abs=0.01)
    assert stream.segmentation.min_insp_s == pytest.approx(0.1)
    assert stream.segmentation.smoothing_s == pytest.approx(0.03)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 35_999), max_size=25), st.sampled_from([200, 1000]))
def test_any_chunking_gives_identical_breaths_idle_start(cuts, fs_hz):
    res = _neonatal(fs_hz=fs_hz, n_breaths=6, start_s=21.3)
    t, f, p = res.trace.t_s, res.trace.flow_lpm, res.trace.paw_cmh2o
    cuts = [c % t.size for c in cuts]
    ref = whole(t, f, p)
    assert len(ref) == 6
    assert repr(chunked(cuts, t, f, p)) == repr(ref)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 99_999), max_size=25), st.integers(0, 3))
def test_any_chunking_gives_identical_breaths_pressure_control(cuts, row):
    dp, rate, ti, c, r = [(10, 20, 1.0, 50, 5), (15, 20, 0.6, 10, 50),
                          (10, 30, 0.4, 1, 100), (10, 30, 0.4, 0.5, 50)][row]
    res = simulate(VentilatorSettings("pc", dp_cmh2o=dp, rate_bpm=rate, ti_s=ti, peep_cmh2o=5),
                   Lung(c, r), sensors=SensorModel(**NOISE), n_breaths=8, fs_hz=1000, seed=row)
    t, f, p = res.trace.t_s, res.trace.flow_lpm, res.trace.paw_cmh2o
    cuts = [c % t.size for c in cuts]
    ref = whole(t, f, p)
    assert len(ref) == 8
    assert repr(chunked(cuts, t, f, p)) == repr(ref)
