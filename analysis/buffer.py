"""The samples a breath stream holds, addressed by absolute index, and their detection smoothing.

:class:`SampleBuffer` is the memory of :class:`analysis.stream.BreathStream`: time, corrected
flow (NaN kept, for the metrics), pressure, sample flags and the running sum of the flow
(NaN as 0) from the first sample, with ``_base`` the absolute index of the first sample
still held. Everything read from it is addressed by absolute sample index and is the same
float however the samples arrived: the detection smoothing (:meth:`SampleBuffer._smooth`)
is a centred moving average taken from the running sum, which is carried across chunks
(``np.cumsum`` accumulates sequentially, so the running sum at a sample is the same float
whatever the chunking). The boundary estimates read from these samples are
:class:`analysis.boundaries.BoundaryFinder`.

What to keep is the stream's decision (:meth:`analysis.stream.BreathStream._trim`); the
buffer drops the samples before it (:meth:`SampleBuffer._cut`). The held samples are views
of preallocated storage that new chunks are copied into (:meth:`SampleBuffer._append`).
"""

from __future__ import annotations

import numpy as np

from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.validity import EXCUSED, time_axis_problem
from ventbench.analysis.workspace import WorkArray
from ventbench.errors import AnalysisError


def finite_flow(x: np.ndarray) -> np.ndarray:
    """Flow for detection: non-finite values (flagged gaps, faults) count as zero."""
    return np.where(np.isfinite(x), x, 0.0)


def finite_value(x: float) -> float:
    """One flow value for a boundary: a non-finite value counts as zero."""
    x = float(x)
    return x if np.isfinite(x) else 0.0


class SampleBuffer:
    """Samples by absolute index and their detection smoothing (see module doc).

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
        self._smc_work = WorkArray()
        self._base = 0  # absolute index of buffer[0]
        self._n = 0  # samples received
        self._t_first = 0.0  # time of the first sample received, s
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
        unexcused = ~finite & ((fl & EXCUSED) == 0)
        if unexcused.any():
            i = int(np.flatnonzero(unexcused)[0])
            raise AnalysisError(
                f"BreathStream.feed: sample {self._n + i} (t = {t[i]:.6g} s): flow is {flow[i]} "
                f"but the sample is not flagged as a gap or fault"
            )
        return t, flow, paw, fl, False

    def _check_times(self, t: np.ndarray) -> None:
        """Raise for the first non-finite or non-increasing time of a chunk."""
        last = float(self._t[-1]) if self._t.shape[0] else -np.inf
        problem = time_axis_problem(t, last)
        if problem is not None:
            raise AnalysisError(f"BreathStream.feed: sample {self._n + problem[0]}: {problem[1]}")

    def _views(self, held: int) -> None:
        """Point _t, _f, _p, _flags, _cs at the ``held`` samples from storage slot _off."""
        a, o = self._st, self._off
        self._t, self._f, self._p, self._flags, self._cs = (x[o : o + held] for x in a)

    def _append(self, t: np.ndarray, flow: np.ndarray, paw: np.ndarray, fl: np.ndarray,
                all_finite: bool) -> None:
        """Add validated samples: flow corrected (base flow, offset), running sum extended.

        The samples are copied into spare room at the end of the storage; when there is
        none, the held samples move to its front, and it grows by half when even that is
        too small (no copy of the held samples per call). The storage is reused, not
        allocated anew: fresh pages cost more than the copy.
        """
        s = self.segmentation
        f = flow
        if s.base_flow_lpm or s.flow_offset_lpm:
            f = flow - s.base_flow_lpm - s.flow_offset_lpm
        fd = f if all_finite else finite_flow(f)
        held, n = self._t.shape[0], t.shape[0]
        if self._n == 0:
            self._t_first = float(t[0])
        if held == 0:
            self._st[4][self._off - 1] = 0.0  # running sum before the first sample
        if self._off + held + n > self._st[0].shape[0]:
            cap = self._st[0].shape[0]
            if 1 + held + n > cap:
                cap = 1 + held + n + (held + n) // 2 * (held > 0)
            o = self._off
            new = self._st
            if cap > self._st[0].shape[0]:
                new = [np.empty(cap, dtype=x.dtype) for x in self._st]
            for x, y in zip(self._st, new, strict=True):
                y[: held + 1] = x[o - 1 : o + held]  # may overlap in place: numpy copies safely
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
        if c1 > c0:
            self._smc = (c0, self._smooth_range(c0, c1, out=self._smc_work.take(c1 - c0)))
        else:
            self._smc = (c0, self._smc[1][:0])

    def _smooth(self, start: int, stop: int) -> np.ndarray:
        """Detection flow (centred moving average) for absolute samples ``start:stop``."""
        c0, sm = self._smc
        if c0 <= start and stop <= c0 + sm.shape[0]:
            return sm[start - c0 : stop - c0]
        return self._smooth_range(start, stop)

    def _smooth_range(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        h = self._h
        b = self._base
        if h == 0:
            return finite_flow(self._f[start - b : stop - b])
        hi = self._cs[start + h - b : stop + h - b]
        if start - h - 1 >= 0:
            lo = self._cs[start - h - 1 - b : stop - h - 1 - b]
        else:  # the window starts at the first sample of the trace: running sum 0 before it
            lo = np.concatenate(([0.0], self._cs[: stop - h - 1 - b]))
        sm = np.subtract(hi, lo, out=out)
        sm *= 1.0 / (2 * h + 1)
        return sm
