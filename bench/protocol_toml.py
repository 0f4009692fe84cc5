"""Protocol TOML parsing and validation: text → :class:`~bench.protocol_model.Protocol`.

:func:`parse_protocol` checks every table and key (units in the key names, allowed
values, settings possible for the mode and consistent with each other); every error is a
:class:`~ventbench.errors.ConfigError` naming the file, the line (as best found, by
:class:`_Locator`) and the key. The file layout is described in :mod:`bench.protocol`.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
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
from ventbench.errors import ConfigError

_PROTOCOL_KEYS = {"id", "title", "standard", "limits", "settle", "measure_breaths", "criterion",
                  "decision_rule", "source", "notes", "environment"}
_SETTLE_KEYS = {"breaths", "steady_k", "steady_tol_pct", "steady_field"}
_GROUP_KEYS = {"title", "segmentation", "note"}
_POINT_KEYS = {"id", "row", "mode", "group", "checks", "set", "lung", "expect", "note"}


class _Locator:
    """Finds the line of a key in the TOML text, for error messages (best effort)."""

    _header = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?")

    def __init__(self, where: str, text: str) -> None:
        self.where = where
        self.lines = text.splitlines()
        self.headers = [(i, m.group(1), line.lstrip().startswith("[["))
                        for i, line in enumerate(self.lines) if (m := self._header.match(line))]

    def _range(self, table: str, index: int | None) -> tuple[int, int] | None:
        if index is not None:
            starts = [i for i, name, arr in self.headers if arr and name == table]
            if index >= len(starts):
                return None
            start = starts[index]
        else:
            found = [i for i, name, arr in self.headers if name == table and not arr]
            if not found:
                return None
            start = found[0]
        end = len(self.lines)
        for i, name, _ in self.headers:
            if i > start and not name.startswith(table + "."):
                end = i
                break
        return start, end

    def line(self, key: str | None, table: str | None = None, index: int | None = None) -> int | None:
        """1-based line of ``key`` inside ``table`` (the ``index``-th ``[[table]]``), else the
        table's header line, else None."""
        span = self._range(table, index) if table else (0, len(self.lines))
        if span is None:
            return None
        if key:
            pattern = re.compile(r"(^|[\s{,.])" + re.escape(key) + r"\s*=")
            for i in range(*span):
                if pattern.search(self.lines[i].split("#", 1)[0]):
                    return i + 1
        return span[0] + 1 if table else None

    def error(self, path: str, message: str, key: str | None = None, table: str | None = None,
              index: int | None = None) -> ConfigError:
        line = self.line(key, table, index)
        at = f"{self.where}:{line}" if line else self.where
        return ConfigError(f"{at}: {path}: {message}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _values(raw: Any, allowed: Mapping[str, str], path: str, loc: _Locator, index: int, table: str = "points"
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


def _check_point_values(pid_path: str, mode: str, s: dict, lung: dict, loc: _Locator, index: int) -> None:
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


def _str(raw: Mapping, key: str, path: str, loc: _Locator, table: str, index: int | None = None,
         default: str | None = None) -> str:
    if key not in raw:
        if default is not None:
            return default
        raise loc.error(f"{path}.{key}", "missing", None, table, index)
    if not isinstance(raw[key], str):
        raise loc.error(f"{path}.{key}", f"expected a string, found {raw[key]!r}", key, table, index)
    return raw[key]


def _choice(value: Any, options: Iterable[str], path: str, loc: _Locator, key: str, table: str,
            index: int | None = None) -> str:
    options = tuple(options)
    if value not in options:
        raise loc.error(path, f"expected one of {', '.join(options)}, found {value!r}", key, table, index)
    return value


def parse_protocol(text: str, where: str, base_dir: Path | None = None) -> Protocol:
    """Parse and validate protocol TOML ``text``; ``where`` names the file in errors."""
    loc = _Locator(where, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        at = f"{where}:{m.group(1)}" if m else where
        raise ConfigError(f"{at}: invalid TOML: {exc}") from None
    for key in data:
        # [reliability]: the reliability run's own settings, read by bench.reliability.config
        if key not in ("protocol", "groups", "points", "reliability", "alarms"):
            raise loc.error(key, "unknown table (expected [protocol], [groups.*], [[points]], "
                            "[reliability], [[alarms]])", key)
    head = data.get("protocol")
    if not isinstance(head, dict):
        raise ConfigError(f"{where}: [protocol]: missing table")
    for key in head:
        if key not in _PROTOCOL_KEYS:
            raise loc.error(f"protocol.{key}", f"unknown key (expected some of {', '.join(sorted(_PROTOCOL_KEYS))})",
                            key, "protocol")
    pid = _str(head, "id", "protocol", loc, "protocol")
    limits = _str(head, "limits", "protocol", loc, "protocol", default="iso80601-2-12")
    if limits not in BUILTIN_LIMITS:
        candidate = (base_dir / limits) if base_dir is not None else Path(limits)
        if not candidate.is_file():
            raise loc.error("protocol.limits", f"expected a built-in limit set ({', '.join(BUILTIN_LIMITS)}) "
                            f"or a limits file, found {limits!r}", "limits", "protocol")
        limits = str(candidate)
    settle = head.get("settle", {})
    if _number(settle):
        settle = {"breaths": settle}
    if not isinstance(settle, dict):
        raise loc.error("protocol.settle", f"expected a table, found {settle!r}", "settle", "protocol")
    for key in settle:
        if key not in _SETTLE_KEYS:
            raise loc.error(f"protocol.settle.{key}", f"unknown key (expected some of {', '.join(sorted(_SETTLE_KEYS))})",
                            key, "protocol")
    for key, value in settle.items():
        ok = isinstance(value, str) if key == "steady_field" else _number(value) and value >= 0
        if not ok:
            raise loc.error(f"protocol.settle.{key}", f"expected a non-negative number, found {value!r}", key, "protocol")
    steady = None
    if "steady_k" in settle or "steady_tol_pct" in settle:
        try:
            steady = SteadyState(k=int(settle.get("steady_k", 5)), tol_pct=float(settle.get("steady_tol_pct", 2.0)),
                                 field=settle.get("steady_field", "vti_ml"))
        except ConfigError as exc:
            raise loc.error("protocol.settle", str(exc), "steady_k", "protocol") from None
    measure = head.get("measure_breaths", 30)
    if not (isinstance(measure, int) and not isinstance(measure, bool) and measure >= 1):
        raise loc.error("protocol.measure_breaths", f"expected an integer ≥ 1, found {measure!r}",
                        "measure_breaths", "protocol")
    criterion = _choice(head.get("criterion", "every-breath"), CRITERIA, "protocol.criterion", loc, "criterion", "protocol")
    decision = _choice(head.get("decision_rule", "simple"), DECISION_RULES, "protocol.decision_rule", loc,
                       "decision_rule", "protocol")
    try:
        environment = parse_ranges(head.get("environment"), where)
    except ConfigError as exc:
        raise loc.error("protocol.environment", str(exc).split(": ", 2)[-1], "environment", "protocol") from None
    notes = head.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise loc.error("protocol.notes", "expected a list of strings", "notes", "protocol")

    groups = {}
    raw_groups = data.get("groups", {})
    if not isinstance(raw_groups, dict):
        raise loc.error("groups", "expected tables [groups.NAME]", "groups")
    for gid, g in raw_groups.items():
        table = f"groups.{gid}"
        if not isinstance(g, dict):
            raise loc.error(table, "expected a table", gid)
        for key in g:
            if key not in _GROUP_KEYS:
                raise loc.error(f"{table}.{key}", f"unknown key (expected some of {', '.join(sorted(_GROUP_KEYS))})",
                                key, table)
        seg = _choice(g.get("segmentation", "auto"), SEGMENTATION_PRESETS, f"{table}.segmentation", loc,
                      "segmentation", table)
        groups[gid] = Group(gid, _str(g, "title", table, loc, table, default=""), seg,
                            _str(g, "note", table, loc, table, default=""))

    raw_points = data.get("points", [])
    if not isinstance(raw_points, list) or not raw_points:
        raise ConfigError(f"{where}: points: expected at least one [[points]] table")
    points, seen = [], set()
    for index, raw in enumerate(raw_points):
        path = f"points[{index}]"
        if not isinstance(raw, dict):
            raise loc.error(path, "expected a table", None, "points", index)
        for key in raw:
            if key not in _POINT_KEYS:
                raise loc.error(f"{path}.{key}", f"unknown key (expected some of {', '.join(sorted(_POINT_KEYS))})",
                                key, "points", index)
        point_id = _str(raw, "id", path, loc, "points", index)
        path = f"points[{index}] (id {point_id!r})"
        if point_id in seen:
            raise loc.error(f"{path}.id", f"duplicate point id {point_id!r}", "id", "points", index)
        seen.add(point_id)
        mode = _choice(raw.get("mode"), MODES, f"{path}.mode", loc, "mode", "points", index)
        group = _str(raw, "group", path, loc, "points", index, default="")
        if groups and group not in groups:
            raise loc.error(f"{path}.group", f"expected one of {', '.join(groups)}, found {group!r}",
                            "group", "points", index)
        s = _values(raw.get("set", {}), SET_KEYS, f"{path}.set", loc, index)
        lung = _values(raw.get("lung", {}), LUNG_KEYS, f"{path}.lung", loc, index)
        expect = _values(raw.get("expect", {}), SET_KEYS, f"{path}.expect", loc, index)
        _check_point_values(path, mode, s, lung, loc, index)
        checks = raw.get("checks", list(DEFAULT_QUANTITIES[mode]))
        if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
            raise loc.error(f"{path}.checks", f"expected a list of quantity names, found {checks!r}",
                            "checks", "points", index)
        for c in checks:
            if c not in QUANTITY_FIELDS:
                raise loc.error(f"{path}.checks", f"unknown quantity {c!r} (expected some of "
                                f"{', '.join(QUANTITY_FIELDS)})", "checks", "points", index)
        row = raw.get("row")
        if row is not None and not (isinstance(row, int) and not isinstance(row, bool) and row >= 1):
            raise loc.error(f"{path}.row", f"expected an integer ≥ 1, found {row!r}", "row", "points", index)
        points.append(Point(id=point_id, mode=mode, set=s, lung=lung, checks=tuple(checks), group=group,
                            row=row, expect=expect, note=_str(raw, "note", path, loc, "points", index, default=""),
                            line=loc.line(None, "points", index)))
    alarms = parse_alarm_tests(data, where)  # [[alarms]]: bench.alarm_model
    for i, test in enumerate(alarms):
        if test.point and test.point not in seen:
            raise loc.error(f"alarms[{i}].point", f"no point {test.point!r}", "point", "alarms", i)
    return Protocol(
        alarms=alarms, id=pid, title=_str(head, "title", "protocol", loc, "protocol", default=pid),
        standard=_str(head, "standard", "protocol", loc, "protocol", default=""), limits=limits,
        points=tuple(points), groups=groups, settle_breaths=int(settle.get("breaths", 10)), steady_state=steady,
        measure_breaths=measure, criterion=criterion, decision_rule=decision, environment=environment,
        source=_str(head, "source", "protocol", loc, "protocol", default=""), notes=tuple(notes), path=where,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
