"""Trace CSV: the plain interchange format of the DESIGN.md contract, read and written.

Layout::

    # ventbench-trace: 1
    # flow_condition: BTPS
    # t_amb_degc: 22.0            (optional "# key: value" metadata lines)
    # p_amb_hpa: 1008.0
    t_s,flow_lpm,paw_cmh2o[,fio2_pct,...][,flags]
    0.0,0.12,5.03

Metadata keys ``t_amb_degc``, ``p_amb_hpa``, ``rh_pct`` and ``ambient_source`` make the
trace's :class:`~analysis.gas.Ambient`; any other key goes to ``Trace.meta`` as a string.
A ``#`` line without ``key: value`` is a comment. Every column except ``flags`` names its
unit in a last ``_unit`` part (``fio2_pct``, ``t_gas_degc``); ``flags`` is the integer
:class:`~analysis.trace.SampleFlag` mask. Extra columns become ``Trace.channels``.

Numbers are written with Python's shortest round-trip ``repr`` of each float64, so
``read_trace_csv(write_trace_csv(trace))`` gives back bit-identical arrays, and the same
trace always gives the same bytes.

The reader is here; the writers (:func:`write_trace_csv`, :class:`TraceCsvStream`) are in
:mod:`drivers.importers.trace_csv_write`, the data-line parsing in
:mod:`drivers.importers.trace_csv_rows` and the shared header definition in
:mod:`drivers.importers.trace_csv_format`; all public names are importable from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.analysis.validity import ValidityLimits
from ventbench.drivers.importers.trace_csv_format import (
    _AMBIENT_KEYS,
    _COLUMN_NAME,
    _META_LINE,
    FLAGS_COLUMN,
    MAGIC_KEY,
    READER_META_KEYS,
    REQUIRED_COLUMNS,
    UNIT_SUFFIXES,
    VERSION,
)
from ventbench.drivers.importers.trace_csv_rows import (
    _bad_samples,
    _raise_first_bad,
    _read_data,
    _split_columns,
    _Where,
)
from ventbench.drivers.importers.trace_csv_write import TraceCsvStream, write_trace_csv
from ventbench.errors import BenchError, FrameError

__all__ = [
    "FLAGS_COLUMN",
    "MAGIC_KEY",
    "READER_META_KEYS",
    "REQUIRED_COLUMNS",
    "UNIT_SUFFIXES",
    "VERSION",
    "TraceCsvStream",
    "read_trace_csv",
    "write_trace_csv",
]


def read_trace_csv(path: str | os.PathLike, *, skip_bad: bool = False,
                   validity: ValidityLimits | bool | None = None) -> Trace:
    """Read a Trace CSV file.

    Parameters
    ----------
    path : str or path-like
        The file.
    skip_bad : bool, optional
        Skip data lines with a wrong field count, a non-numeric value, a non-finite or
        non-increasing time, or a non-finite flow on an unflagged sample, instead of
        failing; their number is in ``meta["skipped_lines"]`` and the sample after each
        hole is flagged ``GAP``, so no verdict trusts data across it. Header errors always
        fail.
    validity : ValidityLimits, optional
        Gap, stuck-sensor and range limits of the instrument
        (:mod:`analysis.validity`); the defaults when None, unchecked when False.

    Returns
    -------
    Trace
        ``meta`` holds the file's extra metadata (strings) plus ``format`` ("csv"),
        ``source_path``, ``data_lines`` and ``skipped_lines``.

    Raises
    ------
    FrameError
        Malformed file; the message names the file and line.
    OSError
        The file is missing or unreadable.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise FrameError(f"{path}:{line}: not UTF-8 text (byte {error.start})") from None
    lines = text.splitlines()
    where = _Where(path, lines)

    condition, ambient_values, meta, header_index = _read_preamble(lines, where)
    columns = _read_header(lines[header_index], where.at(header_index + 1))
    where.data_start = header_index + 1
    data, line_numbers, hole, skipped = _read_data(
        lines, where.data_start, columns, where, skip_bad
    )
    t, flow, paw, flags, channels = _split_columns(data, columns, line_numbers, where)

    bad = _bad_samples(t, flow, flags)
    if bad.any():
        if not skip_bad:
            _raise_first_bad(t, flow, bad, line_numbers, where)
        skipped += int(bad.sum())
        keep = ~bad
        dropped_so_far = np.cumsum(bad)[keep]
        hole_here = np.diff(dropped_so_far, prepend=0) > 0
        hole = hole_here if hole is None else (hole[keep] > 0) | hole_here
        t, flow, paw, flags = t[keep], flow[keep], paw[keep], flags[keep]
        channels = {name: values[keep] for name, values in channels.items()}
    if hole is not None and hole.any():
        # a skipped line is a hole in the data: the analysis must not trust across it
        flags = flags | np.where(hole > 0, np.uint8(SampleFlag.GAP), np.uint8(0))

    try:
        ambient = Ambient(**ambient_values) if ambient_values else Ambient()
    except BenchError as error:
        raise FrameError(f"{path}: ambient metadata: {error}") from None
    meta.update(format="csv", source_path=str(path), data_lines=len(t), skipped_lines=skipped)
    trace = Trace(t, flow, paw, condition, ambient, flags, channels, meta)
    return trace.validated(validity)


def _read_preamble(
    lines: list[str], where: _Where
) -> tuple[GasCondition, dict[str, Any], dict[str, Any], int]:
    """Magic line and metadata; returns condition, ambient kwargs, meta, header index."""
    first = lines[0].strip() if lines else ""
    match = _META_LINE.match(first)
    if not match or match.group(1) != MAGIC_KEY:
        found = repr(first[:40]) if lines else "an empty file"
        raise FrameError(
            f"{where.at(1)}: missing magic line '# {MAGIC_KEY}: {VERSION}' (found {found}); "
            "is this a Trace CSV? (use --format for other formats)"
        )
    if match.group(2) != VERSION:
        raise FrameError(
            f"{where.at(1)}: unknown {MAGIC_KEY} version {match.group(2)!r} "
            f"(this reader knows version {VERSION})"
        )
    condition: GasCondition | None = None
    ambient: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    seen: set[str] = set()
    for index in range(1, len(lines)):
        line = lines[index].strip()
        if not line:
            continue
        if not line.startswith("#"):
            if condition is None:
                raise FrameError(
                    f"{where.at(index + 1)}: no '# flow_condition:' line before the header "
                    f"(expected one of {', '.join(c.value for c in GasCondition)})"
                )
            return condition, ambient, meta, index
        match = _META_LINE.match(line)
        if not match:
            continue  # a plain comment
        key, value = match.groups()
        if key in seen:
            raise FrameError(f"{where.at(index + 1)}: metadata key {key!r} given twice")
        seen.add(key)
        if key == "flow_condition":
            try:
                condition = GasCondition.parse(value)
            except BenchError as error:
                raise FrameError(f"{where.at(index + 1)}: {error}") from None
        elif key in _AMBIENT_KEYS:
            try:
                ambient[key] = float(value)
            except ValueError:
                raise FrameError(
                    f"{where.at(index + 1)}: {key} must be a number, found {value!r}"
                ) from None
            ambient.setdefault("source", "file")
        elif key == "ambient_source":
            ambient["source"] = value
        else:
            meta[key] = value
    raise FrameError(
        f"{where.at(len(lines))}: no header line (expected "
        f"'{','.join(REQUIRED_COLUMNS)}[,...]' after the metadata)"
    )


def _read_header(line: str, where: str) -> list[str]:
    """Validate the column header; returns the column names."""
    names = [name.strip() for name in line.split(",")]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise FrameError(
            f"{where}: header lacks column(s) {', '.join(missing)} "
            f"(expected '{','.join(REQUIRED_COLUMNS)}[,...]', found {line.strip()!r})"
        )
    for name in names:
        if name == FLAGS_COLUMN:
            continue
        unit = name.rsplit("_", 1)[-1] if "_" in name else ""
        if not _COLUMN_NAME.match(name) or unit not in UNIT_SUFFIXES:
            raise FrameError(
                f"{where}: column {name!r} does not name its unit "
                "(expected quantity_unit in lower case, e.g. fio2_pct, t_gas_degc)"
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FrameError(f"{where}: column(s) {', '.join(duplicates)} appear twice")
    return names
