"""Files → :class:`~analysis.trace.Trace`: one importer module per file format.

:func:`read_trace` picks the importer from ``format`` or, when it is ``None``, from the
file's first bytes (then its extension). Importers are imported lazily, so a format whose
module is missing or broken does not stop the others.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ventbench.errors import ConfigError

if TYPE_CHECKING:  # annotations only: importing the registry of formats loads no numpy
    from ventbench.analysis.trace import Trace

#: format name → (module, reader function). Each reader takes the path first.
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("ventbench.drivers.importers.trace_csv", "read_trace_csv"),
    "labchart": ("ventbench.drivers.importers.labchart", "read_labchart"),
    "ventmap": ("ventbench.drivers.importers.ventmap", "read_ventmap"),
    "pirds": ("ventbench.drivers.importers.pirds_file", "read_pirds"),
    "vbcap": ("ventbench.drivers.importers.vbcap", "read_vbcap"),
}
#: How many bytes :func:`sniff_format` looks at.
SNIFF_BYTES = 4096
#: Peak resident memory of ``analyze`` per byte of input, and its fixed part (Python, numpy,
#: matplotlib), from Trace CSV files of 21 and 66 MB (399 and 912 MB peak RSS, a margin added; see
#: ``benchmarks/huge_file.py``). Every importer reads a whole file at once; ``analyze`` streams a
#: Trace CSV that does not fit (``drivers.importers.trace_csv_chunks``) and refuses the others.
RSS_PER_FILE_BYTE = 12.0
RSS_BASE_MB = 200.0
#: Environment variable: the most memory, MB, an import may be expected to take.
MEMORY_ENV = "VENTBENCH_MAX_MEMORY_MB"


def memory_budget_mb() -> float:
    """``$VENTBENCH_MAX_MEMORY_MB``, else half the machine's physical memory (MB)."""
    text = os.environ.get(MEMORY_ENV)
    if text:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise ConfigError(f"{MEMORY_ENV}={text!r}: expected a positive number of MB")
        return value
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        total = 8192.0
    return total / 2


def check_memory(path: str | os.PathLike, budget_mb: float | None = None) -> float:
    """Refuse a file too big to import in memory, before reading it.

    Returns the estimated peak memory, MB; raises ConfigError naming the file, its size,
    the estimate and the budget when the estimate exceeds ``budget_mb`` (default
    :func:`memory_budget_mb`).
    """
    size = Path(path).stat().st_size
    estimate = RSS_BASE_MB + RSS_PER_FILE_BYTE * size / 2**20
    budget = memory_budget_mb() if budget_mb is None else budget_mb
    if estimate > budget:
        raise ConfigError(
            f"{path}: {size / 2**30:.2f} GiB would take about {estimate / 1024:.1f} GiB of memory "
            f"to read whole, more than the {budget / 1024:.1f} GiB allowed; this format is read "
            f"whole: convert it to a Trace CSV (which is streamed) or analyse it in parts, "
            f"or raise {MEMORY_ENV}")
    return estimate


def sniff_format(path: str | os.PathLike) -> str | None:
    """Guess a file's format from its first bytes, then its extension; None if unsure.

    Binary PIRDS records are not sniffed: pass ``format="pirds"``.

    Raises
    ------
    OSError
        The file is missing or unreadable.
    """
    path = Path(path)
    with path.open("rb") as handle:
        raw = handle.read(SNIFF_BYTES)
    if raw.startswith(b"\x89VBCAP"):  # drivers.capture.MAGIC
        return "vbcap"
    if raw.startswith(b"\x28\xb5\x2f\xfd") and path.name.endswith(".vbcap.zst"):  # zstd frame
        return "vbcap"
    head = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    if head.lstrip().startswith("# ventbench-trace"):
        return "csv"
    if any(marker in head for marker in ("Interval=", "ChannelTitle=", "ExcelDateTime=")):
        return "labchart"
    if head.lstrip().startswith("{") and '"event"' in head:  # PIRDS JSON lines
        return "pirds"
    if re.search(r"^\s*BS\s*,\s*S:\d+", head, re.MULTILINE):
        return "ventmap"
    if path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() == ".vbcap":
        return "vbcap"
    return None


def reader_for(format: str) -> Callable[..., Trace]:
    """The reader function of a format name; ConfigError for an unknown or missing one."""
    key = format.strip().lower()
    if key not in FORMATS:
        raise ConfigError(f"unknown trace format {format!r}: expected one of {', '.join(FORMATS)}")
    module_name, function_name = FORMATS[key]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"trace format {key!r} is not available ({error})") from None
    return getattr(module, function_name)


def read_trace(path: str | os.PathLike, format: str | None = None, **opts: Any) -> Trace:
    """Read a recorded trace in any supported format.

    Parameters
    ----------
    path : str or path-like
        The file.
    format : str, optional
        A key of :data:`FORMATS` ("csv", "labchart", "ventmap", "pirds", "vbcap"); sniffed from the file when None.
    **opts
        Passed to the format's reader (e.g. ``skip_bad`` for csv; units and the flow
        condition for labchart). An option the reader does not take is a ConfigError, so
        a unit given for a file that names its own units is never silently ignored.

    Returns
    -------
    Trace

    Raises
    ------
    ConfigError
        Unknown format, undetectable format, or an option the format does not take.
    FrameError
        Malformed file (message names file and line).
    OSError
        Missing or unreadable file.
    """
    if format is None:
        format = sniff_format(path)
        if format is None:
            raise ConfigError(
                f"{path}: cannot tell the file format from its first lines; "
                f"pass --format ({', '.join(FORMATS)})"
            )
    reader = reader_for(format)
    parameters = inspect.signature(reader).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [key for key in opts if key not in parameters and not takes_any]
    if unknown:
        names = ", ".join("--" + key.replace("_", "-") for key in unknown)
        raise ConfigError(f"{path}: option(s) {names} do not apply to the {format} format")
    return reader(path, **opts)
