"""Simulated TSI 4000/4100 flowmeter (device side of drivers/tsi.py), for ``sim://tsi``.

Accepts ``SSRnnnn``, ``SGn``, ``SUs`` (``OK``) and ``DmFTPnnnn`` (``OK``/0x00, then the
block over device time at the sample interval); anything else is answered ``ERR1``
(the error code numbers of the real meter are not reproduced). Flow comes from the truth
source in standard L/min; temperature and absolute pressure are constants with a little
noise. Query parameters: ``seed``, ``ber``, ``drop``, ``garbage`` (fault injection per
block), ``t_gas_degc``, ``p_abs_kpa``.
"""

from __future__ import annotations

import re

import numpy as np

from ventbench.drivers.base import SimulatedDevice
from ventbench.drivers.sim.instrument_source import FaultInjector, make_source, source_chunk
from ventbench.drivers.sim.params import TsiDeviceOptions
from ventbench.drivers.tsi_codec import StreamRequest, encode_binary_block

_D = re.compile(r"D([ABC])([Fx])([Tx])([Px])(\d{4})")


def _fmt(value: float) -> str:
    return f"{value:.2f}"


class TsiDevice(SimulatedDevice):
    """Device side of the TSI serial protocol."""

    Options = TsiDeviceOptions  #: its own parameters (typed); the simulator's keys too
    simulates = True

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__(params)
        self.interval_ms = 10
        self.gas = 0
        self.units = "S"
        self.t_gas_degc = float(params.get("t_gas_degc", 23.5))
        self.p_abs_kpa = float(params.get("p_abs_kpa", 101.3))
        self.faults = FaultInjector(params)
        self.rng = np.random.default_rng(int(float(params.get("seed", 0))))
        self.sent_rows: list[np.ndarray] = []  #: every block's rows before faults (tests)
        self._source_fs = 1000.0 / self.interval_ms
        self.source = make_source(params, self._source_fs, self._condition())
        self._rx = bytearray()
        self._tx = bytearray()
        self._t_s = 0.0
        self._block: StreamRequest | None = None
        self._rows: list[np.ndarray] = []
        self._next_sample_s = 0.0

    def _condition(self) -> str:
        # Standard L/min are STP21 (21.1 °C; the meter's 101.3 kPa vs 1013.25 hPa: 0.025 %).
        return "STP21" if self.units == "S" else "ATPD"

    def receive(self, data: bytes) -> None:
        self._rx += data
        while (end := self._rx.find(b"\r")) >= 0:
            cmd = bytes(self._rx[:end]).decode("ascii", "replace").strip()
            del self._rx[: end + 1]
            self._command(cmd)

    def _command(self, cmd: str) -> None:
        if m := re.fullmatch(r"SSR(\d{4})", cmd):
            value = int(m.group(1))
            if not 1 <= value <= 1000:
                self._tx += b"ERR2\r\n"
                return
            self.interval_ms = value
            self._source_fs = 1000.0 / value
            self.source = make_source(self.params, self._source_fs, self._condition())
        elif m := re.fullmatch(r"SG([01])", cmd):
            self.gas = int(m.group(1))
        elif m := re.fullmatch(r"SU([SV])", cmd):
            self.units = m.group(1)
            self.source = make_source(self.params, self._source_fs, self._condition())
        elif m := _D.fullmatch(cmd):
            fields = "".join(c for c in m.group(2, 3, 4) if c != "x")
            n = int(m.group(5))
            if not fields or n == 0:
                self._tx += b"ERR3\r\n"
                return
            self._block = StreamRequest(m.group(1), fields, n)
            self._rows = []
            self._next_sample_s = self._t_s
            self._tx += b"\x00" if m.group(1) == "B" else b"OK\r\n"
            return
        else:
            self._tx += b"ERR1\r\n"
            return
        self._tx += b"OK\r\n"

    def produce(self, until_s: float) -> bytes:
        dt = self.interval_ms / 1000.0
        if self._block is not None:
            req = self._block
            want = req.n - sum(len(r) for r in self._rows)
            due = int(np.floor((until_s - self._next_sample_s) / dt + 1e-9)) + 1
            k = max(0, min(want, due))
            if k:
                chunk = source_chunk(self.source, k)
                cols = {"F": np.maximum(chunk.flow_lpm, 0.0),  # unidirectional meter
                        "T": self.t_gas_degc + 0.05 * self.rng.standard_normal(k),
                        "P": self.p_abs_kpa + chunk.paw_cmh2o * 0.0980665}
                rows = np.round(np.column_stack([cols[q] for q in req.ordered]), 2)
                self._rows.append(rows)
                self._next_sample_s += k * dt
                if req.mode == "C":
                    for row in rows:
                        self._tx += self.faults.frame((",".join(map(_fmt, row)) + "\r\n").encode())
            if sum(len(r) for r in self._rows) >= req.n:
                rows = np.concatenate(self._rows)
                self.sent_rows.append(rows)
                if req.mode == "B":
                    self._tx += self.faults.frame(encode_binary_block(rows, req.fields)[1:])
                elif req.mode == "A":
                    line = ",".join(_fmt(v) for v in rows.ravel()) + "\r\n"
                    self._tx += self.faults.frame(line.encode())
                self._block = None
        self._t_s = max(self._t_s, until_s)
        out = bytes(self._tx)
        self._tx.clear()
        return out

    def idle(self) -> bool:
        return self._block is None and not self._tx
