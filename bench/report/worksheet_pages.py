"""The worksheet of readings on a point page (issue 14): one row per judged breath, one column
per checked quantity, then set value, mean, error, tolerance, U and verdict.

The cells come from :func:`bench.report.worksheet.worksheet_cells`, the same ones the
spreadsheet (``report --xlsx``) writes.
"""

from __future__ import annotations

from ventbench.bench.report.fmt import verdict_style
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, Column, Document, Style
from ventbench.bench.report.worksheet import Sheet, worksheet_cells

#: Width of the breath-number column, inches; the quantities share the rest.
BREATH_COL_IN = 1.0
#: Font size of the worksheet, pt (nothing in the report is under 8 pt).
SIZE_PT = 8.0


def worksheet_table(doc: Document, sheet: Sheet, msgs: Messages) -> None:
    """Draw the worksheet of one point (heading, table, how to read the marks)."""
    if not sheet.entries:
        return
    header, body, footer = worksheet_cells(sheet, msgs)
    n = len(sheet.entries)
    width = (CONTENT_W_IN - BREATH_COL_IN) / n
    columns = [Column(header[0], BREATH_COL_IN)] + [Column(h, width, "right") for h in header[1:]]
    doc.heading(msgs("worksheet.heading"), 3, keep_in=0.6)
    doc.paragraph(msgs("worksheet.intro"), 8, after_in=0.02)
    styles: list[dict[int, Style]] = [{} for _ in body]
    styles += [{0: Style(bold=True)} for _ in footer[:-1]]
    styles.append({0: Style(bold=True), **{j + 1: verdict_style(e.verdict) for j, e in enumerate(sheet.entries)}})
    doc.table(columns, body + footer, size=SIZE_PT, styles=styles, continued=msgs("common.continued"))
