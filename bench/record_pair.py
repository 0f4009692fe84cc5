"""The second source of ``ventbench record --port2``: its own capture, live trace and the
combined trace.

``ventbench record`` with ``--port2 URL --driver2 NAME`` records two ports at once. Each is
captured before it is decoded (``capture.vbcap``, ``capture2.vbcap``) and streamed live
to its own Trace CSV (``trace1.csv``, ``trace2.csv``), so a crash loses nothing; both are
sources of the one :class:`~ventbench.bench.recorder.Recorder` (its no-data limit, port
errors and stop reasons apply to either). When the
recording ends, both captures are decoded again through the ``.vbcap`` importer (the
path ``ventbench analyze capture.vbcap`` takes, with host arrival times) and
:func:`drivers.combine.combine` puts the ``--take2`` channels of the second source onto
the first one's samples: that is ``trace.csv``, with the alignment in its metadata lines
and in ``record.json``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.trace import Trace
from ventbench.bench.recorder import Source
from ventbench.bench.recorder_sinks import TraceSink
from ventbench.drivers.importers.trace_csv import write_trace_csv
from ventbench.errors import ConfigError, TransportError

CAPTURE2 = "capture2.vbcap"
TRACE1, TRACE2 = "trace1.csv", "trace2.csv"


class SecondSource:
    """The second port: a Recorder :class:`~ventbench.bench.recorder.Source` with its live
    ``trace2.csv``, its counts for ``record.json`` and the combined trace at the end."""

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        from ventbench.drivers.registry import driver_options, make_driver
        from ventbench.drivers.transport import Acquisition

        if not args.driver2:
            raise ConfigError("--port2 needs --driver2 NAME (the second port's driver)")
        self.url, self.name, self.out = args.port2, args.driver2, out
        typed = driver_options(self.name, args.option2, flag="--option2")
        self.options = typed.to_dict()
        self.take = tuple(t.strip() for t in args.take2.split(",") if t.strip())
        self.clock = args.clock  # host | device | offset in s (bench.args.clock)
        self.method, self.max_staleness_s = args.interp, args.max_staleness
        self.driver = make_driver(self.name, typed)
        self.acq = Acquisition(self.url, self.driver, out / CAPTURE2,
                               metadata={"command": "record", "out": str(out), "role": "second",
                                         "driver_options": self.options},
                               reconnect=not args.no_reconnect)
        self.sink = TraceSink(out / TRACE2, self.driver,
                              {"driver": self.name, "url": self.url, "capture": CAPTURE2})
        self.source = Source(self.acq, [self.sink], label=f"--port2 {self.url}",
                             no_data_s=args.no_data_timeout)

    @property
    def last_paw_cmh2o(self) -> float:
        return self.sink.last_paw_cmh2o

    def summary(self) -> dict[str, Any]:
        """The second source's part of ``record.json``."""
        return {"url": self.url, "driver": self.name, "options": self.options,
                "instrument": self.driver.info, **self.driver.counters.to_json(),
                "disconnects": self.acq.disconnects, "rx_bytes": self.acq.rx_bytes,
                "trace_rows": self.sink.rows, "time_shifts": self.sink.timebase.shifts}

    def combine(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Decode both captures again, combine, write ``trace.csv``; the alignment record."""
        from ventbench.drivers.combine import combine
        from ventbench.drivers.importers.vbcap import read_vbcap

        first = read_vbcap(self.out / "capture.vbcap", host_time=True)
        second = read_vbcap(self.out / CAPTURE2, host_time=True)
        if len(first) == 0 or len(second) == 0:
            raise TransportError(f"cannot combine: {len(first)} samples from the first port, "
                                 f"{len(second)} from --port2 {self.url}")
        first = Trace(first.t_s, first.flow_lpm, first.paw_cmh2o, first.flow_condition,
                      first.ambient, first.flags, first.channels,
                      {**meta, "capture2": CAPTURE2})
        combined = combine(first, second, take=self.take, method=self.method,
                           clock=self.clock, max_staleness_s=self.max_staleness_s)
        tmp = self.out / "trace.csv.tmp"
        write_trace_csv(tmp, combined)
        os.replace(tmp, self.out / "trace.csv")
        alignment = dict(combined.meta["alignment"])
        taken = [combined.paw_cmh2o if n == "paw_cmh2o" else combined.channels[n]
                 for n in self.take]
        alignment["finite_samples"] = int(np.all(np.isfinite(taken), axis=0).sum())
        return alignment
