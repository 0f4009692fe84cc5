"""Streaming breath analysis: feed chunks of any size, get completed breaths.

:class:`BreathStream` runs the segmentation of :mod:`analysis.segment` and the metrics of
:mod:`analysis.metrics` incrementally. What it returns over a whole run is identical — exact
float equality, same flags — to analysing the whole trace at once, for any chunking:

- the detection smoothing is a centred moving average taken from a running sum that is
  carried across chunks (``np.cumsum`` accumulates sequentially, so the running sum at a
  sample is the same float however the samples arrived); threshold events are only taken
  once their whole edge window (``4h + 4`` samples of smoothed flow after them, for the
  boundary estimator) has arrived, and every estimate reads fixed-width windows addressed
  by absolute sample index, so it is the same whichever events share a call;
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

from .breath import Breath
from .errors import AnalysisError
from .gas import GasCondition
from .metrics import Boundary, MetricSettings, breaths_metrics
from .segment import (
    RATE_ESTIMATE_SAMPLES,
    SegmentationSettings,
    hysteresis_transitions,
    refine_crossing,
    refine_edges,
)
from .trace import SampleFlag, Trace
from .units import ML_PER_S_PER_LPM

_EMPTY = np.zeros(0, dtype=np.float64)


def _finite(x: np.ndarray) -> np.ndarray:
    """Flow for detection: non-finite values (flagged gaps, faults) count as zero."""
    return np.where(np.isfinite(x), x, 0.0)


def _finite_value(x: float) -> float:
    x = float(x)
    return x if np.isfinite(x) else 0.0


class BreathStream:
    """Incremental breath segmentation and metrics.

    Parameters
    ----------
    segmentation : SegmentationSettings, optional
        Detection settings; the adult preset if omitted.
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
        self.segmentation = segmentation if segmentation is not None else SegmentationSettings()
        self.metrics = metrics if metrics is not None else MetricSettings()
        self._t = _EMPTY
        self._f = _EMPTY  # corrected flow, NaN kept (metrics)
        self._p = _EMPTY
        self._flags = np.zeros(0, dtype=np.uint8)
        self._cs = _EMPTY  # running sum of the flow (NaN as 0) from the first sample
        self._base = 0  # absolute index of buffer[0]
        self._n = 0  # samples received
        self._h: int | None = None  # half smoothing window, samples
        self._edge = 0  # samples after a threshold event searched for the phase's early peak
        self._margin = 0  # samples before a threshold event searched for its edge
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
        s = self.segmentation
        f = flow
        if s.base_flow_lpm or s.flow_offset_lpm:
            f = flow - s.base_flow_lpm - s.flow_offset_lpm
        fd = f if all_finite else _finite(f)
        last = self._cs[-1] if self._cs.shape[0] else 0.0
        cs = np.cumsum(np.concatenate(([last], fd)))[1:]
        self._t = np.concatenate((self._t, t))
        self._f = np.concatenate((self._f, f))
        self._p = np.concatenate((self._p, paw))
        self._flags = np.concatenate((self._flags, fl))
        self._cs = np.concatenate((self._cs, cs))
        self._n += t.shape[0]
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

    @property
    def buffered_samples(self) -> int:
        """Samples currently held (for memory checks)."""
        return int(self._t.shape[0])

    # -- internals ----------------------------------------------------------------------
    def _validate(self, t_s, flow_lpm, paw_cmh2o, flags):
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        flow = np.asarray(flow_lpm, dtype=np.float64).reshape(-1)
        paw = np.asarray(paw_cmh2o, dtype=np.float64).reshape(-1)
        n = t.shape[0]
        fl = np.zeros(n, dtype=np.uint8) if flags is None else np.asarray(flags, dtype=np.uint8).reshape(-1)
        if flow.shape[0] != n or paw.shape[0] != n or fl.shape[0] != n:
            raise AnalysisError(
                f"BreathStream.feed: lengths differ: t_s {n}, flow_lpm {flow.shape[0]}, "
                f"paw_cmh2o {paw.shape[0]}, flags {fl.shape[0]}; expected one length"
            )
        if n == 0:
            return t, flow, paw, fl, True
        if not np.all(np.isfinite(t)):
            i = int(np.flatnonzero(~np.isfinite(t))[0])
            raise AnalysisError(f"BreathStream.feed: sample {self._n + i}: time is not finite ({t[i]})")
        prev = np.concatenate((self._t[-1:], t))
        bad = np.flatnonzero(np.diff(prev) <= 0)
        if bad.size:
            k = int(bad[0])
            i = self._n + k + (0 if self._t.shape[0] else 1)
            raise AnalysisError(
                f"BreathStream.feed: sample {i}: time {float(prev[k + 1])!r} s does not increase "
                f"(previous {float(prev[k])!r} s); time must be strictly increasing"
            )
        finite = np.isfinite(flow)
        if finite.all():
            return t, flow, paw, fl, True
        unexcused = ~finite & ((fl & (SampleFlag.GAP | SampleFlag.FAULT)) == 0)
        if unexcused.any():
            i = int(np.flatnonzero(unexcused)[0])
            raise AnalysisError(
                f"BreathStream.feed: sample {self._n + i} (t = {t[i]:.6g} s): flow is {flow[i]} "
                f"but the sample is not flagged as a gap or fault"
            )
        return t, flow, paw, fl, False

    def _advance(self, final: bool = False) -> list[Breath]:
        out: list[Breath] = []
        if self._h is None:
            if self._n < RATE_ESTIMATE_SAMPLES and not final:
                return out
            self._h = self.segmentation.half_window(self._t)
            self._edge = 4 * self._h + 4
            self._margin = 4 * self._h + 4
            self._q = self.metrics.pip_fit_samples(self._t)
        h = self._h
        start = max(self._next, h)
        # a threshold event is examined once the smoothed flow of its edge window exists
        stop = self._n - h - (0 if final else self._edge)
        if stop > start:
            sm = self._smooth(start, stop)
            s = self.segmentation
            idx, rising, self._state = hysteresis_transitions(
                sm, s.insp_threshold_lpm, s.exp_threshold_lpm, self._state
            )
            if idx.size:
                ii = start + idx
                lim = np.full(ii.shape, self._n - h - 1)
                e_idx, e_t = self._edges(ii, ii - self._margin, rising, lim)
                rows = zip(ii.tolist(), rising.tolist(), e_idx.tolist(), e_t.tolist(), strict=True)
                for i, up, e_i, e_t_s in rows:
                    self._transition(i, up, out, (e_i, e_t_s))
            self._next = stop
        if final:
            self._close_at_end(out)
        else:
            self._drop_dead()
        self._flush(out)
        return out

    def _smooth(self, start: int, stop: int) -> np.ndarray:
        """Detection flow (centred moving average) for absolute samples ``start:stop``."""
        h = self._h
        b = self._base
        if h == 0:
            return _finite(self._f[start - b : stop - b])
        hi = self._cs[start + h - b : stop + h - b]
        if start - h - 1 >= 0:
            lo = self._cs[start - h - 1 - b : stop - h - 1 - b]
        else:  # the window starts at the first sample of the trace: running sum 0 before it
            lo = np.concatenate(([0.0], self._cs[: stop - h - 1 - b]))
        return (hi - lo) * (1.0 / (2 * h + 1))

    def _edges(self, i: np.ndarray, lo: np.ndarray, up: np.ndarray, limit: np.ndarray):
        """Edge estimates for threshold events ``i`` (absolute), vectorised over them.

        Per event: the early peak of the smoothed flow in ``i .. i + edge`` (not past
        ``limit``), then :func:`~analysis.segment.refine_edges` on the samples from
        ``max(lo, i - margin)`` to the end of the peak's smoothing window. Windows have one
        fixed width per stream, so each event's result is the same whichever events share
        the call. Returns (absolute index or -1 where no edge was found, time s).
        """
        b, h, p, mg = self._base, self._h, self._edge, self._margin
        r = i.shape[0]
        last = np.minimum(i + p, limit)
        j = np.arange(p + 1)[None, :]
        at = i[:, None] + j  # absolute sample of each smoothed value
        ok_sm = at <= last[:, None]
        if h == 0:
            sm = _finite(self._f[np.clip(at - b, 0, self._t.shape[0] - 1)])
        else:
            hi = self._cs[np.clip(at + h - b, 0, self._cs.shape[0] - 1)]
            lo_i = at - h - 1
            lo_v = np.where(lo_i >= 0, self._cs[np.clip(lo_i - b, 0, self._cs.shape[0] - 1)], 0.0)
            sm = (hi - lo_v) * (1.0 / (2 * h + 1))
        s = np.where(ok_sm, np.where(up[:, None], sm, -sm), -np.inf)
        k = np.argmax(s, axis=1)
        peak = s[np.arange(r), k]
        last = np.minimum(last, i + k + h)
        first = i - mg
        a = np.maximum(lo, first)
        width = mg + p + h + 1
        cols = np.arange(width)[None, :]
        at = first[:, None] + cols
        inside = (at >= a[:, None]) & (at <= last[:, None])
        rel = np.clip(at - b, 0, self._t.shape[0] - 1)
        f = self._f[rel]
        gw = np.where(inside, _finite(np.where(up[:, None], f, -f)), 0.0)
        tw = self._t[rel]
        tried = (peak > 0) & (last > a) & (last > i)
        col, t_c = refine_edges(gw, tw, a - first, last + 1 - first, np.where(tried, peak, 1.0))
        return np.where(tried & (col >= 0), first + col, -1), t_c

    def _refine(self, i: int, lo: int, up: bool, limit: int | None = None,
                edge: tuple[int, float] | None = None) -> Boundary:
        """Boundary of the phase entered at threshold event ``i`` (searched after ``lo``).

        The edge estimate of :meth:`_edges` (``edge`` if already computed); if no edge is
        found, the last (band) zero crossing in ``(lo, i + h]``, or sample ``i``.
        """
        b, h = self._base, self._h
        if edge is None:
            lim = self._n - h - 1 if limit is None else min(limit, self._n - h - 1)
            idx, t_c = self._edges(np.array([i]), np.array([lo]), np.array([up]), np.array([lim]))
            edge = (int(idx[0]), float(t_c[0]))
        if edge[0] >= 0:
            return Boundary(edge[0], edge[1], 0.0)
        found = refine_crossing(
            self._t, self._f, lo - b, i + h - b, up, self.segmentation.zero_band_lpm
        )
        if found is None:
            return Boundary(i, float(self._t[i - b]), _finite_value(self._f[i - b]))
        return Boundary(found[0] + b, found[1], 0.0)

    def _transition(self, i: int, up: bool, out: list[Breath], edge=None) -> None:
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

    def _late_start(self, bound: Boundary, i_up: int, lo: int, i_down: int) -> Boundary:
        """Start of inspiration at the last rise through the threshold before peak flow.

        Noise in a long expiratory pause can lift the smoothed flow above the threshold
        without a following dip below the expiratory one; the hysteresis then stays in
        "inspiration" until the real breath. The real start is the last rise through the
        inspiratory threshold before the smoothed flow peaks.
        """
        sm = self._smooth(i_up - 1, i_down)
        k = int(np.argmax(sm))
        above = sm[: k + 1] > self.segmentation.insp_threshold_lpm
        rises = np.flatnonzero(above[1:] & ~above[:-1])
        if rises.size == 0 or rises[-1] == 0:
            return bound
        return self._refine(i_up + int(rises[-1]), lo, True)

    def _coarse_volume_ml(self, a: Boundary, b: Boundary) -> float:
        """Volume from a to b for noise rejection, O(1) from the running sum: mean flow x time."""
        n = b.index - a.index
        if n <= 0:
            return 0.0
        base = self._base
        before = float(self._cs[a.index - 1 - base]) if a.index > 0 else 0.0
        total = float(self._cs[b.index - 1 - base]) - before
        return total / n * (b.t_s - a.t_s) * ML_PER_S_PER_LPM

    def _late_end(self, start: Boundary, insp_end: Boundary, i_down: int, nxt: Boundary) -> Boundary:
        """End of inspiration at the last fall through the threshold before peak expiratory
        flow, if nothing was breathed out before it.

        Noise in an end-inspiratory pause (or the near-zero flow at the end of a pressure-
        controlled inspiration) can dip below the expiratory threshold before the valve
        opens; the real end is the later fall, when the volume between the two is no more
        than noise (above ``-min_vti_ml``).
        """
        stop = min(nxt.index, self._n - self._h)  # smoothed flow exists up to n - h
        if stop - 1 <= i_down:
            return insp_end
        sm = self._smooth(i_down - 1, stop)
        k = int(np.argmin(sm))
        below = sm[: k + 1] < self.segmentation.exp_threshold_lpm
        falls = np.flatnonzero(below[1:] & ~below[:-1])
        if falls.size == 0 or falls[-1] == 0:
            return insp_end
        later = self._refine(i_down + int(falls[-1]), insp_end.index, False, nxt.index - self._h - 1)
        if later.index > insp_end.index and (
            self._coarse_volume_ml(insp_end, later) > -self.segmentation.min_vti_ml
        ):
            return later
        return insp_end

    def _accept(self, start: Boundary, insp_end: Boundary, i_down: int, out: list[Breath]) -> None:
        """Judge a candidate inspiration; if real, it closes the pending breath."""
        s = self.segmentation
        ti_s = insp_end.t_s - start.t_s
        if not (s.min_insp_s <= ti_s <= s.max_breath_s):
            return
        vti_ml = self._coarse_volume_ml(start, insp_end)
        # A real inspiration's mean flow exceeds the trigger level; noise in a long pause
        # (with a small sensor offset) can pile up volume without ever being large.
        if not (vti_ml >= s.min_vti_ml and vti_ml >= s.insp_threshold_lpm * ML_PER_S_PER_LPM * ti_s):
            return
        if self._pending is not None:
            p_start, p_end, p_down = self._pending
            self._emit(p_start, self._late_end(p_start, p_end, p_down, start), start, out)
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

        def rel(x: Boundary) -> Boundary:
            return Boundary(x.index - lo, x.t_s, x.flow_lpm)

        starts, insp_ends, ends, extra = zip(*self._queue, strict=True)
        breaths = breaths_metrics(
            self._t[sl],
            self._f[sl],
            self._p[sl],
            self._flags[sl],
            [rel(x) for x in starts],
            [rel(x) for x in insp_ends],
            [rel(x) for x in ends],
            self.metrics,
            list(extra),
            self._count,
            self._q,
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
        end = Boundary(last, float(self._t[last - b]), _finite_value(self._f[last - b]))
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
        if self._h is None:
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
        cut = keep - b
        if cut <= 0:
            return
        self._t = self._t[cut:].copy()
        self._f = self._f[cut:].copy()
        self._p = self._p[cut:].copy()
        self._flags = self._flags[cut:].copy()
        self._cs = self._cs[cut:].copy()
        self._base = keep


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
        Settings used.
    """

    breaths: tuple[Breath, ...]
    volume_factor: float
    condition: GasCondition
    segmentation: SegmentationSettings
    metrics: MetricSettings

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
        Adult preset if omitted.
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
        tuple(breaths), factor, converted.flow_condition, stream.segmentation, stream.metrics
    )
