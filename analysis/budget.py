"""GUM uncertainty budget of a judged value (JCGM 100:2008, EA-4/02).

For the value a check judges — the mean of n breaths (criterion ``mean``) or one breath
(``every-breath``) — the components are:

- **Type A**, from the breaths: ``s/√n`` for a mean, ``s`` for a single breath; ν = n − 1.
- **Type B, reference instrument** (:mod:`analysis.uncertainty`): certificate ``U/k`` or
  data-sheet half-width ``/√3`` (marked); ν = ∞.
- **Type B, resolution**: a reading step q is rectangular, ``q/√12``. A volume integrates n
  independent flow steps over its phase T at sample interval Δt:
  ``q/√12 · 1000/60 · √(T·Δt)`` mL (× the gas factor). Times from the segmentation: two
  boundaries, each to one sample, ``Δt/√6``; a rate from its period the same way.
- **Type B, gas conversion** (volumes only): the factor f(T, p, RH) from the sensor's
  condition to the analysis condition (:func:`analysis.gas.conversion_factor`); its relative
  uncertainty ``√Σ(c_i·u_i)²`` with sensitivities ``c_i = ∂f/∂x_i / f`` by central
  differences and the ambient standard uncertainties u_i of the environment record.
- **Type B, analysis**: the analysis's own error bound, proven against known truth in
  ``tests/analysis/test_accuracy.py``, taken as rectangular (:data:`ANALYSIS_BOUNDS`).

Combined ``u_c = √Σu_i²``; Welch–Satterthwaite ``ν_eff = u_c⁴ / Σ(u_i⁴/ν_i)``; k is
Student's t for 95.45 % two-sided coverage at ν_eff (2.000 at ν = ∞); ``U = k·u_c``.
A component that cannot be evaluated is listed in ``missing``: the budget is then
incomplete, and the guarded decision rule cannot accept on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ventbench.analysis.gas import Ambient, GasCondition, conversion_factor
from ventbench.analysis.tolerance import QUANTITY_UNITS
from ventbench.analysis.uncertainty import (
    MEASURAND_UNITS,
    ReferenceSpec,
    instrument_u,
    measurand_of,
)
from ventbench.errors import ConfigError
from ventbench.units import ML_PER_S_PER_LPM

COVERAGE = 0.9545
#: ``scipy.special.ndtri((1 + COVERAGE) / 2)``: k at infinite degrees of freedom (tested equal).
K_NORMAL = 2.0000024438996027
#: quantity -> (abs, rel) error bound of the analysis, proven in tests/analysis/test_accuracy.py
#: (pressures other than PEEP take PIP's bound; Te takes Ti's).
ANALYSIS_BOUNDS = {
    "vt": (0.5, 0.01), "vte": (0.5, 0.01), "peep": (0.1, 0.0), "pip": (0.2, 0.0),
    "pinsp": (0.2, 0.0), "pplat": (0.2, 0.0), "pmean": (0.2, 0.0), "rate": (0.1, 0.01),
    "ti": (0.010, 0.0), "te": (0.010, 0.0),
}
ANALYSIS_SOURCE = "analysis error bound ±({abs:g} {unit} + {rel:g} %), tests/analysis/test_accuracy.py (rectangular)"


#: From this many degrees of freedom on, k is Student's t by its Cornish–Fisher expansion
#: (Abramowitz & Stegun 26.7.5, terms to ν⁻⁴) about the normal quantile: the first term left
#: out is below 1e-14 of k there (tests/analysis/test_budget.py compares it with scipy), so
#: an ``analyze`` of a long recording (ν in the thousands) does not import scipy (0.15–0.4 s).
EXPANSION_MIN_DOF = 1000.0


def coverage_factor(nu_eff, coverage: float = COVERAGE):
    """Student's t for two-sided ``coverage`` at ν_eff degrees of freedom (∞ → normal);
    a float for a float, an array for an array.

    Below :data:`EXPANSION_MIN_DOF` degrees of freedom ``scipy.special.stdtrit`` (what
    ``scipy.stats.t.ppf`` computes, equal bit for bit, without importing ``scipy.stats``);
    from there on, and at ∞ for the GUM's 95.45 %, without scipy (:func:`_t_quantile_large_dof`)."""
    q = (1.0 + coverage) / 2.0
    nu = np.asarray(nu_eff, dtype=float)
    finite = np.isfinite(nu)
    small = finite & (nu < EXPANSION_MIN_DOF)
    if coverage == COVERAGE and not small.any():
        k = np.where(finite, _t_quantile_large_dof(np.where(finite, nu, EXPANSION_MIN_DOF), K_NORMAL), K_NORMAL)
        return float(k) if k.ndim == 0 else k
    from scipy.special import ndtri, stdtrit

    z = ndtri(q)
    k = np.where(small, stdtrit(np.where(small, nu, 1.0), q),
                 np.where(finite, _t_quantile_large_dof(np.where(finite, nu, EXPANSION_MIN_DOF), z), z))
    return float(k) if k.ndim == 0 else k


def _t_quantile_large_dof(nu: np.ndarray, z: float) -> np.ndarray:
    """Student's t quantile at ``nu`` (≥ :data:`EXPANSION_MIN_DOF`) from the normal one ``z``
    (Abramowitz & Stegun 26.7.5)."""
    g1 = (z**3 + z) / 4.0
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96.0
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384.0
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160.0
    inv = 1.0 / nu
    return z + inv * (g1 + inv * (g2 + inv * (g3 + inv * g4)))


@dataclass(frozen=True)
class AmbientUncertainty:
    """Standard uncertainties of the ambient values the gas factor uses (and their origin)."""

    u_t_degc: float = 3.0
    u_p_hpa: float = 30.0
    u_rh_pct: float = 30.0
    source: str = "defaulted values"

    def __post_init__(self) -> None:
        for key in ("u_t_degc", "u_p_hpa", "u_rh_pct"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"ambient uncertainty: {key}: expected ≥ 0, found {value!r}")


@dataclass(frozen=True)
class BudgetContext:
    """What a budget needs beyond the breaths: the reference, gas conversion, sample interval."""

    reference: ReferenceSpec | None = None
    flow_condition: GasCondition | None = None  #: the sensor's; None: conversion not assessed
    analysis_condition: GasCondition = GasCondition.BTPS
    ambient: Ambient = field(default_factory=Ambient)
    ambient_u: AmbientUncertainty = field(default_factory=AmbientUncertainty)
    dt_s: float | None = None  #: sample interval; None: resolution of times not assessed


@dataclass(frozen=True)
class Component:
    name: str
    type: str  #: "A" | "B"
    u: float
    dof: float  #: math.inf for Type B
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "u": self.u,
                "dof": None if math.isinf(self.dof) else self.dof, "source": self.source}


@dataclass(frozen=True)
class Budget:
    """A combined budget (see module doc); ``at`` says which value it is for."""

    unit: str
    components: tuple[Component, ...]
    u_c: float
    nu_eff: float
    k: float
    U: float
    missing: tuple[str, ...] = ()
    at: dict[str, Any] = field(default_factory=dict)
    coverage: float = COVERAGE

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        out = {"unit": self.unit, "components": [c.to_json() for c in self.components],
               "u_c": self.u_c, "nu_eff": None if math.isinf(self.nu_eff) else self.nu_eff,
               "k": self.k, "U": self.U, "coverage": self.coverage}
        if self.missing:
            out["missing"] = list(self.missing)
        if self.at:
            out["at"] = dict(self.at)
        return out


def combine(unit: str, components: Sequence[Component], missing: Sequence[str] = (),
            at: dict[str, Any] | None = None) -> Budget:
    """u_c, Welch–Satterthwaite ν_eff, k (t at 95.45 %) and U of ``components``."""
    u = np.array([c.u for c in components], dtype=float)
    dof = np.array([c.dof for c in components], dtype=float)
    u_c = float(np.sqrt(np.sum(u**2)))
    finite = np.isfinite(dof) & (u > 0)
    denominator = float(np.sum(u[finite] ** 4 / dof[finite]))
    nu_eff = u_c**4 / denominator if denominator > 0 else math.inf
    k = coverage_factor(nu_eff)
    return Budget(unit, tuple(components), u_c, nu_eff, k, k * u_c, tuple(missing), dict(at or {}))


@dataclass(frozen=True)
class ComponentArrays:
    """The components of one check as arrays over the judged values (vectorised)."""

    unit: str
    names: tuple[str, ...]
    types: tuple[str, ...]
    u: np.ndarray  #: (components, values)
    dof: np.ndarray  #: (components,)
    sources: tuple[str, ...]
    missing: tuple[str, ...]
    #: per component, the values a term was evaluated at for value i ("" when constant)
    evaluated_at: tuple[Any, ...] = ()

    def expanded(self) -> np.ndarray:
        """U per judged value (NaN where a component is NaN)."""
        u_c = np.sqrt(np.sum(self.u**2, axis=0))
        finite = np.isfinite(self.dof)[:, None] & (self.u > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            den = np.sum(np.where(finite, self.u**4 / self.dof[:, None], 0.0), axis=0)
            nu = np.where(den > 0, u_c**4 / den, np.inf)
        return coverage_factor(nu) * u_c

    def budget(self, i: int, at: dict[str, Any] | None = None) -> Budget:
        at_i = self.evaluated_at or (None,) * len(self.names)
        comps = [Component(n, t, float(u), float(d), s + (f"; {e(i)}" if e is not None else ""))
                 for n, t, u, d, s, e in zip(self.names, self.types, self.u[:, i], self.dof, self.sources, at_i,
                                             strict=True)]
        return combine(self.unit, comps, self.missing, at)


def _gas_relative(ctx: BudgetContext) -> tuple[float, float, str]:
    """(factor, relative standard uncertainty of it, source text)."""
    src, dst, amb, au = ctx.flow_condition, ctx.analysis_condition, ctx.ambient, ctx.ambient_u
    f0 = conversion_factor(src, dst, amb)

    def f(**kw) -> float:
        values = {"t_amb_degc": amb.t_amb_degc, "p_amb_hpa": amb.p_amb_hpa, "rh_pct": amb.rh_pct, **kw}
        return conversion_factor(src, dst, Ambient(**values))

    def slope(key: str, x: float, h: float, lo: float, hi: float) -> float:
        a, b = max(lo, x - h), min(hi, x + h)
        return (f(**{key: b}) - f(**{key: a})) / (b - a) / f0

    c_t = slope("t_amb_degc", amb.t_amb_degc, 0.05, -40.0, 60.0)
    c_p = slope("p_amb_hpa", amb.p_amb_hpa, 0.5, 500.0, 1200.0)
    c_rh = slope("rh_pct", amb.rh_pct, 0.5, 0.0, 100.0)
    rel = math.sqrt((c_t * au.u_t_degc) ** 2 + (c_p * au.u_p_hpa) ** 2 + (c_rh * au.u_rh_pct) ** 2)
    text = (f"{src.value}→{dst.value} factor {f0:.5g}; u(T) {au.u_t_degc:g} °C × {c_t:.3g}/°C, "
            f"u(p) {au.u_p_hpa:g} hPa × {c_p:.3g}/hPa, u(RH) {au.u_rh_pct:g} % × {c_rh:.3g}/%; "
            f"u(f)/f = {rel:.3g} ({au.source})")
    return f0, rel, text


def components(quantity: str, x: np.ndarray, ti_s: np.ndarray, te_s: np.ndarray, sd: float | None,
               n: int, criterion: str, ctx: BudgetContext) -> ComponentArrays:
    """Every component of the budget of ``quantity`` for the judged values ``x`` (one per
    breath under every-breath, the mean under mean; ``ti_s``/``te_s`` alongside), from the
    sample SD ``sd`` of the n trusted breaths."""
    x = np.abs(np.asarray(x, dtype=float))
    ti_s, te_s = np.asarray(ti_s, float), np.asarray(te_s, float)
    unit = QUANTITY_UNITS.get(quantity, "")
    rows: list[tuple[str, str, np.ndarray, float, str]] = []
    detail: dict[str, Any] = {}
    missing: list[str] = []
    ones = np.ones_like(x)
    if sd is not None and n >= 2:
        u_a = sd / math.sqrt(n) if criterion == "mean" else sd
        how = f"s = {sd:.6g} {unit} of n = {n} breaths" + (", s/√n" if criterion == "mean" else ", one breath: s")
        rows.append(("repeatability (Type A)", "A", u_a * ones, float(n - 1), how))
    else:
        missing.append("Type A: fewer than 2 breaths")
    measurand = measurand_of(quantity)
    is_volume = quantity in ("vt", "vte")
    factor = 1.0
    if is_volume and ctx.flow_condition is not None:
        factor, rel, text = _gas_relative(ctx)
        rows.append(("gas conversion", "B", rel * x, math.inf, text))
    elif is_volume:
        missing.append("gas conversion: the sensor's condition is not known")
    accs = ctx.reference.for_measurand(measurand) if ctx.reference is not None and measurand else ()
    if not accs:
        missing.append(f"reference instrument: no stated accuracy for {measurand or quantity}")
    else:
        u = np.full_like(x, np.nan)
        for acc in accs:  # the first accuracy whose range covers each reading
            u = np.where(np.isnan(u), instrument_u(acc, quantity, x, ti_s, te_s, factor), u)
        if np.isnan(u).any():
            missing.append(f"reference instrument: no stated accuracy covers the {measurand} reading")
        rows.append(("reference instrument", "B", u, math.inf, "; ".join(a.describe() for a in accs)))
        t_phase = ti_s if quantity != "vte" else te_s
        detail["reference instrument"] = (
            lambda i: f"at {x[i]:.6g} {unit}, T {t_phase[i]:.5g} s, gas factor {factor:.5g}") if is_volume else (
            lambda i: f"at {x[i]:.6g} {unit}" + (f", Ti {ti_s[i]:.5g} s, Te {te_s[i]:.5g} s" if quantity == "ie" else ""))
        q = accs[0].resolution
        dt = ctx.dt_s
        if measurand == "time":
            if dt:
                u_t = dt / math.sqrt(6.0)
                u_r = {"rate": x**2 / 60.0 * u_t, "ie": x * (u_t / te_s + u_t / ti_s)}.get(quantity, u_t * ones)
                rows.append(("resolution", "B", u_r, math.inf, f"sample interval {dt:.6g} s, two boundaries: Δt/√6"))
            else:
                missing.append("resolution: sample interval not known")
        elif q > 0 and is_volume:
            t = ti_s if quantity == "vt" else te_s
            if dt:
                u_r = q / math.sqrt(12.0) * ML_PER_S_PER_LPM * np.sqrt(t * dt) * factor
                rows.append(("resolution", "B", u_r, math.inf,
                             f"{q:g} {MEASURAND_UNITS[measurand]} step over the phase at Δt {dt:.6g} s: q/√12·√(T·Δt)"))
            else:
                missing.append("resolution: sample interval not known")
        elif q > 0:
            rows.append(("resolution", "B", q / math.sqrt(12.0) * ones, math.inf,
                         f"{q:g} {MEASURAND_UNITS[measurand]} step: q/√12"))
    bound = ANALYSIS_BOUNDS.get(quantity)
    if bound is not None:
        rows.append(("analysis", "B", (bound[0] + bound[1] * x) / math.sqrt(3.0), math.inf,
                     ANALYSIS_SOURCE.format(abs=bound[0], unit=unit, rel=bound[1] * 100)))
    else:
        missing.append(f"analysis: no proven error bound for {quantity}")
    return ComponentArrays(unit, tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                           np.vstack([np.broadcast_to(r[2], x.shape) for r in rows]) if rows else np.zeros((0, x.size)),
                           np.array([r[3] for r in rows], dtype=float), tuple(r[4] for r in rows), tuple(missing),
                           tuple(detail.get(r[0]) for r in rows))
