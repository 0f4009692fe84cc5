"""Protocol data model: Protocol, its Points and Groups, and the key vocabularies.

What a loaded, validated protocol file is (the file format and its parsing are in
:mod:`bench.protocol` and :mod:`bench.protocol_toml`): the setting and test-lung keys with
their units, the modes and segmentation presets, and the immutable records the runner,
reports and ``start.json`` use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ventbench.analysis.checks import JudgementRule, SteadyState
from ventbench.analysis.segment import AUTO, PRESETS
from ventbench.errors import ConfigError

SEGMENTATION_PRESETS = PRESETS  # "auto" (levels from the signal) and the patient-size presets
MODES = ("vc", "pc")
#: Setting keys: stem -> full key with unit.
SET_KEYS = {"vt": "vt_ml", "rate": "rate_bpm", "ti": "ti_s", "ie": "ie_ratio", "peep": "peep_cmh2o",
            "dp": "dp_cmh2o", "pinsp": "pinsp_cmh2o", "fio2": "fio2_pct"}
LUNG_KEYS = {"c": "c_ml_per_hpa", "r": "r_hpa_s_per_l", "leak": "leak_ml_min"}
REQUIRED_SET = {"vc": ("vt_ml", "rate_bpm", "peep_cmh2o"), "pc": ("rate_bpm", "peep_cmh2o")}
REQUIRED_LUNG = ("c_ml_per_hpa", "r_hpa_s_per_l")


@dataclass(frozen=True)
class Group:
    """A group of points sharing a segmentation preset (auto / adult / paediatric / neonatal)."""

    id: str
    title: str = ""
    segmentation: str = AUTO
    note: str = ""


@dataclass(frozen=True)
class Point:
    """One test point: settings (``set``), test lung, checks and notes; ``line`` in the file."""

    id: str
    mode: str
    set: Mapping[str, float]
    lung: Mapping[str, float]
    checks: tuple[str, ...]
    group: str = ""
    row: int | None = None
    expect: Mapping[str, float] = field(default_factory=dict)
    note: str = ""
    line: int | None = None
    #: steady points only (bench.protocol_steady): inline tolerances, window rule, channel roles
    limits: Mapping[str, Any] = field(default_factory=dict)
    steady: Mapping[str, Any] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("set", "lung", "expect"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "row": self.row, "mode": self.mode, "group": self.group,
               "set": dict(self.set), "lung": dict(self.lung), "expect": dict(self.expect),
               "checks": list(self.checks), "note": self.note}
        if self.mode == "steady":
            out.update(limits=dict(self.limits), steady=dict(self.steady), channels=dict(self.channels))
        return out


@dataclass(frozen=True)
class Protocol:
    """A loaded, validated protocol file. ``sha256`` is of the file's bytes (for start.json)."""

    id: str
    title: str
    standard: str
    limits: str
    points: tuple[Point, ...]
    groups: Mapping[str, Group] = field(default_factory=dict)
    settle_breaths: int = 10
    steady_state: SteadyState | None = None
    measure_breaths: int = 30
    criterion: str = "every-breath"
    decision_rule: str = "simple"
    #: allowed ambient ranges, [low, high] by bench.environment name ([protocol.environment])
    environment: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    source: str = ""
    notes: tuple[str, ...] = ()
    path: str = ""
    sha256: str = ""
    #: channel roles (bench.protocol_steady): role → channel, shown in the report
    channels: Mapping[str, str] = field(default_factory=dict)
    alarms: tuple[Any, ...] = ()  #: bench.alarm_model.AlarmTest, from [[alarms]]
    inspection: tuple[Any, ...] = ()  #: bench.inspection_model.InspectionItem, from [[inspection]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", MappingProxyType(dict(self.groups)))

    def rule(self, **overrides: Any) -> JudgementRule:
        """The :class:`~analysis.checks.JudgementRule` of this protocol (fields overridable,
        e.g. ``instrument=…``)."""
        base = dict(settle_breaths=self.settle_breaths, measure_breaths=self.measure_breaths,
                    criterion=self.criterion, decision_rule=self.decision_rule, steady_state=self.steady_state)
        base.update(overrides)
        return JudgementRule(**base)

    def point(self, point_id: str) -> Point:
        """The point with this id; ConfigError naming the known ids otherwise."""
        for p in self.points:
            if p.id == point_id:
                return p
        raise ConfigError(f"protocol {self.id!r} ({self.path}): no point {point_id!r} "
                          f"(points: {', '.join(p.id for p in self.points)})")

    def segmentation(self, point: Point) -> str:
        """The segmentation preset for ``point`` (its group's; "auto" without groups)."""
        group = self.groups.get(point.group)
        return group.segmentation if group else AUTO

    def select(self, group: str | Iterable[str] | None = None, ids: Iterable[str] | None = None) -> Protocol:
        """A copy with only the points of ``group`` (one or several) and/or with these ``ids``
        (kept in file order). Unknown groups or ids raise ConfigError."""
        points = self.points
        if group is not None:
            wanted = {group} if isinstance(group, str) else set(group)
            unknown = sorted(wanted - set(self.groups) - {p.group for p in self.points})
            if unknown:
                raise ConfigError(f"protocol {self.id!r}: unknown group {unknown[0]!r} "
                                  f"(groups: {', '.join(self.groups)})")
            points = tuple(p for p in points if p.group in wanted)
        if ids is not None:
            wanted_ids = [ids] if isinstance(ids, str) else list(ids)
            for i in wanted_ids:
                self.point(i)
            points = tuple(p for p in points if p.id in set(wanted_ids))
        return replace(self, points=points)

    def to_json(self) -> dict[str, Any]:
        """Identification for start.json and reports (id, file, SHA-256, rule, points)."""
        return {"id": self.id, "title": self.title, "standard": self.standard, "limits": self.limits,
                "path": self.path, "sha256": self.sha256, "source": self.source, "notes": list(self.notes),
                "settle_breaths": self.settle_breaths, "measure_breaths": self.measure_breaths,
                "steady_state": None if self.steady_state is None else vars(self.steady_state).copy(),
                "criterion": self.criterion, "decision_rule": self.decision_rule,
                "environment": {k: list(v) for k, v in self.environment.items()},
                "points": [p.to_json() for p in self.points],
                **({"channels": dict(self.channels)} if self.channels else {}),
                **({"alarms": [a.to_json() for a in self.alarms]} if self.alarms else {}),
                **({"inspection": [i.to_json() for i in self.inspection]} if self.inspection else {})}
