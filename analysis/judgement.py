"""What a test point is judged by and what the judgement gives.

The vocabulary (quantities and the Breath field each is measured as, criteria, decision
rules, modes), :class:`JudgementRule` (settle / measure / criterion / decision rule, with
the optional steady-state test of :mod:`analysis.settle` and reference instrument of
:mod:`analysis.uncertainty`) and the results: one :class:`Check` per quantity and the
:class:`PointResult` of a point. The procedure itself is :func:`analysis.checks.evaluate_point`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ventbench.analysis.breath import Breath
from ventbench.analysis.budget import Budget
from ventbench.analysis.settle import SteadyState
from ventbench.analysis.tolerance import Tolerance
from ventbench.analysis.uncertainty import InstrumentAccuracy
from ventbench.analysis.vocabulary import CRITERIA, DECISION_RULES, MODES  # noqa: F401 - re-exported
from ventbench.errors import ConfigError

DEFAULT_QUANTITIES = {"vc": ("vt", "peep", "rate", "ti"), "pc": ("pinsp", "peep", "rate", "ti", "vt")}

#: quantity -> (Breath field or per-breath channel, set key)
QUANTITY_FIELDS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "vt": ("vti_ml", "vt_ml"),
    "vte": ("vte_ml", "vt_ml"),
    "peep": ("peep_cmh2o", "peep_cmh2o"),
    "pinsp": ("pplat_cmh2o", "pinsp_cmh2o"),  # pplat, else pip: see _pinsp_values
    "pplat": ("pplat_cmh2o", "pplat_cmh2o"),
    "pip": ("pip_cmh2o", "pip_cmh2o"),
    "pmean": ("pmean_cmh2o", "pmean_cmh2o"),
    "rate": ("rr_bpm", "rate_bpm"),
    "ti": ("ti_s", "ti_s"),
    "te": ("te_s", "te_s"),
    "ie": ("ie_ratio", "ie_ratio"),
    "fio2": ("fio2_pct", "fio2_pct"),
    "leak": ("leak_pct", "leak_pct"),
})


@dataclass(frozen=True)
class JudgementRule:
    """How one test point is judged (see :mod:`analysis.checks`)."""

    settle_breaths: int = 10
    measure_breaths: int = 30
    criterion: str = "every-breath"
    decision_rule: str = "simple"
    steady_state: SteadyState | None = None
    instrument: InstrumentAccuracy | None = None

    def __post_init__(self) -> None:
        if self.settle_breaths < 0 or self.measure_breaths < 1:
            raise ConfigError(
                f"judgement rule: expected settle_breaths ≥ 0 and measure_breaths ≥ 1, "
                f"found {self.settle_breaths}, {self.measure_breaths}")
        if self.criterion not in CRITERIA:
            raise ConfigError(f"judgement rule: criterion: expected one of {', '.join(CRITERIA)}, found {self.criterion!r}")
        if self.decision_rule not in DECISION_RULES:
            raise ConfigError(
                f"judgement rule: decision_rule: expected one of {', '.join(DECISION_RULES)}, found {self.decision_rule!r}")


@dataclass(frozen=True)
class Check:
    """One quantity judged at one test point; :meth:`to_json` gives the contract's check dict."""

    quantity: str
    set: float | None
    limit: Tolerance | None
    criterion: str
    n_breaths: int
    mean: float | None
    sd: float | None
    min: float | None
    max: float | None
    max_abs_error: float | None
    achieved_abs: float | None
    achieved_rel: float | None
    verdict: str
    reason: str = ""
    unit: str = ""
    measured_as: str = ""  #: the Breath field compared (pinsp: pplat_cmh2o or pip_cmh2o)
    budget: Budget | None = None  #: GUM budget of the judged value (analysis.budget)
    bias: float | None = None  #: mean − set over the trusted measured breaths
    failing_breaths: tuple[int, ...] = ()
    flagged_breaths: tuple[int, ...] = ()

    def achieved(self) -> dict[str, Any]:
        """What was achieved: ``bias`` ± ``U`` (the budget's) and the largest error
        ``max_abs_error``; ``abs``/``rel`` the smallest ±(A + B %) band, for the limit's A,
        that holds every trusted breath (STANDARDS.md §1 disclosure form)."""
        return {"bias": self.bias, "U": None if self.budget is None else self.budget.U,
                "max_abs_error": self.max_abs_error, "abs": self.achieved_abs, "rel": self.achieved_rel}

    def to_json(self) -> dict[str, Any]:
        """Contract keys (quantity … verdict, reason when not PASS) plus unit and detail."""
        out: dict[str, Any] = {
            "quantity": self.quantity, "set": self.set,
            "limit": None if self.limit is None else self.limit.to_json(),
            "criterion": self.criterion, "n_breaths": self.n_breaths, "mean": self.mean,
            "sd": self.sd, "min": self.min, "max": self.max, "max_abs_error": self.max_abs_error,
            "achieved": self.achieved(),
            "verdict": self.verdict,
        }
        if self.verdict != "PASS":
            out["reason"] = self.reason
        out["unit"] = self.unit
        out["measured_as"] = self.measured_as
        if self.budget is not None:
            out["uncertainty"] = self.budget.to_json()
        out["failing_breaths"] = list(self.failing_breaths)
        out["flagged_breaths"] = list(self.flagged_breaths)
        return out


@dataclass(frozen=True)
class PointResult:
    """Outcome of :func:`evaluate_point`. Indices are positions in the breaths passed in."""

    breaths: tuple[Breath, ...]
    measured: tuple[int, ...]
    skipped: int
    settled_at: int | None
    summary: Mapping[str, Mapping[str, float | None]]
    checks: tuple[Check, ...]
    verdict: str
    reason: str = ""
    rule: JudgementRule = field(default_factory=JudgementRule)
    limits_id: str = ""
