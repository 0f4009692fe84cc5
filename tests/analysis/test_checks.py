"""Checks and verdicts for one point (analysis/checks.py) and its JSON (analysis/results.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ventbench.analysis.breath import Breath
from ventbench.analysis.budget import BudgetContext
from ventbench.analysis.checks import (
    InstrumentAccuracy,
    JudgementRule,
    SteadyState,
    derive_set_values,
    evaluate_point,
    point_verdict,
)
from ventbench.analysis.gas import GasCondition
from ventbench.analysis.limits import LimitSet, Tolerance, load_limits
from ventbench.analysis.results import (
    SCHEMA,
    overall_verdict,
    point_to_json,
    results_document,
    round_number,
)
from ventbench.errors import ConfigError

ISO = load_limits("iso80601-2-12")
VC_SET = {"vt_ml": 500.0, "rate_bpm": 20.0, "ti_s": 1.0, "peep_cmh2o": 5.0}
PC_SET = {"dp_cmh2o": 15.0, "peep_cmh2o": 5.0, "rate_bpm": 20.0, "ti_s": 1.0}


def breath(i: int, vt: float = 500.0, *, peep: float = 5.0, pip: float = 25.0, pplat: float | None = 20.0,
           ti: float = 1.0, te: float = 2.0, flags: tuple[str, ...] = ()) -> Breath:
    period = ti + te
    return Breath(t_start_s=i * period, ti_s=ti, te_s=te, rr_bpm=60.0 / period, ie_ratio=te / ti, vti_ml=vt,
                  vte_ml=vt, pip_cmh2o=pip, pplat_cmh2o=pplat, peep_cmh2o=peep, pmean_cmh2o=10.0, leak_pct=0.0,
                  flags=flags, index=i)


def run(vts, **kw) -> list[Breath]:
    return [breath(i, v, **kw) for i, v in enumerate(vts)]


def vt_errors(errors, settle: int = 10) -> list[Breath]:
    """Settling breaths at set VT, then one measured breath per error (mL)."""
    return run([500.0] * settle + [500.0 + e for e in errors])


def check(result, quantity):
    (c,) = [c for c in result.checks if c.quantity == quantity]
    return c


# ---- known answers: ±(4 mL + 15 %) at 500 mL is ±79 mL -------------------------------------------

@pytest.mark.parametrize(("worst", "verdict"), [(79.0, "PASS"), (-79.0, "PASS"), (79.01, "FAIL"), (-79.5, "FAIL")])
def test_vt_band_known_answer(worst: float, verdict: str) -> None:
    errors = [0.0] * 29 + [worst]
    c = check(evaluate_point(vt_errors(errors), VC_SET, ISO, quantities=["vt"]), "vt")
    assert c.verdict == verdict
    assert c.max_abs_error == pytest.approx(abs(worst))
    assert c.n_breaths == 30 and c.set == 500.0 and c.measured_as == "vti_ml"
    if verdict == "FAIL":
        assert c.failing_breaths == (39,) and "breaths 39" in c.reason


def test_vt_at_or_below_50_ml_is_info_with_numbers() -> None:
    breaths = run([50.0] * 10 + [80.0] * 30)
    c = check(evaluate_point(breaths, {**VC_SET, "vt_ml": 50.0}, ISO, quantities=["vt"]), "vt")
    assert c.verdict == "INFO" and "no verdict" in c.reason
    assert c.mean == pytest.approx(80.0) and c.max_abs_error == pytest.approx(30.0)
    c = check(evaluate_point(run([51.0] * 10 + [80.0] * 30), {**VC_SET, "vt_ml": 51.0}, ISO, quantities=["vt"]), "vt")
    assert c.verdict == "FAIL"


def test_achieved_accuracy_formula() -> None:
    c = check(evaluate_point(vt_errors([10.0, -30.0, 20.0] * 10), VC_SET, ISO, quantities=["vt"]), "vt")
    assert (c.achieved_abs, c.achieved_rel) == (4.0, pytest.approx((30.0 - 4.0) / 500.0))
    c = check(evaluate_point(vt_errors([1.0, -3.0] * 15), VC_SET, ISO, quantities=["vt"]), "vt")
    assert c.achieved_rel == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-120.0, 120.0), min_size=30, max_size=30))
def test_achieved_band_contains_every_error_and_matches_verdict(errors) -> None:
    c = check(evaluate_point(vt_errors(errors), VC_SET, ISO, quantities=["vt"]), "vt")
    e = np.abs(np.array(errors))
    assert np.all(e <= c.achieved_abs + c.achieved_rel * 500.0 + 1e-9)
    assert c.achieved_rel == 0.0 or np.isclose(e.max(), 4.0 + c.achieved_rel * 500.0)
    assert (c.verdict == "PASS") == (c.achieved_rel <= 0.15 + 1e-12)


# ---- every INCONCLUSIVE reason ----------------------------------------------------------------------

def test_too_few_breaths_after_settling() -> None:
    result = evaluate_point(run([500.0] * 35), VC_SET, ISO)
    assert result.verdict == "INCONCLUSIVE"
    assert all(c.verdict == "INCONCLUSIVE" for c in result.checks)
    assert "only 25 of 30 breaths" in check(result, "vt").reason
    empty = evaluate_point([], VC_SET, ISO)
    assert empty.verdict == "INCONCLUSIVE" and check(empty, "vt").n_breaths == 0


def test_flagged_breaths_listed() -> None:
    breaths = run([500.0] * 40)
    breaths[15] = breath(15, 500.0, flags=("gap",))
    breaths[33] = breath(33, 500.0, flags=("saturated",))
    breaths[3] = breath(3, 500.0, flags=("gap",))  # a settling breath: does not matter
    result = evaluate_point(breaths, VC_SET, ISO)
    c = check(result, "vt")
    assert c.verdict == "INCONCLUSIVE"
    assert "gap, saturated" in c.reason and "breaths 15, 33" in c.reason
    assert c.flagged_breaths == (15, 33) and c.n_breaths == 28
    assert result.verdict == "INCONCLUSIVE"


def test_never_settled() -> None:
    vts = 300.0 + 10.0 * np.arange(60)  # still ramping
    rule = JudgementRule(steady_state=SteadyState(k=5, tol_pct=2.0))
    result = evaluate_point(run(vts), VC_SET, ISO, rule)
    assert result.settled_at is None and result.verdict == "INCONCLUSIVE"
    assert all("never settled" in c.reason for c in result.checks)


def test_steady_state_settle_index() -> None:
    vts = [300.0, 350.0, 400.0, 450.0, 480.0, 495.0] + [500.0] * 60
    ss = SteadyState(k=3, tol_pct=1.0)
    # mean of the 3 before s within 1 % of the mean of the 3 from s on: s = 7 gives
    # 491.7 vs 500 (1.7 %), s = 8 gives 498.3 vs 500 (0.33 %)
    assert ss.settle_index(np.array(vts)) == 8
    assert ss.settle_index(np.array(vts), start=10) == 10
    result = evaluate_point(run(vts), VC_SET, ISO, JudgementRule(settle_breaths=0, steady_state=ss))
    assert result.settled_at == 8 and result.measured[0] == 8 and result.verdict == "PASS"


def test_set_value_missing() -> None:
    result = evaluate_point(run([500.0] * 40), {"vt_ml": 500.0, "rate_bpm": 20.0}, ISO, quantities=["vt", "peep"])
    assert check(result, "peep").verdict == "INCONCLUSIVE"
    assert "set value missing" in check(result, "peep").reason and "peep_cmh2o" in check(result, "peep").reason
    assert result.verdict == "INCONCLUSIVE"


def test_missing_measured_value() -> None:
    breaths = run([500.0] * 40)
    breaths[20] = breath(20, math.nan)
    c = check(evaluate_point(breaths, VC_SET, ISO, quantities=["vt"]), "vt")
    assert c.verdict == "INCONCLUSIVE" and "no vti_ml in measured breaths 20" in c.reason


# ---- FAIL with incomplete data ----------------------------------------------------------------------

def test_fail_on_incomplete_data_only_when_failing_breath_is_unflagged() -> None:
    breaths = run([500.0] * 10 + [500.0] * 10 + [600.0])  # too few breaths, breath 20 fails
    c = check(evaluate_point(breaths, VC_SET, ISO, quantities=["vt"]), "vt")
    assert c.verdict == "FAIL" and "also only 11 of 30" in c.reason
    breaths[20] = breath(20, 600.0, flags=("gap",))  # the failing breath is suspect itself
    c = check(evaluate_point(breaths, VC_SET, ISO, quantities=["vt"]), "vt")
    assert c.verdict == "INCONCLUSIVE" and c.failing_breaths == ()
    mean_rule = JudgementRule(criterion="mean")
    c = check(evaluate_point(run([500.0] * 10 + [700.0] * 20), VC_SET, ISO, mean_rule, ["vt"]), "vt")
    assert c.verdict == "INCONCLUSIVE"  # a mean over an incomplete window never decides


# ---- criterion and decision rule --------------------------------------------------------------------

def test_mean_versus_every_breath() -> None:
    breaths = vt_errors([0.0] * 29 + [100.0])  # one outlier, mean error 3.3 mL
    every = check(evaluate_point(breaths, VC_SET, ISO, quantities=["vt"]), "vt")
    mean = check(evaluate_point(breaths, VC_SET, ISO, JudgementRule(criterion="mean"), ["vt"]), "vt")
    assert every.verdict == "FAIL" and mean.verdict == "PASS"
    assert mean.criterion == "mean" and mean.max_abs_error == pytest.approx(100.0)
    off = check(evaluate_point(vt_errors([85.0] * 30), VC_SET, ISO, JudgementRule(criterion="mean"), ["vt"]), "vt")
    assert off.verdict == "FAIL" and off.reason.startswith("mean 585")


FLOW_ANALYSER = InstrumentAccuracy(name="analyser", flow_rel=0.0175, flow_abs_lpm=0.1, pressure_abs_cmh2o=0.1)
#: the flow already at BTPS (no conversion), the analyser as a data-sheet reference
NO_CONVERSION = BudgetContext(reference=FLOW_ANALYSER.as_reference(), flow_condition=GasCondition.BTPS)


def u_vt(reading_ml: float, ti_s: float = 1.0) -> float:
    """U of one constant-reading VT breath: data-sheet term and analysis bound, both rectangular."""
    inst = (0.0175 * reading_ml + 0.1 * 1000.0 / 60.0 * ti_s) / math.sqrt(3.0)
    analysis = (0.5 + 0.01 * reading_ml) / math.sqrt(3.0)
    return 2.0000024 * math.hypot(inst, analysis)


@pytest.mark.parametrize(
    ("error", "simple", "guarded"),
    [(60.0, "PASS", "PASS"), (70.0, "PASS", "INCONCLUSIVE"), (85.0, "FAIL", "FAIL"), (-70.0, "PASS", "INCONCLUSIVE")],
)
def test_guarded_versus_simple(error: float, simple: str, guarded: str) -> None:
    # U(570 mL, Ti 1 s) = 2·√(6.721² + 3.580²) = 15.23 mL; limit 79 mL: 70 mL is inside the guard band
    breaths = vt_errors([error] * 30)
    s = check(evaluate_point(breaths, VC_SET, ISO, JudgementRule(), ["vt"], context=NO_CONVERSION), "vt")
    g = check(evaluate_point(breaths, VC_SET, ISO, JudgementRule(decision_rule="guarded"), ["vt"],
                             context=NO_CONVERSION), "vt")
    assert (s.verdict, g.verdict) == (simple, guarded)
    assert g.budget.U == pytest.approx(u_vt(500.0 + error), rel=1e-6) and g.budget.complete
    assert g.achieved()["bias"] == pytest.approx(error) and g.achieved()["U"] == g.budget.U
    if guarded == "INCONCLUSIVE":
        assert "inside the guard band w = U" in g.reason


def test_guarded_without_a_whole_budget_never_passes() -> None:
    breaths = vt_errors([0.0] * 30)
    c = check(evaluate_point(breaths, VC_SET, ISO, JudgementRule(decision_rule="guarded"), ["vt"]), "vt")
    assert c.verdict == "INCONCLUSIVE" and "U incomplete" in c.reason and "reference instrument" in c.reason
    assert check(evaluate_point(breaths, VC_SET, ISO, JudgementRule(), ["vt"]), "vt").verdict == "PASS"


def test_uncertainty_models() -> None:
    inst = InstrumentAccuracy(flow_rel=0.02, flow_abs_lpm=0.6, pressure_rel=0.01, pressure_abs_cmh2o=0.2,
                              time_abs_s=0.01, fio2_abs_pct=1.0)
    k = 2.0 / math.sqrt(3.0)
    ti, te = np.array([1.0]), np.array([2.0])
    assert inst.expanded("vt", [500.0], ti, te)[0] == pytest.approx(k * (10.0 + 10.0))
    assert inst.expanded("vte", [500.0], ti, te)[0] == pytest.approx(k * (10.0 + 20.0))
    assert inst.expanded("peep", [10.0], ti, te)[0] == pytest.approx(k * 0.3)
    assert inst.expanded("rate", [20.0], ti, te)[0] == pytest.approx(k * 400.0 * 0.01 / 60.0)
    assert inst.expanded("ie", [2.0], ti, te)[0] == pytest.approx(k * 2.0 * (0.01 / 2.0 + 0.01 / 1.0))
    assert inst.expanded("fio2", [50.0], ti, te)[0] == pytest.approx(k * 1.0)
    with pytest.raises(ConfigError, match="flow_rel"):
        InstrumentAccuracy(flow_rel=-0.1)


# ---- pressure control, caps, other quantities -------------------------------------------------------

def test_pc_pinsp_uses_plateau_else_pip_and_vt_is_info() -> None:
    result = evaluate_point(run([480.0] * 40, pplat=20.5, pip=21.8), PC_SET, ISO, mode="pc",
                            expected={"vt_ml": 500.0})
    pinsp = check(result, "pinsp")
    assert pinsp.measured_as == "pplat_cmh2o" and pinsp.set == 20.0 and pinsp.verdict == "PASS"
    vt = check(result, "vt")
    assert vt.verdict == "INFO" and vt.set == 500.0 and "not a set value" in vt.reason
    assert vt.max_abs_error == pytest.approx(20.0)
    assert result.verdict == "PASS"
    breaths = run([480.0] * 40, pplat=20.5, pip=21.8)
    breaths[12] = breath(12, 480.0, pplat=None, pip=21.8)
    pinsp = check(evaluate_point(breaths, PC_SET, ISO, mode="pc"), "pinsp")
    assert pinsp.measured_as == "pip_cmh2o" and pinsp.verdict == "PASS" and pinsp.mean == pytest.approx(21.8)
    breaths = run([480.0] * 40, pplat=None, pip=24.0)  # 20 ± 2.8: PIP 24 fails and says it was PIP
    pinsp = check(evaluate_point(breaths, PC_SET, ISO, mode="pc"), "pinsp")
    assert pinsp.verdict == "FAIL" and "measured as PIP" in pinsp.reason


def test_rmvs_caps() -> None:
    rmvs = load_limits("rmvs")
    q = ["pplat", "pip"]
    ok = evaluate_point(run([400.0] * 40, pplat=33.0, pip=34.9), {"vt_ml": 400.0}, rmvs, quantities=q)
    assert [c.verdict for c in ok.checks] == ["PASS", "PASS"] and check(ok, "pplat").set is None
    high = evaluate_point(run([400.0] * 40, pplat=35.5, pip=37.0), {}, rmvs, quantities=q)
    assert check(high, "pplat").verdict == "FAIL" and check(high, "pip").verdict == "PASS"
    peaky = evaluate_point(run([400.0] * 40, pplat=30.0, pip=32.5), {}, rmvs, quantities=q)
    assert check(peaky, "pip").verdict == "FAIL" and "pplat_cmh2o + 2" in check(peaky, "pip").reason
    no_plateau = evaluate_point(run([400.0] * 40, pplat=None, pip=39.0), {}, rmvs, quantities=["pip"])
    assert check(no_plateau, "pip").verdict == "INCONCLUSIVE"
    over_40 = evaluate_point(run([400.0] * 40, pplat=None, pip=41.0), {}, rmvs, quantities=["pip"])
    assert check(over_40, "pip").verdict == "FAIL"
    vt = check(evaluate_point(run([411.0] * 40), {"vt_ml": 400.0}, rmvs, quantities=["vt"]), "vt")
    assert vt.verdict == "FAIL"


def test_rate_ti_ie_fio2_and_no_limit_info() -> None:
    breaths = run([500.0] * 40, ti=1.05, te=1.95)
    result = evaluate_point(breaths, {**VC_SET, "fio2_pct": 30.0}, ISO, quantities=["rate", "ti", "ie", "fio2"],
                            per_breath={"fio2_pct": [33.0] * 40})
    assert check(result, "rate").verdict == "PASS" and check(result, "ti").verdict == "PASS"
    ie = check(result, "ie")
    assert ie.verdict == "INFO" and "no limit for ie" in ie.reason and ie.set == pytest.approx(2.0)
    assert check(result, "fio2").verdict == "PASS" and check(result, "fio2").mean == pytest.approx(33.0)
    no_channel = check(evaluate_point(breaths, {**VC_SET, "fio2_pct": 30.0}, ISO, quantities=["fio2"]), "fio2")
    assert no_channel.verdict == "INFO" and "no fio2_pct channel" in no_channel.reason
    late = check(evaluate_point(run([500.0] * 40, ti=1.15, te=1.85), VC_SET, ISO, quantities=["ti"]), "ti")
    assert late.verdict == "FAIL"


def test_device_profile_changes_the_verdict() -> None:
    breaths = vt_errors([61.0] * 30)  # iso: ±79 mL PASS; example device ±(10 mL + 10 %) = ±60 mL FAIL
    assert check(evaluate_point(breaths, VC_SET, ISO, quantities=["vt"]), "vt").verdict == "PASS"
    device = load_limits("example-device")
    c = check(evaluate_point(breaths, VC_SET, device, quantities=["vt"]), "vt")
    assert c.verdict == "FAIL" and c.limit.abs == 10.0 and "Example Vent X1" in c.limit.source
    # PEEP declared in hPa: ±(2 hPa + 5 %) at 10 cmH2O = ±(2.039 + 0.5) cmH2O
    peep_set = {**VC_SET, "peep_cmh2o": 10.0}
    inside = check(evaluate_point(run([500.0] * 40, peep=12.53), peep_set, device, quantities=["peep"]), "peep")
    outside = check(evaluate_point(run([500.0] * 40, peep=12.55), peep_set, device, quantities=["peep"]), "peep")
    assert (inside.verdict, outside.verdict) == ("PASS", "FAIL")


def test_point_verdict_rules_and_validation() -> None:
    result = evaluate_point(vt_errors([100.0] * 30), {**VC_SET, "peep_cmh2o": None}, ISO)
    assert result.verdict == "FAIL" and result.reason.startswith("vt:")  # FAIL wins over INCONCLUSIVE
    info_only = evaluate_point(run([20.0] * 40), {**VC_SET, "vt_ml": 20.0}, ISO, quantities=["vt"])
    assert info_only.verdict == "INFO"
    assert point_verdict([]) == ("INFO", "no check with a verdict (all informative)")
    with pytest.raises(ConfigError, match="unknown quantity"):
        evaluate_point([], VC_SET, ISO, quantities=["vtx"])
    with pytest.raises(ConfigError, match="mode"):
        evaluate_point([], VC_SET, ISO, mode="cpap")
    assert derive_set_values({"peep_cmh2o": 5, "dp_cmh2o": 10, "rate_bpm": 20, "ti_s": 1.0}, "pc") == {
        "peep_cmh2o": 5.0, "dp_cmh2o": 10.0, "rate_bpm": 20.0, "ti_s": 1.0, "pinsp_cmh2o": 15.0,
        "te_s": 2.0, "ie_ratio": 2.0, "pplat_cmh2o": 15.0, "pip_cmh2o": 15.0}


def test_vectorised_over_many_breaths_is_fast() -> None:
    rng = np.random.default_rng(1)
    breaths = run(500.0 + rng.normal(0, 5, 5000))
    result = evaluate_point(breaths, VC_SET, ISO, JudgementRule(measure_breaths=4990))
    assert result.verdict == "PASS" and check(result, "vt").n_breaths == 4990


# ---- results JSON -----------------------------------------------------------------------------------

def test_point_to_json_contract_and_no_nan() -> None:
    breaths = run([500.0] * 40, pplat=None)
    result = evaluate_point(breaths, VC_SET, ISO, JudgementRule(instrument=FLOW_ANALYSER))
    lung = {"c_ml_per_hpa": 50, "r_hpa_s_per_l": 5}
    doc = point_to_json("vc-01", "vc", VC_SET, lung, result)
    for key in ("id", "mode", "set", "lung", "breaths", "summary", "checks", "verdict"):
        assert key in doc
    assert len(doc["breaths"]) == 40 and doc["breaths"][0]["pplat_cmh2o"] is None
    assert [b["measured"] for b in doc["breaths"]].count(True) == 30
    vt = doc["checks"][0]
    for key in ("quantity", "set", "limit", "criterion", "n_breaths", "mean", "sd", "min", "max",
                "max_abs_error", "achieved", "verdict"):
        assert key in vt
    assert set(vt["limit"]) >= {"abs", "rel", "unit", "source", "confidence"}
    assert set(vt["achieved"]) == {"abs", "rel", "bias", "U", "max_abs_error"} and "reason" not in vt
    assert set(vt["uncertainty"]) >= {"unit", "components", "u_c", "nu_eff", "k", "U", "coverage"}
    assert doc["summary"]["pplat_cmh2o"]["mean"] is None
    text = json.dumps(doc, allow_nan=False)
    assert json.dumps(point_to_json("vc-01", "vc", VC_SET, lung, result), allow_nan=False) == text  # deterministic


def test_rounding_overall_verdict_and_document() -> None:
    assert round_number(1 / 3) == 0.3333333 and round_number(float("nan")) is None
    assert round_number(-0.0) == 0.0 and math.copysign(1, round_number(-1e-30 * 0)) == 1.0
    assert overall_verdict(["PASS", "INFO", "PASS"]) == "PASS"
    assert overall_verdict(["PASS", "INCONCLUSIVE", "INFO"]) == "INCONCLUSIVE"
    assert overall_verdict(["INCONCLUSIVE", "fail"]) == "FAIL"
    assert overall_verdict(["INFO"]) == "INFO" and overall_verdict([]) == "INCONCLUSIVE"
    result = evaluate_point(run([500.0] * 40), VC_SET, ISO)
    point = point_to_json("p", "vc", VC_SET, {}, result)
    doc = results_document([point], software={"name": "ventbench"}, source={"files": []},
                           gas={"btps_factor": float("nan")})
    assert doc["schema"] == SCHEMA == "ventbench.results/1"
    assert doc["verdict"] == "PASS" and doc["gas"]["btps_factor"] is None
    json.dumps(doc, allow_nan=False)


def test_limit_set_without_quantity_gives_info() -> None:
    only_vt = LimitSet("x", "x", {"vt": Tolerance("vt", 4.0, 0.15, "mL", "s", "consistent")})
    c = check(evaluate_point(run([500.0] * 40), VC_SET, only_vt, quantities=["peep"]), "peep")
    assert c.verdict == "INFO" and "no limit for peep in limit set 'x'" in c.reason
