"""Trace CSV in blocks of rows, for files too big to hold in memory.

:class:`TraceCsvChunks` reads the preamble and header as :func:`read_trace_csv` does, then
the data lines a block at a time with the same row parser (``trace_csv_rows``): the same
checks (field count, numbers, flags mask, finite and strictly increasing time — across
blocks too, unexcused NaN flow), each error naming the file and its line. Memory is bounded
by the block size, whatever the file's size. Sample validity (gaps, stuck sensors,
impossible values) is the consumer's: :class:`analysis.validity.SampleValidator` on the
stream, as the live path does.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.importers.trace_csv import _read_header, _read_preamble
from ventbench.drivers.importers.trace_csv_rows import (
    _bad_samples,
    _raise_first_bad,
    _read_data,
    _split_columns,
    _Where,
)
from ventbench.errors import BenchError, FrameError

#: Data lines per block (about 30 MB of arrays for the four required columns).
DEFAULT_ROWS = 1 << 18
#: Lines read to find the header: a preamble is a few dozen lines.
_MAX_PREAMBLE_LINES = 10_000


@dataclass(frozen=True)
class TraceBlock:
    """One block of samples: time, s; flow, L/min at the file's condition; pressure,
    cmH2O; flags; extra channels by column name."""

    t_s: np.ndarray
    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    flags: np.ndarray
    channels: dict[str, np.ndarray] = field(default_factory=dict)


class _BlockWhere(_Where):
    """File lines of a block: its line 1 is the file's line ``offset + 1``."""

    def __init__(self, path: Path, lines: list[str], offset: int) -> None:
        super().__init__(path, lines)
        self.offset = offset

    def at(self, line: int) -> str:
        return f"{self.path}:{line + self.offset}"

    def line_of(self, row: int, line_numbers: np.ndarray | None) -> int:
        return super().line_of(row, line_numbers)  # block-relative; at() adds the offset


class TraceCsvChunks:
    """A Trace CSV file read block by block.

    Parameters
    ----------
    path : str or path-like
        The file.
    rows : int
        Data lines per block.
    skip_bad : bool
        As :func:`read_trace_csv`: drop malformed lines and samples that break the time
        axis, flagging the sample after each hole ``GAP``; ``skipped_lines`` counts them.

    Attributes
    ----------
    flow_condition : GasCondition
    ambient : Ambient
    meta : dict
        The file's extra metadata, plus ``format``, ``source_path``; after iterating also
        ``data_lines`` and ``skipped_lines``.
    columns : list of str

    Raises
    ------
    FrameError
        A malformed preamble or header (on construction) or data line (while iterating),
        named by file and line.
    OSError
        The file is missing or unreadable.
    """

    def __init__(self, path: str | os.PathLike, *, rows: int = DEFAULT_ROWS,
                 skip_bad: bool = False) -> None:
        self.path, self.rows, self.skip_bad = Path(path), max(1, int(rows)), skip_bad
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            head = self._decode(lambda: list(itertools.islice(handle, _MAX_PREAMBLE_LINES)), 0)
        lines = [line.rstrip("\r\n") for line in head]
        where = _Where(self.path, lines)
        condition, ambient_values, meta, header_index = _read_preamble(lines, where)
        self.columns = _read_header(lines[header_index], where.at(header_index + 1))
        self.header_lines = header_index + 1
        try:
            self.ambient = Ambient(**ambient_values) if ambient_values else Ambient()
        except BenchError as error:
            raise FrameError(f"{self.path}: ambient metadata: {error}") from None
        self.flow_condition: GasCondition = condition
        self.meta: dict[str, Any] = {**meta, "format": "csv", "source_path": str(self.path)}

    def _decode(self, read, first_line: int):
        try:
            return read()
        except UnicodeDecodeError as error:
            raise FrameError(f"{self.path}: not UTF-8 text after line {first_line} "
                             f"({error.reason})") from None

    def __iter__(self) -> Iterator[TraceBlock]:
        data_lines = skipped = 0
        last_t: float | None = None
        carry_gap = False  # lines or samples dropped at the end of the previous block
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            for _ in itertools.islice(handle, self.header_lines):
                pass
            offset = self.header_lines
            while raw := self._decode(lambda: list(itertools.islice(handle, self.rows)), offset):
                lines = [line.rstrip("\r\n") for line in raw]
                where = _BlockWhere(self.path, lines, offset)
                offset += len(raw)
                data, numbers, holes, n_skipped = _read_data(lines, 0, self.columns, where,
                                                             self.skip_bad)
                skipped += n_skipped
                t, flow, paw, flags, channels = _split_columns(data, self.columns, numbers, where)
                gap = np.zeros(len(t), bool) if holes is None else holes > 0
                trailing = n_skipped - (0 if holes is None else int(holes.sum()))
                if carry_gap and len(t):
                    gap[0] = True
                bad = self._bad(t, flow, flags, last_t)
                if bad.any():
                    if not self.skip_bad:
                        self._raise(t, flow, bad, numbers, where, last_t)
                    skipped += int(bad.sum())
                    keep = ~bad
                    after_drop = np.diff(np.cumsum(bad)[keep], prepend=0) > 0
                    gap = gap[keep] | after_drop
                    t, flow, paw, flags = t[keep], flow[keep], paw[keep], flags[keep]
                    channels = {k: v[keep] for k, v in channels.items()}
                carry_gap = trailing > 0 or bool(bad.any() and bad[-1]) or (carry_gap and not len(t))
                if not len(t):
                    continue
                flags = flags | np.where(gap, np.uint8(SampleFlag.GAP), np.uint8(0))
                last_t = float(t[-1])
                data_lines += len(t)
                yield TraceBlock(t, flow, paw, flags, channels)
        self.meta.update(data_lines=data_lines, skipped_lines=skipped)

    @staticmethod
    def _bad(t: np.ndarray, flow: np.ndarray, flags: np.ndarray, last_t: float | None) -> np.ndarray:
        """:func:`_bad_samples` with the time axis continued from the previous block."""
        if last_t is None:
            return _bad_samples(t, flow, flags)
        return _bad_samples(np.concatenate(([last_t], t)), np.concatenate(([0.0], flow)),
                            np.concatenate(([0], flags)).astype(np.uint8))[1:]

    def _raise(self, t, flow, bad, numbers, where, last_t) -> None:
        i = int(np.flatnonzero(bad)[0])
        if i == 0 and last_t is not None and np.isfinite(t[0]) and t[0] <= last_t:
            line = where.at(where.line_of(0, numbers))
            raise FrameError(f"{line}: time {float(t[0])!r} s does not increase (previous "
                             f"{last_t!r} s); time must be strictly increasing")
        _raise_first_bad(t, flow, bad, numbers, where)
