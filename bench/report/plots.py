"""The report's figures, drawn into axes the page layout provides (vector, no pyplot).

Colours are the Okabe-Ito colour-blind-safe palette, and nothing is told by colour alone:
markers differ in shape (● measured, ○ not judged, ✕ outside the limit), limits are dashed,
achieved accuracy dotted, measurement windows hatched as well as tinted, so a greyscale
print reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, Locator, MaxNLocator

from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.traces import Excerpt
from ventbench.units import ML_PER_S_PER_LPM

BLUE, VERMILLION, GREEN, ORANGE, SKY, PURPLE, YELLOW = (
    "#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442")
INK_LIGHT = "#888888"


class InView(Locator):
    """The ticks of ``base`` that lie in the view interval.

    Locators return a tick or two beyond each end, and matplotlib builds a whole tick
    (two lines, two labels, a grid line) for each before drawing only those in view;
    leaving them out draws the same page with about a quarter fewer ticks built.
    """

    def __init__(self, base: Locator) -> None:
        self.base = base

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.base.set_axis(axis)

    def __call__(self):
        lo, hi = sorted(self.axis.get_view_interval())
        slack = 1e-9 * (hi - lo)  # wider than matplotlib's own test (1e-10): it still decides
        return [v for v in self.base() if lo - slack <= v <= hi + slack]

    def tick_values(self, vmin, vmax):
        return self.base.tick_values(vmin, vmax)

    def view_limits(self, vmin, vmax):
        return self.base.view_limits(vmin, vmax)

    def nonsingular(self, v0, v1):
        return self.base.nonsingular(v0, v1)


def localise_axes(ax, msgs: Messages) -> None:
    """Tick labels with the language's decimal separator; light styling."""
    fmt = FuncFormatter(lambda v, _pos: msgs.sig(v, 6))
    ax.xaxis.set_major_formatter(fmt)
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_major_locator(MaxNLocator(5))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(InView(axis.get_major_locator()))
    ax.tick_params(length=2, pad=1.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def breath_end(breath: Mapping[str, Any]) -> float:
    end = breath.get("t_end_s")
    if end is None:
        end = float(breath["t_start_s"]) + float(breath.get("ti_s") or 0) + float(breath.get("te_s") or 0)
    return float(end)


def waveform(axes: Sequence[Any], excerpt: Excerpt, breaths: Sequence[Mapping[str, Any]],
             factor: float, msgs: Messages,
             targets: Mapping[str, tuple[float, float | None]] | None = None) -> None:
    """Flow, airway pressure and volume of an excerpt, with breath boundaries, inspiration,
    the PEEP and plateau windows, and each breath's number.

    ``factor`` converts the file's flow to the analysis condition (the results' volumes).
    ``targets`` maps "flow", "paw" or "volume" to (set value, limit half-width or None) in
    the axis' unit: a set-value line and the limit lines either side are drawn on it.
    The legend lists only what is drawn.
    """
    ax_f, ax_p, ax_v = axes
    t = excerpt.t_s
    flow = excerpt.flow_lpm * factor
    starts = np.array([float(b["t_start_s"]) for b in breaths])
    ml = np.nan_to_num(flow) * ML_PER_S_PER_LPM
    cumulative = np.concatenate(([0.0], np.cumsum(0.5 * (ml[1:] + ml[:-1]) * np.diff(t)))) if t.size else t
    volume = cumulative.copy()
    if starts.size and t.size:
        base = np.interp(starts, t, cumulative)
        which = np.searchsorted(starts, t, side="right") - 1
        volume = cumulative - np.where(which >= 0, base[np.clip(which, 0, None)], cumulative[0])
    step = max(1, t.size // 4000)  # decimate for drawing only
    ax_f.plot(t[::step], flow[::step], color=BLUE, lw=0.8)
    ax_p.plot(t[::step], excerpt.paw_cmh2o[::step], color=VERMILLION, lw=0.8)
    ax_v.plot(t[::step], volume[::step], color=GREEN, lw=0.8)
    ax_f.axhline(0.0, color=INK_LIGHT, lw=0.4)
    insp = [(s, b.get("t_insp_end_s") or s + float(b.get("ti_s") or 0)) for s, b in zip(starts, breaths, strict=True)]
    for ax in axes:  # one artist per kind and axes, not one per breath (same drawing, fewer artists)
        across = ax.get_xaxis_transform()
        ax.add_collection(PolyCollection([[(a, 0), (a, 1), (b, 1), (b, 0)] for a, b in insp], facecolors="#e8e8e8",
                                         linewidths=0, zorder=0, transform=across), autolim=False)
        ax.add_collection(LineCollection([[(a, 0), (a, 1)] for a, _ in insp], colors="#444444", linestyles="--",
                                         linewidths=0.6, zorder=2, transform=across), autolim=False)
    for key, value_key, colour, hatch in (("peep_window_s", "peep_cmh2o", GREEN, "////"),
                                           ("plateau_window_s", "pplat_cmh2o", ORANGE, "\\\\\\\\")):
        spans = [(b, b[key]) for b in breaths if b.get(key) and None not in b[key][:2]]
        if not spans:
            continue
        ax_p.add_collection(PolyCollection([[(a, 0), (a, 1), (z, 1), (z, 0)] for _, (a, z, *_) in spans],
                                           facecolors=colour, alpha=0.35, hatch=hatch, edgecolors="#333333",
                                           linewidths=0, transform=ax_p.get_xaxis_transform()), autolim=False)
        levels = [(b[value_key], a, z) for b, (a, z, *_) in spans if b.get(value_key) is not None]
        if levels:
            ax_p.hlines(*zip(*levels, strict=True), color="#000000", lw=1.4)
    drawn_windows = {key for key, *_ in (("peep_window_s",), ("plateau_window_s",))
                     if any(b.get(key) and None not in b[key][:2] for b in breaths)}
    drawn_target = drawn_limit = False
    for name, (set_value, half) in (targets or {}).items():
        ax = {"flow": ax_f, "paw": ax_p, "volume": ax_v}[name]
        ax.axhline(set_value, color="#000000", ls=":", lw=0.9, zorder=3)
        drawn_target = True
        if half is not None:
            for level in (set_value - half, set_value + half):
                ax.axhline(level, color="#000000", ls="--", lw=0.6, zorder=3)
            drawn_limit = True
    for breath in breaths:
        start = float(breath["t_start_s"])
        label = f"#{breath.get('index', '')}"
        if not breath.get("measured"):
            label += " " + msgs("wave.not_judged")
        flags = [f for f in breath.get("flags") or [] if f]
        if flags:
            label += " ⚠ " + ",".join(flags)
        ax_f.annotate(label, (start, 1.0), xycoords=("data", "axes fraction"), va="top", fontsize=8,
                      xytext=(2, -1), textcoords="offset points")
    if t.size:
        for ax in axes:
            ax.set_xlim(float(t[0]), float(t[-1]))
    ax_f.set_ylabel(msgs("wave.flow"))
    ax_p.set_ylabel(msgs("wave.paw"))
    ax_v.set_ylabel(msgs("wave.volume"))
    ax_v.set_xlabel(msgs("wave.time"))
    for ax in axes:
        localise_axes(ax, msgs)
    for ax in axes:  # three ticks, none at the edges: stacked axes never collide
        ax.yaxis.set_major_locator(MaxNLocator(4, prune="both"))
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    handles = [Line2D([], [], color="#444444", ls="--", lw=0.6, label=msgs("wave.legend_start")),
               Patch(facecolor="#e8e8e8", label=msgs("wave.legend_insp"))]
    if "peep_window_s" in drawn_windows:
        handles.append(Patch(facecolor=GREEN, alpha=0.35, hatch="////", edgecolor="#333333",
                             label=msgs("wave.legend_peep")))
    if "plateau_window_s" in drawn_windows:
        handles.append(Patch(facecolor=ORANGE, alpha=0.35, hatch="\\\\\\\\", edgecolor="#333333",
                             label=msgs("wave.legend_plateau")))
    if drawn_target:
        handles.append(Line2D([], [], color="#000000", ls=":", lw=0.9, label=msgs("wave.legend_set")))
    if drawn_limit:
        handles.append(Line2D([], [], color="#000000", ls="--", lw=0.6, label=msgs("wave.legend_limit")))
    ax_v.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.42), ncols=3,
                frameon=False, fontsize=8, handlelength=1.6)



#: Markers of the quantities in the error strip (shape tells them apart, not colour).
STRIP_MARKERS = ("o", "s", "^", "D", "v", "P", "<", ">")


#: Columns of the error strip's legend (at 8 pt, three fit the content width).
STRIP_LEGEND_COLS = 3


def error_strip(ax, series: Sequence[Mapping[str, Any]], msgs: Messages) -> None:
    """Per-breath error of every checked quantity as a percentage of its limit, against the
    breath number: the limit band is ±100 % for all, so one chart shows every check.

    Each item of ``series``: ``label``, ``index`` (breath numbers), ``ratio`` (error / limit,
    per breath), ``measured`` and ``failing`` (bool per breath).
    """
    ax.axhspan(-100.0, 100.0, color="#e6e6e6", lw=0, zorder=0)
    ax.axhline(100.0, color="#000000", ls="--", lw=0.6)
    ax.axhline(-100.0, color="#000000", ls="--", lw=0.6)
    ax.axhline(0.0, color=INK_LIGHT, lw=0.4)
    handles, top = [], 100.0
    drawn_fail = drawn_unjudged = False  # the legend lists only what is drawn
    n = max(1, len(series))
    for k, item in enumerate(series):
        marker = STRIP_MARKERS[k % len(STRIP_MARKERS)]
        x = np.asarray(item["index"], float) + (k - (n - 1) / 2) * 0.12
        y = 100.0 * np.asarray(item["ratio"], float)
        measured, failing = np.asarray(item["measured"], bool), np.asarray(item["failing"], bool)
        ok = measured & ~failing
        drawn_fail |= bool(failing.any())
        drawn_unjudged |= bool((~measured).any())
        for which, fmt, style in ((~measured, marker, dict(ms=2.6, mfc="none", mec=INK_LIGHT, mew=0.5)),
                                  (ok, marker, dict(ms=2.6, color=BLUE, mec="#000000", mew=0.2)),
                                  (failing, marker, dict(ms=4.2, color=VERMILLION, mec="#000000", mew=0.5)),
                                  (failing, "x", dict(ms=3.2, color="#000000", mew=0.8))):  # shape, not colour
            if which.any():  # an empty series draws nothing, but costs an artist
                ax.plot(x[which], y[which], fmt, ls="none", **style)
        if np.isfinite(y).any():
            top = max(top, float(np.nanmax(np.abs(y))))
        handles.append(Line2D([], [], ls="none", marker=marker, ms=3, color=BLUE, mec="#000000", mew=0.2,
                              label=item["label"]))
    ax.set_ylim(-1.15 * top, 1.15 * top)
    ax.set_ylabel(msgs("strip.y_label"))
    ax.set_xlabel(msgs("strip.x_label"))
    ax.xaxis.set_major_locator(MaxNLocator(10, integer=True))
    localise_axes(ax, msgs)
    if drawn_fail:
        handles.append(Line2D([], [], ls="none", marker="x", ms=3.5, color="#000000", mew=0.8,
                              label=msgs("strip.legend_fail")))
    if drawn_unjudged:
        handles.append(Line2D([], [], ls="none", marker="o", ms=3, mfc="none", mec=INK_LIGHT,
                              label=msgs("strip.legend_not_judged")))
    handles.append(Line2D([], [], color="#000000", ls="--", lw=0.6, label=msgs("strip.legend_limit")))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.32), ncols=STRIP_LEGEND_COLS,
              frameon=False, fontsize=8, borderaxespad=0.0)


def accuracy(ax, set_values: np.ndarray, errors: np.ndarray, failing: np.ndarray, tol_abs: float,
             tol_rel: float, achieved_rel: float | None, x_range: tuple[float, float], unit: str,
             title: str, msgs: Messages) -> None:
    """Error (measured − set) against the set value: every judged breath, the limit envelope
    ±(A + B·set) dashed and the achieved envelope ±(A + B_achieved·set) dotted."""
    lo, hi = x_range
    pad = 0.06 * (hi - lo) if hi > lo else max(1.0, 0.1 * abs(hi))
    x = np.linspace(lo - pad, hi + pad, 50)
    limit = tol_abs + tol_rel * np.abs(x)
    ax.fill_between(x, -limit, limit, color="#eeeeee", lw=0)
    ax.plot(x, limit, color="#000000", ls="--", lw=0.7)
    ax.plot(x, -limit, color="#000000", ls="--", lw=0.7)
    if achieved_rel is not None:
        ach = tol_abs + achieved_rel * np.abs(x)
        ax.plot(x, ach, color=BLUE, ls=":", lw=1.1)
        ax.plot(x, -ach, color=BLUE, ls=":", lw=1.1)
    ax.axhline(0.0, color=INK_LIGHT, lw=0.4)
    ok = ~failing
    ax.plot(set_values[ok], errors[ok], "o", ms=2.2, color=BLUE, alpha=0.7, mew=0)
    ax.plot(set_values[failing], errors[failing], "X", ms=4, color=VERMILLION, mec="#000000", mew=0.3)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_title(title, loc="left", fontsize=8, pad=2)
    ax.set_xlabel(msgs("accuracy.x_label", unit=unit))
    ax.set_ylabel(msgs("accuracy.y_label", unit=unit))
    localise_axes(ax, msgs)


def accuracy_legend(figure, x_in: float, y_in: float, msgs: Messages) -> None:
    """Legend of the accuracy plots, its upper-left corner at (x_in, y_in) on the paper."""
    handles = [Line2D([], [], ls="none", marker="o", ms=3, color=BLUE, label=msgs("accuracy.legend_breath")),
               Line2D([], [], ls="none", marker="X", ms=4, color=VERMILLION, label=msgs("accuracy.legend_fail")),
               Line2D([], [], color="#000000", ls="--", lw=0.7, label=msgs("accuracy.legend_limit")),
               Line2D([], [], color=BLUE, ls=":", lw=1.1, label=msgs("accuracy.legend_achieved"))]
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(x_in, y_in), ncols=4, frameon=False,
                  fontsize=8, bbox_transform=figure.dpi_scale_trans, borderaxespad=0.0)
