"""The reliability section of a report: summary tables, hourly trends, histograms, event
timeline and the table of events.

Numbers come from the ``reliability`` block of ``results.json`` (never recomputed); the
histograms read the breath store (``SESSION/reliability/breaths-*.bin``) and the timeline
and table read ``SESSION/reliability/events.jsonl``, one pass each. The figures are drawn
by the axes-level functions of ``bench/reliability/report_pages.py``.

Bounded memory: :class:`~bench.report.layout.Document` keeps every page until the footers
("page n of m") are stamped, so the event table is capped at :data:`EVENT_TABLE_MAX_ROWS`
rows (≈ 11 pages; rare events have precedence, see :func:`table_events`); the section says
how many events there are in all and that every one is in ``events.jsonl`` (hashed in the
appendix). A 14-day run's 336 hourly points and ≈ 400 000 breaths make figures of fixed
size (the histogram bins, the hourly line).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ventbench.bench.reliability import report_pages as figs
from ventbench.bench.reliability.config import QUANTITIES
from ventbench.bench.reliability.events import EVENTS_FILE, iter_events
from ventbench.bench.reliability.store import read_breaths
from ventbench.bench.report import plots
from ventbench.bench.report.fmt import verdict_style
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import (
    CONTENT_W_IN,
    GREY,
    LEFT_IN,
    Column,
    Document,
    Style,
    axes_at,
)
from ventbench.bench.report.reasons import translate_reason
from ventbench.bench.report.reliability_front import HOUR_S, block, config, hours
from ventbench.bench.report.source import ReportData
from ventbench.errors import BenchError, ConfigError

#: Most rows of the event table (the rest are counted and in events.jsonl).
EVENT_TABLE_MAX_ROWS = 600
#: Kinds that can come by the thousand (line noise, single out-of-limit breaths): over the
#: cap they give way to every other event, so a day-10 disconnect is never left out.
FREQUENT_KINDS = ("corrupt_data", "out_of_limit", "oxygen")  # oxygen: one per 600 s of O2 data
DATA_DIR = "reliability"


def _q(msgs: Messages, q: str) -> str:
    return msgs.get(f"reliability.quantity.{q}", q)


def _labels(msgs: Messages) -> dict[str, str]:
    return {q: msgs.get(f"reliability.label.{q}", q) for q in QUANTITIES}


def _limits(data: ReportData) -> dict[str, tuple[float, float]]:
    return {q: (float(v[0]), float(v[1])) for q, v in (config(data).get("limits") or {}).items()}


def _oxygen_rows(ox: dict | None, msgs: Messages) -> list[tuple[str, str]]:
    """The O2 used over the run and the mean O2 flow, or "not measured" (never 0)."""
    if ox is None:  # a session written before the oxygen block existed
        return []
    if not ox.get("measured"):
        return [(msgs("reliability.oxygen"), msgs("reliability.oxygen_not_measured", channel=ox.get("channel", "")))]
    return [(msgs("reliability.oxygen"),
             msgs("reliability.oxygen_text", litres=msgs.num(ox["o2_used_l"], 1), condition=ox.get("flow_condition") or "?",
                  covered=hours(msgs, ox["covered_s"]), channel=ox["channel"])),
            (msgs("reliability.oxygen_mean"),
             msgs("reliability.oxygen_mean_text", lpm=msgs.num(ox["mean_o2_lpm"], 3), lph=msgs.num(ox["o2_l_per_h"], 1)))]


def summary(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Uptime, breaths, gaps, out-of-limit breaths, drift, variability, event counts."""
    b = block(data)
    doc.new_page()
    doc.heading(msgs("reliability.section"))
    doc.heading(msgs("reliability.summary"), 2)
    gap, br = b["longest_gap"], b["breaths"]
    rows = [
        (msgs("cover.overall"), msgs.verdict(b["verdict"])),
        (msgs("reliability.covered"), msgs("reliability.covered_text", ran=hours(msgs, b["span_s"]),
                                           duration=hours(msgs, b["duration_s"]), segments=b["segments"])),
        (msgs("reliability.uptime"), f"{msgs.num(b['uptime_pct'], 4)} %"),
        (msgs("reliability.without_data"), f"{msgs.num(b['data_gap_s'], 1)} s"),
        (msgs("reliability.sensor_faults"), f"{msgs.num(b['sensor_fault_s'], 1)} s"),
        (msgs("reliability.longest_gap"), msgs("reliability.none") if gap is None else
         msgs("reliability.longest_gap_text", s=msgs.num(gap["duration_s"], 1), kind=gap["kind"],
              h=hours(msgs, gap["t_s"]))),
        (msgs("reliability.breaths"), msgs("reliability.breaths_text", total=br["total"], trusted=br["trusted"],
                                           expected=br["expected"])),
        (msgs("reliability.missed"), str(br["missed"])),
    ]
    if b.get("store_dropped_bytes"):
        rows.append((msgs("reliability.store_dropped"), str(b["store_dropped_bytes"])))
    rows += _oxygen_rows(b.get("oxygen"), msgs)
    doc.key_values(rows, size=8.5, key_in=2.2)
    doc.heading(msgs("reliability.out_of_limit"), 2, keep_in=0.6)
    rows = [[_q(msgs, q), f"[{msgs.sig(o['limit'][0], 6)}, {msgs.sig(o['limit'][1], 6)}]", str(o["breaths"]),
             str(o["longest_run_breaths"]), hours(msgs, o["longest_run_t_s"])]
            for q, o in b["out_of_limit"].items()]
    widths = [1.9, 1.3, 1.2, 1.3]
    keys = ("quantity", "limit", "outside", "longest_run", "at")
    cols = [Column(msgs(f"reliability.col_{k}"), w, "left" if k == "quantity" else "right")
            for k, w in zip(keys, [*widths, CONTENT_W_IN - sum(widths)], strict=True)]
    doc.table(cols, rows, size=7.5)
    _drift(doc, b, msgs)
    doc.heading(msgs("reliability.variability"), 2, keep_in=0.6)
    rows = [[_q(msgs, q), msgs.sig(v["mean"]), msgs.sig(v["sd"]), msgs.sig(v["cv_pct"])]
            for q, v in b["variability"].items()]
    widths = [1.9, 1.3, 1.3]
    cols = [Column(msgs(f"reliability.col_{k}"), w, "left" if k == "quantity" else "right")
            for k, w in zip(("quantity", "mean", "sd", "cv"), [*widths, CONTENT_W_IN - sum(widths)], strict=True)]
    doc.table(cols, rows, size=7.5)
    doc.heading(msgs("reliability.events"), 2, keep_in=0.6)
    if b["events"]:
        doc.table([Column(msgs("reliability.col_kind"), 2.4), Column(msgs("reliability.col_count"), 1.0, "right")],
                  [[k, str(n)] for k, n in sorted(b["events"].items())], size=7.5)
    else:
        doc.paragraph(msgs("reliability.no_events"), 8)


def _drift(doc: Document, b: dict[str, Any], msgs: Messages) -> None:
    doc.heading(msgs("reliability.drift"), 2, keep_in=0.8)
    rows, styles = [], []
    for q, d in b["drift"].items():
        ci = d.get("ci95_per_24h")
        rows.append([_q(msgs, q), msgs.sig(d.get("slope_per_24h")),
                     "—" if ci is None else f"[{msgs.sig(ci[0])}, {msgs.sig(ci[1])}]",
                     "—" if d.get("limit_per_24h") is None else f"± {msgs.sig(d['limit_per_24h'], 6)}",
                     str(d.get("n", "—")), msgs.verdict(d.get("verdict")), translate_reason(d.get("reason"), msgs)])
        styles.append({5: verdict_style(d.get("verdict"))})
    widths = [1.45, 0.9, 1.35, 0.65, 0.6, 1.1]
    keys = ("quantity", "slope", "ci", "drift_limit", "n", "verdict", "reason")
    cols = [Column(msgs(f"reliability.col_{k}"), w, "left" if k in ("quantity", "verdict", "reason") else "right")
            for k, w in zip(keys, [*widths, CONTENT_W_IN - sum(widths)], strict=True)]
    doc.table(cols, rows, size=7, styles=styles)
    doc.paragraph(msgs("reliability.drift_note"), 7)


def trends(doc: Document, data: ReportData, msgs: Messages) -> None:
    """One panel per quantity: hourly mean, min–max band, limits dashed."""
    doc.new_page()
    doc.heading(msgs("reliability.trends"), 2)
    doc.paragraph(msgs("reliability.trends_caption"), 7.5)
    n, h, gap = len(QUANTITIES), 1.85, 0.18
    figure, top, _ = doc.block(n * h + (n - 1) * gap + 0.7)
    axes = [axes_at(figure, LEFT_IN + 0.6, top - 0.3 - (k + 1) * h - k * gap, CONTENT_W_IN - 0.7, h)
            for k in range(n)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    figs.draw_trends(axes, block(data)["hourly"], _limits(data), _labels(msgs),
                     (msgs("reliability.legend_band"), msgs("reliability.legend_mean"),
                      msgs("reliability.legend_limit")), end_h=float(block(data)["span_s"] or 0.0) / HOUR_S)
    for ax in axes:
        plots.localise_axes(ax, msgs)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel(msgs("reliability.x_label"))
    axes[0].legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False)


def histograms(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Every unflagged breath per quantity (the breath store, read once)."""
    try:
        rec, _ = read_breaths(data.root / DATA_DIR)
    except (BenchError, OSError, ValueError) as error:
        raise ConfigError(f"{data.root / DATA_DIR}: cannot read the breath store: {error}") from None
    doc.heading(msgs("reliability.histograms"), 2, keep_in=4.0)
    doc.paragraph(msgs("reliability.histograms_caption", bins=figs.HIST_BINS), 7.5)
    h, w, gap_x, gap_y = 2.6, (CONTENT_W_IN - 1.3) / 2, 0.75, 0.75
    figure, top, _ = doc.block(2 * h + gap_y + 0.75)
    axes = [axes_at(figure, LEFT_IN + 0.5 + (k % 2) * (w + gap_x), top - 0.25 - (k // 2 + 1) * h - (k // 2) * gap_y,
                    w, h) for k in range(len(QUANTITIES))]
    counts = figs.draw_histograms(axes, rec, _limits(data), _labels(msgs))
    del rec
    for ax, q in zip(axes, QUANTITIES, strict=True):
        plots.localise_axes(ax, msgs)
        ax.set_title(msgs("reliability.hist_n", n=counts[q]), fontsize=8)
        ax.set_ylabel(msgs("reliability.hist_y"))


def events(doc: Document, data: ReportData, msgs: Messages) -> None:
    """Timeline of every event, then the event table (capped, see module doc)."""
    path = data.root / DATA_DIR / EVENTS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: event log not found (a reliability session's events)")
    b = block(data)
    doc.new_page()
    doc.heading(msgs("reliability.timeline"), 2)
    doc.paragraph(msgs("reliability.timeline_caption"), 7.5)
    times = figs.event_times_h(path)
    figure, top, _ = doc.block(3.4)
    ax = axes_at(figure, LEFT_IN + 1.25, top - 2.95, CONTENT_W_IN - 1.35, 2.8)
    figs.draw_timeline(ax, times, float(b["span_s"] or 0.0))
    plots.localise_axes(ax, msgs)
    ax.set_yticks(range(len(times)), list(times))  # event kinds (codes), after localise_axes
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(msgs("reliability.x_label"))
    total = sum(int(n) for n in b["events"].values())
    rows = [[msgs.num(e["t_s"] / HOUR_S, 4), str(e.get("segment", "")), str(e["kind"]), figs.event_detail(e)]
            for e in table_events(path, b["events"], EVENT_TABLE_MAX_ROWS)]
    doc.heading(msgs("reliability.event_table"), 2, keep_in=0.8)
    note = (msgs("reliability.event_table_capped", n=total, shown=len(rows),
                 kinds=", ".join(FREQUENT_KINDS)) if total > len(rows)
            else msgs("reliability.event_table_all", n=total))
    doc.paragraph(note, 7.5, bold=total > len(rows))
    widths = [0.8, 0.55, 1.25]
    cols = [Column(msgs("reliability.col_t"), widths[0], "right"), Column(msgs("reliability.col_segment"), widths[1], "right"),
            Column(msgs("reliability.col_kind"), widths[2]), Column(msgs("reliability.col_detail"), CONTENT_W_IN - sum(widths))]
    doc.table(cols, rows, size=6.3, styles=[{2: Style(color=GREY)} if r[2].startswith("segment") else {} for r in rows],
              continued=msgs("common.continued"))


def table_events(path: Path, counts: dict[str, int], max_rows: int) -> Iterator[dict[str, Any]]:
    """The events of the table, in time order: all of them when they fit in ``max_rows``;
    otherwise the other kinds first (the first ``max_rows`` of them) and the
    :data:`FREQUENT_KINDS` in the rows left. ``counts`` are the events per kind."""
    other = sum(int(n) for k, n in counts.items() if k not in FREQUENT_KINDS)
    room = {False: min(other, max_rows), True: max(0, max_rows - other)}  # by "frequent"
    for e in iter_events(path):
        frequent = e["kind"] in FREQUENT_KINDS
        if room[frequent] > 0:
            room[frequent] -= 1
            yield e
        elif not any(room.values()):
            return


def section(doc: Document, data: ReportData, msgs: Messages) -> None:
    """The whole section: summary, trends, histograms, events."""
    summary(doc, data, msgs)
    trends(doc, data, msgs)
    histograms(doc, data, msgs)
    events(doc, data, msgs)
