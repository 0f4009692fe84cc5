"""Driver for PIRDS v0.3 event streams (VentMon in-line tester: serial 500000 baud).

PIRDS measurements arrive as separate events, each with its own millisecond time stamp.
:class:`SampleAssembler` puts them on one time base: **every flow event is a sample**; the
latest airway pressure (and the other quantities) is held onto it (sample-and-hold,
causal: the last pressure event *received* before the flow event). A held pressure older
than ``stale_ms`` (or newer, i.e. from the future by more than that) flags the sample
STALE; no pressure yet leaves ``paw_cmh2o`` NaN with FAULT. Flow is PIRDS "slm" — litres
at 0 °C per minute — so the flow condition is STPD.

Assertions (``A`` events: the device's own rate, tidal volume, peak pressure, PEEP) and
meta events (``E``) go to ``counters.events`` and :attr:`PirdsDriver.assertions`, for
comparing the device's monitoring with our analysis.
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
from ventbench.drivers.pirds_codec import ASSERTIONS, TYPES, Event, PirdsFramer
from ventbench.units import HPA_PER_CMH2O

#: Held channels: name → (type, location or None for any).
CHANNELS: dict[str, tuple[str, str | None]] = {
    "fio2_pct": ("O", None),
    "t_gas_degc": ("T", "A"),
    "t_amb_degc": ("T", "B"),
    "p_amb_hpa": ("P", "B"),
    "rh_pct": ("H", None),
}


@dataclass
class SampleAssembler:
    """Flow events → samples with held pressure and channels (see the module docstring)."""

    flow_key: tuple[str, str, int] = ("F", "A", 0)
    paw_key: tuple[str, str, int] = ("D", "A", 0)
    stale_ms: int = 50
    gap_factor: float = 2.5
    period_ms: float | None = None
    _paw: tuple[int, float] | None = None
    _held: dict[str, float] = field(default_factory=dict)
    _last_ms: int | None = None
    _seq: int = 0
    _deltas: list[int] = field(default_factory=list)
    rejected: int = 0
    _offset_ms: int = 0
    _reset_pending: bool = False

    def restart(self) -> None:
        """The device clock restarted: keep time increasing by an offset, flag RESET."""
        if self._last_ms is not None:
            self._offset_ms = self._last_ms + 1
        self._last_ms = None
        self._paw = None
        self._reset_pending = True

    def add(self, ev: Event, rows: list[tuple], counters: Any) -> None:
        scale = TYPES[ev.type][0]
        key = (ev.type, ev.loc, ev.num)
        value = ev.val * scale
        if key == self.paw_key:
            self._paw = (ev.ms, value)
        for name, (typ, loc) in CHANNELS.items():
            if ev.type == typ and (loc is None or ev.loc == loc):
                self._held[name] = value * HPA_PER_CMH2O if name == "p_amb_hpa" else value
        if key != self.flow_key:
            return
        ms = ev.ms + self._offset_ms
        flags = 0
        if self._reset_pending:
            flags |= SampleFlag.RESET
            self._reset_pending = False
        if self._last_ms is not None:
            delta = ms - self._last_ms
            if delta <= 0:
                self.rejected += 1  # duplicate or backwards time stamp
                return
            period = self.period_ms or (float(np.median(self._deltas)) if self._deltas else None)
            if period and delta > self.gap_factor * period:
                missing = max(1, int(round(delta / period)) - 1)
                counters.gaps.append({"after_seq": self._seq - 1, "missing": missing})
                counters.lost_samples += missing
                flags |= SampleFlag.GAP
            else:
                self._deltas = (self._deltas + [delta])[-32:]
        if self._paw is None:
            paw = np.nan
            flags |= SampleFlag.FAULT
        else:
            paw = self._paw[1]
            if abs(ev.ms - self._paw[0]) > self.stale_ms:
                flags |= SampleFlag.STALE
        rows.append((ms, ev.val * scale, paw, flags, self._seq,
                     *(self._held.get(n, np.nan) for n in CHANNELS)))
        self._last_ms = ms
        self._seq += 1


def rows_to_block(rows: list[tuple]) -> SampleBlock:
    """Assembled rows → :class:`SampleBlock` (t_s from the device milliseconds)."""
    if not rows:
        return SampleBlock.empty(tuple(CHANNELS))
    arr = np.array(rows, dtype=np.float64)
    return SampleBlock(
        arr[:, 0] / 1000.0, arr[:, 1], arr[:, 2], arr[:, 3].astype(np.uint8),
        {name: arr[:, 5 + k] for k, name in enumerate(CHANNELS)}, arr[:, 4].astype(np.int64),
    )


@dataclass(frozen=True)
class PirdsOptions(Options):
    """Options of the PIRDS driver (``--option K=V``).

    Attributes
    ----------
    flow, paw : str, default "FA0" / "DA0"
        Type, location and sensor number of the flow and airway-pressure events.
    stale_ms : int, default 50
        Age above which a held pressure flags the sample STALE, ms.
    period_ms : float, optional
        Nominal flow-event period, ms; learnt from the stream (median) when omitted.
    """

    flow: str = option("FA0", "type, location and number of the flow events")
    paw: str = option("DA0", "type, location and number of the airway-pressure events")
    stale_ms: int = option(50, "age of a held pressure that flags STALE, ms", lo=1)
    period_ms: float | None = option(None, "nominal flow-event period, ms", lo=0, lo_open=True)

    def __post_init__(self) -> None:
        for name in ("flow", "paw"):
            _key(getattr(self, name))  # ConfigError naming a malformed event key


class PirdsDriver(Driver):
    """PIRDS event streams (VentMon and any PIRDS source on a serial port); its options are
    :class:`PirdsOptions`."""

    Options = PirdsOptions

    name: ClassVar[str] = "pirds"
    serial_defaults: ClassVar[dict[str, Any]] = {
        "baudrate": 500000, "bytesize": 8, "parity": "N", "stopbits": 1, "timeout": 0.5,
    }
    flow_condition = GasCondition.STPD

    def __init__(self, options: PirdsOptions | None = None, /, **raw: Any) -> None:
        super().__init__(options, **raw)
        self.framer = PirdsFramer()
        self.assembler = SampleAssembler(_key(self.opts.flow), _key(self.opts.paw),
                                         self.opts.stale_ms, period_ms=self.opts.period_ms)
        self.assertions: list[dict[str, Any]] = []

    def handshake(self, port: BytePort) -> dict[str, Any]:
        """PIRDS has no request/answer: nothing to ask. Names and clocks arrive as events."""
        self.info.update(port=port_name(port), flow_condition=self.flow_condition.value,
                         flow_event="".join(map(str, self.assembler.flow_key)),
                         paw_event="".join(map(str, self.assembler.paw_key)),
                         stale_ms=self.assembler.stale_ms)
        return self.info

    def start(self, port: BytePort) -> None:
        """VentMon streams from power-on; nothing to send."""

    def stop(self, port: BytePort) -> None:
        """Nothing to send."""

    def feed(self, data: bytes) -> SampleBlock:
        events = self.framer.feed(data)
        c = self.counters
        rows: list[tuple] = []
        for ev in events:
            if ev.event == "R":
                self.assembler.restart()
            elif ev.event == "M":
                self.assembler.add(ev, rows, c)
            elif ev.event == "A":
                scale, name = ASSERTIONS[ev.type]
                record = {"event": "assertion", "name": name, "value": ev.val * scale,
                          "ms": ev.ms, "loc": ev.loc, "num": ev.num}
                self.assertions.append(record)
                c.events.append(record)
            else:
                record = {"event": "meta", "kind": ev.type, "ms": ev.ms, "text": ev.text}
                if ev.type == "N":
                    self.info["device_name"] = ev.text
                elif ev.type == "D":
                    self.info["device_id"] = ev.text
                elif ev.type == "C":
                    self.info.setdefault("clock", []).append({"ms": ev.ms, "utc": ev.text})
                c.events.append(record)
        c.samples += len(rows)
        c.discarded_bytes = self.framer.discarded_bytes
        c.rejected_frames = self.framer.rejected_frames + self.assembler.rejected
        c.resets = self.framer.resets
        return rows_to_block(rows)


def _key(text: str) -> tuple[str, str, int]:
    text = str(text)
    return (text[0], text[1], int(text[2:] or 0))
