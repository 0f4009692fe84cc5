"""``ventbench report SESSION --xlsx FILE``: the worksheet of readings as a spreadsheet
(openpyxl), since laboratories keep their worksheets in spreadsheets.

The sheet holds, point after point, exactly the blocks of the PDF's worksheets (the same
:func:`bench.report.worksheet.worksheet_cells` texts), with the readings and the summary
numbers also as numeric cells so that they can be recomputed. The workbook's creation and
modification times are the session's start: the same session writes the same cells.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from ventbench.bench.report.fmt import NBSP
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.source import ReportData
from ventbench.bench.report.worksheet import Sheet, worksheet, worksheet_cells

__all__ = ["write_xlsx"]

BOLD = Font(bold=True)


def _numbers(sheet: Sheet) -> tuple[list[list[float | None]], list[list[float | None]]]:
    """Numeric twins of the cells: readings per breath row, then set, mean, error, U."""
    body = [[(e.readings.get(n) or (None,))[0] for e in sheet.entries] for n in sheet.breaths]
    footer = [[e.set_value for e in sheet.entries], [e.mean for e in sheet.entries],
              [e.error for e in sheet.entries], [e.tolerance for e in sheet.entries],
              [e.u_expanded for e in sheet.entries], None]
    return body, footer


def write_xlsx(data: ReportData, msgs: Messages, path: str | Path) -> Path:
    """Write the worksheet of every tested point of ``data`` to ``path`` (.xlsx).

    Numeric cells hold the numbers as ``results.json`` has them (units in the column
    headers); the marks (✗ outside the limit, ⚑ flagged) are in a text column per quantity
    to the right, so that the numeric columns stay numbers.
    """
    book = Workbook()
    ws = book.active
    ws.title = msgs("worksheet.sheet_title")[:31]
    ws.append([msgs("cover.title"), data.session_id])
    ws.append([msgs("worksheet.intro")])
    row_font = []
    for sheet in worksheet(data.points):
        header, body, footer = worksheet_cells(sheet, msgs)
        nbody, nfooter = _numbers(sheet)
        ws.append([])
        ws.append([msgs("worksheet.point", id=sheet.point_id, mode=sheet.mode.upper(),
                        verdict=msgs.verdict(sheet.verdict))])
        row_font.append(ws.max_row)
        ws.append(header + [""] + [f"{h} ✗/⚑" for h in header[1:]])
        row_font.append(ws.max_row)
        for texts, numbers, number in zip(body, nbody, sheet.breaths, strict=True):
            marks = [t.split(" ", 1)[1] if " " in t else "" for t in texts[1:]]
            ws.append([number] + numbers + [""] + marks)
        for texts, numbers in zip(footer, nfooter, strict=True):
            cells = texts[1:] if numbers is None else [t if x is None else x for t, x in zip(texts[1:], numbers, strict=True)]
            ws.append([texts[0]] + [c.replace(NBSP, " ") if isinstance(c, str) else c for c in cells])
    for r in row_font:
        for cell in ws[r]:
            cell.font = BOLD
    ws.column_dimensions["A"].width = 16
    book.properties.created = data.started_utc.replace(tzinfo=None)
    book.properties.modified = data.started_utc.replace(tzinfo=None)
    book.properties.creator = "ventbench report"
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target
