"""Trace CSV format: the one definition of the header, shared by the reader and the writers.

Holds the magic line and version, the required and ``flags`` columns, the unit suffixes a
column may end in, and the text of what a writer emits: the ``#`` preamble, the column
header and data rows (shortest round-trip ``repr`` of each float64). The layout itself is
described in :mod:`drivers.importers.trace_csv`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.validity import EXCUSED
from ventbench.errors import ConfigError

MAGIC_KEY = "ventbench-trace"
VERSION = "1"
REQUIRED_COLUMNS = ("t_s", "flow_lpm", "paw_cmh2o")
FLAGS_COLUMN = "flags"
#: Unit suffixes a column name may end in (``<quantity>_<unit>``).
UNIT_SUFFIXES = frozenset(
    "s ms us hz lpm slpm lps ml l ml_s cmh2o hpa mbar kpa pa mmhg pct degc k bpm v mv "
    "ppm ratio count mlmin ml_per_hpa bar".split()
)
#: Metadata keys the reader fills in itself; the writer never writes them back.
READER_META_KEYS = frozenset({"format", "source_path", "data_lines", "skipped_lines"})
_AMBIENT_KEYS = ("t_amb_degc", "p_amb_hpa", "rh_pct")
_META_LINE = re.compile(r"^#\s*([A-Za-z0-9_.\-]+)\s*:\s*(.*?)\s*$")
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_EXCUSED = int(EXCUSED)


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


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _meta_text(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return _one_line(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return _one_line(value)
