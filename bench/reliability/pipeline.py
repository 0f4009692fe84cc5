"""Samples → run time → breaths → store and events: the one path of live runs and replays.

A :class:`Pipeline` is one recording process (a *segment* of the run). It is fed the
driver's sample blocks in order — live from :class:`~drivers.transport.Acquisition`,
in a replay from the capture's rx bytes through a fresh driver — and does, per block:

1. device time made continuous across device resets (:class:`drivers.timebase.ContinuousTime`,
   as every recording does), then shifted to *run time*: the segment's first sample is at
   ``base_s`` (0 for the first segment; the resume point plus the interruption after a resume);
2. samples at or beyond ``config.duration_s`` of run time are ignored (the run is over);
3. flow converted to the analysis condition by one factor (as every analysis does; the
   device's flow condition and the factor are a ``flow_condition`` event), breaths
   from :class:`analysis.stream.BreathStream` (bounded memory, chunk-invariant);
4. the O2 flow channel, when the device streams one, integrated (:mod:`.oxygen`);
5. every completed breath appended to the :class:`~bench.reliability.store.BreathStore`,
   samples and breaths given to the :class:`~bench.reliability.events.EventDetector`.

Memory holds only the stream's buffer (≈ two breaths of samples) and a few counters; the
rolling summary (:class:`Rolling`) is a constant-size object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.stream import BreathStream
from ventbench.analysis.validity import SampleValidator
from ventbench.bench.reliability.config import QUANTITIES, ReliabilityConfig
from ventbench.bench.reliability.events import EventDetector
from ventbench.bench.reliability.oxygen import OxygenMeter
from ventbench.bench.reliability.store import BreathStore, breath_records
from ventbench.bench.reliability.store import trusted as is_trusted
from ventbench.drivers.base import SampleBlock
from ventbench.drivers.timebase import ContinuousTime


@dataclass
class Rolling:
    """Constant-size live summary: counts and the last breath's values."""

    samples: int = 0
    breaths: int = 0
    out_of_limit: int = 0
    t_run_s: float = 0.0
    vt_ml: float = math.nan
    peep_cmh2o: float = math.nan
    pip_cmh2o: float = math.nan
    rate_bpm: float = math.nan


class Pipeline:
    """One segment of a reliability run (see module docstring).

    Parameters
    ----------
    config : ReliabilityConfig
    store : BreathStore or None
        Where breath records go (None: kept in :attr:`records`, for tests).
    detector : EventDetector
    segment : int
        Segment number (stored in each breath record).
    base_s : float
        Run time of the segment's first sample, s.
    ambient : Ambient
        For the flow conversion to BTPS.
    segmentation : SegmentationSettings, optional
        Default: adaptive (levels from the signal).
    """

    def __init__(self, config: ReliabilityConfig, store: BreathStore | None, detector: EventDetector,
                 segment: int = 0, base_s: float = 0.0, ambient: Ambient | None = None,
                 segmentation: SegmentationSettings | None = None) -> None:
        self.config = config
        self.store = store
        self.detector = detector
        self.segment = segment
        self.base_s = float(base_s)
        self.ambient = ambient or Ambient()
        self.stream = BreathStream(segmentation or SegmentationSettings.auto())
        self.clock = ContinuousTime()
        self.validator = SampleValidator()  # gaps, stuck sensors, impossible values
        self.rolling = Rolling(t_run_s=self.base_s)
        self.records: list[np.ndarray] = []
        self.done = False  #: the run's duration is reached
        self._offset_s: float | None = None
        self._factor: float | None = None
        self._decoded = 0  #: samples decoded by the driver so far (its segment index base)
        self._segments_seen = 0
        self._corrupt = (0, 0)  #: driver's discarded bytes, rejected frames already reported
        #: the O2 flow channel integrated (``oxygen`` events; nothing without the channel)
        self.oxygen = OxygenMeter(config.o2_channel, detector.emit, config.stall_s)

    def feed(self, block: SampleBlock, driver: Any) -> bool:
        """Process one block from ``driver`` (for its flow condition and reset segments).

        Returns False once the run's duration is reached (later blocks are ignored).
        """
        n = len(block)
        if n == 0 or self.done:
            self._decoded += n
            return not self.done
        resets = self._reset_rows(driver, n)
        self._decoded += n
        t_dev, flags = self.clock(block.t_s, block.flags)
        if self._offset_s is None:
            self._offset_s = self.base_s - float(t_dev[0])
            condition = getattr(driver, "flow_condition", GasCondition.BTPS)
            condition = condition if isinstance(condition, GasCondition) else GasCondition.parse(condition)
            self._factor = conversion_factor(condition, GasCondition.BTPS, self.ambient)
            self.detector.emit("flow_condition", self.base_s, flow_condition=condition.value,
                               btps_factor=round(self._factor, 9))
        t_run = t_dev + self._offset_s
        keep = int(np.searchsorted(t_run, self.config.duration_s, side="left"))
        if keep < n:
            self.done = True
            t_run, flags = t_run[:keep], flags[:keep]
            resets = [i for i in resets if i < keep]
        if keep == 0:
            return False
        flow, paw, flags = self.validator(t_run, block.flow_lpm[:keep], block.paw_cmh2o[:keep], flags)
        flow = flow * self._factor
        self.detector.samples(t_run, flags, resets)
        self.oxygen.feed(t_run, block.channels, flags)
        self._report_damage(driver, t_run, n)
        breaths = self.stream.feed(t_run, flow, paw, flags)
        self.rolling.samples += keep
        self.rolling.t_run_s = float(t_run[-1])
        if breaths:
            rec = breath_records(breaths, self.segment)
            if self.store is not None:
                self.store.append(rec)
            else:
                self.records.append(rec)
            self.detector.breaths(rec)
            self._roll(rec)
        return not self.done

    def _report_damage(self, driver: Any, t_run: np.ndarray, n: int) -> None:
        """corrupt_data events: at the sample after the damage when the driver locates it
        (``driver.corruptions``, VBR/1), else once per block from the driver's counters."""
        located = getattr(driver, "corruptions", None)
        if located is not None:
            first = self._decoded - n  # the driver's index of this block's first sample
            while located and located[0][0] < self._decoded:
                index, discarded, rejected = located.popleft()
                row = index - first
                if 0 <= row < len(t_run):
                    self.detector.corrupt(float(t_run[row]), discarded, rejected)
            return
        counters = getattr(driver, "counters", None)
        if counters is not None:
            now = (counters.discarded_bytes, counters.rejected_frames)
            if now != self._corrupt:
                self.detector.corrupt(float(t_run[0]), now[0] - self._corrupt[0],
                                      now[1] - self._corrupt[1], t_end_s=float(t_run[-1]))
                self._corrupt = now

    def _reset_rows(self, driver: Any, n: int) -> list[int]:
        """Rows of this block where the driver saw a device reset (not a START)."""
        segments = getattr(driver, "segments", None) or []
        rows = []
        while self._segments_seen < len(segments):
            seg = segments[self._segments_seen]
            if seg.get("index", 0) >= self._decoded + n:
                break
            self._segments_seen += 1
            if seg.get("reason") == "reset":
                rows.append(max(0, int(seg["index"]) - self._decoded))
        return rows

    def _roll(self, rec: np.ndarray) -> None:
        r = self.rolling
        r.breaths += len(rec)
        out = np.zeros(len(rec), dtype=bool)
        trusted = is_trusted(rec["flags"])
        for q in QUANTITIES:
            if q in self.config.limits:
                lo, hi = self.config.limits[q]
                v = rec[q].astype(np.float64)
                out |= trusted & np.isfinite(v) & ((v < lo) | (v > hi))
        r.out_of_limit += int(out.sum())
        last = rec[-1]
        r.vt_ml, r.peep_cmh2o = float(last["vt_ml"]), float(last["peep_cmh2o"])
        r.pip_cmh2o, r.rate_bpm = float(last["pip_cmh2o"]), float(last["rate_bpm"])

    def finish(self) -> None:
        """End of the segment: close open event runs and the open O2 interval (the last,
        open breath is dropped)."""
        self.oxygen.finish()
        self.detector.finish()
