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

from bisect import bisect_right
from dataclasses import dataclass, replace

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
from ventbench.analysis.segment import (
    RATE_ESTIMATE_SAMPLES,
    SegmentationSettings,
    median_interval_s,
)
from ventbench.analysis.trace import Trace
from ventbench.analysis.triggers import LOOKAHEAD_S, LOOKBACK_S, MIN_EFFORT_S, trigger_windows
from ventbench.analysis.workspace import WorkArray
from ventbench.errors import AnalysisError
from ventbench.units import ML_PER_S_PER_LPM

#: An inspiration longer than this many expected inspiratory times is searched for a second
#: delivery inside it (double trigger).
LONG_INSPIRATION = 1.5
#: Pressure fall between two deliveries of one inspiration, at least, cmH2O.
MIN_DELIVERY_DROP_CMH2O = 1.0
#: Trigger search pre-filter: detection flow MIN_EFFORT_S after a start below this fraction
#: of the flow PREFILTER_LATER_S after it.
PREFILTER_FRACTION, PREFILTER_LATER_S = 0.25, 0.15


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
        #: trigger search per breath start (absolute index): its window (lo, hi) until
        #: computed in _flush, then (delivery start, t_effort_s or NaN); see analysis.triggers
        self._trig_req: dict[int, tuple[Boundary, int, int]] = {}
        self._trig: dict[int, tuple[Boundary, float]] = {}
        #: start index -> the end of inspiration before it (of the breath it ends)
        self._insp_end_before: dict[int, Boundary] = {}
        self._double_starts: set[int] = set()  # second deliveries split off an inspiration
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
            self._dt_s = median_interval_s(self._t) if self._n > 1 else 1.0
            self._lookback = int(round(LOOKBACK_S / self._dt_s))
            self._lookahead = int(round(LOOKAHEAD_S / self._dt_s))
            seg = self.segmentation
            ti = seg.set_ti_s or (self.levels.ti_s if self.levels is not None else 0.0)
            self._ti_expected_s = ti if ti > 0 else float("inf")
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
        split = self._double_split(start, insp_end)
        if split is not None:  # two deliveries with no expiration between: two breaths
            self._accept(start, split[0], split[0].index, out)
            self._double_starts.add(split[1].index)
            self._accept(split[1], insp_end, i_down, out)
            return
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
            self._emit(p_start, self._late_end(p_end, p_down, start), start, out, p_down, i_down)
        self._pending = (start, insp_end, i_down)

    def _double_split(self, start: Boundary, insp_end: Boundary) -> tuple[Boundary, Boundary] | None:
        """A second delivery inside one inspiration (a double trigger whose flow never fell
        below the expiratory threshold): (end of the first inspiration, start of the second),
        or None.

        Only an inspiration whose detection flow rises through the inspiratory threshold
        again inside it, or that lasts more than ``LONG_INSPIRATION`` times the expected
        inspiratory time (set, or estimated by adaptive settings), is examined (from the
        crossings held for the call: no array work otherwise). It is split at the deepest
        dip of the flow between two peaks (at least half the smaller peak deep) when the
        airway pressure fell there at least half-way from its high back to its level at the
        start (the ventilator ended one delivery and began another; ringing
        or a decaying pressure-control flow keep the pressure up), and both parts are real
        inspirations (``min_insp_s``, ``min_vti_ml``).
        """
        s = self.segmentation
        a, z = start.index, insp_end.index
        c0, sm_all = self._smc
        if a <= c0 or z >= c0 + sm_all.shape[0]:
            return None
        m = max(1, int(s.min_insp_s / self._dt_s))
        runs = self._rise_list
        j = bisect_right(runs, a + m)
        rises = j < len(runs) and runs[j] < z - m
        if not rises and not insp_end.t_s - start.t_s > LONG_INSPIRATION * self._ti_expected_s:
            return None
        sm = sm_all[a - c0 : z - c0]
        # the deepest dip between two flow peaks
        dip = np.minimum(np.maximum.accumulate(sm), np.maximum.accumulate(sm[::-1])[::-1]) - sm
        kv = int(np.argmax(dip))
        k1 = int(np.argmax(sm[: kv + 1]))
        r = kv + 1 + int(np.argmax(sm[kv + 1 :])) if kv + 1 < sm.shape[0] else kv
        if not dip[kv] >= 0.5 * min(sm[k1], sm[r]) or not 0 < kv < sm.shape[0] - 1:
            return None
        b = self._base
        hp = max(1, int(round(0.01 / self._dt_s / 2)))
        p = self._p[a - b : z - b]
        p = np.convolve(p, np.full(2 * hp + 1, 1.0 / (2 * hp + 1)), mode="same")
        p_lo, p_hi = float(p[min(hp, p.shape[0] - 1)]), float(np.max(p[: kv + 1]))
        p_valley = float(np.min(p[k1 : min(r + hp + 1, p.shape[0])]))
        # the pressure fell (by >= 1 cmH2O) at least half-way back to its start level, or
        # below it (a strong effort can hold the pressure low during a volume delivery)
        if not (p_hi - p_valley >= MIN_DELIVERY_DROP_CMH2O
                and p_valley <= p_lo + 0.5 * max(p_hi - p_lo, 0.0)):
            return None
        e0 = Boundary(a + kv, float(self._t[a + kv - b]), finite_value(self._f[a + kv - b]))
        s1 = Boundary(a + kv + 1, float(self._t[a + kv + 1 - b]), finite_value(self._f[a + kv + 1 - b]))
        for x, y in ((start, e0), (s1, insp_end)):
            if y.t_s - x.t_s < s.min_insp_s or self._coarse_volume_ml(x, y) < s.min_vti_ml:
                return None
        return e0, s1

    def _request_trigger(self, bound: Boundary, i_down: int) -> None:
        """Ask for the trigger search of a breath start (computed in :meth:`_flush`): the
        window reaches back to the previous end of inspiration (at most LOOKBACK_S) and on
        to the early peak (at most LOOKAHEAD_S, within the edge window of the inspiration's
        end event: samples every chunking holds by then)."""
        i = bound.index
        if i in self._trig or i in self._trig_req:
            return
        prev = self._insp_end_before.get(i)
        lo = i - self._lookback if prev is None else max(i - self._lookback, prev.index)
        hi = min(i + self._lookahead, i_down + self._edge + 1)
        self._trig_req[i] = (bound, lo, hi)

    def _emit(self, start: Boundary, insp_end: Boundary, end: Boundary, out: list[Breath],
              i_down_start: int = -1, i_down_end: int = -1) -> None:
        """Queue a complete breath; its metrics are computed with the others of this call."""
        s = self.segmentation
        self._insp_end_before[end.index] = insp_end
        self._request_trigger(start, i_down_start if i_down_start >= 0 else insp_end.index)
        self._request_trigger(end, i_down_end if i_down_end >= 0 else end.index)
        cycle_s = end.t_s - start.t_s
        if cycle_s > s.max_breath_s:
            return
        extra = []
        if end.t_s - insp_end.t_s < s.min_exp_s or start.index in self._double_starts:
            extra.append("double_trigger")
        if cycle_s < s.min_insp_s + s.min_exp_s:
            extra.append("too_short")
        self._queue.append((start, insp_end, end, tuple(extra)))

    def _triggers(self) -> None:
        """Trigger search (:func:`analysis.triggers.trigger_windows`) of every requested
        breath start, in one call."""
        if not self._trig_req:
            return
        req = sorted(self._trig_req.items())
        self._trig_req.clear()
        idx = np.array([i for i, _ in req])
        # Only a start with inspiratory flow just before it, or with flow just after it well
        # below the flow a little later (an effort before the delivery), can be triggered:
        # the full search for those alone. Indices stay inside each request's window.
        m = max(1, int(round(MIN_EFFORT_S / self._dt_s)))
        top = np.array([r[2] for _, r in req]) - self._h - 1
        later = np.minimum(idx + int(round(PREFILTER_LATER_S / self._dt_s)), top)
        n = idx.shape[0]
        near = self._smoothed_rows(np.concatenate((idx - m - self._h, np.minimum(idx + m, top), later)), 1)[:, 0]
        maybe = (near[:n] > 0.0) | (near[n : 2 * n] < PREFILTER_FRACTION * near[2 * n :])
        for (i, (bound, _, _)), ok in zip(req, maybe.tolist(), strict=True):
            if not ok:
                self._trig[i] = (bound, np.nan)
        req = [r for r, ok in zip(req, maybe.tolist(), strict=True) if ok]
        if not req:
            return
        idx = idx[maybe]
        lo = np.array([r[1] for _, r in req])
        hi = np.array([r[2] for _, r in req])
        first = idx - self._lookback
        width = self._lookback + self._lookahead + 1
        f = self._rows(self._f, first, width)
        forced = np.array([i in self._double_starts for i in idx.tolist()])
        trig, col, t_del, t_eff = trigger_windows(
            self._rows(self._t, first, width), np.where(np.isfinite(f), f, 0.0),
            self._rows(self._p, first, width), self._lookback, lo - first, hi - first, self._dt_s,
            forced)
        b = self._base
        rows = zip(req, col.tolist(), t_del.tolist(), t_eff.tolist(), strict=True)
        for (i, (bound, _, _)), c, td, te in rows:
            if c != self._lookback:
                k = i - self._lookback + c
                f0, f1 = finite_value(self._f[k - 1 - b]), finite_value(self._f[k - b])
                t0, t1 = float(self._t[k - 1 - b]), float(self._t[k - b])
                bound = Boundary(k, td, f0 + (f1 - f0) * (td - t0) / (t1 - t0))
            self._trig[i] = (bound, te)

    def _flush(self, out: list[Breath]) -> None:
        """Metrics of the queued breaths, vectorised over them, from one buffer slice."""
        self._triggers()  # every request now: its samples may be trimmed after this call
        if not self._queue:
            return
        queue = []
        efforts = []
        for start, insp_end, end, extra in self._queue:
            prev = self._insp_end_before.get(start.index)
            start, t_eff = self._trig.get(start.index, (start, np.nan))
            end = self._trig.get(end.index, (end, np.nan))[0]
            if t_eff == t_eff:  # triggered
                extra = ("patient_triggered", *extra)
                # the effort began right after the previous inspiration: it outlasted it
                if (prev is not None and t_eff - prev.t_s < self.segmentation.min_exp_s
                        and "double_trigger" not in extra):
                    extra = (*extra, "double_trigger")
            queue.append((start, insp_end, end, extra))
            efforts.append(t_eff)
        keep = self._queue[-1][2].index  # the pending breath's start, as requested (unrefined)
        for d in (self._trig, self._insp_end_before):
            for i in [i for i in d if i < keep]:
                del d[i]
        self._double_starts = {i for i in self._double_starts if i >= keep}
        self._queue[:] = queue
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
        for k, t_eff in enumerate(efforts):
            if t_eff == t_eff:
                b = breaths[k]
                breaths[k] = replace(b, t_effort_s=t_eff, trigger_delay_s=b.t_start_s - t_eff)
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
            keep = min(keep, self._open[0].index - 1 - self._lookback, self._open[1] - m - 1)
        if self._pending is not None:
            keep = min(keep, self._pending[0].index - 1 - self._lookback, self._pending[2] - m - 2)
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
