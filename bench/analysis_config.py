"""The analysis configuration of a session, frozen in ``start.json["analysis"]``.

Everything that decides a point's numbers — the limit set (every tolerance with its source
and confidence), the judgement rule, the segmentation settings per protocol group, the gas
condition volumes are stated at and the ambient values — is written into the start record
and rebuilt from it by ``replay`` and ``verify``, so that a later change of a protocol or
limits file never silently changes the numbers of a recorded session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from ventbench.analysis.budget import AmbientUncertainty, BudgetContext
from ventbench.analysis.checks import (
    InstrumentAccuracy,
    JudgementRule,
    SteadyState,
    derive_set_values,
)
from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.limits import LimitSet, parse_limits
from ventbench.analysis.segment import SegmentationSettings
from ventbench.analysis.stats import median
from ventbench.analysis.trace import Trace
from ventbench.bench.declaration import Declaration
from ventbench.bench.instruments import Register
from ventbench.errors import ConfigError


def limits_to_json(limits: LimitSet) -> dict[str, Any]:
    """A limit set as a TOML-shaped dict that :func:`limits_from_json` rebuilds exactly."""
    head = {"id": limits.id, "title": limits.title, "notes": list(limits.notes)}
    if limits.base:
        head["base"] = limits.base
    tolerances = {}
    for quantity, tol in limits.tolerances.items():
        raw = {k: v for k, v in tol.to_json().items() if v is not None}
        tolerances[quantity] = raw
    return {"limits": head, "tolerances": tolerances, "origin": limits.origin}


def limits_from_json(data: dict[str, Any], where: str) -> LimitSet:
    """Rebuild a limit set frozen by :func:`limits_to_json` (no base resolution: it is whole)."""
    body = {"limits": {k: v for k, v in data["limits"].items() if k != "base"},
            "tolerances": data.get("tolerances", {})}
    return parse_limits(body, where)


def rule_from_json(data: dict[str, Any]) -> JudgementRule:
    data = dict(data)
    if data.get("steady_state"):
        data["steady_state"] = SteadyState(**data["steady_state"])
    if data.get("instrument"):
        data["instrument"] = InstrumentAccuracy(**data["instrument"])
    return JudgementRule(**data)


def segmentation_from_json(data: dict[str, Any] | None) -> SegmentationSettings:
    known = {f.name for f in fields(SegmentationSettings)}
    return SegmentationSettings(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass(frozen=True)
class AnalysisConfig:
    """Everything that decides a point's numbers, as recorded in ``start.json["analysis"]``."""

    limits: LimitSet
    rule: JudgementRule
    segmentation: dict[str, SegmentationSettings]  #: by group name; "" = default
    condition: GasCondition = GasCondition.BTPS
    ambient: Ambient = Ambient()
    #: standard uncertainties of the ambient values (the environment record's start)
    ambient_u: AmbientUncertainty = AmbientUncertainty()
    register: dict[str, Any] | None = None  #: bench.instruments.Register.to_json()
    declaration: dict[str, Any] | None = None  #: bench.declaration.Declaration.to_json()

    def to_json(self) -> dict[str, Any]:
        return {
            "limits": limits_to_json(self.limits),
            "rule": asdict(self.rule),
            "segmentation": {k: asdict(v) for k, v in self.segmentation.items()},
            "condition": self.condition.value,
            "ambient": asdict(self.ambient),
            "ambient_u": asdict(self.ambient_u),
            "register": self.register,
            "declaration": self.declaration,
        }

    def budget_context(self, trace: Trace | None) -> BudgetContext:
        """What each check's GUM budget needs: the register's (else the rule's data-sheet)
        reference accuracies, the trace's gas condition and sample interval, the ambient."""
        reference = Register.from_json(self.register).reference() if self.register else None
        if reference is None and self.rule.instrument is not None:
            reference = self.rule.instrument.as_reference()
        dt_s = None
        if trace is not None and len(trace) > 1:
            dt_s = median(np.diff(trace.t_s))
        return BudgetContext(reference, None if trace is None else trace.flow_condition, self.condition,
                             self.ambient, self.ambient_u, dt_s)

    def limits_for(self, point: dict[str, Any]) -> tuple[LimitSet, dict[str, str]]:
        """The point's limits (the declaration first, by range) and which applied per quantity."""
        if self.declaration:
            return Declaration.from_json(self.declaration).limits_for(
                dict(point.get("set") or {}), point.get("mode", "vc"), self.limits)
        return self.limits, {q: f"protocol ({self.limits.id})" for q in self.limits.tolerances}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> AnalysisConfig:
        try:
            return cls(
                limits=limits_from_json(data["limits"], where),
                rule=rule_from_json(data["rule"]),
                segmentation={k: segmentation_from_json(v)
                              for k, v in (data.get("segmentation") or {"": {}}).items()},
                condition=GasCondition.parse(data.get("condition", "BTPS")),
                ambient=Ambient(**data.get("ambient", {})),
                ambient_u=AmbientUncertainty(**data.get("ambient_u", {})),
                register=data.get("register"),
                declaration=data.get("declaration"),
            )
        except (KeyError, TypeError) as error:
            raise ConfigError(f"{where}: analysis configuration incomplete ({error})") from None

    def segmentation_for(self, point: dict[str, Any]) -> SegmentationSettings:
        """The segmentation of ``point``'s group (else the session's); adaptive settings
        also take the point's set Ti and rate (``set_ti_s``, ``set_rate_bpm``) when the
        point gives them, as ``analyze --set`` does."""
        group = point.get("group") or ""
        settings = self.segmentation.get(group, self.segmentation.get("", SegmentationSettings()))
        if not settings.adaptive:
            return settings
        sets = derive_set_values(dict(point.get("set") or {}), point.get("mode", "vc"))
        hints = {f"set_{k}": float(sets[k]) for k in ("ti_s", "rate_bpm")
                 if k in sets and getattr(settings, f"set_{k}") == 0.0}
        return replace(settings, **hints) if hints else settings


# -- samples → trace → point results ------------------------------------------------------------
