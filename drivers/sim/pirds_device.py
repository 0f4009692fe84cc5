"""Simulated PIRDS source (a VentMon-like in-line tester), for ``sim://pirds``.

Streams from power-on, needs no command: meta events first (name, device id, clock), then
every ``period_ms`` a flow event F/A/0 and, ``offset_ms`` later, an airway pressure event
D/A/0; ambient pressure/temperature and FiO2 once a second; assertions (rate, tidal
volume, peak pressure, PEEP) once per breath. Query parameters: ``seed``, ``format``
(``json``, ``binary`` or ``mixed``), ``period_ms`` (default 10), ``offset_ms`` (default 5),
``ber``/``drop``/``garbage`` (fault injection per event), ``chatter`` (1: VentMon-style
human-readable lines between events), and the truth source's settings.

Where the assertions come from (``reports``):

- ``flow`` (default): VentMon-like, computed from the device's own samples (tidal volume
  = integral of positive flow at its STPD reference, rate from the breath length);
- ``truth``: the device under test's own monitoring — the exact per-breath truth of the
  simulated ventilator (:class:`drivers.sim.simulation.BreathTruth`: VTe in mL BTPS, PEEP,
  peak pressure, rate) with a configurable monitoring error: ``dut_vt_gain_pct`` and
  ``dut_vt_offset_ml`` (VTe reported ``(1 + g/100)·VTe + offset``), ``dut_peep_offset_cmh2o``,
  ``dut_pip_offset_cmh2o``, ``dut_pressure_gain_pct`` (both pressures) and
  ``dut_rate_error_pct``. Each breath's values are asserted at the device time the breath
  ends (the start of the next inspiration), as a ventilator updates its display. With the
  same settings and ``seed`` as ``sim://rig`` the breaths are the rig's breaths, so a
  session can compare a prototype's telemetry with the reference measurement.
"""

from __future__ import annotations

import numpy as np

from ventbench.drivers.base import SimulatedDevice
from ventbench.drivers.pirds_codec import Event, encode_binary, encode_json
from ventbench.drivers.sim.instrument_source import FaultInjector, make_source, source_chunk
from ventbench.drivers.sim.params import PirdsDeviceOptions
from ventbench.units import HPA_PER_CMH2O

#: Monitoring errors of the simulated device under test (``reports=truth``), default 0.
MONITOR_ERRORS = ("dut_vt_gain_pct", "dut_vt_offset_ml", "dut_pressure_gain_pct",
                  "dut_peep_offset_cmh2o", "dut_pip_offset_cmh2o", "dut_rate_error_pct")


class PirdsDevice(SimulatedDevice):
    """Device side of a PIRDS stream; ``sent`` keeps every event before fault injection."""

    Options = PirdsDeviceOptions  #: its own parameters (typed); the simulator's keys too
    simulates = True

    def __init__(self, params: dict[str, str]) -> None:
        super().__init__(params)
        self.format = params.get("format", "json")
        self.period_ms = int(params.get("period_ms", 10))
        self.offset_ms = int(params.get("offset_ms", 5))
        self.chatter = params.get("chatter", "0") == "1"
        self.faults = FaultInjector(params)
        self.rng = np.random.default_rng(int(float(params.get("seed", 0))))
        self.source = make_source(params, 1000.0 / self.period_ms, "STPD")
        self.sent: list[Event] = []
        self.reports = params.get("reports", "flow")
        if self.reports not in ("flow", "truth"):
            raise ValueError(f"reports = {self.reports!r}: expected 'flow' or 'truth'")
        self.monitor = {k: float(params.get(k, 0.0)) for k in MONITOR_ERRORS}
        self._pending: list = []  #: breath truths not yet asserted (reports=truth)
        self._n = 0  #: flow events sent
        self._started = False
        self._breath: list[tuple[float, float]] = []
        self._last_phase_insp = False

    def receive(self, data: bytes) -> None:
        """A PIRDS source ignores the host."""

    def _emit(self, ev: Event) -> bytes:
        self.sent.append(ev)
        fmt = self.format
        if fmt == "mixed":
            fmt = "json" if (len(self.sent) % 2) else "binary"
        data = encode_json(ev) if fmt == "json" else encode_binary(ev)
        return self.faults.frame(data)

    def produce(self, until_s: float) -> bytes:
        out = bytearray()
        if not self._started:
            self._started = True
            out += self._emit(Event("E", "N", text="ventbench-sim-ventmon"))
            out += self._emit(Event("E", "D", text="SIM-0001"))
            out += self._emit(Event("E", "C", ms=0, text="2026-01-01T00:00:00Z"))
        n = int(np.floor(until_s * 1000.0 / self.period_ms + 1e-9)) - self._n
        if n <= 0:
            return bytes(out)
        chunk = source_chunk(self.source, n)
        self._pending.extend(chunk.truths)  # breaths that end within this chunk
        for k in range(n):
            ms = (self._n + k) * self.period_ms
            flow, paw = float(chunk.flow_lpm[k]), float(chunk.paw_cmh2o[k])
            out += self._truth_assertions(ms)
            if ms % 1000 == 0:
                out += self._emit(Event("M", "P", "B", 0, ms, int(round(1013.0 / HPA_PER_CMH2O / 0.1))))
                out += self._emit(Event("M", "T", "B", 0, ms, 2250))
                out += self._emit(Event("M", "O", "A", 0, ms, 21))
                if self.chatter:
                    out += b"VentMon: sensors OK\n"
            out += self._emit(Event("M", "F", "A", 0, ms, int(round(flow * 1000.0))))
            out += self._emit(Event("M", "D", "A", 0, ms + self.offset_ms, int(round(paw * 10.0))))
            if self.reports == "flow":
                out += self._breath_assertions(ms, flow, paw)
        self._n += n
        return bytes(out)

    def _truth_assertions(self, ms: int) -> bytes:
        """Assert every pending breath that ended at or before ``ms`` (reports=truth)."""
        out = b""
        while self._pending and round(self._pending[0].t_end_s * 1000.0) <= ms:
            b = self._pending.pop(0)
            m = self.monitor
            vte = b.vte_ml * (1.0 + m["dut_vt_gain_pct"] / 100.0) + m["dut_vt_offset_ml"]
            gain = 1.0 + m["dut_pressure_gain_pct"] / 100.0
            pip = b.pip_cmh2o * gain + m["dut_pip_offset_cmh2o"]
            peep = b.peep_cmh2o * gain + m["dut_peep_offset_cmh2o"]
            rate = b.rr_bpm * (1.0 + m["dut_rate_error_pct"] / 100.0)
            t_ms = int(round(b.t_end_s * 1000.0))
            for typ, val in (("B", rate * 10), ("V", vte), ("X", pip * 10), ("E", peep * 10)):
                out += self._emit(Event("A", typ, "A", 0, t_ms, int(round(val))))
        return out

    def _breath_assertions(self, ms: int, flow: float, paw: float) -> bytes:
        # Inspiration starts when flow rises above 2 L/min after having been negative.
        insp = flow > 2.0 or (self._last_phase_insp and flow >= 0.0)
        out = b""
        long_enough = len(self._breath) * self.period_ms >= 1000
        if insp and not self._last_phase_insp and self._breath and long_enough:
            arr = np.array(self._breath)
            dt_min = self.period_ms / 60000.0
            vt_ml = float(np.sum(np.maximum(arr[:, 0], 0.0)) * dt_min * 1000.0)
            rate = 60000.0 / (len(arr) * self.period_ms)
            for typ, val in (("B", rate * 10), ("V", vt_ml), ("X", arr[:, 1].max() * 10),
                             ("E", arr[-1, 1] * 10)):
                out += self._emit(Event("A", typ, "A", 0, ms, int(round(val))))
            self._breath = []
        self._breath.append((flow, paw))
        self._last_phase_insp = insp
        return out

    def idle(self) -> bool:
        return False
