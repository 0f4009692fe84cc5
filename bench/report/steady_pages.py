"""The report page of a steady point (CPAP, high flow): settings, channel roles, settle, the
checks, oxygen accounting, a plot of every window's values against the limit, a pressure and
flow excerpt, and the window table. Breath points keep :func:`results_pages.point_page`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ventbench.bench.report.check_table import check_columns, check_row, notes_table
from ventbench.bench.report.evidence import budget_tables
from ventbench.bench.report.fmt import settings_text, verdict_style
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, LEFT_IN, Column, Document, axes_at
from ventbench.bench.report.reasons import recording_text, translate_reason
from ventbench.bench.report.source import ReportData
from ventbench.bench.report.traces import read_excerpt
from ventbench.bench.session import safe_name

EXCERPT_S = 20.0


def _check_table(doc: Document, point: Mapping[str, Any], msgs: Messages) -> None:
    checks = point.get("checks") or []
    if checks:
        notes_table(doc, check_columns(msgs, False), [check_row(msgs, point, c, False) for c in checks],
                    [{9: verdict_style(c.get("verdict"))} for c in checks], msgs,
                    [msgs.quantity(c["quantity"]) for c in checks])


def _limit_table(doc: Document, point: Mapping[str, Any], msgs: Messages) -> None:
    """The point's own limits with their source and confidence (a steady point carries its table's)."""
    from ventbench.bench.report.fmt import limit_text

    rows = [[c["quantity"], limit_text(msgs, c["limit"]), str(c["limit"].get("confidence", "")),
             str(c["limit"].get("source", ""))] for c in point.get("checks") or [] if c.get("limit")]
    if rows:
        doc.table([Column(msgs("steady.col_quantity"), 0.8), Column(msgs("table.limit"), 1.2),
                   Column(msgs("steady.col_confidence"), 0.85),
                   Column(msgs("steady.col_source"), CONTENT_W_IN - 2.85)], rows, size=6.2)


def _window_plot(doc: Document, point: Mapping[str, Any], msgs: Messages) -> None:
    """One panel per checked quantity: window values over time, measured ones filled, the set
    value and the limit (band or cap)."""
    windows = point.get("windows") or []
    checks = [c for c in point.get("checks") or [] if windows and c["quantity"] in windows[0]]
    if not checks:
        return
    doc.paragraph(msgs("steady.plot_caption"), 7, after_in=0.0)
    n = len(checks)
    cols = 3
    rows = (n + cols - 1) // cols
    h, gap = 0.95, 0.42
    figure, top, _ = doc.block(rows * (h + gap) + 0.35)
    w = (CONTENT_W_IN - 0.6) / cols - 0.45
    t = np.array([float(win["t_start_s"]) for win in windows]) - float(windows[0]["t_start_s"])
    measured = np.array([bool(win.get("measured")) for win in windows])
    for k, check in enumerate(checks):
        q = check["quantity"]
        r, c = divmod(k, cols)
        ax = axes_at(figure, LEFT_IN + 0.5 + c * (w + 0.45), top - (r + 1) * (h + gap) + 0.1, w, h)
        y = np.array([np.nan if win.get(q) is None else float(win[q]) for win in windows])
        ax.plot(t, y, color="0.55", lw=0.6)
        ax.plot(t[~measured], y[~measured], "o", mfc="white", mec="0.4", ms=3)
        ax.plot(t[measured], y[measured], "o", color="black", ms=3)
        lim = check.get("limit") or {}
        set_value = check.get("set")
        if set_value is not None:
            ax.axhline(float(set_value), color="0.3", lw=0.6, ls="-")
            if lim.get("abs") is not None:
                half = float(lim["abs"]) + float(lim.get("rel") or 0.0) * abs(float(set_value))
                ax.axhspan(float(set_value) - half, float(set_value) + half, color="0.9", zorder=0)
        for cap in ("max", "min"):
            if lim.get(cap) is not None:
                ax.axhline(float(lim[cap]), color="0.2", lw=0.8, ls="--")
        ax.set_title(f"{q} ({check.get('unit', '')}) — {msgs.verdict(check.get('verdict'))}", fontsize=6.5)
        ax.tick_params(labelsize=5.5)
        ax.set_xlabel(msgs("steady.window_start"), fontsize=5.5, labelpad=1)


def _excerpt(doc: Document, data: ReportData, point: Mapping[str, Any], msgs: Messages) -> None:
    """Pressure and flow over the first measured window (the swing while the patient breathes)."""
    windows = point.get("windows") or []
    first = next((w for w in windows if w.get("measured")), windows[0] if windows else None)
    path = data.root / "points" / safe_name(str(point["id"])) / "trace.csv"
    if first is None or not path.exists():
        doc.paragraph(msgs("point.no_wave", file=path.relative_to(data.root).as_posix()), 8, bold=True)
        return
    t0 = float(first["t_start_s"])
    ex = read_excerpt(path, t0, t0 + EXCERPT_S)
    if ex.t_s.size < 2:
        return
    doc.paragraph(msgs("steady.excerpt_caption", s=msgs.sig(EXCERPT_S, 3), t0=msgs.sig(t0, 4)), 7, after_in=0.0)
    h = 0.75
    figure, top, _ = doc.block(2 * h + 0.55)
    for k, (values, label) in enumerate(((ex.paw_cmh2o, "Paw, cmH2O"), (ex.flow_lpm, "flow, L/min"))):
        ax = axes_at(figure, LEFT_IN + 0.55, top - 0.05 - (k + 1) * h - k * 0.1, CONTENT_W_IN - 0.6, h)
        ax.plot(ex.t_s - t0, values, color="black", lw=0.5)
        ax.set_ylabel(label, fontsize=6)
        ax.tick_params(labelsize=5.5)


def _window_table(doc: Document, point: Mapping[str, Any], msgs: Messages) -> None:
    windows = point.get("windows") or []
    if not windows:
        return
    qs = [q for q in ("paw", "paw_swing", "flow", "fio2", "o2_flow", "supply_p") if q in windows[0]]
    cols = [Column(msgs("steady.col_window"), 0.5, "right"), Column(msgs("steady.col_t"), 0.8, "right")]
    cols += [Column(q, 0.72, "right") for q in qs]
    cols.append(Column(msgs("steady.col_state"), CONTENT_W_IN - 1.3 - 0.72 * len(qs)))
    rows = []
    for j, win in enumerate(windows):
        state = msgs("steady.measured") if win.get("measured") else ""
        if win.get("flags"):
            state = (state + " " if state else "") + msgs("steady.flagged", list=", ".join(win["flags"]))
        rows.append([str(j), f"{msgs.num(win['t_start_s'], 1)}–{msgs.num(win['t_end_s'], 1)}"]
                    + [msgs.sig(win.get(q), 5) if win.get(q) is not None else "—" for q in qs] + [state])
    doc.table(cols, rows, size=6.2)


def steady_point_page(doc: Document, data: ReportData, point: Mapping[str, Any], msgs: Messages) -> None:
    """The points section's page of a steady point."""
    pid = str(point["id"])
    doc.new_page()
    doc.section(msgs("point.section"))  # "N. Points" on the first point's page
    doc.heading(f"{msgs('point.title', id=pid)} — {msgs.verdict(point.get('verdict'))}", 2)
    record = data.point_records.get(pid) or {}
    gas = point.get("gas") or {}
    rule = point.get("rule") or {}
    ox = point.get("oxygen") or {}
    roles = point.get("channels") or {}
    settled = point.get("settled_at_s")
    rows = [(msgs("point.mode"), "STEADY · " + settings_text(msgs, point.get("set") or {})),
            (msgs("steady.patient"), settings_text(msgs, point.get("lung") or {}) or "—"),
            (msgs("steady.channels"), "; ".join(f"{r}: {c}" for r, c in roles.items()) or "—"),
            (msgs("steady.windows"), msgs("steady.windows_text", window=msgs.sig(rule.get("window_s"), 3),
                                          settled="—" if settled is None else msgs.sig(settled, 4),
                                          k=rule.get("settle_windows", "—"), n=len(point.get("measured_windows") or []),
                                          criterion=rule.get("criterion", "—"))),
            (msgs("steady.oxygen"), msgs("steady.oxygen_text", o2=msgs.sig(ox.get("o2_lpm"), 4),
                                         fio2=msgs.sig(ox.get("fio2_pct"), 4), used=msgs.sig(ox.get("o2_used_l"), 4),
                                         s=msgs.sig(ox.get("duration_s"), 3))
             if ox.get("o2_lpm") is not None else msgs("steady.no_oxygen")),
            (msgs("point.gas"), f"{gas.get('flow_condition') or '—'} → {gas.get('analysis_condition') or '—'} "
                                f"× {msgs.num(gas.get('btps_factor'), 4)}; {msgs('point.samples', n=point.get('samples', '—'))}"),
            (msgs("point.recording"), recording_text(record, msgs))]
    if point.get("note"):
        rows.append((msgs("point.note"), "⚑ " + str(point["note"])))
    if point.get("verdict") != "PASS" and point.get("reason"):
        rows.append((msgs("point.reason"), translate_reason(point["reason"], msgs)))
    doc.key_values(rows, size=7.5, key_in=1.45)
    _check_table(doc, point, msgs)
    _limit_table(doc, point, msgs)
    _window_plot(doc, point, msgs)
    _excerpt(doc, data, point, msgs)
    _window_table(doc, point, msgs)
    budget_tables(doc, point, msgs)
