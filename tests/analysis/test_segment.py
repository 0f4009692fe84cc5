"""Breath segmentation against signals whose true boundaries are known.

``synthetic_trace`` builds a volume-control-like waveform: a piecewise-linear inspiratory flow
(ramps, plateau, optional low-flow pause) and a smooth two-exponential expiration, with
airway pressure piecewise linear. Breakpoints fall on the sample grid, so the true zero
crossings, VTi, PIP, PEEP, plateau and Pmean are known exactly; VTe analytically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from ventbench.analysis.edges import refine_edges
from ventbench.analysis.segment import (
    SegmentationSettings,
    hysteresis_transitions,
    last_zero_crossing,
    refine_crossing,
)
from ventbench.analysis.stream import BreathStream
from ventbench.analysis.trace import SampleFlag
from ventbench.errors import AnalysisError, ConfigError
from ventbench.units import ML_PER_S_PER_LPM


@dataclass(frozen=True)
class Truth:
    t_start_s: float
    ti_s: float
    te_s: float
    vti_ml: float
    vte_ml: float
    pip_cmh2o: float
    peep_cmh2o: float
    pplat_cmh2o: float | None
    pmean_cmh2o: float
    plateau_window_s: tuple[float, float] | None


def synthetic_trace(
    n_cycles: int = 6,
    fs_hz: float = 200.0,
    ti_s: float = 1.0,
    te_s: float = 2.0,
    flow_lpm: float = 30.0,
    ramp_s: float = 0.05,
    pause_s: float = 0.0,
    pause_flow_lpm: float = 0.5,
    leak: float = 0.05,
    tau_s: float = 0.3,
    rise_s: float = 0.05,
    peep_cmh2o: float = 5.0,
    pip_cmh2o: float = 25.0,
    pplat_cmh2o: float = 20.0,
    lead_s: float = 1.0,
    noise_lpm: float = 0.0,
    seed: int = 0,
):
    """Return (t_s, flow_lpm, paw_cmh2o, truths); ``n_cycles - 1`` breaths are complete."""
    dt = 1.0 / fs_hz
    cycle_s = ti_s + te_s
    n = int(round((lead_s + n_cycles * cycle_s) * fs_hz)) + 1
    t = np.arange(n) * dt
    s = t - lead_s
    k = np.floor(s / cycle_s)
    u = s - k * cycle_s  # time within the cycle
    active = ti_s - pause_s
    if pause_s > 0:
        fx = [0.0, ramp_s, active - ramp_s, active, ti_s - ramp_s, ti_s]
        fy = [0.0, flow_lpm, flow_lpm, pause_flow_lpm, pause_flow_lpm, 0.0]
        px = [0.0, active, active + dt, ti_s]
        py = [peep_cmh2o, pip_cmh2o, pplat_cmh2o, pplat_cmh2o]
    else:
        fx = [0.0, ramp_s, ti_s - ramp_s, ti_s]
        fy = [0.0, flow_lpm, flow_lpm, 0.0]
        px = [0.0, ti_s]
        py = [peep_cmh2o, pip_cmh2o]
    vti_ml = float(np.trapezoid(fy, fx)) * ML_PER_S_PER_LPM
    tau2 = 1.0 / (1.0 / tau_s + 1.0 / rise_s)
    shape = tau_s * (1 - math.exp(-te_s / tau_s)) - tau2 * (1 - math.exp(-te_s / tau2))
    peak = vti_ml * (1 - leak) / ML_PER_S_PER_LPM / shape
    v = u - ti_s
    exp_flow = -peak * (1 - np.exp(-v / rise_s)) * np.exp(-v / tau_s)
    flow = np.where(u < ti_s, np.interp(u, fx, fy), exp_flow)
    decay_s = min(0.5, te_s / 2)
    p_end = py[-1]
    exp_p = np.interp(v, [0.0, decay_s], [p_end, peep_cmh2o])
    paw = np.where(u < ti_s, np.interp(u, px, py), exp_p)
    idle = (s < 0) | (k >= n_cycles)
    flow[idle] = 0.0
    paw[idle] = peep_cmh2o
    if noise_lpm:
        flow = flow + np.random.default_rng(seed).normal(0.0, noise_lpm, n)
    # exact Pmean of the piecewise-linear pressure over one cycle
    ex = [ti_s, ti_s + decay_s, cycle_s]
    ey = [p_end, peep_cmh2o, peep_cmh2o]
    pmean = (float(np.trapezoid(py, px)) + float(np.trapezoid(ey, ex))) / cycle_s
    has_plateau = pause_s - dt >= 0.05
    plateau_lo_s = max(active + dt, ti_s - 0.32)  # the window is capped at 320 ms
    truths = [
        Truth(
            t_start_s=lead_s + i * cycle_s,
            ti_s=ti_s,
            te_s=te_s,
            vti_ml=vti_ml,
            vte_ml=vti_ml * (1 - leak),
            pip_cmh2o=pip_cmh2o,
            peep_cmh2o=peep_cmh2o,
            pplat_cmh2o=pplat_cmh2o if has_plateau else None,
            pmean_cmh2o=pmean,
            plateau_window_s=(lead_s + i * cycle_s + plateau_lo_s, lead_s + i * cycle_s + ti_s)
            if has_plateau
            else None,
        )
        for i in range(n_cycles - 1)
    ]
    return t, flow, paw, truths


def run(t, flow, paw, flags=None, settings=None):
    """Breaths with ``settings`` (the fixed adult preset when omitted: these tests pin its
    detection rules; adaptive settings have tests/analysis/test_adaptive.py)."""
    stream = BreathStream(settings if settings is not None else SegmentationSettings())
    return stream.feed(t, flow, paw, flags) + stream.finish()


def test_timing_of_clean_breaths_is_exact():
    t, flow, paw, truths = synthetic_trace()
    breaths = run(t, flow, paw)
    assert len(breaths) == len(truths) == 5
    for b, tr in zip(breaths, truths, strict=True):
        assert b.t_start_s == pytest.approx(tr.t_start_s, abs=1e-9)
        assert b.ti_s == pytest.approx(tr.ti_s, abs=1e-9)
        assert b.te_s == pytest.approx(tr.te_s, abs=1e-9)
        assert b.rr_bpm == pytest.approx(20.0, rel=1e-9)
        assert b.ie_ratio == pytest.approx(2.0, rel=1e-9)
        assert b.flags == ()
    assert [b.index for b in breaths] == list(range(5))


def test_sine_flow_boundaries_and_volumes():
    fs, period = 200.0, 4.0
    t = np.arange(int(7 * period * fs)) / fs
    amp = 40.0
    flow = amp * np.sin(2 * np.pi * t / period)
    breaths = run(t, flow, np.full_like(t, 5.0))
    vt_true = amp * period / math.pi * ML_PER_S_PER_LPM
    assert len(breaths) == 6
    for i, b in enumerate(breaths):
        assert b.t_start_s == pytest.approx(i * period, abs=1e-6)
        assert b.ti_s == pytest.approx(period / 2, abs=1e-6)
        assert b.vti_ml == pytest.approx(vt_true, rel=1e-4)
        assert b.vte_ml == pytest.approx(vt_true, rel=1e-4)
        assert b.peak_insp_flow_lpm == pytest.approx(amp, rel=1e-3)


def test_idle_noise_gives_no_breaths():
    rng = np.random.default_rng(1)
    t = np.arange(20000) / 200.0
    breaths = run(t, rng.normal(0.0, 2.0, t.size), rng.normal(5.0, 0.2, t.size))
    assert breaths == []


def test_noise_blips_in_expiration_are_not_breaths():
    t, flow, paw, truths = synthetic_trace(te_s=3.0)
    # 60 ms blips of +15 L/min in the middle of each expiratory pause
    for tr in truths:
        mid = (t > tr.t_start_s + 2.5) & (t < tr.t_start_s + 2.56)
        flow[mid] += 15.0
    breaths = run(t, flow, paw)
    assert len(breaths) == len(truths)
    assert [round(b.t_start_s, 6) for b in breaths] == [round(tr.t_start_s, 6) for tr in truths]


def test_incomplete_first_breath_dropped_when_trace_starts_in_inspiration():
    t, flow, paw, truths = synthetic_trace(lead_s=0.0)
    cut = int(0.5 * 200)  # start half-way into the first inspiration
    breaths = run(t[cut:], flow[cut:], paw[cut:])
    assert len(breaths) == len(truths) - 1
    assert breaths[0].t_start_s == pytest.approx(truths[1].t_start_s, abs=1e-9)


def test_double_trigger_and_too_short_are_flagged():
    t, flow, paw, _ = synthetic_trace(n_cycles=3, ti_s=0.3, te_s=0.2, flow_lpm=40, tau_s=0.05, rise_s=0.02)
    breaths = run(t, flow, paw)
    assert len(breaths) == 2
    for b in breaths:
        assert "double_trigger" in b.flags
        assert "too_short" in b.flags


def test_sample_flags_propagate_to_the_breath():
    t, flow, paw, truths = synthetic_trace()
    flags = np.zeros(t.size, dtype=np.uint8)
    i = int(np.searchsorted(t, truths[2].t_start_s + 0.5))
    flags[i] = SampleFlag.SATURATED | SampleFlag.STALE
    j = int(np.searchsorted(t, truths[3].t_start_s + 2.0))
    flags[j] = SampleFlag.GAP
    flow[j] = np.nan
    breaths = run(t, flow, paw, flags)
    assert breaths[2].flags == ("saturated", "stale")
    assert breaths[3].flags == ("gap",)
    assert math.isnan(breaths[3].vte_ml)
    assert all(not b.flags for k, b in enumerate(breaths) if k not in (2, 3))


def test_base_flow_and_offset_are_subtracted():
    t, flow, paw, truths = synthetic_trace()
    ref = run(t, flow, paw)
    shifted = run(t, flow + 4.0, paw, settings=SegmentationSettings(base_flow_lpm=3.0, flow_offset_lpm=1.0))
    assert len(shifted) == len(ref)
    for a, b in zip(ref, shifted, strict=True):
        assert b.t_start_s == pytest.approx(a.t_start_s, abs=1e-9)
        assert b.vti_ml == pytest.approx(a.vti_ml, rel=1e-9)


def test_presets_and_overrides():
    adult = SegmentationSettings.preset("adult")
    assert adult == SegmentationSettings()
    assert adult.insp_threshold_lpm == 3.0 and adult.exp_threshold_lpm == -3.0
    paed = SegmentationSettings.preset("paediatric")
    neo = SegmentationSettings.preset("Neonatal", min_exp_s=0.05)
    assert neo.insp_threshold_lpm < paed.insp_threshold_lpm < adult.insp_threshold_lpm
    assert neo.min_exp_s == 0.05
    assert SegmentationSettings.preset("pediatric") == paed
    with pytest.raises(ConfigError, match="unknown segmentation preset 'cat'"):
        SegmentationSettings.preset("cat")
    with pytest.raises(ConfigError, match="unknown segmentation setting"):
        SegmentationSettings.preset("adult", threshold=1.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(insp_threshold_lpm=0.0), "insp_threshold_lpm: expected > 0"),
        (dict(exp_threshold_lpm=1.0), "exp_threshold_lpm: expected < 0"),
        (dict(min_insp_s=-1.0), "min_insp_s: expected >= 0"),
        (dict(smoothing_s=math.nan), "smoothing_s: expected a finite number"),
        (dict(max_breath_s=0.4), "max_breath_s"),
    ],
)
def test_settings_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SegmentationSettings(**kwargs)


@pytest.mark.parametrize(
    "row, preset, vt_ml, ti_s, rate_bpm, noise_lpm, fs_hz",
    [
        ("VC 19 neonatal", "neonatal", 5.0, 0.4, 60.0, 0.3, 1000.0),
        ("VC 16 neonatal", "neonatal", 20.0, 0.4, 50.0, 0.3, 1000.0),
        ("VC 12 paediatric", "paediatric", 30.0, 0.6, 30.0, 0.3, 1000.0),
        ("VC 11 paediatric", "paediatric", 50.0, 0.6, 20.0, 0.3, 500.0),
        ("VC 8 adult", "adult", 200.0, 1.0, 20.0, 0.5, 200.0),
        ("VC 2 adult", "adult", 500.0, 1.0, 12.0, 0.5, 200.0),
    ],
)
def test_presets_segment_iso_rows(row, preset, vt_ml, ti_s, rate_bpm, noise_lpm, fs_hz):
    ramp = 0.02 if ti_s < 1 else 0.05
    flow_lpm = vt_ml / ML_PER_S_PER_LPM / (ti_s - ramp)
    te_s = 60.0 / rate_bpm - ti_s
    tau_s = min(0.3, te_s / 6)
    t, flow, paw, truths = synthetic_trace(
        n_cycles=12, fs_hz=fs_hz, ti_s=ti_s, te_s=te_s, flow_lpm=flow_lpm, ramp_s=ramp,
        tau_s=tau_s, rise_s=tau_s / 5, noise_lpm=noise_lpm, seed=19, lead_s=0.5,
    )
    breaths = run(t, flow, paw, settings=SegmentationSettings.preset(preset))
    assert len(breaths) == len(truths), row
    for b, tr in zip(breaths, truths, strict=True):
        # noise around zero flow moves the last zero crossing by a few samples at most
        assert b.t_start_s == pytest.approx(tr.t_start_s, abs=0.03), row
        assert b.ti_s == pytest.approx(ti_s, abs=0.03), row
        assert b.vti_ml == pytest.approx(vt_ml, rel=0.05), row  # ≤ 1/3 of the 15 % limit
        assert b.rr_bpm == pytest.approx(rate_bpm, rel=0.02), row
        assert "double_trigger" not in b.flags


def test_hysteresis_primitive():
    sm = np.array([0.0, 4.0, 1.0, -4.0, -1.0, 5.0, 6.0, -5.0])
    idx, rising, state = hysteresis_transitions(sm, 3.0, -3.0, -1)
    assert idx.tolist() == [1, 3, 5, 7]
    assert rising.tolist() == [True, False, True, False]
    assert state == 0
    idx, rising, state = hysteresis_transitions(np.array([4.0, -4.0]), 3.0, -3.0, -1)
    assert idx.tolist() == [1] and state == 0  # started in inspiration: no transition at 0


def test_zero_crossing_primitive():
    f = np.array([-1.0, 0.0, 2.0, -1.0, 3.0, 0.0, 0.0, -2.0])
    assert last_zero_crossing(f, 0, 7, rising=True) == 4
    assert last_zero_crossing(f, 0, 3, rising=True) == 2
    assert last_zero_crossing(f, 0, 7, rising=False) == 7  # zeros belong to the phase before
    assert last_zero_crossing(f, 4, 6, rising=False) == -1


def test_zero_band_ignores_noise_before_a_steep_edge():
    t = np.arange(6, dtype=float)
    f = np.array([-0.3, -0.02, 0.06, 0.07, 30.0, 30.0])
    # plain last zero crossing: between samples 1 and 2 (noise), two samples early
    j, t_c = refine_crossing(t, f, 0, 5, True, 0.0)
    assert j == 2 and t_c == pytest.approx(1.0 + 0.02 / 0.08)
    # with a 1 L/min band: the edge between samples 3 and 4, extrapolated to zero
    j, t_c = refine_crossing(t, f, 0, 5, True, 1.0)
    assert j == 3 and t_c == pytest.approx(3.0 - 0.07 / 29.93)  # sample 3 is after it
    # a slow noisy rise cannot extrapolate before the plain zero crossing
    g = np.array([-1.0, 0.5, 0.9, 0.95, 2.0, 3.0])
    j, t_c = refine_crossing(t, g, 0, 5, True, 1.0)
    assert (j, t_c) == (3, pytest.approx(3.0 - 0.95 / 1.05))
    h = np.array([-1.0, 0.5, 0.6, 0.7, 0.99, 1.0001])
    j, t_c = refine_crossing(t, h, 0, 5, True, 1.0)
    assert (j, t_c) == (1, pytest.approx(2.0 / 3.0))
    assert refine_crossing(t, -np.abs(f), 0, 5, True, 1.0) is None


def test_noise_in_end_inspiratory_pause_does_not_end_inspiration():
    t, flow, paw, truths = synthetic_trace(pause_s=0.5, pause_flow_lpm=0.0, ti_s=1.5, te_s=2.5)
    for tr in truths:  # a -6 L/min dip 0.3 s before the valve opens
        dip = (t > tr.t_start_s + 1.2) & (t < tr.t_start_s + 1.26)
        flow[dip] = -6.0
    breaths = run(t, flow, paw)
    assert len(breaths) == len(truths)
    for b, tr in zip(breaths, truths, strict=True):
        assert b.ti_s == pytest.approx(tr.ti_s, abs=1e-9)


@pytest.mark.parametrize(
    "args, message",
    [
        (([0.0, 1.0], [1.0], [1.0, 2.0]), "lengths differ"),
        (([0.0, 0.0], [1.0, 1.0], [1.0, 1.0]), "does not increase"),
        (([0.0, np.inf], [1.0, 1.0], [1.0, 1.0]), "time is not finite"),
        (([0.0, 1.0], [1.0, np.nan], [1.0, 1.0]), "not flagged as a gap or fault"),
    ],
)
def test_feed_validation(args, message):
    with pytest.raises(AnalysisError, match=message):
        BreathStream().feed(*args)


def test_time_must_increase_across_feeds():
    stream = BreathStream()
    stream.feed([0.0, 1.0], [0.0, 0.0], [0.0, 0.0])
    with pytest.raises(AnalysisError, match="sample 2: time 1.0 s does not increase"):
        stream.feed([1.0], [0.0], [0.0])


def _edge(t, g, peak):
    """refine_edges on one edge filling the whole window: (index, time)."""
    col, t_c = refine_edges(g[None, :], t[None, :], np.array([0]), np.array([g.size]),
                            np.array([peak]))
    return int(col[0]), float(t_c[0])


def test_edge_of_a_noisy_step_is_its_half_height_crossing():
    # 0.75 L/min step (neonatal VC) in 0.3 L/min noise, 0.3 of a sample after sample 40:
    # the plain last zero crossing wanders off by several samples, the edge does not
    rng = np.random.default_rng(4)
    t = np.arange(80) * 0.005
    errors = []
    for _ in range(200):
        g = np.where(np.arange(80) > 40, 0.75, 0.0) + rng.normal(0.0, 0.3, 80)
        col, t_c = _edge(t, g, 0.8)
        assert col >= 0 and t[col - 1] <= t_c < t[col]
        errors.append(t_c - 0.2015)
    errors = np.abs(errors)
    assert np.median(errors) < 0.004 and np.mean(errors < 0.0075) > 0.9


def test_edge_of_a_ramp_is_its_foot_and_clean_edges_are_exact():
    t = np.arange(60) * 0.001
    ramp = np.maximum(0.0, t - 0.0203) * 200.0  # foot between samples, 0.2 L/min per sample
    col, t_c = _edge(t, ramp, 6.0)
    assert t_c == pytest.approx(0.0203, abs=1e-9) and col == 21
    step = np.where(np.arange(60) >= 31, 2.0, 0.0)
    col, t_c = _edge(t, step, 2.0)
    # without noise the line through the step's two samples: zero at the last zero sample
    assert col == 31 and t_c == t[30]
    # a smooth edge (sine) never extrapolates before its zero crossing
    sine = 10.0 * np.sin(2 * np.pi * (t - 0.02) / 0.2)
    col, t_c = _edge(t, sine, 8.0)
    assert t_c == pytest.approx(0.02, abs=1e-12)
    assert _edge(t, -np.abs(step), 2.0)[0] == -1  # no edge: none found


def test_noisy_ramp_foot_is_found():
    rng = np.random.default_rng(5)
    t = np.arange(120) * 0.001
    err = []
    for _ in range(200):
        g = np.maximum(0.0, t - 0.0605) * 90.0 * 60.0 / 60.0 + rng.normal(0.0, 0.3, 120)
        err.append(_edge(t, g, 3.5)[1] - 0.0605)
    assert abs(np.median(err)) < 0.003 and np.percentile(np.abs(err), 90) < 0.008


def test_the_command_line_offers_every_segmentation_preset():
    from ventbench.analysis.segment import PRESETS
    from ventbench.analysis.vocabulary import SEGMENTATION_PRESETS

    assert SEGMENTATION_PRESETS == PRESETS
