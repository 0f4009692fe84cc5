"""Analysis of a trace that is never whole in memory: blocks in, the same breaths out.

:class:`ChunkedAnalysis` takes a recording block by block (a file too big to read at once)
and does what :func:`analysis.stream.analyze_breaths` does on a whole validated
:class:`~analysis.trace.Trace`: sample validity by :class:`analysis.validity.SampleValidator`
(the live path's), one gas factor, :class:`analysis.stream.BreathStream`. It also keeps what
the command needs besides the breaths, in bounded memory:

- per-breath means of extra channels (FiO2), from the samples kept for the self-check;
- the segmentation's self-check (:func:`analysis.selfcheck.segmentation_doubts`) over
  consecutive windows of :data:`WINDOW_S` of samples (each judged with the breaths that
  start in it), instead of over the whole trace;
- optionally the samples of one time window, for a plot.

The breaths are those of the whole-trace path for any block size (``BreathStream`` and
``SampleValidator`` are chunk-invariant). Memory: two self-check windows of samples
(≈ 20 MB at 1 kHz) plus the stream's own buffer, whatever the recording's length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ventbench.analysis.breath import Breath, channel_means
from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.selfcheck import segmentation_doubts
from ventbench.analysis.stream import BreathAnalysis, BreathStream
from ventbench.analysis.trace import Trace
from ventbench.analysis.validity import SampleValidator

#: Length of a self-check window, s of device time.
WINDOW_S = 600.0
#: Windows whose doubts are listed in full; later ones are counted.
MAX_WINDOWS_LISTED = 3


@dataclass
class _Window:
    """The analysis-condition samples of one self-check window."""

    t0_s: float
    parts: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        t = np.concatenate([p[0] for p in self.parts]) if self.parts else np.zeros(0)
        flow = np.concatenate([p[1] for p in self.parts]) if self.parts else np.zeros(0)
        names = self.parts[0][2].keys() if self.parts else ()
        return t, flow, {n: np.concatenate([p[2][n] for p in self.parts]) for n in names}


class ChunkedAnalysis:
    """Breaths, per-breath channel means and self-check of a trace fed in blocks.

    Parameters
    ----------
    flow_condition : GasCondition
        Condition of the flow fed.
    ambient : Ambient
        Ambient conditions of the recording (for the gas factor).
    segmentation : SegmentationSettings, optional
        As :func:`analysis.stream.analyze_breaths` (adaptive if omitted).
    condition : GasCondition or str
        Condition to state volumes at (BTPS by default).
    set_rate_bpm : float, optional
        Set rate, for the self-check's rate-dependent tests.
    channels : tuple of str
        Extra channels whose per-breath mean is wanted (e.g. ``("fio2_pct",)``).
    keep_window_s : (float, float) or float, optional
        Keep the samples between these device times for a plot (:meth:`kept_trace`); a
        single number keeps that many seconds from the first sample.
    """

    def __init__(self, flow_condition: GasCondition, ambient: Ambient,
                 segmentation: SegmentationSettings | None = None,
                 condition: GasCondition | str = GasCondition.BTPS,
                 set_rate_bpm: float | None = None, channels: tuple[str, ...] = (),
                 keep_window_s: tuple[float, float] | float | None = None) -> None:
        self.condition = condition if isinstance(condition, GasCondition) else GasCondition.parse(condition)
        self.flow_condition, self.ambient = flow_condition, ambient
        self.factor = conversion_factor(flow_condition, self.condition, ambient)
        self.stream = BreathStream(segmentation)
        self.validator = SampleValidator()
        self.set_rate_bpm, self.channels = set_rate_bpm, tuple(channels)
        self.breaths: list[Breath] = []
        self.per_breath: dict[str, list[float]] = {c: [] for c in self.channels}
        self.samples = 0
        self.doubts: list[str] = []
        self._doubtful_windows = 0
        self._windows: list[_Window] = []
        self._unjudged: list[Breath] = []  # breaths not yet in a judged window
        self._keep = keep_window_s
        self._kept: list[tuple[np.ndarray, ...]] = []

    def feed(self, t_s, flow_lpm, paw_cmh2o, flags=None, channels=None) -> None:
        """Add one block (time, s; flow, L/min at ``flow_condition``; pressure, cmH2O; flags;
        extra channels by name)."""
        t = np.asarray(t_s, dtype=np.float64)
        if not t.shape[0]:
            return
        flow, paw, fl = self.validator(t, flow_lpm, paw_cmh2o, flags)
        flow = flow * self.factor
        extra = {c: np.asarray((channels or {})[c], dtype=np.float64) for c in self.channels
                 if c in (channels or {})}
        self.samples += t.shape[0]
        self._store(t, flow, extra)
        if isinstance(self._keep, float | int):  # the first seconds of the recording
            self._keep = (float(t[0]), float(t[0]) + float(self._keep))
        if self._keep is not None:
            lo, hi = np.searchsorted(t, self._keep)
            if hi > lo:
                self._kept.append((t[lo:hi], flow[lo:hi], paw[lo:hi], fl[lo:hi]))
        self._take(self.stream.feed(t, flow, paw, fl))

    def finish(self) -> BreathAnalysis:
        """The end of the recording: the last breaths, the last windows judged."""
        self._take(self.stream.finish())
        while self._windows:
            self._judge(self._windows.pop(0), final=True)
        return BreathAnalysis(tuple(self.breaths), self.factor, self.condition,
                              self.stream.segmentation, self.stream.metrics, self.stream.levels,
                              self.stream.no_breathing_reason)

    @property
    def dt_s(self) -> float | None:
        """The sample interval the validator settled on (median of the first intervals), s."""
        return self.validator.expected_dt_s

    def kept_trace(self) -> Trace | None:
        """The kept window's samples as a Trace at the analysis condition (None if empty)."""
        if not self._kept:
            return None
        t, flow, paw, fl = (np.concatenate(x) for x in zip(*self._kept, strict=True))
        return Trace(t, flow, paw, self.condition, self.ambient, fl)

    # -- windows of samples for the self-check and the channel means ----------------------
    def _store(self, t: np.ndarray, flow: np.ndarray, extra: dict[str, np.ndarray]) -> None:
        while t.shape[0]:
            if not self._windows:
                self._windows.append(_Window(float(t[0])))
            window = self._windows[-1]
            end = window.t0_s + WINDOW_S
            cut = int(np.searchsorted(t, end))
            if cut:
                window.parts.append((t[:cut], flow[:cut], {k: v[:cut] for k, v in extra.items()}))
            if cut == t.shape[0]:
                return
            self._windows.append(_Window(end))
            t, flow, extra = t[cut:], flow[cut:], {k: v[cut:] for k, v in extra.items()}

    def _take(self, new: list[Breath]) -> None:
        self.breaths += new
        self._unjudged += new
        # a window is judged once a breath starting after it has come (none of its own is pending)
        while len(self._windows) > 1 and self._unjudged and \
                self._unjudged[-1].t_start_s >= self._windows[0].t0_s + WINDOW_S:
            self._judge(self._windows.pop(0), final=False)

    def _judge(self, window: _Window, final: bool) -> None:
        """Self-check one window (popped) with the breaths that start in it; their channel
        means from its samples and the next window's (a breath may end there)."""
        end = window.t0_s + WINDOW_S
        mine = [b for b in self._unjudged if b.t_start_s < end or final and not self._windows]
        self._unjudged = self._unjudged[len(mine):]
        t, flow, extra = window.arrays()
        if self.channels and mine:
            both = _Window(window.t0_s, window.parts + (self._windows[0].parts if self._windows else []))
            t_both, _, extra_both = both.arrays()
            for name in self.channels:
                self.per_breath[name] += channel_means(t_both, extra_both.get(name), mine)
        if not mine or t.shape[0] < 3:
            return
        found = segmentation_doubts(t, flow, mine, self.set_rate_bpm)
        if found:
            self._doubtful_windows += 1
            if self._doubtful_windows <= MAX_WINDOWS_LISTED:
                self.doubts += [f"{reason} (in {window.t0_s:.0f}–{end:.0f} s)" for reason in found]
            elif self._doubtful_windows == MAX_WINDOWS_LISTED + 1:
                self.doubts.append(f"further windows of {WINDOW_S:.0f} s in doubt")

