"""Streaming breath analysis: feed chunks of any size, get completed breaths.

:class:`BreathStream` runs the segmentation of :mod:`analysis.segment` and the metrics of
:mod:`analysis.metrics` incrementally. What it returns over a whole run is identical — exact
float equality, same flags — to analysing the whole trace at once, for any chunking:

- threshold events are only taken once their whole edge window (``4h + 4`` samples of
  smoothed flow after them, for the boundary estimator) has arrived, and every estimate is
  read from the samples by absolute index (:class:`analysis.boundaries.BoundaryFinder`,
  which this class extends with the breath state machine), so it is the same whichever
  events share a call;
- the hysteresis state, the last refined boundary and the open / pending breath are carried
  explicitly between chunks;
- per-breath metrics are computed from the breath's own sample slice (addressed by absolute
  sample index), never from sums running across chunks.

Memory is bounded: the buffer keeps samples from the start of the oldest breath that can
still complete, and never more than about ``2 * max_breath_s`` of samples; breaths longer
than ``max_breath_s`` are never reported, so discarding them changes nothing.

:func:`analyze_breaths` is the whole-trace entry point and uses the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ventbench.analysis.adaptive import (
    CALIBRATION_BLOCK_S,
    SignalLevels,
    settings_from_levels,
    signal_levels,
)
from ventbench.analysis.boundaries import BoundaryFinder
from ventbench.analysis.breath import Breath
from ventbench.analysis.buffer import finite_value
from ventbench.analysis.gas import GasCondition
from ventbench.analysis.metrics import Boundary, MetricSettings, boundary_arrays, metrics_of_bounds
from ventbench.analysis.segment import RATE_ESTIMATE_SAMPLES, SegmentationSettings
from ventbench.analysis.trace import Trace
from ventbench.analysis.workspace import WorkArray

from ventbench.errors import AnalysisError
from ventbench.units import ML_PER_S_PER_LPM


class BreathStream(BoundaryFinder):
    """Incremental breath segmentation and metrics.

    The breath state machine — threshold events of the hysteresis, candidate inspirations
    (open), accepted ones awaiting the next start (pending), breaths queued for metrics —
    over the samples, smoothing and boundary estimates of
    :class:`~analysis.boundaries.BoundaryFinder`.

    Parameters
    ----------
    segmentation : SegmentationSettings, optional
        Detection settings; adaptive (:meth:`SegmentationSettings.auto`) if omitted.
    metrics : MetricSettings, optional
        Pressure windows and plateau rule; defaults if omitted.

    Examples
    --------
    >>> stream = BreathStream()
    >>> breaths = []
    >>> for t_s, flow_lpm, paw_cmh2o in chunks:          # doctest: +SKIP
    ...     breaths += stream.feed(t_s, flow_lpm, paw_cmh2o)
    >>> breaths += stream.finish()                       # doctest: +SKIP
    """

    def __init__(
        self, segmentation: SegmentationSettings | None = None, metrics: MetricSettings | None = None
    ) -> None:
        seg = segmentation if segmentation is not None else SegmentationSettings.auto()
        super().__init__(seg)
        #: the adaptive settings asked for, until the calibration settles them (then None)
        self._calibrating: SegmentationSettings | None = seg if seg.adaptive else None
        #: levels the adaptive settings came from (or of the last block without breathing)
        self.levels: SignalLevels | None = None
        self._block = 0  # calibration block examined next
        self.metrics = metrics if metrics is not None else MetricSettings()
        self._q = 0  # samples of the end-of-inspiration pressure fit (PIP)
        self._next = 0  # first absolute index not yet examined for threshold events
        self._state = -1  # hysteresis: -1 unknown, 0 expiration, 1 inspiration
        self._last_cross = 0  # absolute index of the last refined boundary
        #: inspiration candidate awaiting its end: (start, threshold index, search bound)
        self._open: tuple[Boundary, int, int] | None = None
        #: accepted inspiration awaiting the next start: (start, end, threshold index of end)
        self._pending: tuple[Boundary, Boundary, int] | None = None
        self._count = 0
        self._queue: list[tuple[Boundary, Boundary, Boundary, tuple[str, ...]]] = []
        self._finished = False
        self._metrics_work = WorkArray()

    # -- public -------------------------------------------------------------------------
    def feed(self, t_s, flow_lpm, paw_cmh2o, flags=None) -> list[Breath]:
        """Add samples; return the breaths completed by them.

        Parameters
        ----------
        t_s : array_like
            Sample times, s, strictly increasing (also across calls).
        flow_lpm : array_like
            Flow, L/min, positive into the patient, at the analysis gas condition.
        paw_cmh2o : array_like
            Airway pressure, cmH2O.
        flags : array_like of uint8, optional
            :class:`~analysis.trace.SampleFlag` masks; non-finite flow must be flagged GAP
            or FAULT.

        Returns
        -------
        list of Breath
            Breaths whose boundaries can no longer change, numbered consecutively.
        """
        if self._finished:
            raise AnalysisError("BreathStream.feed called after finish(); create a new stream")
        t, flow, paw, fl, all_finite = self._validate(t_s, flow_lpm, paw_cmh2o, flags)
        if t.shape[0] == 0:
            return []
        self._append(t, flow, paw, fl, all_finite)
        out = self._advance()
        self._trim()
        return out

    def finish(self) -> list[Breath]:
        """Signal the end of the trace; return the breaths that complete only now."""
        if self._finished:
            return []
        out = self._advance(final=True)
        self._finished = True
        return out

    # -- internals ----------------------------------------------------------------------
    @property
    def no_breathing_reason(self) -> str:
        """Why this stream found no breathing ("" if it did, or has not decided yet)."""
        if self._calibrating is None or self.levels is None:
            return ""
        return self.levels.reason

    def _calibrate(self, final: bool) -> bool:
        """Settle adaptive settings on the first complete block that breathes (module doc of
        :mod:`analysis.adaptive`); True once settled. Blocks without breathing are dropped
        but for the one before the block examined (a breath may start there)."""
        seg = self._calibrating
        if seg is None:
            return True
        if self._n == 0:
            return False
        t0 = self._t_first
        block_s = CALIBRATION_BLOCK_S
        if seg.set_rate_bpm > 0:
            block_s = max(block_s, 2.5 * 60.0 / seg.set_rate_bpm)
        while True:
            a_s, b_s = t0 + self._block * block_s, t0 + (self._block + 1) * block_s
            t_last = float(self._t[-1])
            if t_last < b_s and not final:
                return False
            i, j = np.searchsorted(self._t, (a_s, b_s))
            if j - i >= 3 or final:
                self.levels = signal_levels(self._t[i:j], self._f[i:j])
                if self.levels.breathing:
                    self.segmentation = settings_from_levels(self.levels, seg, seg.set_ti_s)
                    self._calibrating = None
                    return True
            if t_last < b_s:  # the trace ended without breathing
                return False
            self._block += 1
            self._cut(self._base + int(i))

    def _advance(self, final: bool = False) -> list[Breath]:
        out: list[Breath] = []
        if not self._calibrate(final):
            return out
        if self._h is None:
            if self._n < RATE_ESTIMATE_SAMPLES and not final:
                return out
            self._h = self.segmentation.half_window(self._t)
            self._edge = 4 * self._h + 4
            self._margin = 4 * self._h + 4
            self._q = self.metrics.pip_fit_samples(self._t)
        h = self._h
        # samples before _base (calibration blocks without breathing) are gone
        start = max(self._next, h if self._base == 0 else self._base + h + 1)
        # a threshold event is examined once the smoothed flow of its edge window exists
        stop = self._n - h - (0 if final else self._edge)
        self._smooth_held()
        if stop > start:
            idx, rising, self._state = self._transitions(start, stop, self._state)
            if idx.size:
                ii = start + idx
                lim = np.full(ii.shape, self._n - h - 1)
                e_idx, e_t = self._edges(ii, ii - self._margin, rising, lim)
                b = self._base
                hz = b + np.searchsorted(self._t, self._t[ii - b] - self.segmentation.max_breath_s)
                rows = zip(ii.tolist(), rising.tolist(), e_idx.tolist(), e_t.tolist(), hz.tolist(),
                           strict=True)
                for i, up, e_i, e_t_s, horizon in rows:
                    self._transition(i, up, out, (e_i, e_t_s), horizon)
            self._next = stop
        if final:
            self._close_at_end(out)
        else:
            self._drop_dead()
        self._flush(out)
        return out

    def _transition(self, i: int, up: bool, out: list[Breath], edge=None, horizon: int = -1) -> None:
        """Threshold event ``i``; ``horizon``: first sample within max_breath_s before it."""
        if horizon < 0:
            b = self._base
            t_i = float(self._t[i - b])
            horizon = b + int(np.searchsorted(self._t, t_i - self.segmentation.max_breath_s))
        lo = max(self._last_cross, horizon)
        if edge is not None and lo > i - self._margin:
            edge = None  # the precomputed window reached back past the last boundary
        bound = self._refine(i, lo, up, edge=edge)
        self._last_cross = bound.index
        if up:
            self._open = (bound, i, lo)
        elif self._open is not None:
            start = self._late_start(*self._open, i)
            self._open = None
            self._accept(start, bound, i, out)

    def _accept(self, start: Boundary, insp_end: Boundary, i_down: int, out: list[Breath]) -> None:
        """Judge a candidate inspiration; if real, it closes the pending breath.

        A candidate that starts before the pending inspiration's refined end (a threshold
        event inside the look-ahead of that end's edge estimate, whose own boundary search
        window was then empty) is no new breath: it is merged into the pending inspiration,
        which ends at the later of the two ends.
        """
        s = self.segmentation
        ti_s = insp_end.t_s - start.t_s
        if not (ti_s > 0.0 and s.min_insp_s <= ti_s <= s.max_breath_s):
            return
        vti_ml = self._coarse_volume_ml(start, insp_end)
        # A real inspiration's mean flow exceeds the trigger level; noise in a long pause
        # (with a small sensor offset) can pile up volume without ever being large.
        if not (vti_ml >= s.min_vti_ml and vti_ml >= s.mean_flow_lpm * ML_PER_S_PER_LPM * ti_s):
            return
        if self._pending is not None:
            p_start, p_end, p_down = self._pending
            if start.t_s <= p_end.t_s:
                if insp_end.t_s > p_end.t_s:
                    self._pending = (p_start, insp_end, i_down)
                return
            self._emit(p_start, self._late_end(p_end, p_down, start), start, out)
        self._pending = (start, insp_end, i_down)

    def _emit(self, start: Boundary, insp_end: Boundary, end: Boundary, out: list[Breath]) -> None:
        """Queue a complete breath; its metrics are computed with the others of this call."""
        s = self.segmentation
        cycle_s = end.t_s - start.t_s
        if cycle_s > s.max_breath_s:
            return
        extra = []
        if end.t_s - insp_end.t_s < s.min_exp_s:
            extra.append("double_trigger")
        if cycle_s < s.min_insp_s + s.min_exp_s:
            extra.append("too_short")
        self._queue.append((start, insp_end, end, tuple(extra)))

    def _flush(self, out: list[Breath]) -> None:
        """Metrics of the queued breaths, vectorised over them, from one buffer slice."""
        if not self._queue:
            return
        lo = max(self._queue[0][0].index - 1, 0)
        hi = self._queue[-1][2].index + 1
        sl = slice(lo - self._base, hi - self._base)
        starts, insp_ends, ends, extra = zip(*self._queue, strict=True)
        breaths = metrics_of_bounds(
            self._t[sl],
            self._f[sl],
            self._p[sl],
            self._flags[sl],
            *boundary_arrays(starts, insp_ends, ends, offset=lo),
            self.metrics,
            list(extra),
            self._count,
            self._q,
            self._metrics_work.take(2 * (hi - lo)),
        )
        self._count += len(breaths)
        self._queue.clear()
        out.extend(breaths)

    def _close_at_end(self, out: list[Breath]) -> None:
        """At the end of the trace an inspiration in progress may still close the pending breath."""
        if self._open is None or self._pending is None or self._n == 0:
            return
        b = self._base
        last = self._n - 1
        end = Boundary(last, float(self._t[last - b]), finite_value(self._f[last - b]))
        start = self._late_start(*self._open, self._n - self._h)
        self._open = None
        pending = self._pending
        self._accept(start, end, self._n - self._h, out)
        if self._pending is pending:  # not accepted: nothing closes it
            return
        self._pending = None

    def _drop_dead(self) -> None:
        """Forget an open or pending breath that can no longer complete within max_breath_s."""
        if self._next <= self._base or self._h is None:
            return
        limit = 2.0 * self.segmentation.max_breath_s
        t_now = float(self._t[self._next - 1 - self._base])
        if self._open is not None and t_now - self._open[0].t_s > limit:
            self._open = None
        if self._pending is not None and t_now - self._pending[0].t_s > limit:
            opened = self._open
            if opened is None or opened[0].t_s - self._pending[0].t_s > self.segmentation.max_breath_s:
                self._pending = None

    def _trim(self) -> None:
        """Drop the samples no open, pending or future boundary can read any more."""
        if self._h is None or self._calibrating is not None:
            return
        h = self._h
        b = self._base
        m = max(h, self._margin) + 1  # samples before a threshold event read by _refine
        keep = self._next - m
        if self._next > b:
            t_next = float(self._t[self._next - 1 - b])
            horizon = b + int(np.searchsorted(self._t, t_next - self.segmentation.max_breath_s))
            keep = min(keep, max(self._last_cross, horizon) - 1)
        else:
            keep = min(keep, self._last_cross - 1)
        if self._open is not None:
            keep = min(keep, self._open[0].index - 1, self._open[1] - m - 1)
        if self._pending is not None:
            keep = min(keep, self._pending[0].index - 1, self._pending[2] - m - 2)
        self._cut(keep)


@dataclass(frozen=True)
class BreathAnalysis:
    """Breaths of a whole trace and how they were obtained.

    Attributes
    ----------
    breaths : tuple of Breath
        Complete breaths, numbered from 0; volumes in mL at ``condition``.
    volume_factor : float
        Gas factor applied to the trace's flow to state it at ``condition``.
    condition : GasCondition
        Condition of every volume and flow in ``breaths``.
    segmentation, metrics : SegmentationSettings, MetricSettings
        Settings used (adaptive settings: the fixed ones they settled on, or the adaptive
        ones when the trace showed no breathing).
    levels : SignalLevels or None
        Signal levels adaptive settings came from (None for fixed settings).
    no_breathing_reason : str
        Why adaptive settings found no breathing ("no breathing found: flow within the
        noise floor of 0.04 L/min"); "" otherwise.
    """

    breaths: tuple[Breath, ...]
    volume_factor: float
    condition: GasCondition
    segmentation: SegmentationSettings
    metrics: MetricSettings
    levels: SignalLevels | None = None
    no_breathing_reason: str = ""

    @property
    def settings(self) -> tuple[SegmentationSettings, MetricSettings]:
        """(segmentation, metrics) settings used."""
        return self.segmentation, self.metrics


def analyze_breaths(
    trace: Trace,
    segmentation: SegmentationSettings | None = None,
    metrics: MetricSettings | None = None,
    condition: GasCondition | str = GasCondition.BTPS,
) -> BreathAnalysis:
    """Segment a whole trace and measure every complete breath.

    Parameters
    ----------
    trace : Trace
        Flow (at ``trace.flow_condition``), pressure and flags.
    segmentation : SegmentationSettings, optional
        Adaptive settings (:meth:`SegmentationSettings.auto`) if omitted.
    metrics : MetricSettings, optional
        Defaults if omitted.
    condition : GasCondition or str
        Gas condition to state volumes at (BTPS by default); the flow is converted once by
        a scalar factor before segmentation.

    Returns
    -------
    BreathAnalysis
    """
    converted, factor = trace.converted(condition)
    stream = BreathStream(segmentation, metrics)
    breaths = stream.feed(converted.t_s, converted.flow_lpm, converted.paw_cmh2o, converted.flags)
    breaths += stream.finish()
    return BreathAnalysis(
        tuple(breaths), factor, converted.flow_condition, stream.segmentation, stream.metrics,
        stream.levels, stream.no_breathing_reason,
    )
