"""Alarm tests as protocol data: the ``[[alarms]]`` tables of a protocol file (docs/alarms.md).

Each entry names the condition to induce, how (the rig's actuator or the operator), how the
alarm is detected, the delay limit (from ``analysis/data/alarm-limits.toml`` or the
protocol's own, then marked as the laboratory's) and whether the device must recover by
itself. The sequence and the verdicts are :mod:`ventbench.bench.alarm_tests`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass
from typing import Any

from ventbench.analysis.alarm_limits import AlarmLimit, resolve_limit
from ventbench.analysis.alarms import CONDITIONS, DETECTIONS
from ventbench.errors import ConfigError

#: The rig actuator that induces each condition (docs/drivers/rig-actuators.md).
ACTUATOR = {"disconnection": "disconnect", "occlusion": "occlude", "high_pressure": "stiff",
            "vt_out_of_range": "leak", "gas_supply_loss": "gas", "mains_loss": "mains",
            "apnoea": "apnoea"}
_KEYS = {"id", "condition", "induce", "detect", "limit_s", "must_recover", "window_s", "baseline_s",
         "recovery_s", "threshold_cmh2o", "note", "point"}


@dataclass(frozen=True)
class AlarmTest:
    """One alarm test of a protocol (times in s)."""

    id: str
    condition: str
    induce: str
    detect: str
    limit: AlarmLimit
    must_recover: bool = True
    window_s: float = 30.0
    baseline_s: float = 10.0
    recovery_s: float = 20.0
    threshold_cmh2o: float | None = None
    note: str = ""
    point: str = ""  #: the protocol point whose settings the ventilator keeps (default: the first)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["limit"] = self.limit.to_json()
        return out


def _choice(raw: dict, path: str, key: str, options: tuple[str, ...], default: str | None = None) -> str:
    value = raw.get(key, default)
    if value not in options:
        raise ConfigError(f"{path}.{key}: expected one of {', '.join(options)}, found {value!r}")
    return value


def _seconds(raw: dict, path: str, key: str, default: float | None) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{path}.{key}: expected a number > 0, found {value!r}")
    return float(value)


def parse_alarm_tests(data: dict[str, Any], where: str) -> tuple[AlarmTest, ...]:
    """The ``[[alarms]]`` tables of a parsed protocol document; ConfigError naming the entry."""
    raw_list = data.get("alarms", [])
    if not isinstance(raw_list, list):
        raise ConfigError(f"{where}: alarms: expected [[alarms]] tables")
    tests, seen = [], set()
    for i, raw in enumerate(raw_list):
        path = f"{where}: alarms[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a table")
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]}: unknown key (expected some of {', '.join(sorted(_KEYS))})")
        tid = raw.get("id")
        if not isinstance(tid, str) or not tid.strip() or tid in seen:
            raise ConfigError(f"{path}.id: expected a unique non-empty string, found {tid!r}")
        seen.add(tid)

        condition = _choice(raw, path, "condition", CONDITIONS)
        detect = _choice(raw, path, "detect", DETECTIONS, "sound")
        must = raw.get("must_recover", True)
        if not isinstance(must, bool):
            raise ConfigError(f"{path}.must_recover: expected true or false, found {must!r}")
        tests.append(AlarmTest(
            id=tid, condition=condition, induce=_choice(raw, path, "induce", ("rig", "operator"), "rig"), detect=detect,
            limit=resolve_limit(condition, _seconds(raw, path, "limit_s", None), f"{where} alarms[{i}]"),
            must_recover=must, window_s=_seconds(raw, path, "window_s", 30.0), baseline_s=_seconds(raw, path, "baseline_s", 10.0),
            recovery_s=_seconds(raw, path, "recovery_s", 20.0), threshold_cmh2o=_seconds(raw, path, "threshold_cmh2o", None),
            note=str(raw.get("note", "")), point=str(raw.get("point", ""))))
    return tuple(tests)


def load_alarm_tests(text: str, where: str) -> tuple[AlarmTest, ...]:
    """The alarm tests of protocol TOML ``text`` (``where`` names the file)."""
    try:
        return parse_alarm_tests(tomllib.loads(text), where)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None
