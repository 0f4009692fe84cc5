"""The table of checks: one row per check (the summary's, a point page's, a steady point's),
its reasons moved under it as numbered notes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ventbench.bench.report.fmt import achieved_text, limit_text, value
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, Column, Document, Style
from ventbench.bench.report.reasons import translate_reason

__all__ = ["check_columns", "check_row", "notes_table"]


def check_row(msgs: Messages, point: Mapping[str, Any], check: Mapping[str, Any], with_point: bool) -> list[str]:
    """One check's row: (point,) quantity, set, mean, SD, min, max, largest error, limit,
    achieved (bias ± U), verdict, reason — values in the check's unit."""
    unit = check.get("unit") or (check.get("limit") or {}).get("unit", "")
    row = [str(point["id"])] if with_point else []
    row += [f"{msgs.quantity(check['quantity'])} ({unit})", value(msgs, check.get("set"), unit),
            value(msgs, check.get("mean"), unit), value(msgs, check.get("sd"), unit),
            value(msgs, check.get("min"), unit), value(msgs, check.get("max"), unit),
            value(msgs, check.get("max_abs_error"), unit), limit_text(msgs, check.get("limit")),
            achieved_text(msgs, check), msgs.verdict(check.get("verdict")), translate_reason(check.get("reason"), msgs)]
    return row


def check_columns(msgs: Messages, with_point: bool) -> list[Column]:
    """The columns of :func:`check_row` (the summary's with the point, a point page's without)."""
    # limit and achieved hold whole expressions ("±(10 L/min + 10 %)" is 1.12 in at 8 pt); the
    # reason column only a note's number, "(12)"
    spec = [("point", 0.62)] if with_point else []
    spec += [("quantity", 0.62), ("set", 0.40), ("mean", 0.44), ("sd", 0.38), ("min", 0.42), ("max", 0.42),
             ("max_error", 0.44), ("limit", 1.16), ("achieved", 1.0), ("verdict", 0.66)]
    if not with_point:  # the point page: its room to the quantity and achieved columns
        spec = [(k, w + {"quantity": 0.2, "achieved": 0.2}.get(k, 0.0)) for k, w in spec]
    cols = [Column(msgs(f"table.{k}"), w, "right" if k in ("set", "mean", "sd", "min", "max", "max_error") else "left")
            for k, w in spec]
    cols.append(Column(msgs("table.reason"), CONTENT_W_IN - sum(w for _, w in spec)))
    return cols


def notes_table(doc: Document, columns: list[Column], rows: list[list[str]], styles: list[dict[int, Style]],
                 msgs: Messages, labels: list[str]) -> None:
    """The check table with each reason moved under it as a numbered note ("(1) …"), so the
    narrow reason column never wraps a sentence into a dozen lines."""
    notes = []
    for row, label in zip(rows, labels, strict=True):
        if row[-1]:
            notes.append(f"({len(notes) + 1}) {label}: {row[-1]}")
            row[-1] = f"({len(notes)})"
    doc.table(columns, rows, size=8, styles=styles, continued=msgs("common.continued"))
    for note in notes:
        doc.paragraph(note, 8, indent_in=0.05, after_in=0.02)
