"""Checks and verdicts for one test point: settle, measure, compare with limits, judge.

Procedure (:func:`evaluate_point`)
----------------------------------
1. **Settle.** Skip the first ``settle_breaths`` breaths, or settle by a steady-state test
   (:mod:`analysis.settle`).
2. **Measure** the next ``measure_breaths`` breaths (default 30).
3. For each quantity, the per-breath error ``e_i = x_i − set`` against the tolerance
   ``L = A + B·|set|`` (ISO form ±(A + B % of the set value)). Criterion ``every-breath``
   (default; MVM required every breath inside the band) or ``mean``.
4. Each check's GUM budget (:mod:`analysis.budget`) for the judged value: Type A from the
   breaths, Type B from the reference instrument, resolution, gas conversion and the
   analysis; U = k·u_c. Decision rule (ILAC-G8) ``simple`` (|e| ≤ L → PASS) or ``guarded``
   with guard band w = U: PASS only if |e| + U ≤ L and the budget is whole; outside the
   limit is FAIL under both rules; within the limit but inside the band is INCONCLUSIVE.

When is a verdict not PASS
--------------------------
INCONCLUSIVE (never PASS) when fewer breaths than ``measure_breaths`` remain after settling,
any measured breath carries flags (listed), a measured value is missing, the run never
settled, or the set value is missing. A check still FAILs with incomplete data when, under
the every-breath criterion, an *unflagged* measured breath is outside the limit: that breath
alone already decides the outcome, whatever the missing or flagged breaths would have shown.
Flagged breaths never cause a FAIL (their number may be an artefact), a mean over an
incomplete window never decides, and a run that never settled is never failed (the breaths
judged may still be settling). INFO checks — no limit for the quantity, set value at or below
the limit's ``applies_above`` (VT ≤ 50 mL), VT in pressure control — are reported with all
numbers but no verdict and do not affect the point's verdict.

The rule and result types are :mod:`analysis.judgement`; they and the settling and
uncertainty names are re-exported here, where callers import them from.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import numpy as np

from ventbench.analysis.breath import Breath, breath_values
from ventbench.analysis.budget import Budget, BudgetContext, ComponentArrays, components
from ventbench.analysis.judgement import (
    CRITERIA,
    DECISION_RULES,
    DEFAULT_QUANTITIES,
    MODES,
    QUANTITY_FIELDS,
    Check,
    JudgementRule,
    PointResult,
)
from ventbench.analysis.settle import MeasuredWindow, SteadyState, list_breaths, measured_window
from ventbench.analysis.tolerance import QUANTITY_UNITS, LimitSet
from ventbench.analysis.uncertainty import InstrumentAccuracy
from ventbench.errors import ConfigError

__all__ = [
    "CRITERIA", "DECISION_RULES", "DEFAULT_QUANTITIES", "MODES", "QUANTITY_FIELDS",
    "Check", "InstrumentAccuracy", "JudgementRule", "PointResult", "SteadyState",
    "derive_set_values", "evaluate_point", "point_verdict",
]


def derive_set_values(set_values: Mapping[str, float], mode: str) -> dict[str, float]:
    """Add set values implied by others: pinsp = PEEP + ΔP (cmH2O), Te = 60/f − Ti, I:E = Te/Ti
    (or Ti = 60/f / (1 + I:E) when only I:E is set);
    in PC the plateau and peak references are the set inspiratory pressure."""
    out = {k: float(v) for k, v in set_values.items() if v is not None}
    if "pinsp_cmh2o" not in out and "peep_cmh2o" in out and "dp_cmh2o" in out:
        out["pinsp_cmh2o"] = out["peep_cmh2o"] + out["dp_cmh2o"]
    if "ti_s" not in out and "ie_ratio" in out and out.get("rate_bpm", 0) > 0 and out["ie_ratio"] > 0:
        out["ti_s"] = 60.0 / out["rate_bpm"] / (1.0 + out["ie_ratio"])
    if "rate_bpm" in out and "ti_s" in out and out["rate_bpm"] > 0 and out["ti_s"] > 0:
        out.setdefault("te_s", 60.0 / out["rate_bpm"] - out["ti_s"])
        out.setdefault("ie_ratio", out["te_s"] / out["ti_s"])
    if mode == "pc" and "pinsp_cmh2o" in out:
        out.setdefault("pplat_cmh2o", out["pinsp_cmh2o"])
        out.setdefault("pip_cmh2o", out["pinsp_cmh2o"])
    return out


def _stats(x: np.ndarray) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": int(x.size), "mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)) if x.size > 1 else None,
            "min": float(np.min(x)), "max": float(np.max(x))}


def _budget_at(comps: ComponentArrays, rule: JudgementRule, i: int, x: np.ndarray | None,
               win: MeasuredWindow) -> Budget:
    """The budget of judged value ``i`` (a breath, or the mean), saying which it is."""
    if rule.criterion == "mean":
        return comps.budget(0, {"value": "mean"})
    return comps.budget(i, {"breath": int(win.labels[i]), "value": float(x[i])})


def _judge(margin: np.ndarray, u: np.ndarray, ok_data: np.ndarray, win: MeasuredWindow, rule: JudgementRule,
           extra_partial: list[str], describe_fail, budget: Budget | None) -> tuple[str, str, np.ndarray]:
    """Verdict from per-breath (or one mean) margins: margin > 0 means outside the limit.

    Rejection is simple under both rules (outside the limit → FAIL); the guarded rule (ILAC-G8,
    guard band w = U) accepts only values at least U inside the limit and needs a whole budget.
    """
    partial = list(win.partial) + extra_partial
    if win.blocking:
        return "INCONCLUSIVE", "; ".join(list(win.blocking) + partial), np.array([], int)
    failing = np.flatnonzero(ok_data & (margin > 0))
    if rule.criterion == "every-breath" and failing.size:
        return "FAIL", describe_fail(failing) + ("; also " + "; ".join(partial) if partial else ""), failing
    if partial:
        return "INCONCLUSIVE", "; ".join(partial), np.array([], int)
    if rule.criterion == "mean" and failing.size:
        return "FAIL", describe_fail(failing), failing
    if rule.decision_rule == "guarded":
        if budget is None or not budget.complete or not np.all(np.isfinite(u[ok_data])):
            missing = "; ".join(budget.missing) if budget is not None else "no budget"
            return "INCONCLUSIVE", f"guarded decision rule: expanded uncertainty U incomplete ({missing})", failing
        inside = np.flatnonzero(ok_data & (margin + u > 0))
        if inside.size:
            worst = inside[np.argmax(margin[inside] + u[inside])]
            return "INCONCLUSIVE", (
                f"within the limit but inside the guard band w = U (guarded decision rule, ILAC-G8): "
                f"{inside.size} of {ok_data.size} judged value(s) less than U from the limit; margin "
                f"{-margin[worst]:.4g} {budget.unit} < U {u[worst]:.4g} {budget.unit}"), failing
    return "PASS", "", failing


def _check(quantity: str, column: Callable[[str], np.ndarray | None], win: MeasuredWindow,
           sets: Mapping[str, float], expected: Mapping[str, float], limits: LimitSet,
           rule: JudgementRule, mode: str, context: BudgetContext) -> Check:
    """One quantity's check; ``column(name)`` is :func:`breath_values` of the point's breaths."""
    field_name, set_key = QUANTITY_FIELDS[quantity]
    unit = QUANTITY_UNITS[quantity]
    pos = win.measured
    extra_partial: list[str] = []
    info_reasons: list[str] = []
    if quantity == "pinsp":
        plat = column("pplat_cmh2o")[pos]
        if pos.size and np.all(np.isfinite(plat)):
            x, field_name = plat, "pplat_cmh2o"
        else:
            x, field_name = column("pip_cmh2o")[pos], "pip_cmh2o"
            if pos.size:
                info_reasons.append(f"measured as PIP: no plateau in {int(np.sum(~np.isfinite(plat)))} of {pos.size} breaths")
    else:
        arr = column(field_name)
        if arr is None:
            return Check(quantity, sets.get(set_key), limits.get(quantity), rule.criterion, 0, None, None, None,
                         None, None, None, None, "INFO", f"not measured: no {field_name} channel", unit, field_name)
        x = arr[pos]
    tol = limits.get(quantity)
    set_value = sets.get(set_key)
    reference = set_value
    info = ""
    if quantity == "vt" and mode == "pc":
        reference = expected.get(set_key, set_value)
        set_value = None
        info = "VT is not a set value in pressure control: informative (vs the row's intended VT)"
    elif tol is None:
        info = f"no limit for {quantity} in limit set {limits.id!r}"
    elif tol.is_band and set_value is not None and not tol.applies_to(set_value):
        info = (f"set {set_value:g} {unit} ≤ {tol.applies_above:g} {unit}: accuracy disclosed only, "
                f"no verdict ({tol.source.split('.')[0]})")
    finite = np.isfinite(x)
    trusted = finite & ~win.flagged
    st = _stats(x[trusted])
    errors = x - reference if reference is not None else np.full(x.size, np.nan)
    err_t = np.abs(errors[trusted])
    max_abs_error = float(np.max(err_t)) if reference is not None and err_t.size else None
    a_term = tol.abs if tol is not None and tol.is_band else 0.0
    ach_rel = None
    if max_abs_error is not None and reference != 0:
        ach_rel = float(max(0.0, float(np.max(err_t - a_term))) / abs(reference))
    ach_abs = a_term if max_abs_error is not None else None
    bias = float(st["mean"] - reference) if reference is not None and st["mean"] is not None else None
    common = dict(quantity=quantity, set=set_value if set_value is not None else reference, limit=tol,
                  criterion=rule.criterion, n_breaths=st["n"], mean=st["mean"], sd=st["sd"], min=st["min"],
                  max=st["max"], max_abs_error=max_abs_error, achieved_abs=ach_abs, achieved_rel=ach_rel,
                  unit=unit, measured_as=field_name, bias=bias,
                  flagged_breaths=tuple(int(i) for i in win.labels[win.flagged]))
    ti = column("ti_s")[pos]
    te = column("te_s")[pos]
    comps = None
    if trusted.any():
        if rule.criterion == "mean":
            comps = components(quantity, np.array([st["mean"]]), np.array([np.nanmean(ti[trusted])]),
                               np.array([np.nanmean(te[trusted])]), st["sd"], st["n"], "mean", context)
        else:
            comps = components(quantity, x, ti, te, st["sd"], st["n"], "every-breath", context)
    if info:
        notes = [info] + info_reasons + list(win.blocking) + list(win.partial)
        budget = None
        if comps is not None:
            worst = np.where(trusted, np.abs(errors) if reference is not None else 0.0, -np.inf)
            budget = _budget_at(comps, rule, int(np.argmax(worst)), x, win)
        return Check(**common, verdict="INFO", reason="; ".join(notes), budget=budget)
    if set_value is None and tol.is_band:
        return Check(**common, verdict="INCONCLUSIVE",
                     reason=f"set value missing: no {set_key!r} in the point's settings")
    missing = ~finite
    if missing.any():
        extra_partial.append(f"no {field_name} in measured breaths {list_breaths(win.labels[missing])}")
    # margins: > 0 means outside the limit; the worst component of band and caps
    parts, descr = [], []
    if tol.is_band:
        ref = np.abs(x) if tol.of == "actual" else abs(set_value)
        parts.append(np.abs(errors) - tol.limit(ref))
        descr.append(f"{tol.describe()} of {set_value:g} {unit}")
    for margin, text in tol.cap_margins(x):
        parts.append(margin)
        descr.append(text)
    if tol.max_over is not None:
        other_field = QUANTITY_FIELDS[tol.max_over][0]
        other = column(other_field)[pos]
        parts.append(x - (other + tol.max_over_by))
        descr.append(f"≤ {other_field} + {tol.max_over_by:g} {unit}")
        if (~np.isfinite(other) & finite).any():
            extra_partial.append(f"no {other_field} for the '≤ {tol.max_over} + {tol.max_over_by:g}' cap in "
                                 f"breaths {list_breaths(win.labels[~np.isfinite(other) & finite])}")
    stacked = np.vstack(parts) if parts else np.zeros((1, x.size))
    margin = np.max(np.where(np.isfinite(stacked), stacked, -np.inf), axis=0)
    ok_data = trusted & np.isfinite(margin)
    u = np.full(x.size, np.nan) if comps is None else comps.expanded()
    budget = None
    if comps is not None and rule.criterion != "mean":
        # the budget printed is the one of the breath closest to (or furthest beyond) the limit
        score = np.where(ok_data, margin + np.nan_to_num(u, nan=0.0), -np.inf)
        budget = _budget_at(comps, rule, int(np.argmax(np.where(trusted, score, -np.inf))), x, win)
    if rule.criterion == "mean":
        if trusted.any():
            xm = float(np.mean(x[trusted]))
            mparts = []
            if tol.is_band:
                mref = abs(xm) if tol.of == "actual" else abs(set_value)
                mparts.append(abs(xm - set_value) - tol.limit(mref))
            if tol.max is not None:
                mparts.append(xm - tol.max)
            if tol.min is not None:
                mparts.append(tol.min - xm)
            if tol.max_over is not None:
                mparts.append(float(np.mean((x - other)[trusted])) - tol.max_over_by)
            margin = np.array([max(mparts)])
            budget = _budget_at(comps, rule, 0, None, win)
            u = np.array([budget.U])
        else:
            margin, u = np.array([math.inf]), np.array([math.nan])
        ok_data = np.array([trusted.any()])
        extra_partial += [] if trusted.any() else ["no usable breath"]

    def describe_fail(failing: np.ndarray) -> str:
        if rule.criterion == "mean":
            return f"mean {st['mean']:.4g} {unit} outside {' and '.join(descr)}"
        worst = failing[np.argmax(np.abs(errors[failing]) if tol.is_band else x[failing])]
        what = f"error {errors[worst]:+.4g} {unit}" if tol.is_band else f"value {x[worst]:.4g} {unit}"
        return (f"{failing.size} of {pos.size} breaths outside {' and '.join(descr)}: breaths "
                f"{list_breaths(win.labels[failing])}; worst {what} (breath {win.labels[worst]})")

    verdict, reason, failing = _judge(margin, u, ok_data, win, rule, extra_partial, describe_fail, budget)
    if info_reasons and verdict != "PASS":
        reason = "; ".join([reason] + info_reasons)
    labels = win.labels[failing] if rule.criterion == "every-breath" and verdict == "FAIL" else np.array([], int)
    return Check(**common, verdict=verdict, reason=reason, failing_breaths=tuple(int(i) for i in labels),
                 budget=budget)


def point_verdict(checks: Sequence[Check]) -> tuple[str, str]:
    """FAIL if any check FAILs, else INCONCLUSIVE if any, else PASS; INFO checks don't count
    (a point with only INFO checks is INFO). Returns (verdict, reason)."""
    judged = [c for c in checks if c.verdict != "INFO"]
    if not judged:
        return "INFO", "no check with a verdict (all informative)"
    for word in ("FAIL", "INCONCLUSIVE"):
        hit = [c for c in judged if c.verdict == word]
        if hit:
            return word, "; ".join(f"{c.quantity}: {c.reason}" for c in hit)
    return "PASS", ""


def evaluate_point(breaths: Sequence[Breath], set_values: Mapping[str, float], limits: LimitSet,
                   rule: JudgementRule | None = None, quantities: Sequence[str] | None = None,
                   mode: str = "vc", *, expected: Mapping[str, float] | None = None,
                   per_breath: Mapping[str, Sequence[float]] | None = None,
                   context: BudgetContext | None = None) -> PointResult:
    """Judge one test point.

    Parameters
    ----------
    breaths : sequence of Breath
        Every breath of the point in time order, settling breaths included.
    set_values : mapping
        Settings with units in the names (vt_ml, rate_bpm, ti_s, peep_cmh2o, dp_cmh2o,
        pinsp_cmh2o, fio2_pct, ie_ratio …); implied values are derived (:func:`derive_set_values`).
    limits : LimitSet
        Tolerances (converted to the analysis units by :meth:`LimitSet.get`).
    rule : JudgementRule, optional
        Settle/measure/criterion/decision rule; defaults as documented.
    quantities : sequence of str, optional
        Quantities to check; default vt, peep, rate, ti (VC) or pinsp, peep, rate, ti, vt (PC).
    mode : {"vc", "pc"}
        Volume or pressure control. In PC, vt is INFO (not a set value) and pinsp is the
        set PEEP + ΔP compared with the plateau pressure when every measured breath has one,
        else with PIP (the check's ``measured_as`` says which).
    expected : mapping, optional
        Informative targets that are not settings (the PC table's intended vt_ml).
    per_breath : mapping of str to sequence, optional
        Per-breath values not on Breath (e.g. ``fio2_pct`` from an O2 channel).
    context : BudgetContext, optional
        Reference instrument, gas conversion and sample interval for each check's GUM
        budget (:mod:`analysis.budget`); default: ``rule.instrument`` as a data-sheet
        reference, gas conversion and sample interval not assessed (listed as missing).

    Returns
    -------
    PointResult
    """
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {', '.join(MODES)}, found {mode!r}")
    rule = rule or JudgementRule()
    quantities = tuple(quantities) if quantities is not None else DEFAULT_QUANTITIES[mode]
    for q in quantities:
        if q not in QUANTITY_FIELDS:
            raise ConfigError(f"checks: unknown quantity {q!r} (expected one of {', '.join(QUANTITY_FIELDS)})")
    breaths = tuple(breaths)
    per_breath = dict(per_breath or {})
    sets = derive_set_values(set_values, mode)
    win = measured_window(breaths, rule, per_breath)
    if context is None:
        context = BudgetContext(reference=None if rule.instrument is None else rule.instrument.as_reference())
    # each field's values read once for all the checks and the summary (ti_s, te_s by every check)
    column = functools.cache(functools.partial(breath_values, breaths, per_breath=per_breath))
    checks = tuple(_check(q, column, win, sets, dict(expected or {}), limits, rule, mode, context)
                   for q in quantities)
    summary_fields = ("ti_s", "te_s", "rr_bpm", "ie_ratio", "vti_ml", "vte_ml", "pip_cmh2o", "pplat_cmh2o",
                      "peep_cmh2o", "pmean_cmh2o", "leak_pct", *sorted(per_breath))
    trusted = win.measured[~win.flagged]
    summary = {}
    for name in summary_fields:
        arr = column(name)
        if arr is not None:
            summary[name] = MappingProxyType(_stats(arr[trusted]))
    verdict, reason = point_verdict(checks)
    return PointResult(
        breaths=breaths, measured=tuple(int(i) for i in win.measured), skipped=int(win.measured[0]) if win.measured.size
        else min(rule.settle_breaths, len(breaths)), settled_at=win.settled_at, summary=MappingProxyType(summary),
        checks=checks, verdict=verdict, reason=reason, rule=rule, limits_id=limits.id)
