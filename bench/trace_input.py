"""A recorded file to breaths, whole or streamed: the input half of ``ventbench analyze``.

:func:`analyse_file` reads a file whole when it fits in memory (every format), and streams a
Trace CSV that does not (:class:`drivers.importers.trace_csv_chunks.TraceCsvChunks` into
:class:`analysis.chunked.ChunkedAnalysis`), so a recording of any length is analysed in
bounded memory. Both give an :class:`Analysed`: the breaths and everything the judgement and
the results need besides, with the same breaths either way. A file in a format that is read
whole and does not fit is refused before it is read (:func:`drivers.importers.check_memory`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.breath import Breath, channel_means
from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.selfcheck import segmentation_doubts
from ventbench.analysis.stats import median
from ventbench.analysis.trace import Trace
from ventbench.errors import ConfigError

#: Seconds of samples a streamed analysis keeps for ``--plot`` without ``--plot-window``.
STREAMED_PLOT_S = 600.0


@dataclass
class Analysed:
    """The breaths of one file and what else the judgement and the results need.

    Attributes
    ----------
    breaths : list of Breath
        At ``condition``.
    factor : float
        Gas factor recorded flow → ``condition``.
    segmentation : SegmentationSettings
        The settings used (adaptive: those they settled on).
    no_breathing : str
        Why no breathing was found ("" when it was).
    flow_condition, ambient, condition_source :
        The recording's condition and ambient (overrides applied), and where the condition
        came from.
    per_breath : dict
        Per-breath means of extra channels (``fio2_pct``).
    doubts : list of str
        The segmentation's self-check.
    samples : int
    duration_s : float
    dt_s : float or None
        Sample interval, s.
    skipped_lines : int or None
    plot_trace : Trace or None
        Samples at ``condition`` for a plot (the whole trace, or a kept window when streamed).
    streamed : bool
    """

    breaths: list[Breath]
    factor: float
    segmentation: SegmentationSettings
    no_breathing: str
    flow_condition: GasCondition
    ambient: Ambient
    condition_source: str
    per_breath: dict[str, list[float]] = field(default_factory=dict)
    doubts: list[str] = field(default_factory=list)
    samples: int = 0
    duration_s: float = 0.0
    dt_s: float | None = None
    skipped_lines: int | None = None
    plot_trace: Trace | None = None
    streamed: bool = False
    has_fio2: bool = False


Overrides = Callable[[GasCondition, Ambient, str], tuple[GasCondition, Ambient, str]]


def analyse_file(path: Path, fmt: str | None, read_whole: Callable[[], tuple[Trace, str]],
                 overrides: Overrides, settings: SegmentationSettings, condition: GasCondition,
                 set_rate_bpm: float | None, *, skip_bad: bool = False,
                 plot_window_s: tuple[float, float] | None = None) -> Analysed:
    """Breaths of ``path`` (format ``fmt``), whole when it fits in memory, else streamed.

    Parameters
    ----------
    read_whole : callable
        Reads the file whole: (trace with overrides applied, condition source).
    overrides : callable
        (condition, ambient, source) → the same with the command line's overrides.
    settings, condition, set_rate_bpm :
        Segmentation settings, analysis gas condition, set rate (for the self-check).

    Raises
    ------
    ConfigError
        A file in a format read whole that does not fit in memory.
    """
    from ventbench.drivers.importers import check_memory

    try:
        check_memory(path)
    except ConfigError:
        if (fmt or "csv") != "csv":
            raise
        return _streamed(path, overrides, settings, condition, set_rate_bpm, skip_bad, plot_window_s)
    recorded, source = read_whole()
    return _whole(recorded, source, settings, condition, set_rate_bpm)


def _whole(recorded: Trace, source: str, settings: SegmentationSettings,
           condition: GasCondition, set_rate_bpm: float | None) -> Analysed:
    from ventbench.analysis.stream import analyze_breaths

    trace, factor = recorded.converted(condition)
    breaths: list[Breath] = []
    no_breathing = ""
    if len(recorded) > 1:
        analysis = analyze_breaths(recorded, settings, condition=condition)
        breaths, settings = list(analysis.breaths), analysis.segmentation
        no_breathing = analysis.no_breathing_reason
    per_breath = ({"fio2_pct": channel_means(trace.t_s, trace.channels["fio2_pct"], breaths)}
                  if "fio2_pct" in trace.channels and breaths else {})
    doubts = segmentation_doubts(trace.t_s, trace.flow_lpm, breaths, set_rate_bpm) if breaths else []
    skipped = recorded.meta.get("skipped_lines")
    return Analysed(breaths, factor, settings, no_breathing, recorded.flow_condition,
                    recorded.ambient, source, per_breath, doubts, len(trace), trace.duration_s,
                    median(np.diff(recorded.t_s)) if len(recorded) > 1 else None,
                    None if skipped is None else int(skipped), trace, False,
                    "fio2_pct" in trace.channels)


def _streamed(path: Path, overrides: Overrides, settings: SegmentationSettings,
              condition: GasCondition, set_rate_bpm: float | None, skip_bad: bool,
              plot_window_s: tuple[float, float] | None) -> Analysed:
    from ventbench.analysis.chunked import ChunkedAnalysis
    from ventbench.drivers.importers.trace_csv_chunks import TraceCsvChunks

    reader = TraceCsvChunks(path, skip_bad=skip_bad)
    flow_condition, ambient, source = overrides(reader.flow_condition, reader.ambient, "file")
    fio2 = "fio2_pct" in reader.columns
    chunked = ChunkedAnalysis(flow_condition, ambient, settings, condition, set_rate_bpm,
                              ("fio2_pct",) if fio2 else (), plot_window_s or STREAMED_PLOT_S)
    t_first = t_last = None
    for block in reader:
        chunked.feed(block.t_s, block.flow_lpm, block.paw_cmh2o, block.flags, block.channels)
        t_first = float(block.t_s[0]) if t_first is None else t_first
        t_last = float(block.t_s[-1])
    analysis = chunked.finish()
    return Analysed(list(analysis.breaths), analysis.volume_factor, analysis.segmentation,
                    analysis.no_breathing_reason, flow_condition, ambient, source,
                    {k: v for k, v in chunked.per_breath.items() if analysis.breaths},
                    chunked.doubts if analysis.breaths else [], chunked.samples,
                    0.0 if t_first is None else t_last - t_first, chunked.dt_s,
                    int(reader.meta.get("skipped_lines", 0)), chunked.kept_trace(), True, fio2)


def source_counts(analysed: Analysed) -> dict[str, Any]:
    """What the results' source entry says of a file beyond its bytes: samples and skipped
    lines (as :func:`bench.results_doc.source_file_entry` does for a whole trace)."""
    out: dict[str, Any] = {"samples": analysed.samples}
    if analysed.skipped_lines is not None:
        out["skipped_lines"] = analysed.skipped_lines
    return out
