"""Per-breath metrics against exactly known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ventbench.analysis.integrals import phase_volume_ml
from ventbench.analysis.metrics import Boundary, MetricSettings, breath_metrics
from ventbench.analysis.stream import BreathStream
from ventbench.errors import ConfigError
from ventbench.units import ML_PER_S_PER_LPM

from tests.analysis.test_segment import synthetic_trace


def run(t, flow, paw, metrics=None):
    stream = BreathStream(metrics=metrics)
    return stream.feed(t, flow, paw) + stream.finish()


@pytest.mark.parametrize("pause_s", [0.0, 0.2, 0.5])
def test_volumes_pressures_and_plateau_known_truth(pause_s):
    t, flow, paw, truths = synthetic_trace(pause_s=pause_s, ti_s=1.2, te_s=2.3)
    breaths = run(t, flow, paw)
    assert len(breaths) == len(truths)
    for b, tr in zip(breaths, truths, strict=True):
        assert b.vti_ml == pytest.approx(tr.vti_ml, rel=1e-9)  # piecewise linear: exact
        assert b.vte_ml == pytest.approx(tr.vte_ml, rel=2e-3)  # smooth exponential at 200 Hz
        assert b.leak_pct == pytest.approx(5.0, abs=0.2)
        assert b.pip_cmh2o == pytest.approx(tr.pip_cmh2o, abs=1e-9)
        assert b.peep_cmh2o == pytest.approx(tr.peep_cmh2o, abs=1e-9)
        assert b.pmean_cmh2o == pytest.approx(tr.pmean_cmh2o, rel=1e-9)
        assert b.mv_lpm == pytest.approx(b.vte_ml * b.rr_bpm / 1000.0, rel=1e-12)
        assert b.peak_insp_flow_lpm == pytest.approx(30.0, rel=1e-12)
        # the PEEP window ends a 10 ms guard before the next breath's detected start
        assert b.peep_window_s == pytest.approx((b.t_end_s - 0.11, b.t_end_s - 0.01))
        assert b.t_insp_end_s == pytest.approx(b.t_start_s + b.ti_s)
        if tr.pplat_cmh2o is None:
            assert b.pplat_cmh2o is None and b.plateau_window_s is None
        else:
            assert b.pplat_cmh2o == pytest.approx(tr.pplat_cmh2o, abs=1e-9)
            assert b.plateau_window_s == pytest.approx(tr.plateau_window_s, abs=0.0051)
    if pause_s == 0.5:  # a pause longer than 320 ms: the window is capped at 320 ms
        for b in breaths:
            lo, hi = b.plateau_window_s
            assert 0.31 <= hi - lo <= 0.32 + 1e-9
            assert b.pplat_cmh2o == pytest.approx(20.0, abs=1e-9)


def test_plateau_rejected_when_pressure_unstable_or_flow_high():
    t, flow, paw, truths = synthetic_trace(pause_s=0.2)
    # pressure rising 6 cmH2O over the pause: only the last ~30 ms stay within a 1 hPa
    # spread, shorter than the 50 ms minimum window
    drift = paw.copy()
    for tr in truths:
        m = (t > tr.plateau_window_s[0] - 1e-9) & (t <= tr.plateau_window_s[1] + 1e-9)
        drift[m] += np.linspace(0.0, 6.0, m.sum())
    assert all(b.pplat_cmh2o is None for b in run(t, flow, drift))
    fast = flow.copy()
    for tr in truths:
        m = (t > tr.plateau_window_s[0] - 1e-9) & (t < tr.plateau_window_s[1] - 0.02)
        fast[m] = 3.5  # above the 3 L/min limit
    assert all(b.pplat_cmh2o is None for b in run(t, fast, paw))
    loose = MetricSettings(plateau_max_flow_lpm=5.0)
    assert all(b.pplat_cmh2o is not None for b in run(t, fast, paw, metrics=loose))


def test_plateau_stability_is_in_hpa():
    # the rule is ±0.5 hPa (a 1 hPa spread = 1.0197 cmH2O): a 1.0 cmH2O step passes, 1.05 does not
    t, flow, paw, truths = synthetic_trace(pause_s=0.2)
    stepped = paw.copy()
    for tr in truths:
        lo, hi = tr.plateau_window_s
        stepped[(t >= lo + 0.1) & (t <= hi)] += 1.0  # 1.0 cmH2O = 0.98 hPa <= 1.0 hPa spread
    assert all(b.pplat_cmh2o is not None for b in run(t, flow, stepped))
    for tr in truths:
        lo, hi = tr.plateau_window_s
        stepped[(t >= lo + 0.1) & (t <= hi)] += 0.05  # 1.05 cmH2O = 1.03 hPa > 1.0 hPa
    for b in run(t, flow, stepped):
        lo, hi = b.plateau_window_s  # only the stepped tail remains
        assert hi - lo == pytest.approx(0.1, abs=0.011)


def test_boundary_interpolation_counts_fractional_intervals():
    # flow rises linearly through zero between samples: crossing at 0.25 of the interval
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    f = np.array([-1.0, 3.0, 3.0, 3.0, -1.0])
    start = Boundary(1, 0.25)
    end = Boundary(4, 3.75)
    # trapezoid: 0.75*1.5 + 3 + 3 + 0.75*1.5 = 8.25 L/min*s
    assert phase_volume_ml(t, f, start, end) == pytest.approx(8.25 * ML_PER_S_PER_LPM)


def test_breath_metrics_directly():
    fs = 100.0
    t = np.arange(0, 3.01, 1 / fs)
    flow = np.where(t < 1.0, 30.0 * np.sin(np.pi * t), -15.0 * np.sin(np.pi * (t - 1.0) / 2))
    paw = np.where(t < 1.0, 5.0 + 10.0 * t, 5.0)
    flags = np.zeros(t.size, dtype=np.uint8)
    n1 = int(round(1.0 * fs))
    b = breath_metrics(
        t, flow, paw, flags, Boundary(1, 0.0), Boundary(n1 + 1, 1.0), Boundary(t.size - 1, 3.0),
        MetricSettings(), ("double_trigger",), 7,
    )
    vt = 30.0 * 2 / math.pi * ML_PER_S_PER_LPM
    assert b.vti_ml == pytest.approx(vt, rel=1e-4)
    assert b.vte_ml == pytest.approx(vt, rel=1e-4)
    assert b.leak_pct == pytest.approx(0.0, abs=0.02)
    assert b.ti_s == 1.0 and b.te_s == 2.0 and b.rr_bpm == 20.0 and b.ie_ratio == 2.0
    assert b.flags == ("double_trigger",) and b.index == 7
    assert b.pip_cmh2o == pytest.approx(15.0, abs=0.11)
    assert b.pmean_cmh2o == pytest.approx((10.0 + 10.0) / 3.0, rel=5e-3)  # a step at t = 1
    assert b.peak_exp_flow_lpm == pytest.approx(15.0, rel=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(peep_window_s=0.0), "peep_window_s: expected a finite number > 0"),
        (dict(plateau_max_flow_lpm=math.inf), "plateau_max_flow_lpm"),
        (dict(plateau_min_window_s=0.5), "plateau_min_window_s"),
    ],
)
def test_metric_settings_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MetricSettings(**kwargs)


def test_to_json_contract_keys():
    t, flow, paw, _ = synthetic_trace(pause_s=0.2)
    doc = run(t, flow, paw)[0].to_json()
    for key in ("t_start_s", "ti_s", "te_s", "rr_bpm", "ie_ratio", "vti_ml", "vte_ml", "pip_cmh2o",
                "pplat_cmh2o", "peep_cmh2o", "pmean_cmh2o", "leak_pct", "flags"):
        assert key in doc
    assert doc["flags"] == []


def _pc_like(fs_hz, noise_cmh2o, seed):
    """One breath: flat-top pressure (15 cmH2O) 0-0.8 s, PEEP 5 after; flow a clean square."""
    t = np.arange(int(2.0 * fs_hz) + 2) / fs_hz
    insp = t < 0.8
    flow = np.where(insp, 10.0, -10.0)
    paw = np.where(insp, 15.0, 5.0) + np.random.default_rng(seed).normal(0.0, noise_cmh2o, t.size)
    n1 = int(0.8 * fs_hz)
    bounds = Boundary(1, t[0] + 0.5 / fs_hz), Boundary(n1, 0.8 - 0.5 / fs_hz), Boundary(t.size - 1, t[-2])
    return t, flow, paw, bounds


@pytest.mark.parametrize("fs_hz", [200.0, 1000.0])
def test_pip_of_a_noisy_flat_top_is_not_the_noise_maximum(fs_hz):
    s = MetricSettings()
    errors, raw = [], []
    for seed in range(20):
        t, flow, paw, (a, d, e) = _pc_like(fs_hz, 0.05, seed)
        b = breath_metrics(t, flow, paw, np.zeros(t.size, np.uint8), a, d, e, s, (), 0,
                           s.pip_fit_samples(t))
        errors.append(b.pip_cmh2o - 15.0)
        raw.append(max(paw[: int(0.8 * fs_hz)]) - 15.0)
    assert min(raw) > 0.1  # the highest sample is off by 2.5-4 noise σ
    assert max(np.abs(errors)) < 0.1  # half the 0.2 cmH2O acceptance bound


def test_pip_of_a_ramp_ending_in_a_drop_is_the_corner():
    # VC: pressure rises 25 hPa/s to the end of inspiration between samples, then drops
    fs = 200.0
    t = np.arange(400) / fs
    t_end = 1.0 + 0.3 / fs
    paw = np.where(t < t_end, 5.0 + 25.0 * t, 5.0)
    flow = np.where(t < t_end, 10.0, -10.0)
    s = MetricSettings()
    j = int(np.searchsorted(t, t_end))
    b = breath_metrics(t, flow, paw, np.zeros(t.size, np.uint8), Boundary(1, 0.001),
                       Boundary(j, t_end), Boundary(399, t[-1] - 0.001), s, (), 0, s.pip_fit_samples(t))
    assert b.pip_cmh2o == pytest.approx(5.0 + 25.0 * t_end, abs=1e-9)  # raw max: 0.036 low
    assert MetricSettings(pip_fit_s=0.0).pip_fit_samples(t) == 0


def test_peep_window_ends_a_guard_before_the_next_breath():
    t, flow, paw, truths = synthetic_trace()
    late = paw.copy()
    for tr in truths[1:]:  # the next inspiration's pressure rise leaks into the last 8 ms
        late[(t >= tr.t_start_s - 0.008) & (t < tr.t_start_s)] += 3.0
    for b in run(t, flow, late)[:-1]:
        assert b.peep_cmh2o == pytest.approx(5.0, abs=1e-9)
    unguarded = MetricSettings(peep_guard_s=0.0)
    assert all(b.peep_cmh2o > 5.1 for b in run(t, flow, late, metrics=unguarded)[:-1])
