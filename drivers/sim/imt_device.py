"""Simulated IMT FlowAnalyser (device side of drivers/imt.py), for ``sim://imt``.

Answers ``%RM``/``%RS``/``%WS``/``%CM``/``%RI`` requests, ``?`` to anything else, and streams
9-byte fast packets every 5 ms between ``%CM#64`` and ``%CM#65``. Values come from the
truth source (:mod:`drivers.sim.instrument_source`). Query parameters: ``seed``, ``ber``,
``drop``, ``garbage`` (fault injection on fast packets), ``gas`` (setting 3, default 2 =
BTPS), ``serial``, ``byteorder``, ``signed``, and the source's settings.
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np

from ventbench.drivers.base import SimulatedDevice
from ventbench.drivers.imt_codec import (
    FAST_TICK_S,
    INFO_IDS,
    MEASUREMENTS,
    UNDEFINED,
    FastFormat,
    encode_fast_packet,
)
from ventbench.drivers.sim.instrument_source import FaultInjector, make_source, source_chunk
from ventbench.drivers.sim.params import ImtDeviceOptions
from ventbench.units import HPA_PER_CMH2O

#: Analyser gas standard (setting 3) → the condition the simulated flow is stated at.
_CONDITIONS = {1: "STP21", 2: "BTPS", 4: "STPD", 11: "ATPD", 12: "ATPS", 0: "ATPD"}
_REQUEST = re.compile(rb"%(RM|RS|WS|CM|RI)#(\d+)(?:\$(-?\d+))?")


class ImtDevice(SimulatedDevice):
    """Device side of the IMT RS-232 protocol with a fast stream from the truth source."""

    Options = ImtDeviceOptions  #: its own parameters (typed); the simulator's keys too
    simulates = True

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__(params)
        self.fmt = FastFormat(params.get("byteorder", "big"),
                              params.get("signed", "1") not in ("0", "false", "no"))
        self.settings: dict[int, int] = {1: 0, 3: int(params.get("gas", 2)), 64: 0, 65: 4, 66: 9}
        self.info_values = {INFO_IDS["serial"]: int(params.get("serial", 1234567)),
                            INFO_IDS["cal_day"]: 15, INFO_IDS["cal_month"]: 3,
                            INFO_IDS["cal_year"]: 2026, INFO_IDS["hardware"]: 6,
                            INFO_IDS["sw_major"]: 4, INFO_IDS["sw_minor"]: 8,
                            INFO_IDS["sw_release"]: 1}
        self.faults = FaultInjector(params)
        self.source = make_source(params, 1.0 / FAST_TICK_S,
                                  _CONDITIONS.get(self.settings[3], "BTPS"))
        self.streaming = False
        self.sent_packets: deque[bytes] = deque(maxlen=200_000)  #: before fault injection
        self._rx = bytearray()
        self._tx = bytearray()
        self._t_s = 0.0
        self._tick = 0
        self._latest = {"flow_lpm": 0.0, "paw_cmh2o": 0.0}

    # ------------------------------------------------------------------ host → device
    def receive(self, data: bytes) -> None:
        self._rx += data
        while (end := self._rx.find(b"\r")) >= 0:
            line = bytes(self._rx[:end])
            del self._rx[: end + 1]
            self._tx += self._answer(line)

    def _answer(self, line: bytes) -> bytes:
        m = _REQUEST.fullmatch(line.strip())
        if m is None:
            return b"?"
        kind, ident = m.group(1).decode(), int(m.group(2))
        value = None if m.group(3) is None else int(m.group(3))
        if kind == "RM":
            if ident not in MEASUREMENTS:
                return b"?"
            result = self._measure(ident)
        elif kind == "RS":
            if ident not in self.settings:
                return b"?"
            result = self.settings[ident]
        elif kind == "WS":
            if value is None or ident not in self.settings:
                return b"?"
            self.settings[ident] = value
            result = value
            if ident == 3:  # the analyser now states its flow at another condition
                self.source = make_source(self.params, 1.0 / FAST_TICK_S,
                                          _CONDITIONS.get(value, "BTPS"))
        elif kind == "RI":
            if ident not in self.info_values:
                return b"?"
            result = self.info_values[ident]
        else:
            if ident == 64:
                self.streaming = True
            elif ident == 65:
                self.streaming = False
            result = 0
        suffix = "" if result is None else f"${result}"
        return f"%{kind}#{ident}{suffix}\r".encode("ascii")

    def _measure(self, ident: int) -> int:
        flow, paw = self._latest["flow_lpm"], self._latest["paw_cmh2o"]
        physical = {
            0: flow, 1: flow, 3: paw * HPA_PER_CMH2O,
            4: paw * HPA_PER_CMH2O, 2: paw * HPA_PER_CMH2O, 9: 21.0, 10: 0.0, 11: 23.0,
            14: 1013.0,
        }
        if ident not in physical:
            return UNDEFINED
        return int(round(physical[ident] / MEASUREMENTS[ident].scale))

    # ------------------------------------------------------------------ device → host
    def produce(self, until_s: float) -> bytes:
        n = int(np.floor((until_s - self._t_s) / FAST_TICK_S + 1e-9))
        if n > 0:
            self._t_s += n * FAST_TICK_S
            chunk = source_chunk(self.source, n)
            self._latest = {"flow_lpm": float(chunk.flow_lpm[-1]),
                            "paw_cmh2o": float(chunk.paw_cmh2o[-1])}
            if self.streaming:
                physical = {0: chunk.flow_lpm, 1: chunk.flow_lpm,
                            2: chunk.paw_cmh2o * HPA_PER_CMH2O,
                            3: chunk.paw_cmh2o * HPA_PER_CMH2O,
                            4: chunk.paw_cmh2o * HPA_PER_CMH2O}
                fields = [self.settings[64], self.settings[65], self.settings[66]]
                cols = []
                for ident in fields:
                    values = physical.get(ident, np.full(n, 21.0 if ident == 9 else 0.0))
                    cols.append(np.round(values / MEASUREMENTS[ident].scale).astype(np.int64))
                for k in range(n):
                    self._tick = (self._tick + 1) & 0xFFFF
                    packet = encode_fast_packet(self._tick, (cols[0][k], cols[1][k], cols[2][k]),
                                                self.fmt)
                    self.sent_packets.append(packet)
                    self._tx += self.faults.frame(packet)
        out = bytes(self._tx)
        self._tx.clear()
        return out

    def idle(self) -> bool:
        return not self.streaming and not self._tx
