"""Steady points judged: window values against limits, with GUM budgets and verdicts.

The same machinery as breath checks (:mod:`analysis.checks`): a :class:`~analysis.tolerance.Tolerance`
(band ±(A + B % of the set value), caps ``max``/``min``), the criterion — ``mean`` (the mean of
the measured windows; default, as a steady level is one number) or ``every-window`` — the
decision rule (simple or guarded, ILAC-G8) and a GUM budget per check:

- **Type A**: the SD s of the measured window values, ``s/√n`` for the mean, ``s`` for one
  window; ν = n − 1;
- **Type B, reference instrument**: the register's accuracy for the measurand (pressure for
  paw, flow for flow and o2_flow, fio2), ``(rel·|x| + abs)/divisor``; a swing (a difference
  of two readings of one sensor) takes the gain term only;
- **Type B, resolution** ``q/√12``;
- **Type B, analysis**: :data:`STEADY_ANALYSIS_BOUNDS`, proven against the simulator's truth
  in ``tests/analysis/test_steady.py`` (≤ 1/10 of each limit), rectangular.

Not PASS when the data is not whole: a never-settled point is INCONCLUSIVE (neither PASS nor
FAIL); a flagged measured window (gap, fault, invalid, saturated samples), too few windows or
a missing channel forbid PASS; under every-window an *unflagged* window outside the limit
still FAILs. Oxygen accounting (:func:`oxygen_account`): O2 drawn per minute next to the
delivered FiO2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace
from typing import Any

import numpy as np

from ventbench.analysis.budget import ComponentArrays
from ventbench.analysis.checks import _judge
from ventbench.analysis.judgement import Check
from ventbench.analysis.settle import list_breaths
from ventbench.analysis.steady import (
    DEFAULT_QUANTITIES,
    STEADY_QUANTITIES,
    STEADY_SET_KEYS,
    SteadyRule,
    SteadyWindows,
    steady_windows,
)
from ventbench.analysis.tolerance import QUANTITY_UNITS, LimitSet, Tolerance
from ventbench.analysis.trace import Trace
from ventbench.analysis.uncertainty import ReferenceSpec

#: quantity -> (abs, rel) error bound of a measured window's value against the device's true
#: level, proven in tests/analysis/test_steady.py; FiO2's includes what a slow O2 cell may still
#: lag once settled (the settle span, a tenth of the ±2 % limit)
STEADY_ANALYSIS_BOUNDS = {
    "paw": (0.02, 0.0), "paw_swing": (0.05, 0.0), "flow": (0.02, 0.002), "fio2": (0.2, 0.0),
    "o2_flow": (0.02, 0.002), "supply_p": (0.005, 0.0),
}
_MEASURAND = {"paw": "pressure", "paw_swing": "pressure", "flow": "flow", "o2_flow": "flow", "fio2": "fio2"}


@dataclass(frozen=True)
class SteadyResult:
    """Outcome of :func:`evaluate_steady`: the windows, one :class:`Check` per quantity, the verdict."""

    windows: SteadyWindows
    checks: tuple[Check, ...]
    verdict: str
    reason: str
    rule: SteadyRule
    limits_id: str
    summary: Mapping[str, Mapping[str, float | None]]
    oxygen: Mapping[str, Any]


def _components(quantity: str, x: np.ndarray, sd: float | None, n: int, criterion: str,
                reference: ReferenceSpec | None) -> ComponentArrays:
    unit = QUANTITY_UNITS[quantity]
    rows, missing = [], []
    ones = np.ones_like(x)
    if sd is not None and n >= 2:
        u_a = sd / math.sqrt(n) if criterion == "mean" else sd
        rows.append(("repeatability (Type A)", "A", u_a * ones, float(n - 1),
                     f"s = {sd:.6g} {unit} of n = {n} windows" + (", s/√n" if criterion == "mean" else ", one window: s")))
    else:
        missing.append("Type A: fewer than 2 windows")
    measurand = _MEASURAND.get(quantity)
    accs = reference.for_measurand(measurand) if reference is not None and measurand else ()
    if not accs:
        missing.append(f"reference instrument: no stated accuracy for {measurand or quantity}")
    else:
        u = np.full_like(x, np.nan)
        for acc in accs:
            a = 0.0 if quantity == "paw_swing" else acc.abs  # a swing is a difference: the offset cancels
            u_acc = (acc.rel * np.abs(x) + a) / acc.divisor
            u = np.where(np.isnan(u) & acc.covers(x), u_acc, u)
        if np.isnan(u).any():
            missing.append(f"reference instrument: no stated accuracy covers the {measurand} reading")
        rows.append(("reference instrument", "B", u, math.inf, "; ".join(a.describe() for a in accs)))
        if accs[0].resolution > 0:
            q = accs[0].resolution
            rows.append(("resolution", "B", q / math.sqrt(12.0) * ones, math.inf, f"{q:g} step: q/√12"))
    a_b, r_b = STEADY_ANALYSIS_BOUNDS[quantity]
    rows.append(("analysis", "B", (a_b + r_b * np.abs(x)) / math.sqrt(3.0), math.inf,
                 f"window analysis error bound ±({a_b:g} {unit} + {r_b * 100:g} %), tests/analysis/test_steady.py "
                 "(rectangular)"))
    return ComponentArrays(unit, tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                           np.vstack([np.broadcast_to(r[2], x.shape) for r in rows]),
                           np.array([r[3] for r in rows], dtype=float), tuple(r[4] for r in rows), tuple(missing))


def _stats(x: np.ndarray) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": int(x.size), "mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)) if x.size > 1 else None,
            "min": float(np.min(x)), "max": float(np.max(x))}


def _margins(tol: Tolerance, x: np.ndarray, set_value: float | None) -> tuple[np.ndarray, list[str]]:
    """Per value, how far outside the limit (> 0 outside), and the limit's words."""
    unit = tol.unit
    parts, descr = [], []
    if tol.is_band and set_value is not None:
        ref = np.abs(x) if tol.of == "actual" else abs(set_value)
        parts.append(np.abs(x - set_value) - tol.limit(ref))
        descr.append(f"{tol.describe().split(',')[0]} of {set_value:g} {unit}")
    for margin, text in tol.cap_margins(x):
        parts.append(margin)
        descr.append(text)
    stacked = np.vstack(parts) if parts else np.full((1, x.size), -np.inf)
    return np.max(np.where(np.isfinite(stacked), stacked, np.inf), axis=0), descr


def _check(quantity: str, win: SteadyWindows, sets: Mapping[str, float], limits: LimitSet, rule: SteadyRule,
           reference: ReferenceSpec | None) -> Check:
    unit = QUANTITY_UNITS[quantity]
    set_key = STEADY_SET_KEYS[quantity]
    tol = limits.get(quantity)
    set_value = sets.get(set_key)
    field_name = STEADY_QUANTITIES[quantity][0]
    measured_as = f"{field_name} ({STEADY_QUANTITIES[quantity][1]} per {rule.window_s:g} s window)"
    if quantity not in win.values:
        why = (f"not measured: no {field_name} channel" if quantity in win.missing
               else "not measured: " + "; ".join(win.blocking or ("no window",)))
        return Check(quantity, set_value, tol, rule.criterion, 0, None, None, None, None, None, None, None,
                     "INCONCLUSIVE" if tol is not None else "INFO", why, unit, measured_as)
    pos = win.measured
    x = win.values[quantity][pos]
    flagged = win.flagged[quantity][pos]
    trusted = ~flagged & np.isfinite(x)
    st = _stats(x[trusted])
    errors = x - set_value if set_value is not None else np.full(x.size, np.nan)
    max_abs = float(np.max(np.abs(errors[trusted]))) if set_value is not None and trusted.any() else None
    a_term = tol.abs if tol is not None and tol.is_band else 0.0
    banded = tol is not None and tol.is_band  # a cap has no ±(A + B %) to disclose
    ach_rel = (float(max(0.0, max_abs - a_term) / abs(set_value))
               if banded and max_abs is not None and set_value else None)
    bias = st["mean"] - set_value if set_value is not None and st["mean"] is not None else None
    common = dict(quantity=quantity, set=set_value, limit=tol, criterion=rule.criterion, n_breaths=st["n"],
                  mean=st["mean"], sd=st["sd"], min=st["min"], max=st["max"], max_abs_error=max_abs,
                  achieved_abs=a_term if banded and max_abs is not None else None, achieved_rel=ach_rel, unit=unit,
                  measured_as=measured_as, bias=bias, flagged_breaths=tuple(int(i) for i in pos[flagged]))
    comps = None
    if trusted.any():
        judged = np.array([st["mean"]]) if rule.criterion == "mean" else x
        comps = _components(quantity, judged, st["sd"], st["n"], rule.criterion, reference)
    partial = list(win.partial)
    if flagged.any():
        reasons = [r for r in win.flag_reasons[quantity] if int(r.split(":")[0].split()[1]) in set(pos[flagged])]
        partial.append(f"flagged measured windows {list_breaths(pos[flagged])} ({'; '.join(reasons[:3])})")
    if tol is None or (tol.is_band and set_value is None and not (tol.max is not None or tol.min is not None)):
        why = (f"no limit for {quantity} in limit set {limits.id!r}" if tol is None
               else f"set value missing: no {set_key!r} in the point's settings")
        budget = comps.budget(0, {"value": "mean" if rule.criterion == "mean" else "window"}) if comps else None
        verdict = "INFO" if tol is None else "INCONCLUSIVE"
        return Check(**common, verdict=verdict, reason="; ".join([why] + list(win.blocking) + partial), budget=budget)
    if rule.criterion == "mean":
        values = np.array([st["mean"] if st["mean"] is not None else np.nan])
        ok_data = np.array([bool(trusted.any())])
    else:
        values, ok_data = x, trusted
    margin, descr = _margins(tol, values, set_value)
    if tol.is_band and set_value is None:
        partial.append(f"set value missing: no {set_key!r} in the point's settings (band not judged)")
    if not trusted.any() and pos.size:
        partial.append("no usable window")
    u = comps.expanded() if comps is not None else np.full(values.size, np.nan)
    budget = None
    if comps is not None:
        i = int(np.argmax(np.where(ok_data, margin + np.nan_to_num(u, nan=0.0), -np.inf)))
        budget = comps.budget(i, {"value": "mean"} if rule.criterion == "mean"
                              else {"window": int(pos[i]), "value": float(x[i])})

    def describe_fail(failing: np.ndarray) -> str:
        if rule.criterion == "mean":
            return f"mean {st['mean']:.4g} {unit} outside {' and '.join(descr)}"
        worst = failing[np.argmax(margin[failing])]
        return (f"{failing.size} of {pos.size} windows outside {' and '.join(descr)}: windows "
                f"{list_breaths(pos[failing])}; worst value {x[worst]:.4g} {unit} (window {pos[worst]})")

    shim_rule = SimpleNamespace(criterion="every-breath" if rule.criterion == "every-window" else "mean",
                                decision_rule=rule.decision_rule)
    shim_win = SimpleNamespace(blocking=win.blocking, partial=())
    verdict, reason, failing = _judge(margin, u, ok_data, shim_win, shim_rule, partial, describe_fail, budget)
    labels = pos[failing] if rule.criterion == "every-window" and verdict == "FAIL" else np.array([], int)
    return Check(**common, verdict=verdict, reason=reason, failing_breaths=tuple(int(i) for i in labels), budget=budget)


def oxygen_account(win: SteadyWindows) -> dict[str, Any]:
    """O2 drawn per minute (mean O2 flow over the measured unflagged windows, L/min) beside the
    delivered FiO2 (%) and the O2 used over the measured windows (L); None where not measured."""
    out: dict[str, Any] = {"o2_lpm": None, "fio2_pct": None, "o2_used_l": None, "duration_s": None}
    pos = win.measured
    if pos.size == 0:
        return out
    for q, key in (("o2_flow", "o2_lpm"), ("fio2", "fio2_pct")):
        if q in win.values:
            ok = ~win.flagged[q][pos] & np.isfinite(win.values[q][pos])
            if ok.all():
                out[key] = float(np.mean(win.values[q][pos]))
    dur = float(np.sum(win.t1_s[pos] - win.t0_s[pos]))
    out["duration_s"] = dur
    if out["o2_lpm"] is not None:
        out["o2_used_l"] = out["o2_lpm"] * dur / 60.0
    return out


def evaluate_steady(trace: Trace, set_values: Mapping[str, float], limits: LimitSet,
                    rule: SteadyRule | None = None, quantities: Sequence[str] | None = None, *,
                    reference: ReferenceSpec | None = None) -> SteadyResult:
    """Judge one steady point (CPAP level, high-flow setting).

    Parameters
    ----------
    trace : Trace
        The point's samples; flow at the analysis condition; extra channels ``fio2_pct``,
        ``o2_flow_lpm``, ``supply_bar`` where measured.
    set_values : mapping
        cpap_cmh2o (the pressure level), flow_lpm, fio2_pct, o2_flow_lpm, supply_bar,
        paw_swing_cmh2o — the keys of :data:`analysis.steady.STEADY_SET_KEYS`.
    limits : LimitSet
        Tolerances per quantity (caps ``max``/``min`` need no set value).
    rule : SteadyRule, optional
    quantities : sequence of str, optional
        Default paw, paw_swing, flow, fio2.
    reference : ReferenceSpec, optional
        The reference instrument(s); None: listed as missing in every budget.
    """
    rule = rule or SteadyRule()
    quantities = tuple(quantities) if quantities is not None else DEFAULT_QUANTITIES
    sets = {k: float(v) for k, v in set_values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    half = {}
    for q in quantities:
        tol = limits.get(q) if q in QUANTITY_UNITS else None
        if tol is not None and tol.is_band and STEADY_SET_KEYS.get(q) in sets:
            half[q] = float(tol.limit(abs(sets[STEADY_SET_KEYS[q]])))
    win = steady_windows(trace, quantities, rule, half)
    checks = tuple(_check(q, win, sets, limits, rule, reference) for q in quantities)
    judged = [c for c in checks if c.verdict != "INFO"]
    verdict, reason = ("INFO", "no check with a verdict (all informative)") if not judged else ("PASS", "")
    for word in ("FAIL", "INCONCLUSIVE"):
        hit = [c for c in judged if c.verdict == word]
        if hit:
            verdict, reason = word, "; ".join(f"{c.quantity}: {c.reason}" for c in hit)
            break
    summary = {q: MappingProxyType(_stats(win.values[q][win.measured][~win.flagged[q][win.measured]]))
               for q in win.values}
    return SteadyResult(win, checks, verdict, reason, rule, limits.id, MappingProxyType(summary),
                        MappingProxyType(oxygen_account(win)))


def steady_check_json(check: Check) -> dict[str, Any]:
    """A check's contract dict, with the window words: ``n_windows``, ``failing_windows``,
    ``flagged_windows`` in place of the breath ones."""
    out = check.to_json()
    out["n_windows"] = out.pop("n_breaths")
    out["failing_windows"] = out.pop("failing_breaths")
    out["flagged_windows"] = out.pop("flagged_breaths")
    return out


def steady_point_json(point_id: str, set: Mapping[str, Any], result: SteadyResult, *, lung: Mapping[str, Any] | None
                      = None, channels: Mapping[str, str] | None = None, note: str = "") -> dict[str, Any]:
    """One steady point of ``ventbench.results/1``: mode "steady", no breaths, a window table,
    checks, verdict (reason when not PASS), settle time, rule, limits, oxygen accounting and the
    channel roles (role → channel)."""
    from ventbench.analysis.results import to_jsonable

    win = result.windows
    measured = set_ = frozenset(int(i) for i in win.measured)
    windows = []
    for j in range(win.t0_s.size):
        row: dict[str, Any] = {"t_start_s": win.t0_s[j], "t_end_s": win.t1_s[j], "measured": j in measured}
        row.update({q: v[j] for q, v in win.values.items()})
        row["flags"] = sorted(q for q, f in win.flagged.items() if f[j])
        windows.append(row)
    out: dict[str, Any] = {
        "id": str(point_id), "mode": "steady", "set": dict(set), "lung": dict(lung or {}), "breaths": [],
        "windows": windows, "summary": {k: dict(v) for k, v in result.summary.items()},
        "checks": [steady_check_json(c) for c in result.checks], "verdict": result.verdict,
    }
    if result.verdict != "PASS":
        out["reason"] = result.reason
    out["settled_at_s"] = None if win.settled_at is None else win.t0_s[win.settled_at] - win.t0_s[0]
    out["measured_windows"] = sorted(set_)
    out["rule"] = result.rule.to_json()
    out["limits"] = result.limits_id
    out["oxygen"] = dict(result.oxygen)
    out["channels"] = dict(channels or {})
    if note:
        out["note"] = note
    return to_jsonable(out)
