"""The parameters each simulated device takes: a ``sim://DEVICE?K=V`` query or ``ventbench
simulate --set/--fault K=V``.

A device's own parameters are a frozen dataclass (its ``Options``, typed and documented,
parsed by :meth:`drivers.options.Options.from_dict`); devices that run the physics simulator
also take its keys (:func:`simulation_keys`: the set and lung keys of a protocol point and
every field of :class:`~drivers.sim.ventilator.Imperfections` and
:class:`~drivers.sim.sensors.SensorModel`). :func:`check_params` refuses any other key with
the list of known ones, and a bad value of a device parameter naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from ventbench.drivers.options import Options, option
from ventbench.errors import ConfigError

#: Keys of the fault injector of the instrument devices (drivers/sim/instrument_source.py).
_PROBABILITY = {"lo": 0.0, "hi": 1.0}


@cache
def simulation_keys() -> frozenset[str]:
    """Keys :func:`drivers.sim.points.simulation_from_params` reads."""
    from ventbench.drivers.sim import points
    from ventbench.drivers.sim.sensors import SensorModel
    from ventbench.drivers.sim.ventilator import Imperfections

    return frozenset((*points._SET_KEYS, *points._LUNG_KEYS, "mode", "seed", "condition",
                      "oversample", *(f.name for f in fields(Imperfections)),
                      *(f.name for f in fields(SensorModel)
                        if f.name not in ("declared_condition", "ambient", "faults"))))


@dataclass(frozen=True)
class RigDeviceOptions(Options):
    """Parameters of the simulated VBR/1 rig (``sim://rig``), besides the simulator's."""

    seed: int = option(0, "random seed")
    rate_hz: int = option(1000, "default sample rate, Hz", lo=1, hi=5000)
    ber: float = option(0.0, "bit error rate on the line", **_PROBABILITY)
    drop: float = option(0.0, "probability of a lost byte", **_PROBABILITY)
    garbage: float = option(0.0, "garbage bursts per second", lo=0.0)
    stall_at_s: float = option(1.0, "device time of a stall, s", lo=0.0)
    stall_s: float = option(0.0, "stall length, s", lo=0.0)
    reset_at_s: float | None = option(None, "device time of a reset, s", lo=0.0)
    sensor_fault_at_s: float | None = option(None, "device time of a sensor fault, s", lo=0.0)
    sensor_fault_duration_s: float = option(1.0, "sensor fault length, s", lo=0.0)
    sensor_fault_channel: str = option("flow", "faulty channel", choices=("flow", "paw", "both"))
    saturate: float = option(float("inf"), "flow sensor range, L/min", lo=0.0, finite=False)
    saturate_paw_cmh2o: float = option(100.0, "pressure sensor range, cmH2O", lo=0.0)
    condition: str = option("STP20", "gas condition the rig reports flow at")
    rig_id: str = option("SIM-RIG-01", "rig identity in DESCRIBE")
    continuous: bool = option(False, "stream without START")
    record: bool = option(True, "keep the record of what was sent")
    alarms: bool = option(False, "actuators, microphone level and alarm system (docs/drivers/rig-actuators.md)")
    alarm_late: str = option("", "seeded alarm defect: CONDITION:SECONDS[,…] added to that alarm's delay")


@dataclass(frozen=True)
class _InstrumentOptions(Options):
    seed: int = option(0, "random seed")
    ber: float = option(0.0, "bit error rate on the line", **_PROBABILITY)
    drop: float = option(0.0, "probability of a lost byte", **_PROBABILITY)
    garbage: float = option(0.0, "garbage bursts per second", lo=0.0)
    model: str = option("physics", "truth source", choices=("physics", "simple"))
    c_ml_per_cmh2o: float = option(50.0, "model=simple: compliance, mL/cmH2O", lo=0, lo_open=True)
    r_cmh2o_s_per_l: float = option(10.0, "model=simple: resistance, cmH2O/(L/s)", lo=0, lo_open=True)


@dataclass(frozen=True)
class ImtDeviceOptions(_InstrumentOptions):
    """Parameters of the simulated IMT analyser (``sim://imt``), besides the simulator's."""

    byteorder: str = option("big", "fast field byte order", choices=("big", "little"))
    signed: bool = option(True, "fast fields are signed")
    gas: int = option(2, "gas standard setting", lo=0)
    serial: int = option(1234567, "serial number", lo=0)


@dataclass(frozen=True)
class TsiDeviceOptions(_InstrumentOptions):
    """Parameters of the simulated TSI meter (``sim://tsi``), besides the simulator's."""

    t_gas_degc: float = option(23.5, "gas temperature, °C", lo=-40.0, hi=100.0)
    p_abs_kpa: float = option(101.3, "absolute pressure, kPa", lo=0, lo_open=True)


@dataclass(frozen=True)
class PirdsDeviceOptions(_InstrumentOptions):
    """Parameters of the simulated PIRDS source (``sim://pirds``), besides the simulator's."""

    format: str = option("json", "event encoding", choices=("json", "binary", "mixed"))
    period_ms: int = option(10, "flow event period, ms", lo=1)
    offset_ms: int = option(5, "pressure event offset, ms", lo=0)
    chatter: bool = option(False, "send non-PIRDS lines too")
    reports: str = option("flow", "what the device reports", choices=("flow", "truth"))
    dut_vt_gain_pct: float = option(0.0, "monitoring error: VT gain, %")
    dut_vt_offset_ml: float = option(0.0, "monitoring error: VT offset, mL")
    dut_pressure_gain_pct: float = option(0.0, "monitoring error: pressure gain, %")
    dut_peep_offset_cmh2o: float = option(0.0, "monitoring error: PEEP offset, cmH2O")
    dut_pip_offset_cmh2o: float = option(0.0, "monitoring error: PIP offset, cmH2O")
    dut_rate_error_pct: float = option(0.0, "monitoring error: rate, %")


def known_params(cls: type) -> list[str]:
    """Every parameter a device class takes, sorted."""
    own = {f.name for f in fields(cls.Options)}
    return sorted(own | (simulation_keys() if getattr(cls, "simulates", False) else set()))


def check_params(cls: type, params: Mapping[str, Any], where: str) -> None:
    """Refuse unknown keys (listing the known ones) and bad values of the device's own
    parameters (naming them); the simulator's keys are checked when it is built.

    Raises
    ------
    ConfigError
        Naming ``where`` (e.g. ``sim://rig`` or ``--fault``) and the key.
    """
    known = known_params(cls)
    for key in params:
        if key not in known:
            raise ConfigError(f"{where} {key}: unknown parameter (known: {', '.join(known)})")
    own = {f.name for f in fields(cls.Options)}
    cls.Options.from_dict({k: v for k, v in params.items() if k in own and v != ""}, where)
