"""Simulated CPAP / high-flow device on a VBR/1 rig with oxygen instruments, for ``sim://cpap``.

The rig of :mod:`drivers.sim.rig_device` (same commands, framing, faults), streaming five
channels from :class:`drivers.sim.cpap.CpapModel` instead of a ventilator: ``flow`` (mixed
flow, L/min, 0.001), ``paw`` (patient port, cmH2O, 0.001), ``o2`` (FiO2 %, 0.01 — the host
names it ``fio2_pct``), ``o2_flow`` (O2 drawn at the inlet, L/min, 0.001 → ``o2_flow_lpm``)
and ``supply`` (O2 supply pressure, bar, 0.0001 → ``supply_bar``). Query parameters: the
rig's (``seed``, ``rate_hz`` default 200, faults …) and the device's settings
(:class:`drivers.sim.cpap.CpapSettings`: ``flow_lpm``, ``fio2_pct``, ``cpap_cmh2o``,
``supply_bar``, the patient, and the seeded defect ``fio2_low_pct`` at flows ≥
``fio2_low_above_lpm``). The flow is reported at BTPS (the patient side), so no conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ventbench.drivers.options import option
from ventbench.drivers.sim.cpap import CpapModel, CpapSettings
from ventbench.drivers.sim.params import RigDeviceOptions
from ventbench.drivers.sim.rig_device import SimulatedRig

#: (DESCRIBE name, unit, scale, Trace channel) of the channels after flow and paw
EXTRA = (("o2", "%", 0.01, "fio2_pct"), ("o2_flow", "L/min", 0.001, "o2_flow_lpm"),
         ("supply", "bar", 0.0001, "supply_bar"))
#: every channel the device streams, by Trace name (what a protocol may ask for)
CHANNELS = ("flow_lpm", "paw_cmh2o") + tuple(e[3] for e in EXTRA)


@dataclass(frozen=True)
class CpapDeviceOptions(RigDeviceOptions):
    """Parameters of ``sim://cpap``: the rig's and the CPAP device's."""

    rate_hz: int = option(200, "default sample rate, Hz", lo=1, hi=5000)
    condition: str = option("BTPS", "gas condition the rig reports flow at")
    mode: str = option("steady", "point mode (only steady points make sense here)")
    flow_lpm: float = option(40.0, "generator flow, L/min", lo=0.0)
    fio2_pct: float = option(40.0, "set FiO2, %", lo=20.9, hi=100.0)
    cpap_cmh2o: float = option(10.0, "PEEP valve setting, cmH2O", lo=0.0)
    supply_bar: float = option(4.0, "O2 supply pressure, bar", lo=0.0)
    patient_peak_lpm: float = option(20.0, "patient's peak flow, L/min", lo=0.0)
    patient_rate_bpm: float = option(12.0, "patient's breathing rate, bpm", lo=0.0)
    tau_o2_s: float = option(4.0, "O2 cell time constant, s", lo=0.0, lo_open=True)
    fio2_low_pct: float = option(0.0, "defect: FiO2 low by, %", lo=0.0)
    fio2_low_above_lpm: float = option(80.0, "defect applies at flows ≥, L/min", lo=0.0)
    flow_error_rel: float = option(0.0, "defect: generator flow error, fraction", lo=-1.0, hi=1.0)


class _Chunk:
    __slots__ = ("flow_lpm", "paw_cmh2o", "flags", "extra")

    def __init__(self, ch: dict[str, np.ndarray]) -> None:
        self.flow_lpm, self.paw_cmh2o = ch["flow_lpm"], ch["paw_cmh2o"]
        self.flags = np.zeros(self.flow_lpm.size, np.uint8)
        self.extra = ch


class _CpapSim:
    """:class:`CpapModel` behind the rig's ``advance(n)`` interface."""

    def __init__(self, params: dict[str, str], rate_hz: float) -> None:
        self.fs_hz = rate_hz
        self.model = CpapModel(CpapSettings.from_params(params), rate_hz, int(float(params.get("seed", 0) or 0)))

    def advance(self, n: int) -> _Chunk:
        return _Chunk(self.model.advance(n)[1])


class SimulatedCpap(SimulatedRig):
    """``sim://cpap``: see the module docstring."""

    Options = CpapDeviceOptions
    simulates = False  #: takes its own settings, not the ventilator simulator's keys
    n_channels = 2 + len(EXTRA)
    channels = CHANNELS

    def __init__(self, params: dict[str, str]) -> None:
        params = dict(params)
        params.setdefault("rate_hz", "200")
        params.setdefault("condition", "BTPS")
        params.setdefault("rig_id", "SIM-CPAP-RIG-01")
        super().__init__(params)

    def _new_sim(self, rate_hz: float) -> Any:
        return _CpapSim(self._sim_params, rate_hz)

    def _extra_channels(self, chunk: Any, n: int) -> list[np.ndarray]:
        return [np.round(chunk.extra[key] / scale) for _, _, scale, key in EXTRA]

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["channels"] += [{"name": name, "unit": unit, "scale": scale, "sensor": "SIM-O2" if name == "o2"
                              else "SIM-TSI-4040 (O2 gas calibration)" if name == "o2_flow" else "SIM-PT-10bar",
                              "serial": f"SIM-{name.upper()}-{self.seed}"} for name, unit, scale, _ in EXTRA]
        info["sim"]["device"] = "cpap"
        return info
