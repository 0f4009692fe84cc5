"""Configuration as labelled tables, never as a raw dump (issue 14): the session's frozen
configuration (``start.json``) in the appendix, and the breath-detection settings in the
set-up, each value in its own row or cell with its label.

A nested record becomes rows of "section › key" and a readable value (lists of plain values
joined, numbers localised); lists of records (the protocol's points, instruments) become a
small table each, so no JSON braces or quotes ever reach a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, Column, Document

__all__ = ["config_tables", "detection_table", "plain"]

#: Keys of start.json left out of the appendix: shown in full elsewhere in the report (the
#: points in section 2, the limits with their sources in section 3).
SHOWN_ELSEWHERE = {"points", "notes", "schema", "argv", "software", "tolerances"}
SEP = " › "


def plain(value: Any, msgs: Messages) -> str:
    """A configuration value as text: numbers localised, lists joined, None as "—"."""
    if value is None:
        return msgs("common.missing")
    if isinstance(value, bool):
        return msgs("config.yes") if value else msgs("config.no")
    if isinstance(value, int | float):
        return msgs.sig(value, 6)
    if isinstance(value, list | tuple):
        return msgs.join([plain(v, msgs) for v in value]) if value else msgs("common.missing")
    if isinstance(value, Mapping):
        return "; ".join(f"{k} {plain(v, msgs)}" for k, v in value.items()) or msgs("common.missing")
    return str(value)


def _rows(prefix: str, value: Any, msgs: Messages, out: list[list[str]],
          lists: list[tuple[str, list[Mapping[str, Any]]]]) -> None:
    if isinstance(value, Mapping):
        if not value:
            out.append([prefix, msgs("common.missing")])
        for key, sub in value.items():
            if key in SHOWN_ELSEWHERE:
                continue
            _rows(f"{prefix}{SEP}{key}" if prefix else str(key), sub, msgs, out, lists)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        lists.append((prefix, list(value)))
    else:
        out.append([prefix, plain(value, msgs)])


def _record_table(doc: Document, title: str, records: list[Mapping[str, Any]], msgs: Messages) -> None:
    """A list of records as one table: a row per record, a column per key (at most six;
    further keys are folded into the last column)."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record if k not in keys]
    shown, rest = keys[:5], keys[5:]
    doc.paragraph(title, 8, bold=True, after_in=0.02)
    widths = [CONTENT_W_IN / (len(shown) + (1 if rest else 0))] * (len(shown) + (1 if rest else 0))
    columns = [Column(k, w) for k, w in zip(shown + ([msgs("config.more")] if rest else []), widths, strict=True)]
    rows = []
    for record in records:
        row = [plain(record.get(k), msgs) for k in shown]
        if rest:
            row.append("; ".join(f"{k}: {plain(record.get(k), msgs)}" for k in rest if k in record))
        rows.append(row)
    doc.table(columns, rows, size=8, continued=msgs("common.continued"))


def config_tables(doc: Document, config: Mapping[str, Any], msgs: Messages) -> None:
    """The frozen configuration: a "setting / value" table, then one table per list of records."""
    rows: list[list[str]] = []
    lists: list[tuple[str, list[Mapping[str, Any]]]] = []
    _rows("", config, msgs, rows, lists)
    doc.table([Column(msgs("config.setting"), 2.6), Column(msgs("config.value"), CONTENT_W_IN - 2.6)], rows,
              size=8, continued=msgs("common.continued"))
    for title, records in lists:
        _record_table(doc, title, records, msgs)


def detection_table(doc: Document, segmentation: Mapping[str, Mapping[str, Any]], msgs: Messages) -> None:
    """Breath-detection settings: a row per setting, a column per point group."""
    groups = sorted(segmentation)
    if not groups:
        doc.paragraph(msgs("common.missing"), 8)
        return
    names: list[str] = []
    for group in groups:
        names += [k for k in segmentation[group] if k not in names]
    first = 2.4
    width = (CONTENT_W_IN - first) / len(groups)
    columns = [Column(msgs("config.setting"), first)] + [
        Column(g or msgs("setup.default_group"), width, "right") for g in groups]
    rows = [[msgs.get(f"detection.{n}", n)] + [plain(segmentation[g].get(n), msgs) for g in groups] for n in names]
    doc.table(columns, rows, size=8)
