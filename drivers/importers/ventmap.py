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
from pathlib import Path

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag, Trace
from ventbench.analysis.validity import ValidityLimits
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
    if not flow:
        raise FrameError(f"{path}: no data rows ('flow, pressure') found")
    n = len(flow)
    meta = {
        "format": "ventmap", "source_path": str(path), "data_lines": n,
        "skipped_lines": skipped, "device": "Puritan Bennett 840 (ventMAP format)",
        "flow_condition_note": "PB840 flow is BTPS-compensated [unconfirmed]",
        "timestamps": stamps,
        "breaths": int(len({b for b in breath if not math.isnan(b)})),
    }
    trace = Trace(np.arange(n) / fs_hz, np.array(flow), np.array(paw), GasCondition.BTPS,
                  channels={"breath_number": np.array(breath)}, meta=meta,
                  flags=np.where(np.isfinite(flow), 0, SampleFlag.INVALID).astype(np.uint8))
    return trace.validated(validity)


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
