"""Generic ASCII line streams from home-built rigs (an Arduino printing ``t,flow,paw``).

Configuration says how to read a line: separator, column names (given, or from a header
line), units per column (converted with :mod:`ventbench.units`), extra scales, a time
column or a fixed sample rate, and the gas condition of the flow. A malformed line is
counted in ``rejected_frames`` and skipped — never raised — so a rig's debug prints cost
nothing but a count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import BytePort, Driver, SampleBlock
from ventbench.drivers.imt import port_name
from ventbench.drivers.options import Options, option
from ventbench.errors import ConfigError
from ventbench.units import flow_factor_to_lpm, pressure_factor_to_cmh2o

TIME_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
MAX_LINE = 4096


@dataclass
class LineFramer:
    """Complete lines (without the terminator) from bytes of any chunking; never raises.

    ``\\n`` ends a line and a trailing ``\\r`` is dropped; a line longer than ``max_len``
    is discarded (``rejected``) up to its end.
    """

    max_len: int = MAX_LINE
    rejected: int = 0
    discarded_bytes: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > self.max_len:
                    self.discarded_bytes += len(self._buf)
                    if not self._overflow:
                        self.rejected += 1
                    self._overflow = True
                    self._buf.clear()
                return out
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[: end + 1]
            if self._overflow:
                self.discarded_bytes += end + 1
                self._overflow = False
                continue
            out.append(line)


@dataclass(frozen=True)
class LinesOptions(Options):
    """Options of the delimited-lines driver (``--option K=V``).

    Attributes
    ----------
    separator : str or None, default ","
        Field separator; None (``separator=none``) splits on whitespace.
    header : bool, default False
        The first non-comment line names the columns.
    columns : tuple of str, optional
        Column names (``columns=t,flow,paw``); with ``header=1`` they come from the file.
        Default: ``t,flow,paw``, or ``flow,paw`` with ``fs_hz``.
    flow_column, paw_column : str, default "flow" / "paw"
        Which columns are flow and airway pressure (``paw_column=none``: none).
    time_column : str or None, default "auto"
        Column of time stamps; None: ``fs_hz`` gives time = index / fs_hz; "auto": "t"
        without ``fs_hz``, None with it.
    fs_hz : float, optional
        Sample rate, Hz, when the lines carry no time.
    units : dict, optional
        Unit per column (``units=flow:l/s,paw:mbar``): flow units (``l/min``, ``l/s``,
        ``ml/s`` …), pressure units (``cmh2o``, ``mbar``, ``hpa``, ``pa``, ``kpa``,
        ``mmhg``), time units (``s``, ``ms``, ``us``). Defaults: flow L/min, pressure
        cmH2O, time s.
    scales : dict, optional
        Extra factor per column applied to the raw number before unit conversion.
    flow_condition : str, default "BTPS"
        Gas condition of the flow the rig reports.
    comment : str, default "#"
        Lines starting with it are ignored (not counted as rejected).
    start_command, stop_command : str, optional
        Text written to the port by ``start``/``stop`` (``\\n`` appended).
    """

    separator: str | None = option(",", "field separator (none: whitespace)")
    header: bool = option(False, "first line names the columns")
    columns: tuple[str, ...] | None = option(None, "column names")
    flow_column: str = option("flow", "column of flow")
    paw_column: str | None = option("paw", "column of airway pressure (none: no pressure)")
    time_column: str | None = option("auto", "column of time (none: use fs_hz)")
    fs_hz: float | None = option(None, "sample rate when lines carry no time, Hz", lo=0, lo_open=True)
    units: dict[str, str] = option({}, "unit per column (flow:l/s,paw:mbar,t:ms)")
    scales: dict[str, float] = option({}, "extra factor per column (flow:1.02)")
    flow_condition: str = option("BTPS", "gas condition of the flow")
    comment: str = option("#", "comment line prefix")
    start_command: str | None = option(None, "text written by start")
    stop_command: str | None = option(None, "text written by stop")

    def __post_init__(self) -> None:
        GasCondition.parse(self.flow_condition)  # ConfigError naming an unknown condition
        if self.time_column is None and self.fs_hz is None:
            raise ConfigError("give time_column or a positive fs_hz")


class LinesDriver(Driver):
    """Delimited ASCII lines; its options are :class:`LinesOptions`."""

    name: ClassVar[str] = "lines"
    serial_defaults: ClassVar[dict[str, Any]] = {"baudrate": 115200, "timeout": 0.5}
    Options = LinesOptions

    def __init__(self, options: LinesOptions | None = None, /, **raw: Any) -> None:
        super().__init__(options, **raw)
        o = self.opts
        self.separator = o.separator
        self.header = o.header
        cols = o.columns
        if cols is None and not self.header:
            cols = ("t", "flow", "paw") if o.fs_hz is None else ("flow", "paw")
        self.flow_column = o.flow_column
        self.paw_column = o.paw_column
        self.time_column = ("t" if o.fs_hz is None else None) if o.time_column == "auto" else o.time_column
        self.fs_hz = o.fs_hz
        self.units = dict(o.units)
        self.scales = dict(o.scales)
        self.flow_condition = GasCondition.parse(o.flow_condition)
        self.comment = o.comment.encode("ascii")
        self.framer = LineFramer()
        self.columns: list[str] | None = None
        self._factors: np.ndarray | None = None
        self._index = 0
        self._last_t: float | None = None
        self._rejected = 0
        if cols is not None:
            self._set_columns([str(c) for c in cols])

    def _set_columns(self, cols: list[str]) -> None:
        for needed in (self.flow_column, self.paw_column, self.time_column):
            if needed is not None and needed not in cols:
                raise ConfigError(f"lines: column {needed!r} not among the columns {cols}")
        factors = []
        for c in cols:
            unit = self.units.get(c)
            try:
                if c == self.time_column:
                    f = TIME_TO_S[(unit or "s").lower()]
                elif c == self.flow_column:
                    f = flow_factor_to_lpm(unit or "l/min")
                elif c == self.paw_column:
                    f = pressure_factor_to_cmh2o(unit or "cmh2o")
                else:
                    f = 1.0
            except KeyError as exc:
                raise ConfigError(f"lines: column {c!r}: {exc.args[0]}") from None
            factors.append(f * self.scales.get(c, 1.0))
        self.columns = cols
        self._factors = np.array(factors)
        extra = [c for c in cols if c not in (self.flow_column, self.paw_column, self.time_column)]
        self._extra = extra
        self.info["columns"] = cols

    def handshake(self, port: BytePort) -> dict[str, Any]:
        self.info.update(port=port_name(port), flow_condition=self.flow_condition.value,
                         separator=self.separator, fs_hz=self.fs_hz, time_column=self.time_column)
        return self.info

    def start(self, port: BytePort) -> None:
        if self.opts.start_command:
            port.write(self.opts.start_command.encode("ascii") + b"\n")

    def stop(self, port: BytePort) -> None:
        try:
            if self.opts.stop_command:
                port.write(self.opts.stop_command.encode("ascii") + b"\n")
        except Exception:  # noqa: BLE001 - best effort
            pass

    def _split(self, line: bytes) -> list[str]:
        text = line.decode("ascii").strip()
        return text.split() if self.separator is None else [p.strip() for p in text.split(self.separator)]

    def feed(self, data: bytes) -> SampleBlock:
        rows: list[list[float]] = []
        for line in self.framer.feed(data):
            if not line.strip() or line.lstrip().startswith(self.comment):
                continue
            if self.columns is None:
                try:
                    self._set_columns(self._split(line))
                except (UnicodeDecodeError, ConfigError) as exc:
                    self._rejected += 1
                    self.counters.events.append({"event": "bad_header", "reason": str(exc)})
                continue
            try:
                values = np.array([float(p) for p in self._split(line)], dtype=np.float64)
            except (UnicodeDecodeError, ValueError):
                self._rejected += 1
                continue
            if values.size != len(self.columns) or not np.all(np.isfinite(values)):
                self._rejected += 1
                continue
            values = values * self._factors
            if self.time_column is not None:
                t = values[self.columns.index(self.time_column)]
                if self._last_t is not None and t <= self._last_t:
                    self._rejected += 1
                    continue
            else:
                t = self._index / self.fs_hz  # type: ignore[operator]
            self._last_t = t
            rows.append([t, float(self._index), *values])
            self._index += 1
        c = self.counters
        c.rejected_frames = self._rejected + self.framer.rejected
        c.discarded_bytes = self.framer.discarded_bytes
        c.samples += len(rows)
        return self._block(rows)

    def _block(self, rows: list[list[float]]) -> SampleBlock:
        extra = getattr(self, "_extra", [])
        if not rows or self.columns is None:
            return SampleBlock.empty(tuple(extra))
        arr = np.array(rows)
        col = {c: arr[:, 2 + k] for k, c in enumerate(self.columns)}
        n = arr.shape[0]
        flags = np.zeros(n, dtype=np.uint8)
        if self.paw_column:
            paw = col[self.paw_column]
        else:  # no airway pressure from this source: missing, never silently trusted
            paw = np.full(n, np.nan)
            flags[:] = np.uint8(SampleFlag.FAULT)
        return SampleBlock(arr[:, 0], col[self.flow_column], paw, flags,
                           {c: col[c] for c in extra}, arr[:, 1].astype(np.int64))
