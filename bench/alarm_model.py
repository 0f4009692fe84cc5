"""Alarm tests as protocol data: the ``[[alarms]]`` tables of a protocol file (docs/alarms.md).

Each entry names the condition to induce, how (the rig's actuator or the operator), how the
alarm is detected, the delay limit (from ``analysis/data/alarm-limits.toml`` or the
protocol's own, then marked as the laboratory's) and whether the device must recover by
itself. The sequence and the verdicts are :mod:`ventbench.bench.alarm_tests`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ventbench.analysis.alarm_limits import AlarmLimit, resolve_limit
from ventbench.analysis.alarms import CONDITIONS, DETECTIONS
from ventbench.errors import ConfigError
from ventbench.tomlfile import Key, TomlFile, check_table

#: The rig actuator that induces each condition (docs/drivers/rig-actuators.md).
ACTUATOR = {"disconnection": "disconnect", "occlusion": "occlude", "high_pressure": "stiff",
            "vt_out_of_range": "leak", "gas_supply_loss": "gas", "mains_loss": "mains",
            "apnoea": "apnoea"}
_SECONDS = ("limit_s", "window_s", "baseline_s", "recovery_s", "threshold_cmh2o")
#: one [[alarms]] entry
_KEYS = {"id": Key("text", required=True), "condition": Key("string", required=True, choices=CONDITIONS),
         "induce": Key("string", choices=("rig", "operator")), "detect": Key("string", choices=DETECTIONS),
         "must_recover": Key("bool"), "note": Key("string"), "point": Key("string"),
         **{k: Key("number", lo=0, lo_open=True) for k in _SECONDS}}


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


def parse_alarm_tests(toml: TomlFile | dict[str, Any], where: str = "") -> tuple[AlarmTest, ...]:
    """The ``[[alarms]]`` tables of a protocol document (a :class:`TomlFile`, or a document
    already parsed with ``where`` naming it); ConfigError naming the file, line and entry."""
    if not isinstance(toml, TomlFile):
        toml = TomlFile.of_data(toml, where)
    raw_list = toml.data.get("alarms", [])
    if not isinstance(raw_list, list):
        raise toml.error("alarms", "expected [[alarms]] tables", "alarms")
    tests, seen = [], set()
    for i, raw in enumerate(raw_list):
        path = f"alarms[{i}]"
        check_table(toml, raw, _KEYS, path, "alarms", i)
        if raw["id"] in seen:
            raise toml.error(f"{path}.id", f"duplicate alarm test id {raw['id']!r}", "id", "alarms", i)
        seen.add(raw["id"])
        seconds = {k: float(raw[k]) for k in _SECONDS if k in raw}
        try:
            limit = resolve_limit(raw["condition"], seconds.get("limit_s"), path)
        except ConfigError as exc:
            line = toml.line("limit_s", "alarms", i) or toml.line(None, "alarms", i)
            raise ConfigError(f"{toml.where}:{line}: {exc}" if line else f"{toml.where}: {exc}") from None
        tests.append(AlarmTest(
            id=raw["id"], condition=raw["condition"], induce=raw.get("induce", "rig"),
            detect=raw.get("detect", "sound"), limit=limit, must_recover=raw.get("must_recover", True),
            window_s=seconds.get("window_s", 30.0), baseline_s=seconds.get("baseline_s", 10.0),
            recovery_s=seconds.get("recovery_s", 20.0), threshold_cmh2o=seconds.get("threshold_cmh2o"),
            note=raw.get("note", ""), point=raw.get("point", "")))
    return tuple(tests)


def load_alarm_tests(text: str, where: str) -> tuple[AlarmTest, ...]:
    """The alarm tests of protocol TOML ``text`` (``where`` names the file)."""
    return parse_alarm_tests(TomlFile(text, where))
