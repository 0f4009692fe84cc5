"""Sinks of the :class:`~ventbench.bench.recorder.Recorder` shared by several commands.

:class:`TraceSink` streams a source's samples to a Trace CSV file on a continuous device
time base (``record``'s ``trace.csv``, ``trace1.csv``, ``trace2.csv``). The capture itself
is not a sink: the transport writes every byte to it before anything is decoded. Sinks
specific to one command live beside it (the live breaths of a run point in
``bench/recording.py``, the reliability pipeline in ``bench/reliability/runner.py``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ventbench.drivers.importers.trace_csv import TraceCsvStream
from ventbench.drivers.timebase import ContinuousTime


class TraceSink:
    """Samples → Trace CSV, device time made continuous across resets and reconnects.

    Parameters
    ----------
    path : path
        The Trace CSV file (created when the source has started).
    driver : Driver
        Supplies the flow condition.
    meta : dict
        Metadata lines of the file; ``instrument`` (the handshake's info) is added.
    """

    def __init__(self, path: Path, driver: Any, meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self.driver = driver
        self.meta = dict(meta)
        self.timebase = ContinuousTime()
        self.trace: TraceCsvStream | None = None
        self.last_flow_lpm = self.last_paw_cmh2o = math.nan

    @property
    def rows(self) -> int:
        return self.trace.rows if self.trace is not None else 0

    def open(self, info: dict[str, Any]) -> None:
        self.meta["instrument"] = info
        self.trace = TraceCsvStream(self.path, self.driver.flow_condition, self.meta)

    def write(self, block: Any) -> None:
        self.trace.append(self.timebase.apply(block))
        self.last_flow_lpm = float(block.flow_lpm[-1])
        self.last_paw_cmh2o = float(block.paw_cmh2o[-1])

    def close(self) -> None:
        if self.trace is not None:
            self.trace.close()
