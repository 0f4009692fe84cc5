"""Worksheet of readings (issue 14): per point, every judged reading of every checked quantity,
laid out as a laboratory worksheet — breath number, the readings, then set value, mean, error
(mean − set), tolerance, expanded uncertainty U and verdict.

The data (:func:`worksheet`) is plain Python built from ``results.json``; the PDF section
(:func:`worksheet_table`) and the spreadsheet (:mod:`bench.report.worksheet_xlsx`) lay out the
same cells, so the two cannot disagree.

Breath numbers are the ``index`` of each breath in ``results.json``: counted from 0 at the first
breath detected in the point's recording. The same numbers are used by the live console lines
(``b 12``), the reasons in ``results.json`` and ``junit.xml``, the PDF and the spreadsheet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ventbench.bench.report.fmt import limit_text, value
from ventbench.bench.report.i18n import Messages

__all__ = ["Entry", "Sheet", "tolerance_half_width", "worksheet", "worksheet_cells"]

#: Marks in a reading cell: the reading is outside the limit / it carries a flag (not used
#: for the mean and the verdict).
FAIL_MARK = "✗"
FLAG_MARK = "⚑"


@dataclass(frozen=True)
class Entry:
    """One checked quantity of a point: its readings and the numbers that judge them.

    ``readings`` maps breath number → (value in ``unit``, flagged, outside the limit);
    ``error`` is mean − set (``unit``); ``tolerance`` the limit's half-width at the set value
    (``unit``) for a band, ``cap`` the one-sided maximum; ``u_expanded`` the GUM expanded
    uncertainty U (``unit``, coverage 95.45 %) from ``analysis.budget``.
    """

    quantity: str
    unit: str
    set_value: float | None
    readings: Mapping[int, tuple[float | None, bool, bool]]
    mean: float | None
    error: float | None
    tolerance: float | None
    cap: float | None
    limit: Mapping[str, Any]
    u_expanded: float | None
    k: float | None
    criterion: str
    verdict: str


@dataclass(frozen=True)
class Sheet:
    """The worksheet of one point: its entries and the breath numbers they share."""

    point_id: str
    mode: str
    verdict: str
    breaths: tuple[int, ...]
    entries: tuple[Entry, ...]


def _float(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def tolerance_half_width(limit: Mapping[str, Any], set_value: float | None) -> float | None:
    """Half-width of a ``±(abs + rel × |set|)`` band at the set value (limit's unit); None for
    a cap-only limit, a limit relative to the actual reading, or no set value."""
    a = _float(limit.get("abs"))
    if a is None or set_value is None or limit.get("of") == "actual":
        return None
    return a + float(limit.get("rel") or 0.0) * abs(set_value)


def _entry(point: Mapping[str, Any], check: Mapping[str, Any]) -> Entry:
    field = str(check.get("measured_as") or "")
    limit = check.get("limit") or {}
    unit = str(check.get("unit") or limit.get("unit", ""))
    failing = {int(i) for i in check.get("failing_breaths") or []}
    readings: dict[int, tuple[float | None, bool, bool]] = {}
    for i, breath in enumerate(point.get("breaths") or []):
        if not breath.get("measured") or not field:
            continue
        number = int(breath.get("index", i))
        if _float(breath.get(field)) is None:  # a quantity judged on its mean only (FiO2)
            continue
        flagged = bool([f for f in breath.get("flags") or [] if f])
        readings[number] = (_float(breath.get(field)), flagged, number in failing)
    set_value = _float(check.get("set"))
    mean = _float(check.get("mean"))
    unc = check.get("uncertainty") or {}
    return Entry(
        quantity=str(check.get("quantity", "")), unit=unit, set_value=set_value, readings=readings,
        mean=mean, error=None if mean is None or set_value is None else round(mean - set_value, 9),
        tolerance=tolerance_half_width(limit, set_value), cap=_float(limit.get("max")), limit=limit,
        u_expanded=_float(unc.get("U")), k=_float(unc.get("k")), criterion=str(check.get("criterion") or ""),
        verdict=str(check.get("verdict") or ""))


def worksheet(points: Sequence[Mapping[str, Any]]) -> list[Sheet]:
    """The worksheet of every tested point with checks, in the order of ``points``.

    Parameters
    ----------
    points : sequence of dict
        ``points`` of a ``ventbench.results/1`` document.

    Returns
    -------
    list of Sheet
        One per point that has checks (NOT TESTED points and points without checks have none).
    """
    sheets = []
    for point in points:
        checks = point.get("checks") or []
        if not checks:
            continue
        entries = tuple(_entry(point, c) for c in checks)
        numbers = sorted({n for e in entries for n in e.readings})
        sheets.append(Sheet(point_id=str(point.get("id")), mode=str(point.get("mode") or ""),
                            verdict=str(point.get("verdict") or ""), breaths=tuple(numbers), entries=entries))
    return sheets


def _reading_text(msgs: Messages, reading: tuple[float | None, bool, bool] | None, unit: str) -> str:
    if reading is None:
        return ""
    x, flagged, failing = reading
    text = value(msgs, x, unit)
    if failing:
        text += " " + FAIL_MARK
    if flagged:
        text += " " + FLAG_MARK
    return text


def _tolerance_text(msgs: Messages, entry: Entry) -> str:
    parts = []
    if entry.tolerance is not None:
        parts.append("± " + value(msgs, entry.tolerance, entry.unit))
    elif entry.limit.get("abs") is not None:
        parts.append(limit_text(msgs, {k: v for k, v in entry.limit.items() if k not in ("max", "max_over")}))
    if entry.cap is not None:
        parts.append("≤ " + value(msgs, entry.cap, entry.unit))
    if entry.limit.get("max_over") is not None:
        parts.append(f"≤ {entry.limit['max_over']} + {msgs.sig(entry.limit.get('max_over_by'))}")
    return "; ".join(parts) or msgs("common.no_limit")


def worksheet_cells(sheet: Sheet, msgs: Messages) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The worksheet as text cells in the report's language: (header, breath rows, footer rows).

    Footer rows, in order: set value, mean, error (mean − set), tolerance at the set value,
    expanded uncertainty U (k ≈ 2), verdict. Numbers use the decimals of their unit.
    """
    header = [msgs("worksheet.breath")] + [f"{msgs.quantity(e.quantity)} ({e.unit})" for e in sheet.entries]
    body = [[str(n)] + [_reading_text(msgs, e.readings.get(n), e.unit) for e in sheet.entries]
            for n in sheet.breaths]
    signed = [("" if e.error is None or e.error < 0 else "+") + value(msgs, e.error, e.unit) for e in sheet.entries]
    footer = [
        [msgs("worksheet.set")] + [value(msgs, e.set_value, e.unit) for e in sheet.entries],
        [msgs("worksheet.mean")] + [value(msgs, e.mean, e.unit) for e in sheet.entries],
        [msgs("worksheet.error")] + signed,
        [msgs("worksheet.tolerance")] + [_tolerance_text(msgs, e) for e in sheet.entries],
        [msgs("worksheet.u")] + [value(msgs, e.u_expanded, e.unit) for e in sheet.entries],
        [msgs("worksheet.verdict")] + [msgs.verdict(e.verdict) for e in sheet.entries],
    ]
    return header, body, footer
