"""Steady-state quantities (analysis/steady.py, steady_checks.py) against the CPAP simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.limits import LimitSet, Tolerance
from ventbench.analysis.steady import SteadyRule, steady_windows
from ventbench.analysis.steady_checks import (
    STEADY_ANALYSIS_BOUNDS,
    evaluate_steady,
    steady_point_json,
)
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.analysis.uncertainty import Accuracy, ReferenceSpec
from ventbench.drivers.sim.cpap import CpapModel, CpapSettings

ALL = ("paw", "paw_swing", "flow", "fio2", "o2_flow", "supply_p")


def tol(q, abs_=None, rel=None, unit="cmH2O", **kw):
    return Tolerance(q, abs_, rel, unit, "test", "unconfirmed", **kw)


#: the limits STANDARDS.md §2 gives: pressure ±0.5 cmH2O (bubble CPAP evaluations), FiO2 ±2 %
#: of the table (UK CPAP protocol), flow ±5 %, supply 4 ± 0.25 bar; swing capped at 2 cmH2O
LIMITS = LimitSet("steady-test", "test", {
    "paw": tol("paw", 0.5, 0.0), "fio2": tol("fio2", 2.0, 0.0, "%"), "flow": tol("flow", 0.0, 0.05, "L/min"),
    "supply_p": tol("supply_p", 0.25, 0.0, "bar"), "paw_swing": tol("paw_swing", max=2.0),
})


def sets_of(model: CpapModel) -> dict[str, float]:
    s = model.steady()
    return {"cpap_cmh2o": s["paw"], "fio2_pct": model.s.fio2_pct, "flow_lpm": model.s.flow_lpm,
            "supply_bar": model.s.supply_bar}


def limit_half_width(q: str, truth: dict[str, float]) -> float:
    t = LIMITS.get(q)
    return t.max if not t.is_band else float(t.limit(truth[q]))


@pytest.mark.parametrize("fs_hz", [100.0, 1000.0])
@pytest.mark.parametrize("flow_lpm,fio2_pct,cpap", [(40, 30.8, 5), (60, 60, 10), (120, 28.2, 15), (80, 95, 10),
                                                    (10, 100, 5)])
def test_window_values_within_a_tenth_of_each_limit(fs_hz, flow_lpm, fio2_pct, cpap):
    model = CpapModel(CpapSettings(flow_lpm=flow_lpm, fio2_pct=fio2_pct, cpap_cmh2o=cpap), fs_hz, seed=7)
    truth = model.steady()
    for criterion in ("mean", "every-window"):
        result = evaluate_steady(model.trace(80.0).validated(), sets_of(model), LIMITS,
                                 SteadyRule(criterion=criterion), ALL)
        assert result.verdict == "PASS", result.reason
        assert result.windows.measured.size == 3
        win = result.windows
        for q in ALL:
            a, r = STEADY_ANALYSIS_BOUNDS[q]
            bound = a + r * abs(truth[q])
            err = np.abs(win.values[q][win.measured] - truth[q])
            assert err.max() <= bound, (q, err.max(), bound)
            if q in ("paw", "fio2", "flow", "supply_p", "paw_swing"):
                assert bound <= limit_half_width(q, truth) / 10.0, q


def test_settles_only_once_the_o2_cell_has_caught_up():
    model = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=90, tau_o2_s=6.0), 100.0, seed=3)
    result = evaluate_steady(model.trace(120.0).validated(), sets_of(model), LIMITS, quantities=("fio2",))
    win = result.windows
    # the cell's own residual at the first measured window is within a tenth of the ±2 % limit
    residual = (90 - 20.9) * np.exp(-(win.t0_s[win.settled_at]) / 6.0)
    assert residual <= 0.2
    # and not later than needed: one window earlier the residual was still above the settle span
    assert (90 - 20.9) * np.exp(-(win.t0_s[win.settled_at - 1]) / 6.0) > 0.2 * 0.1
    assert result.verdict == "PASS"


def test_never_settled_is_inconclusive_with_reason_not_fail():
    model = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=90, tau_o2_s=300.0), 100.0)
    result = evaluate_steady(model.trace(60.0).validated(), sets_of(model), LIMITS)
    fio2 = next(c for c in result.checks if c.quantity == "fio2")
    assert result.verdict == "INCONCLUSIVE" and fio2.verdict == "INCONCLUSIVE"
    assert "never settled" in fio2.reason and "fio2" in fio2.reason
    assert result.windows.settled_at is None


def test_seeded_defect_fio2_low_at_high_flow_fails():
    for flow, verdict in ((100, "FAIL"), (60, "PASS")):
        model = CpapModel(CpapSettings(flow_lpm=flow, fio2_pct=60, fio2_low_pct=4.0, fio2_low_above_lpm=80), 100.0)
        result = evaluate_steady(model.trace(80.0).validated(), sets_of(model), LIMITS)
        assert result.verdict == verdict, result.reason
        if verdict == "FAIL":
            fio2 = next(c for c in result.checks if c.quantity == "fio2")
            assert fio2.verdict == "FAIL" and abs(fio2.mean - 56.0) < 0.1
            assert "outside ±(2 % + 0 %) of 60 %" in fio2.reason


def test_gap_in_a_measured_window_forbids_pass():
    model = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=40), 100.0)
    trace = model.trace(80.0, drop=(55.0, 56.0)).validated()
    assert (trace.flags & SampleFlag.GAP).any()
    result = evaluate_steady(trace, sets_of(model), LIMITS, SteadyRule(measure_windows=5))
    assert 5 in result.windows.measured and result.windows.measured.size == 5
    assert result.verdict == "INCONCLUSIVE"
    paw = next(c for c in result.checks if c.quantity == "paw")
    assert "flagged measured windows" in paw.reason and "gap" in paw.reason


def test_every_window_still_fails_on_an_unflagged_window_outside():
    model = CpapModel(CpapSettings(flow_lpm=100, fio2_pct=60, fio2_low_pct=4.0), 100.0)
    trace = model.trace(80.0, drop=(55.0, 56.0)).validated()
    result = evaluate_steady(trace, sets_of(model), LIMITS, SteadyRule(criterion="every-window", measure_windows=5))
    fio2 = next(c for c in result.checks if c.quantity == "fio2")
    assert fio2.verdict == "FAIL" and "also flagged measured windows 5" in fio2.reason
    assert fio2.failing_breaths == tuple(int(w) for w in result.windows.measured if w != 5)
    # under the mean criterion the incomplete window forbids both PASS and FAIL
    mean = evaluate_steady(trace, sets_of(model), LIMITS, SteadyRule(measure_windows=5))
    assert next(c for c in mean.checks if c.quantity == "fio2").verdict == "INCONCLUSIVE"


def test_sensor_fault_flags_and_missing_channel():
    model = CpapModel(CpapSettings(), 100.0)
    tr = model.trace(80.0)
    flags = np.zeros(len(tr), np.uint8)
    flags[5500:5510] = SampleFlag.FAULT
    faulty = Trace(tr.t_s, tr.flow_lpm, tr.paw_cmh2o, tr.flow_condition, tr.ambient, flags, dict(tr.channels))
    faulted = evaluate_steady(faulty, sets_of(model), LIMITS, SteadyRule(measure_windows=5))
    assert faulted.verdict == "INCONCLUSIVE" and "fault in 10 samples" in faulted.reason
    bare = Trace(tr.t_s, tr.flow_lpm, tr.paw_cmh2o, tr.flow_condition)
    result = evaluate_steady(bare, sets_of(model), LIMITS)
    fio2 = next(c for c in result.checks if c.quantity == "fio2")
    assert fio2.verdict == "INCONCLUSIVE" and "no fio2_pct channel" in fio2.reason
    assert result.windows.missing == ("fio2",)


def test_caps_min_and_max_judge_without_set_value():
    lim = LimitSet("caps", "caps", {"fio2": tol("fio2", unit="%", min=95.0)})
    for fio2, verdict in ((98.0, "PASS"), (90.0, "FAIL")):
        model = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=fio2), 100.0)
        result = evaluate_steady(model.trace(80.0).validated(), {}, lim, quantities=("fio2",))
        assert result.verdict == verdict
    assert "≥ 95 %" in result.checks[0].reason


def test_budget_and_guarded_rule():
    ref = ReferenceSpec("analyser", (Accuracy("pressure", 0.01, 0.1, None, 0.01, "data sheet"),
                                     Accuracy("fio2", 0.0, 1.0, 2.0, 0.1, "cert C-1")))
    model = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=60), 100.0)
    result = evaluate_steady(model.trace(80.0).validated(), sets_of(model), LIMITS,
                             SteadyRule(decision_rule="guarded"), ("paw", "fio2"), reference=ref)
    paw, fio2 = result.checks
    assert paw.budget is not None and paw.budget.complete
    assert {c.name for c in paw.budget.components} == {"repeatability (Type A)", "reference instrument",
                                                       "resolution", "analysis"}
    assert 0.1 < paw.budget.U < 0.3 and paw.verdict == "PASS"
    # FiO2 certificate ±1 % (k = 2) leaves the 60 % reading well inside ±2 %: PASS under the guard band
    assert fio2.verdict == "PASS" and fio2.budget.U < 2.0
    # without a reference the budget is incomplete: guarded cannot accept
    bare = evaluate_steady(model.trace(80.0).validated(), sets_of(model), LIMITS, SteadyRule(decision_rule="guarded"),
                           ("paw",))
    assert bare.verdict == "INCONCLUSIVE" and "U incomplete" in bare.reason


def test_oxygen_accounting_and_json():
    model = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=60), 100.0)
    result = evaluate_steady(model.trace(80.0).validated(), sets_of(model), LIMITS, quantities=ALL)
    ox = result.oxygen
    truth = model.steady()
    assert abs(ox["o2_lpm"] - truth["o2_flow"]) <= 0.05 + 0.002 * truth["o2_flow"]
    assert ox["duration_s"] == pytest.approx(30.0)
    assert ox["o2_used_l"] == pytest.approx(ox["o2_lpm"] * 0.5)
    doc = steady_point_json("cpap-1", {"flow_lpm": 60}, result, channels={"mixed_flow": "flow_lpm"})
    assert doc["mode"] == "steady" and doc["breaths"] == [] and len(doc["windows"]) == 8
    assert doc["checks"][0]["n_windows"] == 3 and "failing_windows" in doc["checks"][0]
    assert doc["oxygen"]["o2_lpm"] == pytest.approx(ox["o2_lpm"], rel=1e-6)
    assert doc["channels"] == {"mixed_flow": "flow_lpm"}


def test_too_short_is_partial():
    model = CpapModel(CpapSettings(), 100.0)
    result = evaluate_steady(model.trace(50.0).validated(), sets_of(model), LIMITS, SteadyRule(measure_windows=6))
    n = result.windows.measured.size
    assert 3 <= n < 6 and result.verdict == "INCONCLUSIVE"
    assert f"only {n} of 6 windows measured after settling" in result.reason


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=6), st.integers(0, 2**16))
def test_model_samples_do_not_depend_on_chunking(chunks, seed):
    whole = CpapModel(CpapSettings(), 200.0, seed)
    parts = CpapModel(CpapSettings(), 200.0, seed)
    n = sum(chunks)
    t, ch = whole.advance(n)
    got = [parts.advance(c)[1]["paw_cmh2o"] for c in chunks]
    np.testing.assert_array_equal(np.concatenate(got), ch["paw_cmh2o"])


def test_windows_reject_unknown_quantity():
    from ventbench.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown quantity 'vt'"):
        steady_windows(CpapModel(CpapSettings()).trace(20.0), ("vt",), SteadyRule())


_BASE = CpapModel(CpapSettings(flow_lpm=60, fio2_pct=60), 100.0, seed=11)
_TRACE = _BASE.trace(80.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 79.0), st.floats(0.05, 2.0), st.sampled_from(["mean", "every-window"]))
def test_a_gap_anywhere_never_gives_pass_on_its_window(t_gap, length, criterion):
    keep = ~((_TRACE.t_s >= t_gap) & (_TRACE.t_s < t_gap + length))
    tr = Trace(_TRACE.t_s[keep], _TRACE.flow_lpm[keep], _TRACE.paw_cmh2o[keep], _TRACE.flow_condition,
               channels={k: v[keep] for k, v in _TRACE.channels.items()}).validated()
    result = evaluate_steady(tr, sets_of(_BASE), LIMITS, SteadyRule(criterion=criterion, measure_windows=5))
    win = result.windows
    gapped = [j for j in range(win.t0_s.size) if win.t0_s[j] < t_gap + length and t_gap < win.t1_s[j]]
    if result.verdict == "PASS":  # then no measured window may hold the gap
        assert not set(gapped) & set(win.measured.tolist())
    assert result.verdict != "FAIL"  # the device is healthy: a gap never makes it fail


@settings(max_examples=30, deadline=None)
@given(st.floats(-1.0, 1.0))
def test_pressure_offset_judged_at_the_limit(offset):
    tr = Trace(_TRACE.t_s, _TRACE.flow_lpm, _TRACE.paw_cmh2o + offset, _TRACE.flow_condition,
               channels=dict(_TRACE.channels)).validated()
    paw = evaluate_steady(tr, sets_of(_BASE), LIMITS, quantities=("paw",)).checks[0]
    bound = STEADY_ANALYSIS_BOUNDS["paw"][0]
    if abs(offset) < 0.5 - bound:
        assert paw.verdict == "PASS"
    elif abs(offset) > 0.5 + bound:
        assert paw.verdict == "FAIL"


def test_no_complete_window_is_inconclusive_with_reason():
    model = CpapModel(CpapSettings(), 100.0)
    result = evaluate_steady(model.trace(6.0), sets_of(model), LIMITS)
    assert result.verdict == "INCONCLUSIVE" and "no complete 10 s window: 600 samples" in result.reason
