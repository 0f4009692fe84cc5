"""Trace CSV writers: a whole :class:`~analysis.trace.Trace` at once, or streamed block by block.

:func:`write_trace_csv` and :class:`TraceCsvStream` write the same bytes (the stream always
writes the ``flags`` column); both take the header text from
:mod:`drivers.importers.trace_csv_format`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import Trace
from ventbench.drivers.importers.trace_csv_format import (
    FLAGS_COLUMN,
    _column_names,
    _preamble,
    _rows_text,
)


def write_trace_csv(path: str | os.PathLike, trace: Trace, *, always_flags: bool = False) -> None:
    """Write ``trace`` as a Trace CSV file (deterministic bytes, exact round trip).

    Parameters
    ----------
    path : str or path-like
        The file to create or replace.
    trace : Trace
        The trace. Channels are written in their order, then ``flags`` when any sample is
        flagged. Scalar ``meta`` values become ``# key: value`` lines (other values as
        one-line JSON); keys the reader adds itself (``READER_META_KEYS``) are left out.
    always_flags : bool, optional
        Write the ``flags`` column even when no sample is flagged (as
        :class:`TraceCsvStream` does, which cannot know in advance).
    """
    names = _column_names(path, trace.channels, flags=always_flags or bool(trace.flags.any()))
    lines = [*_preamble(trace.flow_condition, trace.ambient, trace.meta), ",".join(names)]
    columns = [trace.t_s, trace.flow_lpm, trace.paw_cmh2o, *trace.channels.values()]
    rows = _rows_text(columns, trace.flags if names[-1] == FLAGS_COLUMN else None)
    Path(path).write_text("\n".join(lines) + "\n" + rows, encoding="utf-8", newline="\n")


class TraceCsvStream:
    """Append-only Trace CSV writer: the bytes of :func:`write_trace_csv` (``always_flags``).

    The preamble and the column header are written with the first non-empty block (its
    channels are the columns; a channel missing from a later block is written as NaN); every
    block is then appended as rows, so a long recording never sits in memory and a crash
    loses at most the block being written. Times must already increase across blocks
    (``ventbench record`` passes the blocks through :class:`drivers.timebase.ContinuousTime`).

    Parameters
    ----------
    path : str or path-like
        The file to create or replace.
    flow_condition : GasCondition or str
        The gas condition of the flow (the source's).
    meta : mapping, optional
        Metadata lines, as for :func:`write_trace_csv`.
    ambient : Ambient, optional
        Ambient values at the flow sensor (default: the standard :class:`Ambient`).
    """

    def __init__(self, path: str | os.PathLike, flow_condition: GasCondition | str,
                 meta: dict[str, Any] | None = None, *, ambient: Ambient | None = None) -> None:
        self.path = Path(path)
        self.flow_condition = (flow_condition if isinstance(flow_condition, GasCondition)
                               else GasCondition.parse(flow_condition))
        self.ambient = ambient or Ambient()
        self.meta = dict(meta or {})
        self.columns: list[str] | None = None
        self.rows = 0
        self._f = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def _start(self, channels: dict[str, np.ndarray]) -> None:
        self.columns = _column_names(self.path, channels, flags=True)
        lines = [*_preamble(self.flow_condition, self.ambient, self.meta), ",".join(self.columns)]
        self._f.write("\n".join(lines) + "\n")

    def append(self, block: Any) -> None:
        """Append a :class:`~drivers.base.SampleBlock` (or anything with its fields)."""
        n = len(block.t_s)
        if not n:
            return
        if self.columns is None:
            self._start(block.channels)
        nan = np.full(n, math.nan)
        columns = [block.t_s, block.flow_lpm, block.paw_cmh2o]
        columns += [block.channels.get(name, nan) for name in self.columns[3:-1]]
        self._f.write(_rows_text(columns, block.flags))
        self.rows += n

    def flush(self) -> None:
        """Hand the written rows to the OS."""
        self._f.flush()

    def close(self) -> None:
        """Finish the file (a file with no sample is still a valid, empty trace); idempotent."""
        if self._f.closed:
            return
        if self.columns is None:
            self._start({})
        self._f.close()

    def __enter__(self) -> TraceCsvStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
