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
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import BenchError, ConfigError, FrameError
from analysis.gas import Ambient, GasCondition
from analysis.trace import SampleFlag, Trace

MAGIC_KEY = "ventbench-trace"
VERSION = "1"
REQUIRED_COLUMNS = ("t_s", "flow_lpm", "paw_cmh2o")
FLAGS_COLUMN = "flags"
#: Unit suffixes a column name may end in (``<quantity>_<unit>``).
UNIT_SUFFIXES = frozenset(
    "s ms us hz lpm slpm lps ml l ml_s cmh2o hpa mbar kpa pa mmhg pct degc k bpm v mv "
    "ppm ratio count mlmin ml_per_hpa".split()
)
#: Metadata keys the reader fills in itself; the writer never writes them back.
READER_META_KEYS = frozenset({"format", "source_path", "data_lines", "skipped_lines"})
_AMBIENT_KEYS = ("t_amb_degc", "p_amb_hpa", "rh_pct")
_META_LINE = re.compile(r"^#\s*([A-Za-z0-9_.\-]+)\s*:\s*(.*?)\s*$")
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_EXCUSED = int(SampleFlag.GAP | SampleFlag.FAULT)


def read_trace_csv(path: str | os.PathLike, *, skip_bad: bool = False) -> Trace:
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
    return Trace(t, flow, paw, condition, ambient, flags, channels, meta)


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


def _preamble(condition: GasCondition, amb: Ambient, meta: Any) -> list[str]:
    """The ``#`` lines: magic, flow condition, ambient, then the writable metadata."""
    out = [f"# {MAGIC_KEY}: {VERSION}", f"# flow_condition: {condition.value}",
           f"# t_amb_degc: {amb.t_amb_degc!r}", f"# p_amb_hpa: {amb.p_amb_hpa!r}",
           f"# rh_pct: {amb.rh_pct!r}", f"# ambient_source: {_one_line(amb.source)}"]
    for key, value in meta.items():
        if (key in READER_META_KEYS or key in _AMBIENT_KEYS
                or key in ("flow_condition", "ambient_source")):
            continue
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(key)) or key == MAGIC_KEY:
            continue
        out.append(f"# {key}: {_meta_text(value)}")
    return out


def _column_names(path: Any, channels: Any, *, flags: bool) -> list[str]:
    """Header columns; ConfigError for a channel that is not named ``quantity_unit``."""
    for name in channels:
        unit = name.rsplit("_", 1)[-1]
        if not _COLUMN_NAME.match(name) or unit not in UNIT_SUFFIXES or name == FLAGS_COLUMN:
            raise ConfigError(
                f"{path}: channel {name!r} cannot be written: a column must be named "
                "quantity_unit in lower case (e.g. fio2_pct)"
            )
    return ["t_s", "flow_lpm", "paw_cmh2o", *channels, *([FLAGS_COLUMN] if flags else [])]


def _rows_text(columns: list[Any], flags: Any | None) -> str:
    """Data rows: floats as shortest round-trip ``repr``, flags as integers."""
    text = [list(map(repr, np.asarray(c, dtype=np.float64).tolist())) for c in columns]
    if flags is not None:
        text.append(list(map(str, np.asarray(flags, dtype=np.uint8).tolist())))
    return "".join(",".join(row) + "\n" for row in zip(*text, strict=True))


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
    bad = ~np.isfinite(t)
    t_clean = np.where(bad, -np.inf, t)
    # running maximum of the *previous* times; dropped samples never raise it
    previous_max = np.concatenate(([-np.inf], np.maximum.accumulate(t_clean)[:-1]))
    bad |= t_clean <= previous_max
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


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _meta_text(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return _one_line(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return _one_line(value)
