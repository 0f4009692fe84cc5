"""The inspection checklist in the report: one table of the items and their answers.

Everything comes from the ``inspection`` block of ``results.json`` (:mod:`bench.inspection`),
never from the protocol file: item (in the report's language when the protocol gives it),
kind, required, answer, note, who answered and when, then the inspection's verdict and the
sources of the items. Nothing is drawn for a session whose protocol has no items.
"""

from __future__ import annotations

from typing import Any

from ventbench.bench.report.fmt import verdict_style
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, Column, Document, Style
from ventbench.bench.report.reasons import translate_reason
from ventbench.bench.report.source import ReportData

__all__ = ["section"]

WIDTHS = (2.45, 0.65, 0.4, 0.95, 1.35)  #: item, kind, required, answer, note; the rest: by/when


def _item_text(item: dict[str, Any], msgs: Messages) -> str:
    text = (item.get("text_id") if msgs.lang == "id" else "") or item.get("text") or ""
    return f"{item.get('id')}: {text}"


def _answer(item: dict[str, Any], msgs: Messages) -> str:
    return msgs(f"inspection.answer_{item.get('answer') or 'none'}")


def _by(item: dict[str, Any]) -> str:
    when = str(item.get("time_utc") or "").replace("T", " ")[:19]
    return "\n".join(filter(None, [str(item.get("by") or ""), when])) or "—"


def _answered_by(block: dict[str, Any], msgs: Messages) -> str:
    how = block.get("answered_by")
    if how == "file":
        return msgs("inspection.answered_file", file=block.get("file") or "—",
                    sha=str(block.get("file_sha256") or "—")[:16] + "…")
    if how in ("terminal", "automated"):
        return msgs(f"inspection.answered_{how}")
    return ""


def rows(block: dict[str, Any], msgs: Messages) -> tuple[list[list[str]], list[dict[int, Style]]]:
    """The table's rows (and their styles: a failed or unanswered required item in bold)."""
    out, styles = [], []
    for item in block.get("items") or []:
        out.append([_item_text(item, msgs), msgs(f"inspection.kind_{item.get('kind')}"),
                    msgs("inspection.required_yes" if item.get("required") else "inspection.required_no"),
                    _answer(item, msgs), translate_reason(item.get("note"), msgs), _by(item)])
        bad = item.get("verdict") in ("FAIL", "INCONCLUSIVE")
        styles.append({3: Style(bold=True, color=verdict_style(item["verdict"]).color)} if bad else {})
    return out, styles


def section(doc: Document, data: ReportData, msgs: Messages) -> None:
    """The inspection checklist page (nothing when the session has no inspection)."""
    block = data.results.get("inspection")
    if not block:
        return
    doc.new_page()
    doc.heading(msgs("inspection.section"))
    doc.paragraph(msgs("inspection.intro"), 8)
    answered = _answered_by(block, msgs)
    if answered:
        doc.paragraph(answered, 8)
    table, styles = rows(block, msgs)
    names = ("item", "kind", "required", "answer", "note")
    cols = [Column(msgs(f"inspection.col_{k}"), w) for k, w in zip(names, WIDTHS, strict=True)]
    cols.append(Column(msgs("inspection.col_by"), CONTENT_W_IN - sum(WIDTHS)))
    doc.table(cols, table, size=6.5, styles=styles, continued=msgs("common.continued"))
    verdict = block.get("verdict")
    doc.paragraph(msgs("inspection.verdict", verdict=msgs.verdict(verdict))
                  + (f" — {translate_reason(block['reason'], msgs)}" if block.get("reason") else ""), 9, bold=True,
                  color=verdict_style(verdict).color)
    sources = [(str(i.get("id")), str(i.get("source"))) for i in block.get("items") or [] if i.get("source")]
    if sources:
        doc.heading(msgs("inspection.source"), 3, keep_in=0.4)
        for iid, source in sources:
            doc.paragraph(f"{iid}: {source}", 7, indent_in=0.1, after_in=0.02)
