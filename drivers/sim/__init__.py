"""The deterministic physics simulator: ventilator + test lung + sensors, with exact truth.

>>> from drivers.sim import Lung, VentilatorSettings, simulate
>>> res = simulate(VentilatorSettings("vc", vt_ml=500, rate_bpm=20, ti_s=1.0, peep_cmh2o=5),
...                Lung(50, 5), n_breaths=3, fs_hz=200, seed=1)
>>> len(res.truth), round(res.truth[0].vti_ml, 6)
(3, 500.0)
"""

from ventbench.drivers.sim.lung import LinearPhase, Lung, flow_source_phase, pressure_source_phase
from ventbench.drivers.sim.points import settings_from_point, simulation_from_params
from ventbench.drivers.sim.sensors import SensorChain, SensorFault, SensorModel
from ventbench.drivers.sim.simulation import BreathTruth, SimChunk, SimResult, Simulation, simulate
from ventbench.drivers.sim.ventilator import (
    BreathPlan,
    BreathScheduler,
    Imperfections,
    VentilatorSettings,
)

__all__ = [
    "BreathPlan",
    "BreathScheduler",
    "BreathTruth",
    "Imperfections",
    "LinearPhase",
    "Lung",
    "SensorChain",
    "SensorFault",
    "SensorModel",
    "SimChunk",
    "SimResult",
    "Simulation",
    "VentilatorSettings",
    "flow_source_phase",
    "pressure_source_phase",
    "settings_from_point",
    "simulate",
    "simulation_from_params",
]
