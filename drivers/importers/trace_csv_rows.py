"""Trace CSV data lines: parsed, checked, and traced back to their file lines.

The reader's second half (:func:`drivers.importers.trace_csv.read_trace_csv` reads the
preamble and header, then hands the data lines here): field counts and numbers, the
``flags`` mask, times that must be finite and increasing, and flow that may be NaN only
on a sample flagged as a gap or fault. Every error names the file and line.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ventbench.analysis.trace import SampleFlag
from ventbench.analysis.validity import time_axis_bad
from ventbench.drivers.importers.trace_csv_format import _EXCUSED, FLAGS_COLUMN
from ventbench.errors import FrameError


class _Where:
    """Formats ``file:line`` prefixes and maps data rows back to file lines."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.data_start = 0

    def at(self, line: int) -> str:
        return f"{self.path}:{line}"

    def line_of(self, row: int, line_numbers: np.ndarray | None) -> int:
        """1-based file line of data row ``row`` (recounted on the fast path)."""
        if line_numbers is not None:
            return int(line_numbers[row])
        count = -1
        for index in range(self.data_start, len(self.lines)):
            if self.lines[index].split("#", 1)[0].strip():
                count += 1
                if count == row:
                    return index + 1
        return len(self.lines)  # pragma: no cover



def _read_data(
    lines: list[str], start: int, columns: list[str], where: _Where, skip_bad: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """Parse the data lines.

    Returns (rows × columns array, line number of each row, lines skipped just before each
    row, lines skipped in all); the middle two are None on the fast path, which hands every line to ``np.loadtxt``.
    Only when that fails are the lines walked one by one, to name the bad line or, with
    ``skip_bad``, to drop it.
    """
    body = lines[start:]
    ncols = len(columns)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            data = np.loadtxt(body, delimiter=",", comments="#", ndmin=2, dtype=np.float64)
        if data.size == 0:
            data = np.empty((0, ncols))
        if data.shape[1] != ncols:
            raise ValueError("field count differs from the header")
        return data, None, None, 0
    except ValueError:
        pass
    rows: list[list[float]] = []
    numbers: list[int] = []
    skipped_before: list[int] = []
    skipped = 0
    for offset, line in enumerate(body):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        line_number = start + offset + 1
        problem, values = _parse_row(stripped, columns)
        if problem is None:
            rows.append(values)
            numbers.append(line_number)
            skipped_before.append(skipped)
            skipped = 0
        elif skip_bad:
            skipped += 1
        else:
            raise FrameError(f"{where.at(line_number)}: {problem}")
    if not rows and not skip_bad:  # loadtxt failed but no line looked bad: be honest
        raise FrameError(f"{where.path}: data lines could not be parsed as numbers")
    data = np.array(rows, dtype=np.float64).reshape(len(rows), ncols)
    total = sum(skipped_before) + skipped  # + bad lines after the last good one
    return data, np.array(numbers, dtype=np.int64), np.array(skipped_before, dtype=np.int64), total


def _parse_row(text: str, columns: list[str]) -> tuple[str | None, list[float]]:
    fields = text.split(",")
    if len(fields) != len(columns):
        return (
            f"wrong field count: expected {len(columns)} ({','.join(columns)}), "
            f"found {len(fields)}",
            [],
        )
    values = []
    for name, field in zip(columns, fields, strict=True):
        value = field.strip()
        try:
            if "_" in value:  # Python's float() accepts 1_0; loadtxt does not
                raise ValueError
            values.append(float(value))
        except ValueError:
            return f"column {name}: {value!r} is not a number", []
    return None, values


def _split_columns(
    data: np.ndarray, columns: list[str], line_numbers: np.ndarray | None, where: _Where
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    by_name = {name: data[:, i].copy() for i, name in enumerate(columns)}
    flags_f = by_name.pop(FLAGS_COLUMN, None)
    if flags_f is None:
        flags = np.zeros(len(data), dtype=np.uint8)
    else:
        bad = ~((flags_f >= 0) & (flags_f <= 255) & (flags_f == np.round(flags_f)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            line = where.line_of(i, line_numbers)
            raise FrameError(
                f"{where.at(line)}: flags must be an integer mask 0…255, found {float(flags_f[i])!r}"
            )
        flags = flags_f.astype(np.uint8)
    t = by_name.pop("t_s")
    flow = by_name.pop("flow_lpm")
    paw = by_name.pop("paw_cmh2o")
    return t, flow, paw, flags, by_name


def _bad_samples(t: np.ndarray, flow: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Samples a Trace cannot hold: non-finite or non-increasing time, unexcused NaN flow."""
    bad = time_axis_bad(t)
    bad |= ~np.isfinite(flow) & ((flags & _EXCUSED) == 0)
    return bad


def _raise_first_bad(
    t: np.ndarray,
    flow: np.ndarray,
    bad: np.ndarray,
    line_numbers: np.ndarray | None,
    where: _Where,
) -> None:
    i = int(np.flatnonzero(bad)[0])
    line = where.at(where.line_of(i, line_numbers))
    if not math.isfinite(t[i]):
        raise FrameError(f"{line}: time t_s is {float(t[i])!r}; expected a finite number")
    if i > 0 and t[i] <= np.max(t[:i]):
        raise FrameError(
            f"{line}: time {float(t[i])!r} s does not increase (previous {float(t[i - 1])!r} s); "
            "time must be strictly increasing"
        )
    raise FrameError(
        f"{line}: flow_lpm is {float(flow[i])!r} but the sample is not flagged as a gap or fault "
        f"(flags column: bit {int(SampleFlag.GAP)} gap, {int(SampleFlag.FAULT)} fault)"
    )
