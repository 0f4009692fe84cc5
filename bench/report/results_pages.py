"""Result sections of the report: summary table, accuracy across points, one page per point."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ventbench.bench.report import plots
from ventbench.bench.report.check_table import check_columns, check_row, notes_table
from ventbench.bench.report.evidence import budget_tables
from ventbench.bench.report.fmt import (
    settings_text,
    short_list,
    verdict_style,
)
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, LEFT_IN, Document, Style, axes_at
from ventbench.bench.report.reasons import recording_text, translate_reason
from ventbench.bench.report.source import NOT_TESTED, ReportData
from ventbench.bench.report.traces import read_excerpt
from ventbench.bench.report.worksheet import tolerance_half_width, worksheet
from ventbench.bench.report.worksheet_pages import worksheet_table
from ventbench.bench.session import safe_name

#: Disclosure bands of delivered VT (ISO 80601-2-80 [confirmed]): (key, low, high) mL, set value.
VT_BANDS = (("high", 300.0, math.inf), ("mid", 50.0, 300.0), ("low", -math.inf, 50.0))
#: Breaths shown either side of the representative breath of a point page.
WAVE_CONTEXT = 1
MAX_WAVE_SPAN_S = 24.0


def summary(doc: Document, data: ReportData, msgs: Messages) -> None:
    """The results summary: one row per point × check, paginated; NOT TESTED points with their reason."""
    doc.new_page()
    doc.heading(msgs("summary.title"))
    doc.paragraph(msgs("summary.intro"), 7.5)
    rows, styles, labels = [], [], []
    for point in data.points:
        word = str(point.get("verdict", "")).upper()
        if word == NOT_TESTED or not point.get("checks"):
            rows.append([str(point["id"]), msgs("summary.whole_point")] + [""] * 8
                        + [msgs.verdict(word), translate_reason(point.get("reason"), msgs)])
            styles.append({10: verdict_style(word), 0: Style(bold=True)})
            labels.append(str(point["id"]))
            continue
        for check in point["checks"]:
            rows.append(check_row(msgs, point, check, True))
            styles.append({10: verdict_style(check.get("verdict")), 0: Style(bold=True)})
            labels.append(f"{point['id']} {msgs.quantity(check['quantity'])}")
    notes_table(doc, check_columns(msgs, True), rows, styles, msgs, labels)


@dataclass
class _Series:
    sets: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    failing: list[bool] = field(default_factory=list)
    points: set[str] = field(default_factory=set)
    tol_abs: float = 0.0
    tol_rel: float = 0.0
    unit: str = ""

    def achieved_rel(self) -> float | None:
        s, e = np.abs(np.array(self.sets)), np.abs(np.array(self.errors))
        ok = s > 0
        if not ok.any():
            return None
        return float(max(0.0, float(np.max((e[ok] - self.tol_abs) / s[ok]))))


def _breath_values(point: Mapping[str, Any], check: Mapping[str, Any]):
    """(index, value, measured, flagged, failing) arrays over every breath of the point."""
    name = check.get("measured_as") or ""
    breaths = point.get("breaths") or []
    index = np.array([b.get("index", i) for i, b in enumerate(breaths)], dtype=float)
    vals = np.array([np.nan if b.get(name) is None else float(b[name]) for b in breaths], dtype=float)
    measured = np.array([bool(b.get("measured")) for b in breaths], dtype=bool)
    flagged = np.array([bool([f for f in b.get("flags") or [] if f]) for b in breaths], dtype=bool)
    fail_set = set(check.get("failing_breaths") or [])
    failing = np.array([int(i) in fail_set for i in index], dtype=bool)
    return index, vals, measured, flagged, failing


def _accuracy_series(data: ReportData) -> dict[tuple[str, str], _Series]:
    series: dict[tuple[str, str], _Series] = {}
    for point in data.points:
        for check in point.get("checks") or []:
            q, lim, set_value = check.get("quantity"), check.get("limit") or {}, check.get("set")
            if lim.get("abs") is None or set_value is None or (q == "vt" and point.get("mode") == "pc"):
                continue
            _, vals, measured, flagged, failing = _breath_values(point, check)
            use = measured & ~flagged & np.isfinite(vals)
            if not use.any():
                continue
            band = ""
            if q in ("vt", "vte"):
                band = next(k for k, lo, hi in VT_BANDS if lo <= float(set_value) < hi)
            s = series.setdefault((q, band), _Series(tol_abs=float(lim["abs"]), tol_rel=float(lim.get("rel") or 0),
                                                     unit=check.get("unit") or lim.get("unit", "")))
            s.sets += [float(set_value)] * int(use.sum())
            s.errors += list(vals[use] - float(set_value))
            s.failing += list(failing[use])
            s.points.add(str(point["id"]))
    return series


def accuracy(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Accuracy across all points: error vs set per quantity (VT by disclosure band), limit and achieved envelopes."""
    series = _accuracy_series(data)
    doc.new_page()
    doc.heading(msgs("accuracy.title"))
    doc.paragraph(msgs("accuracy.intro"), 7.5)
    if not series:
        doc.paragraph(msgs("accuracy.none"), 8.5, bold=True)
        return
    order = sorted(series, key=lambda k: (list(QUANTITY_ORDER).index(k[0]) if k[0] in QUANTITY_ORDER else 99,
                                          [b[0] for b in VT_BANDS].index(k[1]) if k[1] else 0))
    panel_w, panel_h, gap = (CONTENT_W_IN - 0.9) / 2, 1.55, 0.9
    sentences = []
    for i in range(0, len(order), 2):
        figure, top, _ = doc.block(panel_h + 0.75)
        for j, key in enumerate(order[i:i + 2]):
            s = series[key]
            title = msgs.quantity(key[0]) + (f" — {msgs('band.' + key[1])}" if key[1] else "")
            ax = axes_at(figure, LEFT_IN + 0.45 + j * (panel_w + gap), top - 0.2 - panel_h, panel_w, panel_h)
            sets = np.array(s.sets)
            plots.accuracy(ax, sets, np.array(s.errors), np.array(s.failing, dtype=bool), s.tol_abs, s.tol_rel,
                           s.achieved_rel(), (float(sets.min()), float(sets.max())), s.unit, title, msgs)
        sentences += [_sentence(series[k], k, msgs) for k in order[i:i + 2]]
    figure, top, _ = doc.block(0.25)
    plots.accuracy_legend(figure, LEFT_IN, top, msgs)
    doc.heading(msgs("accuracy.disclosure"), 2, keep_in=0.5)
    for text in sentences:
        doc.paragraph("• " + text, 8, indent_in=0.05, after_in=0.03)


QUANTITY_ORDER = ("vt", "vte", "pinsp", "pplat", "pip", "peep", "pmean", "rate", "ti", "te", "ie", "fio2", "leak")


def _sentence(s: _Series, key: tuple[str, str], msgs: Messages) -> str:
    rel = s.achieved_rel()
    worst = max(s.errors, key=abs)
    band = msgs("band." + key[1]) if key[1] else msgs("band.all")
    return msgs("accuracy.sentence", quantity=msgs.quantity(key[0]), band=band, abs=msgs.sig(s.tol_abs),
                unit=s.unit, rel=msgs.pct(rel) if rel is not None else msgs("common.missing"),
                worst=msgs.sig(worst, 4), n=len(s.errors), points=len(s.points),
                limit=f"±({msgs.sig(s.tol_abs)} {s.unit} + {msgs.sig(s.tol_rel * 100)} %)")


def _representative(point: Mapping[str, Any]) -> int | None:
    breaths = point.get("breaths") or []
    if not breaths:
        return None
    for check in point.get("checks") or []:
        if check.get("verdict") == "FAIL" and check.get("failing_breaths"):
            index, vals, _, _, failing = _breath_values(point, check)
            err = np.where(failing, np.abs(vals - float(check.get("set") or 0.0)), -np.inf)
            if np.isfinite(err).any():
                return int(np.nanargmax(err))
    measured = [i for i, b in enumerate(breaths) if b.get("measured")]
    flagged = [i for i in measured if [f for f in breaths[i].get("flags") or [] if f]]
    if flagged:
        return flagged[0]
    return measured[len(measured) // 2] if measured else len(breaths) // 2


def point_page(doc: Document, data: ReportData, point: Mapping[str, Any], msgs: Messages) -> None:
    """The points section: one point — settings, numbers, waveform excerpt, error strips, flags, notes."""
    pid = str(point["id"])
    doc.new_page()
    doc.section(msgs("point.section"))  # "N. Points" on the first point's page
    doc.heading(f"{msgs('point.title', id=pid)} — {msgs.verdict(point.get('verdict'))}", 2)
    breaths = point.get("breaths") or []
    measured = [b for b in breaths if b.get("measured")]
    gas = point.get("gas") or {}
    record = data.point_records.get(pid) or {}
    rows = [(msgs("point.mode"), str(point.get("mode", "")).upper() + " · " + settings_text(msgs, point.get("set") or {})),
            (msgs("point.lung"), settings_text(msgs, point.get("lung") or {})),
            (msgs("point.breaths"), msgs("point.breaths_text", n=len(breaths), settled=point.get("settled_at", "—"),
                                         measured=len(measured),
                                         first=measured[0].get("index", "—") if measured else "—",
                                         last=measured[-1].get("index", "—") if measured else "—")),
            (msgs("point.gas"), f"{gas.get('flow_condition') or '—'} → {gas.get('analysis_condition') or '—'} "
                                f"× {msgs.num(gas.get('btps_factor'), 4)}; {msgs('point.samples', n=point.get('samples', '—'))}"),
            (msgs("point.recording"), recording_text(record, msgs))]
    if point.get("incomplete"):
        rows.append((msgs("point.incomplete"), msgs("point.incomplete_text")))
    if point.get("note"):
        rows.append((msgs("point.note"), "⚑ " + str(point["note"])))
    notes = list(point.get("operator_notes") or record.get("notes") or [])
    rows.append((msgs("point.operator_notes"), "; ".join(notes) if notes else msgs("point.no_notes")))
    if point.get("verdict") != "PASS" and point.get("reason"):
        rows.append((msgs("point.reason"), translate_reason(point["reason"], msgs)))
    doc.key_values(rows, size=7.5, key_in=1.45)
    checks = point.get("checks") or []
    if checks:
        notes_table(doc, check_columns(msgs, False), [check_row(msgs, point, c, False) for c in checks],
                     [{9: verdict_style(c.get("verdict"))} for c in checks], msgs,
                     [msgs.quantity(c["quantity"]) for c in checks])
    for sheet in worksheet([point]):
        worksheet_table(doc, sheet, msgs)
    _waveform(doc, data, point, msgs)
    _strips(doc, point, msgs)
    flagged = [f"#{b.get('index', i)}: {', '.join(b.get('flags'))}" for i, b in enumerate(breaths)
               if [f for f in b.get("flags") or [] if f]]
    doc.paragraph(msgs("point.flags", list=short_list(flagged, 20)) if flagged else msgs("point.no_flags"), 7.5)
    budget_tables(doc, point, msgs)


def _waveform(doc: Document, data: ReportData, point: Mapping[str, Any], msgs: Messages) -> None:
    breaths = point.get("breaths") or []
    centre = _representative(point)
    path = data.root / "points" / safe_name(str(point["id"])) / "trace.csv"
    if centre is None or not path.exists():
        doc.paragraph(msgs("point.no_wave", file=path.relative_to(data.root).as_posix()), 8, bold=True)
        return
    shown = breaths[max(0, centre - WAVE_CONTEXT):centre + WAVE_CONTEXT + 1]
    t0 = float(shown[0]["t_start_s"]) - 0.2
    t1 = min(plots.breath_end(shown[-1]) + 0.2, t0 + MAX_WAVE_SPAN_S)
    excerpt = read_excerpt(path, t0, t1)
    if excerpt.t_s.size < 2:
        doc.paragraph(msgs("point.no_wave", file=path.relative_to(data.root).as_posix()), 8, bold=True)
        return
    gas = point.get("gas") or {}
    factor = float(gas.get("btps_factor") or 1.0)
    condition = gas.get("analysis_condition") or excerpt.flow_condition
    doc.ensure(3.0)  # the caption stays with its figure
    doc.paragraph(msgs("point.wave_caption", first=shown[0].get("index"), last=shown[-1].get("index"),
                       centre=breaths[centre].get("index"), factor=msgs.num(factor, 4),
                       file=excerpt.flow_condition, condition=condition), 7, after_in=0.0)
    h, gap = 0.66, 0.14  # the gap keeps stacked tick labels apart
    figure, top, _ = doc.block(3 * h + 2 * gap + 0.8)
    axes = [axes_at(figure, LEFT_IN + 0.55, top - 0.05 - (k + 1) * h - k * gap, CONTENT_W_IN - 0.6, h)
            for k in range(3)]
    plots.waveform(axes, excerpt, shown, factor, msgs, targets=wave_targets(point))


#: Checked quantities drawn on the waveform as set-value and limit lines: quantity → axis.
WAVE_TARGETS = {"peep": "paw", "vt": "volume"}


def wave_targets(point: Mapping[str, Any]) -> dict[str, tuple[float, float | None]]:
    """Set value and limit half-width per waveform axis, from the point's checks (PEEP on the
    pressure axis, delivered VT on the volume axis), in the axis' unit."""
    out: dict[str, tuple[float, float | None]] = {}
    for check in point.get("checks") or []:
        axis = WAVE_TARGETS.get(str(check.get("quantity")))
        if axis is None or check.get("set") is None:
            continue
        out[axis] = (float(check["set"]), tolerance_half_width(check.get("limit") or {}, float(check["set"])))
    return out


def _strips(doc: Document, point: Mapping[str, Any], msgs: Messages) -> None:
    series = []
    for check in point.get("checks") or []:
        lim = check.get("limit") or {}
        if check.get("set") is None or not check.get("measured_as") or lim.get("abs") is None:
            continue
        index, vals, measured, flagged, failing = _breath_values(point, check)
        if not np.isfinite(vals).any():
            continue
        ref = np.abs(vals) if lim.get("of") == "actual" else np.full(vals.shape, abs(float(check["set"])))
        half = float(lim["abs"]) + float(lim.get("rel") or 0) * ref
        unit = check.get("unit") or lim.get("unit", "")
        mean_half = float(np.nanmean(half)) if np.isfinite(half).any() else float("nan")
        label = msgs("strip.label", quantity=msgs.quantity(check["quantity"]), limit=msgs.sig(mean_half, 3),
                     unit=unit, verdict=msgs.verdict(check.get("verdict")))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (vals - float(check["set"])) / half
        series.append({"label": label, "index": index, "ratio": ratio, "measured": measured & ~flagged,
                       "failing": failing})
    if not series:
        return
    doc.paragraph(msgs("strip.caption"), 7, after_in=0.0)
    h = 1.15
    rows = (len(series) + 3 + plots.STRIP_LEGEND_COLS - 1) // plots.STRIP_LEGEND_COLS
    figure, top, _ = doc.block(h + 0.5 + 0.17 * rows)
    ax = axes_at(figure, LEFT_IN + 0.55, top - 0.08 - h, CONTENT_W_IN - 0.6, h)
    plots.error_strip(ax, series, msgs)


def point_pages(doc: Document, data: ReportData, msgs: Messages) -> None:
    """One page (or more) per tested point, in planned order."""
    for point in data.points:
        if str(point.get("verdict")).upper() != NOT_TESTED and point.get("mode") == "steady":
            from ventbench.bench.report.steady_pages import (
                steady_point_page,  # windows, not breaths
            )

            steady_point_page(doc, data, point, msgs)
        elif str(point.get("verdict")).upper() != NOT_TESTED:
            point_page(doc, data, point, msgs)
