"""The ``analyze --plot`` figure: why each breath was counted, at a glance.

Three panels on one time axis — flow, airway pressure and volume — with every breath's
start, the inspiratory phase, the PEEP and plateau windows the metrics used, breaths not
judged (settling, beyond the measured run) greyed out and flagged breaths marked in red
with their flags. Long traces are shown as a readable excerpt (:func:`default_window`).

Drawn with matplotlib's object API on an Agg canvas: no pyplot global state, no display.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ventbench.analysis.trace import Trace
from ventbench.errors import ConfigError
from ventbench.units import ML_PER_S_PER_LPM

#: Longest excerpt drawn by default, s.
DEFAULT_SPAN_S = 30.0
#: Annotate VTi per breath only when at most this many breaths are visible.
MAX_ANNOTATED_BREATHS = 16

_INSP = "#dbe9f6"
_NOT_JUDGED = "#d9d9d9"
_FLAGGED = "#e41a1c"
_PEEP = "#4daf4a"
_PLATEAU = "#ff7f00"


def parse_window(text: str) -> tuple[float, float]:
    """Parse ``START:END`` (seconds on the trace's time base); ConfigError naming the value."""
    try:
        start_text, end_text = text.split(":")
        start_s, end_s = float(start_text), float(end_text)
    except ValueError:
        raise ConfigError(f"--plot-window {text!r}: expected START:END in seconds, e.g. 10:40") from None
    if not (math.isfinite(start_s) and math.isfinite(end_s) and end_s > start_s):
        raise ConfigError(f"--plot-window {text!r}: END must be after START")
    return start_s, end_s


def default_window(trace: Trace, breaths: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """The measured breaths, at most :data:`DEFAULT_SPAN_S` from the first one; with no
    measured breath, the first :data:`DEFAULT_SPAN_S` of the trace."""
    t0, t1 = float(trace.t_s[0]), float(trace.t_s[-1])
    measured = [b for b in breaths if b.get("measured")]
    if measured:
        start = float(measured[0]["t_start_s"])
        end = _breath_end(measured[-1], t1)
        start = max(t0, start - 0.3)  # a little context before the first breath
        return start, min(end + 0.3, start + DEFAULT_SPAN_S, t1)
    return t0, min(t1, t0 + DEFAULT_SPAN_S)


def _breath_end(breath: Mapping[str, Any], fallback: float) -> float:
    end = breath.get("t_end_s")
    if end is None:
        end = breath["t_start_s"] + (breath.get("ti_s") or 0.0) + (breath.get("te_s") or 0.0)
    return float(end) if end is not None and math.isfinite(end) else fallback


def breath_volume_ml(trace: Trace, starts_s: Sequence[float]) -> np.ndarray:
    """Volume (mL) integrated from each breath's start; gaps (NaN flow) add nothing."""
    t = trace.t_s
    flow_ml_s = np.nan_to_num(trace.flow_lpm, nan=0.0) * ML_PER_S_PER_LPM
    cumulative = np.concatenate(([0.0], np.cumsum(0.5 * (flow_ml_s[1:] + flow_ml_s[:-1]) * np.diff(t))))
    starts = np.asarray(starts_s, dtype=float)
    if starts.size == 0:
        return cumulative
    base = np.interp(starts, t, cumulative)
    which = np.searchsorted(starts, t, side="right") - 1  # breath each sample belongs to
    reference = np.where(which >= 0, base[np.clip(which, 0, None)], 0.0)
    return cumulative - reference


def plot_trace(
    path: str | os.PathLike,
    trace: Trace,
    breaths: Sequence[Mapping[str, Any]],
    *,
    window_s: tuple[float, float] | None = None,
    title: str = "",
    dpi: int = 110,
) -> Path:
    """Draw flow, pressure and volume with the breath analysis and save a PNG.

    Parameters
    ----------
    path : str or path-like
        PNG to write.
    trace : Trace
        The trace as analysed (flow at the analysis gas condition).
    breaths : sequence of dict
        Breaths as in the results JSON (``Breath.to_json`` plus ``measured``).
    window_s : (float, float), optional
        Time span to draw, s; :func:`default_window` when None.
    title : str
        Figure title (file, point, verdict).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    Path
        The PNG written.
    """
    if len(trace) < 2:
        raise ConfigError("--plot: the trace has fewer than two samples; nothing to draw")
    start_s, end_s = window_s or default_window(trace, breaths)
    shown = [b for b in breaths if b["t_start_s"] < end_s and _breath_end(b, end_s) > start_s]
    lo, hi = np.searchsorted(trace.t_s, [start_s, end_s])
    lo, hi = max(0, lo - 1), min(len(trace), hi + 1)
    if hi - lo < 2:
        raise ConfigError(
            f"--plot-window {start_s:g}:{end_s:g}: no samples there "
            f"(trace spans {trace.t_s[0]:g}…{trace.t_s[-1]:g} s)"
        )
    t = trace.t_s[lo:hi]
    volume = breath_volume_ml(trace, [b["t_start_s"] for b in breaths])[lo:hi]

    figure = Figure(figsize=(12, 8), layout="constrained")
    FigureCanvasAgg(figure)
    ax_flow, ax_paw, ax_vol = figure.subplots(3, 1, sharex=True)
    ax_flow.plot(t, trace.flow_lpm[lo:hi], color="#1f4e79", lw=1.0)
    ax_paw.plot(t, trace.paw_cmh2o[lo:hi], color="#7b2d26", lw=1.0)
    ax_vol.plot(t, volume, color="#2d5f2e", lw=1.0)
    ax_flow.axhline(0.0, color="black", lw=0.5)
    condition = trace.flow_condition.value
    ax_flow.set_ylabel(f"flow, L/min ({condition})")
    ax_paw.set_ylabel("Paw, cmH2O")
    ax_vol.set_ylabel(f"volume, mL ({condition})")
    ax_vol.set_xlabel("time, s")
    ax_vol.set_xlim(start_s, end_s)

    for breath in shown:
        _draw_breath(breath, (ax_flow, ax_paw, ax_vol),
                     label=start_s <= breath["t_start_s"] < end_s,
                     annotate=len(shown) <= MAX_ANNOTATED_BREATHS)

    handles = [
        Line2D([], [], color="grey", ls="--", lw=0.8, label="breath start"),
        Patch(color=_INSP, label="inspiration"),
        Patch(color=_PEEP, alpha=0.35, label="PEEP window (mean = PEEP)"),
        Patch(color=_PLATEAU, alpha=0.35, label="plateau window (mean = Pplat)"),
        Patch(color=_NOT_JUDGED, alpha=0.6, label="not judged (settling / outside run)"),
        Patch(facecolor="none", edgecolor=_FLAGGED, hatch="//", label="flagged breath"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small",
                  frameon=False)
    n_measured = sum(1 for b in breaths if b.get("measured"))
    figure.suptitle(
        (title + "\n" if title else "")
        + f"{len(breaths)} breaths found, {n_measured} judged; showing {start_s:.1f}–{end_s:.1f} s",
        fontsize="medium",
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    return out


def _draw_breath(breath: Mapping[str, Any], axes: Sequence[Any], *, label: bool, annotate: bool) -> None:
    ax_flow, ax_paw, ax_vol = axes
    start = float(breath["t_start_s"])
    end = _breath_end(breath, start)
    insp_end = breath.get("t_insp_end_s")
    if insp_end is None:
        insp_end = start + (breath.get("ti_s") or 0.0)
    flags = [f for f in (breath.get("flags") or []) if f != "settling"]
    for ax in axes:
        ax.axvline(start, color="grey", ls="--", lw=0.8)
        ax.axvspan(start, insp_end, color=_INSP, zorder=0, lw=0)
        if not breath.get("measured", True):
            ax.axvspan(start, end, color=_NOT_JUDGED, alpha=0.6, zorder=0, lw=0)
        if flags:
            ax.axvspan(start, end, facecolor="none", edgecolor=_FLAGGED, hatch="//", lw=0, zorder=0)
    for key, value_key, color in (("peep_window_s", "peep_cmh2o", _PEEP),
                                  ("plateau_window_s", "pplat_cmh2o", _PLATEAU)):
        span = breath.get(key)
        if span and span[0] is not None and span[1] is not None:
            ax_paw.axvspan(span[0], span[1], color=color, alpha=0.35, lw=0)
            value = breath.get(value_key)
            if value is not None:
                ax_paw.hlines(value, span[0], span[1], color=color, lw=2.0)
    if not label:  # starts left of the window: text would land outside the axes
        return
    text = str(breath.get("index", ""))
    if flags:
        text += " " + ",".join(flags)
    ax_flow.annotate(text, (start, 1.0), xycoords=("data", "axes fraction"), va="top",
                     fontsize="x-small", color=_FLAGGED if flags else "dimgrey",
                     xytext=(2, -2), textcoords="offset points")
    if annotate and breath.get("vti_ml") is not None:
        ax_vol.annotate(f"VTi {breath['vti_ml']:.0f}", (start, 0.95), xycoords=("data", "axes fraction"),
                        va="top", fontsize="x-small", xytext=(2, 0), textcoords="offset points")
