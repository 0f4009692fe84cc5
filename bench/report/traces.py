"""Read only the excerpt of a point's ``trace.csv`` that a waveform figure shows.

A reliability run's trace can hold hundreds of millions of lines; the report needs a few
seconds of it. The data lines are in time order (the trace CSV contract), so the start of
the excerpt is found by bisecting on byte offsets, and reading stops at its end: memory and
time depend on the excerpt, not on the file. The file was validated when it was analysed;
a line that does not parse here is skipped (the figure is an illustration, the numbers come
from ``results.json``).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ventbench.errors import ConfigError

_BISECT_STOP = 1 << 16  #: bytes: below this, read forward instead of bisecting
_READ_BLOCK = 1 << 18  #: bytes read and parsed at a time


@dataclass(frozen=True)
class Excerpt:
    """Samples of one time window: time (s), flow (L/min, at ``flow_condition``), Paw."""

    t_s: np.ndarray
    flow_lpm: np.ndarray
    paw_cmh2o: np.ndarray
    flow_condition: str


def _header(fh, path: Path) -> tuple[list[str], dict[str, str], int]:
    meta: dict[str, str] = {}
    while True:
        raw = fh.readline()
        if not raw:
            raise ConfigError(f"{path}: no column header line (t_s,flow_lpm,paw_cmh2o)")
        line = raw.decode("utf-8-sig", "replace").strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                meta[key.strip()] = value.strip()
            continue
        columns = [c.strip() for c in line.split(",")]
        for name in ("t_s", "flow_lpm", "paw_cmh2o"):
            if name not in columns:
                raise ConfigError(f"{path}: column {name!r} missing in header {line!r}")
        if columns[0] != "t_s":
            raise ConfigError(f"{path}: first column must be t_s, found {columns[0]!r}")
        return columns, meta, fh.tell()


def _time_of(line: bytes) -> float | None:
    head = line.split(b",", 1)[0]
    try:
        value = float(head)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _first_at_or_after(fh, start: int, end: int, t0: float) -> int:
    """Byte offset from which to read forward to meet the first sample at ``t0``."""
    lo, hi = start, end
    while hi - lo > _BISECT_STOP:
        mid = (lo + hi) // 2
        fh.seek(mid)
        fh.readline()  # the rest of a line cut in the middle
        t = None
        while t is None:
            line = fh.readline()
            if not line:
                break
            t = _time_of(line)
        if t is not None and t < t0:
            lo = mid
        else:
            hi = mid
    return lo


def _parse_lines(block: bytes, cols: tuple[int, int, int], t1_s: float) -> np.ndarray:
    """Rows (t, flow, paw) of whole lines, one line at a time, up to and including the
    first time past ``t1_s``; lines that do not parse are skipped."""
    rows = []
    for raw in block.splitlines():
        t = _time_of(raw)
        if t is None:
            continue
        if t > t1_s:
            rows.append((t, math.nan, math.nan))
            break
        fields = raw.split(b",")
        try:
            rows.append((t, float(fields[cols[1]]), float(fields[cols[2]])))
        except (ValueError, IndexError):
            continue
    return np.array(rows, dtype=float).reshape(-1, 3)


def _parse_block(block: bytes, cols: tuple[int, int, int], t1_s: float) -> np.ndarray:
    """Rows (t, flow, paw) of whole lines: numpy's parser for a clean block (the usual
    case, ~20× faster), else line by line; rows whose time is not finite are dropped."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input": a block without data
            rows = np.loadtxt(io.BytesIO(block), delimiter=",", usecols=cols, comments=None, ndmin=2)
    except (ValueError, IndexError):
        return _parse_lines(block, cols, t1_s)
    return rows[np.isfinite(rows[:, 0])] if rows.size else rows.reshape(-1, 3)


def read_excerpt(path: str | os.PathLike, t0_s: float, t1_s: float) -> Excerpt:
    """Samples with ``t0_s ≤ t ≤ t1_s`` of a trace CSV file.

    Raises
    ------
    ConfigError
        Missing file, or no valid column header (the message names the file).
    """
    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the trace: {error}") from None
    parts = []
    with fh:
        columns, meta, data_start = _header(fh, path)
        size = fh.seek(0, os.SEEK_END)
        begin = _first_at_or_after(fh, data_start, size, t0_s)
        fh.seek(begin)
        if begin != data_start:
            fh.readline()
        cols = (0, columns.index("flow_lpm"), columns.index("paw_cmh2o"))
        rest = b""
        while True:
            chunk = fh.read(_READ_BLOCK)
            block = rest + chunk
            if chunk:  # keep a line cut at the block's end for the next block
                cut = block.rfind(b"\n") + 1
                block, rest = block[:cut], block[cut:]
            rows = _parse_block(block, cols, t1_s)
            after = np.flatnonzero(rows[:, 0] > t1_s)
            done = after.size > 0 or not chunk
            rows = rows[: after[0]] if after.size else rows  # time order: the first past t1 ends it
            parts.append(rows[rows[:, 0] >= t0_s])
            if done:
                break
    data = np.concatenate(parts)
    return Excerpt(data[:, 0], data[:, 1], data[:, 2], meta.get("flow_condition", "unknown"))
