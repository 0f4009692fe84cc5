"""Driver for TSI Series 4000/4100 mass flowmeters (RS-232, 38400 8N1).

A flowmeter, not an analyser: it gives flow, gas temperature and *absolute* pressure, no
airway pressure. ``paw_cmh2o`` is therefore NaN with :attr:`SampleFlag.FAULT` on every
sample ("no airway pressure from this source; combine with a second source"); absolute
pressure and temperature are the channels ``p_abs_kpa`` and ``t_gas_degc``.

Streaming is block-wise: each ``DmFTPnnnn`` request returns ``nnnn`` samples and
:meth:`TsiDriver.poll` requests the next block when one completes. The meter may send the
samples as they are measured or the whole block at its end (the manual allows 1000
samples a request: 10 s at 10 ms); both decode the same. Default blocks are short
(:data:`DEFAULT_BLOCK_S` of samples) so the first data arrives within a second, and
:meth:`TsiDriver.expected_silence_s` tells the recorder how long a block may keep the
line silent, so its no-data limit is never shorter than what was requested. Time base: sample index
× sample interval (the meter sends no time stamps; see docs/drivers/tsi.md for the dead
time between blocks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ventbench.analysis.gas import GasCondition
from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import BytePort, Driver, SampleBlock
from ventbench.drivers.imt import port_name
from ventbench.drivers.options import Options, option
from ventbench.drivers.tsi_codec import StreamRequest, TsiBlockFramer
from ventbench.errors import ConfigError, TransportError

GASES = {"air": 0, "o2": 1}
CHANNELS = ("p_abs_kpa", "t_gas_degc")
#: Default block length, s of samples (``block_samples`` = this / ``interval_ms``, ≥ 1).
DEFAULT_BLOCK_S = 0.5
#: Allowance, s, for the request round trip and the host's poll period.
ROUND_TRIP_S = 0.5


@dataclass(frozen=True)
class TsiOptions(Options):
    """Options of the TSI 4000/4100 driver (``--option K=V``).

    Attributes
    ----------
    interval_ms : int, default 10
        Sample interval ``SSRnnnn``, 1–1000 ms.
    gas : {"air", "o2"}, default "air"
        ``SGn``.
    units : {"S", "V"}, default "S"
        ``SUs``: S standard L/min (21.1 °C, 101.3 kPa) → STP21; V volumetric → ATPD at the
        meter's own gas temperature and pressure (see the docs).
    mode : {"B", "C", "A"}, default "B"
        Data format of the stream.
    fields : str, default "FTP"
        Quantities streamed (F must be among them).
    block_samples : int, default 0.5 s of samples (50 at 10 ms)
        Samples per ``D`` request, 1–9999. Longer blocks mean fewer requests (less dead
        time between blocks) but later first data and a longer no-data limit.
    block_timeout_s : float, optional
        How long a requested block may take, s (default: 1.5 × its duration + 1 s).
    """

    interval_ms: int = option(10, "sample interval, ms", lo=1, hi=1000)
    gas: str = option("air", "gas calibration (SGn): air or o2")
    units: str = option("S", "S standard or V volumetric flow")
    mode: str = option("B", "data format of the stream: B, C or A")
    fields: str = option("FTP", "quantities streamed (F required)")
    block_samples: int | None = option(None, "samples per D request (default 0.5 s of samples)", lo=1, hi=9999)
    block_timeout_s: float | None = option(None, "wait for one block, s", lo=0, lo_open=True)

    def __post_init__(self) -> None:
        # case-insensitive on the command line; the meter takes upper case
        for name in ("units", "mode", "fields"):
            object.__setattr__(self, name, getattr(self, name).upper())
        object.__setattr__(self, "gas", self.gas.lower())
        for name, allowed in (("gas", tuple(GASES)), ("units", ("S", "V")), ("mode", ("B", "C", "A"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} {getattr(self, name)!r}: expected one of {', '.join(allowed)}")
        if "F" not in self.fields:
            raise ConfigError(f"fields {self.fields!r}: fields must include F (flow)")


class TsiDriver(Driver):
    """TSI 4000/4100; its options are :class:`TsiOptions`."""

    Options = TsiOptions

    name: ClassVar[str] = "tsi"
    serial_defaults: ClassVar[dict[str, Any]] = {
        "baudrate": 38400, "bytesize": 8, "parity": "N", "stopbits": 1, "timeout": 0.5,
    }

    def __init__(self, options: TsiOptions | None = None, /, **raw: Any) -> None:
        super().__init__(options, **raw)
        self.interval_ms = self.opts.interval_ms
        self.gas = self.opts.gas
        self.units = self.opts.units
        self.flow_condition = GasCondition.STP21 if self.units == "S" else GasCondition.ATPD
        self.request = StreamRequest(self.opts.mode, self.opts.fields, self.opts.block_samples
                                     or max(1, round(DEFAULT_BLOCK_S * 1000 / self.interval_ms)))
        self.block_timeout_s = (self.block_s() * 1.5 + 1.0
                                if self.opts.block_timeout_s is None else self.opts.block_timeout_s)
        self.framer = TsiBlockFramer()
        self.streaming = False
        self._index = 0
        self._gap_pending = False
        self._requested = 0
        self._completed = 0
        self._requested_at = 0.0

    def block_s(self) -> float:
        """Longest time, s, from a request to the end of its answer: the block's samples
        at the interval plus the bytes at 38 400 baud (10 bits a byte) — a meter that sends
        whole blocks is silent that long."""
        values = self.request.n * len(self.request.fields)
        n_bytes = 3 + 2 * values if self.request.mode == "B" else 9 * values
        baud = float(self.serial_defaults["baudrate"])
        return self.request.n * self.interval_ms / 1000.0 + n_bytes * 10.0 / baud

    def expected_silence_s(self) -> float:
        """One block and a round trip, s (see :meth:`block_s`)."""
        return self.block_s() + ROUND_TRIP_S

    # ------------------------------------------------------------------ commands
    def send_command(self, port: BytePort, command: str) -> None:
        """Send a set command and require ``OK``; ``ERRn`` raises naming command and code."""
        port.write(command.encode("ascii") + b"\r")
        line = self._read_line(port, command)
        if line == "OK":
            return
        if line.startswith("ERR"):
            raise TransportError(
                f"tsi on {port_name(port)}: command {command!r} answered {line!r} "
                f"(error code {line[3:] or '?'}); see the meter manual's error table"
            )
        raise TransportError(
            f"tsi on {port_name(port)}: command {command!r}: expected 'OK' or 'ERRn', found {line!r}"
        )

    def _read_line(self, port: BytePort, what: str) -> str:
        received = bytearray()
        timeout = port.timeout if port.timeout is not None else 1.0
        deadline = time.monotonic() + timeout
        while not received.endswith(b"\n"):
            chunk = port.read(1)
            if chunk:
                received += chunk
                deadline = time.monotonic() + timeout
            elif time.monotonic() >= deadline:
                raise TransportError(
                    f"tsi on {port_name(port)}: no answer to {what!r} within {timeout} s "
                    f"(received {bytes(received)!r})"
                )
        return received.decode("ascii", "replace").strip()

    def read_sample(self, port: BytePort) -> dict[str, float]:
        """One sample of flow, temperature and pressure (``DCFTP0001``), physical units."""
        port.write(b"DCFTP0001\r")
        ack = self._read_line(port, "DCFTP0001")
        if ack != "OK":
            raise TransportError(
                f"tsi on {port_name(port)}: 'DCFTP0001' answered {ack!r}, expected 'OK'")
        line = self._read_line(port, "DCFTP0001 data")
        try:
            f, t, p = (float(x) for x in line.split(","))
        except ValueError:
            raise TransportError(
                f"tsi on {port_name(port)}: expected 'flow,temperature,pressure', found {line!r}"
            ) from None
        return {"flow_lpm": f, "t_gas_degc": t, "p_abs_kpa": p}

    def handshake(self, port: BytePort) -> dict[str, Any]:
        info = self.info
        info["port"] = port_name(port)
        self.send_command(port, f"SSR{self.interval_ms:04d}")
        self.send_command(port, f"SG{GASES[self.gas]}")
        self.send_command(port, f"SU{self.units}")
        info.update(interval_ms=self.interval_ms, gas=self.gas, units=self.units,
                    flow_condition=self.flow_condition.value,
                    reference="21.1 °C / 101.3 kPa (STP21 uses 1013.25 hPa: 0.025 % apart)"
                    if self.units == "S" else "volumetric at the meter's gas T and P")
        info["first_sample"] = self.read_sample(port)
        return info

    # ------------------------------------------------------------------ streaming
    def _request_block(self, port: BytePort) -> None:
        self.framer.expect(self.request)
        port.write(self.request.command())
        self._requested += 1
        self._requested_at = time.monotonic()

    def start(self, port: BytePort) -> None:
        self.streaming = True
        self._request_block(port)

    def stop(self, port: BytePort) -> None:
        self.streaming = False

    def poll(self, port: BytePort) -> None:
        """Request the next block when the last one completed (or timed out)."""
        if not self.streaming:
            return
        if self._completed >= self._requested:
            self._request_block(port)
        elif time.monotonic() - self._requested_at > self.block_timeout_s:
            self.framer.abort = True
            self.counters.events.append({"event": "block_timeout", "request": self._requested})
            self._requested_at = time.monotonic()

    def feed(self, data: bytes) -> SampleBlock:
        blocks = self.framer.feed(data)
        c = self.counters
        c.discarded_bytes = self.framer.discarded_bytes
        c.rejected_frames = self.framer.rejected_frames
        parts: list[SampleBlock] = []
        dt = self.interval_ms / 1000.0
        for block in blocks:
            self._completed += 1
            req, n = block.request, block.request.n
            if block.error is not None and block.error.startswith("ERR"):
                c.events.append({"event": "error", "request": req.command().decode().strip(),
                                 "code": block.error})
            seq = np.arange(self._index, self._index + n, dtype=np.int64)
            self._index += n
            keep = block.ok
            if not keep.any():
                c.lost_samples += n
                c.gaps.append({"after_seq": int(seq[0]) - 1, "missing": n})
                self._gap_pending = True
                continue
            flags = np.zeros(n, dtype=np.uint8)
            missing = np.flatnonzero(~keep)
            for i in missing:
                c.gaps.append({"after_seq": int(seq[i]) - 1, "missing": 1})
            c.lost_samples += int(missing.size)
            after = np.zeros(n, dtype=bool)
            after[missing[missing + 1 < n] + 1] = True
            if self._gap_pending:
                after[0] = True
                self._gap_pending = False
            if not keep[-1]:
                self._gap_pending = True
            flags[after] |= np.uint8(SampleFlag.GAP)
            col = {q: block.values[:, j] for j, q in enumerate(req.ordered)}
            nan = np.full(n, np.nan)
            block_samples = SampleBlock(
                seq * dt, col["F"], nan.copy(), flags | np.uint8(SampleFlag.FAULT),
                {"p_abs_kpa": col.get("P", nan.copy()), "t_gas_degc": col.get("T", nan.copy())},
                seq,
            )
            parts.append(_select(block_samples, keep))
            c.samples += int(keep.sum())
        return SampleBlock.concatenate(parts) if parts else SampleBlock.empty(CHANNELS)


def _select(block: SampleBlock, keep: np.ndarray) -> SampleBlock:
    return SampleBlock(block.t_s[keep], block.flow_lpm[keep], block.paw_cmh2o[keep],
                       block.flags[keep], {k: v[keep] for k, v in block.channels.items()},
                       None if block.seq is None else block.seq[keep])
