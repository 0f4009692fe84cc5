"""The GUM budget of a check (analysis/budget.py), recomputed by hand from known breaths and a
known certificate, and the decision it feeds (analysis/checks.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from ventbench.analysis.breath import Breath
from ventbench.analysis.budget import (
    EXPANSION_MIN_DOF,
    AmbientUncertainty,
    BudgetContext,
    Component,
    combine,
    coverage_factor,
)
from ventbench.analysis.checks import JudgementRule, evaluate_point
from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.limits import load_limits
from ventbench.analysis.results import point_to_json
from ventbench.analysis.uncertainty import Accuracy, ReferenceSpec
from ventbench.errors import ConfigError
from ventbench.units import HPA_PER_MMHG

ISO = load_limits("iso80601-2-12")
VC_SET = {"vt_ml": 500.0, "rate_bpm": 20.0, "ti_s": 1.0, "peep_cmh2o": 5.0}
#: A certificate: flow ±(2 % + 0.1 L/min), expanded, k = 2; resolution 0.01 L/min.
CERT = Accuracy("flow", 0.02, 0.1, 2.0, 0.01, "certificate C-1 (Lab A)")
AMBIENT = Ambient(22.0, 1013.25, 50.0, "entered")
AMBIENT_U = AmbientUncertainty(0.5, 1.0, 5.0, "entered")
DT_S = 0.005
CTX = BudgetContext(ReferenceSpec("analyser", (CERT,)), GasCondition.ATPD, GasCondition.BTPS, AMBIENT, AMBIENT_U,
                    DT_S)


def breaths(vts: list[float], settle: int = 10) -> list[Breath]:
    out = []
    for i, vt in enumerate([500.0] * settle + list(vts)):
        out.append(Breath(t_start_s=3.0 * i, ti_s=1.0, te_s=2.0, rr_bpm=20.0, ie_ratio=2.0, vti_ml=vt, vte_ml=vt,
                          pip_cmh2o=20.0, pplat_cmh2o=18.0, peep_cmh2o=5.0, pmean_cmh2o=9.0, leak_pct=0.0,
                          index=i))
    return out


def by_hand(vts: np.ndarray, criterion: str) -> dict[str, float]:
    """The budget of the mean of ``vts`` (or of breath value ``vts[worst]``), written out."""
    n, s = vts.size, float(np.std(vts, ddof=1))
    x = float(vts.mean())
    u_a = s / math.sqrt(n) if criterion == "mean" else s
    t_k, p = 273.15 + 22.0, 1013.25
    p47 = 47.0 * HPA_PER_MMHG
    f = (310.15 / t_k) * (p / (p - p47))  # ATPD → BTPS
    rel_gas = math.hypot(0.5 / t_k, 1.0 * (1.0 / p - 1.0 / (p - p47)))  # ∂ln f/∂T·u_T, ∂ln f/∂p·u_p; RH: 0
    if criterion != "mean":  # the breath nearest (or beyond) the limit: largest |e|, then largest U
        err = np.abs(vts - 500.0)
        x = float(vts[err == err.max()].max())
    u_gas = rel_gas * x
    u_inst = (0.02 * x + 0.1 * 1000.0 / 60.0 * 1.0 * f) / 2.0
    u_res = 0.01 / math.sqrt(12.0) * 1000.0 / 60.0 * math.sqrt(1.0 * DT_S) * f
    u_an = (0.5 + 0.01 * x) / math.sqrt(3.0)
    u_c = math.sqrt(u_a**2 + u_gas**2 + u_inst**2 + u_res**2 + u_an**2)
    nu = u_c**4 / (u_a**4 / (n - 1))
    k = float(student_t.ppf(0.97725, nu))
    return {"A": u_a, "gas": u_gas, "inst": u_inst, "res": u_res, "an": u_an, "u_c": u_c, "nu": nu, "k": k,
            "U": k * u_c}


def sig4(a: float, b: float) -> bool:
    return f"{a:.4g}" == f"{b:.4g}"


@pytest.mark.parametrize("criterion", ["mean", "every-breath"])
def test_budget_recomputed_by_hand_matches_results_json(criterion: str) -> None:
    vts = np.array([470.0, 530.0, 480.0, 520.0, 505.0, 495.0] * 5)
    result = evaluate_point(breaths(list(vts)), VC_SET, ISO, JudgementRule(criterion=criterion), ["vt"], context=CTX)
    doc = point_to_json("p", "vc", VC_SET, {}, result)
    unc = doc["checks"][0]["uncertainty"]
    hand = by_hand(vts, criterion)
    comps = {c["name"]: c for c in unc["components"]}
    assert [c["type"] for c in unc["components"]] == ["A", "B", "B", "B", "B"]
    assert comps["repeatability (Type A)"]["dof"] == 29 and comps["reference instrument"]["dof"] is None
    for name, key in (("repeatability (Type A)", "A"), ("gas conversion", "gas"), ("reference instrument", "inst"),
                      ("resolution", "res"), ("analysis", "an")):
        assert sig4(comps[name]["u"], hand[key]), (name, comps[name]["u"], hand[key])
    for key, hkey in (("u_c", "u_c"), ("nu_eff", "nu"), ("k", "k"), ("U", "U")):
        assert sig4(unc[key], hand[hkey]), (key, unc[key], hand[hkey])
    assert unc["coverage"] == 0.9545 and unc["unit"] == "mL" and "missing" not in unc
    assert "certificate, k = 2" in comps["reference instrument"]["source"]
    ach = doc["checks"][0]["achieved"]
    assert sig4(ach["bias"], vts.mean() - 500.0) and ach["U"] == unc["U"] and ach["max_abs_error"] == 30.0


def test_combine_welch_satterthwaite_and_k() -> None:
    # two Type A terms of 4 dof each (GUM G.4 form) and one Type B
    b = combine("mL", [Component("a1", "A", 1.0, 4, ""), Component("a2", "A", 1.0, 4, ""),
                       Component("b", "B", 1.0, math.inf, "")])
    assert b.u_c == pytest.approx(math.sqrt(3.0))
    assert b.nu_eff == pytest.approx(9.0 / (1 / 4 + 1 / 4))  # = 18
    assert b.k == pytest.approx(student_t.ppf(0.97725, 18.0)) and b.U == pytest.approx(b.k * b.u_c)
    only_b = combine("mL", [Component("b", "B", 2.0, math.inf, "")])
    assert math.isinf(only_b.nu_eff) and only_b.to_json()["nu_eff"] is None
    assert only_b.k == pytest.approx(2.0, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.floats(1.0, 1e4), st.floats(0.01, 100.0))
def test_k_decreases_towards_two_as_dof_grow(nu: float, extra: float) -> None:
    assert coverage_factor(nu) > coverage_factor(nu + extra) > 2.0 - 1e-6


def test_guarded_marginal_pass_becomes_inconclusive_and_missing_certificate_range() -> None:
    vts = [566.0 + d for d in (-1.0, 1.0) * 15]  # worst error 67 mL, limit 79 mL: 12 mL inside
    simple = evaluate_point(breaths(vts), VC_SET, ISO, JudgementRule(), ["vt"], context=CTX)
    assert simple.verdict == "PASS"
    budget = simple.checks[0].budget
    assert 79.0 - 67.0 < budget.U  # the worst breath is less than U from the limit
    guarded = evaluate_point(breaths(vts), VC_SET, ISO, JudgementRule(decision_rule="guarded"), ["vt"], context=CTX)
    assert guarded.verdict == "INCONCLUSIVE" and "guard band w = U" in guarded.reason
    narrow = Accuracy("flow", 0.02, 0.1, 2.0, 0.01, "certificate C-2", range=(0.0, 10.0))
    ctx = BudgetContext(ReferenceSpec("a", (narrow,)), GasCondition.BTPS, GasCondition.BTPS, AMBIENT, AMBIENT_U, DT_S)
    res = evaluate_point(breaths([500.0] * 30), VC_SET, ISO, JudgementRule(decision_rule="guarded"), ["vt"],
                         context=ctx)
    assert res.verdict == "INCONCLUSIVE" and "no stated accuracy covers the flow reading" in res.reason


def test_bad_accuracy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="k: expected > 0"):
        Accuracy("flow", 0.02, 0.1, 0.0)
    with pytest.raises(ConfigError, match="abs: expected ≥ 0"):
        Accuracy("pressure", 0.0, -0.1, 2.0)


def test_coverage_factor_equals_scipy_stats_bit_for_bit_and_its_expansion_to_1e_14():
    """The light scipy.special route gives the very numbers scipy.stats gives; from
    EXPANSION_MIN_DOF on, the expansion (no scipy) is within 1e-14 of them."""
    from scipy.stats import norm, t

    q = (1.0 + 0.9545) / 2.0
    nu = np.concatenate([np.linspace(0.5, 200.0, 4001), np.linspace(200.0, 999.99, 501), [1.0, 2.0, 3.0]])
    assert np.array_equal(coverage_factor(nu), t.ppf(q, nu))
    large = np.concatenate([np.geomspace(EXPANSION_MIN_DOF, 1e12, 2001), [1e300]])
    assert np.abs(coverage_factor(large) / t.ppf(q, large) - 1.0).max() < 1e-14
    other = (1.0 + 0.99) / 2.0  # another coverage goes the same way
    assert np.abs(coverage_factor(large, 0.99) / t.ppf(other, large) - 1.0).max() < 1e-14
    assert np.array_equal(coverage_factor(nu, 0.99), t.ppf(other, nu))
    mixed = coverage_factor(np.array([3.0, 5e3, np.inf]))
    assert mixed[0] == t.ppf(q, 3.0) and abs(mixed[1] / t.ppf(q, 5e3) - 1) < 1e-14 and mixed[2] == norm.ppf(q)
    assert coverage_factor(np.inf) == norm.ppf(q)
    assert coverage_factor(np.array([np.inf, np.inf])).tolist() == [norm.ppf(q)] * 2
    assert coverage_factor(np.array([np.inf, 3.0])).tolist() == [norm.ppf(q), t.ppf(q, 3.0)]
