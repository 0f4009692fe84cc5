"""ventMAP / Puritan Bennett 840 breath files → :class:`~analysis.trace.Trace`.

The format read by ventMAP (hahnicity/ventMAP, ``ventmap/raw_utils.py``; sample files in
``ventmap/tests/samples/*.csv_test``)::

    2016-02-17-08-43-02.525325        optional time stamp line (file start or any time)
    BS, S:54042,                      breath start, the ventilator's breath number
    0.87, 7.04                        flow L/min, airway pressure cmH2O — one row per 20 ms
    ...
    BE                                breath end

Rows are sampled at 50 Hz (ventMAP's ``PB840File.dt = 0.02``); the time axis is the row
index × 20 ms from the first row, and rows between ``BE`` and the next ``BS`` are real
samples too (ventMAP skips them; we keep them, outside any breath). A 3-column variant
with a time stamp in the first column is accepted (the stamp is kept in ``meta``).

Flow condition: the PB840 reports flow and volumes **BTPS**-compensated [unconfirmed: from
the ventilator's operator manual as commonly cited; no BTPS statement in ventMAP]. The
channel ``breath_number`` carries ``S:n`` inside breaths (NaN outside).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.analysis.validity import ValidityLimits
from ventbench.drivers.importers.decimal_text import parse_decimal_rows
from ventbench.errors import FrameError

FS_HZ = 50.0
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[- ]\d{2}[-:]\d{2}[-:]\d{2}(?:\.\d+)?$")
_BS = re.compile(r"^BS\s*,\s*S\s*:\s*(\d+)\s*,?\s*$")


def read_ventmap(path: str | os.PathLike, *, skip_bad: bool = False,
                 fs_hz: float = FS_HZ, validity: ValidityLimits | bool | None = None) -> Trace:
    """Read a ventMAP/PB840 breath file.

    Parameters
    ----------
    path : path-like
        The text file.
    skip_bad : bool
        Skip malformed lines (counted in ``meta["skipped_lines"]``) instead of failing.
    fs_hz : float
        Row rate, Hz (50 for the PB840).
    validity : ValidityLimits, optional
        Gap, stuck-sensor and range limits of the instrument
        (:mod:`analysis.validity`); the defaults when None, unchecked when False.

    Raises
    ------
    FrameError
        ``file:line: expected …, found …`` for a malformed line (unless ``skip_bad``), a file
        that is not ASCII text, or a file without data rows.
    """
    path = Path(path)
    raw = path.read_bytes()
    parsed = _fast_rows(raw)
    if parsed is None:  # something unusual: the line-by-line reader names it or skips it
        parsed = _slow_rows(raw, path, skip_bad)
    flow, paw, breath, stamps, skipped = parsed
    if not len(flow):
        raise FrameError(f"{path}: no data rows ('flow, pressure') found")
    n = len(flow)
    meta = {
        "format": "ventmap", "source_path": str(path), "data_lines": n,
        "skipped_lines": skipped, "device": "Puritan Bennett 840 (ventMAP format)",
        "flow_condition_note": "PB840 flow is BTPS-compensated [unconfirmed]",
        "timestamps": stamps,
        "breaths": _distinct(breath[np.isfinite(breath)]),
    }
    trace = Trace(np.arange(n) / fs_hz, flow, paw, GasCondition.BTPS,
                  channels={"breath_number": breath}, meta=meta,
                  flags=np.where(np.isfinite(flow), 0, SampleFlag.INVALID).astype(np.uint8))
    return trace.validated(validity)


def _distinct(values: np.ndarray) -> int:
    """Number of distinct values (np.unique would import numpy.ma for floats: ~15 ms).

    Only the first value of each run of equal ones is sorted: a breath-number channel is
    a few thousand runs over hundreds of thousands of samples.
    """
    firsts = values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values
    ordered = np.sort(firsts)
    return int(ordered.size and 1 + np.count_nonzero(ordered[1:] != ordered[:-1]))


_Rows = tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, object]], int]


def _fast_rows(raw: bytes) -> _Rows | None:
    """Vectorised parse of a well-formed file; None when anything is unusual.

    Lines are found and classified with numpy on the bytes; only the marker lines
    (``BS``/``BE``/time stamps, two per breath) are visited in Python, and the data rows are
    parsed at once (:mod:`~ventbench.drivers.importers.decimal_text`, else ``np.loadtxt``).
    The result is the one :func:`_slow_rows` would give: every case it might treat
    differently (non-ASCII bytes, a lone ``\\r``, blank lines or lines starting with white
    space, 3-column rows, trailing commas, non-finite or unparsable numbers, a malformed
    ``B…`` line) returns None, and the slow reader decides.
    """
    if not raw.isascii():
        return None
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
        if b"\r" in raw:
            return None
    if not raw.endswith(b"\n"):
        raw += b"\n"
    buf = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1))
    if np.any(ends == starts):  # a blank line
        return None
    first = buf[starts]
    if np.any((first == ord(" ")) | (first == ord("\t"))):
        return None
    fourth = buf[np.minimum(starts + 4, buf.size - 1)]
    candidate = (first == ord("B")) | (
        (first >= ord("0")) & (first <= ord("9")) & (fourth == ord("-")) & (ends - starts >= 19))
    marker_lines: list[int] = []
    after: list[float] = []  # breath number in force after each marker
    stamp_at: list[tuple[int, str]] = []
    current = math.nan
    for index in np.flatnonzero(candidate).tolist():
        line = raw[starts[index]:ends[index]].decode("ascii").strip()
        if line == "BE":
            current = math.nan
        elif line.startswith("B"):
            bs = _BS.match(line)
            if bs is None:
                return None
            current = float(bs.group(1))
        elif _STAMP.match(line):
            stamp_at.append((index - len(marker_lines), line))
        else:  # a data row such as "1.00,-5.0"
            continue
        marker_lines.append(index)
        after.append(current)
    view = memoryview(raw)
    keep_from = [0, *(ends[marker_lines] + 1).tolist()]
    keep_to = [*starts[marker_lines].tolist(), len(raw)]
    body = b"".join([view[a:b] for a, b in zip(keep_from, keep_to, strict=True)])
    data = parse_decimal_rows(body, 2)
    if data is None:  # numbers with exponents, tabs, …: numpy's general parser
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
                data = np.loadtxt(body.decode("ascii").splitlines(), delimiter=",", comments=None,
                                  ndmin=2, dtype=np.float64)
        except ValueError:
            return None
    total = starts.size - len(marker_lines)
    if data.size == 0:
        data = np.empty((0, 2))
    if data.shape != (total, 2) or not np.isfinite(data).all():
        return None
    # rows before each marker → the breath number in force on every row
    rows_before = np.asarray(marker_lines, dtype=np.int64) - np.arange(len(marker_lines))
    counts = np.diff(np.concatenate(([0], rows_before, [total])))
    breath = np.repeat(np.array([math.nan, *after]), counts)
    stamps: list[dict[str, object]] = [{"sample": r, "time": t} for r, t in stamp_at]
    return data[:, 0].copy(), data[:, 1].copy(), breath, stamps, 0


def _slow_rows(raw: bytes, path: Path, skip_bad: bool) -> _Rows:
    """Line-by-line parse: names the first malformed line, or skips (and counts) them."""
    flow: list[float] = []
    paw: list[float] = []
    breath: list[float] = []
    stamps: list[dict[str, object]] = []
    skipped = 0
    current: float = math.nan
    for number, line_bytes in enumerate(raw.splitlines(), start=1):
        try:
            line = line_bytes.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            problem = f"not ASCII text (byte {exc.start})"
        else:
            problem = None
            if not line:
                continue
            if _STAMP.match(line):
                stamps.append({"sample": len(flow), "time": line})
                continue
            if m := _BS.match(line):
                current = float(m.group(1))
                continue
            if line.startswith("BS"):
                problem = f"expected a breath start 'BS, S:<number>,', found {line!r}"
            elif line == "BE":
                current = math.nan
                continue
            else:
                parts = [p.strip() for p in line.split(",")]
                if parts and parts[-1] == "":
                    parts = parts[:-1]
                if len(parts) == 3 and _STAMP.match(parts[0]):
                    stamps.append({"sample": len(flow), "time": parts[0]})
                    parts = parts[1:]
                values = _two_numbers(parts)
                if values is not None:
                    flow.append(values[0])
                    paw.append(values[1])
                    breath.append(current)
                    continue
                problem = (f"expected a row 'flow, pressure' (two numbers), 'BS, S:n,', 'BE' or "
                           f"a time stamp, found {line!r}")
        if not skip_bad:
            raise FrameError(f"{path}:{number}: {problem}")
        skipped += 1
    return (np.array(flow, dtype=np.float64), np.array(paw, dtype=np.float64),
            np.array(breath, dtype=np.float64), stamps, skipped)


def _two_numbers(parts: list[str]) -> tuple[float, float] | None:
    if len(parts) != 2:
        return None
    try:
        a, b = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a, b
