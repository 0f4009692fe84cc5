"""From a protocol point (``set`` and ``lung`` tables of a protocol file) to simulator settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from ventbench.analysis.gas import GasCondition
from ventbench.drivers.sim.lung import Lung
from ventbench.drivers.sim.sensors import SensorModel
from ventbench.drivers.sim.simulation import Simulation
from ventbench.drivers.sim.ventilator import Imperfections, VentilatorSettings
from ventbench.errors import ConfigError

_SET_KEYS = ("vt_ml", "rate_bpm", "ti_s", "peep_cmh2o", "dp_cmh2o", "fio2_pct", "rise_time_s",
             "pause_s", "flow_pattern", "ramp_end_fraction")
_LUNG_KEYS = ("c_ml_per_hpa", "r_hpa_s_per_l", "leak_ml_min", "leak_ref_cmh2o",
              "circuit_c_ml_per_hpa")


def _pick(table: Mapping[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
    out = {}
    for key in keys:
        if key in table and table[key] is not None:
            value = table[key]
            if key != "flow_pattern":
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"{where}: {key} = {value!r} is not a number") from None
            out[key] = value
    return out


def settings_from_point(point: Mapping[str, Any]) -> tuple[VentilatorSettings, Lung]:
    """Ventilator settings and lung of one protocol point.

    Parameters
    ----------
    point : mapping
        Either a protocol point ``{"id", "mode", "set": {...}, "lung": {...}}`` or one flat
        mapping holding the set and lung keys together. Set keys: ``vt_ml``, ``rate_bpm``,
        ``ti_s``, ``peep_cmh2o``, ``dp_cmh2o``, ``fio2_pct`` (and optionally
        ``rise_time_s``, ``pause_s``, ``flow_pattern``, ``ramp_end_fraction``); lung keys:
        ``c_ml_per_hpa``, ``r_hpa_s_per_l``, ``leak_ml_min`` (and optionally
        ``leak_ref_cmh2o``, ``circuit_c_ml_per_hpa``). Other keys are ignored. ``mode``
        ("vc"/"pc") defaults to "pc" when ``dp_cmh2o`` is set and "vc" otherwise.

    Raises
    ------
    ConfigError
        A value is not a number, a required key is missing, or the settings are invalid.
    """
    where = f"point {point.get('id', '?')!s}"
    set_table = point.get("set", point)
    lung_table = point.get("lung", point)
    if not isinstance(set_table, Mapping) or not isinstance(lung_table, Mapping):
        raise ConfigError(f"{where}: 'set' and 'lung' must be tables")
    values = _pick(set_table, _SET_KEYS, where)
    lung_values = _pick(lung_table, _LUNG_KEYS, where)
    mode = str(point.get("mode", set_table.get("mode", "pc" if "dp_cmh2o" in values else "vc")))
    mode = mode.lower()
    required = ["rate_bpm", "ti_s", "peep_cmh2o"] + (["vt_ml"] if mode == "vc" else ["dp_cmh2o"])
    missing = [k for k in required if k not in values]
    missing += [k for k in ("c_ml_per_hpa", "r_hpa_s_per_l") if k not in lung_values]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)} for a {mode} simulation")
    return VentilatorSettings(mode=mode, **values), Lung(**lung_values)


def simulation_from_params(params: Mapping[str, str], fs_hz: float, *,
                           truth: bool = True) -> Simulation:
    """A :class:`Simulation` from string parameters (e.g. ``sim://`` URL query values).

    Keys: the point keys of :func:`settings_from_point` plus ``mode``, ``seed`` and any
    field of :class:`Imperfections` or :class:`SensorModel` given by name (numbers;
    ``condition`` as a gas-condition name). Missing set keys take the ISO 80601-2-12 VC
    row 1 / PC row 1 values. ``truth=False``: no per-breath truth (see :class:`Simulation`).
    """
    mode = str(params.get("mode", "pc" if "dp_cmh2o" in params else "vc")).lower()
    point: dict[str, Any] = {"vt_ml": 500, "rate_bpm": 20, "ti_s": 1.0, "peep_cmh2o": 5,
                             "c_ml_per_hpa": 50, "r_hpa_s_per_l": 5, "leak_ml_min": 0}
    if mode == "pc":
        point["dp_cmh2o"] = 10
    point.update({k: v for k, v in params.items() if k in _SET_KEYS + _LUNG_KEYS})
    point["mode"] = mode
    settings, lung = settings_from_point(point)
    imp_fields = {f.name for f in fields(Imperfections)}
    imp = Imperfections(**_pick(params, tuple(k for k in params if k in imp_fields), "params"))
    sensor_fields = {f.name for f in fields(SensorModel)} - {"condition", "declared_condition",
                                                             "ambient", "faults", "oversample"}
    sensor_kw: dict[str, Any] = _pick(params, tuple(k for k in params if k in sensor_fields),
                                      "params")
    if "condition" in params:
        sensor_kw["condition"] = GasCondition.parse(params["condition"])
    if "oversample" in params:
        sensor_kw["oversample"] = int(float(params["oversample"]))
    try:
        seed = int(float(params.get("seed", 0)))
    except ValueError:
        raise ConfigError(f"params: seed = {params['seed']!r} is not a number") from None
    return Simulation(settings, lung, imp, SensorModel(**sensor_kw), fs_hz=fs_hz, seed=seed,
                      truth=truth)
