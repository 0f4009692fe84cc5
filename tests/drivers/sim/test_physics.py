"""Physics sanity of the simulator against analytic answers, determinism and streaming."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.sim import (
    Imperfections,
    Lung,
    SensorFault,
    SensorModel,
    Simulation,
    VentilatorSettings,
    settings_from_point,
    simulate,
    simulation_from_params,
)
from ventbench.errors import ConfigError
from ventbench.units import CMH2O_PER_HPA, HPA_PER_CMH2O

VC = VentilatorSettings("vc", vt_ml=500, rate_bpm=20, ti_s=1.0, peep_cmh2o=5)
PC = VentilatorSettings("pc", rate_bpm=20, ti_s=1.0, peep_cmh2o=5, dp_cmh2o=10, rise_time_s=0.0)
NOISY = SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05, flow_lag_s=0.004,
                    paw_lag_s=0.002, flow_quantum_lpm=0.01, oversample=4)


def _volume_ml(t_s, flow_lpm, t0, t1):
    """Trapezoid integral of a (fine) trace over [t0, t1), mL."""
    m = (t_s >= t0) & (t_s < t1)
    return float(np.sum((flow_lpm[m][1:] + flow_lpm[m][:-1]) / 2 * np.diff(t_s[m]))) * 1000 / 60


def test_vc_square_into_compliance_rises_by_vt_over_c():
    lung = Lung(c_ml_per_hpa=20.0, r_hpa_s_per_l=5.0)
    vc = VentilatorSettings("vc", vt_ml=400, rate_bpm=12, ti_s=1.5, peep_cmh2o=5, pause_s=0.5)
    res = simulate(vc, lung, n_breaths=3, fs_hz=1000)
    rise_cmh2o = 400 / 20.0 * CMH2O_PER_HPA  # VT / C, hPa -> cmH2O
    for b in res.truth:
        assert b.pplat_cmh2o - 5.0 == pytest.approx(rise_cmh2o, abs=1e-9)
        assert b.vti_ml == pytest.approx(400, abs=1e-9)
        # PIP = P_alv + R Q at the end of the flow: Q = 400 mL / 1 s
        assert b.pip_cmh2o == pytest.approx(5 + rise_cmh2o + 5e-3 * 400 * CMH2O_PER_HPA, abs=1e-6)
        assert b.peep_cmh2o == pytest.approx(5.0, abs=1e-9)
    # the trace shows the plateau during the pause
    tr = res.trace
    b = res.truth[1]
    during = (tr.t_s > b.t_insp_end_s - 0.4) & (tr.t_s < b.t_insp_end_s - 0.01)
    assert np.allclose(tr.paw_cmh2o[during], 5 + rise_cmh2o, atol=1e-9)
    assert np.allclose(tr.flow_lpm[during], 0.0, atol=1e-9)


def test_pc_flow_decays_with_tau_rc():
    lung = Lung(c_ml_per_hpa=20.0, r_hpa_s_per_l=10.0)  # tau = 0.2 s
    res = simulate(PC, lung, n_breaths=2, fs_hz=1000)
    tr, b = res.trace, res.truth[0]
    m = (tr.t_s > b.t_start_s + 0.05) & (tr.t_s < b.t_insp_end_s - 0.05)
    slope = np.polyfit(tr.t_s[m] - b.t_start_s, np.log(tr.flow_lpm[m]), 1)[0]
    assert -1 / slope == pytest.approx(lung.tau_s, rel=1e-9)
    dp_hpa = 10 * HPA_PER_CMH2O
    # first breath starts from rest at PEEP: exact exponential filling
    assert b.vti_ml == pytest.approx(20 * dp_hpa * (1 - math.exp(-1.0 / 0.2)), rel=1e-12)
    q0_lpm = dp_hpa / 10.0 * 60  # ΔP / R at the start, L/min
    assert tr.flow_lpm[np.searchsorted(tr.t_s, b.t_start_s)] == pytest.approx(q0_lpm, rel=1e-9)
    assert b.pip_cmh2o == pytest.approx(15.0, abs=1e-9)
    # Pmean: 15 for Ti, 5 for Te
    assert b.pmean_cmh2o == pytest.approx((15 * 1 + 5 * 2) / 3, abs=1e-9)


def test_pc_rise_time_and_ramp_flow_volume():
    lung = Lung(50, 5)
    pc = VentilatorSettings("pc", rate_bpm=20, ti_s=1.0, peep_cmh2o=5, dp_cmh2o=10,
                            rise_time_s=0.1)
    b = simulate(pc, lung, n_breaths=1, fs_hz=200).truth[0]
    assert b.pmean_cmh2o == pytest.approx((5 * 3 + 10 * (1 - 0.05)) / 3, abs=1e-9)
    ramp = VentilatorSettings("vc", vt_ml=300, rate_bpm=20, ti_s=1.0, peep_cmh2o=5,
                              flow_pattern="ramp", ramp_end_fraction=0.25)
    res = simulate(ramp, lung, n_breaths=2, fs_hz=5000)
    assert res.truth[1].vti_ml == pytest.approx(300, abs=1e-9)
    peak = 2 * 300 / (1.25) * 60 / 1000  # L/min
    assert res.trace.flow_lpm.max() == pytest.approx(peak, rel=1e-9)


def test_truth_matches_fine_trace_integral():
    lung = Lung(30, 20, circuit_c_ml_per_hpa=1.0, leak_ml_min=3000)
    for s in (VC, PC):
        res = simulate(s, lung, n_breaths=3, fs_hz=20000)
        t, q = res.trace.t_s, res.trace.flow_lpm
        for b in res.truth:
            assert _volume_ml(t, q, b.t_start_s, b.t_insp_end_s) == pytest.approx(b.vti_ml, abs=0.2)
            assert -_volume_ml(t, q, b.t_insp_end_s, b.t_end_s) == pytest.approx(b.vte_ml, abs=0.2)
            m = (t >= b.t_start_s) & (t < b.t_end_s)
            assert res.trace.paw_cmh2o[m].max() == pytest.approx(b.pip_cmh2o, abs=2e-3)
            assert res.trace.paw_cmh2o[m].mean() == pytest.approx(b.pmean_cmh2o, abs=2e-3)


def test_leak_reduces_vte_by_leak_volume():
    leaky = Lung(50, 5, leak_ml_min=6000, leak_ref_cmh2o=10)
    tight = simulate(PC, Lung(50, 5), n_breaths=6, fs_hz=200).truth[-1]
    b = simulate(PC, leaky, n_breaths=6, fs_hz=200).truth[-1]
    assert b.vte_ml < tight.vte_ml - 20
    # in steady state the lung returns to the same volume: VTi - VTe = ∫ leak = g ∫ Paw dt
    g_ml_s_per_cmh2o = 6000 / 60 / 10
    leak_ml = g_ml_s_per_cmh2o * b.pmean_cmh2o * (b.ti_s + b.te_s)
    assert b.vti_ml - b.vte_ml == pytest.approx(leak_ml, rel=1e-6)
    assert b.leak_pct == pytest.approx(leak_ml / b.vti_ml * 100, rel=1e-6)


def test_circuit_compliance_steals_volume_in_vc():
    lung = Lung(20, 5, circuit_c_ml_per_hpa=2.0)
    vc = VentilatorSettings("vc", vt_ml=440, rate_bpm=10, ti_s=2.0, peep_cmh2o=5, pause_s=1.0)
    b = simulate(vc, lung, n_breaths=3, fs_hz=200).truth[-1]
    # after the pause circuit and lung share one pressure: the lung holds C/(C+Cc) of VT
    assert b.vti_ml == pytest.approx(440 * 20 / 22, rel=1e-6)
    assert b.pplat_cmh2o - 5 == pytest.approx(440 / 22 * CMH2O_PER_HPA, rel=1e-6)


@pytest.mark.parametrize("condition", [GasCondition.STP20, GasCondition.ATPD])
def test_sensor_gas_condition_reads_low_by_conversion_factor(condition):
    amb = Ambient(22.0, 1013.25)
    btps = simulate(VC, Lung(50, 5), n_breaths=2, fs_hz=200,
                    sensors=SensorModel(ambient=amb)).trace
    other = simulate(VC, Lung(50, 5), n_breaths=2, fs_hz=200,
                     sensors=SensorModel(condition=condition, ambient=amb)).trace
    factor = conversion_factor(condition, GasCondition.BTPS, amb)
    assert 1.08 < factor < 1.13
    assert other.flow_condition is condition
    np.testing.assert_allclose(other.flow_lpm * factor, btps.flow_lpm, rtol=1e-12, atol=1e-12)
    back, applied = other.converted(GasCondition.BTPS)
    assert applied == pytest.approx(factor)
    np.testing.assert_allclose(back.flow_lpm, btps.flow_lpm, rtol=1e-12, atol=1e-12)
    lying = SensorModel(condition=condition, declared_condition=GasCondition.BTPS, ambient=amb)
    trace = simulate(VC, Lung(50, 5), n_breaths=1, fs_hz=200, sensors=lying).trace
    assert trace.flow_condition is GasCondition.BTPS
    np.testing.assert_array_equal(trace.flow_lpm, other.flow_lpm[: len(trace)])


def _chunked(sim: Simulation, sizes):
    parts = [sim.advance(n) for n in sizes]
    cat = {k: np.concatenate([getattr(p, k) for p in parts])
           for k in ("t_s", "flow_lpm", "paw_cmh2o", "flags")}
    return cat, [b for p in parts for b in p.truths]


def _busy_simulation(seed):
    imp = Imperfections(period_jitter_s=0.05, skip_probability=0.2, vt_gain_pct=3,
                        peep_drift_cmh2o_per_h=36.0)
    faults = (SensorFault(3.0, 3.2, "fault", "flow"), SensorFault(5.0, 5.5, "stale"),
              SensorFault(7.0, 7.01, "gap"), SensorFault(8.999, 9.5, "gap"))
    sensors = SensorModel(flow_noise_sd_lpm=0.3, paw_noise_sd_cmh2o=0.05, flow_lag_s=0.01,
                          paw_lag_s=0.003, flow_quantum_lpm=0.05, flow_range_lpm=35,
                          flow_drift_lpm_per_h=1.0, condition="STP20", oversample=3,
                          faults=faults)
    return Simulation(VC, Lung(30, 20, leak_ml_min=1000, circuit_c_ml_per_hpa=1),
                      imp, sensors, fs_hz=500, seed=seed)


def test_chunked_advance_identical_to_whole():
    whole, truth_whole = _chunked(_busy_simulation(7), [12000])
    rng = np.random.default_rng(0)
    sizes = list(rng.integers(0, 300, size=60))
    sizes.append(12000 - sum(sizes))
    chunked, truth_chunked = _chunked(_busy_simulation(7), sizes)
    for key in whole:
        assert whole[key].tobytes() == chunked[key].tobytes(), key
    assert truth_whole == truth_chunked
    assert len(truth_whole) >= 4


def test_same_seed_same_bytes_other_seed_differs():
    a, ta = _chunked(_busy_simulation(3), [6000])
    b, tb = _chunked(_busy_simulation(3), [6000])
    c, _ = _chunked(_busy_simulation(4), [6000])
    assert a["flow_lpm"].tobytes() == b["flow_lpm"].tobytes() and ta == tb
    assert a["flow_lpm"].tobytes() != c["flow_lpm"].tobytes()


def test_sensor_faults_flags_and_saturation():
    whole, _ = _chunked(_busy_simulation(1), [6000])
    t, flow, paw, flags = whole["t_s"], whole["flow_lpm"], whole["paw_cmh2o"], whole["flags"]
    fault = (t >= 3.0) & (t < 3.2)
    assert np.all(np.isnan(flow[fault])) and np.all(flags[fault] & SampleFlag.FAULT)
    assert np.all(np.isfinite(paw[fault]))
    stale = (t >= 5.0) & (t < 5.5)
    assert np.all(flags[stale] & SampleFlag.STALE)
    assert np.unique(flow[stale]).size == 1 and np.unique(paw[stale]).size == 1
    assert not np.any((t >= 7.0) & (t < 7.01))  # gap: samples dropped
    after = np.flatnonzero(t >= 7.01)[0]
    assert flags[after] & SampleFlag.GAP and not flags[after - 1] & SampleFlag.GAP
    sat = (flags & SampleFlag.SATURATED) != 0
    assert sat.any() and np.all(np.abs(flow[sat & ~fault]) <= 35)
    assert np.nanmax(np.abs(flow)) == pytest.approx(35)


def test_imperfections_gain_offset_rate_skip():
    imp = Imperfections(vt_gain_pct=20, peep_offset_cmh2o=1.0, rate_error_pct=10)
    res = simulate(VC, Lung(50, 5), imp, n_breaths=4, fs_hz=200)
    for b in res.truth:
        assert b.vt_delivered_ml == pytest.approx(600)
        assert b.rr_bpm == pytest.approx(22.0)
    assert res.truth[-1].vti_ml == pytest.approx(600, abs=1e-9)
    assert res.truth[-1].peep_cmh2o == pytest.approx(6.0, abs=1e-6)
    skipping = simulate(VC, Lung(50, 5), Imperfections(skip_probability=0.3), n_breaths=30,
                        fs_hz=100, seed=5).truth
    skipped = np.array([b.skipped_after for b in skipping])
    assert skipped.sum() > 0
    periods = np.array([b.t_end_s - b.t_start_s for b in skipping])
    np.testing.assert_allclose(periods, 3.0 * (1 + skipped))
    drift = Imperfections(vt_drift_pct_per_h=10.0)
    sim = Simulation(VC, Lung(50, 5), drift, fs_hz=10)
    truths = [b for _ in range(36) for b in sim.advance(1000).truths]  # one hour
    assert truths[-1].vt_delivered_ml == pytest.approx(550, rel=1e-3)


def test_settings_from_protocol_point():
    point = {"id": "pc-07", "mode": "pc",
             "set": {"vt_ml": 300, "rate_bpm": 20, "ti_s": 1.0, "dp_cmh2o": 30,
                     "peep_cmh2o": 5, "fio2_pct": 90},
             "lung": {"c_ml_per_hpa": 10, "r_hpa_s_per_l": 50, "leak_ml_min": 0}}
    settings, lung = settings_from_point(point)
    assert settings.mode == "pc" and settings.dp_cmh2o == 30 and settings.fio2_pct == 90
    assert lung.c_ml_per_hpa == 10 and lung.r_hpa_s_per_l == 50
    res = simulate(settings, lung, n_breaths=2, fs_hz=200)
    assert np.all(res.trace.channels["fio2_pct"] == 90)
    with pytest.raises(ConfigError, match="pc-07.*dp_cmh2o"):
        settings_from_point({**point, "set": {k: v for k, v in point["set"].items()
                                              if k != "dp_cmh2o"}})
    with pytest.raises(ConfigError, match="not a number"):
        settings_from_point({**point, "lung": {"c_ml_per_hpa": "soft", "r_hpa_s_per_l": 5}})
    sim = simulation_from_params({"mode": "vc", "vt_ml": "250", "seed": "2"}, fs_hz=100)
    assert sim.settings.vt_ml == 250 and sim.seed == 2


def test_invalid_settings_raise_config_error():
    with pytest.raises(ConfigError, match="ti"):
        VentilatorSettings("vc", rate_bpm=30, ti_s=2.5)
    with pytest.raises(ConfigError, match="compliance"):
        Lung(0, 5)
    with pytest.raises(ConfigError, match="exactly one"):
        simulate(VC, Lung(50, 5), fs_hz=200)
