"""The points / checks part of the ``ventbench.results/1`` document, as plain JSON-ready dicts.

Numbers are rounded deterministically to :data:`SIGNIFICANT_DIGITS` significant digits (the
same input always gives the same text, so replay can compare results byte for byte); NaN and
infinities become ``null`` — JSON has neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ventbench.analysis.judgement import PointResult

SCHEMA = "ventbench.results/1"
#: Significant digits kept in results JSON (well below any instrument's resolution).
SIGNIFICANT_DIGITS = 7


def round_number(value: float, digits: int = SIGNIFICANT_DIGITS) -> float | None:
    """Round to ``digits`` significant digits; None for NaN or ±inf; -0.0 becomes 0.0."""
    value = float(value)
    if not math.isfinite(value):
        return None
    out = float(f"{value:.{digits}g}")
    return out + 0.0  # normalise -0.0


def to_jsonable(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """Recursively convert to JSON types: floats rounded, NaN → None, tuples → lists,
    numpy scalars and arrays → Python numbers and lists, mapping keys → str."""
    kind = type(value)  # the plain types first: a results document is ~10^5 of them
    if kind is float:
        return round_number(value, digits)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): to_jsonable(v, digits) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_jsonable(v, digits) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return round_number(value, digits)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(v, digits) for v in value.tolist()]
    if isinstance(value, Iterable):
        return [to_jsonable(v, digits) for v in value]
    if hasattr(value, "to_json"):
        return to_jsonable(value.to_json(), digits)
    return str(value)


def overall_verdict(verdicts: Iterable[str]) -> str:
    """Combine point verdicts: FAIL if any FAIL, else INCONCLUSIVE if any (or if there is no
    point at all), else PASS; INFO is ignored unless every verdict is INFO."""
    words = [str(v).upper() for v in verdicts]
    if not words:
        return "INCONCLUSIVE"
    if "FAIL" in words:
        return "FAIL"
    if any(w not in ("PASS", "INFO") for w in words):
        return "INCONCLUSIVE"
    return "PASS" if "PASS" in words else "INFO"


def point_to_json(point_id: str, mode: str, set: Mapping[str, Any], lung: Mapping[str, Any],
                  point_result: PointResult, *, note: str = "", limits: str | None = None) -> dict[str, Any]:
    """One point of the results document (DESIGN.md contract).

    Keys: id, mode, set, lung, breaths (each :meth:`Breath.to_json`, plus ``measured``: whether
    it was among the breaths judged), summary (per Breath field over the unflagged measured
    breaths: n, mean, sd, min, max), checks, verdict; reason when not PASS; and the judging
    details (settled_at, skipped, measured, rule, limits).
    """
    set_of_measured = frozenset(point_result.measured)
    breaths = []
    for i, breath in enumerate(point_result.breaths):
        item = breath.to_json()
        item["measured"] = i in set_of_measured
        breaths.append(item)
    rule = point_result.rule
    out: dict[str, Any] = {
        "id": str(point_id),
        "mode": mode,
        "set": dict(set),
        "lung": dict(lung),
        "breaths": breaths,
        "summary": {k: dict(v) for k, v in point_result.summary.items()},
        "checks": [c.to_json() for c in point_result.checks],
        "verdict": point_result.verdict,
    }
    if point_result.verdict != "PASS":
        out["reason"] = point_result.reason
    out["settled_at"] = point_result.settled_at
    out["skipped"] = point_result.skipped
    out["measured"] = sorted(set_of_measured)
    out["rule"] = {
        "settle_breaths": rule.settle_breaths, "measure_breaths": rule.measure_breaths,
        "criterion": rule.criterion, "decision_rule": rule.decision_rule,
        "steady_state": None if rule.steady_state is None else vars(rule.steady_state).copy(),
        "instrument": None if rule.instrument is None else vars(rule.instrument).copy(),
    }
    out["limits"] = limits or point_result.limits_id
    if note:
        out["note"] = note
    return to_jsonable(out)


def results_document(points: Sequence[Mapping[str, Any]], *, software: Mapping[str, Any],
                     source: Mapping[str, Any] | Sequence[Any], gas: Mapping[str, Any]) -> dict[str, Any]:
    """The whole ``ventbench.results/1`` document: schema, software, source, gas, points, verdict.

    ``points`` are dicts from :func:`point_to_json`; the verdict is :func:`overall_verdict` of
    theirs.
    """
    pts = [to_jsonable(p) for p in points]
    return {
        "schema": SCHEMA,
        "software": to_jsonable(software),
        "source": to_jsonable(source),
        "gas": to_jsonable(gas),
        "points": pts,
        "verdict": overall_verdict(p.get("verdict", "INCONCLUSIVE") for p in pts),
    }
