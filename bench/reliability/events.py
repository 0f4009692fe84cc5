"""Reliability events: detection from samples, breaths and port events; an append-only log.

:class:`EventDetector` is fed, in stream order, the samples (run time, flags, device-reset
rows), the stored breath records and the port's disconnects; it writes one JSON line per
event to ``events.jsonl`` (:class:`EventLog`). Every event has ``kind``, ``t_s`` (run time,
s), ``segment`` and kind-specific fields:

==================  =====================================================================
kind                meaning and fields
==================  =====================================================================
segment_start       a recording process started (``t_offset_s``; on resume ``gap_s`` and
                    ``cause``: the interruption)
flow_condition      the gas condition the device states its flow in (``flow_condition``) and
                    the factor that brings it to BTPS (``btps_factor``), at a segment's
                    first sample
disconnect          the port vanished (``error``)
reconnect           it came back (``down_s`` wall, ``gap_s`` device time without data)
data_stall          no sample for ``duration_s`` > ``stall_s`` of device time
sensor_fault        samples flagged FAULT from ``t_s`` to ``t_end_s``
device_reset        the device restarted (its clock and sequence)
missed_breath       no breath within ``missed_factor`` × period: ``n_missed``, ``interval_s``
apnoea              no breath for ``duration_s`` ≥ ``apnoea_s``
out_of_limit        ``quantity`` outside [min, max] for ``n_breaths`` < ``run_breaths``
out_of_limit_run    the same for ``n_breaths`` ≥ ``run_breaths``; ``worst`` value, ``t_end_s``
corrupt_data        the decoder discarded bytes / rejected frames (garbage, bit errors):
                    ``discarded_bytes``, ``rejected_frames``, just before the sample at
                    ``t_s`` (VBR/1 locates them); for drivers that cannot, somewhere in
                    the samples of one decoded read, ``t_s`` … ``t_end_s``
oxygen              O2 flow integrated over up to 600 s of run time (``from_s``, ``o2_l``,
                    ``covered_s``, ``channel``; written by :mod:`.oxygen`, only when the
                    device streams an O2 flow channel)
==================  =====================================================================

A missed breath or apnoea is only reported when the interval was observed: an interval that
overlaps a data gap (disconnect, stall, resume) or a sensor fault is not the ventilator's
fault and is left out. Flagged breaths are never judged against the limits. Detection
depends only on the order of the data, never on how it was chunked (for drivers that
cannot locate line damage, ``corrupt_data`` is reported per decoded read).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.trace import SampleFlag
from ventbench.bench.reliability.config import QUANTITIES, ReliabilityConfig
from ventbench.bench.reliability.store import SUSPECT_BITS
from ventbench.errors import TransportError

EVENTS_FILE = "events.jsonl"


class EventLog:
    """Append-only JSON-lines file; each event handed to the OS as one ``write``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.count = 0
        if self.path.exists():  # resume: cut a torn last line
            data = self.path.read_bytes()
            keep = data[: data.rfind(b"\n") + 1]
            if len(keep) != len(data):
                with open(self.path, "r+b") as f:
                    f.truncate(len(keep))
            self.count = keep.count(b"\n")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, sort_keys=True, allow_nan=False, default=float) + "\n").encode()
        try:
            os.write(self._fd, line)
        except OSError as error:
            raise TransportError(f"{self.path}: cannot write event: {error.strerror or error}") from None
        self.count += 1

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete event line of ``path`` (a torn last line is ignored)."""
    return list(iter_events(path))


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """Events one by one (bounded memory)."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def _r(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


class EventDetector:
    """Stateful detection of reliability events (see module docstring).

    Parameters
    ----------
    config : ReliabilityConfig
    log : EventLog or None
        Where events go (None: only kept in :attr:`events`, for tests).
    segment : int
        The recording process (0, then 1 after the first resume …).
    """

    def __init__(self, config: ReliabilityConfig, log: EventLog | None, segment: int = 0) -> None:
        self.config = config
        self.log = log
        self.segment = segment
        self.events: list[dict[str, Any]] = []  #: only when ``log`` is None
        self.counts: dict[str, int] = {}
        self.last_event: dict[str, Any] | None = None
        self.missed_breaths = 0
        self._t_last: float | None = None
        self._fault_start: float | None = None
        self._pending_disconnect: dict[str, Any] | None = None
        self._unobserved: list[tuple[float, float]] = []  # data gaps and faults (recent)
        self._prev_start: float | None = None
        self._runs: dict[str, dict[str, Any]] = {}

    # -- output ------------------------------------------------------------------------
    def emit(self, kind: str, t_s: float, **fields: Any) -> dict[str, Any]:
        event = {"kind": kind, "t_s": _r(t_s), "segment": self.segment, **fields}
        if self.log is not None:
            self.log.write(event)
        else:
            self.events.append(event)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.last_event = event
        return event

    # -- port --------------------------------------------------------------------------
    def disconnect(self, error: str, down_s: float | None, attempts: int) -> None:
        """The port vanished (and came back after ``down_s`` wall seconds, if not None)."""
        t = self._t_last if self._t_last is not None else 0.0
        self.emit("disconnect", t, error=error)
        self._pending_disconnect = {"down_s": None if down_s is None else _r(down_s),
                                    "attempts": attempts}

    def gap(self, t_s: float, duration_s: float) -> None:
        """Mark ``[t_s, t_s + duration_s]`` as unobserved (a resume gap)."""
        self._unobserved.append((t_s, t_s + duration_s))

    # -- samples -----------------------------------------------------------------------
    def samples(self, t_s: np.ndarray, flags: np.ndarray, reset_rows: list[int] = ()) -> None:
        """Samples in order: run times (s), SampleFlag masks, rows where the device reset."""
        if t_s.size == 0:
            return
        prev = np.concatenate(([self._t_last if self._t_last is not None else t_s[0]], t_s[:-1]))
        dt = t_s - prev
        for i in np.flatnonzero(dt > self.config.stall_s).tolist():
            a, d = float(prev[i]), float(dt[i])
            self._unobserved.append((a, a + d))
            if self._pending_disconnect is not None:
                self.emit("reconnect", float(t_s[i]), gap_s=_r(d), **self._pending_disconnect)
                self._pending_disconnect = None
            else:
                self.emit("data_stall", a, duration_s=_r(d), t_end_s=_r(t_s[i]))
        if self._pending_disconnect is not None:  # reconnected without a visible time gap
            self.emit("reconnect", float(t_s[0]), gap_s=0.0, **self._pending_disconnect)
            self._pending_disconnect = None
        for i in reset_rows:
            self.emit("device_reset", float(t_s[i]))
        fault = (np.asarray(flags) & SampleFlag.FAULT) != 0
        edges = np.flatnonzero(np.diff(np.concatenate(([self._fault_start is not None], fault))))
        for i in edges.tolist():
            if fault[i]:
                self._fault_start = float(t_s[i])
            else:
                self._end_fault(float(t_s[i]))
        self._t_last = float(t_s[-1])

    def _end_fault(self, t_end: float) -> None:
        a = self._fault_start
        self._unobserved.append((a, t_end))
        self.emit("sensor_fault", a, t_end_s=_r(t_end), duration_s=_r(t_end - a))
        self._fault_start = None

    # -- breaths -----------------------------------------------------------------------
    def _observed(self, a: float, b: float) -> bool:
        if self._fault_start is not None and self._fault_start < b:
            return False
        self._unobserved = [(x, y) for x, y in self._unobserved if y >= a - 600.0]
        return not any(x < b and y > a for x, y in self._unobserved)

    def breaths(self, rec: np.ndarray) -> None:
        """Stored breath records (fields of :data:`bench.reliability.store.RECORD_DTYPE`)."""
        cfg = self.config
        period = cfg.period_s
        for r in rec:
            start = float(r["t_start_s"])
            if self._prev_start is not None:
                interval = start - self._prev_start
                if interval > cfg.missed_factor * period and self._observed(self._prev_start, start):
                    n = max(1, int(round(interval / period)) - 1)
                    self.missed_breaths += n
                    self.emit("missed_breath", self._prev_start + period, n_missed=n,
                              interval_s=_r(interval))
                    if interval >= cfg.apnoea_s:
                        self.emit("apnoea", self._prev_start, duration_s=_r(interval))
            self._prev_start = start
            if r["flags"] & SUSPECT_BITS:  # suspect numbers (gap, fault, reset …): judged neither way
                continue
            for q in QUANTITIES:
                if q in cfg.limits:
                    self._limit(q, r, start)

    def corrupt(self, t_s: float, discarded_bytes: int, rejected_frames: int,
                t_end_s: float | None = None) -> None:
        """Bytes the decoder threw away (garbage, bit errors) just before the sample at
        ``t_s`` (run time, s) — or, when the driver cannot locate them, somewhere in the
        samples from ``t_s`` to ``t_end_s``."""
        where = {} if t_end_s is None else {"t_end_s": _r(t_end_s)}
        self.emit("corrupt_data", t_s, **where, discarded_bytes=int(discarded_bytes),
                  rejected_frames=int(rejected_frames))

    def _limit(self, q: str, r: np.void, start: float) -> None:
        lo, hi = self.config.limits[q]
        value = float(r[q])
        run = self._runs.get(q)
        if math.isfinite(value) and not lo <= value <= hi:
            if run is None:
                self._runs[q] = {"t_s": start, "n": 1, "worst": value, "t_end": float(r["t_end_s"])}
            else:
                run["n"] += 1
                run["t_end"] = float(r["t_end_s"])
                if abs(value - (lo + hi) / 2) > abs(run["worst"] - (lo + hi) / 2):
                    run["worst"] = value
        elif run is not None:
            self._close_run(q)

    def _close_run(self, q: str) -> None:
        run = self._runs.pop(q)
        kind = "out_of_limit_run" if run["n"] >= self.config.run_breaths else "out_of_limit"
        self.emit(kind, run["t_s"], quantity=q, n_breaths=run["n"], worst=_r(run["worst"], 4),
                  limit=list(self.config.limits[q]), t_end_s=_r(run["t_end"]))

    def finish(self) -> None:
        """End of a segment: close open out-of-limit runs and an open sensor fault."""
        for q in list(self._runs):
            self._close_run(q)
        if self._fault_start is not None and self._t_last is not None:
            self._end_fault(self._t_last)
