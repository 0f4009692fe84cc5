"""Monitoring accuracy: the device's own reported values against the reference breaths.

A ventilator reports its expired VT, PEEP, peak pressure and rate; ISO 80601-2-12 asks
how far those displayed numbers are from the truth. Here the truth is the reference
measurement of the same breath, so the job has two steps.

Matching (:func:`match_reports`)
--------------------------------
Reports arrive on the device's clock; the caller first maps their times onto the
reference's time base (through the host clock, :mod:`bench.monitoring`). A device reports
a breath's values when the breath is over — PIRDS assertions at the start of the next
inspiration — so **a report belongs to the reference breath whose end** (``t_end_s``, the
start of the next breath) **is nearest to it, if it lies within ± tol** of that end, where
``tol = min(tol_s, MAX_TOL_FRACTION × that breath's duration)``: with the fraction at 1/4
two breaths' windows can never overlap. A report outside every window is *unmatched*; two
reports of one quantity for one breath keep the nearer (the other is unmatched).

Judging (:func:`monitoring_checks`)
-----------------------------------
Per quantity (``vte_monitor``, ``peep_monitor``, ``pip_monitor``, ``rate_monitor``) over
the point's *measured* breaths (the window :mod:`analysis.checks` judged): error ``e =
reported − reference`` against ``±(abs + rel × |reference|)`` (ISO monitoring limits are of
the actual value). Like the point checks: every-breath (default) or mean; FAIL when a
matched, unflagged breath is outside the limit (every-breath); INCONCLUSIVE (never PASS)
when a measured breath has no report, its reference data is flagged, or the caller says
the alignment is not trustworthy; INFO when the limit set has no tolerance for the
quantity (rate monitoring: no published limit) or the reference is at or below
``applies_above`` (VTe ≤ 50 mL).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from ventbench.analysis.judgement import Check
from ventbench.analysis.tolerance import LimitSet

#: Check quantity → (reported quantity, reference Breath field).
MONITOR_QUANTITIES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "vte_monitor": ("vte_ml", "vte_ml"),
    "peep_monitor": ("peep_cmh2o", "peep_cmh2o"),
    "pip_monitor": ("pip_cmh2o", "pip_cmh2o"),
    "rate_monitor": ("rr_bpm", "rr_bpm"),
})
#: Default matching tolerance around a breath's end, s.
DEFAULT_TOL_S = 0.5
#: The tolerance never exceeds this fraction of the breath's duration.
MAX_TOL_FRACTION = 0.25


def breath_ends(breaths: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``(t_end_s, duration_s)`` of breath dicts (``t_end_s``, else start + 60 / rate)."""
    ends, durs = [], []
    for b in breaths:
        start = _num(b.get("t_start_s"))
        end = _num(b.get("t_end_s"))
        if not math.isfinite(end):
            rr = _num(b.get("rr_bpm"))
            end = start + 60.0 / rr if rr > 0 else math.nan
        ends.append(end)
        durs.append(end - start)
    return np.asarray(ends, dtype=np.float64), np.asarray(durs, dtype=np.float64)


def match_reports(report_t_s: np.ndarray, end_s: np.ndarray, duration_s: np.ndarray,
                  tol_s: float = DEFAULT_TOL_S) -> np.ndarray:
    """Index of the breath each report belongs to, or -1 (see the module docstring).

    Parameters
    ----------
    report_t_s : array_like
        Report times on the reference time base, s.
    end_s, duration_s : array_like
        Each reference breath's end time and duration, s (increasing ends).
    tol_s : float
        Largest distance from a breath's end, s.
    """
    t = np.asarray(report_t_s, dtype=np.float64)
    out = np.full(t.size, -1, dtype=np.int64)
    ends = np.asarray(end_s, dtype=np.float64)
    if not t.size or not ends.size:
        return out
    tol = np.minimum(tol_s, MAX_TOL_FRACTION * np.where(np.isfinite(duration_s), duration_s, 0.0))
    order = np.arange(ends.size)[np.isfinite(ends)]
    if not order.size:
        return out
    e = ends[order]
    k = np.clip(np.searchsorted(e, t), 1, e.size) if e.size > 1 else np.ones(t.size, int)
    lo, hi = np.maximum(k - 1, 0), np.minimum(k, e.size - 1)
    nearest = np.where(np.abs(t - e[lo]) <= np.abs(t - e[hi]), lo, hi)
    cand = order[nearest]
    ok = np.isfinite(t) & (np.abs(t - ends[cand]) <= tol[cand])
    out[ok] = cand[ok]
    best: dict[int, int] = {}  # breath → report kept (the nearer)
    for i in np.flatnonzero(ok).tolist():
        b = int(out[i])
        j = best.get(b)
        if j is None or abs(t[i] - ends[b]) < abs(t[j] - ends[b]):
            if j is not None:
                out[j] = -1
            best[b] = i
        else:
            out[i] = -1
    return out


def monitoring_checks(breaths: Sequence[Mapping[str, Any]],
                      reports: Mapping[str, tuple[np.ndarray, np.ndarray]], limits: LimitSet,
                      criterion: str = "every-breath", tol_s: float = DEFAULT_TOL_S,
                      blocking: Sequence[str] = ()) -> tuple[list[Check], dict[str, Any]]:
    """Match each quantity's reports to the breaths and judge them.

    Parameters
    ----------
    breaths : sequence of dict
        The point's breaths as in results JSON (``t_start_s``, ``t_end_s``, ``flags``,
        ``measured``, ``index`` and the reference fields).
    reports : mapping
        ``{reported quantity: (t_s on the reference time base, values)}``.
    limits : LimitSet
        Tolerances for ``vte_monitor`` … (missing → INFO).
    criterion : {"every-breath", "mean"}
    tol_s : float
        Matching tolerance (:func:`match_reports`).
    blocking : sequence of str
        Reasons the matching cannot be trusted (every judged check is then INCONCLUSIVE).

    Returns
    -------
    checks : list of Check
    detail : dict
        ``matched`` / ``unmatched`` report counts and ``breaths``: per measured breath its
        index and, per check quantity, ``[reported, reference]`` (None when unmatched).
    """
    ends, durs = breath_ends(breaths)
    measured = np.array([bool(b.get("measured")) for b in breaths], dtype=bool)
    flagged = np.array([bool(b.get("flags")) for b in breaths], dtype=bool)
    labels = np.array([int(b.get("index", i)) for i, b in enumerate(breaths)], dtype=int)
    checks: list[Check] = []
    detail: dict[str, Any] = {"tol_s": tol_s, "matched": {}, "unmatched": {},
                              "breaths": [{"index": int(labels[i])} for i in np.flatnonzero(measured)]}
    for quantity, (reported, field) in MONITOR_QUANTITIES.items():
        t, values = reports.get(reported, (np.empty(0), np.empty(0)))
        which = match_reports(t, ends, durs, tol_s)
        detail["matched"][quantity] = int((which >= 0).sum())
        detail["unmatched"][quantity] = int((which < 0).sum())
        rep = np.full(len(breaths), np.nan)
        rep[which[which >= 0]] = np.asarray(values, dtype=np.float64)[which >= 0]
        ref = np.array([_num(b.get(field)) for b in breaths], dtype=np.float64)
        for row, i in zip(detail["breaths"], np.flatnonzero(measured), strict=True):
            row[quantity] = None if not math.isfinite(rep[i]) else [float(rep[i]), float(ref[i])]
        checks.append(_judge(quantity, rep[measured], ref[measured], flagged[measured],
                             labels[measured], limits, criterion, blocking))
    return checks, detail


def _judge(quantity: str, rep: np.ndarray, ref: np.ndarray, flagged: np.ndarray,
           labels: np.ndarray, limits: LimitSet, criterion: str,
           blocking: Sequence[str]) -> Check:
    reported, field = MONITOR_QUANTITIES[quantity]
    tol = limits.get(quantity)
    unit = tol.unit if tol is not None else {"vte_ml": "mL", "rr_bpm": "bpm"}.get(reported, "cmH2O")
    have = np.isfinite(rep) & np.isfinite(ref)
    trusted = have & ~flagged
    err = rep - ref
    x = rep[trusted]
    st = _stats(x)
    a_term = tol.abs if tol is not None and tol.is_band else 0.0
    max_abs = float(np.max(np.abs(err[trusted]))) if trusted.any() else None
    ach_rel = (float(max(0.0, np.max((np.abs(err[trusted]) - a_term) / np.abs(ref[trusted]))))
               if trusted.any() and np.all(ref[trusted] != 0) else None)
    ref_mean = float(np.mean(ref[trusted])) if trusted.any() else None
    partial = list(blocking)
    if not rep.size:
        partial.append("no measured breath")
    if (~have).any():
        partial.append(f"no device report matched to measured breaths {_list(labels[~have])}")
    if (have & flagged).any():
        partial.append(f"flagged reference data in measured breaths {_list(labels[have & flagged])}")
    verdict, reason, failing = "PASS", "", np.array([], int)
    if tol is None or not tol.is_band:
        verdict, reason = "INFO", f"no monitoring limit for {quantity} in limit set {limits.id!r}"
    elif ref_mean is not None and not tol.applies_to(ref_mean):
        verdict = "INFO"
        reason = f"reference {ref_mean:g} {unit} ≤ {tol.applies_above:g} {unit}: disclosed only"
    else:
        limit = tol.limit(np.abs(ref))
        outside = trusted & (np.abs(err) > limit)
        describe = f"outside ±({tol.abs:g} {unit} + {tol.rel * 100:g} % of actual)"
        if criterion == "mean" and trusted.any() and not partial:
            if abs(float(np.mean(err[trusted]))) > tol.limit(abs(ref_mean)):
                verdict = "FAIL"
                reason = f"mean error {float(np.mean(err[trusted])):+.4g} {unit} {describe}"
        elif criterion != "mean" and outside.any() and not blocking:
            failing = np.flatnonzero(outside)
            worst = failing[np.argmax(np.abs(err[failing]))]
            verdict = "FAIL"
            reason = (f"{failing.size} of {rep.size} breaths {describe}: breaths "
                      f"{_list(labels[failing])}; worst error {err[worst]:+.4g} {unit} "
                      f"(breath {labels[worst]})")
            if partial:
                reason += "; also " + "; ".join(partial)
        if verdict == "PASS" and partial:
            verdict, reason = "INCONCLUSIVE", "; ".join(partial)
    return Check(quantity=quantity, set=ref_mean, limit=tol, criterion=criterion,
                 n_breaths=st["n"], mean=st["mean"], sd=st["sd"], min=st["min"], max=st["max"],
                 max_abs_error=max_abs, achieved_abs=a_term if max_abs is not None else None,
                 achieved_rel=ach_rel, verdict=verdict, reason=reason, unit=unit,
                 measured_as=f"reported {reported} vs reference {field}",
                 failing_breaths=tuple(int(i) for i in labels[failing]),
                 flagged_breaths=tuple(int(i) for i in labels[have & flagged]))


def _stats(x: np.ndarray) -> dict[str, Any]:
    if not x.size:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": int(x.size), "mean": float(np.mean(x)),
            "sd": float(np.std(x, ddof=1)) if x.size > 1 else 0.0,
            "min": float(np.min(x)), "max": float(np.max(x))}


def _list(idx: np.ndarray, limit: int = 10) -> str:
    items = [str(int(i)) for i in idx[:limit]]
    return ", ".join(items) + (f" … ({idx.size} in all)" if idx.size > limit else "")


def _num(value: Any) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
