"""The samples a breath stream holds, addressed by absolute index, and the boundary estimates read from them.

:class:`SampleBuffer` is the memory of :class:`analysis.stream.BreathStream`: time, corrected
flow (NaN kept, for the metrics), pressure, sample flags and the running sum of the flow
(NaN as 0) from the first sample, with ``_base`` the absolute index of the first sample
still held. Everything read from it is addressed by absolute sample index and is the same
float however the samples arrived:

- the detection smoothing (:meth:`SampleBuffer._smooth`) is a centred moving average taken
  from the running sum, which is carried across chunks (``np.cumsum`` accumulates
  sequentially, so the running sum at a sample is the same float whatever the chunking);
- the edge estimates (:meth:`SampleBuffer._edges`, :func:`analysis.edges.refine_edges`)
  read fixed-width windows, so each is the same whichever events share a call;
- a boundary (:meth:`SampleBuffer._refine`) is the edge estimate, else the band zero
  crossing (:func:`analysis.segment.refine_crossing`), else the threshold sample itself;
  :meth:`SampleBuffer._late_start` / :meth:`SampleBuffer._late_end` move a start or an end
  of inspiration past noise in a pause (step 5 of :mod:`analysis.segment`).

What to keep is the stream's decision (:meth:`analysis.stream.BreathStream._trim`); the
buffer drops the samples before it (:meth:`SampleBuffer._cut`). The held samples are views
of preallocated storage that new chunks are copied into (:meth:`SampleBuffer._append`).
"""

from __future__ import annotations

import numpy as np

from .edges import refine_edges
from .errors import AnalysisError
from .metrics import Boundary
from .segment import SegmentationSettings, refine_crossing
from .trace import SampleFlag
from .units import ML_PER_S_PER_LPM


def _finite(x: np.ndarray) -> np.ndarray:
    """Flow for detection: non-finite values (flagged gaps, faults) count as zero."""
    return np.where(np.isfinite(x), x, 0.0)


def _last_run_start(mask: np.ndarray) -> int:
    """Last ``j`` with ``mask[j]`` false and ``mask[j + 1]`` true (-1 if none)."""
    starts = mask[1:] > mask[:-1]  # True > False
    if starts.shape[0] == 0:
        return -1
    j = starts.shape[0] - 1 - int(starts[::-1].argmax())
    return j if starts[j] else -1


def finite_value(x: float) -> float:
    """One flow value for a boundary: a non-finite value counts as zero."""
    x = float(x)
    return x if np.isfinite(x) else 0.0


class SampleBuffer:
    """Samples by absolute index, detection smoothing and boundary estimates (see module doc).

    Parameters
    ----------
    segmentation : SegmentationSettings
        Flow correction, thresholds and zero band used by the estimates.
    """

    def __init__(self, segmentation: SegmentationSettings) -> None:
        self.segmentation = segmentation
        # storage with spare room (_append): _t, _f, _p, _flags, _cs are views of its slots
        # _off ..; the running sum's slot _off - 1 holds its value before the first held sample
        self._st = [np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1, dtype=np.uint8), np.zeros(1)]
        self._off = 1
        self._views(0)
        self._smc = (0, self._cs)  # detection flow from absolute sample _smc[0] (_smooth_held)
        self._base = 0  # absolute index of buffer[0]
        self._n = 0  # samples received
        self._h: int | None = None  # half smoothing window, samples
        self._edge = 0  # samples after a threshold event searched for the phase's early peak
        self._margin = 0  # samples before a threshold event searched for its edge

    @property
    def buffered_samples(self) -> int:
        """Samples currently held (for memory checks)."""
        return int(self._t.shape[0])

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
        # fast path: strictly increasing with finite ends is finite and increasing
        last = self._t[-1] if self._t.shape[0] else -np.inf
        if not (np.isfinite(t[0]) and np.isfinite(t[-1]) and t[0] > last and np.all(t[1:] > t[:-1])):
            self._check_times(t)
        # a finite sum has no non-finite term
        if np.isfinite(np.add.reduce(flow)):
            return t, flow, paw, fl, True
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

    def _check_times(self, t: np.ndarray) -> None:
        """Raise for the first non-finite or non-increasing time of a chunk."""
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

    def _views(self, held: int) -> None:
        """Point _t, _f, _p, _flags, _cs at the ``held`` samples from storage slot _off."""
        a, o = self._st, self._off
        self._t, self._f, self._p, self._flags, self._cs = (x[o : o + held] for x in a)

    def _append(self, t: np.ndarray, flow: np.ndarray, paw: np.ndarray, fl: np.ndarray,
                all_finite: bool) -> None:
        """Add validated samples: flow corrected (base flow, offset), running sum extended.

        The samples are copied into spare room at the end of the storage; when there is
        none, the held samples move to its front, and it grows by half when even that is
        too small (no copy of the held samples per call).
        """
        s = self.segmentation
        f = flow
        if s.base_flow_lpm or s.flow_offset_lpm:
            f = flow - s.base_flow_lpm - s.flow_offset_lpm
        fd = f if all_finite else _finite(f)
        held, n = self._t.shape[0], t.shape[0]
        if held == 0:
            self._st[4][self._off - 1] = 0.0  # running sum before the first sample
        if self._off + held + n > self._st[0].shape[0]:
            cap = self._st[0].shape[0]
            if 1 + held + n > cap:
                cap = 1 + held + n + (held + n) // 2 * (held > 0)
            o = self._off
            new = [np.empty(cap, dtype=x.dtype) for x in self._st]
            for x, y in zip(self._st, new, strict=True):
                y[: held + 1] = x[o - 1 : o + held]
            self._st, self._off = new, 1
        pos = self._off + held
        for x, y in zip(self._st, (t, f, paw, fl), strict=False):
            x[pos : pos + n] = y
        # running sum: sequential from its value before the chunk (slot pos - 1)
        cs = self._st[4][pos - 1 : pos + n]
        if fd is f:  # read the flow just stored, its slot pos - 1 lent for the start value
            fs = self._st[1]
            prev = fs[pos - 1]
            fs[pos - 1] = cs[0]
            np.cumsum(fs[pos - 1 : pos + n], out=cs)
            fs[pos - 1] = prev
        else:
            cs[1:] = fd
            np.cumsum(cs, out=cs)
        self._views(held + n)
        self._n += n

    def _cut(self, keep: int) -> None:
        """Drop the samples before absolute index ``keep`` (nothing if none are held)."""
        cut = keep - self._base
        if cut <= 0:
            return
        held = self._t.shape[0]
        cut = min(cut, held)
        self._off += cut
        self._views(held - cut)
        self._base = keep

    def _smooth_held(self) -> None:
        """Compute the detection flow of every held sample that has it, once per call of the
        stream: :meth:`_smooth` then slices it (the same floats, element by element)."""
        h, b = self._h, self._base
        c0 = h if b == 0 else b + h + 1
        c1 = self._n - h
        self._smc = (c0, self._smooth_range(c0, c1) if c1 > c0 else self._smc[1][:0])

    def _smooth(self, start: int, stop: int) -> np.ndarray:
        """Detection flow (centred moving average) for absolute samples ``start:stop``."""
        c0, sm = self._smc
        if c0 <= start and stop <= c0 + sm.shape[0]:
            return sm[start - c0 : stop - c0]
        return self._smooth_range(start, stop)

    def _smooth_range(self, start: int, stop: int) -> np.ndarray:
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
        ``limit``), then :func:`~analysis.edges.refine_edges` on the samples from
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
            sm = _finite(self._f[np.minimum(np.maximum(at - b, 0), self._t.shape[0] - 1)])
        else:
            hi = self._cs[np.minimum(np.maximum(at + h - b, 0), self._cs.shape[0] - 1)]
            lo_i = at - h - 1
            lo_v = np.where(lo_i >= 0, self._cs[np.minimum(np.maximum(lo_i - b, 0), self._cs.shape[0] - 1)], 0.0)
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
        rel = np.minimum(np.maximum(at - b, 0), self._t.shape[0] - 1)
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
            return Boundary(i, float(self._t[i - b]), finite_value(self._f[i - b]))
        return Boundary(found[0] + b, found[1], 0.0)

    def _late_start(self, bound: Boundary, i_up: int, lo: int, i_down: int) -> Boundary:
        """Start of inspiration at the last rise through the threshold before peak flow.

        Noise in a long expiratory pause can lift the smoothed flow above the threshold
        without a following dip below the expiratory one; the hysteresis then stays in
        "inspiration" until the real breath. The real start is the last rise through the
        inspiratory threshold before the smoothed flow peaks.
        """
        sm = self._smooth(i_up - 1, i_down)
        k = int(np.argmax(sm))
        rise = _last_run_start(sm[: k + 1] > self.segmentation.insp_threshold_lpm)
        if rise <= 0:
            return bound
        return self._refine(i_up + rise, lo, True)

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
        sm = self._smooth(i_down - 1, stop)
        k = int(np.argmin(sm))
        fall = _last_run_start(sm[: k + 1] < self.segmentation.exp_threshold_lpm)
        if fall <= 0:
            return insp_end
        later = self._refine(i_down + fall, insp_end.index, False, nxt.index - self._h - 1)
        if later.index > insp_end.index and (
            self._coarse_volume_ml(insp_end, later) > -self.segmentation.min_vti_ml
        ):
            return later
        return insp_end
