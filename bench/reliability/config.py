"""The reliability run's configuration: the ``[reliability]`` table of a protocol file.

The built-in ``bench/protocols/reliability.toml`` is an ordinary protocol (one point: the
setting held for the whole run) plus a ``[reliability]`` table: default duration, the
missed-breath factor, apnoea and stall thresholds, the no-data limit (``no_data_s``), out-of-limit runs, capture rotation,
per-breath limits ``[min, max]`` and drift limits per 24 h. :func:`load_reliability`
reads both and applies command-line overrides (``--set``, ``--limit``, ``--drift-limit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ventbench.bench.args import parse_duration_s
from ventbench.bench.protocol import SET_KEYS, Protocol, load_protocol, parse_protocol
from ventbench.errors import ConfigError
from ventbench.tomlfile import Key, TomlFile, check_table

#: Per-breath quantities judged by a reliability run (store field names).
QUANTITIES = ("vt_ml", "peep_cmh2o", "pip_cmh2o", "rate_bpm")

#: The ``[reliability]`` table.
_TABLE_KEYS = {
    "duration": Key("text"), "missed_factor": Key("number", lo=1), "apnoea_s": Key("number", lo=0, lo_open=True),
    "stall_s": Key("number", lo=0, lo_open=True), "no_data_s": Key("number", lo=0, lo_open=True),
    "run_breaths": Key("integer", lo=1), "capture_rotate_mib": Key("number", lo=0, lo_open=True),
    "status_interval_s": Key("number", lo=0, lo_open=True), "limits": Key("table"),
    "drift_limit_per_24h": Key("table"),
}
_LIMIT_KEYS = {q: Key("interval") for q in QUANTITIES}  #: per-breath [min, max]
_DRIFT_KEYS = {q: Key("number", lo=0, lo_open=True) for q in QUANTITIES}  #: |drift| per 24 h


@dataclass(frozen=True)
class ReliabilityConfig:
    """Everything a reliability run decides with (frozen into ``start.json``).

    Attributes
    ----------
    set : dict
        The point's settings (``vt_ml``, ``rate_bpm``, ``ti_s``, ``peep_cmh2o`` …).
    lung : dict
        The test lung.
    limits : dict
        ``quantity -> (min, max)`` per breath, closed interval.
    drift_limit_per_24h : dict
        ``quantity -> limit`` on |drift| per 24 h, in the quantity's unit.
    """

    protocol_id: str
    mode: str
    set: dict[str, float]
    lung: dict[str, float]
    limits: dict[str, tuple[float, float]]
    drift_limit_per_24h: dict[str, float]
    duration_s: float = 14 * 86400.0
    missed_factor: float = 1.5
    apnoea_s: float = 20.0
    stall_s: float = 0.5
    #: no sample for this long (wall time) ends the run with exit 4 (``--resume`` continues)
    no_data_s: float = 300.0
    run_breaths: int = 3
    capture_rotate_mib: float = 256.0
    status_interval_s: float = 1.0
    protocol_sha256: str = ""
    #: the O2 flow channel integrated over the run (role ``o2_flow`` of ``[protocol.channels]``)
    o2_channel: str = "o2_flow_lpm"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def period_s(self) -> float:
        """The set breath period, s."""
        return 60.0 / float(self.set["rate_bpm"])

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["limits"] = {k: list(v) for k, v in self.limits.items()}
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ReliabilityConfig:
        """The inverse of :meth:`to_json` (start.json → config)."""
        d = dict(doc)
        d["limits"] = {k: (float(v[0]), float(v[1])) for k, v in d["limits"].items()}
        return cls(**d)


def _pair(key: str, value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, str):
        value = value.split(":")
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} = {value!r}: expected [min, max]") from None
    if not lo <= hi:
        raise ConfigError(f"{where}: {key} = [{lo}, {hi}]: expected min ≤ max")
    return lo, hi


def _table(protocol: Protocol) -> dict[str, Any]:
    """The ``[reliability]`` table, checked against its schema (errors with file and line)."""
    from ventbench.bench.protocol import _builtin_dir  # the same file load_protocol read

    path = Path(protocol.path)
    if path.is_file():
        text = path.read_text("utf-8")
    else:
        text = _builtin_dir().joinpath(Path(protocol.path).name).read_text("utf-8")
    toml = TomlFile(text, protocol.path)
    table = toml.data.get("reliability")
    if not isinstance(table, dict):
        raise ConfigError(f"{protocol.path}: [reliability]: missing table (not a reliability protocol)")
    check_table(toml, table, _TABLE_KEYS, "reliability", "reliability")
    check_table(toml, table.get("limits", {}), _LIMIT_KEYS, "reliability.limits", "reliability.limits")
    check_table(toml, table.get("drift_limit_per_24h", {}), _DRIFT_KEYS,
                "reliability.drift_limit_per_24h", "reliability.drift_limit_per_24h")
    if "duration" in table:
        try:
            parse_duration_s(table["duration"])
        except ConfigError as error:
            raise toml.error("reliability.duration", str(error), "duration", "reliability") from None
    return table


def load_reliability(name_or_path: str | Path = "reliability", *, duration: str | float | None = None,
                     set_values: Mapping[str, Any] | None = None,
                     limits: Mapping[str, str] | None = None,
                     drift_limits: Mapping[str, Any] | None = None) -> ReliabilityConfig:
    """Load a reliability protocol and apply overrides.

    Parameters
    ----------
    name_or_path : str or Path
        ``"reliability"`` (built-in) or a protocol file with a ``[reliability]`` table.
    duration : str or float, optional
        ``--duration``, text or seconds (default: the table's ``duration``); the grammar of
        :func:`bench.args.parse_duration_s`.
    set_values : mapping, optional
        ``--set`` values for the point (keys of :data:`bench.protocol.SET_KEYS` values).
    limits : mapping, optional
        ``quantity -> "min:max"`` overriding ``[reliability.limits]``.
    drift_limits : mapping, optional
        ``quantity -> limit`` per 24 h.

    Raises
    ------
    ConfigError
        Unknown key, bad value, or a set value outside its own limit.
    """
    protocol = load_protocol(name_or_path)
    table = _table(protocol)
    where = f"{protocol.path}: [reliability]"
    point = protocol.points[0]
    sets = dict(point.set)
    for key, value in (set_values or {}).items():
        if key not in SET_KEYS.values():
            raise ConfigError(f"--set {key}: unknown setting (expected some of "
                              f"{', '.join(SET_KEYS.values())})")
        sets[key] = float(value)
    if "rate_bpm" not in sets:
        raise ConfigError(f"{where}: the point sets no rate_bpm")
    raw_limits = dict(table.get("limits", {}))
    raw_limits.update(limits or {})
    lims = {}
    for key, value in raw_limits.items():
        if key not in QUANTITIES:
            raise ConfigError(f"{where}.limits: {key}: expected one of {', '.join(QUANTITIES)}")
        lims[key] = _pair(key, value, f"{where}.limits")
    drift = {k: float(v) for k, v in dict(table.get("drift_limit_per_24h", {})).items()}
    drift.update({k: float(v) for k, v in (drift_limits or {}).items()})
    for key in drift:
        if key not in QUANTITIES:
            raise ConfigError(f"{where}.drift_limit_per_24h: {key}: expected one of "
                              f"{', '.join(QUANTITIES)}")
    for key, (lo, hi) in lims.items():
        if key in sets and not lo <= sets[key] <= hi:
            raise ConfigError(f"{where}.limits: {key} = [{lo:g}, {hi:g}] does not contain the set "
                              f"value {sets[key]:g}: give --limit {key}=MIN:MAX with --set")
    # the settings must still make a valid protocol point (Ti within the cycle …)
    check = {"protocol": {"id": "check"}, "points": [{"id": point.id, "mode": point.mode,
                                                      "set": sets, "lung": dict(point.lung)}]}
    _validate_point(check, where)
    no_data_s = float(table.get("no_data_s", 300.0))
    return ReliabilityConfig(
        protocol_id=protocol.id, mode=point.mode, set=sets, lung=dict(point.lung), limits=lims,
        drift_limit_per_24h=drift,
        duration_s=parse_duration_s(duration if duration is not None else table.get("duration", "14d")),
        missed_factor=float(table.get("missed_factor", 1.5)), apnoea_s=float(table.get("apnoea_s", 20.0)),
        stall_s=float(table.get("stall_s", 0.5)), no_data_s=no_data_s, run_breaths=int(table.get("run_breaths", 3)),
        capture_rotate_mib=float(table.get("capture_rotate_mib", 256.0)),
        status_interval_s=float(table.get("status_interval_s", 1.0)), protocol_sha256=protocol.sha256,
        o2_channel=dict(protocol.channels).get("o2_flow", "o2_flow_lpm"))


def _validate_point(doc: dict[str, Any], where: str) -> None:
    lines = ["[protocol]", 'id = "check"', "[[points]]"]
    p = doc["points"][0]
    lines += [f'id = "{p["id"]}"', f'mode = "{p["mode"]}"',
              "set = {" + ", ".join(f"{k} = {v!r}" for k, v in p["set"].items()) + "}",
              "lung = {" + ", ".join(f"{k} = {v!r}" for k, v in p["lung"].items()) + "}"]
    try:
        parse_protocol("\n".join(lines), where)
    except ConfigError as error:
        raise ConfigError(f"--set: {error}") from None
