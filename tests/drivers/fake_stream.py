"""A tiny line protocol (device + driver) for transport and URL-handler tests.

Device: ``HELLO\\n`` → ``OK fake\\n``; ``START\\n`` → seq from 0, then one line
``S,<seq>,<t_ms>,<flow>,<paw>\\n`` per sample at ``rate_hz``; ``STOP\\n`` → ``OK\\n``.
``drop_every=N`` skips every N-th sample (a known loss). The driver decodes lines (any
chunking), counts gaps and junk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ventbench.drivers.base import BytePort, Driver, SampleBlock, SimulatedDevice
from ventbench.drivers.options import Options, option
from ventbench.errors import TransportError


@dataclass(frozen=True)
class FakeDeviceOptions(Options):
    rate_hz: float = option(1000.0, "sample rate, Hz", lo=0, lo_open=True)
    drop_every: int = option(0, "drop every N-th sample (0: none)", lo=0)
    seed: int = option(0, "random seed")


class FakeDevice(SimulatedDevice):
    Options = FakeDeviceOptions
    def __init__(self, params: dict[str, str]) -> None:
        super().__init__(params)
        self.rate_hz = float(params.get("rate_hz", "1000"))
        self.drop_every = int(params.get("drop_every", "0"))
        self.streaming = False
        self.seq = 0
        self.t_s = 0.0
        self.sent = 0
        self.dropped = 0
        self._out = bytearray()
        self._line = bytearray()

    def receive(self, data: bytes) -> None:
        self._line += data
        while b"\n" in self._line:
            line, _, rest = bytes(self._line).partition(b"\n")
            self._line = bytearray(rest)
            cmd = line.strip()
            if cmd == b"HELLO":
                self._out += b"OK fake\n"
            elif cmd == b"START":
                self.streaming, self.seq = True, 0
                self._next_s = self.t_s
                self._out += b"OK\n"
            elif cmd == b"STOP":
                self.streaming = False
                self._out += b"OK\n"

    def produce(self, until_s: float) -> bytes:
        if self.streaming:
            period = 1.0 / self.rate_hz
            while self._next_s <= until_s:
                if self.drop_every and self.seq % self.drop_every == self.drop_every - 1:
                    self.dropped += 1
                else:
                    self._out += (f"S,{self.seq},{self._next_s * 1000:.3f},"
                                  f"{self.seq % 100},{self.seq % 7}\n").encode()
                    self.sent += 1
                self.seq += 1
                self._next_s += period
        self.t_s = max(self.t_s, until_s)
        out, self._out = bytes(self._out), bytearray()
        return out

    def idle(self) -> bool:
        return not self.streaming and not self._out


class FakeDriver(Driver):
    name: ClassVar[str] = "fake"
    serial_defaults: ClassVar[dict[str, Any]] = {"baudrate": 115200, "timeout": 0.05}

    def __init__(self, options: Any = None, /, **raw: Any) -> None:
        super().__init__(options, **raw)
        self._buf = bytearray()
        self._last_seq: int | None = None

    def _read_line(self, port: BytePort, timeout_s: float = 2.0) -> bytes:
        import time

        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf and time.monotonic() < deadline:
            self._buf += port.read(64)
        line, sep, rest = bytes(self._buf).partition(b"\n")
        if not sep:
            raise TransportError(f"no fake device on {getattr(port, 'port', port)}: "
                                 f"received {bytes(self._buf)[:40]!r}")
        self._buf = bytearray(rest)
        return line

    def handshake(self, port: BytePort) -> dict[str, Any]:
        port.reset_input_buffer()
        self._buf.clear()
        port.write(b"HELLO\n")
        line = self._read_line(port)
        if not line.startswith(b"OK"):
            raise TransportError(f"expected OK, found {line!r}")
        self.info["device"] = line.decode()
        return self.info

    def start(self, port: BytePort) -> None:
        port.write(b"START\n")
        self._last_seq = None

    def stop(self, port: BytePort) -> None:
        try:
            port.write(b"STOP\n")
        except Exception:  # noqa: BLE001
            pass

    def feed(self, data: bytes) -> SampleBlock:
        self._buf += data
        *lines, rest = bytes(self._buf).split(b"\n")
        self._buf = bytearray(rest)
        rows = []
        for line in lines:
            parts = line.split(b",")
            if len(parts) == 5 and parts[0] == b"S":
                try:
                    seq, t_ms, flow, paw = int(parts[1]), *map(float, parts[2:])
                except ValueError:
                    self.counters.discarded_bytes += len(line) + 1
                    continue
                if self._last_seq is not None and seq > self._last_seq + 1:
                    missing = seq - self._last_seq - 1
                    self.counters.gaps.append({"after_seq": self._last_seq, "missing": missing})
                    self.counters.lost_samples += missing
                elif self._last_seq is not None and seq <= self._last_seq:
                    self.counters.resets += 1
                self._last_seq = seq
                rows.append((t_ms / 1000.0, flow, paw, seq))
            elif line and not line.startswith(b"OK"):
                self.counters.discarded_bytes += len(line) + 1
        if not rows:
            return SampleBlock.empty()
        arr = np.array(rows, dtype=np.float64)
        self.counters.samples += len(rows)
        return SampleBlock(arr[:, 0], arr[:, 1], arr[:, 2], np.zeros(len(rows), np.uint8),
                           {}, arr[:, 3].astype(np.int64))
