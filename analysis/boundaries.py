"""Phase boundaries of a breath stream, estimated from the samples it holds.

Every estimate reads the samples of :class:`analysis.buffer.SampleBuffer` by absolute index,
so it is the same float however the samples arrived:

- the edge estimates (:meth:`BoundaryFinder._edges`, :func:`analysis.edges.refine_edges`)
  read fixed-width windows, so each is the same whichever events share a call;
- a boundary (:meth:`BoundaryFinder._refine`) is the edge estimate, else the band zero
  crossing (:func:`analysis.segment.refine_crossing`), else the threshold sample itself;
- :meth:`BoundaryFinder._late_start` / :meth:`BoundaryFinder._late_end` move a start or an
  end of inspiration past noise in a pause (step 5 of :mod:`analysis.segment`).
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

from ventbench.analysis.buffer import SampleBuffer, finite_flow, finite_value
from ventbench.analysis.edges import refine_edges
from ventbench.analysis.metrics import Boundary
from ventbench.analysis.segment import (
    hysteresis_transitions,
    refine_crossing,
    run_starts,
    transitions_of_runs,
)
from ventbench.units import ML_PER_S_PER_LPM


def _last_run_start(mask: np.ndarray) -> int:
    """Last ``j`` with ``mask[j]`` false and ``mask[j + 1]`` true (-1 if none)."""
    starts = mask[1:] > mask[:-1]  # True > False
    if starts.shape[0] == 0:
        return -1
    j = starts.shape[0] - 1 - int(starts[::-1].argmax())
    return j if starts[j] else -1


class BoundaryFinder(SampleBuffer):
    """Boundary estimates over the held samples (see module doc).

    Parameters
    ----------
    segmentation : SegmentationSettings
        Flow correction, thresholds and zero band used by the estimates.
    """

    def __init__(self, segmentation) -> None:
        super().__init__(segmentation)
        # the held detection flow against the thresholds (_smooth_held): above the
        # inspiratory / below the expiratory one, and the absolute samples p where it is
        # not at p but is at p + 1 (as arrays, and as lists for bisect)
        self._above = self._below = np.zeros(0, dtype=bool)
        self._rises = self._falls = np.zeros(0, dtype=np.intp)
        self._rise_list: list[int] = []
        self._fall_list: list[int] = []

    def _smooth_held(self) -> None:
        """The held detection flow (:meth:`SampleBuffer._smooth_held`) and, once for all the
        events of a call, where it crosses the thresholds."""
        super()._smooth_held()
        c0, sm = self._smc
        s = self.segmentation
        self._above, self._below = sm > s.insp_threshold_lpm, sm < s.exp_threshold_lpm
        self._rises, self._falls = run_starts(self._above) + c0, run_starts(self._below) + c0
        self._rise_list, self._fall_list = self._rises.tolist(), self._falls.tolist()

    def _transitions(self, start: int, stop: int, state: int):
        """:func:`~analysis.segment.hysteresis_transitions` of the detection flow of absolute
        samples ``start .. stop-1`` (indices relative to ``start``), from the held crossings."""
        c0 = self._smc[0]
        if start < c0 or stop > c0 + self._above.shape[0]:
            s = self.segmentation
            sm = self._smooth(start, stop)
            return hysteresis_transitions(sm, s.insp_threshold_lpm, s.exp_threshold_lpm, state)

        def firsts(runs: np.ndarray) -> np.ndarray:  # first samples of runs, after `start`
            lo, hi = np.searchsorted(runs, (start, stop - 1))
            return runs[lo:hi] + (1 - start)

        j = start - c0
        above, below = bool(self._above[j]), bool(self._below[j])
        return transitions_of_runs(firsts(self._rises), firsts(self._falls), above, below, state)

    def _edges(self, i: np.ndarray, lo: np.ndarray, up: np.ndarray, limit: np.ndarray):
        """Edge estimates for threshold events ``i`` (absolute), vectorised over them.

        Per event: the early peak of the smoothed flow in ``i .. i + edge`` (not past
        ``limit``), then :func:`~analysis.edges.refine_edges` on the samples from
        ``max(lo, i - margin)`` to the end of the peak's smoothing window. Windows have one
        fixed width per stream, so each event's result is the same whichever events share
        the call. Returns (absolute index or -1 where no edge was found, time s).
        """
        h, p, mg = self._h, self._edge, self._margin
        last = np.minimum(i + p, limit)
        sign = np.where(up, 1.0, -1.0)[:, None]  # the new phase's flow positive (x -1.0 is exact)
        ahead = np.arange(p + 1)[None, :]
        s = np.where(ahead <= (last - i)[:, None], self._smoothed_rows(i, p + 1) * sign, -np.inf)
        k = np.argmax(s, axis=1)
        peak = s[np.arange(i.shape[0]), k]
        last = np.minimum(last, i + k + h)
        first = i - mg
        a = np.maximum(lo, first)
        width = mg + p + h + 1
        cols = np.arange(width)[None, :]
        inside = (cols >= (a - first)[:, None]) & (cols <= (last - first)[:, None])
        fs = self._rows(self._f, first, width) * sign
        gw = np.where(inside & np.isfinite(fs), fs, 0.0)
        tw = self._rows(self._t, first, width)
        tried = (peak > 0) & (last > a) & (last > i)
        col, t_c = refine_edges(gw, tw, a - first, last + 1 - first, np.where(tried, peak, 1.0))
        return np.where(tried & (col >= 0), first + col, -1), t_c

    def _rows(self, x: np.ndarray, first: np.ndarray, width: int) -> np.ndarray:
        """Rows of ``width`` held samples of ``x`` from absolute indices ``first``; indices
        outside the held samples read the nearest held one."""
        rel = first - self._base
        at = rel[:, None] + np.arange(width)[None, :]
        n = x.shape[0]
        if rel.min() >= 0 and rel.max() + width <= n:
            return x[at]
        return x[np.minimum(np.maximum(at, 0), n - 1)]

    def _smoothed_rows(self, first: np.ndarray, width: int) -> np.ndarray:
        """Rows of ``width`` values of the detection flow from absolute indices ``first``:
        slices of the held smoothing (:meth:`_smooth_held`) where it has them, else the
        same moving average taken from the running sum (the nearest held sample outside)."""
        c0, sm = self._smc
        at = first[:, None] + np.arange(width)[None, :]
        if c0 <= first.min() and first.max() + width <= c0 + sm.shape[0]:
            return sm[at - c0]
        b, h = self._base, self._h
        if h == 0:
            return finite_flow(self._f[np.minimum(np.maximum(at - b, 0), self._t.shape[0] - 1)])
        top = self._cs.shape[0] - 1
        hi = self._cs[np.minimum(np.maximum(at + h - b, 0), top)]
        lo_i = at - h - 1
        lo_v = np.where(lo_i >= 0, self._cs[np.minimum(np.maximum(lo_i - b, 0), top)], 0.0)
        return (hi - lo_v) * (1.0 / (2 * h + 1))

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
            return Boundary(i, float(self._t[i - b]), finite_value(self._f[i - b]))
        return Boundary(found[0] + b, found[1], 0.0)

    def _late_start(self, bound: Boundary, i_up: int, lo: int, i_down: int) -> Boundary:
        """Start of inspiration at the last rise through the threshold before peak flow.

        Noise in a long expiratory pause can lift the smoothed flow above the threshold
        without a following dip below the expiratory one; the hysteresis then stays in
        "inspiration" until the real breath. The real start is the last rise through the
        inspiratory threshold before the smoothed flow peaks.
        """
        rise = self._last_run_before_peak(True, i_up, i_down)
        if rise is None:
            return bound
        return self._refine(i_up + rise, lo, True)

    def _last_run_before_peak(self, rising: bool, i0: int, stop: int) -> int | None:
        """Offset from ``i0`` of the last run of smoothed flow above the inspiratory
        threshold (``rising``) or below the expiratory one, before the smoothed flow's peak
        (trough) in ``[i0 - 1, stop)``; None when no such run starts after ``i0 - 1``."""
        run = self._last_run(rising, i0 - 1, stop)
        if run is not None and run <= 0:  # no run starts after the first sample at all
            return None
        sm = self._smooth(i0 - 1, stop)
        k = int(np.argmax(sm) if rising else np.argmin(sm))
        if run is None:
            seg = self.segmentation
            run = _last_run_start(sm[: k + 1] > seg.insp_threshold_lpm if rising
                                  else sm[: k + 1] < seg.exp_threshold_lpm)
        else:
            run = self._last_run(rising, i0 - 1, i0 + k)
        return run if run > 0 else None

    def _coarse_volume_ml(self, a: Boundary, b: Boundary) -> float:
        """Volume from a to b for noise rejection, O(1) from the running sum: mean flow x time."""
        n = b.index - a.index
        if n <= 0:
            return 0.0
        base = self._base
        before = float(self._cs[a.index - 1 - base]) if a.index > 0 else 0.0
        total = float(self._cs[b.index - 1 - base]) - before
        return total / n * (b.t_s - a.t_s) * ML_PER_S_PER_LPM

    def _late_end(self, insp_end: Boundary, i_down: int, nxt: Boundary) -> Boundary:
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
        fall = self._last_run_before_peak(False, i_down, stop)
        if fall is None:
            return insp_end
        later = self._refine(i_down + fall, insp_end.index, False, nxt.index - self._h - 1)
        # the zero-crossing fallback searches h samples past the fall, which may pass nxt
        if later.index > insp_end.index and later.t_s < nxt.t_s and (
            self._coarse_volume_ml(insp_end, later) > -self.segmentation.min_vti_ml
        ):
            return later
        return insp_end

    def _last_run(self, rising: bool, start: int, stop: int) -> int | None:
        """:func:`_last_run_start` of the detection flow of absolute samples ``start ..
        stop-1`` above the inspiratory (``rising``) or below the expiratory threshold: the
        offset from ``start`` of its last run start, -1 if none; None if those samples are
        not all held smoothed (:meth:`_smooth_held`).

        The run starts of the held samples are found once per call of the stream, which
        spares :meth:`_late_start` and :meth:`_late_end` a search per event.
        """
        c0, sm = self._smc
        if start < c0 or stop > c0 + sm.shape[0]:
            return None
        runs = self._rise_list if rising else self._fall_list
        j = bisect_left(runs, stop - 1) - 1  # the last run start p <= stop - 2
        return runs[j] - start if j >= 0 and runs[j] >= start else -1
