"""Steady points in protocol files: ``mode = "steady"`` next to VC and PC rows.

A steady point (CPAP level, high-flow setting, a ventilator's CPAP mode) is judged over
windows, not breaths (:mod:`analysis.steady`). In a protocol file::

    [protocol.steady]              # defaults for every steady point of the protocol
    window_s = 10                  # analysis.steady.SteadyRule fields …
    settle_windows = 3
    measure_windows = 3
    criterion = "mean"             # or "every-window"
    record_s = 90                  # how long each steady point records (device time)
    limits = { fio2 = { abs = 2, rel = 0, unit = "%", source = "…", confidence = "unconfirmed" } }

    [protocol.channels]            # role → channel (unit in the name), shown in the report
    mixed_flow = "flow_lpm"
    o2_flow = "o2_flow_lpm"

    [[points]]
    id = "o2-peep5-40"
    mode = "steady"
    checks = ["fio2", "flow", "o2_flow"]
    set = { flow_lpm = 40, fio2_pct = 30.8, cpap_cmh2o = 5 }
    lung = { patient_rate_bpm = 12, patient_peak_lpm = 20 }     # the breathing patient
    limits = { flow = { abs = 0, rel = 0.05, unit = "L/min", source = "…", confidence = "…" } }
    steady = { record_s = 120 }    # per-point overrides of [protocol.steady]

A point's ``limits`` replace the protocol's steady limits quantity by quantity; a quantity with
no limit is reported (INFO). The channels a protocol's steady points need are checked against
the device before the first prompt (:func:`missing_channels`, exit 3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ventbench.errors import ConfigError

#: set keys of a steady point (unit in the name)
STEADY_SET = ("flow_lpm", "fio2_pct", "cpap_cmh2o", "supply_bar", "o2_flow_lpm", "paw_swing_cmh2o")
#: the simulated patient breathing on the device (the steady point's "lung")
STEADY_LUNG = ("patient_rate_bpm", "patient_peak_lpm")
RULE_KEYS = ("window_s", "settle_windows", "measure_windows", "criterion", "decision_rule", "smooth_s",
             "settle_frac")
STEADY_KEYS = (*RULE_KEYS, "record_s", "limits")
#: channel roles a protocol may name (DESIGN: "channel roles named in the protocol")
ROLES = ("mixed_flow", "pressure", "fio2", "o2_flow", "supply")
#: quantity → (channel, role); mirrors analysis.steady.STEADY_QUANTITIES without importing numpy
QUANTITY_CHANNEL = {"paw": ("paw_cmh2o", "pressure"), "paw_swing": ("paw_cmh2o", "pressure"),
                    "flow": ("flow_lpm", "mixed_flow"), "fio2": ("fio2_pct", "fio2"),
                    "o2_flow": ("o2_flow_lpm", "o2_flow"), "supply_p": ("supply_bar", "supply")}
DEFAULT_CHECKS = ("paw", "paw_swing", "flow", "fio2")
DEFAULT_RECORD_S = 90.0
_POINT_KEYS = {"id", "row", "mode", "group", "checks", "set", "lung", "expect", "note", "limits", "steady"}


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_steady_table(raw: Any, path: str) -> dict[str, Any]:
    """Validate a ``[protocol.steady]`` (or a point's ``steady``) table; ConfigError naming the key."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a table, found {raw!r}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in STEADY_KEYS:
            raise ConfigError(f"{path}.{key}: unknown key (expected some of {', '.join(STEADY_KEYS)})")
        if key == "limits":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}.limits: expected a table of tolerances, found {value!r}")
            steady_limit_set(value, f"{path}.limits")  # validated now, parsed again where used
        elif key in ("criterion", "decision_rule"):
            if not isinstance(value, str):
                raise ConfigError(f"{path}.{key}: expected a string, found {value!r}")
        elif not _num(value) or value <= 0:
            raise ConfigError(f"{path}.{key}: expected a number > 0, found {value!r}")
        out[key] = value
    rule = {k: v for k, v in out.items() if k in RULE_KEYS}
    try:
        steady_rule(rule)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return out


def parse_channels(raw: Any, path: str) -> dict[str, str]:
    """``[protocol.channels]``: role → channel name (``quantity_unit``)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a table role = \"channel\", found {raw!r}")
    for role, ch in raw.items():
        if role not in ROLES:
            raise ConfigError(f"{path}.{role}: unknown role (expected some of {', '.join(ROLES)})")
        if not isinstance(ch, str) or "_" not in ch or ch != ch.lower():
            raise ConfigError(f"{path}.{role}: expected a channel name quantity_unit (e.g. o2_flow_lpm), found {ch!r}")
    return dict(raw)


def steady_rule(table: Mapping[str, Any]):
    """The :class:`analysis.steady.SteadyRule` of a steady table (numpy imported here)."""
    from ventbench.analysis.steady import SteadyRule

    kw = {k: table[k] for k in RULE_KEYS if k in table}
    for k in ("settle_windows", "measure_windows"):
        if k in kw:
            if float(kw[k]) != int(kw[k]):
                raise ConfigError(f"{k}: expected an integer, found {kw[k]!r}")
            kw[k] = int(kw[k])
    return SteadyRule(**kw)


def steady_limit_set(tolerances: Mapping[str, Any], where: str, ident: str = "steady"):
    """A :class:`~analysis.tolerance.LimitSet` from inline tolerance tables (limit-file keys)."""
    from ventbench.analysis.limits import parse_limits

    for q in tolerances:
        if q not in QUANTITY_CHANNEL:
            raise ConfigError(f"{where}.{q}: not a steady quantity (expected some of {', '.join(QUANTITY_CHANNEL)})")
    return parse_limits({"limits": {"id": ident, "title": "steady-point limits"}, "tolerances": dict(tolerances)},
                        where)


def parse_steady_point(raw: dict[str, Any], path: str, protocol_steady: Mapping[str, Any],
                       channels: Mapping[str, str]) -> dict[str, Any]:
    """Validate one steady ``[[points]]`` table; returns the fields of its
    :class:`~bench.protocol_model.Point` (``steady`` merged with the protocol's, ``limits``
    the point's tolerances over the protocol's)."""
    for key in raw:
        if key not in _POINT_KEYS:
            raise ConfigError(f"{path}.{key}: unknown key (expected some of {', '.join(sorted(_POINT_KEYS))})")

    def numbers(name: str, allowed: tuple[str, ...]) -> dict[str, float]:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}.{name}: expected a table of numbers, found {table!r}")
        for key, value in table.items():
            if key not in allowed:
                raise ConfigError(f"{path}.{name}.{key}: unknown key (expected some of {', '.join(allowed)})")
            if not _num(value) or value < 0:
                raise ConfigError(f"{path}.{name}.{key}: expected a number ≥ 0, found {value!r}")
        return {k: float(v) for k, v in table.items()}

    s = numbers("set", STEADY_SET)
    lung = numbers("lung", STEADY_LUNG)
    if "fio2_pct" in s and not 20.9 <= s["fio2_pct"] <= 100.0:
        raise ConfigError(f"{path}.set.fio2_pct: impossible value: expected 20.9…100 %, found {s['fio2_pct']:g}")
    checks = raw.get("checks", list(DEFAULT_CHECKS))
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise ConfigError(f"{path}.checks: expected a list of quantity names, found {checks!r}")
    for c in checks:
        if c not in QUANTITY_CHANNEL:
            raise ConfigError(f"{path}.checks: unknown steady quantity {c!r} (expected some of "
                              f"{', '.join(QUANTITY_CHANNEL)})")
    own = parse_steady_table(raw.get("steady"), f"{path}.steady")
    limits = dict(protocol_steady.get("limits") or {})
    point_limits = raw.get("limits", {})
    if not isinstance(point_limits, dict):
        raise ConfigError(f"{path}.limits: expected a table of tolerances, found {point_limits!r}")
    limits.update(point_limits)
    steady_limit_set(limits, f"{path}.limits")
    steady = {k: v for k, v in {**protocol_steady, **own}.items() if k != "limits"}
    return {"set": s, "lung": lung, "checks": tuple(checks), "limits": limits, "steady": steady,
            "channels": point_channels(checks, channels)}


def point_channels(checks, channels: Mapping[str, str]) -> dict[str, str]:
    """Role → channel of the quantities a steady point checks (the protocol's names first)."""
    out = {}
    for q in checks:
        ch, role = QUANTITY_CHANNEL[q]
        out[role] = channels.get(role, ch)
    return out


def missing_channels(points: list[Mapping[str, Any]], available: tuple[str, ...]) -> list[str]:
    """"point ID: role 'R' needs channel C" for every steady point's channel the device lacks."""
    out = []
    for p in points:
        if p.get("mode") != "steady":
            continue
        for role, ch in (p.get("channels") or {}).items():
            if ch not in available:
                out.append(f"point {p['id']}: {role} needs channel {ch!r}")
    return out
