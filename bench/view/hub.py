"""What the live page shows, held in bounded buffers fed from the acquisition pipeline.

The :class:`ViewHub` is written by the pipeline (the run point's breath sink through
:class:`~ventbench.bench.view.live.ViewLive`, or a Recorder sink for ``record``) and read by
the server's push loop. Writing only appends to arrays under a lock held for microseconds:
acquisition is never slowed by the page, and a page that is closed or slow just gets fewer
frames (each frame is built on demand from the current state; nothing is queued per page).

Samples of every point are laid on one *session* time axis, s: a point's device time plus
an offset chosen when its first block arrives (1 s after the previous point's last sample),
so that scroll-back runs through the whole session. Volume is the integral of flow, mL,
restarting at each breath start the analysis reported (at the last known one for the
breath still running).
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from ventbench.bench.view.reduce import minmax_columns

#: Gap laid between two points on the session time axis, s.
POINT_GAP_S = 1.0
#: Rows of the per-breath table kept for the page.
MAX_ROWS = 400
#: Breath marks kept (scroll-back marks beyond this are dropped, oldest first).
MAX_BREATHS = 50_000
#: Samples kept for scroll-back by default (1 h at 1 kHz); the oldest half goes beyond it.
MAX_SAMPLES = 3_600_000
#: Columns the page may ask for.
MAX_COLS = 4000
#: Window lengths the page may ask for, s.
SPAN_RANGE_S = (1.0, 3600.0)


class ViewHub:
    """The state of the live view.

    Parameters
    ----------
    max_samples : int
        Samples kept for scroll-back (display only: the capture keeps every byte).
    """

    def __init__(self, max_samples: int = MAX_SAMPLES) -> None:
        self.max_samples = int(max_samples)
        self._lock = threading.Lock()
        cap = 4096
        self._t = np.empty(cap)
        self._flow = np.empty(cap, dtype=np.float32)
        self._paw = np.empty(cap, dtype=np.float32)
        self._cum = np.empty(cap)  #: integral of flow since the point's first sample, mL
        self._n = 0
        self.dropped_samples = 0  #: display samples dropped beyond max_samples (not data)
        self._offset: dict[Any, float] = {}  #: point key → session time offset, s
        self._key: Any = None
        self._starts_s: list[float] = []  #: breath starts and point starts, session s
        self._starts_cum: list[float] = []
        self.breaths: deque[dict[str, Any]] = deque(maxlen=MAX_BREATHS)
        self.rows: deque[dict[str, Any]] = deque(maxlen=MAX_ROWS)
        self.protocol: dict[str, Any] = {}
        self.prompt: dict[str, Any] | None = None
        self.counters: dict[str, Any] = {}
        self.verdicts: list[dict[str, Any]] = []
        self.lines: deque[str] = deque(maxlen=200)
        self.state = "waiting"  #: waiting | running | ended
        self.session_verdict = ""
        self.last_arrival_wall = 0.0  #: time.time() when the last block arrived
        self.version = 0  #: bumped on every change except samples

    # -- writers (the pipeline) ---------------------------------------------------------------
    def add_samples(self, key: Any, t_s: np.ndarray, flow_lpm: np.ndarray,
                    paw_cmh2o: np.ndarray) -> None:
        """Append one decoded block of the point ``key`` (device time ``t_s``, s)."""
        t_s = np.asarray(t_s, dtype=float)
        if not len(t_s):
            return
        flow = np.asarray(flow_lpm, dtype=float)
        with self._lock:
            n = self._n
            if key not in self._offset:
                last = self._t[n - 1] if n else 0.0
                self._offset[key] = (last + POINT_GAP_S if n else 0.0) - float(t_s[0])
                self._key = key
                base = 0.0
                self._starts_s.append(float(t_s[0]) + self._offset[key])
                self._starts_cum.append(0.0)
                prev_t, prev_flow = float(t_s[0]), float(flow[0])
            else:
                base = self._cum[n - 1]
                prev_t = self._t[n - 1] - self._offset[key]
                prev_flow = self._prev_flow
            ts = t_s + self._offset[key]
            # trapezoid integral of flow, L/min · s → mL (NaN flow adds nothing)
            f = np.nan_to_num(flow)
            dt = np.diff(np.r_[prev_t, t_s])
            mid = 0.5 * (f + np.r_[0.0 if np.isnan(prev_flow) else prev_flow, f[:-1]])
            cum = base + np.cumsum(mid * dt) * (1000.0 / 60.0)
            self._prev_flow = float(f[-1])
            self._reserve(n + len(ts))
            n = self._n
            m = n + len(ts)
            self._t[n:m], self._flow[n:m], self._paw[n:m], self._cum[n:m] = ts, flow, paw_cmh2o, cum
            self._n = m
            self.last_arrival_wall = time.time()
            self.state = "running"

    def _reserve(self, need: int) -> None:
        """Room for ``need`` samples; beyond max_samples the oldest half is dropped (fresh
        arrays: a reader's slices of the old ones stay valid)."""
        if need > self.max_samples:
            drop = max(self._n // 2, need - self.max_samples)
            keep = slice(drop, self._n)
            self._t, self._flow = self._t[keep].copy(), self._flow[keep].copy()
            self._paw, self._cum = self._paw[keep].copy(), self._cum[keep].copy()
            self._n -= drop
            self.dropped_samples += drop
            need -= drop
        if need > len(self._t):
            cap = max(need, 2 * len(self._t))
            for name in ("_t", "_flow", "_paw", "_cum"):
                old = getattr(self, name)
                new = np.empty(cap, dtype=old.dtype)
                new[:self._n] = old[:self._n]
                setattr(self, name, new)

    def add_breath(self, key: Any, t_start_s: float, ti_s: float | None,
                   flags: list[str], label: str) -> dict[str, Any]:
        """A completed breath of point ``key`` (device times, s); its mark on the page."""
        with self._lock:
            off = self._offset.get(key, 0.0)
            t0 = float(t_start_s) + off
            t_end_insp = t0 + float(ti_s) if ti_s is not None and np.isfinite(ti_s) else None
            n = self._n
            cum0 = float(np.interp(t0, self._t[:n], self._cum[:n])) if n else 0.0
            i = int(np.searchsorted(self._starts_s, t0))
            self._starts_s.insert(i, t0)
            self._starts_cum.insert(i, cum0)
            mark = {"t_s": t0, "t_insp_end_s": t_end_insp, "flags": list(flags), "label": label}
            self.breaths.append(mark)
            self.version += 1
            return mark

    def update(self, **parts: Any) -> None:
        """Replace parts of the state (protocol, prompt, counters, state …)."""
        with self._lock:
            for name, value in parts.items():
                setattr(self, name, value)
            self.version += 1

    def add_row(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.rows.append(row)
            self.version += 1

    def add_verdict(self, verdict: dict[str, Any]) -> None:
        with self._lock:
            self.verdicts.append(verdict)
            self.version += 1

    def add_line(self, text: str) -> None:
        with self._lock:
            self.lines.append(text)
            self.version += 1

    # -- readers (the server) -----------------------------------------------------------------
    @property
    def samples(self) -> int:
        return self._n

    def session_span(self) -> tuple[float, float]:
        """(first, last) sample time on the session axis, s (0, 0 before any sample)."""
        with self._lock:
            n = self._n
            return (float(self._t[0]), float(self._t[n - 1])) if n else (0.0, 0.0)

    def frame(self, span_s: float, cols: int, t_end_s: float | None = None,
              since_version: int = -1) -> dict[str, Any]:
        """One frame for the page: the window ``[t_end_s - span_s, t_end_s)`` (default: ending
        at the last sample) reduced to ``cols`` columns, the marks in it and — when the state
        changed since ``since_version`` — the table, protocol, prompt, counters.

        ``waves`` is base64 of float32 ``[flow_lo, paw_lo, vol_lo, flow_hi, paw_hi, vol_hi]``,
        ``cols`` each (L/min, cmH2O, mL; NaN = no sample in the column).
        """
        span_s = float(np.clip(span_s, *SPAN_RANGE_S))
        cols = int(np.clip(cols, 1, MAX_COLS))
        with self._lock:
            n = self._n
            t, flow, paw, cum = self._t[:n], self._flow[:n], self._paw[:n], self._cum[:n]
            starts = np.array(self._starts_s)
            starts_cum = np.array(self._starts_cum)
            arrival = self.last_arrival_wall
            version = self.version
            changed = version != since_version
            state = self._state_parts() if changed else None
            t_last = float(t[-1]) if n else 0.0
            t_hi = t_last + 1e-9 if t_end_s is None else float(t_end_s)
            t_lo = t_hi - span_s
            marks = []
            for mark in reversed(self.breaths):  # in time order: stop at the window's start
                if mark["t_s"] < t_lo:
                    break
                if mark["t_s"] < t_hi:
                    marks.append(mark)
            marks.reverse()
        i0, i1 = np.searchsorted(t, [t_lo, t_hi])
        seg_t = t[i0:i1]
        k = np.searchsorted(starts, seg_t, side="right") - 1
        vol = cum[i0:i1] - np.where(k >= 0, starts_cum[np.maximum(k, 0)], 0.0)
        t_col, lo, hi = minmax_columns(seg_t, [flow[i0:i1], paw[i0:i1], vol], t_lo, t_hi, cols)
        waves = np.concatenate([lo.ravel(), hi.ravel()]).astype("<f4")
        out: dict[str, Any] = {
            "t_lo_s": t_lo, "t_hi_s": t_hi, "cols": cols, "span_s": span_s,
            "t_first_s": float(t[0]) if n else 0.0, "t_last_s": t_last,
            "waves": base64.b64encode(waves.tobytes()).decode("ascii"),
            "marks": marks, "arrival_wall": arrival, "sent_wall": time.time(),
            "version": version,
        }
        if state is not None:
            out["state"] = state
        return out

    def _state_parts(self) -> dict[str, Any]:  # under the lock
        return {"rows": list(self.rows)[-120:], "protocol": dict(self.protocol),
                "prompt": self.prompt, "counters": dict(self.counters),
                "verdicts": list(self.verdicts), "status": self.state,
                "session_verdict": self.session_verdict,
                "lines": list(self.lines)[-20:], "dropped_samples": self.dropped_samples}
