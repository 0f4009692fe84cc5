"""The reliability section's figures, drawn from a session's files.

``bench/report`` lays the section out in the session's ``report.pdf`` (cover, set-up,
this section, appendix; see ``bench/report/reliability_pages.py``); it draws the figures
with the axes-level functions here: :func:`draw_trends` (hourly mean with a min–max band,
limits dashed), :func:`draw_histograms` (every unflagged breath), :func:`draw_timeline`
(events against run time). Trends are per hour (a 14-day run has 336 points); histograms
bin every breath — nothing is decimated for the statistics, only drawn at hourly
resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.bench.reliability.config import QUANTITIES
from ventbench.bench.reliability.events import iter_events
from ventbench.bench.reliability.store import trusted as is_trusted

TIMELINE_KINDS = ("disconnect", "reconnect", "data_stall", "sensor_fault", "device_reset",
                  "corrupt_data", "missed_breath", "apnoea", "out_of_limit", "out_of_limit_run",
                  "segment_start", "segment_end")
#: Okabe-Ito blue and vermillion (colour-blind safe; limits are also dashed).
BLUE, VERMILLION = "#0072B2", "#D55E00"
HIST_BINS = 60


def draw_trends(axes: Sequence[Any], hourly: Mapping[str, Any], limits: Mapping[str, Sequence[float]],
                labels: Mapping[str, str], legend: tuple[str, str, str], end_h: float | None = None) -> None:
    """Hourly mean (line) with the hour's min–max band (step fill) and the limits (dashed).

    Parameters
    ----------
    axes : sequence of Axes
        One per quantity of :data:`QUANTITIES`, in that order; x is run time, h.
    hourly : mapping
        The block's ``hourly`` table (``hour``, and per quantity ``mean``/``min``/``max``).
    limits : mapping
        ``quantity -> (min, max)``, in the quantity's unit.
    labels : mapping
        ``quantity -> y-axis label``.
    legend : (str, str, str)
        Legend texts of the band, the mean and the limit.
    end_h : float, optional
        End of the run, h: the last (partial) hour's band stops there.
    """
    hours = np.asarray(hourly.get("hour") or [], dtype=float)
    for ax, q in zip(axes, QUANTITIES, strict=True):
        if q in hourly and hours.size:
            mean, lo, hi = (np.array(hourly[q][k], dtype=float) for k in ("mean", "min", "max"))
            edges = np.append(hours, hours[-1] + 1.0)  # each hour's band spans its hour
            if end_h is not None and end_h > hours[-1]:
                edges[-1] = min(edges[-1], end_h)  # ... up to the end of the run
            ax.fill_between(edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
                            color=BLUE, alpha=0.25, lw=0, label=legend[0])
            ax.plot(hours + 0.5 * (edges[1:] - hours), mean, lw=1.0, color=BLUE, marker="." if hours.size < 50 else None,
                    ms=3, label=legend[1])
        for k, lim in enumerate(limits.get(q, ())):
            ax.axhline(lim, ls="--", lw=0.8, color=VERMILLION, label=legend[2] if k == 0 else None)
        ax.set_ylabel(labels.get(q, q))
        ax.margins(y=0.08)
        ax.grid(alpha=0.3, lw=0.4)


def draw_histograms(axes: Sequence[Any], rec: np.ndarray, limits: Mapping[str, Sequence[float]],
                    labels: Mapping[str, str]) -> dict[str, int]:
    """Histogram of every unflagged breath per quantity, limits dashed; ``quantity -> n``."""
    ok = is_trusted(rec["flags"])
    counts = {}
    for ax, q in zip(axes, QUANTITIES, strict=True):
        v = rec[q][ok].astype(np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=HIST_BINS, color=BLUE, alpha=0.8)
        for lim in limits.get(q, ()):
            ax.axvline(lim, ls="--", lw=0.8, color=VERMILLION)
        ax.set_xlabel(labels.get(q, q))
        counts[q] = int(v.size)
    return counts


def event_times_h(events_path: Path, kinds: Sequence[str] = TIMELINE_KINDS) -> dict[str, list[float]]:
    """Run time (h) of every event of each kind, read in one pass."""
    out: dict[str, list[float]] = {k: [] for k in kinds}
    for e in iter_events(events_path):
        if e["kind"] in out:
            out[e["kind"]].append(e["t_s"] / 3600.0)
    return out


def draw_timeline(ax: Any, times_h: Mapping[str, Sequence[float]], span_s: float,
                  labels: Sequence[str] | None = None) -> None:
    """One row of tick marks per event kind against run time (h)."""
    kinds = list(times_h)
    for row, kind in enumerate(kinds):
        t = times_h[kind]
        ax.plot(t, [row] * len(t), "|", ms=9, color=VERMILLION if kind.startswith(("missed", "out_of", "apnoea"))
                else BLUE)
    ax.set_yticks(range(len(kinds)), labels or kinds)
    ax.set_ylim(-0.7, len(kinds) - 0.3)
    ax.invert_yaxis()
    end_h = max(span_s / 3600, 1e-3)
    ax.set_xlim(-0.02 * end_h, 1.02 * end_h)  # events at 0 and at the end stay visible
    ax.grid(alpha=0.3, lw=0.4)


def event_detail(e: Mapping[str, Any]) -> str:
    """Kind-specific fields of an event as ``key=value, …`` (sorted)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in ("kind", "t_s", "segment"))
