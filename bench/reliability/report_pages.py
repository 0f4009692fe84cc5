"""The reliability section of a report: summary, hourly trends, histograms, events.

Hook for ``bench/report``: :func:`add_reliability_pages` takes anything with a
``savefig(figure)`` method (``matplotlib.backends.backend_pdf.PdfPages``) and a session
directory, and appends the pages; :func:`reliability_figures` yields the figures one at a
time (bounded memory: each is closed after use by the caller). :func:`write_pdf` writes
them as a stand-alone ``reliability.pdf`` (what the runner does until the report renders
the section itself).

Pages: (1) summary — verdict and reasons, uptime, breaths, missed breaths, out-of-limit
breaths per quantity with the longest run, the longest gap, drift per 24 h with its 95 %
interval and verdict, breath-to-breath CV; (2) hourly trends — mean with a min–max band,
limits dashed; (3) histograms of every trusted breath; (4) the event timeline; (5…) a
table of every event. Trends are per hour (a 14-day run has 336 points); histograms bin
every breath — nothing is decimated for the statistics, only drawn at hourly resolution.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import analyze_session
from .config import QUANTITIES, ReliabilityConfig
from .events import EVENTS_FILE, iter_events
from .store import read_breaths

A4 = (8.27, 11.69)
LABELS = {"vt_ml": "VT (mL)", "peep_cmh2o": "PEEP (cmH2O)", "pip_cmh2o": "PIP (cmH2O)",
          "rate_bpm": "rate (bpm)"}
EVENT_ROWS_PER_PAGE = 60
TIMELINE_KINDS = ("disconnect", "reconnect", "data_stall", "sensor_fault", "device_reset",
                  "corrupt_data", "missed_breath", "apnoea", "out_of_limit", "out_of_limit_run",
                  "segment_start", "segment_end")


def _text_page(lines: list[str], title: str):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=A4)
    fig.text(0.06, 0.96, title, fontsize=13, weight="bold", va="top")
    fig.text(0.06, 0.93, "\n".join(lines), family="monospace", fontsize=7.2, va="top")
    return fig


def summary_lines(block: dict[str, Any]) -> list[str]:
    """The summary page as text lines."""
    b = block["breaths"]
    gap = block["longest_gap"]
    lines = [f"verdict: {block['verdict']}", *[f"  - {r}" for r in block["reasons"]], "",
             f"run time covered   {block['span_s'] / 3600:.3f} h of {block['duration_s'] / 3600:.3f} h"
             f" in {block['segments']} segment(s)",
             f"uptime (data)      {block['uptime_pct']:.4f} %   without data {block['data_gap_s']:.1f} s"
             f"   sensor faults {block['sensor_fault_s']:.1f} s",
             "longest gap        " + ("none" if gap is None else
                                      f"{gap['duration_s']:.1f} s ({gap['kind']} at {gap['t_s'] / 3600:.3f} h)"),
             f"breaths            {b['total']} ({b['trusted']} unflagged; ~{b['expected']} expected)"
             f"   missed {b['missed']}", "",
             "out of limit       limit            breaths  longest run (breaths, at h)"]
    for q, o in block["out_of_limit"].items():
        at = "" if o["longest_run_t_s"] is None else f" at {o['longest_run_t_s'] / 3600:.3f}"
        lines.append(f"  {q:<16} [{o['limit'][0]:g}, {o['limit'][1]:g}]".ljust(37)
                     + f"{o['breaths']:>8}  {o['longest_run_breaths']}{at}")
    lines += ["", "drift per 24 h     slope        95 % interval            limit   verdict"]
    for q, d in block["drift"].items():
        ci = "-" if d["ci95_per_24h"] is None else f"[{d['ci95_per_24h'][0]:.4g}, {d['ci95_per_24h'][1]:.4g}]"
        slope = "-" if d["slope_per_24h"] is None else f"{d['slope_per_24h']:.4g}"
        lim = "-" if d["limit_per_24h"] is None else f"±{d['limit_per_24h']:g}"
        lines.append(f"  {q:<16} {slope:>10}   {ci:<24} {lim:>6}   {d['verdict']}")
    lines += ["  (OLS slope, SE inflated for lag-1 autocorrelation of the residuals; see",
              "   bench/reliability/analysis.py)", "",
              "breath-to-breath   mean        SD          CV %"]
    for q, v in block["variability"].items():
        def f(x):
            return "-" if x is None else f"{x:.4g}"
        lines.append(f"  {q:<16} {f(v['mean']):>10}  {f(v['sd']):>10}  {f(v['cv_pct']):>10}")
    lines += ["", *textwrap.wrap("events: " + ", ".join(f"{k} {n}" for k, n in
                                                         sorted(block["events"].items())), 110)]
    return lines


def _trend_page(block: dict[str, Any], config: ReliabilityConfig):
    import matplotlib.pyplot as plt

    h = block["hourly"]
    fig, axes = plt.subplots(len(QUANTITIES), 1, figsize=A4, sharex=True)
    hours = np.asarray(h["hour"], dtype=float)
    for ax, q in zip(axes, QUANTITIES, strict=True):
        if q in h and len(hours):
            mean, lo, hi = (np.array(h[q][k], dtype=float) for k in ("mean", "min", "max"))
            edges = np.append(hours, hours[-1] + 1.0)  # each hour's band spans its hour
            ax.fill_between(edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
                            alpha=0.3, label="min–max")
            ax.plot(hours + 0.5, mean, lw=1.0, marker="." if len(hours) < 50 else None,
                    label="hourly mean")
        for lim in config.limits.get(q, ()):
            ax.axhline(lim, ls="--", lw=0.8, color="red")
        ax.set_ylabel(LABELS[q])
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("run time (h)")
    fig.suptitle("Hourly trends (unflagged breaths; limits dashed)")
    return fig


def _histogram_page(rec: np.ndarray, config: ReliabilityConfig):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=A4)
    ok = rec["flags"] == 0
    for ax, q in zip(axes.ravel(), QUANTITIES, strict=True):
        v = rec[q][ok].astype(np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=60)
        for lim in config.limits.get(q, ()):
            ax.axvline(lim, ls="--", lw=0.8, color="red")
        ax.set_xlabel(LABELS[q])
        ax.set_title(f"n = {v.size}", fontsize=8)
    fig.suptitle("Every unflagged breath")
    return fig


def _timeline_page(events_path: Path, span_s: float):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(A4[0], A4[1] / 2))
    for row, kind in enumerate(TIMELINE_KINDS):
        t = [e["t_s"] / 3600 for e in iter_events(events_path) if e["kind"] == kind]
        ax.plot(t, [row] * len(t), "|", ms=12)
    ax.set_yticks(range(len(TIMELINE_KINDS)), TIMELINE_KINDS, fontsize=7)
    ax.set_xlim(0, max(span_s / 3600, 1e-3))
    ax.set_xlabel("run time (h)")
    ax.grid(alpha=0.3)
    ax.set_title("Event timeline")
    fig.tight_layout()
    return fig


def _event_row(e: dict[str, Any]) -> str:
    rest = ", ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in ("kind", "t_s", "segment"))
    return f"{e['t_s'] / 3600:10.4f}  {e['segment']:>3}  {e['kind']:<17} {rest}"[:150]


def reliability_figures(session: Path) -> Iterator[Any]:
    """The section's figures, one at a time (close each after saving it)."""
    from bench.session import read_json

    session = Path(session)
    config = ReliabilityConfig.from_json(read_json(session / "start.json")["reliability"])
    block = analyze_session(session)
    yield _text_page(summary_lines(block), "Reliability run — summary")
    yield _trend_page(block, config)
    rec, _ = read_breaths(session / "reliability")
    yield _histogram_page(rec, config)
    del rec
    events_path = session / "reliability" / EVENTS_FILE
    yield _timeline_page(events_path, block["span_s"])
    page: list[str] = []
    n_page = 0
    head = ["    t (h)  seg  kind              detail"]
    for event in iter_events(events_path):
        page.append(_event_row(event))
        if len(page) == EVENT_ROWS_PER_PAGE:
            n_page += 1
            yield _text_page(head + page, f"Events ({n_page})")
            page = []
    if page or not n_page:
        yield _text_page(head + page, f"Events ({n_page + 1})")


def add_reliability_pages(pdf: Any, session: Path) -> int:
    """Append the section to ``pdf`` (``PdfPages`` or anything with ``savefig``); pages added."""
    import matplotlib.pyplot as plt

    n = 0
    for fig in reliability_figures(session):
        pdf.savefig(fig)
        plt.close(fig)
        n += 1
    return n


def write_pdf(session: Path, path: Path) -> Path:
    """The section alone as a PDF at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        add_reliability_pages(pdf, session)
    return Path(path)
