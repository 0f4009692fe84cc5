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

from ventbench.analysis.breath import breaths_to_json
from ventbench.analysis.judgement import PointResult
from ventbench.analysis.rounding import SIGNIFICANT_DIGITS, round_floats, round_number

__all__ = ["SCHEMA", "SIGNIFICANT_DIGITS", "JsonRows", "overall_verdict", "point_to_json", "results_document",
           "round_number", "to_jsonable"]

SCHEMA = "ventbench.results/1"
#: A list of at least this many dicts is converted column by column (:func:`_table`).
TABLE_MIN_ROWS = 8
_PLAIN = frozenset({str, int, bool, type(None)})
_NUMBERS = frozenset({float, type(None)})
_SEQUENCES = frozenset({list, tuple, type(None)})


class JsonRows(list):
    """Rows :func:`to_jsonable` made at the default digits (a point's breaths): converting them
    again would give them back unchanged (rounding is idempotent), so it is skipped. Nothing
    modifies a row once made."""

    __slots__ = ()


def to_jsonable(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """Recursively convert to JSON types: floats rounded, NaN → None, tuples → lists,
    numpy scalars and arrays → Python numbers and lists, mapping keys → str."""
    kind = type(value)  # the plain types first: a results document is ~10^5 of them
    if kind is JsonRows and digits == SIGNIFICANT_DIGITS:
        return value
    if kind is float:
        return round_number(value, digits)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): to_jsonable(v, digits) for k, v in value.items()}
    if kind is list or kind is tuple:
        if len(value) >= TABLE_MIN_ROWS and type(value[0]) is dict:
            rows = _table(value, digits)
            if rows is not None:
                return rows
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


def _table(rows: Sequence[Any], digits: int) -> list[dict[str, Any]] | None:
    """:func:`to_jsonable` of a list of dicts (the breaths of a point), column by column.

    Rows sharing the same keys form one table; a column of floats is rounded at once by
    :func:`round_floats`, a column of str/int/bool/None is kept, any other column converts
    value by value. The result equals the one-value-at-a-time conversion; None when a row is
    not a plain dict.
    """
    if set(map(type, rows)) != {dict}:
        return None
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, keys in enumerate(map(tuple, rows)):
        groups.setdefault(keys, []).append(i)
    out: list[dict[str, Any]] = [{}] * len(rows)
    for keys, members in groups.items():
        names = [k if type(k) is str else str(k) for k in keys]
        columns = []
        for column in zip(*(rows[i].values() for i in members), strict=True):
            columns.append(_column(column, digits))
        for i, values in zip(members, zip(*columns, strict=True) if columns else [()] * len(members), strict=True):
            out[i] = dict(zip(names, values, strict=True))
    return out


def _rounded_column(column: Sequence[Any]) -> Sequence[Any]:
    return _column(column, SIGNIFICANT_DIGITS)


def _column(column: Sequence[Any], digits: int) -> Sequence[Any]:
    """One column of a table: floats (or None) rounded at once, flat lists of floats too."""
    kinds = set(map(type, column))
    if kinds <= _NUMBERS:
        if kinds == {float}:
            return round_floats(column, digits)
        return round_floats([math.nan if v is None else v for v in column], digits)
    if kinds <= _PLAIN:
        return column
    if kinds <= _SEQUENCES:  # e.g. a breath's plateau and PEEP windows: [t0, t1] or None
        flat = [x for v in column if v is not None for x in v]
        inside = set(map(type, flat))
        if inside == {float}:
            rounded = iter(round_floats(flat, digits))
            return [None if v is None else [next(rounded) for _ in v] for v in column]
        if inside <= _PLAIN:  # e.g. a breath's flags: lists of str, mostly empty
            return [None if v is None else list(v) for v in column]
    return [to_jsonable(v, digits) for v in column]


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
    breaths = JsonRows(breaths_to_json(point_result.breaths, convert=_rounded_column))
    for i, item in enumerate(breaths):
        item["measured"] = i in set_of_measured
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
