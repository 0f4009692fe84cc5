"""Protocol TOML parsing and validation: text → :class:`~bench.protocol_model.Protocol`.

:func:`parse_protocol` checks every table and key (units in the key names, allowed
values, settings possible for the mode and consistent with each other); every error is a
:class:`~ventbench.errors.ConfigError` naming the file, the line (as best found, by
:class:`ventbench.tomlfile.TomlFile`) and the key. The file layout is described in :mod:`bench.protocol`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ventbench.analysis.checks import (
    CRITERIA,
    DECISION_RULES,
    DEFAULT_QUANTITIES,
    QUANTITY_FIELDS,
    SteadyState,
)
from ventbench.analysis.limits import BUILTIN_LIMITS
from ventbench.bench.alarm_model import parse_alarm_tests
from ventbench.bench.environment import parse_ranges
from ventbench.bench.inspection_model import parse_inspection
from ventbench.bench.protocol_model import (
    LUNG_KEYS,
    MODES,
    REQUIRED_LUNG,
    REQUIRED_SET,
    SEGMENTATION_PRESETS,
    SET_KEYS,
    Group,
    Point,
    Protocol,
)
from ventbench.bench.protocol_steady import parse_channels, parse_steady_point, parse_steady_table
from ventbench.errors import ConfigError
from ventbench.tomlfile import Key, TomlFile, check_table

#: [protocol] (``settle`` may also be a number: the breaths).
_PROTOCOL_KEYS = {
    "id": Key("text", required=True), "title": Key("string"), "standard": Key("string"),
    "limits": Key("text"), "settle": Key("table"), "measure_breaths": Key("integer", lo=1),
    "criterion": Key("string", choices=CRITERIA), "decision_rule": Key("string", choices=DECISION_RULES),
    "source": Key("string"), "notes": Key("strings"), "environment": Key("table"),
    "steady": Key("table"), "channels": Key("table"),
}
_SETTLE_KEYS = {"breaths": Key("number", lo=0), "steady_k": Key("number", lo=0),
                "steady_tol_pct": Key("number", lo=0), "steady_field": Key("string")}
_GROUP_KEYS = {"title": Key("string"), "segmentation": Key("string", choices=SEGMENTATION_PRESETS),
               "note": Key("string")}
_POINT_KEYS = {
    "id": Key("text", required=True), "row": Key("integer", lo=1),
    "mode": Key("string", required=True, choices=MODES), "group": Key("string"),
    "checks": Key("strings"), "set": Key("table"), "lung": Key("table"), "expect": Key("table"),
    "note": Key("string"),
}
#: A ``mode = "steady"`` point's common keys; the rest are bench.protocol_steady's to check.
_STEADY_HEAD_KEYS = {"id": _POINT_KEYS["id"], "row": _POINT_KEYS["row"], "mode": Key("string"),
                     "group": Key("string"), "note": Key("string")}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _values(raw: Any, allowed: Mapping[str, str], path: str, loc: TomlFile, index: int, table: str = "points"
            ) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise loc.error(path, f"expected a table of numbers, found {raw!r}", path.rsplit(".", 1)[-1], table, index)
    full = set(allowed.values())
    out = {}
    for key, value in raw.items():
        if key not in full:
            stem = key.split("_", 1)[0]
            if stem in allowed:
                raise loc.error(f"{path}.{key}", f"wrong unit: expected {allowed[stem]!r}, found {key!r}",
                                key, table, index)
            raise loc.error(f"{path}.{key}", f"unknown key (expected some of {', '.join(sorted(full))})",
                            key, table, index)
        if not _number(value):
            raise loc.error(f"{path}.{key}", f"expected a number, found {value!r}", key, table, index)
        out[key] = float(value)
    return out


def _check_point_values(pid_path: str, mode: str, s: dict, lung: dict, loc: TomlFile, index: int) -> None:
    def bad(key: str, sub: str, expected: str) -> ConfigError:
        value = (s if sub == "set" else lung)[key]
        return loc.error(f"{pid_path}.{sub}.{key}", f"impossible value: expected {expected}, found {value:g}",
                         key, "points", index)

    for key in REQUIRED_SET[mode]:
        if key not in s:
            raise loc.error(f"{pid_path}.set.{key}", f"missing setting (required in {mode.upper()})",
                            "set", "points", index)
    if mode == "pc" and "dp_cmh2o" not in s and "pinsp_cmh2o" not in s:
        raise loc.error(f"{pid_path}.set.dp_cmh2o", "missing setting (PC needs dp_cmh2o or pinsp_cmh2o)",
                        "set", "points", index)
    if "ti_s" not in s and "ie_ratio" not in s:
        raise loc.error(f"{pid_path}.set.ti_s", "missing setting (ti_s or ie_ratio)", "set", "points", index)
    for key in REQUIRED_LUNG:
        if key not in lung:
            raise loc.error(f"{pid_path}.lung.{key}", "missing test-lung parameter", "lung", "points", index)
    for key in ("vt_ml", "rate_bpm", "ti_s", "ie_ratio", "dp_cmh2o"):
        if key in s and not s[key] > 0:
            raise bad(key, "set", "> 0")
    if "peep_cmh2o" in s and s["peep_cmh2o"] < 0:
        raise bad("peep_cmh2o", "set", "≥ 0")
    if "pinsp_cmh2o" in s and not s["pinsp_cmh2o"] > s.get("peep_cmh2o", 0.0):
        raise bad("pinsp_cmh2o", "set", "> peep_cmh2o")
    if "fio2_pct" in s and not 21.0 <= s["fio2_pct"] <= 100.0:
        raise bad("fio2_pct", "set", "21…100 %")
    if "ti_s" in s and s["ti_s"] >= 60.0 / s["rate_bpm"]:
        raise bad("ti_s", "set", f"< 60/rate_bpm = {60.0 / s['rate_bpm']:.4g} s (Ti within the breath cycle)")
    if "ti_s" in s and "ie_ratio" in s:
        ie = (60.0 / s["rate_bpm"] - s["ti_s"]) / s["ti_s"]
        if abs(ie - s["ie_ratio"]) > 0.01 * s["ie_ratio"]:
            raise bad("ie_ratio", "set", f"consistent with rate_bpm and ti_s (1:{ie:.3g}, within 1 %)")
    if not lung["c_ml_per_hpa"] > 0:
        raise bad("c_ml_per_hpa", "lung", "> 0")
    if lung["r_hpa_s_per_l"] < 0:
        raise bad("r_hpa_s_per_l", "lung", "≥ 0")
    if lung.get("leak_ml_min", 0.0) < 0:
        raise bad("leak_ml_min", "lung", "≥ 0")


def parse_protocol(text: str, where: str, base_dir: Path | None = None) -> Protocol:
    """Parse and validate protocol TOML ``text``; ``where`` names the file in errors."""
    loc = TomlFile(text, where)
    data = loc.data
    for key in data:
        # [reliability]: the reliability run's own settings, read by bench.reliability.config
        if key not in ("protocol", "groups", "points", "reliability", "alarms", "inspection"):
            raise loc.error(key, "unknown table (expected [protocol], [groups.*], [[points]], "
                            "[reliability], [[alarms]], [[inspection]])", key)
    head = data.get("protocol")
    if not isinstance(head, dict):
        raise ConfigError(f"{where}: [protocol]: missing table")
    if _number(head.get("settle")):  # settle = 10: the breaths alone
        head = {**head, "settle": {"breaths": head["settle"]}}
    check_table(loc, head, _PROTOCOL_KEYS, "protocol", "protocol")
    pid = head["id"]
    limits = head.get("limits", "iso80601-2-12")
    if limits not in BUILTIN_LIMITS:
        candidate = (base_dir / limits) if base_dir is not None else Path(limits)
        if not candidate.is_file():
            raise loc.error("protocol.limits", f"expected a built-in limit set ({', '.join(BUILTIN_LIMITS)}) "
                            f"or a limits file, found {limits!r}", "limits", "protocol")
        limits = str(candidate)
    settle = check_table(loc, head.get("settle", {}), _SETTLE_KEYS, "protocol.settle", "protocol.settle")
    steady = None
    if "steady_k" in settle or "steady_tol_pct" in settle:
        try:
            steady = SteadyState(k=int(settle.get("steady_k", 5)), tol_pct=float(settle.get("steady_tol_pct", 2.0)),
                                 field=settle.get("steady_field", "vti_ml"))
        except ConfigError as exc:
            raise loc.error("protocol.settle", str(exc), "steady_k", "protocol") from None
    measure = head.get("measure_breaths", 30)
    criterion = head.get("criterion", "every-breath")
    decision = head.get("decision_rule", "simple")
    try:
        environment = parse_ranges(head.get("environment"), where)
    except ConfigError as exc:
        raise loc.error("protocol.environment", str(exc).split(": ", 2)[-1], "environment", "protocol") from None
    notes = head.get("notes", [])

    groups = {}
    raw_groups = data.get("groups", {})
    if not isinstance(raw_groups, dict):
        raise loc.error("groups", "expected tables [groups.NAME]", "groups")
    for gid, g in raw_groups.items():
        table = f"groups.{gid}"
        check_table(loc, g, _GROUP_KEYS, table, table)
        groups[gid] = Group(gid, g.get("title", ""), g.get("segmentation", "auto"), g.get("note", ""))

    raw_points = data.get("points", [])
    if not isinstance(raw_points, list) or not raw_points:
        raise ConfigError(f"{where}: points: expected at least one [[points]] table")
    points, seen = [], set()
    for index, raw in enumerate(raw_points):
        path = f"points[{index}]"
        if isinstance(raw, dict) and raw.get("mode") == "steady":
            check_table(loc, {k: v for k, v in raw.items() if k in _STEADY_HEAD_KEYS}, _STEADY_HEAD_KEYS,
                        path, "points", index)
        else:
            check_table(loc, raw, _POINT_KEYS, path, "points", index)
        point_id = raw["id"]
        path = f"points[{index}] (id {point_id!r})"
        if point_id in seen:
            raise loc.error(f"{path}.id", f"duplicate point id {point_id!r}", "id", "points", index)
        seen.add(point_id)
        if raw.get("mode") == "steady":  # judged over windows: bench.protocol_steady
            points.append(_steady_point(raw, path, point_id, head, groups, loc, index))
            continue
        mode, group = raw["mode"], raw.get("group", "")
        if groups and group not in groups:
            raise loc.error(f"{path}.group", f"expected one of {', '.join(groups)}, found {group!r}",
                            "group", "points", index)
        s = _values(raw.get("set", {}), SET_KEYS, f"{path}.set", loc, index)
        lung = _values(raw.get("lung", {}), LUNG_KEYS, f"{path}.lung", loc, index)
        expect = _values(raw.get("expect", {}), SET_KEYS, f"{path}.expect", loc, index)
        _check_point_values(path, mode, s, lung, loc, index)
        checks = raw.get("checks", list(DEFAULT_QUANTITIES[mode]))
        for c in checks:
            if c not in QUANTITY_FIELDS:
                raise loc.error(f"{path}.checks", f"unknown quantity {c!r} (expected some of "
                                f"{', '.join(QUANTITY_FIELDS)})", "checks", "points", index)
        row = raw.get("row")
        points.append(Point(id=point_id, mode=mode, set=s, lung=lung, checks=tuple(checks), group=group,
                            row=row, expect=expect, note=raw.get("note", ""),
                            line=loc.line(None, "points", index)))
    if "steady" in head or "channels" in head:
        try:
            parse_steady_table(head.get("steady"), "protocol.steady")
            channels = parse_channels(head.get("channels"), "protocol.channels")
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    else:
        channels = {}
    alarms = parse_alarm_tests(loc)  # [[alarms]]: bench.alarm_model
    for i, test in enumerate(alarms):
        if test.point and test.point not in seen:
            raise loc.error(f"alarms[{i}].point", f"no point {test.point!r}", "point", "alarms", i)
    inspection = parse_inspection(loc)  # [[inspection]]: bench.inspection_model
    return Protocol(
        channels=channels, alarms=alarms, inspection=inspection,
        id=pid, title=head.get("title", pid), standard=head.get("standard", ""), limits=limits,
        points=tuple(points), groups=groups, settle_breaths=int(settle.get("breaths", 10)), steady_state=steady,
        measure_breaths=measure, criterion=criterion, decision_rule=decision, environment=environment,
        source=head.get("source", ""), notes=tuple(notes), path=where,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def _steady_point(raw: dict, path: str, point_id: str, head: dict, groups: dict, loc: TomlFile,
                  index: int) -> Point:
    """A ``mode = "steady"`` point (bench.protocol_steady), errors with file and line."""
    group = raw.get("group", "")
    if groups and group not in groups:
        raise loc.error(f"{path}.group", f"expected one of {', '.join(groups)}, found {group!r}",
                        "group", "points", index)
    try:
        fields = parse_steady_point(raw, path, parse_steady_table(head.get("steady"), "protocol.steady"),
                                    parse_channels(head.get("channels"), "protocol.channels"))
    except ConfigError as exc:
        text = str(exc)
        key = text.split(":", 1)[0].rsplit(".", 1)[-1]
        line = loc.line(key, "points", index)
        raise ConfigError(f"{loc.where}:{line}: {text}" if line else f"{loc.where}: {text}") from None
    return Point(id=point_id, mode="steady", group=group, row=raw.get("row"),
                 note=raw.get("note", ""), line=loc.line(None, "points", index), **fields)
